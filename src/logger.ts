import pino from 'pino';

// Any field with one of these names is masked wherever it appears in a log record.
// (`credential`: a GraphEndpoint's, holding a client secret or a certificate's private key.)
const SECRET_FIELDS = ['password', 'pass', 'secret', 'clientSecret', 'privateKeyPem', 'credential', 'accessToken', 'token', 'credentials', 'auth'];

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info') {
  return pino({
    level,
    redact: { paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`)], censor: '[redacted]' },
    // pino serializes `err` by default; the Temporal SDK puts its errors under `error`, printed as `{}` otherwise.
    serializers: { error: pino.stdSerializers.err },
  });
}

export type Logger = pino.Logger;
