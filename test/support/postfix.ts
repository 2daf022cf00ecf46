/**
 * Test harness: a throw-away Postfix 3.7 (Debian) instance on loopback that delivers into a
 * DovecotServer over LMTP and authenticates senders against that Dovecot (SMTP AUTH).
 *
 * It is a non-system instance: its own config_directory (main.cf, master.cf), queue_directory
 * and data_directory in a temp dir; the system instance (/etc/postfix, port 25), installed,
 * running or not, is never read or touched. A non-default config directory that the default
 * main.cf does not list in alternate_config_directories is accepted from root only
 * (config_directory(5)); like the Dovecot harness this one therefore runs as root. It starts
 * Postfix's master the way `postfix -c <dir> start` finally does (`master -c <dir> -w`),
 * without the wrapper's checks (see launch()); start takes well under a second.
 *
 * - SMTP: one smtpd on 127.0.0.1:`port`, plain text (no STARTTLS), AUTH PLAIN/LOGIN without
 *   TLS through Dovecot's auth service (start Dovecot with `authListener: true`). A wrong
 *   password gets "535 5.7.8 Error: authentication failed: ...". Clients use
 *   `secure: false, ignoreTLS: true` (nodemailer). Stopping Dovecot also stops SMTP AUTH.
 * - Relay: authenticated senders may send to any address; unauthenticated clients only to
 *   `domains` (default example.test), otherwise "554 5.7.1 ... Relay access denied".
 * - Delivery: every message, whatever the domain, goes to Dovecot's LMTP port; nothing leaves
 *   the machine and no DNS is used. Dovecot answers an unknown user with 550 5.1.1 and Postfix
 *   returns a bounce (from MAILER-DAEMON@smtp.harness.test) to the sender's INBOX.
 *   Deferred mail is retried about every second (queue_run_delay, backoff times 1-2 s).
 * - Faults, answered at RCPT TO by a Postfix policy service (SMTPD_POLICY_README) that this
 *   harness runs on a loopback port: smtpd asks it at every RCPT TO, so counts are exact and a
 *   change takes effect at once (no map rebuild, no reload).
 *   - deferRecipient(address, n[, reply]): the next n RCPT TOs get
 *     "450 4.2.1 <address>: Recipient address rejected: Mailbox temporarily unavailable, try
 *     again later", later ones are accepted;
 *   - rejectRecipient(address[, reply]): "550 5.1.1 <address>: Recipient address rejected: No
 *     such user here" until acceptRecipient(address);
 *   - rcptAttempts(address): RCPT TOs seen for the address;
 *   - holdDelivery() / releaseDelivery(): accepted mail waits in the hold queue, then goes.
 *   stopSmtp() / startSmtp() stop and start the whole instance (the port refuses connections
 *   in between); the queue on disk is kept and delivered after startSmtp().
 *   The policy service lives in the test process: while its event loop is blocked (execFileSync
 *   and the like) every RCPT TO gets "451 4.3.5 ... Server configuration problem".
 * - Reading mail: deliveredTo() / waitForMessage() read the Dovecot mailbox with doveadm, which
 *   needs no password and is no IMAP login (DovecotServer.loginCount stays as the product left it).
 * - Logs: Postfix logs to `logPath` (maillog_file through postlogd); errors quote its tail.
 * - stop() stops the instance (SIGTERM to the master, then SIGKILL to its process group: the
 *   master is a session leader), closes the policy service and removes the temp dir. A test
 *   process that dies without stop() is cleaned up by the Dovecot harness's reaper (exit hook +
 *   watchdog), which identifies the master by MAIL_CONFIG=<config dir> in its environment.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type DovecotServer,
  type Reaped,
  findBinary,
  getFreePort,
  groupAlive,
  isOurMaster,
  pidAlive,
  probeConnect,
  reaper,
  run,
  signalGroup,
  sleep,
} from './dovecot';

export const POSTFIX_NOT_INSTALLED_MESSAGE =
  'Postfix is not installed: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix (or run bash .ci/run)';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const HOSTNAME = 'smtp.harness.test';

export interface PostfixStartOptions {
  /** Where mail is delivered (LMTP) and senders are authenticated; needs `authListener: true`. */
  dovecot: DovecotServer;
  /** Domains unauthenticated clients may send to (relay_domains); default ['example.test']. */
  domains?: string[];
  /** Prefix of the instance name (made unique); letters, digits, '-' and '_' only. */
  name?: string;
  /** message_size_limit in bytes (Postfix default 10240000); larger messages get 552. */
  messageSizeLimit?: number;
}

