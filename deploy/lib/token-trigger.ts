/**
 * The Cognito pre-token-generation trigger (event version V2_0), deployed as inline code so the
 * app synthesizes without building anything. The tests run this exact source in a VM.
 *
 * 1. SMART claims: `fhirUser` (from the user's `custom:fhirUser`, e.g. `Practitioner/123`) and
 *    `patient` (from `custom:patient`, or the id of a `Patient/<id>` fhirUser) are added to the
 *    ID and access tokens; telefhir reads them from the access token.
 * 2. MFA for staff: the pool's MFA is OPTIONAL so patients may choose; a user in a staff group
 *    (ADMIN, PROVIDER, NURSE, RECEPTIONIST, STAFF) who has no MFA factor activated gets tokens
 *    without those groups and without user/ or system/ scopes, so telefhir grants them no staff
 *    role. Once a factor is activated Cognito challenges it at every sign-in (device
 *    remembering is off), and the groups come back. Lookup errors fail the sign-in (closed).
 */
export const STAFF_GROUPS = ['ADMIN', 'PROVIDER', 'NURSE', 'RECEPTIONIST', 'STAFF'] as const;
export const PATIENT_GROUPS = ['PATIENT', 'GUARDIAN'] as const;

export const TOKEN_TRIGGER_SOURCE = `'use strict';
const {
  CognitoIdentityProviderClient,
  AdminGetUserCommand,
} = require('@aws-sdk/client-cognito-identity-provider');

const client = new CognitoIdentityProviderClient({});
const STAFF = new Set(${JSON.stringify(STAFF_GROUPS)});
const ID = /^[A-Za-z0-9\\-.]{1,64}$/;
const PATIENT_REF = /^Patient\\/([A-Za-z0-9\\-.]{1,64})$/;

exports.handler = async (event) => {
  const request = event.request || {};
  const attributes = request.userAttributes || {};
  const groups = (request.groupConfiguration && request.groupConfiguration.groupsToOverride) || [];
  const claims = {};
  const fhirUser = attributes['custom:fhirUser'];
  if (typeof fhirUser === 'string' && fhirUser !== '') claims.fhirUser = fhirUser;
  let patient = attributes['custom:patient'];
  const own = PATIENT_REF.exec(typeof fhirUser === 'string' ? fhirUser : '');
  if (!patient && own) patient = own[1];
  if (typeof patient === 'string' && ID.test(patient)) claims.patient = patient;

  const details = {
    idTokenGeneration: { claimsToAddOrOverride: claims },
    accessTokenGeneration: { claimsToAddOrOverride: claims },
  };
  const isStaff = (group) => STAFF.has(String(group).toUpperCase());
  if (groups.some(isStaff)) {
    const user = await client.send(
      new AdminGetUserCommand({ UserPoolId: event.userPoolId, Username: event.userName }),
    );
    const factors = (user && user.UserMFASettingList) || [];
    if (factors.length === 0) {
      details.groupOverrideDetails = { groupsToOverride: groups.filter((g) => !isStaff(g)) };
      details.accessTokenGeneration.scopesToSuppress = (request.scopes || []).filter(
        (scope) => scope.startsWith('user/') || scope.startsWith('system/'),
      );
    }
  }
  event.response = event.response || {};
  event.response.claimsAndScopeOverrideDetails = details;
  return event;
};
`;
