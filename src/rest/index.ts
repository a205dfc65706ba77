import type { FastifyInstance } from 'fastify';
import { binaryRoutes, binaryViews } from './binary.js';
import { bundleRoutes } from './bundle-route.js';
import { capabilityRoutes } from './capabilities.js';
import { notAllowedRoutes } from './not-allowed.js';
import { interactionRoutes } from './routes.js';
import { structureDefinitionRoutes } from './structure-definitions.js';
import { validateRoutes } from './validate.js';
import { telehealthOperations, type OperationOptions } from '../operations/index.js';

/** The FHIR REST API, mounted under /fhir. */
export async function restApi(app: FastifyInstance, options: OperationOptions) {
  await app.register(binaryViews);
  await app.register(capabilityRoutes);
  await app.register(binaryRoutes, { blobs: app.blobs, sizeLimit: app.config.blobs.sizeLimit });
  await app.register(interactionRoutes);
  await app.register(validateRoutes);
  await app.register(structureDefinitionRoutes);
  await app.register(bundleRoutes);
  await app.register(telehealthOperations, {
    workflow: options.workflow,
    video: options.video,
    visitEarlyMinutes: options.visitEarlyMinutes,
    ...(options.mintLaunch ? { mintLaunch: options.mintLaunch } : {}),
  });
  await app.register(notAllowedRoutes);
}
