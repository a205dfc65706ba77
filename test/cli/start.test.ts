import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import t from 'tap';
import { projectRoot } from '../../src/paths.js';
import { patient } from '../fixtures.js';
import { tempDataDir } from '../helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** `npm start` exactly as the README says, with the environment given (no DATABASE_URL). */
function npmStart(env: Record<string, string>) {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  return spawn('npm', ['start', '--silent'], {
    cwd: projectRoot,
    env: { ...inherited, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so teardown can stop npm and the server together
  });
}

/** `npm run token -- ...args` with the same settings as the server; resolves to its output. */
async function npmToken(env: Record<string, string>, args: string[]): Promise<string> {
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn('npm', ['run', 'token', '--silent', '--', ...args], {
    cwd: projectRoot,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`npm run token exited ${code}`);
  return out.trim();
}

function killGroup(pid: number | undefined) {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

t.test(
  'npm start serves /fhir/metadata from embedded storage and stops cleanly on SIGTERM',
  async (t) => {
    const port = await freePort();
    const env = { PORT: String(port), DATA_DIR: tempDataDir(t) };
    const child = npmStart(env);
    t.teardown(() => killGroup(child.pid));
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const deadline = Date.now() + 90_000;
    let status = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        status = (await fetch(`http://127.0.0.1:${port}/fhir/metadata`)).status;
        if (status === 200) break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    t.equal(status, 200, `metadata answered (stderr: ${stderr.slice(0, 300)})`);
    const anonymous = await fetch(`http://127.0.0.1:${port}/fhir/Patient/x`);
    t.equal(anonymous.status, 401, 'development mode still needs a token');
    // The token the README's `npm run token` prints, for the secret npm start made in DATA_DIR.
    const token = await npmToken(env, ['--scope', 'system/*.*']);
    const created = await fetch(`http://127.0.0.1:${port}/fhir/Patient`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${token}` },
      body: JSON.stringify(patient()), // US Core applies by default: a conformant Patient
    });
    t.equal(created.status, 201);
    const exited = once(child, 'exit');
    // npm forwards SIGTERM to the server; it drains, closes the store and exits 0.
    child.kill('SIGTERM');
    const [code] = await exited;
    t.equal(code, 0, 'graceful exit');
  },
);

t.test('a bad setting stops start-up with a one-line message', async (t) => {
  const child = npmStart({ PORT: 'eighty' });
  t.teardown(() => killGroup(child.pid));
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  t.not(code, 0);
  const line = stderr.split('\n').find((l) => l.includes('PORT'));
  t.match(line, /^telefhir: invalid configuration: PORT must be/);
});

t.test('production without KMS_KEY_ID or IDENTITY_KEK refuses to start, in one line', async (t) => {
  const child = npmStart({
    NODE_ENV: 'production',
    AUTH_JWKS_URI: 'https://idp.example/jwks.json',
    AUTH_ISSUER: 'https://idp.example',
    DATA_DIR: tempDataDir(t),
  });
  t.teardown(() => killGroup(child.pid));
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  t.not(code, 0);
  const line = stderr.split('\n').find((l) => l.includes('IDENTITY_KEK'));
  t.match(
    line,
    /^telefhir: invalid configuration: NODE_ENV=production needs KMS_KEY_ID or IDENTITY_KEK/,
  );
});
