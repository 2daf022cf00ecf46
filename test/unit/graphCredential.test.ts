import { createHash, X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { openGraphCredential, readCertificate, sealGraphCredential } from '../../src/secrets/graphCredential';
import { SecretBox } from '../../src/secrets/secretBox';

let app: { cert: string; private: string };
let other: { cert: string; private: string };

beforeAll(async () => {
  [app, other] = await Promise.all([
    generate([{ name: 'commonName', value: 'crm-sync app' }], { keySize: 2048, algorithm: 'sha256' }),
    generate([{ name: 'commonName', value: 'another app' }], { keySize: 2048, algorithm: 'sha256' }),
  ]);
});

describe('readCertificate', () => {
  it("gives the certificate's SHA-256 thumbprint (hex of the DER bytes) and expiry, and the key as PKCS#8", () => {
    const read = readCertificate(app.cert, app.private, new Date());
    if (!read.ok) throw new Error(read.problem);
    const x509 = new X509Certificate(app.cert);
    expect(read.certificate.credential.thumbprintSha256).toBe(createHash('sha256').update(x509.raw).digest('hex'));
    expect(read.certificate.credential.thumbprintSha256).toBe(x509.fingerprint256.replace(/:/g, '').toLowerCase());
    expect(read.certificate.expiresAt).toEqual(new Date(x509.validTo));
    expect(read.certificate.credential.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(read.certificate.credential.certificatePem).toBe(app.cert.trim() + '\n');
  });

  it('refuses what is not a certificate, not a key, the key of another certificate, and an expired certificate', () => {
    expect(readCertificate('not a certificate', app.private, new Date())).toEqual({ ok: false, problem: expect.stringMatching(/^certificatePem is not a certificate/) });
    expect(readCertificate(app.cert, 'not a key', new Date())).toEqual({ ok: false, problem: expect.stringMatching(/^privateKeyPem is not an unencrypted private key/) });
    expect(readCertificate(app.cert, other.private, new Date())).toEqual({
      ok: false,
      problem: 'privateKeyPem is not the private key of the certificate in certificatePem: give the pair uploaded to the app registration',
    });
    const afterExpiry = new Date(Date.now() + 2 * 365 * 24 * 3600 * 1000);
    expect(readCertificate(app.cert, app.private, afterExpiry)).toEqual({ ok: false, problem: expect.stringMatching(/^The certificate in certificatePem expired on \d{4}-/) });
  });
});

it('seals a credential so that its text is not in the sealed form, and opens it again', () => {
  const box = new SecretBox(SecretBox.generateKeySpec('k1'));
  const sealed = sealGraphCredential(box, { kind: 'secret', secret: 'client-secret-value~42' });
  expect(sealed).not.toContain('client-secret-value');
  expect(openGraphCredential(box, sealed)).toEqual({ kind: 'secret', secret: 'client-secret-value~42' });
});
