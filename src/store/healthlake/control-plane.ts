/**
 * The HealthLake control plane: DescribeFHIRDatastore, at start-up and in /readyz. The SDK
 * client resolves its endpoint the standard way (AWS_ENDPOINT_URL_HEALTHLAKE, AWS_ENDPOINT_URL,
 * the shared config file), so an emulator or a VPC endpoint needs no setting of ours.
 */
import {
  DescribeFHIRDatastoreCommand,
  HealthLakeClient as ControlClient,
  type DatastoreProperties,
} from '@aws-sdk/client-healthlake';
import { FhirError } from '../../fhir/errors.js';
import type { Credentials } from './signer.js';

export interface ControlPlane {
  describe(): Promise<DatastoreProperties>;
  /** Throws unless the data store is ACTIVE; the answer is reused for `cacheMs`. */
  checkActive(): Promise<void>;
  close(): void;
}

export function controlPlane(
  options: { region: string; datastoreId: string; credentials?: Credentials; timeoutMs: number },
  cacheMs = 5_000,
): ControlPlane {
  const client = new ControlClient({
    region: options.region,
    maxAttempts: 2,
    requestHandler: { requestTimeout: options.timeoutMs, connectionTimeout: options.timeoutMs },
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  let checked: { at: number; status: string } | undefined;
  const describe = async () => {
    const out = await client.send(
      new DescribeFHIRDatastoreCommand({ DatastoreId: options.datastoreId }),
    );
    if (!out.DatastoreProperties) throw new Error('DescribeFHIRDatastore returned no properties');
    return out.DatastoreProperties;
  };
  return {
    describe,
    async checkActive() {
      if (!checked || Date.now() - checked.at > cacheMs) {
        checked = { at: Date.now(), status: String((await describe()).DatastoreStatus) };
      }
      if (checked.status !== 'ACTIVE') {
        throw new FhirError(
          503,
          'transient',
          `HealthLake data store ${options.datastoreId} is ${checked.status}, not ACTIVE`,
        );
      }
    },
    close: () => client.destroy(),
  };
}
