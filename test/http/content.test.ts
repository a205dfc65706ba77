import t from 'tap';
import { fhir, logCapture, startServer, startTestServer, testConfig } from '../helpers.js';

const patient = JSON.stringify({ resourceType: 'Patient' });

t.test(
  'application/fhir+json, application/json and fhirVersion parameters are accepted',
  async (t) => {
    const { base } = await startTestServer(t);
    for (const type of [
      'application/fhir+json',
      'application/json',
      'application/fhir+json; fhirVersion=4.0',
      'application/json+fhir; charset=utf-8',
    ]) {
      const res = await fhir(base, 'POST', 'Patient', patient, { 'content-type': type });
      t.equal(res.status, 201, type);
    }
  },
);

t.test('a wrong request Content-Type is 415 and writes nothing', async (t) => {
  const { base } = await startTestServer(t);
  for (const type of [
    'text/plain',
    'application/xml',
    'application/fhir+xml',
    'multipart/form-data',
  ]) {
    const res = await fhir(base, 'POST', 'Patient', patient, { 'content-type': type });
    t.equal(res.status, 415, type);
    t.equal(res.body.resourceType, 'OperationOutcome');
  }
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0);
});

t.test('malformed JSON, an empty body and prototype poisoning are 400', async (t) => {
  const { base } = await startTestServer(t);
  for (const body of [
    '{"resourceType":',
    '{bad json}',
    '',
    '{"resourceType":"Patient","__proto__":{"x":1}}',
  ]) {
    const res = await fhir(base, 'POST', 'Patient', body);
    t.equal(res.status, 400, JSON.stringify(body));
    t.equal(res.body.resourceType, 'OperationOutcome');
    t.notMatch(res.text, /bad json/, 'the body is not echoed back');
  }
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0);
});

t.test('a body over the limit is 413 and writes nothing', async (t) => {
  const { base } = await startTestServer(t, { bodyLimit: 2048 });
  const big = { resourceType: 'Patient', text: { status: 'generated', div: 'x'.repeat(4096) } };
  const res = await fhir(base, 'POST', 'Patient', big);
  t.equal(res.status, 413);
  t.equal(res.body.resourceType, 'OperationOutcome');
  t.equal(res.body.issue[0].code, 'too-long');
  t.equal((await fhir(base, 'GET', 'Patient/_history')).body.total, 0);
  t.equal((await fhir(base, 'POST', 'Patient', patient)).status, 201, 'small bodies still pass');
});

t.test('the default body limit is 8 MB', async (t) => {
  const config = await testConfig(t);
  t.equal(config.bodyLimit, 8 * 1024 * 1024);
});

t.test('XML is 406 whether asked by Accept or _format; json forms are served', async (t) => {
  const { base } = await startTestServer(t);
  const xml = await fhir(base, 'GET', 'metadata', undefined, { accept: 'application/fhir+xml' });
  t.equal(xml.status, 406);
  t.equal(xml.body.resourceType, 'OperationOutcome');
  t.match(xml.headers.get('content-type'), /application\/fhir\+json/);
  t.equal((await fhir(base, 'GET', 'metadata?_format=xml')).status, 406);
  t.equal((await fhir(base, 'GET', 'metadata?_format=application/fhir%2Bxml')).status, 406);
  t.equal((await fhir(base, 'GET', 'metadata', undefined, { accept: 'text/html' })).status, 406);
  for (const format of ['json', 'application/json', 'application/fhir%2Bjson']) {
    const res = await fhir(base, 'GET', `metadata?_format=${format}`, undefined, {
      accept: 'application/xml',
    });
    t.equal(res.status, 200, `_format=${format} wins over Accept`);
  }
  const browser = await fhir(base, 'GET', 'metadata', undefined, {
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  });
  t.equal(browser.status, 200);
  t.match(browser.headers.get('content-type'), /^application\/fhir\+json/);
  const plain = await fhir(base, 'GET', 'metadata', undefined, { accept: 'application/json' });
  t.match(plain.headers.get('content-type'), /^application\/json/, 'plain JSON when asked for');
  const refused = await fhir(base, 'GET', 'metadata', undefined, {
    accept: 'application/fhir+json;q=0',
  });
  t.equal(refused.status, 406, 'q=0 refuses a type');
});

t.test('unknown routes are 404 OperationOutcomes', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'GET', 'Patient/1/_history/1/extra/bits');
  t.equal(res.status, 404);
  t.equal(res.body.resourceType, 'OperationOutcome');
  const outside = await fhir(base.replace('/fhir', ''), 'GET', 'nowhere');
  t.equal(outside.status, 404);
  t.equal(outside.body.resourceType, 'OperationOutcome');
});

t.test('every response carries a request id, echoing a sane one the client sent', async (t) => {
  const { base } = await startTestServer(t);
  const echoed = await fhir(base, 'GET', 'metadata', undefined, {
    'x-request-id': 'trace-abc.123',
  });
  t.equal(echoed.headers.get('x-request-id'), 'trace-abc.123');
  const generated = await fhir(base, 'GET', 'metadata');
  t.match(generated.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);
  const forged = await fhir(base, 'GET', 'metadata', undefined, { 'x-request-id': 'a b\tc' });
  t.not(forged.headers.get('x-request-id'), 'a b\tc', 'unsafe ids are replaced');
  const error = await fhir(base, 'GET', 'Patient/none', undefined, { 'x-request-id': 'err-1' });
  t.equal(error.headers.get('x-request-id'), 'err-1', 'errors carry it too');
});

t.test('responses carry security headers and are not cached', async (t) => {
  const { base } = await startTestServer(t);
  const res = await fhir(base, 'POST', 'Patient', patient);
  t.equal(res.headers.get('x-content-type-options'), 'nosniff');
  t.equal(res.headers.get('cache-control'), 'no-store');
});

t.test('logs carry the request id but no bodies, tokens or query values', async (t) => {
  const logs = logCapture();
  const config = await testConfig(t, { logLevel: 'info' });
  const { base } = await startServer(t, config, { logStream: logs.stream });
  const secretName = 'Zebulon-Quackenbush';
  await fhir(
    base,
    'POST',
    'Patient',
    { resourceType: 'Patient', name: [{ family: secretName }] },
    {
      authorization: 'Bearer SECRET-TOKEN-123',
      'x-request-id': 'log-check-1',
    },
  );
  await fhir(base, 'GET', `Patient/_history?name=${secretName}`, undefined, {
    authorization: 'Bearer SECRET-TOKEN-123',
  });
  await fhir(base, 'POST', 'Patient', `{"name":"${secretName}"`);
  const text = logs.text();
  t.match(text, /log-check-1/, 'request id on log lines');
  t.notMatch(text, new RegExp(secretName), 'no PHI from bodies or query strings');
  t.notMatch(text, /SECRET-TOKEN-123/, 'no bearer tokens');
  for (const line of logs.lines) t.doesNotThrow(() => JSON.parse(line), 'log lines are JSON');
});
