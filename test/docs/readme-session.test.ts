/**
 * README's "A curl session", run as written: its ```sh blocks go to bash against a fresh server
 * in the default configuration (US Core validation, development auth mode), and each request's
 * status (and the headers its annotation names) must be the one the comment above it claims.
 * Only two things change: the `B=` line points at this server, and `npm run --silent token --`
 * runs the same CLI from source (no build), with the server's DATA_DIR and PORT.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { TS_LOADER } from '../cli/run-cli.js';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fromRoot, projectRoot } from '../../src/paths.js';
import { isolatedDatabase, tempDataDir } from '../helpers.js';

const README_BASE = 'B=http://127.0.0.1:8080/fhir';
const TOKEN_COMMAND = 'npm run --silent token --';

/**
 * The ```sh blocks between "## A curl session" and the next section, joined, with the README
 * line number of each script line (for messages that point at the README).
 */
function curlSession(readme: string): { script: string; readmeLines: number[] } {
  const lines = readme.split('\n');
  const start = lines.indexOf('## A curl session');
  if (start < 0) throw new Error('README has no "## A curl session" section');
  const script: string[] = [];
  const readmeLines: number[] = [];
  let inBlock = false;
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('## '); i++) {
    const line = lines[i]!;
    if (!inBlock && line === '```sh') inBlock = true;
    else if (inBlock && line === '```') inBlock = false;
    else if (inBlock) {
      script.push(line);
      readmeLines.push(i + 1);
    }
  }
  if (script.length === 0) throw new Error('the curl session has no ```sh block');
  return { script: script.join('\n'), readmeLines };
}

interface Expectation {
  line: number;
  label: string;
  status: number;
  /** Header name (lower case) → pattern its value must match. */
  headers: Map<string, RegExp>;
}

const ANNOTATION = /^#\s*([^:]+):\s*(\d{3})\b(.*)$/;
const HEADER_CLAIM = /^(Location|ETag|Content-Location) (\S+)$/;

