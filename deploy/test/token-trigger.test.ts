/**
 * Runs the deployed trigger source itself (the inline code string) in a VM, with a stand-in for
 * the AWS SDK client that the Lambda runtime provides.
 */
import t from 'tap';
import { runInNewContext } from 'node:vm';
import { TOKEN_TRIGGER_SOURCE } from '../lib/token-trigger';

type Handler = (event: Event) => Promise<Event>;
interface Event {
  userPoolId: string;
  userName: string;
  request: {
    userAttributes: Record<string, string>;
    groupConfiguration: { groupsToOverride: string[] };
    scopes?: string[];
  };
  response: Record<string, unknown>;
}
interface Details {
  idTokenGeneration: { claimsToAddOrOverride: Record<string, string> };
  accessTokenGeneration: {
    claimsToAddOrOverride: Record<string, string>;
    scopesToSuppress?: string[];
  };
  groupOverrideDetails?: { groupsToOverride: string[] };
}

function load(mfa: string[] | Error) {
  const calls: unknown[] = [];
  class AdminGetUserCommand {
    constructor(readonly input: unknown) {}
  }
  class CognitoIdentityProviderClient {
    async send(command: AdminGetUserCommand) {
      calls.push(command.input);
      if (mfa instanceof Error) throw mfa;
      return { UserMFASettingList: mfa.length ? mfa : undefined };
    }
  }
  const module = { exports: {} as { handler?: Handler } };
  const require = (name: string) => {
    if (name !== '@aws-sdk/client-cognito-identity-provider') throw new Error(`unexpected ${name}`);
    return { CognitoIdentityProviderClient, AdminGetUserCommand };
  };
  runInNewContext(TOKEN_TRIGGER_SOURCE, { module, exports: module.exports, require });
  return { handler: module.exports.handler!, calls };
}

const event = (groups: string[], attributes: Record<string, string> = {}): Event => ({
  userPoolId: 'us-east-1_pool',
  userName: 'user-1',
  request: {
    userAttributes: attributes,
    groupConfiguration: { groupsToOverride: groups },
    scopes: ['openid', 'user/*.cruds', 'patient/*.rs', 'launch/patient'],
  },
  response: {},
});

const details = (result: Event) => result.response.claimsAndScopeOverrideDetails as Details;

t.test('patients: SMART claims from attributes, no MFA lookup', async (t) => {
  const { handler, calls } = load([]);
  const result = await handler(event(['PATIENT'], { 'custom:fhirUser': 'Patient/p-1' }));
  const d = details(result);
  t.same(d.accessTokenGeneration.claimsToAddOrOverride, {
    fhirUser: 'Patient/p-1',
    patient: 'p-1',
  });
  t.same(d.idTokenGeneration.claimsToAddOrOverride, { fhirUser: 'Patient/p-1', patient: 'p-1' });
  t.equal(d.groupOverrideDetails, undefined, 'groups untouched');
  t.equal(d.accessTokenGeneration.scopesToSuppress, undefined, 'scopes untouched');
  t.equal(calls.length, 0, 'no Cognito call for patients');
});

t.test('an explicit patient attribute wins; a malformed one is dropped', async (t) => {
  const { handler } = load([]);
  const guardian = await handler(
    event(['GUARDIAN'], { 'custom:fhirUser': 'RelatedPerson/r-9', 'custom:patient': 'p-7' }),
  );
  t.same(details(guardian).accessTokenGeneration.claimsToAddOrOverride, {
    fhirUser: 'RelatedPerson/r-9',
    patient: 'p-7',
  });
  const bad = await handler(event(['PATIENT'], { 'custom:patient': 'p 7; drop' }));
  t.same(details(bad).accessTokenGeneration.claimsToAddOrOverride, {});
});

t.test('staff with an activated MFA factor keep their groups and scopes', async (t) => {
  const { handler, calls } = load(['SOFTWARE_TOKEN_MFA']);
  const result = await handler(event(['PROVIDER'], { 'custom:fhirUser': 'Practitioner/dr-1' }));
  const d = details(result);
  t.equal(d.groupOverrideDetails, undefined);
  t.equal(d.accessTokenGeneration.scopesToSuppress, undefined);
  t.same(d.accessTokenGeneration.claimsToAddOrOverride, { fhirUser: 'Practitioner/dr-1' });
  t.same(calls, [{ UserPoolId: 'us-east-1_pool', Username: 'user-1' }]);
});

t.test('staff without MFA lose staff groups and user/ scopes, keep the rest', async (t) => {
  for (const staff of ['ADMIN', 'PROVIDER', 'NURSE', 'RECEPTIONIST', 'STAFF', 'admin']) {
    const { handler } = load([]);
    const d = details(await handler(event([staff, 'PATIENT', 'other'])));
    t.same(d.groupOverrideDetails, { groupsToOverride: ['PATIENT', 'other'] }, staff);
    t.same(d.accessTokenGeneration.scopesToSuppress, ['user/*.cruds'], staff);
  }
});

t.test('a failed MFA lookup fails the token request (closed)', async (t) => {
  const { handler } = load(new Error('throttled'));
  await t.rejects(handler(event(['NURSE'])), /throttled/);
});
