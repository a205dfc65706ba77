import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Settings } from './config';
import type { Network } from './network';
import { PATIENT_GROUPS, STAFF_GROUPS, TOKEN_TRIGGER_SOURCE } from './token-trigger';

export const ROLES = [...STAFF_GROUPS, ...PATIENT_GROUPS];

/**
 * SMART scopes as Cognito custom scopes. Cognito renders a custom scope as
 * `<resource server identifier>/<scope name>`; scope names may not contain `/`, `"` or `\`
 * but may contain `*` and `.`. So each SMART context is a resource server and the token
 * carries exactly the SMART string: resource server `patient` + scope `*.rs` = `patient/*.rs`,
 * and `launch` + `patient` = `launch/patient`.
 */
export const SMART_SCOPES: Readonly<Record<'patient' | 'user' | 'system' | 'launch', string[]>> = {
  patient: ['*.rs', '*.read'],
  user: ['*.cruds', '*.rs', '*.read', '*.write'],
  system: ['*.cruds', '*.rs', '*.read', '*.write'],
  launch: ['patient'],
};

/** The SMART app client's scopes: no system/ ones (those are for backend services). */
export const SMART_APP_SCOPES = [
  'openid',
  'email',
  'profile',
  ...SMART_SCOPES.patient.map((s) => `patient/${s}`),
  ...SMART_SCOPES.user.map((s) => `user/${s}`),
  'launch/patient',
];

export interface IdentityProps {
  settings: Settings;
  network: Network;
  logsKey: kms.IKey;
}

/**
 * One Cognito user pool for staff and patients (telefhir trusts a single issuer): password
 * policy of 12+ characters with all four classes, threat protection enforced (Plus plan),
 * MFA optional at the pool and enforced for staff by the pre-token trigger (see
 * token-trigger.ts), a group per telefhir role, SMART scopes as resource servers, and the
 * SMART app client (authorization code + PKCE) whose id is the server's AUTH_AUDIENCE.
 */
export class Identity extends Construct {
  readonly userPool: cognito.UserPool;
  readonly smartAppClient: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  readonly tokenTrigger: lambda.Function;
  tokenTriggerBasePolicy!: iam.ManagedPolicy;
  readonly issuer: string;
  readonly jwksUri: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    const { settings, network, logsKey } = props;
    const { region } = Stack.of(this);

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      userPoolName: 'telefhir',
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      signInCaseSensitive: false,
      autoVerify: { email: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
        passwordHistorySize: 12,
      },
      mfa: cognito.Mfa.OPTIONAL,
      mfaSecondFactor: { otp: true, sms: false },
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      customAttributes: {
        fhirUser: new cognito.StringAttribute({ minLen: 3, maxLen: 256, mutable: true }),
        patient: new cognito.StringAttribute({ minLen: 1, maxLen: 64, mutable: true }),
      },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    for (const role of ROLES) {
      this.userPool.addGroup(role, {
        groupName: role,
        description: `telefhir role ${role}${
          (STAFF_GROUPS as readonly string[]).includes(role) ? ' (staff: MFA enforced)' : ''
        }`,
      });
    }

    const resourceServers = Object.entries(SMART_SCOPES).map(([context, names]) =>
      this.userPool.addResourceServer(`Smart-${context}`, {
        identifier: context,
        userPoolResourceServerName: `SMART ${context}`,
        scopes: names.map(
          (name) =>
            new cognito.ResourceServerScope({
              scopeName: name,
              scopeDescription: `SMART on FHIR ${context}/${name}`,
            }),
        ),
      }),
    );

    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: settings.authDomainPrefix },
    });

    const readAttributes = new cognito.ClientAttributes()
      .withStandardAttributes({ email: true, emailVerified: true, fullname: true })
      .withCustomAttributes('fhirUser', 'patient');
    // Users may change their own name only: fhirUser and patient are set by administrators.
    const writeAttributes = new cognito.ClientAttributes().withStandardAttributes({
      fullname: true,
    });

    this.smartAppClient = this.userPool.addClient('SmartAppClient', {
      userPoolClientName: 'telefhir-smart-app',
      generateSecret: false,
      authFlows: { userSrp: true },
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.minutes(15),
      idTokenValidity: Duration.minutes(15),
      refreshTokenValidity: Duration.hours(12),
      readAttributes,
      writeAttributes,
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: SMART_APP_SCOPES.map((scope) => cognito.OAuthScope.custom(scope)),
        callbackUrls: settings.smartAppCallbackUrls,
        logoutUrls: settings.smartAppLogoutUrls,
      },
    });
    for (const server of resourceServers) this.smartAppClient.node.addDependency(server);

    this.tokenTrigger = this.createTokenTrigger(network, logsKey);
    this.userPool.addTrigger(
      cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
      this.tokenTrigger,
      cognito.LambdaVersion.V2_0,
    );
    // Attached after the pool exists: in the role's own policy it would make a cycle
    // (pool → function → role → pool).
    new iam.ManagedPolicy(this, 'TokenTriggerReadsMfa', {
      description: 'telefhir pre-token trigger: read users MFA settings',
      roles: [this.tokenTrigger.role!],
      statements: [
        new iam.PolicyStatement({
          sid: 'ReadUserMfaSettings',
          actions: ['cognito-idp:AdminGetUser'],
          resources: [this.userPool.userPoolArn],
        }),
      ],
    });

    this.issuer = `https://cognito-idp.${region}.amazonaws.com/${this.userPool.userPoolId}`;
    this.jwksUri = `${this.issuer}/.well-known/jwks.json`;
    const authBase = `https://${settings.authDomainPrefix}.auth.${region}.amazoncognito.com`;
    this.authorizationEndpoint = `${authBase}/oauth2/authorize`;
    this.tokenEndpoint = `${authBase}/oauth2/token`;
  }

  private createTokenTrigger(network: Network, logsKey: kms.IKey): lambda.Function {
    const logGroup = new logs.LogGroup(this, 'TokenTriggerLogs', {
      encryptionKey: logsKey,
      retention: logs.RetentionDays.SEVEN_YEARS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const securityGroup = new ec2.SecurityGroup(this, 'TokenTriggerSecurityGroup', {
      vpc: network.vpc,
      description: 'Cognito pre-token trigger: HTTPS out only',
      allowAllOutbound: false,
    });
    securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'Cognito API (HTTPS)');
    const role = new iam.Role(this, 'TokenTriggerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'telefhir Cognito pre-token trigger',
    });
    this.tokenTriggerBasePolicy = new iam.ManagedPolicy(this, 'TokenTriggerBase', {
      description: 'telefhir pre-token trigger: its log group, VPC network interfaces',
      roles: [role],
    });
    this.tokenTriggerBasePolicy.addStatements(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
      new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    const fn = new lambda.Function(this, 'TokenTrigger', {
      description: 'telefhir: SMART claims; staff groups only with an MFA factor',
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline(TOKEN_TRIGGER_SOURCE),
      memorySize: 256,
      timeout: Duration.seconds(5),
      role,
      logGroup,
      vpc: network.vpc,
      vpcSubnets: network.serviceSubnets,
      securityGroups: [securityGroup],
    });
    fn.node.addDependency(this.tokenTriggerBasePolicy);
    return fn;
  }
}
