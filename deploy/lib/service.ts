import { ArnFormat, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import type { Settings } from './config';
import { DATABASE_NAME, DATABASE_PORT, type Data } from './data';
import type { Identity } from './identity';
import type { Keys } from './keys';
import type { Network } from './network';
import { repoRoot } from './paths';

export const CONTAINER_PORT = 8080;

/** The HealthLake data-plane actions the server uses, and nothing that manages data stores. */
export const HEALTHLAKE_ACTIONS = [
  'healthlake:ReadResource',
  'healthlake:SearchWithGet',
  'healthlake:SearchWithPost',
  'healthlake:CreateResource',
  'healthlake:UpdateResource',
  'healthlake:DeleteResource',
  'healthlake:GetCapabilities',
  'healthlake:DescribeFHIRDatastore',
];
/** The Chime SDK meeting calls in src/video/chime.ts. */
export const CHIME_ACTIONS = [
  'chime:CreateMeeting',
  'chime:CreateAttendee',
  'chime:GetMeeting',
  'chime:DeleteMeeting',
];
/** Objects in the documents bucket; AbortMultipartUpload for @aws-sdk/lib-storage uploads. */
export const S3_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'];
export const KMS_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'];

/** Every Chime SDK meeting of this account in this region (ids are generated per visit). */
export function chimeMeetingsArn(stack: Stack): string {
  return `arn:${stack.partition}:chime:${stack.region}:${stack.account}:meeting/*`;
}

export interface ServiceProps {
  settings: Settings;
  network: Network;
  keys: Keys;
  data: Data;
  identity: Identity;
}

/**
 * The FHIR server on ECS Fargate in private subnets (no public IPs) behind an internet-facing
 * ALB that speaks HTTPS only (TLS 1.2+; port 80 only redirects) and is guarded by AWS WAF.
 */
export class Service extends Construct {
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly httpsListener: elbv2.ApplicationListener;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly service: ecs.FargateService;
  readonly taskRole: iam.Role;
  readonly taskPolicy: iam.ManagedPolicy;
  readonly logGroup: logs.LogGroup;
  readonly webAcl: wafv2.CfnWebACL;
  readonly container: ecs.ContainerDefinition;

  constructor(scope: Construct, id: string, props: ServiceProps) {
    super(scope, id);
    const { settings, network, keys, data, identity } = props;
    const { account, region, partition } = Stack.of(this);
    const { vpc } = network;

    // --- load balancer ------------------------------------------------------------------------
    const albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc,
      description: 'Public ALB: HTTPS (and HTTP, which only redirects) from anywhere',
      allowAllOutbound: false,
    });
    albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS');
    albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP → HTTPS redirect');

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: albSecurityGroup,
      dropInvalidHeaderFields: true,
      deletionProtection: true,
      desyncMitigationMode: elbv2.DesyncMitigationMode.STRICTEST,
      idleTimeout: Duration.seconds(60),
    });
    this.loadBalancer.logAccessLogs(data.accessLogsBucket, 'alb');

    this.httpsListener = this.loadBalancer.addListener('Https', {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      certificates: [elbv2.ListenerCertificate.fromArn(settings.certificateArn)],
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      open: false,
    });
    this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      open: false,
      defaultAction: elbv2.ListenerAction.redirect({
        protocol: 'HTTPS',
        port: '443',
        permanent: true,
      }),
    });

    // --- task -------------------------------------------------------------------------------
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: '/telefhir/service',
      encryptionKey: keys.logs,
      retention: logs.RetentionDays.SEVEN_YEARS,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.taskRole = new iam.Role(this, 'TaskRole', {
      description: 'telefhir server task: HealthLake data plane, Chime meetings, documents',
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:ecs:${region}:${account}:*` },
        },
      }),
    });
    const meetings = chimeMeetingsArn(Stack.of(this));
    this.taskPolicy = new iam.ManagedPolicy(this, 'TaskPolicy', {
      description: 'telefhir server task: least privilege',
      roles: [this.taskRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'HealthLakeDataPlane',
          actions: HEALTHLAKE_ACTIONS,
          resources: [data.datastore.attrDatastoreArn],
        }),
        new iam.PolicyStatement({
          sid: 'ChimeMeetings',
          actions: CHIME_ACTIONS,
          resources: [meetings],
        }),
        new iam.PolicyStatement({
          sid: 'DocumentObjects',
          actions: S3_ACTIONS,
          resources: [data.documentsBucket.arnForObjects('*')],
        }),
        new iam.PolicyStatement({
          sid: 'DataKeys',
          actions: KMS_ACTIONS,
          resources: [keys.documents.keyArn, keys.healthlake.keyArn],
        }),
      ],
    });

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: settings.taskCpu,
      memoryLimitMiB: settings.taskMemoryMiB,
      taskRole: this.taskRole,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    const db = data.database;
    const secret = db.secret!;
    const baseUrl = `https://${settings.domainName}/fhir`;
    this.container = taskDefinition.addContainer('fhir', {
      image: ecs.ContainerImage.fromAsset(repoRoot, {
        file: 'Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      essential: true,
      portMappings: [{ containerPort: CONTAINER_PORT, protocol: ecs.Protocol.TCP }],
      environment: {
        NODE_ENV: 'production',
        HOST: '0.0.0.0',
        PORT: String(CONTAINER_PORT),
        LOG_LEVEL: 'info',
        FHIR_BASE_URL: baseUrl,
        FHIR_STORE: settings.fhirStore,
        HEALTHLAKE_ENDPOINT: data.healthlakeEndpoint,
        AWS_REGION: region,
        S3_BUCKET: data.documentsBucket.bucketName,
        KMS_KEY_ID: keys.documents.keyArn,
        VIDEO_PROVIDER: 'chime',
        AUTH_ISSUER: identity.issuer,
        AUTH_AUDIENCE: identity.smartAppClient.userPoolClientId,
        AUTH_JWKS_URI: identity.jwksUri,
        AUTH_AUTHORIZATION_ENDPOINT: identity.authorizationEndpoint,
        AUTH_TOKEN_ENDPOINT: identity.tokenEndpoint,
        // No credentials here: node-postgres takes PGUSER/PGPASSWORD (below) for a URL
        // without them. verify-full checks the RDS CA bundle the image trusts.
        DATABASE_URL: `postgres://${db.clusterEndpoint.hostname}:${DATABASE_PORT}/${DATABASE_NAME}?sslmode=verify-full`,
      },
      secrets: {
        PGUSER: ecs.Secret.fromSecretsManager(secret, 'username'),
        PGPASSWORD: ecs.Secret.fromSecretsManager(secret, 'password'),
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: 'fhir',
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
      healthCheck: {
        command: [
          'CMD',
          'node',
          '-e',
          `fetch('http://127.0.0.1:${CONTAINER_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
        ],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      stopTimeout: Duration.seconds(30),
    });

    // --- service ----------------------------------------------------------------------------
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc,
      description: 'telefhir tasks: from the ALB; out to Aurora and HTTPS',
      allowAllOutbound: false,
    });
    serviceSecurityGroup.addIngressRule(
      albSecurityGroup,
      ec2.Port.tcp(CONTAINER_PORT),
      'ALB to the server',
    );
    albSecurityGroup.addEgressRule(
      serviceSecurityGroup,
      ec2.Port.tcp(CONTAINER_PORT),
      'ALB to the server',
    );
    serviceSecurityGroup.addEgressRule(
      ec2.Peer.anyIpv4(),
      ec2.Port.tcp(443),
      'AWS APIs (endpoints, NAT) and the Cognito JWKS',
    );
    serviceSecurityGroup.addEgressRule(
      data.databaseSecurityGroup,
      ec2.Port.tcp(DATABASE_PORT),
      'Aurora',
    );
    data.databaseSecurityGroup.addIngressRule(
      serviceSecurityGroup,
      ec2.Port.tcp(DATABASE_PORT),
      'telefhir tasks',
    );

    this.service = new ecs.FargateService(this, 'Service', {
      cluster,
      taskDefinition,
      desiredCount: settings.minTasks,
      assignPublicIp: false,
      vpcSubnets: network.serviceSubnets,
      securityGroups: [serviceSecurityGroup],
      platformVersion: ecs.FargatePlatformVersion.LATEST,
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(90),
      enableExecuteCommand: false,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });

    this.targetGroup = this.httpsListener.addTargets('Fhir', {
      port: CONTAINER_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service.loadBalancerTarget({ containerName: 'fhir' })],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        path: '/readyz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });

    const scaling = this.service.autoScaleTaskCount({
      minCapacity: settings.minTasks,
      maxCapacity: settings.maxTasks,
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 60,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: 1000,
      targetGroup: this.targetGroup,
      scaleInCooldown: Duration.minutes(5),
      scaleOutCooldown: Duration.minutes(1),
    });

    // --- WAF --------------------------------------------------------------------------------
    const visibility = (metricName: string) => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: 'telefhir',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('telefhir'),
      rules: [
        {
          name: 'RateLimitPerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: { limit: settings.wafRateLimit, aggregateKeyType: 'IP' },
          },
          visibilityConfig: visibility('RateLimitPerIp'),
        },
        {
          name: 'AWSManagedRulesCommonRuleSet',
          priority: 1,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesCommonRuleSet',
              // FHIR bundles and documents are larger than the rule's 8 KB body limit; the
              // server enforces its own BODY_LIMIT. Counted, not blocked.
              ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
            },
          },
          visibilityConfig: visibility('AWSManagedRulesCommonRuleSet'),
        },
        {
          name: 'AWSManagedRulesKnownBadInputsRuleSet',
          priority: 2,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: 'AWSManagedRulesKnownBadInputsRuleSet',
            },
          },
          visibilityConfig: visibility('AWSManagedRulesKnownBadInputsRuleSet'),
        },
      ],
    });
    new wafv2.CfnWebACLAssociation(this, 'WebAclAssociation', {
      resourceArn: this.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    // WAF requires the log group name to start with aws-waf-logs-. Bearer tokens and cookies
    // are redacted from the logged requests.
    const wafLogs = new logs.LogGroup(this, 'WafLogs', {
      logGroupName: 'aws-waf-logs-telefhir',
      encryptionKey: keys.logs,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new wafv2.CfnLoggingConfiguration(this, 'WafLogging', {
      resourceArn: this.webAcl.attrArn,
      logDestinationConfigs: [
        Stack.of(this).formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: wafLogs.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      redactedFields: [
        { singleHeader: { Name: 'authorization' } },
        { singleHeader: { Name: 'cookie' } },
      ],
    });
  }
}
