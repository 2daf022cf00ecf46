import type { PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../admin/apiTokens';
import { z } from 'zod';
import { AdminError } from '../../admin/errors';
import { handleCodecRequest } from '../../temporal/codecServer';
import { errors } from '../responses';
import type { RouteContext } from './context';

export const DEFAULT_UI_ORIGIN = 'http://localhost:8233';
const CODEC_PATHS = new Set(['/codec/encode', '/codec/decode']);
const CODEC_BODY_LIMIT = 16 * 1024 * 1024;

const JsonPayload = z.object({
  metadata: z.record(z.string(), z.string().describe('base64')).optional(),
  data: z.string().describe('base64').optional(),
});
const CodecBody = z.object({ payloads: z.array(JsonPayload).optional().describe('left out when empty (proto3 JSON)') });

const isCodecRequest = (request: FastifyRequest) => CODEC_PATHS.has(request.url.split('?')[0]);

/**
 * CORS for Temporal UI calling the codec routes from the browser: those two routes only, before
 * authentication. The first origin is the one announced to any other caller.
 */
export function registerCodecCors(app: FastifyInstance, uiOrigins: string[]): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!isCodecRequest(request)) return;
    const origin = request.headers.origin;
    reply.header('Access-Control-Allow-Origin', origin && uiOrigins.includes(origin) ? origin : uiOrigins[0]);
    reply.header('Access-Control-Allow-Credentials', 'true');
    reply.header('Access-Control-Allow-Headers', 'content-type,x-namespace,authorization');
    reply.header('Access-Control-Allow-Methods', 'POST, OPTIONS');
    reply.header('Vary', 'Origin');
    if (request.method === 'OPTIONS') {
      reply.header('Access-Control-Max-Age', '600');
      return reply.code(204).send();
    }
  });
}

/** Who a codec request from the local Temporal UI acts as (it sends no token). */
export const LOCAL_TEMPORAL_UI: Principal = { tokenId: 'local-temporal-ui', role: 'admin', userId: null };

const isLoopback = (address: string | undefined) =>
  address !== undefined && (/^127\./.test(address) || address === '::1' || /^::ffff:127\./.test(address));

/**
 * The local stack's Temporal UI (`npm start`) calls the codec without a token: the dev server's UI
 * has no login, so it has none to send. Such a request is let through only when it comes from
 * loopback and its Origin is that UI's, and only for the codec routes; the caller enables this only
 * when the API itself listens on loopback (so no proxy on this host relays other machines' requests).
 * A page of any other site cannot present that Origin (the browser sets it), and a simple POST it
 * sends is refused like any request without a token. See README, "Temporal UI and the codec".
 * Runs before authentication, which then sees the request as LOCAL_TEMPORAL_UI.
 */
export function registerLocalUiCodecAccess(app: FastifyInstance, localUiOrigins: string[]): void {
  app.addHook('onRequest', async (request) => {
    if (!isCodecRequest(request) || request.method !== 'POST' || request.headers.authorization) return;
    const origin = request.headers.origin;
    if (origin && localUiOrigins.includes(origin) && isLoopback(request.socket.remoteAddress)) request.principal = LOCAL_TEMPORAL_UI;
  });
}

/** Temporal's remote codec protocol, for Temporal UI and `temporal --codec-endpoint`. */
export function registerCodecRoutes(ctx: RouteContext, codec: PayloadCodec, uiOrigins: string[]): void {
  const { api } = ctx;
  for (const operation of ['encode', 'decode'] as const) {
    api.post(
      `/codec/${operation}`,
      {
        bodyLimit: CODEC_BODY_LIMIT,
        // The body schema documents the protocol; handleCodecRequest validates it.
        validatorCompiler: () => (data) => ({ value: data }),
        serializerCompiler: () => (data) => JSON.stringify(data),
        schema: {
          tags: ['codec'],
          summary: `Temporal remote codec: ${operation} payloads`,
          description:
            'The protocol of Temporal UI and `temporal --codec-endpoint`. The optional `X-Namespace` header is accepted. ' +
            `CORS is answered for ${uiOrigins.join(', ')}.`,
          headers: z.looseObject({ 'x-namespace': z.string().optional() }),
          body: CodecBody,
          response: { 200: CodecBody, ...errors(400, 401, 403, 422) },
        },
      },
      async (request) => {
        try {
          return await handleCodecRequest(codec, operation, request.body);
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode === 400) throw new AdminError((err as Error).message, 400);
          if (operation === 'decode') throw new AdminError(`The payloads could not be decoded: ${(err as Error).message}`, 422);
          throw err;
        }
      },
    );
  }
}
