import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError, encodeErrorToFailure, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { parseKeySpec } from '../../src/secrets/keySpec';
import { SecretBox } from '../../src/secrets/secretBox';
import { handleCodecRequest } from '../../src/temporal/codecServer';
import { createDataConverter } from '../../src/temporal/dataConverter';
import { EncryptionCodec } from '../../src/temporal/payloadCodec';

const spec = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const json = (value: unknown) => defaultPayloadConverter.toPayload(value)!;
/** Every byte Temporal would store for these payloads. */
const wire = (payloads: Payload[]) =>
  Buffer.concat(payloads.map((p) => temporal.api.common.v1.Payload.encode(p).finish()));

const SECRET = { password: 'Pw-very-secret-1234', subject: 'Quarterly numbers for ACME', body: 'The merger closes Friday' };

describe('parseKeySpec', () => {
  it('reads keys in order, the first one active', () => {
    const k1 = spec('new');
    const k2 = spec('old');
    const parsed = parseKeySpec(` ${k1} , ${k2}\n`);
    expect(parsed.activeKeyId).toBe('new');
    expect([...parsed.keys.keys()]).toEqual(['new', 'old']);
    expect(parsed.keys.get('old')).toEqual(Buffer.from(k2.split(':')[1], 'base64'));
  });

  it('rejects malformed specs with the SecretBox messages', () => {
    expect(() => parseKeySpec('')).toThrow('SECRET_KEYS names no key');
    expect(() => parseKeySpec('nokey')).toThrow('SECRET_KEYS entries must look like keyId:base64key');
    expect(() => parseKeySpec(`k:${randomBytes(16).toString('base64')}`)).toThrow('Secret key "k" must be 32 bytes (base64), got 16');
    expect(() => new SecretBox('nokey')).toThrow('SECRET_KEYS entries must look like keyId:base64key');
  });
});

describe('EncryptionCodec', () => {
  it('round-trips payloads, metadata included', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const original = [json(SECRET), json(null), { metadata: { encoding: Buffer.from('binary/plain'), extra: Buffer.from('x') }, data: Buffer.from([0, 1, 2]) }];
    const encoded = await codec.encode(original);
    expect(encoded).toHaveLength(3);
    for (const p of encoded) {
      expect(text(p.metadata?.encoding)).toBe('binary/encrypted');
      expect(text(p.metadata?.['encryption-key-id'])).toBe('k1');
      expect(Object.keys(p.metadata ?? {}).sort()).toEqual(['encoding', 'encryption-key-id']);
    }
    const decoded = await codec.decode(encoded);
    expect(defaultPayloadConverter.fromPayload(decoded[0])).toEqual(SECRET);
    expect(defaultPayloadConverter.fromPayload(decoded[1])).toBeNull();
    expect(text(decoded[2].metadata?.encoding)).toBe('binary/plain');
    expect(text(decoded[2].metadata?.extra)).toBe('x');
    expect(Buffer.from(decoded[2].data!)).toEqual(Buffer.from([0, 1, 2]));
  });

  it('leaves no plaintext in the encoded bytes, and uses a fresh IV each time', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const [a, b] = await codec.encode([json(SECRET), json(SECRET)]);
    const bytes = wire([a, b]);
    for (const s of [...Object.values(SECRET), 'json/plain', 'password']) expect(bytes.includes(Buffer.from(s))).toBe(false);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false);
    // iv(12) | ciphertext | tag(16), ciphertext as long as the serialised payload.
    expect(a.data!.length).toBe(12 + temporal.api.common.v1.Payload.encode(json(SECRET)).finish().length + 16);
  });

  it('still decodes payloads of an older key after rotation (new key first)', async () => {
    const oldSpec = spec('old');
    const before = await new EncryptionCodec(oldSpec).encode([json('sealed with old')]);
    const rotated = new EncryptionCodec(`${spec('new')},${oldSpec}`);
    const after = await rotated.encode([json('sealed with new')]);
    expect(text(after[0].metadata?.['encryption-key-id'])).toBe('new');
    const decoded = await rotated.decode([...before, ...after]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(['sealed with old', 'sealed with new']);
  });

  it('fails clearly on an unknown key id, a missing key id, or tampered data', async () => {
    const [sealed] = await new EncryptionCodec(spec('gone')).encode([json(SECRET)]);
    await expect(new EncryptionCodec(spec('other')).decode([sealed])).rejects.toThrow(
      'Temporal payload was encrypted with key "gone", which is not configured in SECRET_KEYS',
    );
    const codec = new EncryptionCodec(spec('k1'));
    const [mine] = await codec.encode([json(SECRET)]);
    await expect(codec.decode([{ metadata: { encoding: mine.metadata!.encoding }, data: mine.data }])).rejects.toThrow(/no encryption-key-id/);
    const tampered = Buffer.from(mine.data!);
    tampered[20] ^= 1;
    await expect(codec.decode([{ ...mine, data: tampered }])).rejects.toThrow('could not be decrypted with key "k1"');
    await expect(codec.decode([{ ...mine, data: Buffer.alloc(10) }])).rejects.toThrow(/too short/);
  });

  it('passes payloads that are not encrypted through decode unchanged', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const plain = [json({ a: 1 }), { metadata: {}, data: Buffer.from('raw') }, {}];
    const decoded = await codec.decode(plain);
    expect(decoded[0]).toBe(plain[0]);
    expect(decoded[1]).toBe(plain[1]);
    expect(decoded[2]).toBe(plain[2]);
  });
});

