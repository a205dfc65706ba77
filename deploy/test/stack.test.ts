/**
 * The synthesized template, bullet by bullet of the deployment's requirements. One offline
 * synthesis (fixed account and region, no lookups) shared by every assertion.
 */
import t from 'tap';
import { Match } from 'aws-cdk-lib/assertions';
import { CHIME_ACTIONS, HEALTHLAKE_ACTIONS, KMS_ACTIONS, S3_ACTIONS } from '../lib/service';
import { SMART_APP_SCOPES, SMART_SCOPES } from '../lib/identity';
import { build, only, resources, statements, synth, TEST_CONTEXT, type Json } from './helpers';

const built = synth({}, { nag: false });
const { stack, template } = built;
const id = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId((construct.node.defaultChild ?? construct) as never);
const sorted = (list: string[] | undefined) => [...(list ?? [])].sort();
const ref = (construct: { node: { defaultChild?: unknown } }) => ({ Ref: id(construct) });
const arnOf = (construct: { node: { defaultChild?: unknown } }) => ({
  'Fn::GetAtt': [id(construct), 'Arn'],
});
const keys = stack.keys;
const json = (value: unknown) => JSON.stringify(value);

t.test('network: private subnets for service and database, endpoints, no public IPs', async (t) => {
  const subnets = Object.values(resources(template, 'AWS::EC2::Subnet'));
  t.equal(subnets.length, 6, 'public, service and database subnets in two AZs');
  for (const subnet of subnets) {
    t.not(subnet.Properties!.MapPublicIpOnLaunch, true, 'no public IP on launch');
  }
  const azs = new Set(subnets.map((s) => s.Properties!.AvailabilityZone));
  t.same([...azs].sort(), ['us-east-1a', 'us-east-1b']);

  const privateSubnetIds = (group: string) =>
    built.stack.network.vpc
      .selectSubnets({ subnetGroupName: group })
      .subnets.map((s) => stack.getLogicalId(s.node.defaultChild as never));
  const serviceSubnets = privateSubnetIds('service');
  const databaseSubnets = privateSubnetIds('database');
  t.equal(serviceSubnets.length, 2);
  t.equal(databaseSubnets.length, 2);

  const [, service] = only(template, 'AWS::ECS::Service');
  const network = (service.NetworkConfiguration as Json).AwsvpcConfiguration as Json;
  t.equal(network.AssignPublicIp, 'DISABLED', 'tasks get no public IP');
  t.same(
    (network.Subnets as Json[]).map((s) => s.Ref).sort(),
    [...serviceSubnets].sort(),
    'tasks run in the service (private) subnets',
  );
  const [, dbSubnetGroup] = only(template, 'AWS::RDS::DBSubnetGroup');
  t.same(
    (dbSubnetGroup.SubnetIds as Json[]).map((s) => s.Ref).sort(),
    [...databaseSubnets].sort(),
    'Aurora in the isolated database subnets',
  );
  // Isolated subnets have no default route at all; service subnets route through NAT only.
  for (const [, route] of Object.entries(resources(template, 'AWS::EC2::Route'))) {
    const table = json(route.Properties!.RouteTableId);
    if (route.Properties!.GatewayId) {
      t.match(table, /publicSubnet/, 'only public subnets route to the internet gateway');
    }
  }

  const endpoints = Object.values(resources(template, 'AWS::EC2::VPCEndpoint'));
  const serviceName = (e: (typeof endpoints)[number]) => json(e.Properties!.ServiceName);
  for (const name of ['healthlake', 'kms', 'secretsmanager', 'logs', 's3']) {
    const endpoint = endpoints.find((e) => serviceName(e).includes(`.${name}`));
    t.ok(endpoint, `a VPC endpoint for ${name}`);
    if (name !== 's3')
      t.equal(endpoint?.Properties!.PrivateDnsEnabled, true, `${name} private DNS`);
  }
  t.equal(
    endpoints.find((e) => serviceName(e).includes('.s3'))?.Properties!.VpcEndpointType,
    'Gateway',
  );
  template.hasResourceProperties('AWS::EC2::FlowLog', {
    ResourceType: 'VPC',
    TrafficType: 'ALL',
    LogDestinationType: 'cloud-watch-logs',
  });
});