/** `...` is any text, `{id}` a FHIR id; everything else literal. */
function headerPattern(value: string): RegExp {
  const escaped = value
    .split(/(\.\.\.|\{id\})/)
    .map((part) =>
      part === '...'
        ? '.*'
        : part === '{id}'
          ? '[A-Za-z0-9\\-.]{1,64}'
          : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${escaped}$`);
}

/**
 * Every line starting with `curl` must come right after an annotation `# label: STATUS`,
 * optionally followed by `, Header value` claims and a `(remark)`; every annotation must come
 * right before a curl. So a request without a checkable claim can't be added unnoticed.
 */
function expectations(script: string): Expectation[] {
  const lines = script.split('\n');
  const found: Expectation[] = [];
  lines.forEach((text, i) => {
    const previous = lines[i - 1] ?? '';
    if (/^curl\s/.test(text) && !ANNOTATION.test(previous)) {
      throw new Error(`session line ${i + 1} runs curl with no "# label: status" above it`);
    }
    const match = ANNOTATION.exec(text);
    if (!match) return;
    if (!/^curl\s/.test(lines[i + 1] ?? '')) {
      throw new Error(`session line ${i + 1}: the annotation "${text}" is not above a curl`);
    }
    const rest = match[3]!.replace(/\s*\([^()]*\)\s*$/, '');
    const headers = new Map<string, RegExp>();
    for (const claim of rest.split(',').slice(1)) {
      const header = HEADER_CLAIM.exec(claim.trim());
      if (!header || rest.split(',')[0]!.trim() !== '') {
        throw new Error(`session line ${i + 1}: can't read "${text}"`);
      }
      headers.set(header[1]!.toLowerCase(), headerPattern(header[2]!));
    }
    if (rest.trim() !== '' && headers.size === 0) {
      throw new Error(`session line ${i + 1}: can't read "${text}"`);
    }
    found.push({ line: i + 1, label: match[1]!.trim(), status: Number(match[2]), headers });
  });
  return found;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * A `curl` first on PATH that runs the real one with `-D` and appends what came back (status
 * line and headers) to CURL_LOG, one record per call, so the script's own output is untouched.
 */
function curlRecorder(dir: string): string {
  const realCurl = ['/usr/bin/curl', '/usr/local/bin/curl', '/bin/curl'].find(existsSync);
  if (!realCurl) throw new Error('curl is not installed');
  const script = join(dir, 'curl');
  writeFileSync(
    script,
    [
      '#!/usr/bin/env bash',
      'headers=$(mktemp)',
      `${realCurl} -D "$headers" "$@"`,
      'code=$?',
      '{ printf "=== %s\\n" "$*"; tr -d "\\r" < "$headers"; } >> "$CURL_LOG"',
      'rm -f "$headers"',
      'exit $code',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return dir;
}

interface Response {
  command: string;
  status: number;
  headers: Map<string, string>;
}

/** The last response of each call (after any 100 Continue). */
function responses(log: string): Response[] {
  return log
    .split(/^=== /m)
    .slice(1)
    .map((record) => {
      const [command = '', ...rest] = record.split('\n');
      const statusLines = rest.map((l, i) => [l, i] as const).filter(([l]) => /^HTTP\//.test(l));
      const [statusLine, at] = statusLines[statusLines.length - 1] ?? ['', rest.length];
      const headers = new Map<string, string>();
      for (const line of rest.slice(at + 1)) {
        const colon = line.indexOf(':');
        if (colon > 0)
          headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      return { command, status: Number(statusLine.split(' ')[1] ?? 0), headers };
    });
}

/** The CLI behind `npm run token`, from source, with tsx. */
function tokenCli(): string {
  const quoted = [process.execPath, ...TS_LOADER, fromRoot('src/cli/token.ts')].map(
    (part) => `'${part.replace(/'/g, `'\\''`)}'`,
  );
  return quoted.join(' ');
}

t.test('the annotations are read, and a curl without one is refused', async (t) => {
  const [one] = expectations(
    '# create: 201, Location .../Patient/{id}/_history/1, ETag W/"1" (a remark)\ncurl -si x',
  );
  t.equal(one?.status, 201);
  t.ok(one?.headers.get('location')?.test('http://h/fhir/Patient/abc-1/_history/1'));
  t.notOk(one?.headers.get('location')?.test('http://h/fhir/Patient/abc/_history/2'));
  t.ok(one?.headers.get('etag')?.test('W/"1"'));
  t.throws(() => expectations('curl -s x'), /no "# label: status"/);
  t.throws(() => expectations('# read: 200\necho'), /not above a curl/);
  t.throws(() => expectations('# read: 200 and then some\ncurl x'), /can't read/);
});

t.test("README's curl session answers the statuses it claims, run as written", async (t) => {
  const { script, readmeLines } = curlSession(readFileSync(fromRoot('README.md'), 'utf8'));
  const expected = expectations(script);
  t.ok(expected.length >= 10, `the session checks ${expected.length} requests`);
  t.match(script, new RegExp(`^${README_BASE.replace(/[./]/g, '\\$&')}$`, 'm'), 'a B= line');
  t.ok(script.includes(TOKEN_COMMAND), 'the session gets its tokens from npm run token');

  // The server `npm start` runs: everything default but the port, DATA_DIR and, when the
  // suite has Postgres, a schema of its own on it.
  const port = await freePort();
  const db = await isolatedDatabase(t);
  const env: Record<string, string> = {
    PORT: String(port),
    DATA_DIR: db.dataDir!,
    LOG_LEVEL: 'silent',
  };
  const config = { ...loadConfig(env), databaseUrl: db.databaseUrl };
  t.equal(config.defaultProfiles, 'us-core', 'US Core validation, as on a fresh npm start');
  t.equal(config.auth.hs256Secret, undefined, 'development auth mode');
  const app = await buildApp(config);
  t.teardown(() => app.close());
  await app.listen({ port, host: '127.0.0.1' });

  const base = `http://127.0.0.1:${port}/fhir`;
  const runnable = script.replace(README_BASE, `B=${base}`).replaceAll(TOKEN_COMMAND, tokenCli());
  const work = tempDataDir(t);
  const log = join(work, 'curl.log');
  writeFileSync(log, '');
  const child = spawn('bash', ['-e', '-c', runnable], {
    cwd: projectRoot,
    // A clean environment: what a new user's shell would have, plus the server's settings for
    // the token CLI. No AUTH_* or DATABASE_URL from the suite's own environment.
    env: {
      PATH: `${curlRecorder(work)}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? work,
      CURL_LOG: log,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = await once(child, 'exit');
  t.equal(code, 0, `the session ran to the end (output: ${output.slice(-500)})`);

  const got = responses(readFileSync(log, 'utf8'));
  t.equal(got.length, expected.length, 'one request per annotated curl');
  expected.forEach((want, i) => {
    const response = got[i];
    const what = `README line ${readmeLines[want.line - 1]}, ${want.label}`;
    t.equal(response?.status, want.status, `${what}: ${want.status}`);
    for (const [name, pattern] of want.headers) {
      t.match(response?.headers.get(name) ?? '(absent)', pattern, `${what}: ${name}`);
    }
  });
});
