export {
  mailboxSyncWorkflow,
  syncNowSignal,
  mailboxChangedSignal,
  disableUpdate,
  testAndEnableUpdate,
  statusQuery,
} from './mailboxSync';
export type { MailboxSyncInput, MailboxStatus } from './mailboxSync';
