import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes of mailbox workflows, for filtering in Temporal UI and the client's list.
export const MailboxIdAttribute = defineSearchAttributeKey('MailboxId', SearchAttributeType.KEYWORD);
export const CrmUserIdAttribute = defineSearchAttributeKey('CrmUserId', SearchAttributeType.KEYWORD);
export const ServerProfileIdAttribute = defineSearchAttributeKey('ServerProfileId', SearchAttributeType.KEYWORD);
export const MailboxStateAttribute = defineSearchAttributeKey('MailboxState', SearchAttributeType.KEYWORD);

export type KeywordAttribute = typeof MailboxIdAttribute;

export const SEARCH_ATTRIBUTES = [MailboxIdAttribute, CrmUserIdAttribute, ServerProfileIdAttribute, MailboxStateAttribute];

// retrying: the sync activity did not complete (its worker was lost, the database was down) and is tried again.
export type MailboxState = 'syncing' | 'idle' | 'retrying' | 'disabled' | 'error';
