import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp, type BuildOptions, type TelefhirApp } from '../lib/app';

/** Fixed, offline settings: no lookups, the same template on every machine. */
export const TEST_CONTEXT = {
  account: '123456789012',
  region: 'us-east-1',
  domainName: 'fhir.example.org',
  certificateArn:
    'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555',
  authDomainPrefix: 'telefhir-test',
  alarmEmail: 'oncall@example.org',
};

export interface Synthesized extends TelefhirApp {
  template: Template;
  securityTemplate: Template | undefined;
}

/** The app with the test settings, before synthesis. */
export function build(context: Record<string, unknown> = {}, options: BuildOptions = {}) {
  // Each synthesis stages the server's build context; removed when the test process ends.
  const outdir = mkdtempSync(join(tmpdir(), 'telefhir-cdk-'));
  process.on('exit', () => rmSync(outdir, { recursive: true, force: true }));
  return buildApp({ outdir, context: { ...TEST_CONTEXT, ...context } }, options);
}

/** Built and synthesized (this is the slow part: about ten seconds). */
export function synth(
  context: Record<string, unknown> = {},
  options: BuildOptions = {},
): Synthesized {
  const built = build(context, options);
  return {
    ...built,
    template: Template.fromStack(built.stack),
    securityTemplate: built.accountSecurity ? Template.fromStack(built.accountSecurity) : undefined,
  };
}

export type Json = Record<string, unknown>;
export interface CfnResourceJson {
  Type: string;
  Properties?: Json;
}

export function resources(template: Template, type: string): Record<string, CfnResourceJson> {
  return template.findResources(type) as Record<string, CfnResourceJson>;
}

/** The only resource of a type (fails when there are none or several). */
export function only(template: Template, type: string): [string, Json] {
  const found = Object.entries(resources(template, type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  const [id, resource] = found[0]!;
  return [id, resource.Properties ?? {}];
}

export function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

/** A policy document's statements, always as a list with list-valued Action/Resource. */
export interface Statement {
  Sid?: string;
  Effect: string;
  Action: string[];
  Resource: unknown[];
  Condition?: Json;
  Principal?: unknown;
}

export function statements(document: unknown): Statement[] {
  const raw = (document as { Statement?: unknown }).Statement;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.map((s: Json) => ({
    ...(s as unknown as Statement),
    Action: ([] as string[]).concat((s.Action as string | string[] | undefined) ?? []),
    Resource: ([] as unknown[]).concat(s.Resource ?? []),
  }));
}