t.test('keys: four separate customer managed keys, rotation on, kept on delete', async (t) => {
  const keyResources = Object.entries(template.findResources('AWS::KMS::Key'));
  t.equal(keyResources.length, 4);
  for (const [, key] of keyResources) {
    t.equal(key.Properties.EnableKeyRotation, true, 'rotation');
    t.equal(key.DeletionPolicy, 'Retain');
  }
  const ids = [keys.database, keys.documents, keys.healthlake, keys.logs].map(id);
  t.equal(new Set(ids).size, 4, 'database, documents, HealthLake, logs keys are distinct');
  for (const alias of ['database', 'documents', 'healthlake', 'logs']) {
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: `alias/telefhir/${alias}` });
  }
});

t.test('every store is encrypted, with the key meant for it', async (t) => {
  const buckets = Object.values(resources(template, 'AWS::S3::Bucket'));
  t.equal(buckets.length, 3);
  for (const bucket of buckets) {
    const rule = (
      (bucket.Properties!.BucketEncryption as Json).ServerSideEncryptionConfiguration as Json[]
    )[0]!.ServerSideEncryptionByDefault as Json;
    t.ok(['aws:kms', 'AES256'].includes(rule.SSEAlgorithm as string), 'bucket encrypted');
  }
  template.hasResourceProperties('AWS::S3::Bucket', {
    BucketEncryption: {
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: {
            SSEAlgorithm: 'aws:kms',
            KMSMasterKeyID: arnOf(keys.documents),
          },
          BucketKeyEnabled: true,
        },
      ],
    },
  });
  const [, cluster] = only(template, 'AWS::RDS::DBCluster');
  t.equal(cluster.StorageEncrypted, true);
  t.same(cluster.KmsKeyId, arnOf(keys.database));
  const [, secret] = only(template, 'AWS::SecretsManager::Secret');
  t.same(secret.KmsKeyId, arnOf(keys.database), 'database secret under the database key');
  for (const [, instance] of Object.entries(resources(template, 'AWS::RDS::DBInstance'))) {
    t.same(instance.Properties!.PerformanceInsightsKMSKeyId, arnOf(keys.database));
  }
  const [, datastore] = only(template, 'AWS::HealthLake::FHIRDatastore');
  t.same(datastore.SseConfiguration, {
    KmsEncryptionConfig: { CmkType: 'CUSTOMER_MANAGED_KMS_KEY', KmsKeyId: arnOf(keys.healthlake) },
  });
  for (const [name, group] of Object.entries(resources(template, 'AWS::Logs::LogGroup'))) {
    t.same(group.Properties!.KmsKeyId, arnOf(keys.logs), `log group ${name} under the logs key`);
  }
  const [, trail] = only(template, 'AWS::CloudTrail::Trail');
  t.same(trail.KMSKeyId, arnOf(keys.logs));
  const [, topic] = only(template, 'AWS::SNS::Topic');
  t.same(topic.KmsMasterKeyId, arnOf(keys.logs));
  const [, vault] = only(template, 'AWS::Backup::BackupVault');
  t.same(vault.EncryptionKeyArn, arnOf(keys.database));
});

