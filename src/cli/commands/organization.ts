import { OrganizationSettingsPatch } from '../../admin/schemas';
import { DELETE_RULES } from '../../policy/itemMerge';
import { TRACKING_OPTIONS } from '../../policy/tracking';
import { command } from '../command';
import { list, yesNo } from '../input';

const deleteRule = (description: string, field: string) => ({
  type: 'string' as const,
  placeholder: DELETE_RULES.join('|'),
  description: `${description}; delete, unlink: always that (new organisations: dynamics)`,
  field,
});

export const organizationCommands = [
  command({
    path: ['organization', 'show'],
    summary: "The organisation's sync settings",
    options: {},
    run: async (_, ctx) => ({ output: await (await ctx.admin()).getOrganizationSettings() }),
  }),
  command({
    path: ['organization', 'set'],
    summary: "Change the organisation's sync settings (what is not given stays)",
    details: ['Lifting the approval requirement starts the sync of the mailboxes that waited for approval at once.'],
    schema: OrganizationSettingsPatch,
    options: {
      'require-approval': {
        type: 'string',
        placeholder: 'yes|no',
        description: 'sync only mailboxes whose email address an admin approved (new organisations: yes)',
        field: 'requireEmailApproval',
      },
      'max-attachment-bytes': {
        type: 'string',
        placeholder: 'BYTES',
        description: 'largest attachment whose content is kept; larger ones are described only (new organisations: 5242880)',
        field: 'maxAttachmentBytes',
      },
      'default-tracking': {
        type: 'string',
        placeholder: TRACKING_OPTIONS.join('|'),
        description: 'tracking option of users created without one (new organisations: replies_to_crm)',
        field: 'defaultTrackingOption',
      },
      'tracking-token': { type: 'string', placeholder: 'yes|no', description: 'outgoing subjects carry a tracking token (new organisations: yes)', field: 'trackingTokenEnabled' },
      'token-prefix': { type: 'string', placeholder: 'PREFIX', description: "the token's prefix, 1-20 characters, no spaces or colons (new organisations: CRM)", field: 'trackingTokenPrefix' },
      'token-base': { type: 'string', placeholder: 'N', description: 'base number added to the tokens, 0-2147483647 (new organisations: 0)', field: 'trackingTokenBaseNumber' },
      'token-user-digits': { type: 'string', placeholder: '1-10', description: "digits of the owner's number (new organisations: 3)", field: 'trackingTokenUserDigits' },
      'token-counter-digits': { type: 'string', placeholder: '1-9', description: 'digits of the message counter, which wraps after them (new organisations: 3)', field: 'trackingTokenCounterDigits' },
      'smart-matching': { type: 'string', placeholder: 'yes|no', description: 'correlate by subject and two shared participants (new organisations: no)', field: 'smartMatching' },
      'correlate-forwards': { type: 'string', placeholder: 'yes|no', description: 'take a forward as a reply to what it forwards (new organisations: no)', field: 'correlateForwards' },
      'own-domains': { type: 'string', placeholder: 'LIST', description: 'own mail domains, comma-separated ("" for none): no contacts for their senders', field: 'ownDomains' },
      'items-unlink-only': {
        type: 'string',
        placeholder: 'yes|no',
        description: "a contact, appointment or task that stops matching a user's filters keeps its Exchange copy, only unlinked (new organisations: no)",
        field: 'itemsUnlinkOnly',
      },
      'tracking-category': {
        type: 'string',
        placeholder: 'NAME',
        description: 'the Outlook category that marks an Exchange item for tracking into the CRM (new organisations: Tracked to CRM)',
        field: 'itemsTrackingCategory',
      },
      'conflict-rule': {
        type: 'string',
        placeholder: 'later_wins|crm_wins',
        description: 'which value a field changed on both sides since the last sync takes (new organisations: later_wins)',
        field: 'itemsConflictRule',
      },
      // What a delete on one side does to the linked copy on the other (src/policy/itemMerge.ts).
      'delete-contact-from-crm': deleteRule('a contact deleted in the CRM; dynamics: its Exchange copy goes unless the syncing user owns it', 'itemsDeleteContactFromCrm'),
      'delete-contact-from-exchange': deleteRule('a contact deleted in Exchange; dynamics: its CRM record goes only if the syncing user owns it', 'itemsDeleteContactFromExchange'),
      'delete-appointment-from-crm': deleteRule(
        'an appointment deleted in the CRM; dynamics: its Exchange copy goes only if the user organises it, it is to come and open',
        'itemsDeleteAppointmentFromCrm',
      ),
      'delete-appointment-from-exchange': deleteRule(
        'an appointment deleted in Exchange; dynamics: its CRM record goes only if the user organises it, it is to come and open',
        'itemsDeleteAppointmentFromExchange',
      ),
      'delete-task-from-crm': deleteRule('a task deleted in the CRM; dynamics: its Exchange copy goes unless completed there', 'itemsDeleteTaskFromCrm'),
      'delete-task-from-exchange': deleteRule('a task deleted in Exchange; dynamics: its CRM task goes', 'itemsDeleteTaskFromExchange'),
      'calendar-days-back': {
        type: 'string',
        placeholder: 'DAYS',
        description: 'appointments synced from this many days back, 0-3650 (new organisations: 30)',
        field: 'itemsCalendarDaysBack',
      },
      'calendar-days-ahead': {
        type: 'string',
        placeholder: 'DAYS',
        description: 'appointments synced up to this many days ahead, 1-3650 (new organisations: 365)',
        field: 'itemsCalendarDaysAhead',
      },
    },
    run: async ({ opts }, ctx) => ({
      output: await (await ctx.admin()).updateOrganizationSettings({
        requireEmailApproval: yesNo(opts['require-approval']) as never,
        maxAttachmentBytes: opts['max-attachment-bytes'],
        defaultTrackingOption: opts['default-tracking'] as never,
        trackingTokenEnabled: yesNo(opts['tracking-token']) as never,
        trackingTokenPrefix: opts['token-prefix'],
        trackingTokenBaseNumber: opts['token-base'],
        trackingTokenUserDigits: opts['token-user-digits'],
        trackingTokenCounterDigits: opts['token-counter-digits'],
        smartMatching: yesNo(opts['smart-matching']) as never,
        correlateForwards: yesNo(opts['correlate-forwards']) as never,
        ownDomains: opts['own-domains'] === '' ? [] : list(opts['own-domains']),
        itemsUnlinkOnly: yesNo(opts['items-unlink-only']) as never,
        itemsTrackingCategory: opts['tracking-category'],
        itemsConflictRule: opts['conflict-rule'] as never,
        itemsDeleteContactFromCrm: opts['delete-contact-from-crm'] as never,
        itemsDeleteContactFromExchange: opts['delete-contact-from-exchange'] as never,
        itemsDeleteAppointmentFromCrm: opts['delete-appointment-from-crm'] as never,
        itemsDeleteAppointmentFromExchange: opts['delete-appointment-from-exchange'] as never,
        itemsDeleteTaskFromCrm: opts['delete-task-from-crm'] as never,
        itemsDeleteTaskFromExchange: opts['delete-task-from-exchange'] as never,
        itemsCalendarDaysBack: opts['calendar-days-back'] as never,
        itemsCalendarDaysAhead: opts['calendar-days-ahead'] as never,
      }),
    }),
  }),
];
