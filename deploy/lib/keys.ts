import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/**
 * One customer managed key per kind of data, each with yearly automatic rotation, kept on
 * stack deletion (data encrypted under them outlives the stack):
 * - database: Aurora storage, Performance Insights, the database secret;
 * - documents: the S3 documents bucket;
 * - healthlake: the HealthLake FHIR data store;
 * - logs: CloudWatch log groups, CloudTrail, the trail bucket and the alarm topic.
 */
export class Keys extends Construct {
  readonly database: kms.Key;
  readonly documents: kms.Key;
  readonly healthlake: kms.Key;
  readonly logs: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const key = (name: string, description: string) =>
      new kms.Key(this, name, {
        alias: `alias/telefhir/${name.toLowerCase()}`,
        description,
        enableKeyRotation: true,
        rotationPeriod: Duration.days(365),
        pendingWindow: Duration.days(30),
        removalPolicy: RemovalPolicy.RETAIN,
      });
    this.database = key('Database', 'telefhir: Aurora storage, snapshots and database secret');
    this.documents = key('Documents', 'telefhir: S3 documents bucket (SSE-KMS)');
    this.healthlake = key('HealthLake', 'telefhir: HealthLake FHIR data store');
    this.logs = key('Logs', 'telefhir: CloudWatch Logs, CloudTrail and alarm notifications');

    const { account, region, partition } = Stack.of(this);
    // CloudWatch Logs encrypts this account's log groups with the logs key.
    this.logs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogs',
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:${region}:${account}:log-group:*`,
          },
        },
      }),
    );
    this.logs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsDescribe',
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Describe*'],
        resources: ['*'],
      }),
    );
    // CloudTrail encrypts log files for this account's trails.
    this.logs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailEncrypt',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          StringLike: {
            'kms:EncryptionContext:aws:cloudtrail:arn': `arn:${partition}:cloudtrail:*:${account}:trail/*`,
          },
        },
      }),
    );
    this.logs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudTrailDescribe',
        principals: [new iam.ServicePrincipal('cloudtrail.amazonaws.com')],
        actions: ['kms:DescribeKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
    // CloudWatch alarms publish to the encrypted SNS topic.
    this.logs.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
  }
}
