import { WithStartWorkflowOperation, WorkflowUpdateStage, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import type { z } from 'zod';
import { DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE_URL, type GraphCredential } from '../mail/graph/graphEndpoint';
import {
  graphSettingsProblem,
  mailboxCredentialProblem,
  mailboxSettingsProblem,
  settleEndpoints,
  settleHostUrl,
  type EndpointSettings,
  type GraphSettingsChange,
  type ServerTypeName,
} from '../policy/serverProfiles';
import { readCertificate, sealGraphCredential } from '../secrets/graphCredential';
import type { SecretBox } from '../secrets/secretBox';
import { PgCrmItems } from '../crm/pgCrmItems';
import { inTransaction } from '../store/pgSyncStore';
import type { TestAndEnableResult } from '../store/syncStore';
import { mailboxWorkflowId, taskQueues } from '../temporal/names';
import { MailboxIdAttribute } from '../temporal/searchAttributes';
import { disableUpdate, mailboxChangedSignal, mailboxSyncWorkflow, statusQuery, syncNowSignal, testAndEnableUpdate, type MailboxStatus } from '../../workflows';
import { itemsChangedSignal } from '../../workflows/mailboxSync';
import { syncNowRefusal } from '../policy/syncNow';
import { ALERT_COLUMNS, dashboardSummary, type AlertView, type DashboardSummary } from './dashboard';
import { ConflictError, InvalidRequestError, NotFoundError } from './errors';
import { ItemSyncVisibility } from './itemSyncVisibility';
import {
  AlertQuery,
  MailboxPatch,
  MapRequest,
  NewMailbox,
  NewProfile,
  NewUser,
  OrganizationSettingsPatch,
  ProfilePatch,
  UserOptions,
} from './schemas';

export interface UserView {
  id: string;
  fullName: string;
  email: string;
  trackingOption: string;
  createContactsForUnknownSenders: boolean;
  createdAt: Date;
}

export interface ProfileView {
  id: string;
  name: string;
  serverType: string;
  incomingHost: string | null;
  incomingPort: number | null;
  incomingSecurity: string;
  outgoingHost: string | null;
  outgoingPort: number | null;
  outgoingSecurity: string;
  maxConcurrentConnections: number;
  minPollingIntervalSeconds: number;
  processEmailFrom: Date | null;
  connectionTimeoutSeconds: number;
  maxMessageBytes: number;
  saveSentCopy: boolean;
  ownerUserId: string | null;
  /** exchange_online: the Entra ID app and where Graph and the authority are; null on other profiles. */
  tenantId: string | null;
  clientId: string | null;
  graphBaseUrl: string | null;
  authorityHost: string | null;
  /** Which credential the app uses; the credential itself is never shown. */
  credentialKind: 'secret' | 'certificate' | null;
  clientSecretSet: boolean;
  certificateThumbprint: string | null;
  certificateExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

interface DirectionView {
  enabled: boolean;
  status: string;
  /** When this status was last established, by a Test & Enable or (incoming) a sync; null while not_run. */
  statusAt: Date | null;
  message: string | null;
}

export interface MailboxStatistics {
  lastSyncStartedAt: Date | null;
  lastSyncCompletedAt: Date | null;
  lastSuccessAt: Date | null;
  itemsProcessedLastCycle: number;
  itemsFailedLastCycle: number;
  consecutiveErrors: number;
  /** Null unless incoming sync is enabled and may run (not parked). */
  nextSyncAt: Date | null;
  /** Both null once the mailbox syncs (or tests) successfully again. */
  lastError: string | null;
  lastErrorAt: Date | null;
}

/** Who holds a mailbox: one user or one queue. */
export interface OwnerRef {
  type: 'user' | 'queue';
  id: string;
}

export interface MailboxView {
  id: string;
  emailAddress: string;
  profileId: string;
  ownerUserId: string | null;
  ownerQueueId: string | null;
  owner: (OwnerRef & { name: string }) | null;
  username: string | null;
  /** exchange_online: the tenant user's object id; null: its email address. */
  graphUser: string | null;
  folders: string[];
  emailApproved: boolean;
  mappingVersion: number;
  minPollingIntervalSeconds: number | null;
  /** Each message is deleted from the server once the CRM stored it (POP3 only). */
  deleteAfterProcessing: boolean;
  /** The organisation's token, the mailbox's own prefix (custom), or none (off). */
  trackingToken: { mode: 'organization' | 'custom' | 'off'; prefix: string | null };
  sentFolder: string | null;
  trackSentFolder: boolean;
  incoming: DirectionView;
  outgoing: DirectionView;
  items: DirectionView;
  statistics: MailboxStatistics;
  /** The running sync's progress (long initial syncs), or null between cycles. */
  progress: { folder: string; itemsDone: number; itemsTotal: number; startedAt: string; updatedAt: string } | null;
  createdAt: Date;
  updatedAt: Date;
}

export type { AlertView };

export type OrganizationSettings = Required<z.output<typeof OrganizationSettingsPatch>>;

const ORGANIZATION_COLUMNS: Record<keyof OrganizationSettings, string> = {
  requireEmailApproval: 'require_email_approval',
  maxAttachmentBytes: 'max_attachment_bytes',
  defaultTrackingOption: 'default_tracking_option',
  trackingTokenEnabled: 'tracking_token_enabled',
  trackingTokenPrefix: 'tracking_token_prefix',
  trackingTokenBaseNumber: 'tracking_token_base_number',
  trackingTokenUserDigits: 'tracking_token_user_digits',
  trackingTokenCounterDigits: 'tracking_token_counter_digits',
  smartMatching: 'smart_matching',
  correlateForwards: 'correlate_forwards',
  ownDomains: 'own_domains',
  itemsUnlinkOnly: 'items_unlink_only',
  itemsTrackingCategory: 'items_tracking_category',
  itemsConflictRule: 'items_conflict_rule',
  itemsDeleteContactFromCrm: 'items_delete_contact_from_crm',
  itemsDeleteContactFromExchange: 'items_delete_contact_from_exchange',
  itemsDeleteAppointmentFromCrm: 'items_delete_appointment_from_crm',
  itemsDeleteAppointmentFromExchange: 'items_delete_appointment_from_exchange',
  itemsDeleteTaskFromCrm: 'items_delete_task_from_crm',
  itemsDeleteTaskFromExchange: 'items_delete_task_from_exchange',
  itemsCalendarDaysBack: 'items_calendar_days_back',
  itemsCalendarDaysAhead: 'items_calendar_days_ahead',
};

const USER_SELECT = `SELECT id, full_name AS "fullName", email, tracking_option AS "trackingOption",
  create_contacts_for_unknown_senders AS "createContactsForUnknownSenders", created_at AS "createdAt" FROM crm_users`;


const OWNER_COLUMN = { user: 'owner_user_id', queue: 'owner_queue_id' } as const;

// The owner's name and address, whichever kind it is (FROM mailboxes m).
const OWNER = `coalesce(u.full_name, q.name) AS owner_name, coalesce(u.email, q.email) AS owner_email`;
const OWNER_JOINS = `LEFT JOIN crm_users u ON u.id = m.owner_user_id LEFT JOIN crm_queues q ON q.id = m.owner_queue_id`;

function ownerOf(r: { owner_user_id: string | null; owner_queue_id: string | null }): OwnerRef | null {
  if (r.owner_user_id) return { type: 'user', id: r.owner_user_id };
  return r.owner_queue_id ? { type: 'queue', id: r.owner_queue_id } : null;
}

// Every mailbox view reads the organisation's approval setting with the row: a parked mailbox shows no next sync.
const MAILBOX_SELECT = `SELECT m.*, NOT m.email_approved AND o.require_email_approval AS awaiting_approval, ${OWNER}
  FROM mailboxes m CROSS JOIN organization_settings o ${OWNER_JOINS}`;

/** Profile inputs that are not stored as given: the credential is sealed, the hosts normalised (see graphColumns). */
const GRAPH_INPUTS = ['tenantId', 'clientId', 'clientSecret', 'certificatePem', 'privateKeyPem', 'graphBaseUrl', 'authorityHost'] as const;
type GraphInput = (typeof GRAPH_INPUTS)[number];

/** The profile with its Graph inputs taken out: what is left maps onto columns one to one. */
function withoutGraphInputs<T extends Partial<Record<GraphInput, unknown>>>(input: T): Omit<T, GraphInput> {
  return Object.fromEntries(Object.entries(input).filter(([k]) => !(GRAPH_INPUTS as readonly string[]).includes(k))) as Omit<T, GraphInput>;
}

/** The Graph columns a profile of another type has none of. */
const NO_GRAPH_COLUMNS = {
  auth_type: 'password',
  tenant_id: null,
  client_id: null,
  credentials: null,
  credential_kind: null,
  certificate_thumbprint: null,
  certificate_expires_at: null,
  graph_base_url: null,
  authority_host: null,
};

const PROFILE_COLUMNS: Record<Exclude<keyof z.output<typeof ProfilePatch>, GraphInput>, string> = {
  name: 'name',
  serverType: 'server_type',
  incomingHost: 'incoming_host',
  incomingPort: 'incoming_port',
  incomingSecurity: 'incoming_security',
  outgoingHost: 'outgoing_host',
  outgoingPort: 'outgoing_port',
  outgoingSecurity: 'outgoing_security',
  maxConcurrentConnections: 'max_concurrent_connections',
  minPollingIntervalSeconds: 'min_polling_interval_seconds',
  processEmailFrom: 'process_email_from',
  connectionTimeoutSeconds: 'connection_timeout_seconds',
  maxMessageBytes: 'max_message_bytes',
  saveSentCopy: 'save_sent_copy',
  ownerUserId: 'owner_user_id',
};

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** How long a status query waits for a worker to answer: an admin page should not hang on a stopped worker. */
export const STATUS_QUERY_DEADLINE_MS = 5000;

function toProfile(r: Record<string, unknown>): ProfileView {
  const view = Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'credentials').map(([k, v]) => [camel(k), v]));
  return { ...view, clientSecretSet: r.credential_kind === 'secret' && r.credentials !== null } as unknown as ProfileView;
}

