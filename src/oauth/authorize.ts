/**
 * The authorization endpoint (SMART App Launch 2.2, standalone and EHR launch): `GET|POST /auth/authorize`
 * validates the request and shows a sign-in page; `POST /auth/login` signs the user in (rate
 * limited, audited) and shows what the app asks for; `POST /auth/consent` records the approval
 * and redirects to the app with a code. Until the redirect URI is known to be the client's,
 * errors are an HTML page (RFC 6749 §4.1.2.1: never redirect to an unverified URI); after, they
 * go back to the app as `error=` on the redirect.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Resource } from 'fhir/r4.js';
import { parseFhirUser, type Principal } from '../auth/claims.js';
import { buildPolicy } from '../auth/policy.js';
import { parseScopes } from '../auth/scopes.js';
import { FormBody } from '../http/content-negotiation.js';
import { parseSearch } from '../search/parse.js';
import type { Client } from './clients.js';
import { Grants, OFFLINE_SECONDS, ONLINE_SECONDS } from './grants.js';
import { validScope } from './form.js';
import { oauthIssuer } from './issuer.js';
import { Launches } from './launch.js';
import { LoginLimits, loginAuditEvent } from './login.js';
import type { OAuthServer } from './oauth.js';
import { consentPage, errorPage, loginPage, pageHeaders } from './pages.js';
import {
  BINDING_COOKIE,
  forUser,
  offerableScopes,
  PendingAuthorizations,
  type Pending,
} from './pending.js';
import { Users, type User } from './users.js';

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_PARAM = 2000;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The parameters of a GET (query) or a form POST, none repeated; undefined when unreadable. */
function requestParams(request: FastifyRequest): URLSearchParams | undefined {
  let text: string;
  if (request.method === 'GET' || request.method === 'HEAD') {
    text = request.url.split('?')[1] ?? '';
  } else if (request.body instanceof FormBody) {
    text = request.body.text;
  } else return undefined;
  if (text.length > 16 * 1024) return undefined;
  const params = new URLSearchParams(text);
  const seen = new Set<string>();
  for (const [name, value] of params) {
    // No control characters: no form field here has a use for them, and Postgres refuses NUL.
    if (seen.has(name) || value.length > MAX_PARAM || CONTROL.test(name + value)) return undefined;
    seen.add(name);
  }
  return params;
}

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

const sameBase = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

function errorRedirect(
  reply: FastifyReply,
  redirectUri: string,
  error: string,
  description: string,
  state?: string | null,
) {
  const url = new URL(redirectUri);
  url.searchParams.set('error', error);
  url.searchParams.set('error_description', description);
  if (state) url.searchParams.set('state', state);
  return reply.header('cache-control', 'no-store').redirect(url.toString(), 303);
}

