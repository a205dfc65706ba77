/**
 * The yardstick: a bare Fastify server returning the same Patient JSON from memory, with no
 * auth, store, validation or audit. Every load scenario is reported as a ratio to it, measured
 * in the same run, so a noisy machine moves both.
 */
import Fastify from 'fastify';

const patient = JSON.parse(process.env.BASELINE_PATIENT ?? '{"resourceType":"Patient"}');
const app = Fastify({ logger: false });
app.get('/fhir/Patient/:id', async (_request, reply) =>
  reply.type('application/fhir+json').send({ ...patient }),
);
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.send?.('ready');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
