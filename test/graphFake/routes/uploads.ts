import { faults, json, opaque, randomUUID, type FakeResponse } from '../http';
import { permissionSets, type FakeCore } from '../core';
import type { ItemRecord } from '../state';
import { requireMessage } from './messages';

/** Outlook takes at most 4 MB per PUT of an upload session, 150 MB per attachment (graph.md §5). */
const maxChunkBytes = 4 * 1024 * 1024;
const maxAttachmentBytes = 150 * 1024 * 1024;

interface UploadSession {
  id: string;
  authToken: string;
  record: ItemRecord;
  name: string;
  size: number;
  contentType: string;
  isInline: boolean;
  contentId?: string;
  chunks: Buffer[];
  received: number;
  expiresAt: number;
}

/**
 * Large attachments: `POST …/messages/{id}/attachments/createUploadSession` gives a pre-authenticated
 * uploadUrl shaped like Outlook's (`/api/v2.0/…/AttachmentSessions('…')?authtoken=…`), which takes
 * `PUT` with Content-Range until the last byte, then answers 201.
 */
export function registerUploadRoutes(core: FakeCore): (method: string, url: URL, headers: Record<string, string>, body: Buffer) => FakeResponse | undefined {
  const sessions = new Map<string, UploadSession>();

  core.route('POST', '/users/:user/messages/:id/attachments/createUploadSession', permissionSets.mailWrite, (c) => {
    const record = requireMessage(core, c.mailbox, c.params.id);
    const item = (c.request.body as { AttachmentItem?: Record<string, unknown> } | undefined)?.AttachmentItem;
    if (!item || item.attachmentType !== 'file' || typeof item.name !== 'string' || typeof item.size !== 'number') {
      throw faults.badRequest('AttachmentItem with attachmentType "file", name and size is required.', 'ErrorInvalidRequest');
    }
    if (item.size > maxAttachmentBytes) throw faults.badRequest(`The attachment size ${item.size} exceeds the maximum of ${maxAttachmentBytes} bytes.`, 'ErrorAttachmentSizeExceeded');
    const session: UploadSession = {
      id: opaque(24), authToken: opaque(48), record, name: item.name, size: item.size, contentType: String(item.contentType ?? 'application/octet-stream'),
      isInline: item.isInline === true, contentId: typeof item.contentId === 'string' ? item.contentId : undefined,
      chunks: [], received: 0, expiresAt: Date.now() + 6 * 3600 * 1000,
    };
    sessions.set(session.id, session);
    return json(201, {
      '@odata.context': `${core.origin}/v1.0/$metadata#microsoft.graph.uploadSession`,
      uploadUrl: `${core.origin}/api/v2.0/Users('${c.user.id}')/Messages('${c.params.id}')/AttachmentSessions('${session.id}')?authtoken=${session.authToken}`,
      expirationDateTime: new Date(session.expiresAt).toISOString(),
      nextExpectedRanges: ['0-'],
    });
  });

  const fail = (status: number, code: string, message: string): FakeResponse => ({
    status, headers: { 'content-type': 'application/json' },
    body: { error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': randomUUID() } } },
  });

  return (method, url, headers, body) => {
    const match = /^\/api\/v2\.0\/Users\('[^']+'\)\/Messages\('[^']+'\)\/AttachmentSessions\('([^']+)'\)$/i.exec(decodeURIComponent(url.pathname));
    if (!match) return undefined;
    const session = sessions.get(match[1]);
    if (!session || url.searchParams.get('authtoken') !== session.authToken || session.expiresAt < Date.now()) {
      return fail(404, 'ErrorItemNotFound', 'The upload session was not found or has expired.');
    }
    if (method === 'DELETE') {
      sessions.delete(session.id);
      return { status: 204, headers: {} };
    }
    if (method !== 'PUT') return fail(405, 'ErrorInvalidRequest', 'Upload sessions take PUT or DELETE.');
    const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    if (!range) return fail(400, 'ErrorInvalidRequest', 'A Content-Range header like "bytes 0-327679/1000000" is required.');
    const [start, end, total] = range.slice(1).map(Number);
    if (total !== session.size || start !== session.received || end < start || end - start + 1 !== body.length) {
      return fail(416, 'InvalidRange', `Expected bytes ${session.received}- of ${session.size}; got ${headers['content-range']} with ${body.length} bytes.`);
    }
    if (body.length > maxChunkBytes) return fail(413, 'RequestEntityTooLarge', `A single upload request may carry at most ${maxChunkBytes} bytes.`);
    session.chunks.push(body);
    session.received += body.length;
    if (session.received < session.size) {
      return { status: 200, headers: { 'content-type': 'application/json' }, body: {
        expirationDateTime: new Date(session.expiresAt).toISOString(), nextExpectedRanges: [`${session.received}-${session.size - 1}`] } };
    }
    sessions.delete(session.id);
    if (!session.record.container.items.has(session.record.core)) return fail(404, 'ErrorItemNotFound', 'The message of this upload session is gone.');
    const attachmentId = `AAMkAGAtt${opaque(30)}=`;
    session.record.attachments.push({
      id: attachmentId, name: session.name, contentType: session.contentType, contentBytes: Buffer.concat(session.chunks).toString('base64'),
      isInline: session.isInline, contentId: session.contentId, lastModifiedDateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    core.store.touch(session.record);
    return { status: 201, headers: { location: `${core.origin}/v1.0/users/${session.record.container.mailbox.userId}/messages/${session.record.core}/attachments/${attachmentId}` } };
  };
}