t.test('no public access; TLS-only bucket policies', async (t) => {
  const buckets = Object.entries(resources(template, 'AWS::S3::Bucket'));
  const policies = Object.values(resources(template, 'AWS::S3::BucketPolicy'));
  for (const [bucketId, bucket] of buckets) {
    t.same(
      bucket.Properties!.PublicAccessBlockConfiguration,
      {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      `${bucketId} blocks public access`,
    );
    const policy = policies.find((p) => json(p.Properties!.Bucket) === json({ Ref: bucketId }));
    t.ok(policy, `${bucketId} has a bucket policy`);
    const denies = statements(policy?.Properties!.PolicyDocument).filter(
      (s) => s.Effect === 'Deny',
    );
    t.ok(
      denies.some((s) => json(s.Condition) === json({ Bool: { 'aws:SecureTransport': 'false' } })),
      `${bucketId} denies requests without TLS`,
    );
    t.ok(
      denies.some((s) => json(s.Condition) === json({ NumericLessThan: { 's3:TlsVersion': 1.2 } })),
      `${bucketId} denies TLS below 1.2`,
    );
    for (const statement of statements(policy?.Properties!.PolicyDocument)) {
      if (statement.Effect !== 'Allow') continue;
      t.not(json(statement.Principal), json({ AWS: '*' }), 'no Allow to everyone');
      t.not(statement.Principal, '*', 'no Allow to everyone');
    }
  }
  for (const [, instance] of Object.entries(resources(template, 'AWS::RDS::DBInstance'))) {
    t.equal(instance.Properties!.PubliclyAccessible, false);
  }
  const [, topicPolicy] = only(template, 'AWS::SNS::TopicPolicy');
  t.ok(
    statements(topicPolicy.PolicyDocument).some(
      (s) => s.Effect === 'Deny' && json(s.Condition).includes('aws:SecureTransport'),
    ),
    'the alarm topic refuses non-TLS publishing',
  );
});

t.test(
  'documents bucket: versioned, access-logged, Glacier at 90 and Deep Archive at 365',
  async (t) => {
    const documents = stack.data.documentsBucket;
    const [, bucket] = [id(documents), template.toJSON().Resources[id(documents)].Properties];
    t.same(bucket.VersioningConfiguration, { Status: 'Enabled' });
    t.same(bucket.LoggingConfiguration, {
      DestinationBucketName: ref(stack.data.accessLogsBucket),
      LogFilePrefix: 'documents/',
    });
    const rule = (bucket.LifecycleConfiguration as Json).Rules as Json[];
    t.same(rule[0]!.Transitions, [
      { StorageClass: 'GLACIER', TransitionInDays: 90 },
      { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 365 },
    ]);
    t.equal(template.toJSON().Resources[id(documents)].DeletionPolicy, 'Retain');
  },
);

t.test('Aurora PostgreSQL Serverless v2: 15.x, Multi-AZ, 35-day backups, rotation', async (t) => {
  const [, cluster] = only(template, 'AWS::RDS::DBCluster');
  t.equal(cluster.Engine, 'aurora-postgresql');
  t.match(cluster.EngineVersion, /^15\.\d+$/);
  t.equal(cluster.BackupRetentionPeriod, 35);
  t.equal(cluster.DeletionProtection, true);
  t.equal(cluster.EnableIAMDatabaseAuthentication, true);
  t.same(cluster.EnableCloudwatchLogsExports, ['postgresql']);
  t.same(cluster.ServerlessV2ScalingConfiguration, { MinCapacity: 0.5, MaxCapacity: 16 });
  const instances = Object.values(resources(template, 'AWS::RDS::DBInstance'));
  t.equal(instances.length, 2, 'a writer and a reader');
  for (const instance of instances) t.equal(instance.Properties!.DBInstanceClass, 'db.serverless');
  const zones = instances.map((i) => i.Properties!.AvailabilityZone);
  t.same([...zones].sort(), ['us-east-1a', 'us-east-1b'], 'writer and reader in different AZs');
  template.hasResource('AWS::RDS::DBCluster', {
    DeletionPolicy: 'Snapshot',
    UpdateReplacePolicy: 'Snapshot',
  });
  template.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
    Parameters: Match.objectLike({ 'rds.force_ssl': '1' }),
  });
  template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
    RotationRules: { ScheduleExpression: 'rate(30 days)' },
  });
  const [, selection] = only(template, 'AWS::Backup::BackupSelection');
  t.match(json(selection), new RegExp(`cluster:",\\{"Ref":"${id(stack.data.database)}"`));
  const [, plan] = only(template, 'AWS::Backup::BackupPlan');
  const lifecycles = ((plan.BackupPlan as Json).BackupPlanRule as Json[]).map(
    (r) => (r.Lifecycle as Json).DeleteAfterDays,
  );
  t.same(lifecycles, [35, 2557]);
});

