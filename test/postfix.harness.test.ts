/**
 * Self-test of the SMTP test server (test/support/postfix.ts): a non-system Postfix instance
 * delivering into a throw-away Dovecot over LMTP, SMTP AUTH through Dovecot. Needs Postfix and
 * Dovecot installed (runs them as root on loopback).
 */
import { randomUUID } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { DovecotServer } from './support/dovecot';
import { PostfixServer } from './support/postfix';

jest.setTimeout(60_000);

const PASS = 'secret';
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test';
const DAVE = 'dave@example.test';

let dovecot: DovecotServer;
let postfix: PostfixServer;

beforeAll(async () => {
  dovecot = await DovecotServer.start({ name: 'postfix-harness', authListener: true });
  await dovecot.addUsers([ALICE, BOB, CAROL, DAVE].map((user) => ({ user, password: PASS })));
  postfix = await PostfixServer.start({ dovecot, name: 'harness' });
});

afterAll(async () => {
  await postfix?.stop();
  await dovecot?.destroy();
});

/** Sends one message through the harness; `auth: false` sends without SMTP AUTH. */
async function send(to: string, opts: { user?: string; pass?: string; auth?: boolean } = {}) {
  const transport = createTransport({
    host: postfix.host,
    port: postfix.port,
    secure: false,
    ignoreTLS: true,
    ...(opts.auth === false ? {} : { auth: { user: opts.user ?? ALICE, pass: opts.pass ?? PASS } }),
    connectionTimeout: 5000,
    greetingTimeout: 5000,
  });
  const messageId = `<${randomUUID()}@crm.example.test>`;
  try {
    const info = await transport.sendMail({
      from: ALICE,
      to,
      subject: `Harness ${messageId}`,
      text: 'Sent through Postfix.',
      messageId,
    });
    return { info, messageId };
  } finally {
    transport.close();
  }
}

type SmtpError = Error & { code?: string; responseCode?: number; response?: string };

async function sendError(to: string, opts: Parameters<typeof send>[1] = {}): Promise<SmtpError> {
  try {
    await send(to, opts);
  } catch (e) {
    return e as SmtpError;
  }
  throw new Error(`sending to ${to} succeeded, expected a failure`);
}

test('an authenticated message arrives in the recipient mailbox, found by Message-ID', async () => {
  const { info, messageId } = await send(BOB);
  expect(info.accepted).toEqual([BOB]);
  const delivered = await postfix.waitForMessage(BOB, messageId);
  expect(delivered.raw).toContain(`Subject: Harness ${messageId}`);
  expect(delivered.raw).toContain('Sent through Postfix.');
  expect(delivered.raw).toMatch(/^Return-Path: <alice@example\.test>/);
  expect(await postfix.queueSize()).toBe(0);
});

test('a wrong password gets 535 and nothing is sent', async () => {
  const before = (await postfix.deliveredTo(BOB)).length;
  const err = await sendError(BOB, { pass: 'wrong' });
  expect(err.code).toBe('EAUTH');
  expect(err.responseCode).toBe(535);
  expect(err.response).toMatch(/authentication failed/);
  expect(postfix.rcptAttempts(BOB)).toBe(1); // only the first test's RCPT TO
  expect((await postfix.deliveredTo(BOB)).length).toBe(before);
});

test('relaying needs AUTH except into the test domain', async () => {
  const denied = await sendError('someone@elsewhere.test', { auth: false });
  expect(denied.responseCode).toBe(554);
  expect(denied.response).toMatch(/Relay access denied/);
  const { messageId } = await send(DAVE, { auth: false });
  await postfix.waitForMessage(DAVE, messageId);
});

test('a deferred recipient gets 4xx for the next N attempts, then is accepted', async () => {
  await postfix.deferRecipient(CAROL, 2);
  for (let attempt = 1; attempt <= 2; attempt++) {
    const err = await sendError(CAROL);
    expect(err.code).toBe('EENVELOPE');
    expect(err.responseCode).toBe(450);
    expect(err.response).toMatch(/4\.2\.1 .*try again later/);
  }
  const { info, messageId } = await send(CAROL);
  expect(info.accepted).toEqual([CAROL]);
  expect(postfix.rcptAttempts(CAROL)).toBe(3);
  await postfix.waitForMessage(CAROL, messageId);
});

test('a rejected recipient gets 5xx with the reason text until accepted again', async () => {
  await postfix.rejectRecipient(DAVE, '550 5.1.1 No such user: dave');
  for (let attempt = 1; attempt <= 2; attempt++) {
    const err = await sendError(DAVE);
    expect(err.responseCode).toBe(550);
    expect(err.response).toMatch(/5\.1\.1 .*No such user: dave/);
  }
  await postfix.acceptRecipient(DAVE);
  const { messageId } = await send(DAVE);
  await postfix.waitForMessage(DAVE, messageId);
});

test('stopped, the SMTP port refuses connections; restarted, sending works again', async () => {
  await postfix.stopSmtp();
  const err = await sendError(BOB);
  expect(err.code).toBe('ESOCKET');
  expect(err.message).toMatch(/ECONNREFUSED/);
  await postfix.startSmtp();
  const { messageId } = await send(BOB);
  await postfix.waitForMessage(BOB, messageId);
});

test('held mail survives a Postfix restart and is delivered once released', async () => {
  await postfix.holdDelivery();
  const { messageId } = await send(BOB);
  expect(await postfix.queueSize()).toBe(1);
  await postfix.stopSmtp();
  await postfix.startSmtp();
  expect(await postfix.queueSize()).toBe(1);
  expect((await postfix.deliveredTo(BOB)).some((m) => m.messageId === messageId)).toBe(false);
  await postfix.releaseDelivery();
  await postfix.waitForMessage(BOB, messageId);
  expect(await postfix.queueSize()).toBe(0);
});
