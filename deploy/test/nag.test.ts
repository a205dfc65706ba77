/**
 * cdk-nag's HIPAA Security and AWS Solutions packs over both stacks: no unsuppressed error or
 * warning, and every suppression is specific and written down.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANNOTATIONS_IN_VALIDATION_REPORT } from 'aws-cdk-lib/cx-api';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import { deployRoot } from '../lib/paths';
import { build } from './helpers';
import { suppressionLines } from '../lib/nag';

// With this flag (set in cdk.json) an error annotation fails synthesis outright; off here so
// the annotations can be read and listed.
const built = build({ [ANNOTATIONS_IN_VALIDATION_REPORT]: false });

const findings = (stack: Stack, level: 'error' | 'warning') => {
  const annotations = Annotations.fromStack(stack);
  const messages =
    level === 'error'
      ? annotations.findError('*', Match.stringLikeRegexp('.*'))
      : annotations.findWarning('*', Match.stringLikeRegexp('.*'));
  return messages.map((m) => `${m.id}: ${String(m.entry.data).slice(0, 160)}`);
};

t.test('HIPAA Security and AWS Solutions: no unsuppressed errors', async (t) => {
  for (const stack of [built.stack, built.accountSecurity!]) {
    t.same(findings(stack, 'error'), [], `${stack.stackName}: no errors`);
  }
});

t.test('and no unsuppressed warnings', async (t) => {
  for (const stack of [built.stack, built.accountSecurity!]) {
    t.same(findings(stack, 'warning'), [], `${stack.stackName}: no warnings`);
  }
});

t.test('the packs did run (each wrote a report for each stack)', async (t) => {
  const assembly = built.app.synth();
  const files = readdirSync(assembly.directory);
  for (const pack of ['HIPAA.Security', 'AwsSolutions']) {
    for (const stack of ['Telefhir', 'TelefhirAccountSecurity']) {
      const report = files.find((f) => f.startsWith(pack) && f.endsWith(`-${stack}-NagReport.csv`));
      t.ok(report, `${pack} report for ${stack}`);
      if (!report) continue;
      const csv = readFileSync(join(assembly.directory, report), 'utf8');
      t.match(csv, /^Rule ID,Resource ID,Compliance/, `${report} is a nag report`);
      if (stack === 'Telefhir') t.match(csv, /"Compliant"/, `${report} lists the rules it checked`);
    }
  }
});

t.test('every suppression is on one resource, for one rule, with a specific reason', async (t) => {
  const seen = new Set<string>();
  t.ok(built.suppressions.length > 0);
  for (const s of built.suppressions) {
    t.match(s.id, /^(AwsSolutions|HIPAA\.Security)-[A-Za-z0-9]+$|^CdkNagValidationFailure$/, s.id);
    t.ok(s.path.length > 0 && !s.path.includes('*'), `${s.id} names a resource path`);
    t.ok(s.reason.length >= 120, `${s.id} at ${s.path}: reason says why, in detail`);
    t.notMatch(s.reason, /^(todo|n\/a|not needed|required|false positive)\b/i);
    if (s.id === 'AwsSolutions-IAM5' || s.id === 'AwsSolutions-IAM4') {
      t.ok(s.appliesTo?.length, `${s.id} at ${s.path} names the exact findings`);
      t.notOk(s.appliesTo?.includes('Action::*'), 'never a blanket action wildcard');
    }
    const key = `${s.path}|${s.id}|${(s.appliesTo ?? []).join(',')}`;
    t.notOk(seen.has(key), `${key} is listed once`);
    seen.add(key);
  }
});

t.test('deploy/README.md lists every suppression, word for word', async (t) => {
  const readme = readFileSync(join(deployRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## cdk-nag suppressions'));
  t.ok(readme.includes('## cdk-nag suppressions'), 'the README has a suppressions section');
  const listed = section.split('\n').filter((line) => line.startsWith('- `'));
  const expected = suppressionLines(built.suppressions);
  for (const line of expected) t.ok(listed.includes(line), line.slice(0, 100));
  t.equal(
    listed.length,
    expected.length,
    'and nothing else (npm run suppressions prints the list)',
  );
});

t.test('with cdk.json flags as deployed, synthesis passes its validation', async (t) => {
  const { app } = build();
  t.doesNotThrow(() => app.synth(), 'no error annotations fail the synthesis');
});