t.test('HealthLake FHIR data store: R4, customer key, retained', async (t) => {
  template.hasResource('AWS::HealthLake::FHIRDatastore', {
    Properties: Match.objectLike({ DatastoreTypeVersion: 'R4' }),
    DeletionPolicy: 'Retain',
  });
  const [, datastore] = only(template, 'AWS::HealthLake::FHIRDatastore');
  t.equal(
    ((datastore.SseConfiguration as Json).KmsEncryptionConfig as Json).CmkType,
    'CUSTOMER_MANAGED_KMS_KEY',
  );
});

t.test('ALB: HTTPS only with a TLS 1.2+ policy, HTTP redirects, WAF in front', async (t) => {
  const listeners = Object.values(resources(template, 'AWS::ElasticLoadBalancingV2::Listener'));
  t.equal(listeners.length, 2);
  const https = listeners.find((l) => l.Properties!.Port === 443)!.Properties!;
  t.equal(https.Protocol, 'HTTPS');
  t.equal(https.SslPolicy, 'ELBSecurityPolicy-TLS13-1-2-2021-06', 'TLS 1.3 and 1.2 only');
  t.same(https.Certificates, [{ CertificateArn: TEST_CONTEXT.certificateArn }]);
  const http = listeners.find((l) => l.Properties!.Port === 80)!.Properties!;
  t.same(http.DefaultActions, [
    {
      Type: 'redirect',
      RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' },
    },
  ]);
  template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
    HealthCheckPath: '/readyz',
    Matcher: { HttpCode: '200' },
    Port: 8080,
    TargetType: 'ip',
  });
  const [, alb] = only(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
  t.equal(alb.Scheme, 'internet-facing');
  const attributes = Object.fromEntries(
    (alb.LoadBalancerAttributes as Json[]).map((a) => [a.Key, a.Value]),
  );
  t.equal(attributes['routing.http.drop_invalid_header_fields.enabled'], 'true');
  t.equal(attributes['access_logs.s3.enabled'], 'true');
  t.equal(attributes['deletion_protection.enabled'], 'true');

  const [, acl] = only(template, 'AWS::WAFv2::WebACL');
  t.equal(acl.Scope, 'REGIONAL');
  const rules = acl.Rules as Json[];
  const managed = rules
    .map((r) => (r.Statement as Json).ManagedRuleGroupStatement as Json | undefined)
    .filter(Boolean)
    .map((s) => `${s!.VendorName}/${s!.Name}`);
  t.same(managed.sort(), [
    'AWS/AWSManagedRulesCommonRuleSet',
    'AWS/AWSManagedRulesKnownBadInputsRuleSet',
  ]);
  const rate = rules.find((r) => (r.Statement as Json).RateBasedStatement);
  t.same((rate?.Statement as Json).RateBasedStatement, { Limit: 2000, AggregateKeyType: 'IP' });
  t.same(rate?.Action, { Block: {} });
  const [, association] = only(template, 'AWS::WAFv2::WebACLAssociation');
  t.same(association.ResourceArn, ref(stack.service.loadBalancer));
  const [, logging] = only(template, 'AWS::WAFv2::LoggingConfiguration');
  t.match(json(logging.RedactedFields), /authorization/, 'bearer tokens are not logged');
});

