import type { Bundle, BundleEntry, BundleLink, FhirResource } from 'fhir/r4.js';
import type { StoredVersion } from '../store/store.js';

const RESPONSE_STATUS = { POST: '201 Created', PUT: '200 OK', DELETE: '204 No Content' } as const;

export function historyEntry(baseUrl: string, version: StoredVersion): BundleEntry {
  const path = `${version.resourceType}/${version.id}`;
  return {
    fullUrl: `${baseUrl}/${path}`,
    ...(version.resource ? { resource: version.resource as FhirResource } : {}),
    request: {
      method: version.method,
      url: version.method === 'POST' ? version.resourceType : path,
    },
    response: {
      status: RESPONSE_STATUS[version.method],
      etag: `W/"${version.versionId}"`,
      lastModified: version.lastUpdated,
    },
  };
}

export function historyBundle(
  baseUrl: string,
  versions: StoredVersion[],
  total: number,
  links: BundleLink[],
): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'history',
    total,
    link: links,
    entry: versions.map((version) => historyEntry(baseUrl, version)),
  };
}
