import type { RouteContext } from './context';
import { z } from 'zod';
import { NewProfile, ProfilePatch } from '../../admin/schemas';
import { IdParams, ProfileResponse, errors } from '../responses';

/** Email server profiles. */
export function registerProfileRoutes(ctx: RouteContext): void {
  const { api, service } = ctx;

  api.post(
    '/profiles',
    {
      schema: {
        tags: ['profiles'],
        summary: 'Create an email server profile',
        description:
          'imap and pop3 profiles name their servers (incomingHost, outgoingHost). An exchange_online profile reaches its mailboxes through ' +
          'Microsoft Graph with app-only tokens: tenantId, clientId and one credential, clientSecret or certificatePem with privateKeyPem ' +
          '(stored encrypted, never shown again); graphBaseUrl and authorityHost default to the public cloud.',
        body: NewProfile.strict(),
        response: { 201: ProfileResponse, ...errors(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await service.createProfile(request.body)),
  );

  api.get(
    '/profiles',
    { schema: { tags: ['profiles'], summary: 'List email server profiles', response: { 200: z.array(ProfileResponse), ...errors(401, 403) } } },
    async () => service.listProfiles(),
  );

  api.get(
    '/profiles/:id',
    { schema: { tags: ['profiles'], summary: 'An email server profile', params: IdParams, response: { 200: ProfileResponse, ...errors(400, 401, 403, 404) } } },
    async (request) => service.getProfile(request.params.id),
  );

  api.patch(
    '/profiles/:id',
    {
      schema: {
        tags: ['profiles'],
        summary: "Change a profile; its mailboxes use the change from their next cycle",
        description:
          'A new clientSecret, or certificatePem with privateKeyPem, replaces the stored credential of an exchange_online profile. ' +
          'A profile with mailboxes cannot change between exchange_online and imap/pop3 (409).',
        params: IdParams,
        body: ProfilePatch,
        response: { 200: ProfileResponse, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request) => service.updateProfile(request.params.id, request.body),
  );

  api.delete(
    '/profiles/:id',
    {
      schema: {
        tags: ['profiles'],
        summary: 'Delete a profile that no mailbox uses',
        params: IdParams,
        response: { 204: z.undefined().describe('Deleted'), ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.deleteProfile(request.params.id);
      return reply.code(204).send();
    },
  );
}
