import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';

/** Finds a StructureDefinition, with its snapshot, by canonical URL. */
export type DefinitionLookup = (url: string) => StructureDefinition | undefined;

const CORE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

/**
 * Builds a profile's snapshot from its differential laid over its base definition's snapshot,
 * the way the IG Publisher does for the parts a validator reads: cardinality, types, bindings,
 * fixed/pattern values, slicing and slices, constraints (with `source` filled in, so the checker
 * can tell a profile's own constraints from inherited ones) and data types unfolded where the
 * differential reaches inside them (e.g. `Encounter.identifier.system`).
 *
 * Throws on a differential element it cannot place, so a bad profile stops start-up.
 */
export function generateSnapshot(
  profile: StructureDefinition,
  lookup: DefinitionLookup,
): ElementDefinition[] {
  const baseUrl = profile.baseDefinition;
  const base = baseUrl ? lookup(baseUrl) : undefined;
  if (!base?.snapshot) {
    throw new Error(`${profile.url}: base definition ${baseUrl ?? '(none)'} has no snapshot`);
  }
  const elements = base.snapshot.element.map((e) => withSources(e, base.url));
  const builder = new SnapshotBuilder(elements, lookup, profile.url);
  for (const diff of profile.differential?.element ?? []) builder.apply(diff);
  return builder.elements;
}

class SnapshotBuilder {
  constructor(
    readonly elements: ElementDefinition[],
    private readonly lookup: DefinitionLookup,
    private readonly profileUrl: string,
  ) {}

  apply(diff: ElementDefinition): void {
    const id = diff.id ?? idFromPath(diff);
    const index = this.ensure(id);
    this.elements[index] = merge(this.elements[index] as ElementDefinition, diff, this.profileUrl);
  }

  /** The index of the element with this id, creating it (as a slice or unfolded type child). */
  private ensure(id: string): number {
    const found = this.indexOf(id);
    if (found >= 0) return found;
    const last = lastSegment(id);
    if (last.includes(':')) return this.addSlice(id);
    const parentId = id.slice(0, id.length - last.length - 1);
    if (!parentId) throw new Error(`${this.profileUrl}: no element ${id} in the base`);
    const parentIndex = this.ensure(parentId);
    this.unfold(parentIndex);
    const index = this.indexOf(id);
    if (index < 0) throw new Error(`${this.profileUrl}: no element ${id} in the base`);
    return index;
  }

  private indexOf(id: string): number {
    return this.elements.findIndex((e) => e.id === id);
  }

  /** Adds slice `base:name` as a copy of the (already constrained) sliced element's subtree. */
  private addSlice(id: string): number {
    const last = lastSegment(id);
    const colon = last.indexOf(':');
    const sliceName = last.slice(colon + 1);
    if (sliceName.includes('/'))
      throw new Error(`${this.profileUrl}: re-slicing (${id}) is not supported`);
    const baseId = id.slice(0, id.length - last.length + colon);
    const baseIndex = this.ensure(baseId);
    const sliced = this.elements[baseIndex] as ElementDefinition;
    if (!sliced.slicing && sliced.type?.length === 1 && sliced.type[0]?.code === 'Extension') {
      // extensions are sliced by url without saying so
      sliced.slicing = {
        discriminator: [{ type: 'value', path: 'url' }],
        ordered: false,
        rules: 'open',
      };
    }
    const subtree = [this.elements[baseIndex] as ElementDefinition];
    let end = baseIndex + 1;
    for (; end < this.elements.length; end++) {
      const otherId = (this.elements[end] as ElementDefinition).id ?? '';
      // the sliced element's descendants come first, then earlier slices and theirs
      if (otherId.startsWith(`${baseId}.`)) subtree.push(this.elements[end] as ElementDefinition);
      else if (!otherId.startsWith(`${baseId}:`)) break;
    }
    const copies = subtree.map((e) => {
      const copy = structuredClone(e);
      copy.id = id + (e.id ?? '').slice(baseId.length);
      return copy;
    });
    const head = copies[0] as ElementDefinition;
    delete head.slicing;
    head.sliceName = sliceName;
    this.elements.splice(end, 0, ...copies);
    return end;
  }

  /** Inserts the children of the element's data type (or type profile) right after it. */
  private unfold(parentIndex: number): void {
    const parent = this.elements[parentIndex] as ElementDefinition;
    const next = this.elements[parentIndex + 1];
    if (next?.id?.startsWith(`${parent.id}.`)) return;
    const types = parent.type ?? [];
    const type = types[0];
    if (types.length !== 1 || !type) {
      throw new Error(
        `${this.profileUrl}: cannot unfold ${parent.id} (it has ${types.length} types)`,
      );
    }
    const typeUrl = type.profile?.[0] ?? CORE_PREFIX + type.code;
    const typeDefinition = this.lookup(typeUrl) ?? this.lookup(CORE_PREFIX + type.code);
    const typeElements = typeDefinition?.snapshot?.element;
    if (!typeDefinition || !typeElements) {
      throw new Error(`${this.profileUrl}: no definition of ${type.code} to unfold ${parent.id}`);
    }
    const rootPath = typeElements[0]?.path ?? type.code;
    const children = typeElements.slice(1).map((e) => {
      const copy = withSources(e, typeDefinition.url);
      copy.id = (parent.id ?? parent.path) + (e.id ?? e.path).slice(rootPath.length);
      copy.path = parent.path + e.path.slice(rootPath.length);
      return copy;
    });
    this.elements.splice(parentIndex + 1, 0, ...children);
  }
}

const APPENDED = new Set(['constraint', 'condition', 'mapping']);

function merge(
  target: ElementDefinition,
  diff: ElementDefinition,
  profileUrl: string,
): ElementDefinition {
  const out = structuredClone(target) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(diff)) {
    if (key === 'id' || key === 'path') continue;
    if (APPENDED.has(key) && Array.isArray(value)) {
      const existing = (out[key] as unknown[] | undefined) ?? [];
      const added =
        key === 'constraint'
          ? (value as NonNullable<ElementDefinition['constraint']>).map((c) => ({
              ...c,
              source: c.source ?? profileUrl,
            }))
          : value;
      const kept =
        key === 'constraint'
          ? (existing as NonNullable<ElementDefinition['constraint']>).filter(
              (c) => !(added as { key: string }[]).some((a) => a.key === c.key),
            )
          : existing.filter((x) => !(added as unknown[]).includes(x));
      out[key] = [...kept, ...structuredClone(added)];
    } else {
      out[key] = structuredClone(value);
    }
  }
  return out as unknown as ElementDefinition;
}

/** A copy of the element whose constraints all name where they come from. */
function withSources(element: ElementDefinition, source: string): ElementDefinition {
  const copy = structuredClone(element);
  if (copy.constraint)
    copy.constraint = copy.constraint.map((c) => ({ ...c, source: c.source ?? source }));
  return copy;
}

function idFromPath(element: ElementDefinition): string {
  return element.sliceName ? `${element.path}:${element.sliceName}` : element.path;
}

/** The last dot-separated segment of an element id (`Observation.category:Laboratory` → `category:Laboratory`). */
export function lastSegment(id: string): string {
  return id.slice(id.lastIndexOf('.') + 1);
}
