/**
 * Shutdown drains what is in flight, for at most SHUTDOWN_GRACE_MS, and always ends: in
 * process (app.close), and as the real built server on SIGTERM (its exit code says whether
 * every request finished).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request, type ClientRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import t from 'tap';
import { projectRoot } from '../../src/paths.js';
import {
  fhir,
  isolatedDatabase,
  startTestServer,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_SECRET,
  testToken,
} from '../helpers.js';

const BODY = JSON.stringify({ resourceType: 'Patient', name: [{ family: 'InFlight' }] });

interface Held {
  req: ClientRequest;
  /** Settles with the response, or with the error that ended the connection. */
  response: Promise<{ status: number; text: string } | Error>;
  /** Resolves once the server has the request's headers (it answered 100 Continue). */
  received: Promise<void>;
}

/** A create sent up to its headers only: in flight until `req.end(BODY)`. */
function heldCreate(base: string): Held {
  const url = new URL(`${base}/Patient`);
  let req!: ClientRequest;
  let received!: () => void;
  const receivedP = new Promise<void>((resolve) => (received = resolve));
  const response = new Promise<{ status: number; text: string } | Error>((resolve) => {
    req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/fhir+json',
          'content-length': Buffer.byteLength(BODY),
          authorization: `Bearer ${testToken()}`,
          // The server answers 100 Continue when it has parsed the headers: from then on the
          // request is in flight for it, not an idle connection close() may drop.
          expect: '100-continue',
        },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
        res.on('error', resolve);
      },
    );
    req.on('continue', received);
    req.on('error', resolve);
    req.flushHeaders();
  });
  return { req, response, received: receivedP };
}

t.test('close drains an in-flight request, then refuses new connections', async (t) => {
  const { base, close } = await startTestServer(t);
  const held = heldCreate(base);
  // Close only once the server has the request: before that, the connection is idle (or not
  // even accepted) and close() rightly drops it (the ECONNRESET this test used to flake with).
  await held.received;
  const closing = close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  held.req.end(BODY);
  const result = await held.response;
  if (result instanceof Error) throw result;
  t.equal(result.status, 201, 'the in-flight create completed');
  t.equal(JSON.parse(result.text).name[0].family, 'InFlight');
  await closing;
  await t.rejects(fhir(base, 'GET', 'metadata'), 'no new connections after close');
});

t.test('a request arriving while closing: 503 OperationOutcome, Connection: close', async (t) => {
  const { app, base, close } = await startTestServer(t);
  const url = new URL(base);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (chunk) => (data += chunk));
  const ended = once(socket, 'close');
  const requested = once(app.server, 'request');
  socket.write(
    'POST /fhir/Patient HTTP/1.1\r\nHost: test\r\nContent-Type: application/fhir+json\r\n' +
      `Authorization: Bearer ${testToken()}\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n`,
  );
  await requested; // in flight: close() waits for it
  const closing = close();
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The rest of the create, and a second request behind it on the same connection.
  socket.write(`${BODY}GET /fhir/metadata HTTP/1.1\r\nHost: test\r\n\r\n`);
  await ended;
  await closing;
  const [first, second] = data.split(/(?=HTTP\/1\.1 )/);
  t.match(first, /^HTTP\/1\.1 201 /, 'the in-flight create completed');
  t.match(second, /^HTTP\/1\.1 503 /, 'the one that came during the close is refused');
  t.match(second, /\r\nconnection: close\r\n/i);
  t.match(second, /\r\nretry-after: \d+\r\n/i);
  t.match(second, /"resourceType":"OperationOutcome"/, 'in FHIR, like every error');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

let built: Promise<void> | undefined;
/** The server as `npm start` runs it: built once for this file. */
function build(): Promise<void> {
  built ??= (async () => {
    const child = spawn('npm', ['run', 'build', '--silent'], {
      cwd: projectRoot,
      stdio: 'inherit',
    });
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`npm run build exited ${code}`);
  })();
  return built;
}

/** The built server (node dist/src/main.js, no npm between: the signal and the exit are its). */
async function startBuilt(t: Parameters<typeof isolatedDatabase>[0], graceMs: number) {
  await build();
  const port = await freePort();
  const db = await isolatedDatabase(t);
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child: ChildProcess = spawn(process.execPath, ['dist/src/main.js'], {
    cwd: projectRoot,
    env: {
      ...inherited,
      PORT: String(port),
      DATA_DIR: db.dataDir!,
      ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
      LOG_LEVEL: 'warn',
      AUTH_HS256_SECRET: TEST_SECRET,
      AUTH_ISSUER: TEST_ISSUER,
      AUTH_AUDIENCE: TEST_AUDIENCE,
      VALIDATION_DEFAULT_PROFILES: 'none',
      SHUTDOWN_GRACE_MS: String(graceMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited at start: ${output}`);
    if (Date.now() > deadline) throw new Error(`the server did not start: ${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, base: `http://127.0.0.1:${port}/fhir`, exited, output: () => output };
}

t.test('SIGTERM: a request that finishes within the grace completes; exit 0', async (t) => {
  const server = await startBuilt(t, 5_000);
  const held = heldCreate(server.base);
  await held.received;
  server.child.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  held.req.end(BODY);
  const result = await held.response;
  t.notOk(result instanceof Error, `answered (${result instanceof Error ? result.message : ''})`);
  if (!(result instanceof Error)) t.equal(result.status, 201, 'the in-flight create completed');
  t.equal(await server.exited, 0, `drained cleanly: exit 0 (${server.output().slice(0, 500)})`);
});

t.test('SIGTERM: a request held past the grace is cut; the server still exits, 1', async (t) => {
  const graceMs = 500;
  const server = await startBuilt(t, graceMs);
  const held = heldCreate(server.base);
  await held.received;
  const signalled = Date.now();
  server.child.kill('SIGTERM');
  // The rest of the body never comes: the request stays in flight until the grace cuts it.
  const result = await held.response;
  t.ok(result instanceof Error, 'the held request was cut');
  const code = await server.exited;
  const took = Date.now() - signalled;
  t.equal(code, 1, 'exit 1: requests were cut');
  t.ok(took >= graceMs, `not before the grace (${took} ms)`);
  t.ok(took < graceMs + 5_000, `soon after it (${took} ms)`);
  t.match(server.output(), /shutdown grace elapsed/, 'and it says so');
});
