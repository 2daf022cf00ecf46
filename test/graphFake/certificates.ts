import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

/** Where the fake keeps its certificates: under the project's .data/ so a person exports NODE_EXTRA_CA_CERTS once. */
export const defaultCertificateDir = path.resolve(__dirname, '..', '..', '.data', 'graph-fake');

export interface FakeCertificates {
  /** PEM of the CA that signed the server certificate; what NODE_EXTRA_CA_CERTS must name. */
  caFile: string;
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** The default app's client certificate (self-signed; Entra ID only compares thumbprints and checks signatures). */
  client: { pem: string; privateKeyPem: string; thumbprintSha256: string };
}

const files = {
  caCert: 'ca.pem',
  caKey: 'ca.key.pem',
  serverCert: 'server.pem',
  serverKey: 'server.key.pem',
  clientCert: 'client.pem',
  clientKey: 'client.key.pem',
} as const;

const tenYears = 10 * 365 * 24 * 3600 * 1000;

/** SHA-256 thumbprint (hex, upper case) of a PEM certificate, as the Entra portal shows it. */
export function thumbprintSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex').toUpperCase();
}

function writeAtomically(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode: 0o600 });
  renameSync(temporary, file);
}

function stillValid(pem: string): boolean {
  return new Date(new X509Certificate(pem).validTo).getTime() > Date.now() + 24 * 3600 * 1000;
}

/**
 * Creates (once) a CA, a server certificate for localhost/127.0.0.1/::1 signed by it, and a client
 * certificate, and reuses them on later runs so a trusted CA stays trusted.
 */
export async function ensureFakeCertificates(dir = defaultCertificateDir): Promise<FakeCertificates> {
  mkdirSync(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  const complete = Object.values(files).every((name) => existsSync(at(name)));
  if (!complete || !stillValid(readFileSync(at(files.serverCert), 'utf8')) || !stillValid(readFileSync(at(files.caCert), 'utf8'))) {
    const notBeforeDate = new Date(Date.now() - 3600 * 1000);
    const notAfterDate = new Date(Date.now() + tenYears);
    const ca = await generate([{ name: 'commonName', value: 'CRM mail sync Graph fake CA' }], {
      algorithm: 'sha256', keySize: 2048, notBeforeDate, notAfterDate,
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
      ],
    });
    const server = await generate([{ name: 'commonName', value: 'localhost' }], {
      algorithm: 'sha256', keySize: 2048, notBeforeDate, notAfterDate,
      ca: { key: ca.private, cert: ca.cert },
      extensions: [
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
      ],
    });
    const client = await generate([{ name: 'commonName', value: 'CRM mail sync app (Graph fake)' }], {
      algorithm: 'sha256', keySize: 2048, notBeforeDate, notAfterDate,
    });
    // Keys first, certificates last: a reader that sees all files sees a matching set.
    writeAtomically(at(files.caKey), ca.private);
    writeAtomically(at(files.serverKey), server.private);
    writeAtomically(at(files.clientKey), client.private);
    writeAtomically(at(files.clientCert), client.cert);
    writeAtomically(at(files.serverCert), server.cert);
    writeAtomically(at(files.caCert), ca.cert);
  }
  const clientPem = readFileSync(at(files.clientCert), 'utf8');
  return {
    caFile: at(files.caCert),
    caPem: readFileSync(at(files.caCert), 'utf8'),
    serverCertPem: readFileSync(at(files.serverCert), 'utf8'),
    serverKeyPem: readFileSync(at(files.serverKey), 'utf8'),
    client: { pem: clientPem, privateKeyPem: readFileSync(at(files.clientKey), 'utf8'), thumbprintSha256: thumbprintSha256(clientPem) },
  };
}

/**
 * What NODE_EXTRA_CA_CERTS should name so a process trusts the fake without losing a CA file it
 * already trusts: the fake's CA file, or a bundle of both.
 */
export function extraCaFileWith(caFile: string, existing: string | undefined): string {
  if (!existing || path.resolve(existing) === path.resolve(caFile) || !existsSync(existing)) return caFile;
  const bundle = path.join(path.dirname(caFile), 'ca-bundle.pem');
  writeAtomically(bundle, `${readFileSync(existing, 'utf8').trimEnd()}\n${readFileSync(caFile, 'utf8')}`);
  return bundle;
}
