/**
 * Decorates the app with its PatientIdentity and shows SSNs in every response body as the
 * caller may see them: one preSerialization hook at the root, so no route can forget.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { principalFrom } from '../auth/claims.js';
import type { PatientIdentity } from './identity.js';
import { maySeeSsn } from './reveal.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Absent only in an app built to store resources as given (AppParts.storeAsGiven). */
    identity?: PatientIdentity;
  }
}

async function identityPlugin(app: FastifyInstance, options: { identity: PatientIdentity }) {
  app.decorate('identity', options.identity);
  app.addHook('preSerialization', async (request, _reply, payload) => {
    if (typeof payload !== 'object' || payload === null) return payload;
    // Public routes (and refusals before authentication) have no verified caller: masked.
    const claims = (request as { user?: Parameters<typeof principalFrom>[0] | null }).user;
    const full =
      typeof claims === 'object' &&
      claims !== null &&
      maySeeSsn({ principal: principalFrom(claims) });
    return options.identity.reveal(payload, full);
  });
}

export const patientIdentity = fp(identityPlugin, { name: 'patient-identity' });
