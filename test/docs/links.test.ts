/**
 * Every relative link in the project's Markdown resolves to a file in this repository (one
 * `git ls-files` knows, so a link to something untracked or outside the checkout — such as
 * ../shared/ARCHITECTURE.md — fails here, not in a new user's clone), and a `#fragment` into
 * Markdown names one of its headings.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import { fromRoot, projectRoot } from '../../src/paths.js';

/** The Markdown files checked: README.md, docs/*.md and every other tracked one. */
function markdownFiles(): string[] {
  const docs = readdirSync(fromRoot('docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  const others = (tracked() ?? []).filter((path) => path.endsWith('.md'));
  return [...new Set(['README.md', ...docs, ...others])].sort();
}

/**
 * Files a clone would have: tracked ones and new ones not ignored (not yet added, but nothing
 * keeps them out); undefined outside a git checkout, where the file system decides.
 */
function tracked(): string[] | undefined {
  try {
    const args = ['ls-files', '-z', '--cached', '--others', '--exclude-standard'];
    const out = execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8' });
    return out.split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

const files = tracked();
const trackedSet = new Set(files);
const trackedDirs = new Set(
  (files ?? []).flatMap((file) =>
    file
      .split('/')
      .slice(0, -1)
      .map((_, i, parts) => parts.slice(0, i + 1).join('/')),
  ),
);

function inRepository(path: string): boolean {
  if (path === '' || path.startsWith('..')) return false;
  if (!files) return existsSync(join(projectRoot, path));
  return trackedSet.has(path) || trackedDirs.has(path.replace(/\/$/, ''));
}

interface Link {
  target: string;
  line: number;
}

/** Inline links and images `[x](target "title")` and definitions `[x]: target`, outside code. */
function linksIn(markdown: string): Link[] {
  const links: Link[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    if (fenced) return;
    const line = text.replace(/`[^`]*`/g, '');
    for (const match of line.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1]!, line: i + 1 });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/.exec(line);
    if (definition) links.push({ target: definition[1]!, line: i + 1 });
  });
  return links;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to `-`. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    found.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return found;
}

/** Why a relative link is broken, or undefined when it resolves. */
function brokenLink(from: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto:, ...
  const [pathPart = '', fragment] = target.split('#', 2);
  const path = decodeURIComponent(pathPart.split('?')[0]!);
  const resolved = path === '' ? from : normalize(join(dirname(from), path)).replace(/\\/g, '/');
  if (path.startsWith('/')) return 'an absolute path (it breaks outside GitHub)';
  if (!inRepository(resolved)) {
    return relative(projectRoot, join(projectRoot, resolved)).startsWith('..')
      ? `${resolved} is outside the repository`
      : `${resolved} is not a file in the repository`;
  }
  if (fragment && resolved.endsWith('.md')) {
    const headings = anchors(readFileSync(join(projectRoot, resolved), 'utf8'));
    if (!headings.has(fragment)) return `${resolved} has no heading #${fragment}`;
  }
  return undefined;
}

t.test('the link checker refuses what a clone would not have', async (t) => {
  t.equal(brokenLink('README.md', 'docs/architecture.md'), undefined);
  t.equal(brokenLink('docs/architecture.md', '../README.md'), undefined);
  t.equal(brokenLink('README.md', 'https://hl7.org/fhir/R4/'), undefined);
  t.equal(brokenLink('README.md', '#configuration'), undefined);
  t.match(brokenLink('README.md', '../shared/ARCHITECTURE.md'), /outside the repository/);
  t.match(brokenLink('README.md', 'docs/nothing.md'), /not a file in the repository/);
  t.match(brokenLink('README.md', '#no-such-heading'), /no heading/);
  t.match(brokenLink('README.md', '/docs/architecture.md'), /absolute path/);
  t.same(
    linksIn('[a](x.md) ![i](y.png "t") `[no](z.md)`\n```\n[no](w.md)\n```\n[ref]: v.md').map(
      (link) => link.target,
    ),
    ['x.md', 'y.png', 'v.md'],
  );
});

for (const file of markdownFiles()) {
  t.test(`every relative link in ${file} resolves in the repository`, async (t) => {
    const links = linksIn(readFileSync(fromRoot(file), 'utf8'));
    const broken = links.flatMap((link) => {
      const why = brokenLink(file, link.target);
      return why ? [`${file}:${link.line} ${link.target}: ${why}`] : [];
    });
    t.same(broken, [], `${links.length} links checked`);
  });
}

t.test(
  'docs/architecture.md names files and folders that exist, the others as planned',
  async (t) => {
    const text = readFileSync(fromRoot('docs/architecture.md'), 'utf8');
    const layout = /## Layout\n\n```\n([\s\S]*?)```/.exec(text)?.[1];
    t.ok(layout, 'the Layout block');
    let parent = '';
    for (const line of (layout ?? '').split('\n')) {
      const depth = /^ */.exec(line)![0].length;
      if (depth > 4 || line.trim() === '') continue;
      // The name column: `app.ts`, `http/`, or `logger.ts, heap.ts`; the rest is description.
      const names = line
        .trim()
        .split(/\s{2,}/)[0]!
        .split(/,\s*/);
      if (!names.every((name) => /^[\w.-]+(\/|\.\w+)$/.test(name))) continue;
      for (const name of names) {
        const path = depth === 0 ? name : depth === 2 ? `src/${name}` : `${parent}${name}`;
        if (depth === 2 && name.endsWith('/')) parent = path;
        t.ok(existsSync(fromRoot(path)), `${path} exists`);
      }
    }
    for (const planned of ['src/oauth/', 'src/export/', 'src/subscriptions/', 'src/notify/']) {
      if (existsSync(fromRoot(planned))) continue; // built since: fine either way
      t.match(text, new RegExp(`\`${planned}\` — `), `${planned} is listed as planned`);
      t.notMatch(layout, new RegExp(`^  ${planned.slice(4)}`, 'm'), `${planned} not in the layout`);
    }
  },
);
