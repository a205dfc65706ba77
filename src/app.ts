import Fastify, { type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import type { Config } from './config.js';
import { contentNegotiation } from './http/content-negotiation.js';
import './http/decorations.js';
import { errorHandling, frameworkError } from './http/error-handler.js';
import { health } from './http/health.js';
import { launchMinter } from './oauth/launch.js';
import { requestTimeout } from './http/request-timeout.js';
import { refuseWhileClosing } from './http/closing.js';
import { securityHeaders } from './http/security-headers.js';
import { loggerOptions, requestId } from './logger.js';
import { authentication } from './auth/authenticate.js';
import { developmentSecret } from './auth/dev-secret.js';
import { smartConfigurationRoutes } from './auth/smart-configuration.js';
import { restApi } from './rest/index.js';
import cors from '@fastify/cors';
import { openStore } from './store/open.js';
import type { FhirStore } from './store/store.js';
import { createValidator } from './validation/index.js';
import { appointmentLedger } from './workflow/appointment-ledger.js';
import { prescriptionLedger } from './operations/prescribe/prescriptions.js';
import { openWorkflow, type Workflow } from './workflow/workflow.js';
import { openVideo } from './video/open.js';
import { openNotifier } from './notify/open.js';
import { reminderRecordGuard } from './reminders/guard.js';
import { reminderHook } from './reminders/schedule.js';
import { reminderService } from './reminders/service.js';
import type { VideoProvider } from './video/video-provider.js';
import { documentStore } from './blob/documents.js';
import { openBlobStore } from './blob/open.js';
import { withoutQuotedData } from './fhir/binary.js';
import { PatientIdentity } from './identity/identity.js';
import { openKeyWrapper } from './identity/key-wrapper.js';
import { patientIdentity } from './identity/plugin.js';
import { PostgresStore } from './store/postgres/postgres-store.js';
import { HealthLakeStore } from './store/healthlake/healthlake-store.js';
import type { Database } from './db/database.js';
import {
  builtInIssuer,
  builtInVerification,
  grantStanding,
  openOAuth,
  type OAuthServer,
} from './oauth/oauth.js';
import { oauthRoutes } from './oauth/plugin.js';
import { subscriptionMatcher, subscriptions } from './subscriptions/index.js';
import { maySeeSsn } from './identity/reveal.js';
import { principalFrom, type TokenClaims } from './auth/claims.js';
import type { Resource } from 'fhir/r4.js';
import { bulkExport } from './export/routes.js';
import type { Deidentifiers } from './export/deidentify.js';
import { safeHarbor } from './export/safe-harbor.js';
import type { WorkerDeps } from './export/worker.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The $export worker's parts (src/export/worker.ts), for tests that run a step themselves. */
    exportWorker: WorkerDeps;
  }
}

export interface AppParts {
  /** A store to use instead of opening the configured one (it is still closed with the app). */
  store?: FhirStore;
  /**
   * Store resources as clients send them: no MRN assignment, no SSN sealing or masking. Only
   * for the HealthLake emulator, which stands in for a FHIR server that does neither.
   */
  storeAsGiven?: boolean;
  /** Where log lines go (tests capture them); stdout by default. */
  logStream?: DestinationStream;
  /**
   * Keep the workflow in DATABASE_URL's database even though `store` is Postgres (so the
   * outbox path is exercised, as with HealthLake).
   */
  separateWorkflow?: boolean;
  outboxRetryMs?: number;
  /** The clock reminders are scheduled and sent by (tests move it); the system clock by default. */
  now?: () => Date;
  /**
   * The $export de-identification methods (src/export/deidentify.ts) instead of the default,
   * HIPAA Safe Harbor (src/export/safe-harbor.ts) as `_deidentify=safe-harbor`.
   */
  deidentifiers?: Deidentifiers;
  /** An export worker's lease in ms (tests of crash and resume shorten it). */
  exportLeaseMs?: number;
  /**
   * Handed the workflow's database (the store's too, with Postgres) once it is open: tests look
   * at and age rows through it, since a second handle on embedded PGlite is not safe.
   */
  onDatabase?: (db: Database) => void;
}

