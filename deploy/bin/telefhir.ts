#!/usr/bin/env node
/**
 * Synthesizes the app into cdk.out (or $CDK_OUTDIR when the CDK CLI runs it). Needs no AWS
 * credentials and makes no lookups. Exits non-zero if cdk-nag (or CDK) reported an error.
 */
import { join } from 'node:path';
import { buildApp } from '../lib/app';
import { deployRoot } from '../lib/paths';

// Run by the CDK CLI, CDK_OUTDIR and CDK_CONTEXT_JSON come from it; run by `node`, buildApp
// reads cdk.json's context itself.
const { app } = buildApp({ outdir: process.env.CDK_OUTDIR ?? join(deployRoot, 'cdk.out') });
const assembly = app.synth();

let errors = 0;
for (const stack of assembly.stacks) {
  for (const message of stack.messages) {
    if (message.level !== 'error') continue;
    errors += 1;
    process.stderr.write(`[error] ${message.id}: ${String(message.entry.data)}\n`);
  }
}
process.stdout.write(
  `synthesized ${assembly.stacks.map((s) => s.stackName).join(', ')} into ${assembly.directory}\n`,
);
if (errors > 0) {
  process.stderr.write(`${errors} error(s): see above\n`);
  process.exit(1);
}
