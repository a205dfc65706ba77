import { FhirError } from '../../fhir/errors.js';
import { VideoError } from '../../video/video-provider.js';

/** A video provider failure as the client should hear it; the cause stays in our logs. */
export async function video<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof VideoError)) throw error;
    switch (error.kind) {
      case 'not-found':
        throw new FhirError(409, 'conflict', `The video meeting no longer exists (${action})`);
      case 'invalid':
        throw new FhirError(400, 'invalid', `The video service refused the request (${action})`);
      case 'throttled':
        throw new FhirError(
          503,
          'transient',
          `The video service is busy; retry (${action})`,
          undefined,
          {
            'retry-after': String(error.retryAfterSeconds ?? 1),
          },
        );
      case 'unavailable':
        throw new FhirError(502, 'transient', `The video service is unavailable (${action})`);
    }
  }
}
