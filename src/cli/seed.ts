/**
 * `npm run seed -- --patients N [--seed S] [--anchor YYYY-MM-DD]`: a reproducible synthetic
 * telehealth population (src/seed/), written to the configured store (DATABASE_URL,
 * FHIR_STORE, DATA_DIR, as `npm start` reads them) through the server's own write path. With
 * the embedded database, stop the server first (PGlite has one user at a time).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createSigner } from 'fast-jwt';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { generatePopulation } from '../seed/generate.js';
import { writePopulation } from '../seed/write.js';

const USAGE = `Usage: npm run seed -- --patients N [--seed S] [--anchor YYYY-MM-DD]

  --patients N   how many patients (1-10000), each with visits, results, documents and plans
  --seed S       any text (default "1"): the same seed writes the same population, with the same
                 ids, so running it again updates those resources instead of adding more
  --anchor DATE  the day visits are placed around: past ones before it, upcoming ones after
                 (default today, UTC; give one to get the very same resources on another day)

Writes to the store the server is configured for (DATABASE_URL, FHIR_STORE, DATA_DIR), through
its validation, write hooks and audit trail, as the backend service "telefhir-seed". Only the
types this server serves are written; the rest of the population is counted as skipped.
Refused with NODE_ENV=production.`;

/** The app the seed writes through: the configured store, with a key only this process holds. */
function seedingConfig(config: Config, secret: string): Config {
  return {
    ...config,
    logLevel: 'warn',
    auth: { ...config.auth, jwksUri: undefined, hs256Secret: secret },
  };
}

function options() {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      patients: { type: 'string' },
      seed: { type: 'string', default: '1' },
      anchor: { type: 'string' },
    },
  });
  if (values.help) return undefined;
  const patients = Number(values.patients);
  if (!Number.isInteger(patients) || patients < 1 || patients > 10_000) {
    throw new ConfigError('--patients takes a whole number from 1 to 10000');
  }
  const anchor = values.anchor ? new Date(`${values.anchor}T00:00:00Z`) : new Date();
  if (
    Number.isNaN(anchor.getTime()) ||
    (values.anchor && !/^\d{4}-\d\d-\d\d$/.test(values.anchor))
  ) {
    throw new ConfigError('--anchor takes a date, YYYY-MM-DD');
  }
  return { patients, seed: values.seed, anchor };
}

async function main() {
  const wanted = options();
  if (!wanted) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig();
  if (config.auth.production) {
    throw new ConfigError('NODE_ENV=production: synthetic patients are not seeded there');
  }
  const resources = generatePopulation(wanted);
  const secret = randomBytes(32).toString('base64url');
  const { buildApp } = await import('../app.js');
  const app = await buildApp(seedingConfig(config, secret));
  try {
    const token = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 24 * 3600_000 })({
      iss: config.auth.issuer,
      aud: config.auth.audience,
      sub: 'telefhir-seed',
      client_id: 'telefhir-seed',
      scope: 'system/*.*',
    });
    let shown = 0;
    const report = await writePopulation(app, token, resources, (done, total) => {
      const percent = Math.floor((done / total) * 10);
      if (percent > shown || done === total) {
        shown = percent;
        process.stderr.write(`telefhir seed: ${done}/${total} resources written\n`);
      }
    });
    const list = (counts: Map<string, number>) =>
      [...counts].map(([type, n]) => `${type} ${n}`).join(', ') || 'none';
    const plural = wanted.patients === 1 ? '' : 's';
    console.log(`seed "${wanted.seed}": ${wanted.patients} patient${plural}`);
    console.log(`written: ${list(report.written)}`);
    console.log(`not served here, skipped: ${list(report.skipped)}`);
  } finally {
    await app.close();
  }
}

main().catch((err: unknown) => {
  console.error(`telefhir seed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
