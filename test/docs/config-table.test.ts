/**
 * README's configuration tables against the source: every environment variable src/ reads has
 * a row (variable, default, meaning), and every row names a variable src/ reads. The names are
 * found by scanning the source, so a new variable without a row fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import t from 'tap';
import { fromRoot, projectRoot } from '../../src/paths.js';

const NAME = '[A-Z][A-Z0-9_]*[A-Z0-9]';
/**
 * How src/ reads the environment: `process.env.X`, `process.env['X']`, `env.X`, `env['X']`
 * (an `env` parameter holding process.env), and a name handed to a reading helper, first or
 * after `env`: `integer(env, 'X', …)`, `oneOf(env, 'X', …)`, `integer('X', …)`, `days('X', …)`
 * (a plain call, not a method: `process.on('SIGTERM', …)` reads no variable).
 */
const READS = [
  new RegExp(`\\b(?:process\\.)?env\\??\\.(${NAME})\\b`, 'g'),
  new RegExp(`\\b(?:process\\.)?env\\??\\.?\\[\\s*['"\`](${NAME})['"\`]\\s*\\]`, 'g'),
  new RegExp(`(?<![.\\w])[a-z]\\w*\\(\\s*(?:env\\s*,\\s*)?['"\`](${NAME})['"\`]\\s*,`, 'g'),
];

/** Source files under src/, without comments (a name in prose is not a read). */
function sources(dir: string): { file: string; code: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    if (!entry.name.endsWith('.ts')) return [];
    const code = readFileSync(path, 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
    return [{ file: relative(projectRoot, path), code }];
  });
}

function variablesRead(files: { file: string; code: string }[]): Map<string, string[]> {
  const read = new Map<string, string[]>();
  for (const { file, code } of files) {
    for (const pattern of READS) {
      for (const match of code.matchAll(pattern)) {
        const name = match[1]!;
        read.set(name, [...new Set([...(read.get(name) ?? []), file])]);
      }
    }
  }
  return read;
}

interface Row {
  name: string;
  cells: string[];
  line: number;
}

/** The rows of every README table whose header starts `| variable |`. */
function documented(readme: string): Row[] {
  const lines = readme.split('\n');
  const rows: Row[] = [];
  let inTable = false;
  lines.forEach((line, i) => {
    if (/^\|\s*variable\s*\|/.test(line)) inTable = true;
    else if (!line.startsWith('|')) inTable = false;
    else if (inTable && !/^\|[\s|:-]+$/.test(line)) {
      const cells = line
        .slice(1, line.endsWith('|') ? -1 : undefined)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim());
      const name = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1] ?? cells[0] ?? '';
      rows.push({ name, cells, line: i + 1 });
    }
  });
  return rows;
}

const readme = readFileSync(fromRoot('README.md'), 'utf8');
const read = variablesRead(sources(fromRoot('src')));
const rows = documented(readme);

t.test('the scan finds the ways src/ reads the environment', async (t) => {
  const found = variablesRead([
    {
      file: 'x.ts',
      code: [
        "process.env.ONE; process.env['TWO']; env.THREE; env?.FOUR;",
        "integer(env, 'FIVE', 1, 0, 2); oneOf(env, 'SIX', []); integer('SEVEN', 3, 1, 9);",
        "env.rootResource; new FhirError(404, 'not-found'); check('lower_case', 1);",
        "process.on('SIGTERM', stop); app.log.warn('NOT_A_READ', 1);",
      ].join('\n'),
    },
  ]);
  t.same([...found.keys()].sort(), ['FIVE', 'FOUR', 'ONE', 'SEVEN', 'SIX', 'THREE', 'TWO']);
  // What loadConfig is known to read, whichever way: the scan must see each.
  for (const name of ['PORT', 'DATABASE_URL', 'VALIDATION_DEFAULT_PROFILES', 'NODE_ENV']) {
    t.ok(read.has(name), `${name} is found`);
  }
  for (const name of ['AUTH_TOKEN_ENDPOINT', 'HEALTHLAKE_TIMEOUT_MS', 'RETENTION_POLICY']) {
    t.ok(read.has(name), `${name} is found`);
  }
});

t.test('every environment variable src/ reads has a README row', async (t) => {
  const names = new Set(rows.map((row) => row.name));
  const missing = [...read].filter(([name]) => !names.has(name));
  t.same(
    missing.map(([name, files]) => `${name} (read in ${files.join(', ')})`),
    [],
    'variables without a row in a README "| variable | default | meaning |" table',
  );
});

t.test('every README row names a variable src/ reads, with a default and a meaning', async (t) => {
  t.ok(rows.length > 0, `${rows.length} rows`);
  for (const row of rows) {
    t.ok(read.has(row.name), `README line ${row.line}: ${row.name} is read by src/`);
    t.equal(row.cells.length, 3, `README line ${row.line}: variable, default, meaning`);
    t.ok(
      row.cells.every((cell) => cell !== ''),
      `README line ${row.line}: no empty cell`,
    );
  }
});
