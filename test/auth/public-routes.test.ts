/**
 * Which requests need a token is decided by the route the router matched, not by the raw URL:
 * a path the router decodes or normalises (`/%66hir/...`) must meet the same gate as its plain
 * spelling, and a path no route matches must not answer without a token either.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { fhir, startTestServer } from '../helpers.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent byte for byte: fetch would normalise `.` and `%2e` away. */
function raw(
  origin: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Raw> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Odd spellings of protected routes, and paths that match no route at all. */
const PROTECTED = [
  ['GET', '/%66hir/Patient/x'],
  ['GET', '/fhi%72/Patient?name=a'],
  ['GET', '/%66%68%69%72/Patient/x/_history'],
  ['GET', '//fhir/Patient/x'],
  ['GET', '/fhir//Patient/x'],
  ['GET', '/fhir/./Patient/x'],
  ['GET', '/fhir/%2e/Patient/x'],
  ['GET', '/fhir/Patient/../Patient/x'],
  ['GET', '/FHIR/Patient/x'],
  ['GET', '/fhir/Patient/x/'],
  ['GET', '/fhir/Patient/x//'],
  ['GET', '/fhir/Patient;a=b/x'],
  ['GET', '/fhir/Patient/x;a=b'],
  ['GET', '/fhir/metadata/../Patient/x'],
  ['GET', '/fhir/metadata%2F..%2FPatient'],
  ['GET', '/fhir/.well-known/smart-configuration/../../Patient'],
  ['GET', '/fhir/Patient/%00'],
  ['GET', '/fhir/_history'],
  ['GET', '/%66hir/_history'],
  ['GET', '/fhir/Patient/x/$everything'],
  ['GET', '/fhir/Appointment/$book'],
  ['GET', '/fhir/StructureDefinition?url=x'],
  ['GET', '/fhir/OperationDefinition/book'],
  ['GET', '/fhir/Binary/x'],
  ['GET', '/%66hir/Binary/x'],
  ['GET', '/nothing-here'],
  ['GET', '/fhir/no/such/route/at/all'],
  ['GET', '/healthz/../fhir/Patient/x'],
  ['GET', '/readyz%2F..%2Ffhir%2FPatient'],
  ['HEAD', '/%66hir/Patient/x'],
  ['DELETE', '/%66hir/Patient/x'],
  ['PATCH', '/fhir/Patient/x'],
] as const;

const WRITES = [
  ['POST', '/%66hir/Patient'],
  ['POST', '/%66hir'],
  ['POST', '/fhir/'],
  ['PUT', '/%66hir/Patient/x'],
  ['POST', '/%66hir/Patient/$validate'],
  ['POST', '/%66hir/Appointment/$book'],
  ['POST', '/%66hir/Patient/_search'],
] as const;

t.test('without a token, no odd spelling of a protected path is answered but 401', async (t) => {
  const { base } = await startTestServer(t);
  const origin = new URL(base).origin;
  const body = JSON.stringify({ resourceType: 'Patient', id: 'x' });
  const cases = [
    ...PROTECTED.map(([method, path]) => ({ method, path, body: undefined })),
    ...WRITES.map(([method, path]) => ({ method, path, body })),
  ];
  for (const { method, path, body } of cases) {
    const headers: Record<string, string> = body ? { 'content-type': 'application/fhir+json' } : {};
    const res = await raw(origin, method, path, headers, body);
    t.equal(res.status, 401, `${method} ${path}`);
    if (method === 'HEAD') continue;
    t.equal(JSON.parse(res.body).resourceType, 'OperationOutcome', `${method} ${path}: outcome`);
    t.match(res.headers['www-authenticate'], /^Bearer realm="telefhir"/, `${method} ${path}`);
  }
  const stored = await fhir(base, 'GET', 'Patient?_id=x');
  t.equal(stored.body.total ?? stored.body.entry?.length ?? 0, 0, 'nothing was written');
});

t.test(
  'an odd spelling of a protected path is refused and audited like the plain one',
  async (t) => {
    const { base } = await startTestServer(t);
    const origin = new URL(base).origin;
    const requestId = randomUUID();
    const res = await raw(origin, 'GET', '/%66hir/Patient/p1', { 'x-request-id': requestId });
    t.equal(res.status, 401);
    const events = await fhir(base, 'GET', `AuditEvent?request-id=${requestId}`);
    t.equal(events.status, 200);
    t.equal(events.body.entry?.length, 1, 'one AuditEvent for the refusal');
    const event = events.body.entry[0].resource;
    t.equal(event.agent[0].who.identifier.value, 'unauthenticated');
    t.equal(event.outcome, '4');
  },
);

t.test(
  'discovery, health and CORS preflight stay public, however the path is spelled',
  async (t) => {
    const { base } = await startTestServer(t);
    const origin = new URL(base).origin;
    for (const path of [
      '/fhir/metadata',
      '/fhir/metadata/',
      '/%66hir/metadata',
      '/fhir/.well-known/smart-configuration',
      '/healthz',
      '/readyz',
    ]) {
      t.equal((await raw(origin, 'GET', path)).status, 200, path);
    }
    const routed = await raw(origin, 'GET', '/%66hir/metadata');
    t.match(routed.headers['content-type'], /^application\/fhir\+json/, 'answered as FHIR');
    const preflight = await raw(origin, 'OPTIONS', '/%66hir/Patient/x', {
      origin: 'https://app.example',
      'access-control-request-method': 'GET',
    });
    t.equal(preflight.status, 204, 'preflight');
  },
);

t.test('with a token, an unmatched path is a 404 OperationOutcome', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'GET', '../nothing-here');
  t.equal(res.status, 404);
  t.equal(res.body.resourceType, 'OperationOutcome');
});
