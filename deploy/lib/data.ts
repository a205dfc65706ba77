import { Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as healthlake from 'aws-cdk-lib/aws-healthlake';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Settings } from './config';
import type { Keys } from './keys';
import type { Network } from './network';

export interface DataProps {
  settings: Settings;
  keys: Keys;
  network: Network;
}

/** Seven years, the retention of audit material (HIPAA asks six). */
export const SEVEN_YEARS_DAYS = 2557;
export const DATABASE_NAME = 'telefhir';
export const DATABASE_PORT = 5432;
export const DB_CLUSTER_IDENTIFIER = 'telefhir';

/**
 * The stores: the S3 log bucket (server and ALB access logs), the documents bucket, the
 * HealthLake FHIR data store and Aurora PostgreSQL Serverless v2. Everything is kept when the
 * stack is deleted (Aurora leaves a final snapshot).
 */
export class Data extends Construct {
  readonly accessLogsBucket: s3.Bucket;
  readonly documentsBucket: s3.Bucket;
  readonly datastore: healthlake.CfnFHIRDatastore;
  readonly healthlakeEndpoint: string;
  readonly database: rds.DatabaseCluster;
  readonly databaseSecurityGroup: ec2.SecurityGroup;
  readonly databaseLogGroup: logs.LogGroup;
  readonly backupPlan: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: DataProps) {
    super(scope, id);
    const { settings, keys, network } = props;
    const { region } = Stack.of(this);

    // S3 server access logging and ALB access logging can only write to SSE-S3 buckets.
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'archive-then-expire',
          transitions: [
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(90) },
          ],
          expiration: Duration.days(SEVEN_YEARS_DAYS),
          noncurrentVersionExpiration: Duration.days(30),
        },
      ],
    });

    this.documentsBucket = new s3.Bucket(this, 'Documents', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: keys.documents,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'documents/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'glacier-90-deep-archive-365',
          transitions: [
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(90) },
            { storageClass: s3.StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(365) },
          ],
          noncurrentVersionTransitions: [
            { storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(90) },
            { storageClass: s3.StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(365) },
          ],
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
    });

    this.datastore = new healthlake.CfnFHIRDatastore(this, 'FhirDatastore', {
      datastoreName: 'telefhir',
      datastoreTypeVersion: 'R4',
      sseConfiguration: {
        kmsEncryptionConfig: {
          cmkType: 'CUSTOMER_MANAGED_KMS_KEY',
          kmsKeyId: keys.healthlake.keyArn,
        },
      },
    });
    this.datastore.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.healthlakeEndpoint = Fn.join('', [
      `https://healthlake.${region}.amazonaws.com/datastore/`,
      this.datastore.attrDatastoreId,
      '/r4/',
    ]);

    this.databaseSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc: network.vpc,
      description: 'Aurora: Postgres from the service (and the rotation function) only',
      allowAllOutbound: false,
    });

    // Created before the cluster so its retention and key apply from the first line.
    this.databaseLogGroup = new logs.LogGroup(this, 'PostgresLogs', {
      logGroupName: `/aws/rds/cluster/${DB_CLUSTER_IDENTIFIER}/postgresql`,
      encryptionKey: keys.logs,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const engine = rds.DatabaseClusterEngine.auroraPostgres({
      version: rds.AuroraPostgresEngineVersion.VER_15_17,
    });
    const parameterGroup = new rds.ParameterGroup(this, 'ClusterParameters', {
      engine,
      description: 'telefhir: TLS only, connection logging',
      parameters: {
        'rds.force_ssl': '1',
        log_connections: '1',
        log_disconnections: '1',
        // Statements are not logged: their parameters may be PHI.
        log_statement: 'none',
        log_min_duration_statement: '-1',
      },
    });

    const instance = (az: string | undefined) => ({
      availabilityZone: az,
      autoMinorVersionUpgrade: true,
      publiclyAccessible: false,
      enablePerformanceInsights: true,
      performanceInsightEncryptionKey: keys.database,
    });
    const [writerAz, readerAz] = settings.availabilityZones;
    this.database = new rds.DatabaseCluster(this, 'Aurora', {
      engine,
      clusterIdentifier: DB_CLUSTER_IDENTIFIER,
      credentials: rds.Credentials.fromGeneratedSecret('telefhir', {
        secretName: 'telefhir/database',
        encryptionKey: keys.database,
      }),
      defaultDatabaseName: DATABASE_NAME,
      port: DATABASE_PORT,
      writer: rds.ClusterInstance.serverlessV2('Writer', instance(writerAz)),
      readers: [
        rds.ClusterInstance.serverlessV2('Reader', {
          ...instance(readerAz),
          scaleWithWriter: true,
        }),
      ],
      serverlessV2MinCapacity: settings.dbMinCapacity,
      serverlessV2MaxCapacity: settings.dbMaxCapacity,
      vpc: network.vpc,
      vpcSubnets: network.databaseSubnets,
      securityGroups: [this.databaseSecurityGroup],
      storageEncrypted: true,
      storageEncryptionKey: keys.database,
      backup: { retention: Duration.days(35), preferredWindow: '07:00-08:00' },
      preferredMaintenanceWindow: 'Sun:08:30-Sun:09:30',
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      copyTagsToSnapshot: true,
      iamAuthentication: true,
      parameterGroup,
      cloudwatchLogsExports: ['postgresql'],
      monitoringInterval: Duration.seconds(60),
    });
    this.database.node.addDependency(this.databaseLogGroup);

    // AWS Backup on top of Aurora's 35-day point-in-time recovery: daily recovery points kept
    // 35 days and monthly ones kept seven years, in a vault under the database key.
    const vault = new backup.BackupVault(this, 'BackupVault', {
      encryptionKey: keys.database,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.backupPlan = new backup.BackupPlan(this, 'BackupPlan', {
      backupVault: vault,
      backupPlanRules: [
        new backup.BackupPlanRule({
          ruleName: 'daily-35-days',
          scheduleExpression: events.Schedule.cron({ hour: '9', minute: '0' }),
          deleteAfter: Duration.days(35),
        }),
        new backup.BackupPlanRule({
          ruleName: 'monthly-7-years',
          scheduleExpression: events.Schedule.cron({ day: '1', hour: '10', minute: '0' }),
          deleteAfter: Duration.days(SEVEN_YEARS_DAYS),
        }),
      ],
    });
    this.backupPlan.addSelection('Aurora', {
      resources: [backup.BackupResource.fromRdsDatabaseCluster(this.database)],
    });

    // Single-user rotation every 30 days, the function in the service subnets reaching
    // Secrets Manager through its endpoint.
    this.database.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      vpcSubnets: network.serviceSubnets,
      endpoint: network.secretsManagerEndpoint,
    });
  }
}