function toMailbox(r: Record<string, any>): MailboxView {
  const direction = (d: 'incoming' | 'outgoing' | 'items'): DirectionView => ({
    enabled: r[`${d}_enabled`],
    status: r[`${d}_status`],
    statusAt: r[`${d}_status`] === 'not_run' ? null : r[`${d}_tested_at`],
    message: r[`${d}_test_message`],
  });
  const mayRun = r.incoming_enabled && !r.awaiting_approval;
  const owner = ownerOf(r as { owner_user_id: string | null; owner_queue_id: string | null });
  return {
    id: r.id,
    emailAddress: r.email_address,
    profileId: r.profile_id,
    ownerUserId: r.owner_user_id,
    ownerQueueId: r.owner_queue_id,
    owner: owner && { ...owner, name: r.owner_name },
    username: r.username,
    graphUser: r.graph_user,
    folders: r.folders,
    emailApproved: r.email_approved,
    mappingVersion: r.mapping_version,
    minPollingIntervalSeconds: r.min_polling_interval_seconds,
    deleteAfterProcessing: r.delete_after_processing,
    trackingToken: { mode: r.tracking_token_mode, prefix: r.tracking_token_prefix },
    sentFolder: r.sent_folder,
    trackSentFolder: r.track_sent_folder,
    incoming: direction('incoming'),
    outgoing: direction('outgoing'),
    items: direction('items'),
    statistics: {
      lastSyncStartedAt: r.last_sync_started_at,
      lastSyncCompletedAt: r.last_sync_completed_at,
      lastSuccessAt: r.last_success_at,
      itemsProcessedLastCycle: r.items_processed_last_cycle,
      itemsFailedLastCycle: r.items_failed_last_cycle,
      consecutiveErrors: r.consecutive_errors,
      nextSyncAt: mayRun ? r.next_sync_at : null,
      lastError: r.last_error,
      lastErrorAt: r.last_error === null ? null : r.last_error_at,
    },
    progress: r.sync_progress,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A mailbox with its own token has its own prefix. */
function customPrefixGiven(mode: string, prefix: string | null): void {
  if (mode === 'custom' && !prefix) throw new InvalidRequestError('trackingTokenPrefix: a mailbox with its own tracking token (mode custom) needs its prefix');
}

/** The ports to store for a new or changed profile; a profile this version cannot use is refused. */
function settledPorts(before: EndpointSettings | null, change: Partial<EndpointSettings>): { incomingPort: number | null; outgoingPort: number | null } {
  const settled = settleEndpoints(before, change);
  if (!settled.ok) throw new InvalidRequestError(settled.problem);
  return { incomingPort: settled.incomingPort, outgoingPort: settled.outgoingPort };
}

/** A queue's mail goes out from its mailbox's address, so its mailbox carries the queue's address. */
function queueCarries(queue: { name: string; email: string }, mailboxAddress: string): void {
  if (queue.email.toLowerCase() !== mailboxAddress.toLowerCase()) {
    throw new InvalidRequestError(
      `Queue ${queue.name} <${queue.email}> can only hold a mailbox for its own address (mail sent from the queue goes out from it), ` +
        `not ${mailboxAddress}: use a mailbox for ${queue.email}, or change the queue's email first`,
    );
  }
}

function holdsMailboxError(type: OwnerRef['type'], held: { id?: string; email_address: string }, confirmWith?: Record<string, unknown>): ConflictError {
  return new ConflictError(
    `The ${type} already holds mailbox ${held.email_address}; a ${type} maps to one mailbox` +
      (confirmWith ? ': send confirmWith to move it here (that mailbox loses its owner and its sync stops)' : ''),
    { mailboxId: held.id, ...(confirmWith && { confirmWith }) },
  );
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  return (err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === constraint;
}

/**
 * Every operation a CRM administrator (or a user, on their own mailbox) performs: the admin
 * HTTP API and the CLI are thin layers over this. Database first, then the mailbox's workflow
 * is told, so the workflow always acts on what the database says.
 */
export class MailboxService {
  /** Per-entity figures of contacts', appointments' and tasks' sync, their failed items and retries. */
  readonly itemSync: ItemSyncVisibility;

  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
    private readonly temporal: Client,
    private readonly taskQueuePrefix: string,
  ) {
    this.itemSync = new ItemSyncVisibility(pool, new PgCrmItems(pool), (id) => this.signalIfRunning(id, itemsChangedSignal));
  }

  // Users ------------------------------------------------------------------

  async createUser(input: z.input<typeof NewUser>): Promise<UserView> {
    const u = NewUser.parse(input);
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO crm_users (full_name, email, tracking_option, create_contacts_for_unknown_senders)
         VALUES ($1, $2, coalesce($3, organization_default_tracking_option()), $4) RETURNING id`,
        [u.fullName, u.email, u.trackingOption ?? null, u.createContactsForUnknownSenders],
      );
      return this.getUser(rows[0].id);
    } catch (err) {
      if (isUniqueViolation(err, 'crm_users_email_key')) throw new ConflictError(`A user with the email address ${u.email} exists already`);
      throw err;
    }
  }

  async getUser(id: string): Promise<UserView> {
    const { rows } = await this.pool.query(`${USER_SELECT} WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('User', id);
    return rows[0];
  }

  async listUsers(): Promise<UserView[]> {
    const { rows } = await this.pool.query(`${USER_SELECT} ORDER BY created_at`);
    return rows;
  }

  /** A user's own sync options; the mailbox workflow picks them up at once. */
  async updateUserOptions(userId: string, input: z.input<typeof UserOptions>): Promise<UserView> {
    const o = UserOptions.parse(input);
    const { rowCount } = await this.pool.query(
      `UPDATE crm_users SET tracking_option = coalesce($2, tracking_option),
              create_contacts_for_unknown_senders = coalesce($3, create_contacts_for_unknown_senders) WHERE id = $1`,
      [userId, o.trackingOption ?? null, o.createContactsForUnknownSenders ?? null],
    );
    if (!rowCount) throw new NotFoundError('User', userId);
    const { rows } = await this.pool.query(`SELECT id FROM mailboxes WHERE owner_user_id = $1`, [userId]);
    for (const { id } of rows) await this.signal(id, mailboxChangedSignal);
    return this.getUser(userId);
  }

  // Server profiles --------------------------------------------------------

  /** A port left out is the security setting's default, stored so the profile shows it. */
  async createProfile(input: z.input<typeof NewProfile>): Promise<ProfileView> {
    const p = NewProfile.parse(input);
    const ports = settledPorts(null, p);
    const graph = this.graphColumns(null, p);
    const entries = Object.entries({ ...withoutGraphInputs(p), ...ports })
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => [PROFILE_COLUMNS[k as keyof typeof PROFILE_COLUMNS], v] as [string, unknown])
      .concat(Object.entries(graph).filter(([, v]) => v !== null));
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO email_server_profiles (${entries.map(([column]) => column).join(', ')})
         VALUES (${entries.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
        entries.map(([, v]) => v),
      );
      return toProfile(rows[0]);
    } catch (err) {
      if (isUniqueViolation(err, 'email_server_profiles_name_key')) throw new ConflictError(`A server profile named "${p.name}" exists already`);
      throw err;
    }
  }

  async getProfile(id: string): Promise<ProfileView> {
    const { rows } = await this.pool.query(`SELECT * FROM email_server_profiles WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Server profile', id);
    return toProfile(rows[0]);
  }

  async listProfiles(): Promise<ProfileView[]> {
    const { rows } = await this.pool.query(`SELECT * FROM email_server_profiles ORDER BY created_at`);
    return rows.map(toProfile);
  }

  /**
   * Changes apply to the profile's mailboxes from their next cycle; its worker picks up a new
   * connection cap. A profile with mailboxes keeps to Graph or to mail servers: its mailboxes'
   * credentials (a password each, or none) belong to one or the other.
   */
  async updateProfile(id: string, input: z.input<typeof ProfilePatch>): Promise<ProfileView> {
    const patch = ProfilePatch.parse(input);
    if (Object.values(patch).every((v) => v === undefined)) return this.getProfile(id);
    const row = await inTransaction(this.pool, async (client) => {
      const { rows: current } = await client.query(`SELECT * FROM email_server_profiles WHERE id = $1 FOR UPDATE`, [id]);
      if (!current[0]) throw new NotFoundError('Server profile', id);
      // The row holds what the schema and the table's checks allowed.
      const before = toProfile(current[0]) as unknown as EndpointSettings;
      const isExchange = (type: string) => type === 'exchange_online';
      if (patch.serverType !== undefined && isExchange(patch.serverType) !== isExchange(before.serverType)) {
        const { rows: used } = await client.query(`SELECT count(*)::int AS n FROM mailboxes WHERE profile_id = $1`, [id]);
        if (used[0].n > 0) {
          throw new ConflictError(
            `The profile has ${used[0].n} mailbox(es), whose credentials belong to ${before.serverType}: ` +
              `a profile with mailboxes cannot change between exchange_online and imap/pop3; create a new profile and move the mailboxes`,
          );
        }
      }
      // Ports follow the change: one left unset, or the old setting's default, takes the new default.
      const ports = settledPorts(before, patch);
      const graph = this.graphColumns(current[0], patch);
      const entries = Object.entries({ ...withoutGraphInputs(patch), ...ports })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [PROFILE_COLUMNS[k as keyof typeof PROFILE_COLUMNS], v] as [string, unknown])
        .concat(Object.entries(graph));
      const { rows } = await client.query(
        `UPDATE email_server_profiles SET ${entries.map(([column], i) => `${column} = $${i + 2}`).join(', ')}, updated_at = now()
          WHERE id = $1 RETURNING *`,
        [id, ...entries.map(([, v]) => v)],
      );
      return rows[0];
    });
    return toProfile(row);
  }

  /**
   * The Graph columns to store for a new profile (`before` null) or a change: an exchange_online
   * profile gets its tenant, client, hosts (the public cloud's by default) and its credential,
   * sealed; a profile leaving exchange_online loses them. InvalidRequestError says what is wrong.
   */
  private graphColumns(before: Record<string, any> | null, change: GraphSettingsChange): Record<string, unknown> {
    const wasExchange = before?.server_type === 'exchange_online';
    const problem = graphSettingsProblem(
      before && {
        serverType: before.server_type,
        tenantId: before.tenant_id,
        clientId: before.client_id,
        credentialKind: before.credentials === null ? null : before.credential_kind,
        graphBaseUrl: before.graph_base_url,
        authorityHost: before.authority_host,
      },
      change,
    );
    if (problem) throw new InvalidRequestError(problem);
    const serverType: ServerTypeName = change.serverType ?? before?.server_type ?? 'imap';
    if (serverType !== 'exchange_online') return wasExchange ? NO_GRAPH_COLUMNS : {};
    const touched = change.serverType !== undefined || GRAPH_INPUTS.some((k) => change[k] !== undefined);
    if (wasExchange && !touched) return {};
    // Graph is the one server of both directions: a profile becoming exchange_online drops its mail-server hosts.
    const columns: Record<string, unknown> = wasExchange ? {} : { auth_type: 'oauth_client_credentials', incoming_host: null, outgoing_host: null };
    if (change.tenantId !== undefined) columns.tenant_id = change.tenantId;
    if (change.clientId !== undefined) columns.client_id = change.clientId;
    const hosts = [
      ['graphBaseUrl', 'graph_base_url', DEFAULT_GRAPH_BASE_URL],
      ['authorityHost', 'authority_host', DEFAULT_AUTHORITY_HOST],
    ] as const;
    for (const [field, column, publicCloud] of hosts) {
      const given = change[field];
      if (given !== undefined) {
        const settled = settleHostUrl(field, given);
        if (settled.ok) columns[column] = settled.url;
      } else if (!wasExchange || !before[column]) {
        columns[column] = publicCloud;
      }
    }
    let credential: GraphCredential | null = null;
    let expiresAt: Date | null = null;
    if (change.clientSecret !== undefined) credential = { kind: 'secret', secret: change.clientSecret };
    if (change.certificatePem !== undefined && change.privateKeyPem !== undefined) {
      const read = readCertificate(change.certificatePem, change.privateKeyPem, new Date());
      if (!read.ok) throw new InvalidRequestError(read.problem);
      credential = read.certificate.credential;
      expiresAt = read.certificate.expiresAt;
    }
    if (credential) {
      columns.credentials = sealGraphCredential(this.secrets, credential);
      columns.credential_kind = credential.kind;
      columns.certificate_thumbprint = credential.kind === 'certificate' ? credential.thumbprintSha256 : null;
      columns.certificate_expires_at = expiresAt;
    }
    return columns;
  }

  async deleteProfile(id: string): Promise<void> {
    try {
      const { rowCount } = await this.pool.query(`DELETE FROM email_server_profiles WHERE id = $1`, [id]);
      if (!rowCount) throw new NotFoundError('Server profile', id);
    } catch (err) {
      if ((err as { code?: string }).code === '23503') throw new ConflictError('The server profile still has mailboxes; delete or move them first');
      throw err;
    }
  }

  // Mailboxes --------------------------------------------------------------

  /** Creates the mailbox, maps it to its owner (if given) and, when enabled, starts its sync. */
  async createMailbox(input: z.input<typeof NewMailbox>): Promise<MailboxView> {
    const m = NewMailbox.parse(input);
    customPrefixGiven(m.trackingTokenMode, m.trackingTokenPrefix ?? null);
    const { serverType } = await this.getProfile(m.profileId);
    const problem = mailboxSettingsProblem(serverType, m) ?? mailboxCredentialProblem(serverType, m, true);
    if (problem) throw new InvalidRequestError(problem);
    if (m.ownerUserId && m.ownerQueueId) {
      throw new InvalidRequestError('A mailbox belongs to a user or to a queue, not both: give ownerUserId or ownerQueueId');
    }
    if (m.ownerQueueId) queueCarries(await this.holder({ type: 'queue', id: m.ownerQueueId }), m.emailAddress);
    let id: string;
    try {
      const { rows } = await this.pool.query(
        `INSERT INTO mailboxes (email_address, profile_id, owner_user_id, username, credentials, folders, incoming_enabled,
                                email_approved, min_polling_interval_seconds, delete_after_processing, owner_queue_id,
                                tracking_token_mode, tracking_token_prefix, sent_folder, track_sent_folder, graph_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
        [
          m.emailAddress,
          m.profileId,
          m.ownerUserId ?? null,
          m.username ?? null,
          m.password === undefined ? null : this.secrets.encrypt(m.password),
          m.folders,
          m.incomingEnabled,
          m.emailApproved,
          m.minPollingIntervalSeconds ?? null,
          m.deleteAfterProcessing,
          m.ownerQueueId ?? null,
          m.trackingTokenMode,
          m.trackingTokenPrefix ?? null,
          m.sentFolder ?? null,
          m.trackSentFolder,
          m.graphUser ?? null,
        ],
      );
      id = rows[0].id;
    } catch (err) {
      if (isUniqueViolation(err, 'mailboxes_email_address_key')) throw new ConflictError(`A mailbox for ${m.emailAddress} exists already`);
      if (isUniqueViolation(err, 'mailboxes_owner_user_id_key')) throw await this.holdsMailbox({ type: 'user', id: m.ownerUserId! });
      if (isUniqueViolation(err, 'mailboxes_owner_queue_id_key')) throw await this.holdsMailbox({ type: 'queue', id: m.ownerQueueId! });
      if ((err as { code?: string }).code === '23503') throw new NotFoundError('User', m.ownerUserId ?? '');
      throw err;
    }
    await this.signal(id, syncNowSignal);
    return this.getMailbox(id);
  }

  async getMailbox(id: string): Promise<MailboxView> {
    const { rows } = await this.pool.query(`${MAILBOX_SELECT} WHERE m.id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError('Mailbox', id);
    return toMailbox(rows[0]);
  }

  async listMailboxes(filter: { ownerUserId?: string; ownerQueueId?: string } = {}): Promise<MailboxView[]> {
    const { rows } = await this.pool.query(
      `${MAILBOX_SELECT} WHERE ($1::uuid IS NULL OR m.owner_user_id = $1) AND ($2::uuid IS NULL OR m.owner_queue_id = $2) ORDER BY m.created_at`,
      [filter.ownerUserId ?? null, filter.ownerQueueId ?? null],
    );
    return rows.map(toMailbox);
  }

  /** Settings (credentials, folders, interval): the workflow re-reads the mailbox at once. */
  async updateMailbox(id: string, input: z.input<typeof MailboxPatch>): Promise<MailboxView> {
    const patch = MailboxPatch.parse(input);
    const sets: string[] = [];
    const values: unknown[] = [id];
    const set = (column: string, value: unknown) => {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    };
    if (patch.username !== undefined) set('username', patch.username);
    if (patch.password !== undefined) set('credentials', this.secrets.encrypt(patch.password));
    if (patch.folders !== undefined) set('folders', patch.folders);
    if (patch.minPollingIntervalSeconds !== undefined) set('min_polling_interval_seconds', patch.minPollingIntervalSeconds);
    if (patch.deleteAfterProcessing !== undefined) set('delete_after_processing', patch.deleteAfterProcessing);
    if (patch.graphUser !== undefined) set('graph_user', patch.graphUser);
    const credentialChange = patch.password !== undefined || patch.username !== undefined || Boolean(patch.graphUser);
    if (patch.folders !== undefined || patch.deleteAfterProcessing || patch.trackSentFolder || credentialChange) {
      const { rows } = await this.pool.query(
        `SELECT p.server_type FROM mailboxes m JOIN email_server_profiles p ON p.id = m.profile_id WHERE m.id = $1`,
        [id],
      );
      if (!rows[0]) throw new NotFoundError('Mailbox', id);
      const problem = mailboxSettingsProblem(rows[0].server_type, patch) ?? mailboxCredentialProblem(rows[0].server_type, patch, false);
      if (problem) throw new InvalidRequestError(problem);
    }
    if (patch.trackingTokenMode !== undefined) set('tracking_token_mode', patch.trackingTokenMode);
    if (patch.trackingTokenPrefix !== undefined) set('tracking_token_prefix', patch.trackingTokenPrefix);
    if (patch.sentFolder !== undefined) set('sent_folder', patch.sentFolder);
    if (patch.trackSentFolder !== undefined) set('track_sent_folder', patch.trackSentFolder);
    if (patch.trackingTokenMode !== undefined || patch.trackingTokenPrefix !== undefined) {
      const before = await this.getMailbox(id);
      customPrefixGiven(patch.trackingTokenMode ?? before.trackingToken.mode, patch.trackingTokenPrefix !== undefined ? patch.trackingTokenPrefix : before.trackingToken.prefix);
    }
    if (sets.length > 0) {
      const { rowCount } = await this.pool.query(`UPDATE mailboxes SET ${sets.join(', ')}, updated_at = now() WHERE id = $1`, values);
      if (!rowCount) throw new NotFoundError('Mailbox', id);
      await this.signalIfRunning(id, mailboxChangedSignal);
    }
    return this.getMailbox(id);
  }

  /** Deletes the mailbox; its workflow notices and ends. CRM email activities stay. */
  async deleteMailbox(id: string): Promise<void> {
    const { rowCount } = await this.pool.query(`DELETE FROM mailboxes WHERE id = $1`, [id]);
    if (!rowCount) throw new NotFoundError('Mailbox', id);
    await this.signalIfRunning(id, mailboxChangedSignal);
  }

  /**
   * Maps the mailbox to a user or a queue: each holds at most one mailbox, a mailbox has at most
   * one owner. If someone else holds the mailbox, or the new owner holds another mailbox, a
   * ConflictError names them unless `confirm` is set: then the old mapping breaks (its
   * mapping_version moves, so its sync stops) and the new owner's sync starts. Remaps serialise on
   * the mailbox rows; with `expectedMappingVersion`, of concurrent remaps from the same view
   * exactly one wins and the rest get a conflict.
   */
  async mapMailbox(mailboxId: string, input: z.input<typeof MapRequest>): Promise<MailboxView> {
    const request = MapRequest.parse(input);
    const target: OwnerRef = request.queueId ? { type: 'queue', id: request.queueId } : { type: 'user', id: request.userId! };
    const newOwner = await this.holder(target);
    const confirmWith = (version: number) => ({ [`${target.type}Id`]: target.id, confirm: true, expectedMappingVersion: version });
    const changed = await inTransaction(this.pool, async (db) => {
      // The mailbox and the one the new owner holds, locked in one order so that two remaps cannot deadlock.
      const { rows } = await db.query(
        `SELECT m.id, m.email_address, m.mapping_version, m.owner_user_id, m.owner_queue_id, ${OWNER}
           FROM mailboxes m ${OWNER_JOINS}
          WHERE m.id = $1 OR m.${OWNER_COLUMN[target.type]} = $2 ORDER BY m.id FOR UPDATE OF m`,
        [mailboxId, target.id],
      );
      const current = rows.find((r) => r.id === mailboxId);
      if (!current) throw new NotFoundError('Mailbox', mailboxId);
      const held = rows.find((r) => r.id !== mailboxId);
      const owner = ownerOf(current);
      const currentOwner = owner && { ...owner, name: current.owner_name, email: current.owner_email };
      // currentUser: the field this conflict had before queues could hold mailboxes.
      const currentUser = owner?.type === 'user' ? { id: owner.id, fullName: current.owner_name, email: current.owner_email } : null;
      if (request.expectedMappingVersion !== undefined && request.expectedMappingVersion !== current.mapping_version) {
        throw new ConflictError('The mailbox was remapped meanwhile; look at its current mapping and try again', {
          currentUser,
          currentOwner,
          mappingVersion: current.mapping_version,
        });
      }
      if (owner?.type === target.type && owner.id === target.id) return null;
      if (target.type === 'queue') queueCarries(newOwner, current.email_address);
      if (owner && !request.confirm) {
        throw new ConflictError(
          `The mailbox is already mapped to ${owner.type === 'queue' ? 'queue ' : ''}${current.owner_name} <${current.owner_email}>; ` +
            `map it to this ${target.type} instead? Send confirmWith to confirm`,
          { currentUser, currentOwner, confirmWith: confirmWith(current.mapping_version) },
        );
      }
      if (held && !request.confirm) throw holdsMailboxError(target.type, held, confirmWith(current.mapping_version));
      if (held) {
        await db.query(
          `UPDATE mailboxes SET ${OWNER_COLUMN[target.type]} = NULL, mapping_version = mapping_version + 1, updated_at = now() WHERE id = $1`,
          [held.id],
        );
      }
      await db
        .query(
          `UPDATE mailboxes SET owner_user_id = $2, owner_queue_id = $3, mapping_version = mapping_version + 1, updated_at = now() WHERE id = $1`,
          [mailboxId, request.userId ?? null, request.queueId ?? null],
        )
        .catch(async (err) => {
          // A mailbox created for the new owner meanwhile.
          if (isUniqueViolation(err, `mailboxes_${OWNER_COLUMN[target.type]}_key`)) throw await this.holdsMailbox(target);
          throw err;
        });
      return { released: held?.id as string | undefined };
    });
    if (changed) {
      await this.signal(mailboxId, mailboxChangedSignal);
      if (changed.released) await this.signalIfRunning(changed.released, mailboxChangedSignal);
    }
    return this.getMailbox(mailboxId);
  }

  async approveMailbox(id: string): Promise<MailboxView> {
    const { rowCount } = await this.pool.query(`UPDATE mailboxes SET email_approved = true, updated_at = now() WHERE id = $1`, [id]);
    if (!rowCount) throw new NotFoundError('Mailbox', id);
    await this.pool.query(
      `UPDATE alerts SET resolved_at = now() WHERE mailbox_id = $1 AND condition_key = 'awaiting_approval' AND resolved_at IS NULL`,
      [id],
    );
    await this.signalIfRunning(id, mailboxChangedSignal);
    return this.getMailbox(id);
  }

  /** Turns incoming sync back on without testing (Test & Enable tests first) and wakes the workflow. */
  async enableMailbox(id: string): Promise<MailboxView> {
    const { rowCount } = await this.pool.query(
      `UPDATE mailboxes SET incoming_enabled = true, incoming_status = 'not_run', incoming_tested_at = NULL, incoming_test_message = NULL,
              consecutive_errors = 0, own_errors_in_row = 0, updated_at = now() WHERE id = $1`,
      [id],
    );
    if (!rowCount) throw new NotFoundError('Mailbox', id);
    await this.signal(id, mailboxChangedSignal);
    return this.getMailbox(id);
  }

  /** Stops incoming sync: returns once the workflow is parked, after which no connection is opened. */
  async disableMailbox(id: string): Promise<{ mailbox: MailboxView; workflow: MailboxStatus | null }> {
    const { rowCount } = await this.pool.query(`UPDATE mailboxes SET incoming_enabled = false, next_sync_at = NULL, updated_at = now() WHERE id = $1`, [id]);
    if (!rowCount) throw new NotFoundError('Mailbox', id);
    const handle = this.temporal.workflow.getHandle(mailboxWorkflowId(id));
    const workflow = await handle.executeUpdate(disableUpdate).catch((err: Error) => {
      if (err.name === 'WorkflowNotFoundError') return null;
      throw err;
    });
    return { mailbox: await this.getMailbox(id), workflow };
  }

  /** Tests each direction against the mail server, enables those that pass, and returns the results. */
  async testAndEnable(id: string): Promise<TestAndEnableResult> {
    await this.getMailbox(id);
    return this.temporal.workflow.executeUpdateWithStart(testAndEnableUpdate, {
      startWorkflowOperation: await this.startOperation(id, false),
    });
  }

  /**
   * Test & Enable for many mailboxes at once (as an admin selecting them in a list): returns once
   * every job is queued; the results land on each mailbox. The jobs run on the async-work queue,
   * so however many there are, sync is not held up.
   */
  async queueTestAndEnable(ids: string[], parallel = 20): Promise<number> {
    let next = 0;
    const queueOne = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        await this.temporal.workflow.startUpdateWithStart(testAndEnableUpdate, {
          waitForStage: WorkflowUpdateStage.ACCEPTED,
          startWorkflowOperation: await this.startOperation(id, false),
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, queueOne));
    return ids.length;
  }

  /**
   * Cuts the mailbox's wait short, also while it backs off from errors. A mailbox whose sync is
   * parked (disabled, failed, awaiting approval) is refused with a ConflictError saying why and
   * what to do, rather than accepted and silently ignored.
   */
  async syncNow(id: string): Promise<void> {
    const { rows } = await this.pool.query(
      `SELECT m.incoming_enabled, m.incoming_status, m.last_error, NOT m.email_approved AND o.require_email_approval AS awaiting_approval
         FROM mailboxes m CROSS JOIN organization_settings o WHERE m.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) throw new NotFoundError('Mailbox', id);
    const refusal = syncNowRefusal(
      { incomingEnabled: r.incoming_enabled, disabledByFailure: r.incoming_status === 'failure', awaitingApproval: r.awaiting_approval, lastError: r.last_error },
      id,
    );
    if (refusal) throw new ConflictError(refusal.message, { reason: refusal.reason });
    await this.signal(id, syncNowSignal);
  }

  /**
   * The mailbox workflow's live state, or null when it is not running. A running workflow that no
   * worker answers fails after STATUS_QUERY_DEADLINE_MS, not the RPC default of 30 s.
   */
  async liveStatus(id: string): Promise<MailboxStatus | null> {
    const handle = this.temporal.workflow.getHandle(mailboxWorkflowId(id));
    return this.temporal.connection
      .withDeadline(Date.now() + STATUS_QUERY_DEADLINE_MS, () => handle.query(statusQuery))
      .catch((err: Error) => {
        if (err.name === 'WorkflowNotFoundError') return null;
        throw err;
      });
  }

  // Organisation -----------------------------------------------------------

  async getOrganizationSettings(): Promise<OrganizationSettings> {
    const columns = Object.entries(ORGANIZATION_COLUMNS).map(([field, column]) => `${column} AS "${field}"`);
    const { rows } = await this.pool.query(`SELECT ${columns.join(', ')} FROM organization_settings`);
    // bigint comes back as a string; the base number fits a JavaScript number.
    return { ...rows[0], trackingTokenBaseNumber: Number(rows[0].trackingTokenBaseNumber) };
  }

  /**
   * Changes the organisation's settings. Lifting the approval requirement wakes the mailboxes that
   * were parked waiting for it; the attachment limit and the tracking settings apply to what is
   * synced from now on.
   */
  async updateOrganizationSettings(input: z.input<typeof OrganizationSettingsPatch>): Promise<OrganizationSettings> {
    const patch = OrganizationSettingsPatch.parse(input);
    const before = await this.getOrganizationSettings();
    const changes = Object.entries(patch).filter(([, value]) => value !== undefined) as [keyof OrganizationSettings, unknown][];
    if (changes.length > 0) {
      await this.pool.query(
        `UPDATE organization_settings SET ${changes.map(([field], i) => `${ORGANIZATION_COLUMNS[field]} = $${i + 1}`).join(', ')}`,
        changes.map(([field, value]) => (field === 'ownDomains' ? [...new Set((value as string[]).map((d) => d.toLowerCase()))] : value)),
      );
    }
    if (before.requireEmailApproval && patch.requireEmailApproval === false) {
      const { rows } = await this.pool.query(`SELECT id FROM mailboxes WHERE NOT email_approved AND incoming_enabled`);
      for (const { id } of rows) await this.signalIfRunning(id, mailboxChangedSignal);
    }
    return this.getOrganizationSettings();
  }

  // Monitoring -------------------------------------------------------------

  async dashboardSummary(): Promise<DashboardSummary & { itemSync: Awaited<ReturnType<ItemSyncVisibility['overview']>> }> {
    return { ...(await dashboardSummary(this.pool)), itemSync: await this.itemSync.overview() };
  }

  // Alerts -----------------------------------------------------------------

  /**
   * Alerts, newest first: open ones by default (`status`: open, resolved, all). `forUserId` limits
   * them to those addressed to that user as a mailbox or profile owner.
   */
  async listAlerts(input: z.input<typeof AlertQuery>, forUserId?: string): Promise<AlertView[]> {
    const q = AlertQuery.parse(input);
    const { rows } = await this.pool.query(
      `SELECT ${ALERT_COLUMNS}
         FROM alerts
        WHERE ($1::uuid IS NULL OR mailbox_id = $1) AND ($2::uuid IS NULL OR profile_id = $2) AND ($3::text IS NULL OR level = $3)
          AND ($4::uuid IS NULL OR (user_id = $4 AND audiences && ARRAY['mailbox_owner', 'profile_owner']))
          AND ($6 = 'all' OR (resolved_at IS NULL) = ($6 = 'open'))
        ORDER BY created_at DESC, id DESC LIMIT $5`,
      [q.mailboxId ?? null, q.profileId ?? null, q.level ?? null, forUserId ?? null, q.limit, q.status],
    );
    return rows;
  }

  /** Re-encrypts every stored secret with the current key (after adding a new key first in SECRET_KEYS). */
  async rotateSecrets(): Promise<number> {
    let rotated = 0;
    for (const table of ['mailboxes', 'email_server_profiles']) {
      const { rows } = await this.pool.query(`SELECT id, credentials FROM ${table} WHERE credentials IS NOT NULL`);
      for (const r of rows) {
        if (!this.secrets.needsRotation(r.credentials)) continue;
        await this.pool.query(`UPDATE ${table} SET credentials = $2 WHERE id = $1`, [r.id, this.secrets.encrypt(this.secrets.decrypt(r.credentials))]);
        rotated++;
      }
    }
    return rotated;
  }

  // Temporal ---------------------------------------------------------------

  private async holdsMailbox(owner: OwnerRef): Promise<ConflictError> {
    const { rows } = await this.pool.query(`SELECT id, email_address FROM mailboxes WHERE ${OWNER_COLUMN[owner.type]} = $1`, [owner.id]);
    return holdsMailboxError(owner.type, rows[0] ?? { id: undefined, email_address: '' });
  }

  /** The user or queue, by its name and address; NotFoundError if it does not exist. */
  private async holder(ref: OwnerRef): Promise<{ name: string; email: string }> {
    if (ref.type === 'user') {
      const user = await this.getUser(ref.id);
      return { name: user.fullName, email: user.email };
    }
    const { rows } = await this.pool.query(`SELECT name, email FROM crm_queues WHERE id = $1`, [ref.id]);
    if (!rows[0]) throw new NotFoundError('Queue', ref.id);
    return rows[0];
  }

  /**
   * The workflow's one-line summary in Temporal UI's list, `<address> (<owner>)`: set when the
   * workflow starts (the SDK's static summary), so an operator finds a mailbox by its address.
   */
  private async workflowSummary(mailboxId: string): Promise<string | undefined> {
    const { rows } = await this.pool.query(
      `SELECT m.email_address, ${OWNER} FROM mailboxes m ${OWNER_JOINS} WHERE m.id = $1`,
      [mailboxId],
    );
    return rows[0] ? `${rows[0].email_address} (${rows[0].owner_name ?? 'no owner'})` : undefined;
  }

  private async startOperation(mailboxId: string, syncRequested: boolean) {
    return new WithStartWorkflowOperation(mailboxSyncWorkflow, {
      workflowId: mailboxWorkflowId(mailboxId),
      taskQueue: taskQueues(this.taskQueuePrefix).mailboxSync,
      args: [{ mailboxId, syncRequested }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [{ key: MailboxIdAttribute, value: mailboxId }],
      staticSummary: await this.workflowSummary(mailboxId),
    });
  }

  /** Signals the mailbox's workflow, starting it if it is not running. */
  private async signal(mailboxId: string, signal: typeof syncNowSignal | typeof mailboxChangedSignal): Promise<void> {
    await this.temporal.workflow.signalWithStart(mailboxSyncWorkflow, {
      workflowId: mailboxWorkflowId(mailboxId),
      taskQueue: taskQueues(this.taskQueuePrefix).mailboxSync,
      args: [{ mailboxId }],
      signal,
      typedSearchAttributes: [{ key: MailboxIdAttribute, value: mailboxId }],
      staticSummary: await this.workflowSummary(mailboxId),
    });
  }

  private async signalIfRunning(mailboxId: string, signal: typeof mailboxChangedSignal | typeof itemsChangedSignal): Promise<void> {
    await this.temporal.workflow
      .getHandle(mailboxWorkflowId(mailboxId))
      .signal(signal)
      .catch((err: Error) => {
        if (err.name !== 'WorkflowNotFoundError') throw err;
      });
  }

}
