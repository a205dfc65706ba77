import { readFileSync } from 'node:fs';
import type { OperationDefinition, Parameters, ParametersParameter } from 'fhir/r4.js';
import { fromRoot } from '../paths.js';
import { FhirError } from './errors.js';

/** An OperationDefinition from operations/, read once. */
export function loadOperation(file: string): OperationDefinition {
  return JSON.parse(readFileSync(fromRoot('operations', file), 'utf8')) as OperationDefinition;
}

/**
 * A Parameters body checked against an OperationDefinition's `in` parameters: unknown names,
 * too few or too many occurrences are 400. Returns the parameters by name.
 */
export function readParameters(
  definition: OperationDefinition,
  body: Parameters,
): Map<string, ParametersParameter[]> {
  const inputs = (definition.parameter ?? []).filter((p) => p.use === 'in');
  const byName = new Map<string, ParametersParameter[]>();
  const given = Array.isArray(body.parameter) ? body.parameter : [];
  for (const parameter of given) {
    const name = typeof parameter?.name === 'string' ? parameter.name : '';
    if (!inputs.some((input) => input.name === name)) {
      throw new FhirError(
        400,
        'invalid',
        `$${definition.code} has no parameter "${name}"`,
        'Parameters.parameter',
      );
    }
    byName.set(name, [...(byName.get(name) ?? []), parameter]);
  }
  for (const input of inputs) {
    const count = byName.get(input.name)?.length ?? 0;
    if (count < input.min) {
      throw new FhirError(400, 'required', `$${definition.code} needs parameter "${input.name}"`);
    }
    if (input.max !== '*' && count > Number(input.max)) {
      throw new FhirError(
        400,
        'invalid',
        `$${definition.code} takes "${input.name}" at most ${input.max} time(s)`,
      );
    }
  }
  return byName;
}
