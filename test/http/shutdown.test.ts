import { request } from 'node:http';
import t from 'tap';
import { fhir, startTestServer, testToken } from '../helpers.js';

t.test('close drains an in-flight request, then refuses new connections', async (t) => {
  const { base, close } = await startTestServer(t);
  const url = new URL(`${base}/Patient`);
  const body = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'InFlight' }] });

  // Send half the body, start shutting down, then send the rest: the request must complete.
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/fhir+json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${testToken()}`,
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 10));
    setTimeout(() => {
      closing = close();
      setTimeout(() => req.end(body.slice(10)), 100);
    }, 100);
  });
  let closing: Promise<void> | undefined;
  const result = await response;
  t.equal(result.status, 201, 'the in-flight create completed');
  t.equal(JSON.parse(result.text).name[0].family, 'InFlight');
  await closing;
  await t.rejects(fhir(base, 'GET', 'metadata'), 'no new connections after close');
});
