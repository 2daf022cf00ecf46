import { constants, verify } from 'node:crypto';
import { opaque, randomUUID, type FakeResponse } from './http';
import type { FakeApp, FakeCore } from './core';

/** Entra ID answers errors as JSON with AADSTS codes (graph.md §1.1). */
function tokenError(status: number, error: string, code: number, description: string): FakeResponse {
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const traceId = randomUUID();
  const correlationId = randomUUID();
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

function ok(body: unknown): FakeResponse {
  return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
}

export function openIdConfiguration(core: FakeCore, tenant: string): Record<string, unknown> {
  const base = `${core.origin}/${tenant}`;
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${core.origin}/${tenant}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${core.origin}/${tenant}/v2.0`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
  };
}

function knownTenant(core: FakeCore, tenant: string): boolean {
  return tenant.toLowerCase() === core.tenantId.toLowerCase() || tenant.toLowerCase() === 'fake.onmicrosoft.com';
}

/** Token endpoint, OpenID configuration and instance discovery; undefined when the path is none of these. */
export function serveAuthority(core: FakeCore, method: string, url: URL, headers: Record<string, string>, rawBody: string): FakeResponse | undefined {
  const segments = url.pathname.split('/').filter(Boolean);
  if (method === 'GET' && segments.join('/').toLowerCase() === 'common/discovery/instance') {
    const host = url.host;
    return ok({
      tenant_discovery_endpoint: `${core.origin}/${core.tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  }
  if (segments.length === 4 && method === 'GET' && segments.slice(1).join('/').toLowerCase() === 'v2.0/.well-known/openid-configuration') {
    if (!knownTenant(core, segments[0])) return tenantNotFound(segments[0]);
    return ok(openIdConfiguration(core, segments[0]));
  }
  if (segments.length === 4 && segments.slice(1).join('/').toLowerCase() === 'oauth2/v2.0/token') {
    if (method !== 'POST') return tokenError(400, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
    return issueToken(core, segments[0], headers, new URLSearchParams(rawBody));
  }
  return undefined;
}

function tenantNotFound(tenant: string): FakeResponse {
  return tokenError(400, 'invalid_request', 90002,
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
}

function issueToken(core: FakeCore, tenant: string, headers: Record<string, string>, form: URLSearchParams): FakeResponse {
  if (!knownTenant(core, tenant)) return tenantNotFound(tenant);
  if (!(headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    return tokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
  }
  const grantType = form.get('grant_type');
  if (!grantType) return tokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
  if (grantType !== 'client_credentials') {
    return tokenError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
  }
  let clientId = form.get('client_id');
  let secret = form.get('client_secret');
  const basic = /^Basic\s+(\S+)$/i.exec(headers['authorization'] ?? '');
  if (basic) {
    const [id, ...rest] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    clientId = clientId ?? decodeURIComponent(id);
    secret = secret ?? decodeURIComponent(rest.join(':'));
  }
  if (!clientId) return tokenError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
  const app = core.apps.get(clientId);
  if (!app) {
    return tokenError(400, 'unauthorized_client', 700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
  }
  const scope = form.get('scope') ?? '';
  const scopes = scope.split(' ').filter(Boolean);
  // The product asks for its Graph base URL's resource (sovereign clouds have their own): the fake's origin is one too.
  const resources = ['https://graph.microsoft.com/.default', `${core.origin.toLowerCase()}/.default`];
  if (scopes.length !== 1 || !resources.includes(scopes[0].toLowerCase())) {
    return tokenError(400, 'invalid_scope', 1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
  }
  const assertion = form.get('client_assertion');
  if (assertion) {
    const problem = checkAssertion(app, assertion, form.get('client_assertion_type'), `${core.origin}/${tenant}/oauth2/v2.0/token`);
    if (problem) return problem;
  } else if (secret === null || secret === undefined) {
    return tokenError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  } else if (secret !== app.clientSecret) {
    // Entra ID answers invalid_client with 401 (observed, e.g. BookStackApp/BookStack#4089).
    return tokenError(401, 'invalid_client', 7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
  }
  const accessToken = `fake.${opaque(48)}`;
  core.tokens.set(accessToken, { app, expiresAt: Date.now() + 3599 * 1000 });
  return ok({ token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: accessToken });
}

function checkAssertion(app: FakeApp, assertion: string, assertionType: string | null, audience: string): FakeResponse | undefined {
  if (assertionType !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return tokenError(400, 'invalid_request', 700025, `Client assertion type '${assertionType}' is not supported.`);
  }
  const invalid = (reason: string) => tokenError(401, 'invalid_client', 700027, `Client assertion failed signature validation. [Reason - ${reason}]`);
  const parts = assertion.split('.');
  if (parts.length !== 3) return tokenError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  let header: Record<string, string>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return tokenError(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
  }
  const thumbprint = header['x5t#S256'] ?? header.x5t;
  if (!thumbprint) return invalid('The key was not found.');
  const certificate = app.certificates.get(Buffer.from(thumbprint, 'base64url').toString('hex').toLowerCase());
  if (!certificate) return invalid(`The key was not found., Thumbprint of key used by client: '${Buffer.from(thumbprint, 'base64url').toString('hex').toUpperCase()}'`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2], 'base64url');
  let valid = false;
  if (header.alg === 'RS256') valid = verify('sha256', signed, certificate.publicKey, signature);
  else if (header.alg === 'PS256') {
    valid = verify('sha256', signed, { key: certificate.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
  } else return invalid(`Unsupported algorithm ${header.alg}.`);
  if (!valid) return invalid('The provided signature value did not match the expected signature value.');
  if (payload.aud !== audience) {
    return tokenError(401, 'invalid_client', 700021, `Client assertion audience claim does not match Realm issuer. Review the documentation at https://aka.ms/certCredentials .`);
  }
  if (payload.iss !== app.clientId || payload.sub !== app.clientId) {
    return tokenError(401, 'invalid_client', 700023, 'Client assertion issuer and subject must be the client id.');
  }
  if (typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) {
    return tokenError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
  }
  return undefined;
}