describe('createDataConverter', () => {
  it('encrypts payloads and moves failure messages and stack traces into an encrypted payload', async () => {
    const loaded = loadDataConverter(createDataConverter(spec('k1')));
    expect(loaded.payloadCodecs).toHaveLength(1);
    const error = new Error(`Authentication failed for ${SECRET.password}`);
    const failure = await encodeErrorToFailure(loaded, error);
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    const bytes = Buffer.from(temporal.api.failure.v1.Failure.encode(failure).finish());
    expect(bytes.includes(Buffer.from('Authentication failed'))).toBe(false);
    expect(bytes.includes(Buffer.from(SECRET.password))).toBe(false);
    expect(text(failure.encodedAttributes?.metadata?.encoding)).toBe('binary/encrypted');
    const back = await decodeOptionalFailureToOptionalError(loaded, failure);
    expect(back?.message).toBe(error.message);
  });
});

describe('handleCodecRequest', () => {
  const toWire = (p: Payload) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? []).toString('base64'),
  });

  it('encodes and decodes the JSON wire shape Temporal UI posts', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const body = { payloads: [toWire(json(SECRET)), toWire(json(42))] };
    const encoded = await handleCodecRequest(codec, 'encode', JSON.parse(JSON.stringify(body)));
    expect(encoded.payloads).toHaveLength(2);
    const first = encoded.payloads[0] as { metadata: Record<string, string>; data: string };
    expect(Buffer.from(first.metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(first.metadata['encryption-key-id'], 'base64').toString()).toBe('k1');
    expect(JSON.stringify(encoded)).not.toContain(Buffer.from(JSON.stringify(SECRET)).toString('base64'));

    const decoded = await handleCodecRequest(codec, 'decode', JSON.parse(JSON.stringify(encoded)));
    expect(decoded).toEqual(body);
    expect(JSON.parse(Buffer.from((decoded.payloads[0] as { data: string }).data, 'base64').toString())).toEqual(SECRET);
  });

  it('decodes an encrypted payload that has no data (undefined, as a workflow without a result stores it)', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const [encrypted] = await codec.encode([json(undefined)]);
    const decoded = await handleCodecRequest(codec, 'decode', { payloads: [toWire(encrypted)] });
    expect(decoded).toEqual({ payloads: [{ metadata: { encoding: Buffer.from('binary/null').toString('base64') }, data: '' }] });
  });

  it('passes plain payloads through decode and accepts absent metadata and data', async () => {
    const codec = new EncryptionCodec(spec('k1'));
    const plain = toWire(json('hello'));
    expect(await handleCodecRequest(codec, 'decode', { payloads: [plain, {}] })).toEqual({ payloads: [plain, { metadata: {}, data: '' }] });
    expect(await handleCodecRequest(codec, 'decode', { payloads: [] })).toEqual({ payloads: [] });
    // proto3 JSON leaves an empty list out: the Temporal CLI posts `{}`.
    expect(await handleCodecRequest(codec, 'decode', {})).toEqual({ payloads: [] });
    expect(await handleCodecRequest(codec, 'encode', {})).toEqual({ payloads: [] });
  });

  it.each([
    ['no body', undefined],
    ['a string', 'payloads'],
    ['payloads null', { payloads: null }],
    ['payloads not an array', { payloads: {} }],
    ['a payload not an object', { payloads: [7] }],
    ['data not base64', { payloads: [{ metadata: {}, data: 'not base64!' }] }],
    ['a metadata value not base64', { payloads: [{ metadata: { encoding: 'json/plain' }, data: '' }] }],
    ['a metadata value not a string', { payloads: [{ metadata: { encoding: 1 }, data: '' }] }],
  ])('answers 400 to %s', async (_what, body) => {
    const err = await handleCodecRequest(new EncryptionCodec(spec('k1')), 'decode', body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ statusCode: 400, message: expect.stringMatching(/^Invalid codec request: /) });
  });

  it('answers 400 to an unknown operation', async () => {
    await expect(handleCodecRequest(new EncryptionCodec(spec('k1')), 'other' as 'decode', { payloads: [] })).rejects.toMatchObject({
      statusCode: 400,
    });
  });
});
