/**
 * What a mailbox's item sync owes for one entity, from what the store and the CRM hold now (no mail
 * server read): the figures `mailbox status`, the statistics API and the dashboard show.
 */
export interface ItemCountsInput {
  /** The ids of the records the owner's enabled sync filters cover now. */
  matching: string[];
  /** The mailbox's links of the entity (an untracked one rests: neither side syncs it). */
  links: { crmId: string; state: 'synced' | 'tracked' | 'untracked' }[];
  /** Linked records changed in the CRM past the mailbox's change-log cursor, by anyone but this mailbox's sync. */
  changedSinceCursor: string[];
  /** The CRM ids of the entity's CRM-side item errors (counted as failed, not pending). */
  failedCrmIds: string[];
}

export interface ItemCounts {
  /** Links syncing both ways (untracked ones left out). */
  linked: number;
  /**
   * CRM records whose write to the mail server is still owed: covered by the filters and not linked
   * yet (to create), linked and no longer covered (to remove or unlink), or linked and changed in the
   * CRM since the mailbox last read the change log (to update); those that failed are counted as failed.
   * Changes made in Exchange since the last pull are not known until the next cycle reads them.
   */
  pending: number;
}

export function itemCounts(input: ItemCountsInput): ItemCounts {
  const matching = new Set(input.matching);
  const linkedAtAll = new Set(input.links.map((l) => l.crmId));
  const active = input.links.filter((l) => l.state !== 'untracked').map((l) => l.crmId);
  const activeSet = new Set(active);
  const owed = new Set<string>();
  for (const id of matching) if (!linkedAtAll.has(id)) owed.add(id);
  for (const id of active) if (!matching.has(id)) owed.add(id);
  for (const id of input.changedSinceCursor) if (activeSet.has(id)) owed.add(id);
  for (const id of input.failedCrmIds) owed.delete(id);
  return { linked: active.length, pending: owed.size };
}

/** Why a write was refused, in a sentence: a validation error names each field and its problem instead of its JSON. */
export function readableReason(err: unknown): string {
  const issues = (err as { issues?: unknown }).issues;
  if (Array.isArray(issues) && issues.length > 0) {
    return issues.map((i: { path?: PropertyKey[]; message?: string }) => `${(i.path ?? []).map(String).join('.') || 'value'}: ${i.message}`).join('; ');
  }
  return err instanceof Error ? err.message : String(err);
}
