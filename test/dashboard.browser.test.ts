import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { DovecotServer } from './support/dovecot';
import { makeMessage } from './support/messages';
import { dovecotProfile, eventually, TestBed } from './support/testBed';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');

let bed: TestBed;
let dovecot: DovecotServer;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let token: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium (or run .ci/run), or set CHROMIUM_PATH`);
  }
  bed = await TestBed.create();
  dovecot = await DovecotServer.start();
  await bed.startWorkers();
  const tokens = new ApiTokens(bed.pool);
  token = (await tokens.create({ role: 'admin', label: 'dashboard test' })).token;
  app = await buildApiServer({ service: bed.admin, tokens });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await bed?.close();
  await dovecot?.destroy();
});

it('shows a failing mailbox, and its state changes after Test & Enable once the credentials are fixed', async () => {
  const user = 'dashboard@example.test';
  await dovecot.addUser(user, 'right');
  await dovecot.deliver(user, [makeMessage({ to: user, subject: 'Visible after the fix' })]);
  const profile = await bed.admin.createProfile(dovecotProfile('Dashboard Dovecot', dovecot));
  const mailbox = await bed.admin.createMailbox({ emailApproved: true, emailAddress: user, profileId: profile.id, password: 'wrong' });
  await eventually('the mailbox failing', async () => (await bed.admin.getMailbox(mailbox.id)).incoming.status === 'failure');

  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(`${base}/dashboard#token=${token}`);
  const failingRow = page.locator(`#failing tr[data-mailbox="${mailbox.id}"]`);
  await failingRow.waitFor({ timeout: 15_000 });
  await expect(failingRow.locator('.state').getAttribute('data-state')).resolves.toBe('error');
  await expect(failingRow.textContent()).resolves.toMatch(/Authentication failed/);
  // The plots are drawn: every chart has a canvas with a size.
  for (const id of ['states', 'lag', 'hourly', 'servers']) {
    const box = await page.locator(`#${id}`).boundingBox();
    expect(box && box.width > 50 && box.height > 50).toBe(true);
  }

  // The admin fixes the password (through the API the dashboard uses), then clicks Test & Enable.
  await bed.admin.updateMailbox(mailbox.id, { password: 'right' });
  await failingRow.locator('button[data-action="test-and-enable"]').click();
  const row = page.locator(`#mailboxes tr[data-mailbox="${mailbox.id}"] .state`);
  await eventually('the state to change on the page', async () => {
    const state = await row.getAttribute('data-state');
    return state === 'idle' || state === 'syncing';
  }, 30_000);
  await expect(page.locator(`#failing tr[data-mailbox="${mailbox.id}"]`).count()).resolves.toBe(0);
  await eventually('the message synced', async () => (await bed.query(`SELECT 1 FROM item_links WHERE mailbox_id = $1`, [mailbox.id])).length === 1);
  await eventually('the page showing the success', async () => {
    const lastSuccess = await page.locator(`#mailboxes tr[data-mailbox="${mailbox.id}"] td:nth-child(3)`).textContent();
    return lastSuccess !== '—';
  }, 15_000);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  expect(existsSync(path.join(ARTIFACTS, 'dashboard.png'))).toBe(true);
});
