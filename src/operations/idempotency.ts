/**
 * `Idempotency-Key`: the same key with the same body answers the first response again; the
 * same key with another body is 409. The key row is written in the operation's own
 * transaction, so a concurrent request with the same key waits on it and then sees its
 * outcome, and a failed operation leaves no key behind (it may be retried).
 */
import { createHash } from 'node:crypto';
import type { Resource } from 'fhir/r4.js';
import { canonicalJson } from '../audit/chain.js';
import { FhirError } from '../fhir/errors.js';
import type { Sql } from '../db/database.js';

export type Replay = 'store' | 'verify';

interface Stored {
  status: number;
  resource: Resource;
  location?: string;
}

interface KeyRow {
  request_hash: string;
  status: number | null;
  headers: { location?: string } | null;
  body: Resource | null;
}

function hashOf(body: unknown): string {
  let canonical: string;
  try {
    canonical = canonicalJson(body ?? null);
  } catch {
    canonical = JSON.stringify(body ?? null);
  }
  return createHash('sha256').update(canonical).digest('hex');
}

export async function idempotent<T extends Stored>(
  sql: Sql,
  key: string | undefined,
  scope: string,
  body: unknown,
  replay: Replay,
  run: () => Promise<T>,
): Promise<T | Stored> {
  if (key === undefined) return run();
  const hash = hashOf(body);
  const inserted = await sql.query(
    `INSERT INTO idempotency_key (scope, key, request_hash) VALUES ($1, $2, $3)
     ON CONFLICT (scope, key) DO NOTHING RETURNING 1`,
    [scope, key, hash],
  );
  if (!inserted.length) {
    const [row] = await sql.query<KeyRow>(
      'SELECT request_hash, status, headers, body FROM idempotency_key WHERE scope = $1 AND key = $2',
      [scope, key],
    );
    if (!row || row.request_hash !== hash) {
      throw new FhirError(
        409,
        'conflict',
        'This Idempotency-Key was used with a different request body',
      );
    }
    if (replay === 'store' && row.status !== null && row.body) {
      return {
        status: row.status,
        resource: row.body,
        ...(row.headers?.location ? { location: row.headers.location } : {}),
      };
    }
    return run();
  }
  const result = await run();
  if (replay === 'store') {
    await sql.query(
      `UPDATE idempotency_key SET status = $3, headers = $4::json, body = $5::json
       WHERE scope = $1 AND key = $2`,
      [
        scope,
        key,
        result.status,
        JSON.stringify(result.location ? { location: result.location } : {}),
        JSON.stringify(result.resource),
      ],
    );
  }
  return result;
}
