/** One workflow per mailbox: Temporal refuses a second workflow with the same id. */
export function mailboxWorkflowId(mailboxId: string): string {
  return `mailbox-sync-${mailboxId}`;
}

/** Every task queue the product uses, under one deployment prefix. */
export function taskQueues(prefix: string) {
  return {
    /** Mailbox workflows and their bookkeeping. */
    mailboxSync: `${prefix}.mailbox-sync`,
    /** Activities that talk to one mail server; one queue per server profile caps its connections. */
    mailServer: (profileId: string) => `${prefix}.mail-server.${profileId}`,
    /** Other asynchronous work (Test & Enable, migration, maintenance), apart so a flood of it never delays sync. */
    asyncWork: `${prefix}.async`,
    /** Sending email, apart so a backlog of it never delays sync (its connections still take the server's slots). */
    send: `${prefix}.send`,
  };
}
