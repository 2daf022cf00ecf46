import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { GraphCredential } from '../mail/graph/graphEndpoint';
import type { SecretBox } from './secretBox';

/** A certificate credential read from its PEMs, with what a profile shows about it (never the key). */
export interface ReadCertificate {
  credential: Extract<GraphCredential, { kind: 'certificate' }>;
  expiresAt: Date;
}

/**
 * The certificate credential of an app, or the problem naming the field: the certificate parses,
 * the key is its private key, and it has not expired. The thumbprint Entra ID matches the signed
 * assertion against is the SHA-256 of the certificate's DER bytes, in hex.
 */
export function readCertificate(certificatePem: string, privateKeyPem: string, now: Date): { ok: true; certificate: ReadCertificate } | { ok: false; problem: string } {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    return { ok: false, problem: 'certificatePem is not a certificate: give the PEM text that starts with -----BEGIN CERTIFICATE-----' };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch {
    return {
      ok: false,
      problem: 'privateKeyPem is not an unencrypted private key: give the PEM text that starts with -----BEGIN PRIVATE KEY----- (or BEGIN RSA PRIVATE KEY)',
    };
  }
  if (!certificate.checkPrivateKey(key)) return { ok: false, problem: 'privateKeyPem is not the private key of the certificate in certificatePem: give the pair uploaded to the app registration' };
  const expiresAt = new Date(certificate.validTo);
  if (expiresAt.getTime() <= now.getTime()) {
    return { ok: false, problem: `The certificate in certificatePem expired on ${expiresAt.toISOString()}: give a current one (and upload it to the app registration)` };
  }
  return {
    ok: true,
    certificate: {
      credential: {
        kind: 'certificate',
        certificatePem: certificatePem.trim() + '\n',
        // PKCS#8 whatever form it came in: the one form every signer takes.
        privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
        thumbprintSha256: createHash('sha256').update(certificate.raw).digest('hex'),
      },
      expiresAt,
    },
  };
}

/** The credential as the profile's `credentials` column holds it: encrypted JSON. */
export function sealGraphCredential(secrets: SecretBox, credential: GraphCredential): string {
  return secrets.encrypt(JSON.stringify(credential));
}

export function openGraphCredential(secrets: SecretBox, sealed: string): GraphCredential {
  return JSON.parse(secrets.decrypt(sealed)) as GraphCredential;
}
