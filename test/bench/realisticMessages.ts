import { randomBytes } from 'node:crypto';

const WORDS = (
  'the quarterly figures attached show that orders from the northern region grew while returns fell ' +
  'please review the proposal before our call on thursday and let me know which option you prefer ' +
  'thanks again for the quick reply we will ship the replacement parts as soon as they arrive'
).split(' ');

function prose(words: number, seed: number): string {
  return Array.from({ length: words }, (_, i) => WORDS[(seed * 7 + i * 13) % WORDS.length]).join(' ');
}

/** Base64 in 76-character lines, as mailers write it. */
function base64Lines(bytes: Buffer): string {
  return bytes.toString('base64').replace(/.{76}/g, '$&\r\n');
}

/**
 * Mail as clients send it: text and HTML alternatives (~2-3 KB), display names, trace headers,
 * a UTF-8 encoded-word subject on some, a reply on some, and a 3 KB PDF attached to every fourth.
 */
export function makeRealisticMessages(count: number, to: string, tag: string): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + 1;
    const date = new Date(Date.UTC(2026, 10, 1, 8, 0, 0) + n * 60_000).toUTCString().replace('GMT', '+0000');
    const text = `Hello,\r\n\r\n${prose(120, n).replace(/(.{1,72})(\s|$)/g, '$1\r\n')}\r\nBest regards,\r\nMaria Keller\r\n`;
    const html = `<html><body><p>Hello,</p><p>${prose(120, n)}</p><p>Best regards,<br><b>Maria Keller</b></p></body></html>`;
    const alternative = [
      `--alt-${tag}-${n}`,
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      text,
      `--alt-${tag}-${n}`,
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: 7bit',
      '',
      html.replace(/(.{1,900})/g, '$1\r\n'),
      `--alt-${tag}-${n}--`,
      '',
    ].join('\r\n');
    const headers = [
      `Received: from mx.sender.example.test (mx.sender.example.test [192.0.2.${n % 250}]) by mail.example.test with ESMTPS; ${date}`,
      `Received: from [10.0.0.${n % 250}] by mx.sender.example.test with ESMTPSA; ${date}`,
      `From: Maria Keller <maria.keller${n % 50}@sender.example.test>`,
      `To: ${to}`,
      ...(n % 3 === 0 ? [`Cc: "Team North" <team-north@sender.example.test>, jon@partner.example.test`] : []),
      `Subject: ${n % 5 === 0 ? `=?UTF-8?B?${Buffer.from(`Bestellübersicht ${tag} #${n}`).toString('base64')}?=` : `Quarterly figures ${tag} #${n}`}`,
      `Message-ID: <${tag}.${n}@sender.example.test>`,
      ...(n % 4 === 1 && n > 1 ? [`In-Reply-To: <${tag}.${n - 1}@sender.example.test>`, `References: <${tag}.${n - 1}@sender.example.test>`] : []),
      `Date: ${date}`,
      'MIME-Version: 1.0',
    ];
    if (n % 4 !== 0) return `${headers.join('\r\n')}\r\nContent-Type: multipart/alternative; boundary="alt-${tag}-${n}"\r\n\r\n${alternative}`;
    const mixed = [
      `--mixed-${tag}-${n}`,
      `Content-Type: multipart/alternative; boundary="alt-${tag}-${n}"`,
      '',
      alternative,
      `--mixed-${tag}-${n}`,
      `Content-Type: application/pdf; name="figures-${n}.pdf"`,
      `Content-Disposition: attachment; filename="figures-${n}.pdf"`,
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(3000)])),
      `--mixed-${tag}-${n}--`,
      '',
    ].join('\r\n');
    return `${headers.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="mixed-${tag}-${n}"\r\n\r\n${mixed}`;
  });
}
