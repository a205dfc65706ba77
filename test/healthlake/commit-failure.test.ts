/**
 * The one window HealthLake's write order leaves: HealthLake has applied a write, then the
 * Postgres transaction holding its AuditEvent fails to commit. The client must get a 500 (not
 * a success it can't trust, not a hang), and the AuditEvent must still end up in the trail,
 * written again on its own.
 */
import pg from 'pg';
import t from 'tap';
import { fhir, startServer, testConfig } from '../helpers.js';
import { backWithHealthLake } from './harness.js';

t.test(
  'a commit that fails after HealthLake applied the write: 500, audit re-recorded',
  async (t) => {
    const config = await testConfig(t);
    if (!config.databaseUrl) {
      // Counted as a skip: the checks below did not run.
      t.skip('needs DATABASE_URL: a second connection injects the commit failure', () => {});
      return;
    }
    await backWithHealthLake(t, config);
    const { base } = await startServer(t, config);

    // Fails the commit of the first transaction that records a create (a deferred trigger runs
    // at COMMIT), once: the sequence counts outside transactions, so the rollback can't undo it.
    const admin = new pg.Client({ connectionString: config.databaseUrl });
    await admin.connect();
    t.teardown(() => admin.end());
    await admin.query(`
    CREATE SEQUENCE inject_commit_failure;
    CREATE FUNCTION inject_commit_failure() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.action = 'C' AND nextval('inject_commit_failure') = 1 THEN
        RAISE EXCEPTION 'injected commit failure';
      END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER inject_commit_failure AFTER INSERT ON audit_event
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inject_commit_failure();`);

    const res = await fhir(base, 'POST', 'Patient', {
      resourceType: 'Patient',
      name: [{ family: 'Committed-Upstream' }],
    });
    t.equal(res.status, 500, 'the client is told it went wrong');
    t.equal(res.body?.resourceType, 'OperationOutcome');
    t.match(res.body?.issue?.[0]?.diagnostics, /applied/, 'and that the change was applied');

    const found = await fhir(base, 'GET', 'Patient?family=Committed-Upstream');
    t.equal(found.body?.total, 1, 'HealthLake has the patient');
    const id = found.body?.entry?.[0]?.resource?.id as string;

    const creates = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event
     WHERE action = 'C' AND json LIKE $1`,
      [`%Patient/${id}%`],
    );
    t.equal(creates.rows[0]!.n, 1, 'its create is in the audit trail, recorded again on its own');
    const [{ value }] = (
      await admin.query<{ value: string }>(
        'SELECT last_value::text AS value FROM inject_commit_failure',
      )
    ).rows as [{ value: string }];
    t.ok(Number(value) >= 2, 'the re-recording went through the same trigger, which let it pass');
  },
);
