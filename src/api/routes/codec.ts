import type { PayloadCodec } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
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
const CodecBody = z.object({ payloads: z.array(JsonPayload) });

/** CORS for Temporal UI calling the codec routes from the browser: those two routes only. Before authentication. */
export function registerCodecCors(app: FastifyInstance, uiOrigin: string): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!CODEC_PATHS.has(request.url.split('?')[0])) return;
    reply.header('Access-Control-Allow-Origin', uiOrigin);
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

/** Temporal's remote codec protocol, for Temporal UI and `temporal --codec-endpoint`. */
export function registerCodecRoutes(ctx: RouteContext, codec: PayloadCodec, uiOrigin: string): void {
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
            `CORS is answered for ${uiOrigin}.`,
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
