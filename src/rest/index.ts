import type { FastifyInstance } from 'fastify';
import { capabilityRoutes } from './capabilities.js';
import { createRoutes } from './create.js';
import { deleteRoutes } from './delete.js';
import { historyRoutes } from './history.js';
import { notAllowedRoutes } from './not-allowed.js';
import { readRoutes } from './read.js';
import { updateRoutes } from './update.js';

/** The FHIR REST API, mounted under /fhir. */
export async function restApi(app: FastifyInstance) {
  await app.register(capabilityRoutes);
  await app.register(readRoutes);
  await app.register(createRoutes);
  await app.register(updateRoutes);
  await app.register(deleteRoutes);
  await app.register(historyRoutes);
  await app.register(notAllowedRoutes);
}