/** Composes the server from config: the only place that picks implementations. */
export async function buildApp(config: Config, parts: AppParts = {}): Promise<FastifyInstance> {
  // Profiles compiled before the store opens: a broken one stops start-up before anything else.
  const { validator, profiles } = createValidator({
    defaultProfiles: config.defaultProfiles === 'us-core',
    compileProfiles: config.defaultProfiles === 'us-core',
  });
  const identity = parts.storeAsGiven ? undefined : new PatientIdentity(config.identity);
  const now = parts.now ?? (() => new Date());
  const hooks = [
    // First: a forged or edited reminder record is refused before any other rule acts on it.
    reminderRecordGuard(),
    appointmentLedger(),
    prescriptionLedger(),
    reminderHook({ offsetsMinutes: config.reminders.offsetsMinutes, now }),
  ];
  if (identity) hooks.push(identity.writeHook());
  // Subscriptions match writes in the store's own transaction: only when the store is the
  // Postgres one this app opens, sharing the workflow's database (src/subscriptions/).
  const subscriptionsOn = !parts.store && config.store === 'postgres' && !parts.separateWorkflow;
  if (subscriptionsOn) {
    hooks.push(
      subscriptionMatcher({
        baseUrl: () => config.baseUrl,
        policy: { providerScope: config.providerAccess },
      }),
    );
  }
  const store = parts.store ?? (await openStore(config, hooks));
  let workflow: Workflow;
  let video: VideoProvider;
  let oauth: OAuthServer | undefined;
  try {
    workflow = await openWorkflow(store, config, {
      hooks,
      ...(parts.separateWorkflow ? { shared: false, retryMs: parts.outboxRetryMs } : {}),
      // HealthLake's local tables and the workflow's in one database: a write hook's rows
      // (reminders, the ledgers) land where the workflow and the reminder sender read them.
      ...(store instanceof HealthLakeStore ? { db: store.database } : {}),
    });
    parts.onDatabase?.(workflow.db);
    const ownDb = store instanceof PostgresStore;
    const kek = { ...config.identity, dataDir: config.dataDir, region: config.video.region };
    const keyWrapper = await openKeyWrapper(kek);
    await identity?.load(ownDb ? store.database : workflow.db, keyWrapper, !ownDb);
    // The built-in authorization server, unless tokens come from elsewhere (src/oauth/).
    if (builtInIssuer(config)) oauth = await openOAuth(workflow.db, keyWrapper);
    video = await openVideo(config.video, workflow.db, await store.sharedSecret('local-video'));
  } catch (err) {
    await store.close();
    throw err;
  }
  const app = Fastify({
    logger: loggerOptions(config.logLevel, parts.logStream),
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: false, // refuseWhileClosing answers with an OperationOutcome
    frameworkErrors: frameworkError,
  });
  app.decorate('config', config);
  app.decorate('exportWorker', undefined as unknown as WorkerDeps);
  // Document bytes: in the blob store, never inline in the database (src/blob/documents.ts).
  const blobs = await openBlobStore(config, app.log);
  const sizeLimit = config.blobs.sizeLimit;
  const baseUrl = () => config.baseUrl;
  app.decorate('blobs', blobs);
  app.decorate('store', documentStore(store, { blobs, sizeLimit, baseUrl, log: app.log }));
  app.decorate('validator', { validate: (r, p) => withoutQuotedData(validator.validate(r, p)) });
  app.decorate('profiles', profiles);
  const reminders = reminderService({
    workflow,
    store,
    notifier: await openNotifier(config.notify, workflow.db, app.log),
    config: config.reminders,
    now,
    log: app.log,
  });
  app.decorate('reminders', reminders);
  app.decorate('subscriptionsServed', subscriptionsOn);
  app.addHook('onClose', async () => {
    await reminders.close();
    await blobs.close();
    await video.close();
    await workflow.close();
    await store.close();
  });

  let secret = config.auth.hs256Secret;
  // Production never makes or accepts the development secret: built-in tokens only (config.ts).
  if (!secret && !config.auth.jwksUri && !config.auth.production) {
    const dev = developmentSecret(config.dataDir);
    secret = dev.secret;
    app.log.warn(
      { secretFile: 'DATA_DIR/dev-auth-secret', created: dev.created },
      'development auth mode: tokens are HS256-signed with a local secret (npm run token)',
    );
  }

  try {
    await app.register(errorHandling);
    await app.register(requestTimeout, { timeoutMs: config.requestTimeoutMs });
    await app.register(refuseWhileClosing);
    await app.register(cors, {
      origin: true,
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'Accept',
        'If-Match',
        'If-None-Exist',
        'If-None-Match',
        'Prefer',
        'X-Request-Id',
        'X-Break-Glass',
        'X-Security-Context',
      ],
      exposedHeaders: [
        'ETag',
        'Location',
        'Content-Location',
        'Last-Modified',
        'X-Request-Id',
        'X-Progress',
        'Retry-After',
      ],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      maxAge: 600,
    });
    await app.register(securityHeaders);
    await app.register(contentNegotiation);
    await app.register(health);
    if (identity) await app.register(patientIdentity, { identity });
    await app.register(authentication, {
      auth: config.auth,
      secret,
      store,
      builtIn: oauth && builtInVerification(oauth, config),
    });
    await app.register(smartConfigurationRoutes, { prefix: '/fhir' });
    if (oauth) {
      app.decorate('oauthServer', oauth);
      await app.register(oauthRoutes, { prefix: '/auth', oauth });
    }
    await app.register(bulkExport, {
      prefix: '/fhir',
      db: workflow.db,
      deidentifiers: parts.deidentifiers ?? { 'safe-harbor': safeHarbor },
      onWorker: (deps: WorkerDeps) => {
        app.exportWorker = deps;
      },
      ...(parts.exportLeaseMs ? { leaseMs: parts.exportLeaseMs } : {}),
    });
    await app.register(restApi, {
      prefix: '/fhir',
      workflow,
      video,
      visitEarlyMinutes: config.video.earlyMinutes,
      ...(oauth ? { mintLaunch: launchMinter(() => config.baseUrl) } : {}),
    });
    await app.register(subscriptions, {
      prefix: '/fhir',
      db: workflow.db,
      store,
      run: (work) => workflow.run(work),
      enabled: subscriptionsOn,
      ...(oauth ? { grantWithdrawn: grantStanding(oauth, config) } : {}),
      clock: now,
      ...(identity
        ? {
            reveal: (resource: Resource, claims: TokenClaims) =>
              identity.reveal(
                resource,
                maySeeSsn({ principal: principalFrom(claims) }),
              ) as Resource,
          }
        : {}),
    });
    await app.ready();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}
