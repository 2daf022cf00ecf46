export {
  mailboxSyncWorkflow,
  syncNowSignal,
  mailboxChangedSignal,
  outgoingPendingSignal,
  disableUpdate,
  testAndEnableUpdate,
  statusQuery,
} from './mailboxSync';
export type { MailboxSyncInput, MailboxStatus } from './mailboxSync';