export interface DeliveredMessage {
  uid: number;
  /** The Message-ID header as stored (angle brackets included), '' if none. */
  messageId: string;
  /** The stored message (LF line ends), with the Return-Path: and Received: headers added. */
  raw: string;
}

/** What the harness's policy service answers at RCPT TO for one address. */
interface RecipientRule {
  reply: string;
  /** Remaining RCPT TOs that get `reply`; Infinity for a permanent rule. */
  remaining: number;
}

function mainCf(p: {
  dir: string;
  name: string;
  lmtpPort: number;
  authPort: number;
  policyPort: number;
  domains: string[];
  messageSizeLimit?: number;
}): string {
  const lmtp = `lmtp:inet:127.0.0.1:${p.lmtpPort}`;
  return `# Generated by test/support/postfix.ts for a throw-away test instance. Do not edit.
compatibility_level = 3.6
queue_directory = ${p.dir}/queue
data_directory = ${p.dir}/data
syslog_name = postfix-${p.name}
maillog_file = ${p.dir}/maillog
maillog_file_prefixes = ${p.dir}
myhostname = ${HOSTNAME}
mydomain = harness.test
myorigin = $myhostname
smtpd_banner = $myhostname ESMTP test instance ${p.name}
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.1/32

# Nothing is delivered locally: every address goes to Dovecot's LMTP.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = ${p.domains.join(', ')}
relay_transport = ${lmtp}
default_transport = ${lmtp}
notify_classes =
${p.messageSizeLimit !== undefined ? `message_size_limit = ${p.messageSizeLimit}\n` : ''}
# No DNS, no reverse lookups.
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
lmtp_host_lookup = native
smtpd_peername_lookup = no

# SMTP AUTH through Dovecot, plain text on loopback.
smtpd_tls_security_level = none
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:${p.authPort}
smtpd_sasl_security_options = noanonymous
smtpd_tls_auth_only = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:${p.policyPort}

# Retry deferred mail within seconds.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
transport_retry_time = 1s
`;
}