t.test('ECS Fargate service: image, environment, secrets, logging, scaling', async (t) => {
  const [, task] = only(template, 'AWS::ECS::TaskDefinition');
  t.same(task.RequiresCompatibilities, ['FARGATE']);
  t.equal(task.NetworkMode, 'awsvpc');
  const container = (task.ContainerDefinitions as Json[])[0]!;
  const env = Object.fromEntries(
    (container.Environment as Json[]).map((e) => [e.Name as string, e.Value]),
  );
  t.same(
    {
      NODE_ENV: env.NODE_ENV,
      FHIR_STORE: env.FHIR_STORE,
      VIDEO_PROVIDER: env.VIDEO_PROVIDER,
      AWS_REGION: env.AWS_REGION,
      HOST: env.HOST,
      PORT: env.PORT,
      FHIR_BASE_URL: env.FHIR_BASE_URL,
    },
    {
      NODE_ENV: 'production',
      FHIR_STORE: 'healthlake',
      VIDEO_PROVIDER: 'chime',
      AWS_REGION: 'us-east-1',
      HOST: '0.0.0.0',
      PORT: '8080',
      FHIR_BASE_URL: 'https://fhir.example.org/fhir',
    },
  );
  const pool = id(stack.identity.userPool);
  t.same(env.AUTH_ISSUER, {
    'Fn::Join': ['', ['https://cognito-idp.us-east-1.amazonaws.com/', { Ref: pool }]],
  });
  t.same(env.AUTH_JWKS_URI, {
    'Fn::Join': [
      '',
      ['https://cognito-idp.us-east-1.amazonaws.com/', { Ref: pool }, '/.well-known/jwks.json'],
    ],
  });
  t.same(env.AUTH_AUDIENCE, ref(stack.identity.smartAppClient), 'the SMART app client id');
  t.same(env.HEALTHLAKE_ENDPOINT, {
    'Fn::Join': [
      '',
      [
        'https://healthlake.us-east-1.amazonaws.com/datastore/',
        { 'Fn::GetAtt': [id(stack.data.datastore), 'DatastoreId'] },
        '/r4/',
      ],
    ],
  });
  t.same(env.S3_BUCKET, ref(stack.data.documentsBucket));
  t.same(env.KMS_KEY_ID, arnOf(keys.documents));
  t.match(
    json(env.DATABASE_URL),
    /postgres:\/\/.*Endpoint\.Address.*:5432\/telefhir\?sslmode=verify-full/,
  );
  t.notMatch(json(env.DATABASE_URL), /password|SecretString/i, 'no credentials in DATABASE_URL');
  const secrets = Object.fromEntries(
    (container.Secrets as Json[]).map((s) => [s.Name as string, json(s.ValueFrom)]),
  );
  t.same(Object.keys(secrets).sort(), ['PGPASSWORD', 'PGUSER']);
  t.match(secrets.PGPASSWORD, /:password::/);
  t.match(secrets.PGUSER, /:username::/);
  for (const value of Object.values(env)) {
    t.notMatch(json(value), /password/i, 'no secret among the plain environment variables');
  }
  const logging = container.LogConfiguration as Json;
  t.equal(logging.LogDriver, 'awslogs');
  t.same((logging.Options as Json)['awslogs-group'], ref(stack.service.logGroup));
  template.hasResourceProperties('AWS::Logs::LogGroup', {
    LogGroupName: '/telefhir/service',
    RetentionInDays: 2557,
    KmsKeyId: arnOf(keys.logs),
  });

  template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
    MinCapacity: 2,
    MaxCapacity: 10,
    ScalableDimension: 'ecs:service:DesiredCount',
  });
  template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
    TargetTrackingScalingPolicyConfiguration: Match.objectLike({
      PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
    }),
  });
  template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
    TargetTrackingScalingPolicyConfiguration: Match.objectLike({
      PredefinedMetricSpecification: Match.objectLike({
        PredefinedMetricType: 'ALBRequestCountPerTarget',
      }),
    }),
  });
  template.hasResourceProperties('AWS::ECS::Cluster', {
    ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
  });
});

