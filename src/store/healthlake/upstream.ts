/**
 * The few upstream calls the store is made of, with HealthLake's answers already checked:
 * fetch one resource, run one search page, list every match (for resolving compartments).
 */
import type { Resource } from 'fhir/r4.js';
import { FhirError } from '../../fhir/errors.js';
import { wireQuery } from './signer.js';
import { asBundle, entriesByMode, linkOf, splitLink } from './bundles.js';
import type { HealthLakeClient } from './client.js';
import type { AccessResolver } from './access.js';

/** HealthLake ignores what it doesn't understand unless told not to; we tell it on searches. */
const STRICT = { prefer: 'handling=strict' };
const LIST_PAGE = 1000;
const LIST_MAX_PAGES = 10;

export class Upstream {
  constructor(
    readonly client: HealthLakeClient,
    /** Above this many characters of query, a search goes as POST _search with a form body. */
    private readonly postSearchOver: number,
  ) {}

  /** The resource, or undefined (404) / 'deleted' (410). */
  async fetch(path: string): Promise<Resource | 'deleted' | undefined> {
    try {
      const response = await this.client.send({ method: 'GET', path, idempotent: true });
      return asResource(response.body, path);
    } catch (err) {
      if (err instanceof FhirError && err.statusCode === 404) return undefined;
      if (err instanceof FhirError && err.statusCode === 410) return 'deleted';
      throw err;
    }
  }

  /**
   * One search page. Parameters go in the URL or, when long, in a form body to `_search` —
   * never both, which HealthLake refuses.
   */
  async search(path: string, params: [string, string][]) {
    const usePost = wireQuery(params).length > this.postSearchOver;
    const response = usePost
      ? await this.client.send({
          method: 'POST',
          path: `${path}${path ? '/' : ''}_search`,
          form: params,
          headers: STRICT,
          idempotent: true,
        })
      : await this.client.send({
          method: 'GET',
          path,
          query: params,
          headers: STRICT,
          idempotent: true,
        });
    return asBundle(response.body, 'a search');
  }

  /** Follows an upstream link we kept (relative to the data store base). */
  async follow(link: string) {
    const { path, query } = splitLink(link);
    const response = await this.client.send({
      method: 'GET',
      path,
      query,
      headers: STRICT,
      idempotent: true,
    });
    return asBundle(response.body, 'a page');
  }

  /** Every match, following next links; refused beyond a bound rather than cut short. */
  async list(type: string, params: [string, string][]): Promise<Resource[]> {
    const found: Resource[] = [];
    let bundle = await this.search(type, [...params, ['_count', String(LIST_PAGE)]]);
    for (let page = 1; ; page++) {
      found.push(...entriesByMode(bundle).matches);
      const next = linkOf(bundle, 'next', this.client.endpoint);
      if (!next) return found;
      if (page >= LIST_MAX_PAGES) {
        throw new FhirError(
          403,
          'too-costly',
          `Resolving this token's compartment needs more than ${LIST_PAGE * LIST_MAX_PAGES} ${type} resources`,
        );
      }
      bundle = await this.follow(next);
    }
  }

  resolver(): AccessResolver {
    return {
      list: (type, params) => this.list(type, params),
      read: async (type, id) => {
        const found = await this.fetch(`${type}/${id}`);
        return found === 'deleted' ? undefined : found;
      },
    };
  }
}

function asResource(body: unknown, path: string): Resource {
  const type = (body as { resourceType?: unknown } | undefined)?.resourceType;
  if (typeof type !== 'string' || type !== path.split('/')[0]) {
    throw new FhirError(
      502,
      'transient',
      `HealthLake answered a read of ${path.split('/')[0]} with something else`,
    );
  }
  return body as Resource;
}
