import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import * as prettier from 'prettier';
import type { ExplainedStatement } from './explain.js';
import type { Latency, Percentiles } from './latency.js';

export const SECTION = '## Search (issue 4)';

export interface Row {
  query: string;
  /** `_total` as sent (`omitted`: not sent); `-` for the baseline read. */
  total: 'accurate' | 'none' | 'omitted' | '-';
  latency: Latency;
  /** The same work through the store, one at a time, without HTTP. */
  store: Percentiles;
}

export interface Explained {
  query: string;
  statements: ExplainedStatement[];
}

export interface Report {
  date: string;
  store: string;
  patients: number;
  encounters: number;
  load: string;
  method: string;
  notes: string[];
  rows: Row[];
  explained: Explained[];
  targetMs: number;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/**
 * Short commit, and whether the working tree differs from it (read-only git calls). RESULTS.md
 * itself doesn't count: `npm run bench` writes it between one benchmark and the next.
 */
export function commit(): string {
  const head = git(['rev-parse', '--short', 'HEAD'])?.trim() ?? 'unknown';
  const dirty = git([
    'status',
    '--porcelain',
    '--untracked-files=no',
    '--',
    '.',
    ':(exclude)bench/RESULTS.md',
  ])?.trim();
  return dirty ? `${head} (with uncommitted changes in the working tree)` : head;
}

export function machine(): string {
  const cores = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  return `${cores.length} cores (${cores[0]?.model.trim() ?? 'unknown CPU'}), ${gib} GiB RAM, Linux ${release()}, Node ${process.version}`;
}

const ms = (value: number) => value.toFixed(1);

export const MAX_PLAN_LINES = 40;

function trimmed(plan: string): string {
  const lines = plan.split('\n');
  return lines.length <= MAX_PLAN_LINES
    ? plan
    : [...lines.slice(0, MAX_PLAN_LINES), `... (${lines.length - MAX_PLAN_LINES} more lines)`].join(
        '\n',
      );
}

export function indexVerdict(statement: ExplainedStatement): string {
  const idx = statement.indexScans.filter((name) => name.startsWith('idx_'));
  const other = statement.indexScans.filter((name) => !name.startsWith('idx_'));
  const parts = [
    idx.length ? `yes: ${idx.join(', ')}` : 'NO `idx_*` index scan',
    other.length ? `also ${other.join(', ')}` : '',
    statement.seqScans.length ? `Seq Scan on ${statement.seqScans.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

function section(report: Report): string {
  const out: string[] = [SECTION, ''];
  out.push(
    `- Date: ${report.date}`,
    `- Commit: ${commit()}`,
    `- Machine: ${machine()}; the client, the server and the database share it`,
    `- Store: ${report.store}`,
    `- Data: ${report.patients} Patients, ${report.encounters} Encounters`,
    `- Load: ${report.load}`,
    `- Method: ${report.method}`,
    `- Target: p95 < ${report.targetMs} ms`,
    ...report.notes.map((note) => `- ${note}`),
    '',
    '| query | \\_total | p50 ms | p95 ms | p99 ms | req/s | p95 < target | store p50 / p95 ms (serial) | sample total / entries |',
    '| --- | --- | --: | --: | --: | --: | --- | --: | --- |',
  );
  for (const { query, total, latency, store } of report.rows) {
    const sample =
      total === '-' ? '-' : `${latency.sample.total ?? '-'} / ${latency.sample.entries}`;
    const errors = latency.errors ? ` (${latency.errors} errors)` : '';
    out.push(
      `| \`${query}\` | ${total} | ${ms(latency.p50)} | ${ms(latency.p95)} | ${ms(latency.p99)} | ${latency.rps.toFixed(0)} | ${latency.p95 < report.targetMs ? 'yes' : 'no'} | ${ms(store.p50)} / ${ms(store.p95)} | ${sample}${errors} |`,
    );
  }
  out.push('', '### Index use', '');
  out.push(
    'Each query with `_total=accurate`, its statements captured as the store sends them and run with `EXPLAIN (ANALYZE, BUFFERS)`. "Dominant" is the plan node with the most time of its own. EXPLAIN ANALYZE times every row of every node, which inflates nodes run many times (the inner side of a nested loop): take the store column above for real cost and these for where the time goes.',
    '',
    '| query | statement | idx\\_\\* index scan | dominant node | execution ms |',
    '| --- | --- | --- | --- | --: |',
  );
  for (const { query, statements } of report.explained) {
    for (const s of statements) {
      const dominant = s.dominant ? `${s.dominant.node} (${ms(s.dominant.ms)} ms)` : '-';
      out.push(
        `| \`${query}\` | ${s.role} | ${indexVerdict(s)} | ${dominant} | ${s.executionMs === undefined ? '-' : ms(s.executionMs)} |`,
      );
    }
  }
  out.push('', '### Plans', '');
  for (const { query, statements } of report.explained) {
    for (const s of statements) {
      out.push(`#### \`${query}\`: ${s.role} query`, '', '```text', trimmed(s.plan), '```', '');
    }
  }
  return out.join('\n');
}

/** Writes the search section into RESULTS.md, replacing only an earlier one. */
export async function writeResults(path: string, report: Report): Promise<void> {
  await replaceSection(path, SECTION, section(report));
}

/** Puts `body` (which starts with `heading`) into RESULTS.md in place of that section, if any. */
export async function replaceSection(path: string, heading: string, body: string): Promise<void> {
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmark results\n';
  const start = existing.indexOf(`${heading}\n`);
  let text: string;
  if (start < 0) text = `${existing.trimEnd()}\n\n${body}\n`;
  else {
    const next = existing.slice(start + heading.length).search(/\n## /);
    const end = next < 0 ? existing.length : start + heading.length + next + 1;
    text = `${existing.slice(0, start)}${body}\n\n${existing.slice(end)}`;
  }
  const options = (await prettier.resolveConfig(path)) ?? {};
  writeFileSync(path, await prettier.format(text, { ...options, filepath: path }));
}
