import { Writable } from 'node:stream';
import pino from 'pino';
import { ApiTokens } from '../src/admin/apiTokens';
import { buildApiServer } from '../src/api/server';
import { TestBed } from './support/testBed';

let bed: TestBed;

beforeAll(async () => {
  bed = await TestBed.create();
});

afterAll(async () => {
  await bed?.close();
});

describe("the API's request log", () => {
  it('writes one short line per request (method, route, status, time, token id) and never the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const tokens = new ApiTokens(bed.pool);
    const app = await buildApiServer({ service: bed.admin, tokens, logger: pino({ level: 'info' }, sink) });
    try {
      const { id: tokenId, token } = await tokens.create({ role: 'admin' });
      const user = await bed.admin.createUser({ fullName: 'Logged', email: 'logged@example.test' });
      const auth = { authorization: `Bearer ${token}` };
      expect((await app.inject({ method: 'GET', url: `/users/${user.id}`, headers: auth })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/users/not-a-uuid', headers: auth })).statusCode).toBe(400);
      expect((await app.inject({ method: 'GET', url: '/users' })).statusCode).toBe(401);

      const records = lines.map((l) => JSON.parse(l));
      expect(records).toHaveLength(3);
      expect(records[0]).toMatchObject({ level: 30, method: 'GET', route: '/users/:id', status: 200, ms: expect.any(Number), tokenId });
      expect(records[0].msg).toMatch(/^GET \/users\/:id 200 \d+ms$/);
      expect(records[1]).toMatchObject({ route: '/users/:id', status: 400, tokenId });
      expect(records[2]).toMatchObject({ route: '/users', status: 401 });
      expect(records[2].tokenId).toBeUndefined();
      expect(lines.join('\n')).not.toContain(token);
      // The route, not the URL: no ids or query strings in the line's route.
      expect(lines.join('\n')).not.toContain(`"route":"/users/${user.id}"`);
    } finally {
      await app.close();
    }
  });
});