t.test('security groups: ALB → tasks → Aurora, nothing else in', async (t) => {
  const groups = resources(template, 'AWS::EC2::SecurityGroup');
  const albSg = stack.getLogicalId(
    stack.service.loadBalancer.connections.securityGroups[0]!.node.defaultChild as never,
  );
  for (const [groupId, group] of Object.entries(groups)) {
    for (const rule of (group.Properties!.SecurityGroupIngress as Json[] | undefined) ?? []) {
      if (rule.CidrIp === '0.0.0.0/0') {
        t.equal(groupId, albSg, 'only the ALB takes traffic from anywhere');
        t.ok([80, 443].includes(rule.FromPort as number), 'on 80 and 443 only');
      }
    }
  }
  const dbIngress = Object.values(resources(template, 'AWS::EC2::SecurityGroupIngress')).filter(
    (r) => json(r.Properties!.GroupId).includes(id(stack.data.databaseSecurityGroup)),
  );
  t.ok(dbIngress.length >= 1);
  for (const rule of dbIngress) {
    t.ok(rule.Properties!.SourceSecurityGroupId, 'Aurora accepts security groups, not CIDRs');
  }
});

t.test('least privilege: every statement of the task role', async (t) => {
  const role = id(stack.service.taskRole);
  const [, roleProps] = [role, template.toJSON().Resources[role].Properties as Json];
  t.equal(roleProps.Policies, undefined, 'no inline policies on the role');
  t.equal(roleProps.ManagedPolicyArns, undefined, 'no AWS managed policies on the role');
  const attached = [
    ...Object.values(resources(template, 'AWS::IAM::Policy')),
    ...Object.values(resources(template, 'AWS::IAM::ManagedPolicy')),
  ].filter((p) => json(p.Properties!.Roles ?? []).includes(`"Ref":"${role}"`));
  t.equal(attached.length, 1, 'one policy, the task policy');
  const all = attached.flatMap((p) => statements(p.Properties!.PolicyDocument));
  const chimeArn = 'arn:aws:chime:us-east-1:123456789012:meeting/*';
  for (const statement of all) {
    t.equal(statement.Effect, 'Allow');
    for (const action of statement.Action) {
      t.notMatch(action, /\*/, `action ${action} names one API call`);
    }
    for (const resource of statement.Resource) {
      t.not(resource, '*', `${statement.Sid} names its resources`);
      const text = json(resource);
      if (text.includes('*')) {
        t.ok(
          resource === chimeArn ||
            text === json({ 'Fn::Join': ['', [arnOf(stack.data.documentsBucket), '/*']] }),
          `${statement.Sid}: the only wildcards are Chime meetings and document objects`,
        );
      }
    }
  }
  const bySid = Object.fromEntries(all.map((s) => [s.Sid, s]));
  t.same(sorted(bySid.HealthLakeDataPlane?.Action), sorted(HEALTHLAKE_ACTIONS));
  t.same(bySid.HealthLakeDataPlane?.Resource, [
    { 'Fn::GetAtt': [id(stack.data.datastore), 'DatastoreArn'] },
  ]);
  t.same(sorted(bySid.ChimeMeetings?.Action), sorted(CHIME_ACTIONS));
  t.same(bySid.ChimeMeetings?.Resource, [chimeArn]);
  t.same(sorted(bySid.DocumentObjects?.Action), sorted(S3_ACTIONS));
  t.same(sorted(bySid.DataKeys?.Action), sorted(KMS_ACTIONS));
  t.same(bySid.DataKeys?.Resource, [arnOf(keys.documents), arnOf(keys.healthlake)]);
  t.same(Object.keys(bySid).sort(), [
    'ChimeMeetings',
    'DataKeys',
    'DocumentObjects',
    'HealthLakeDataPlane',
  ]);
});

t.test('no IAM policy in the stack grants a wildcard action', async (t) => {
  const documents = [
    ...Object.values(resources(template, 'AWS::IAM::Policy')).map(
      (p) => p.Properties!.PolicyDocument,
    ),
    ...Object.values(resources(template, 'AWS::IAM::ManagedPolicy')).map(
      (p) => p.Properties!.PolicyDocument,
    ),
    ...Object.values(resources(template, 'AWS::IAM::Role')).flatMap((r) =>
      ((r.Properties!.Policies as Json[] | undefined) ?? []).map((p) => p.PolicyDocument),
    ),
  ];
  t.ok(documents.length > 0);
  for (const document of documents) {
    for (const statement of statements(document)) {
      for (const action of statement.Action) {
        t.notMatch(action, /^(\*|[a-z0-9-]+:\*)$/, `no "${action}"`);
      }
    }
  }
});

