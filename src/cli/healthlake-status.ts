/**
 * Prints the HealthLake data store's state from DescribeFHIRDatastore:
 *   FHIR_STORE=healthlake HEALTHLAKE_ENDPOINT=... npm run healthlake:status
 * One line of JSON. Exit 0: ACTIVE; 1: any other state; 2: could not ask (bad configuration,
 * credentials, unreachable). The endpoint follows the SDK's settings (AWS_ENDPOINT_URL_HEALTHLAKE).
 */
import { loadConfig } from '../config.js';
import { controlPlane } from '../store/healthlake/control-plane.js';

export async function healthLakeStatus(
  env: Record<string, string | undefined>,
  print: (line: string) => void,
): Promise<number> {
  const config = loadConfig({ ...env, FHIR_STORE: 'healthlake' });
  const hl = config.healthlake!;
  const control = controlPlane({
    region: hl.region,
    datastoreId: hl.datastoreId,
    timeoutMs: hl.timeoutMs,
  });
  try {
    const p = await control.describe();
    print(
      JSON.stringify({
        id: p.DatastoreId,
        name: p.DatastoreName,
        status: p.DatastoreStatus,
        fhirVersion: p.DatastoreTypeVersion,
        endpoint: p.DatastoreEndpoint,
        createdAt: p.CreatedAt?.toISOString(),
      }),
    );
    return p.DatastoreStatus === 'ACTIVE' ? 0 : 1;
  } finally {
    control.close();
  }
}

if (process.argv[1]?.endsWith('healthlake-status.js')) {
  healthLakeStatus(process.env, (line) => console.log(line)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(
        `telefhir healthlake:status: ${err instanceof Error ? err.message : String(err)}`,
      );
      process.exitCode = 2;
    },
  );
}
