/**
 * Writes a generated population through the server's own HTTP path, in process (Fastify's
 * inject, nothing listens): every resource is a PUT of its deterministic id, so it is
 * validated, passes the write hooks (MRNs, the appointment ledger, documents to the blob
 * store) and is audited as any client's write is; the caller is a backend service named
 * `telefhir-seed` (a system/ token, no role). A PUT of an id that exists updates it, so a re-run
 * with the same seed leaves the same resources (a new version of each), never duplicates.
 */
import type { FastifyInstance } from 'fastify';
import type { CapabilityStatement, Resource } from 'fhir/r4.js';

export interface WriteReport {
  /** Written, by type. */
  written: Map<string, number>;
  /** Generated but not served here (yet): left out, by type. */
  skipped: Map<string, number>;
}

const bump = (counts: Map<string, number>, type: string) =>
  counts.set(type, (counts.get(type) ?? 0) + 1);

/** The types this server accepts updates of, from its own CapabilityStatement. */
export async function writableTypes(app: FastifyInstance): Promise<Set<string>> {
  const res = await app.inject({ method: 'GET', url: '/fhir/metadata' });
  const statement = res.json<CapabilityStatement>();
  return new Set(
    (statement.rest?.[0]?.resource ?? [])
      .filter((r) => r.interaction?.some((i) => i.code === 'update'))
      .map((r) => r.type),
  );
}

export async function writePopulation(
  app: FastifyInstance,
  token: string,
  resources: Resource[],
  progress: (done: number, total: number) => void = () => {},
): Promise<WriteReport> {
  const served = await writableTypes(app);
  const report: WriteReport = { written: new Map(), skipped: new Map() };
  const wanted = resources.filter((resource) => {
    if (served.has(resource.resourceType)) return true;
    bump(report.skipped, resource.resourceType);
    return false;
  });
  for (const [i, resource] of wanted.entries()) {
    const res = await app.inject({
      method: 'PUT',
      url: `/fhir/${resource.resourceType}/${resource.id}`,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/fhir+json',
        prefer: 'return=minimal',
      },
      payload: JSON.stringify(resource),
    });
    if (res.statusCode >= 300) {
      throw new Error(
        `${resource.resourceType}/${resource.id} was refused (${res.statusCode}): ${res.body}`,
      );
    }
    bump(report.written, resource.resourceType);
    progress(i + 1, wanted.length);
  }
  return report;
}