t.test('identity: password policy, MFA, threat protection, groups, SMART scopes', async (t) => {
  const [, pool] = only(template, 'AWS::Cognito::UserPool');
  t.same((pool.Policies as Json).PasswordPolicy, {
    MinimumLength: 12,
    RequireLowercase: true,
    RequireUppercase: true,
    RequireNumbers: true,
    RequireSymbols: true,
    TemporaryPasswordValidityDays: 3,
    PasswordHistorySize: 12,
  });
  t.equal(pool.MfaConfiguration, 'OPTIONAL', 'patients may choose');
  t.same(pool.EnabledMfas, ['SOFTWARE_TOKEN_MFA']);
  t.same(pool.UserPoolAddOns, { AdvancedSecurityMode: 'ENFORCED' });
  t.equal(pool.UserPoolTier, 'PLUS');
  t.same((pool.LambdaConfig as Json).PreTokenGenerationConfig, {
    LambdaArn: arnOf(stack.identity.tokenTrigger),
    LambdaVersion: 'V2_0',
  });
  t.equal(pool.DeviceConfiguration, undefined, 'no remembered devices that skip MFA');
  t.equal(
    pool.AdminCreateUserConfig && (pool.AdminCreateUserConfig as Json).AllowAdminCreateUserOnly,
    true,
  );

  const groups = Object.values(resources(template, 'AWS::Cognito::UserPoolGroup')).map(
    (g) => g.Properties!.GroupName,
  );
  t.same(groups.sort(), [
    'ADMIN',
    'GUARDIAN',
    'NURSE',
    'PATIENT',
    'PROVIDER',
    'RECEPTIONIST',
    'STAFF',
  ]);

  const servers = Object.values(resources(template, 'AWS::Cognito::UserPoolResourceServer'));
  const scopes = servers.flatMap((s) =>
    (s.Properties!.Scopes as Json[]).map(
      (scope) => `${s.Properties!.Identifier}/${scope.ScopeName}`,
    ),
  );
  for (const scope of [
    'patient/*.rs',
    'user/*.cruds',
    'system/*.rs',
    'system/*.cruds',
    'launch/patient',
  ]) {
    t.ok(scopes.includes(scope), `Cognito issues the SMART scope ${scope}`);
  }
  t.equal(scopes.length, Object.values(SMART_SCOPES).flat().length);
  for (const scope of scopes) {
    const name = scope.slice(scope.indexOf('/') + 1);
    t.match(name, /^[\x21\x23-\x2E\x30-\x5B\x5D-\x7E]+$/, `${name} is a valid Cognito scope name`);
  }

  const [, client] = only(template, 'AWS::Cognito::UserPoolClient');
  t.same(client.AllowedOAuthFlows, ['code']);
  t.equal(client.GenerateSecret, false);
  t.same([...(client.AllowedOAuthScopes as string[])].sort(), [...SMART_APP_SCOPES].sort());
  t.notOk(
    (client.AllowedOAuthScopes as string[]).some((s) => s.startsWith('system/')),
    'backend-only system/ scopes are not offered to the user-facing app',
  );
  t.notMatch(json(client.WriteAttributes), /custom:/, 'users cannot set fhirUser or patient');
  t.same(client.CallbackURLs, ['https://app.example.com/callback']);
  t.equal(client.PreventUserExistenceErrors, 'ENABLED');

  const triggerPolicies = Object.values(resources(template, 'AWS::IAM::ManagedPolicy')).filter(
    (p) => json(p.Properties!.Roles).includes(id(stack.identity.tokenTrigger.role as never)),
  );
  const triggerStatements = triggerPolicies.flatMap((p) =>
    statements(p.Properties!.PolicyDocument),
  );
  const adminGetUser = triggerStatements.find((s) => s.Action.includes('cognito-idp:AdminGetUser'));
  t.same(adminGetUser?.Action, ['cognito-idp:AdminGetUser']);
  t.same(adminGetUser?.Resource, [arnOf(stack.identity.userPool)]);
  template.hasResourceProperties('AWS::Lambda::Function', {
    Runtime: 'nodejs24.x',
    Handler: 'index.handler',
    VpcConfig: Match.anyValue(),
  });
});

