/**
 * No stale suppression: without them, each suppressed rule does fire on its resource. A
 * suppression whose finding has gone away (or whose path moved) fails here.
 */
import t from 'tap';
import { ANNOTATIONS_IN_VALIDATION_REPORT } from 'aws-cdk-lib/cx-api';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { suppressionsFor } from '../lib/nag';
import { build } from './helpers';

const bare = build({ [ANNOTATIONS_IN_VALIDATION_REPORT]: false }, { suppress: false });
const annotations = Annotations.fromStack(bare.stack);
const messages = [
  ...annotations.findError('*', Match.stringLikeRegexp('.*')),
  ...annotations.findWarning('*', Match.stringLikeRegexp('.*')),
];

t.test('without suppressions the packs report findings', async (t) => {
  t.ok(messages.length > 0);
});

t.test('each suppression matches a finding on its own resource', async (t) => {
  const list = suppressionsFor(bare.stack);
  t.ok(list.length > 0);
  for (const s of list) {
    const path = `/${bare.stack.node.path}/${s.path}`;
    const prefixes = s.appliesTo ? s.appliesTo.map((a) => `${s.id}[${a}]`) : [`${s.id}:`];
    for (const prefix of prefixes) {
      const hit = messages.some(
        (m) =>
          (m.id === path || m.id === `${path}/Resource`) && String(m.entry.data).startsWith(prefix),
      );
      t.ok(hit, `${prefix} fires on ${s.path}`);
    }
  }
});

t.test('and nothing is reported that no suppression covers', async (t) => {
  const list = suppressionsFor(bare.stack);
  const uncovered = messages.filter((m) => {
    const text = String(m.entry.data);
    return !list.some((s) => {
      const path = `/${bare.stack.node.path}/${s.path}`;
      if (m.id !== path && m.id !== `${path}/Resource`) return false;
      const prefixes = s.appliesTo ? s.appliesTo.map((a) => `${s.id}[${a}]`) : [`${s.id}:`];
      return prefixes.some((p) => text.startsWith(p));
    });
  });
  t.same(
    uncovered.map((m) => `${m.id}: ${String(m.entry.data).slice(0, 120)}`),
    [],
    'the suppressions are exactly the findings',
  );
});