export async function authorizeRoutes(app: FastifyInstance, options: { oauth: OAuthServer }) {
  const { oauth } = options;
  const pending = new PendingAuthorizations(oauth.db);
  const users = new Users(oauth.db);
  const limits = new LoginLimits(oauth.db);
  const grants = new Grants(oauth.db);
  const launches = new Launches(oauth.db);
  const secureCookie = () => app.config.baseUrl.startsWith('https:');
  const path = () => new URL(oauthIssuer(app.config.baseUrl)).pathname;

  const showError = (reply: FastifyReply, status: number, message: string) =>
    pageHeaders(reply).code(status).send(errorPage(message));

  // A browser gets pages here, not OAuth JSON: a body Fastify can't read (wrong media type,
  // too large, bad JSON) is an error page; anything unexpected is logged and one too.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return showError(
        reply,
        status === 413 || status === 415 ? status : 400,
        'The request could not be read.',
      );
    }
    request.log.error({ err: error }, 'unexpected error on an authorization page');
    return showError(reply, 500, `Something went wrong (request ${request.id}).`);
  });

  async function start(request: FastifyRequest, reply: FastifyReply) {
    const params = requestParams(request);
    if (!params) return showError(reply, 400, 'The authorization request could not be read.');
    const clientId = params.get('client_id') ?? '';
    const client = clientId.length <= 200 ? await oauth.clients.get(clientId) : undefined;
    if (!client || client.disabled || !client.grantTypes.includes('authorization_code')) {
      return showError(reply, 400, 'Unknown client, or one that may not sign users in.');
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri)) {
      return showError(reply, 400, 'The redirect URI is not one the client registered.');
    }
    const state = params.get('state');
    const fail = (error: string, why: string) =>
      errorRedirect(reply, redirectUri, error, why, state);
    if (params.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 'response_type must be code');
    }
    if (!state) return fail('invalid_request', 'state is required');
    if (!sameBase(params.get('aud') ?? '', app.config.baseUrl)) {
      return fail('invalid_request', 'aud must be this FHIR server base URL');
    }
    if (params.get('code_challenge_method') !== 'S256') {
      return fail('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    }
    const codeChallenge = params.get('code_challenge') ?? '';
    if (!CHALLENGE.test(codeChallenge)) {
      return fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
    }
    const launch = params.get('launch');
    if (!validScope(params.get('scope') ?? '')) {
      return fail('invalid_scope', 'scope must be space-separated scope tokens');
    }
    const scopes = offerableScopes(params.get('scope') ?? '', client.scope, launch !== null);
    if (scopes.length === 0) {
      return fail('invalid_scope', 'none of the requested scopes may be granted');
    }
    let context: { patient: string; encounter?: string } | undefined;
    if (launch !== null) {
      if (!scopes.includes('launch')) {
        return fail('invalid_scope', 'an EHR launch needs the launch scope');
      }
      context = await launches.spend(launch, client.clientId);
      if (!context) return fail('invalid_request', 'unknown, expired or already used launch');
    }
    const binding = cookie(request, BINDING_COOKIE);
    const browser =
      binding && /^[A-Za-z0-9_-]{43}$/.test(binding)
        ? binding
        : randomBytes(32).toString('base64url');
    const made = await pending.create(
      {
        clientId: client.clientId,
        redirectUri,
        scope: scopes.join(' '),
        state,
        nonce: params.get('nonce') ?? undefined,
        codeChallenge,
        launchPatient: context?.patient,
        launchEncounter: context?.encounter,
      },
      browser,
    );
    reply.header(
      'set-cookie',
      `${BINDING_COOKIE}=${browser}; Path=${path()}; HttpOnly; SameSite=Lax${secureCookie() ? '; Secure' : ''}`,
    );
    return pageHeaders(reply, new URL(redirectUri).origin).send(
      loginPage({
        action: `${path()}/login`,
        request: made.id,
        csrf: made.csrf,
        clientName: client.name,
      }),
    );
  }

  app.get('/authorize', { config: { public: true } }, start);
  app.post('/authorize', { config: { public: true } }, start);

  /** The pending request a form belongs to, with its client; an error page when it's not valid. */
  async function pendingOf(request: FastifyRequest, params: URLSearchParams | undefined) {
    const found = params
      ? await pending.find(
          params.get('request'),
          params.get('csrf'),
          cookie(request, BINDING_COOKIE),
        )
      : undefined;
    const client = found && (await oauth.clients.get(found.clientId));
    if (!found || !client || client.disabled) return undefined;
    return { found, client };
  }

  const expired = 'This page has expired, was already used, or was not opened in this browser.';

  app.post('/login', { config: { public: true } }, async (request, reply) => {
    const params = requestParams(request);
    const at = await pendingOf(request, params);
    if (!at || !params) return showError(reply, 400, expired);
    const { found, client } = at;
    const redirectOrigin = new URL(found.redirectUri).origin;
    const username = (params.get('username') ?? '').trim().toLowerCase().slice(0, 100);
    const password = params.get('password') ?? '';
    const again = (status: number, message: string) =>
      pageHeaders(reply, redirectOrigin)
        .code(status)
        .send(
          loginPage({
            action: `${path()}/login`,
            request: found.id,
            csrf: found.csrf,
            clientName: client.name,
            message,
            username,
          }),
        );
    if (!username || !password) return again(400, 'Enter your username and password.');
    const audit = async (user: User | undefined) => {
      const event = loginAuditEvent({
        success: user !== undefined,
        username,
        fhirUser: user?.fhirUser,
        clientId: client.clientId,
        address: request.ip,
        requestId: request.id,
      });
      try {
        await app.store.audit(event);
      } catch (err) {
        request.log.error({ err }, 'could not record the AuditEvent of a sign-in');
      }
    };
    // Counted as a failure before the password is checked, atomically with the check of the
    // limit: a burst of guesses gets at most the limit checked.
    if (!(await limits.attempt(username, request.ip))) {
      await audit(undefined);
      return again(429, 'Too many failed sign-ins. Wait a few minutes and try again.');
    }
    const user = await users.authenticate(username, password);
    if (!user || user.disabled) {
      await audit(undefined);
      request.log.info({ clientId: client.clientId }, 'sign-in refused');
      return again(401, 'Wrong username or password, or the account is disabled.');
    }
    await limits.succeeded(user.username, request.ip);
    await audit(user);
    const csrf = await pending.signedIn(found.id, user.username);
    return showConsent(request, reply, { ...found, csrf, username: user.username }, client, user);
  });

  /** What a user's role lets them see of Patients: the access policy the FHIR API applies. */
  function patientPolicy(user: User) {
    const principal: Principal = {
      subject: user.username,
      roles: [user.role],
      scopes: parseScopes('user/Patient.rs'),
    };
    const fhirUser = parseFhirUser(user.fhirUser);
    if (fhirUser) principal.fhirUser = fhirUser;
    return buildPolicy(principal, { providerScope: app.config.providerAccess });
  }

  /** Whether the user may see Patient/id: a read under their policy (the store filters). */
  async function maySee(request: FastifyRequest, user: User, id: string): Promise<boolean> {
    const policy = patientPolicy(user);
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(id) || !policy.grant('Patient', 'read')) return false;
    try {
      await app.store.read('Patient', id, { requestId: request.id, access: policy });
      return true;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return false;
      if ((error as { statusCode?: number }).statusCode === 410) return false;
      throw error;
    }
  }

  /** Patients a non-patient user may pick for launch/patient (the first 100 they may see). */
  async function visiblePatients(request: FastifyRequest, user: User) {
    const policy = patientPolicy(user);
    if (!policy.grant('Patient', 'search')) return [];
    const query = parseSearch('Patient', new URLSearchParams({ _count: '100' }), {
      baseUrl: app.config.baseUrl,
      strict: false,
    });
    const result = await app.store.search(query, { requestId: request.id, access: policy });
    return result.matches.map((patient: Resource) => {
      const name = (patient as { name?: { text?: string; family?: string; given?: string[] }[] })
        .name?.[0];
      const label = name?.text ?? [name?.given?.join(' '), name?.family].filter(Boolean).join(' ');
      return { id: patient.id!, label: `${label || 'Patient'} (${patient.id})` };
    });
  }

  async function showConsent(
    request: FastifyRequest,
    reply: FastifyReply,
    found: Pending & { username: string },
    client: Client,
    user: User,
    message?: string,
  ) {
    const scopes = forUser(found.scope.split(' '), user.role);
    const picks =
      scopes.includes('launch/patient') && user.role !== 'PATIENT' && !found.launchPatient;
    return pageHeaders(reply, new URL(found.redirectUri).origin)
      .code(message ? 400 : 200)
      .send(
        consentPage({
          action: `${path()}/consent`,
          request: found.id,
          csrf: found.csrf,
          clientName: client.name,
          username: user.username,
          scopes,
          patients: picks ? await visiblePatients(request, user) : undefined,
          message,
        }),
      );
  }

  app.post('/consent', { config: { public: true } }, async (request, reply) => {
    const params = requestParams(request);
    const at = await pendingOf(request, params);
    if (!at || !params || !at.found.username) return showError(reply, 400, expired);
    const { found, client } = at;
    const user = await users.get(found.username!);
    if (!user || user.disabled) return showError(reply, 400, expired);
    const back = (error: string, why: string) =>
      errorRedirect(reply, found.redirectUri, error, why, found.state);
    if (params.get('decision') !== 'approve') {
      if (!(await pending.finish(found.id))) return showError(reply, 400, expired);
      return back('access_denied', 'the user did not allow access');
    }
    const offered = forUser(found.scope.split(' '), user.role);
    const chosen = new Set(
      [...params].filter(([name]) => name.startsWith('scope.')).map(([, value]) => value),
    );
    const granted = offered.filter((scope) => chosen.has(scope));
    let patient: string | undefined;
    let encounter: string | undefined;
    if (found.launchPatient) {
      // EHR launch: the context was chosen in the EHR; the user who signed in must be able to
      // see its patient (a patient only themself).
      const own = user.role === 'PATIENT' && user.fhirUser === `Patient/${found.launchPatient}`;
      if (
        !own &&
        (user.role === 'PATIENT' || !(await maySee(request, user, found.launchPatient)))
      ) {
        if (!(await pending.finish(found.id))) return showError(reply, 400, expired);
        return back('access_denied', "the signed-in user may not see the launch's patient");
      }
      patient = found.launchPatient;
      encounter = found.launchEncounter;
    } else if (granted.includes('launch/patient')) {
      if (user.role === 'PATIENT') patient = user.fhirUser.slice('Patient/'.length);
      else {
        const pick = params.get('patient') ?? '';
        if (!(await maySee(request, user, pick))) {
          const retry = { ...found, username: user.username };
          return showConsent(request, reply, retry, client, user, 'Choose a patient.');
        }
        patient = pick;
      }
    } else if (user.role === 'PATIENT') {
      // patient/ scopes work only with a patient in context: a patient's is their own.
      patient = user.fhirUser.slice('Patient/'.length);
    }
    if (granted.length === 0) {
      if (!(await pending.finish(found.id))) return showError(reply, 400, expired);
      return back('access_denied', 'no scope was allowed');
    }
    if (!(await pending.finish(found.id))) return showError(reply, 400, expired);
    const code = await grants.approve({
      clientId: client.clientId,
      username: user.username,
      scope: granted.join(' '),
      patient,
      encounter,
      nonce: found.nonce,
      redirectUri: found.redirectUri,
      codeChallenge: found.codeChallenge,
      lifetimeSeconds: granted.includes('offline_access') ? OFFLINE_SECONDS : ONLINE_SECONDS,
    });
    request.log.info({ clientId: client.clientId }, 'authorization approved');
    const url = new URL(found.redirectUri);
    url.searchParams.set('code', code);
    if (found.state) url.searchParams.set('state', found.state);
    return reply.header('cache-control', 'no-store').redirect(url.toString(), 303);
  });
}
