import { databaseRetryDelayMs, describeDatabaseError, isDatabaseUnavailable, RAISED_BY_DATABASE } from '../../src/policy/databaseAvailability';

const err = (message: string, fields: Record<string, unknown> = {}) => Object.assign(new Error(message), fields);
const fromDatabase = (message: string, fields: Record<string, unknown> = {}) => err(message, { ...fields, raisedBy: RAISED_BY_DATABASE });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['an administrator shutdown (pg_ctl -m fast)', err('terminating connection due to administrator command', { code: '57P01' })],
    ['a crash shutdown', err('terminating connection because of crash of another server process', { code: '57P02' })],
    ['a server still starting', err('the database system is starting up', { code: '57P03' })],
    ['a connection failure', err('connection failure', { code: '08006' })],
    ['too many connections', err('sorry, too many clients already', { code: '53300' })],
    ['a session that ended', err('Connection terminated unexpectedly')],
    ['a session that failed before', err('Client has encountered a connection error and is not queryable')],
    ['no session within the time-out', err('Connection terminated due to connection timeout')],
    ['a refused connection, from the database', fromDatabase('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })],
    ['a reset, from the database', fromDatabase('read ECONNRESET', { code: 'ECONNRESET' })],
    ['a host name that does not resolve, from the database', fromDatabase('getaddrinfo ENOTFOUND db', { code: 'ENOTFOUND' })],
    [
      'every address of the host refused, from the database',
      fromDatabase('', { errors: [err('connect ECONNREFUSED ::1:5432', { code: 'ECONNREFUSED' }), err('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })] }),
    ],
  ])('%s is an outage', (_name, e) => {
    expect(isDatabaseUnavailable(e)).toBe(true);
  });

  it.each([
    ['a refused connection from the mail server', err('connect ECONNREFUSED 127.0.0.1:993', { code: 'ECONNREFUSED' })],
    ['a mail server that stopped answering', err('Socket timeout', { code: 'ETIMEOUT' })],
    ['an authentication failure of the database', fromDatabase('password authentication failed for user "crm"', { code: '28P01' })],
    ['a missing database', fromDatabase('database "crm" does not exist', { code: '3D000' })],
    ['a unique violation', fromDatabase('duplicate key value', { code: '23505' })],
    ['a value out of range', fromDatabase('value out of range', { code: '22003' })],
    ['a query cancelled on purpose', fromDatabase('canceling statement due to user request', { code: '57014' })],
    ['an error of our own', fromDatabase('The mailbox was disabled while it synced')],
    ['a thrown string', 'boom'],
    ['nothing', undefined],
  ])('%s is not', (_name, e) => {
    expect(isDatabaseUnavailable(e)).toBe(false);
  });
});

describe('describeDatabaseError', () => {
  it('gives the code and the message, or the messages of every attempt', () => {
    expect(describeDatabaseError(err('terminating connection due to administrator command', { code: '57P01' }))).toBe(
      '57P01: terminating connection due to administrator command',
    );
    expect(describeDatabaseError(err('', { code: 'ECONNREFUSED', errors: [err('connect ECONNREFUSED ::1:5432'), err('connect ECONNREFUSED 127.0.0.1:5432')] }))).toBe(
      'ECONNREFUSED: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(describeDatabaseError('boom')).toBe('boom');
  });
});

describe('databaseRetryDelayMs', () => {
  it('doubles from 250 ms up to 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(databaseRetryDelayMs)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });
});
