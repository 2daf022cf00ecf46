import { sdkLogEntry } from '../../src/worker/workers';

describe('the Temporal SDK log, as the product writes it', () => {
  it('drops task tokens from fields, nested fields and messages', () => {
    const entry = sdkLogEntry('WARN', 'Activity failed: TaskToken(CiQ4ZjY2ZmM=) not found', {
      taskToken: 'CiQ4ZjY2ZmM=',
      activityType: 'syncIncoming',
      fields: { task_token: 'CiQ4ZjY2ZmM=', attempt: 3 },
    });
    expect(entry).toEqual({
      level: 'warn',
      message: 'Activity failed: TaskToken([redacted]) not found',
      meta: { activityType: 'syncIncoming', fields: { attempt: 3 }, source: 'temporal-sdk' },
    });
    expect(JSON.stringify(entry)).not.toContain('CiQ4ZjY2ZmM=');
    // Errors and dates go through whole.
    const error = new Error('boom');
    const at = new Date('2026-12-01T00:00:00Z');
    expect(sdkLogEntry('ERROR', 'failed', { error, at })?.meta).toEqual({ error, at, source: 'temporal-sdk' });
    expect(sdkLogEntry('ERROR', 'failed', { error })?.meta.error).toBe(error);
  });

  it("sends the bundler's multi-line webpack report to debug, and keeps one-line info at info", () => {
    const report = 'asset workflow-bundle-1a2b.js 1.31 MiB [emitted] (name: main)\nruntime modules 937 bytes 4 modules\nwebpack 5.98.0 compiled successfully in 1234 ms';
    expect(sdkLogEntry('INFO', report, {})?.level).toBe('debug');
    expect(sdkLogEntry('INFO', 'Workflow bundle created', { size: '1.31MB' })).toMatchObject({ level: 'info', meta: { size: '1.31MB' } });
    expect(sdkLogEntry('ERROR', report, {})?.level).toBe('error');
  });

  it('drops the expected "no workflows registered" warning of activity-only workers', () => {
    expect(sdkLogEntry('WARN', 'No workflows registered, not polling for workflow tasks', {})).toBeNull();
  });
});