function masterCf(smtpPort: number): string {
  // chroot off everywhere (column 5): a chroot would need copies of /etc files in the queue dir.
  return `# Generated by test/support/postfix.ts. service type private unpriv chroot wakeup maxproc command
127.0.0.1:${smtpPort} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

function normalizeAddress(address: string): string {
  return address.trim().replace(/^<|>$/g, '').toLowerCase();
}

function normalizeMessageId(id: string): string {
  return id.trim().replace(/^<|>$/g, '');
}

/** Connects and waits for an SMTP "220" greeting. Resolves true/false, never throws. */
function probeSmtpGreeting(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.end('QUIT\r\n');
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) finish(buf.startsWith('220 '));
    });
    sock.on('error', () => finish(false));
    sock.on('close', () => finish(false));
  });
}

/**
 * The policy service (Postfix policy delegation protocol: "name=value" lines, an empty line
 * ends a request; the answer is "action=..." and an empty line). Answers DUNNO unless a rule
 * applies to the RCPT TO address.
 */
class PolicyService {
  readonly rules = new Map<string, RecipientRule>();
  readonly attempts = new Map<string, number>();
  /** Answer HOLD (to the hold queue) where no rule applies. */
  hold = false;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(): Promise<PolicyService> {
    let service: PolicyService | undefined;
    const server = net.createServer((sock) => service?.serve(sock));
    server.on('error', () => undefined);
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        const addr = server.address();
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('PostfixServer: policy service has no address'));
      });
    });
    server.unref();
    service = new PolicyService(server, port);
    return service;
  }

  private serve(sock: net.Socket): void {
    this.sockets.add(sock);
    sock.unref();
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    let attrs = new Map<string, string>();
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        if (line !== '') {
          const eq = line.indexOf('=');
          if (eq > 0) attrs.set(line.slice(0, eq), line.slice(eq + 1));
          continue;
        }
        sock.write(`action=${this.decide(attrs)}\n\n`);
        attrs = new Map();
      }
    });
  }

  private decide(attrs: Map<string, string>): string {
    if (attrs.get('protocol_state') !== 'RCPT') return 'DUNNO';
    const address = normalizeAddress(attrs.get('recipient') ?? '');
    this.attempts.set(address, (this.attempts.get(address) ?? 0) + 1);
    const rule = this.rules.get(address);
    if (!rule) return this.hold ? 'HOLD held by the test harness' : 'DUNNO';
    if (rule.remaining !== Infinity && --rule.remaining <= 0) this.rules.delete(address);
    return rule.reply;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export class PostfixServer implements Reaped {
  readonly host = '127.0.0.1';
  readonly name: string;
  readonly dir: string;
  readonly configDir: string;
  readonly queueDir: string;
  readonly logPath: string;
  private smtpPort = 0;
  private masterPid: number | undefined;
  private running = false;

  private constructor(
    dir: string,
    name: string,
    private readonly masterBin: string,
    private readonly dovecot: DovecotServer,
    private readonly policy: PolicyService,
  ) {
    this.dir = dir;
    this.name = name;
    this.configDir = path.join(dir, 'conf');
    this.queueDir = path.join(dir, 'queue');
    this.logPath = path.join(dir, 'maillog');
  }

  /** SMTP port on 127.0.0.1. */
  get port(): number {
    return this.smtpPort;
  }

  /** Identifies the master process (see Reaped): Postfix puts MAIL_CONFIG in its environment. */
  get marker(): string {
    return `MAIL_CONFIG=${this.configDir}`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** True when the `postfix` command can be found (PATH or /usr/sbin). */
  static isInstalled(): boolean {
    return findBinary('postfix') !== undefined;
  }

  static async start(opts: PostfixStartOptions): Promise<PostfixServer> {
    const postconfBin = findBinary('postconf');
    if (!findBinary('postfix') || !postconfBin) throw new Error(POSTFIX_NOT_INSTALLED_MESSAGE);
    const daemonDir = (await run(postconfBin, ['-dh', 'daemon_directory'])).stdout.trim();
    if (!opts.dovecot.authPort) {
      throw new Error('PostfixServer: start the DovecotServer with { authListener: true } (SMTP AUTH goes through it)');
    }
    const prefix = (opts.name ?? 'test').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 30) || 'test';
    const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'postfix-'));
    const policy = await PolicyService.start();
    const server = new PostfixServer(dir, name, path.join(daemonDir, 'master'), opts.dovecot, policy);
    reaper.register(server);
    try {
      // The postfix user must reach the queue.
      await fsp.chmod(dir, 0o755);
      await fsp.mkdir(server.configDir);
      await createQueueLayout(dir);
      const conf = {
        dir,
        name,
        lmtpPort: opts.dovecot.lmtpPort,
        authPort: opts.dovecot.authPort,
        policyPort: policy.port,
        domains: opts.domains ?? ['example.test'],
        messageSizeLimit: opts.messageSizeLimit,
      };
      await server.writeConfigFile('main.cf', mainCf(conf));
      let lastErr: unknown;
      // A freshly picked port may be taken by someone else before the master binds it: retry.
      for (let attempt = 0; attempt < 3; attempt++) {
        server.smtpPort = await getFreePort();
        await server.writeConfigFile('master.cf', masterCf(server.smtpPort));
        try {
          await server.launch();
          return server;
        } catch (e) {
          lastErr = e;
          await server.kill();
          if (!/address already in use/i.test(String((e as Error).message))) break;
        }
      }
      throw lastErr;
    } catch (e) {
      await server.stop().catch(() => undefined);
      throw e;
    }
  }

  /**
   * Postfix re-reads a configuration file changed less than a second ago, after 300 ms sleeps,
   * until it is older (it could be half written): give fresh files an mtime in the past.
   */
  private async writeConfigFile(name: string, text: string): Promise<void> {
    const file = path.join(this.configDir, name);
    await fsp.writeFile(file, text);
    const past = Date.now() / 1000 - 60;
    await fsp.utimes(file, past, past);
  }

  /** Reads the master's pid file; records the pid (here and in the reaper) if it is ours. */
  private async adoptMaster(): Promise<number | undefined> {
    const text = await fsp.readFile(path.join(this.queueDir, 'pid', 'master.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0 || !isOurMaster(pid, this.marker)) return undefined;
    this.masterPid = pid;
    reaper.setPid(this, pid);
    return pid;
  }

  private async launch(): Promise<void> {
    const logOffset = await this.logSize();
    // What `postfix -c <dir> start` ends with: `master -w` returns once the daemon has bound its
    // listeners. Its wrapper (postfix-script: postconf, postlog, `master -t`, `postfix check`)
    // costs a second or more on a loaded machine and adds nothing here: the queue layout is ours
    // (createQueueLayout), and master.lock refuses a second master for the same instance.
    // MAIL_CONFIG in the environment is also the marker that identifies the master in /proc.
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(
          this.masterBin,
          ['-c', this.configDir, '-w'],
          { timeout: START_TIMEOUT_MS, killSignal: 'SIGKILL', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', MAIL_CONFIG: this.configDir } },
          (err, _stdout, stderr) => (err ? reject(new Error(`${err.message}${stderr ? `: ${stderr.trim()}` : ''}`)) : resolve()),
        );
      });
    } catch (e) {
      // A master that started after all (e.g. -w timed out) must not outlive the harness.
      await this.adoptMaster();
      await this.kill();
      // Postfix writes its diagnostics to maillog_file.
      throw new Error(`Postfix failed to start: ${(e as Error).message}\n${await this.logTail(30, logOffset)}`);
    }
    this.running = true;
    const pid = await this.adoptMaster();
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (this.masterPid !== undefined && Date.now() < deadline) {
      if (await probeSmtpGreeting(this.host, this.port, 2000)) return;
      if (!pidAlive(this.masterPid)) break;
      await sleep(50);
    }
    const tail = await this.logTail(30, logOffset);
    await this.kill();
    throw new Error(
      `Postfix did not answer on ${this.host}:${this.port} within ${START_TIMEOUT_MS} ms` +
        ` (master pid ${pid ?? 'unknown'})\n${tail}`,
    );
  }

  // ---------------------------------------------------------------- faults

  /**
   * The next `attempts` RCPT TOs for `address` get `reply` (a 4xx: the sender should retry),
   * later ones are accepted. Replaces any rule for the address.
   */
  async deferRecipient(
    address: string,
    attempts: number,
    reply = '450 4.2.1 Mailbox temporarily unavailable, try again later',
  ): Promise<void> {
    if (!/^4\d\d /.test(reply)) throw new Error(`PostfixServer.deferRecipient: not a 4xx reply: ${reply}`);
    if (!Number.isInteger(attempts) || attempts < 1) throw new Error('PostfixServer.deferRecipient: attempts must be >= 1');
    this.policy.rules.set(normalizeAddress(address), { reply, remaining: attempts });
  }

  /** Every RCPT TO for `address` gets `reply` (a 5xx) until acceptRecipient(). */
  async rejectRecipient(address: string, reply = '550 5.1.1 No such user here'): Promise<void> {
    if (!/^5\d\d /.test(reply)) throw new Error(`PostfixServer.rejectRecipient: not a 5xx reply: ${reply}`);
    this.policy.rules.set(normalizeAddress(address), { reply, remaining: Infinity });
  }

  /** Removes a deferRecipient()/rejectRecipient() rule. */
  async acceptRecipient(address: string): Promise<void> {
    this.policy.rules.delete(normalizeAddress(address));
  }

  /** RCPT TO commands for `address` that reached the restrictions so far (faulted ones included). */
  rcptAttempts(address: string): number {
    return this.policy.attempts.get(normalizeAddress(address)) ?? 0;
  }

  /**
   * Stops the whole instance (as `postfix stop` does): the SMTP port refuses connections; queued mail
   * stays on disk. startSmtp() brings it back with the same port and queue.
   */
  async stopSmtp(): Promise<void> {
    if (!this.running) return;
    const pid = this.masterPid;
    try {
      // What `postfix stop` does: SIGTERM to the master, which terminates its children.
      if (pid !== undefined && isOurMaster(pid, this.marker)) process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (pid !== undefined && groupAlive(pid) && Date.now() < deadline) await sleep(25);
      if (pid !== undefined && groupAlive(pid)) await this.kill();
      await this.waitPortClosed();
    } finally {
      this.markStopped();
    }
  }

  /** Starts the instance again after stopSmtp(); queued mail is then delivered. */
  async startSmtp(): Promise<void> {
    if (this.running) return;
    await this.launch();
  }

  /**
   * Mail accepted from now on goes to the hold queue, undelivered (the policy service answers
   * HOLD), until releaseDelivery(). SMTP keeps working; stopping Dovecot instead would also stop
   * SMTP AUTH (smtpd cannot reach Dovecot's auth service and exits).
   */
  async holdDelivery(): Promise<void> {
    this.policy.hold = true;
  }

  /** Ends holdDelivery() and delivers the held mail at once (`postsuper -H ALL`, `postqueue -f`). */
  async releaseDelivery(): Promise<void> {
    this.policy.hold = false;
    await run(findBinary('postsuper') ?? 'postsuper', ['-c', this.configDir, '-H', 'ALL']);
    await this.flushQueue();
  }

  // ---------------------------------------------------------------- queue and mail

  /** Messages in Postfix's queue (incoming, active, deferred, hold), read from disk. */
  async queueSize(): Promise<number> {
    let n = 0;
    for (const sub of ['maildrop', 'incoming', 'active', 'deferred', 'hold']) {
      const entries = await fsp
        .readdir(path.join(this.queueDir, sub), { recursive: true, withFileTypes: true })
        .catch(() => []);
      n += entries.filter((e) => e.isFile()).length;
    }
    return n;
  }

  /** Asks the queue manager to retry deferred mail now (`postqueue -f`). */
  async flushQueue(): Promise<void> {
    await run(findBinary('postqueue') ?? 'postqueue', ['-c', this.configDir, '-f']);
  }

  /** Messages in `address`'s Dovecot folder, read with doveadm (no IMAP login). */
  async deliveredTo(address: string, folder = 'INBOX'): Promise<DeliveredMessage[]> {
    const { stdout } = await this.dovecot.doveadm([
      '-f', 'json', 'fetch', '-u', address, 'uid hdr.message-id text', 'mailbox', folder, 'all',
    ]);
    const rows = JSON.parse(stdout || '[]') as { uid: string; 'hdr.message-id': string; text: string }[];
    return rows.map((r) => ({ uid: Number(r.uid), messageId: (r['hdr.message-id'] ?? '').trim(), raw: r.text }));
  }

  /** Waits until a message with `messageId` (with or without <>) is in `address`'s INBOX. */
  async waitForMessage(address: string, messageId: string, timeoutMs = 15_000): Promise<DeliveredMessage> {
    const wanted = normalizeMessageId(messageId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await this.deliveredTo(address)).find((m) => normalizeMessageId(m.messageId) === wanted);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(
          `PostfixServer: ${messageId} not in ${address}'s INBOX after ${timeoutMs} ms` +
            ` (${await this.queueSize()} queued)\n${await this.logTail(20)}`,
        );
      }
      await sleep(100);
    }
  }

  // ---------------------------------------------------------------- logs

  private async logSize(): Promise<number> {
    return (await fsp.stat(this.logPath).catch(() => undefined))?.size ?? 0;
  }

  async readLog(): Promise<string> {
    return fsp.readFile(this.logPath, 'utf8').catch(() => '');
  }

  /** Last `lines` lines of the Postfix log (from byte `fromOffset`), for error messages. */
  async logTail(lines = 30, fromOffset = 0): Promise<string> {
    const text = (await fsp.readFile(this.logPath).catch(() => undefined))?.subarray(fromOffset).toString('utf8');
    if (text === undefined) return `(no Postfix log at ${this.logPath})`;
    return `--- tail of ${this.logPath} ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
  }

  // ---------------------------------------------------------------- lifecycle

  /** SIGKILL to the instance's process group (the master is a session leader). Never throws. */
  private async kill(): Promise<void> {
    const pid = this.masterPid;
    try {
      if (pid !== undefined) {
        signalGroup(pid, this.marker, 'SIGKILL');
        const deadline = Date.now() + STOP_TIMEOUT_MS;
        while (groupAlive(pid) && Date.now() < deadline) await sleep(10);
      }
    } finally {
      this.markStopped();
    }
  }

  private markStopped(): void {
    this.running = false;
    this.masterPid = undefined;
    reaper.setPid(this, undefined);
  }

  private async waitPortClosed(): Promise<void> {
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (Date.now() < deadline && (await probeConnect(this.host, this.port))) await sleep(25);
  }

  /** Stops the instance, closes the policy service and removes the temp dir (DOVECOT_HARNESS_KEEP=1 keeps it). */
  async stop(): Promise<void> {
    try {
      await this.stopSmtp();
    } finally {
      await this.policy.close();
      reaper.unregister(this);
      if (!process.env.DOVECOT_HARNESS_KEEP) await fsp.rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }
}

/** Looks up a user's or group's numeric id in /etc/passwd or /etc/group. */
async function systemId(file: '/etc/passwd' | '/etc/group', name: string): Promise<number> {
  const line = (await fsp.readFile(file, 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`PostfixServer: no "${name}" in ${file}. ${POSTFIX_NOT_INSTALLED_MESSAGE}`);
  return Number(line.split(':')[2]);
}

/**
 * Creates data_directory and the queue directories with the owners and modes of Debian's
 * /etc/postfix/postfix-files, which `postfix check` would otherwise create (slowly) at start.
 */
async function createQueueLayout(dir: string): Promise<void> {
  const owner = await systemId('/etc/passwd', 'postfix');
  const postdrop = await systemId('/etc/group', 'postdrop');
  const make = async (sub: string, mode: number, uid: number, gid: number) => {
    const p = path.join(dir, sub);
    await fsp.mkdir(p);
    await fsp.chown(p, uid, gid);
    await fsp.chmod(p, mode);
  };
  await make('data', 0o700, owner, 0);
  await make('queue', 0o755, 0, 0);
  await make('queue/pid', 0o755, 0, 0);
  for (const sub of ['active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'private', 'saved', 'trace']) {
    await make(`queue/${sub}`, 0o700, owner, 0);
  }
  await make('queue/maildrop', 0o730, owner, postdrop);
  await make('queue/public', 0o710, owner, postdrop);
}