t.test('audit: CloudTrail with documents data events, validation, CloudWatch copy', async (t) => {
  const [, trail] = only(template, 'AWS::CloudTrail::Trail');
  t.equal(trail.EnableLogFileValidation, true);
  t.equal(trail.IsMultiRegionTrail, true);
  t.equal(trail.IncludeGlobalServiceEvents, true);
  t.ok(trail.CloudWatchLogsLogGroupArn);
  const selectors = trail.EventSelectors as Json[];
  const data = selectors.find((s) => s.DataResources);
  t.same(data?.DataResources, [
    {
      Type: 'AWS::S3::Object',
      Values: [{ 'Fn::Join': ['', [arnOf(stack.data.documentsBucket), '/']] }],
    },
  ]);
  t.equal(data?.ReadWriteType, 'All');
  const [, keyPolicy] = [0, template.toJSON().Resources[id(keys.logs)].Properties.KeyPolicy];
  t.ok(
    statements(keyPolicy).some((s) => json(s.Principal).includes('cloudtrail.amazonaws.com')),
    'CloudTrail may use the logs key',
  );
});

t.test('alarms: ALB 5xx rate, p95 latency > 200 ms, Aurora CPU > 80 %, WAF blocks', async (t) => {
  const alarms = Object.values(resources(template, 'AWS::CloudWatch::Alarm')).map(
    (a) => a.Properties!,
  );
  t.equal(alarms.length, 4);
  const topic = ref(stack.audit.alarmTopic);
  for (const alarm of alarms) {
    t.same(alarm.AlarmActions, [topic], `${alarm.AlarmName} notifies the topic`);
  }
  const byName = Object.fromEntries(alarms.map((a) => [a.AlarmName as string, a]));
  const p95 = byName['telefhir-p95-response-time']!;
  t.equal(p95.ExtendedStatistic, 'p95');
  t.equal(p95.MetricName, 'TargetResponseTime');
  t.equal(p95.Threshold, 0.2, '200 ms, in the metric unit (seconds)');
  const cpu = byName['telefhir-aurora-cpu']!;
  t.equal(cpu.MetricName, 'CPUUtilization');
  t.equal(cpu.Namespace, 'AWS/RDS');
  t.equal(cpu.Threshold, 80);
  t.same(cpu.Dimensions, [{ Name: 'DBClusterIdentifier', Value: ref(stack.data.database) }]);
  const waf = byName['telefhir-waf-blocked-spike']!;
  t.equal(waf.Namespace, 'AWS/WAFV2');
  t.equal(waf.MetricName, 'BlockedRequests');
  t.equal(waf.Threshold, 500);
  const rate = byName['telefhir-alb-5xx-rate']!;
  t.equal(rate.Threshold, 1);
  const metrics = rate.Metrics as Json[];
  t.match(json(metrics), /HTTPCode_ELB_5XX_Count/);
  t.match(json(metrics), /HTTPCode_Target_5XX_Count/);
  t.match(json(metrics), /RequestCount/);
  template.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: TEST_CONTEXT.alarmEmail,
  });
});

t.test('account security: GuardDuty detector and Security Hub', async (t) => {
  const security = built.securityTemplate!;
  security.hasResourceProperties('AWS::GuardDuty::Detector', { Enable: true });
  security.hasResourceProperties('AWS::SecurityHub::Hub', { EnableDefaultStandards: true });
  const without = build({ accountSecurity: 'false' }, { nag: false });
  t.equal(without.accountSecurity, undefined, 'accountSecurity=false leaves the stack out');
});
