/** Prints the cdk-nag suppressions as the Markdown list in deploy/README.md. */
import { buildApp } from '../lib/app';
import { suppressionLines } from '../lib/nag';

const { suppressions } = buildApp({}, { nag: false });
process.stdout.write(`${suppressionLines(suppressions).join('\n')}\n`);
