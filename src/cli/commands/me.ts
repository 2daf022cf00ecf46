import { AdminError, ForbiddenError, NotFoundError } from '../../admin/errors';
import { command, UsageError } from '../command';
import { PASSWORD_STDIN, readPassword } from '../input';
import { nextAfterPasswordChange } from './mailbox';

export const meCommands = [
  command({
    path: ['me', 'password'],
    summary: "Change the password of your own mailbox, with your user token (from CRM_SYNC_TOKEN)",
    details: ['The new password comes from MAILBOX_PASSWORD, or from stdin with --password-stdin.'],
    options: { 'password-stdin': PASSWORD_STDIN },
    run: async ({ opts }, ctx) => {
      const token = process.env.CRM_SYNC_TOKEN;
      if (!token) throw new UsageError('Your API token is needed: set CRM_SYNC_TOKEN (ask an admin for a user token)');
      const principal = await (await ctx.tokens()).authenticate(token);
      if (!principal) throw new AdminError('The API token in CRM_SYNC_TOKEN is not valid or has been revoked', 401);
      if (!principal.userId) throw new ForbiddenError('This token does not act for a CRM user: an admin changes a password with `mailbox password`');
      const admin = await ctx.admin();
      const [own] = await admin.listMailboxes({ ownerUserId: principal.userId });
      if (!own) throw new NotFoundError('A mailbox for user', principal.userId);
      await admin.updateMailbox(own.id, { password: readPassword(opts['password-stdin']) });
      return { output: { passwordChanged: own.id, next: nextAfterPasswordChange(own.id) } };
    },
  }),
];
