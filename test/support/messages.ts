import { randomUUID } from 'node:crypto';

export interface TestMessage {
  from?: string;
  to?: string;
  cc?: string;
  subject?: string;
  messageId?: string;
  date?: Date;
  body?: string;
  inReplyTo?: string;
}

/** A plain RFC 5322 message with CRLF line endings. */
export function makeMessage(m: TestMessage = {}): string {
  const messageId = m.messageId ?? `<${randomUUID()}@sender.example.test>`;
  const headers = [
    `From: ${m.from ?? 'Sender <sender@elsewhere.test>'}`,
    `To: ${m.to ?? 'alice@example.test'}`,
    ...(m.cc ? [`Cc: ${m.cc}`] : []),
    `Subject: ${m.subject ?? `Test ${messageId}`}`,
    `Message-ID: ${messageId}`,
    ...(m.inReplyTo ? [`In-Reply-To: ${m.inReplyTo}`] : []),
    `Date: ${(m.date ?? new Date()).toUTCString()}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  return `${headers.join('\r\n')}\r\n\r\n${m.body ?? 'Hello from the test bed.'}\r\n`;
}

/** `count` distinct messages, numbered in their subjects. */
export function makeMessages(count: number, base: TestMessage = {}, tag = randomUUID().slice(0, 8)): string[] {
  return Array.from({ length: count }, (_, i) =>
    makeMessage({ ...base, subject: `${base.subject ?? 'Message'} ${tag} #${i + 1}`, messageId: `<${tag}.${i + 1}@sender.example.test>` }),
  );
}
