import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { Settings } from './config';
import { SEVEN_YEARS_DAYS, type Data } from './data';
import type { Keys } from './keys';
import type { Service } from './service';

export interface AuditProps {
  settings: Settings;
  keys: Keys;
  data: Data;
  service: Service;
}

/** Thresholds of the alarms, in the metrics' own units. */
export const ALARM_THRESHOLDS = {
  /** Percent of ALB requests answered 5xx (by the ALB or the targets) over 5 minutes. */
  alb5xxPercent: 1,
  /** p95 TargetResponseTime, seconds (the metric's unit): 200 ms. */
  p95ResponseSeconds: 0.2,
  /** Aurora cluster CPUUtilization, percent. */
  auroraCpuPercent: 80,
};

/**
 * CloudTrail (management events in every region, data events on the documents bucket, log
 * file validation, KMS-encrypted, copied to CloudWatch Logs) and the operational alarms, which
 * notify an encrypted SNS topic.
 */
export class Audit extends Construct {
  readonly trail: cloudtrail.Trail;
  readonly trailBucket: s3.Bucket;
  readonly alarmTopic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AuditProps) {
    super(scope, id);
    const { settings, keys, data, service } = props;

    this.trailBucket = new s3.Bucket(this, 'TrailBucket', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: keys.logs,
      bucketKeyEnabled: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      serverAccessLogsBucket: data.accessLogsBucket,
      serverAccessLogsPrefix: 'cloudtrail/',
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

    const trailLogs = new logs.LogGroup(this, 'TrailLogs', {
      encryptionKey: keys.logs,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      bucket: this.trailBucket,
      encryptionKey: keys.logs,
      enableFileValidation: true,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      managementEvents: cloudtrail.ReadWriteType.ALL,
      sendToCloudWatchLogs: true,
      cloudWatchLogGroup: trailLogs,
    });
    this.trail.addS3EventSelector([{ bucket: data.documentsBucket }], {
      readWriteType: cloudtrail.ReadWriteType.ALL,
      includeManagementEvents: false,
    });

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'telefhir alarms',
      masterKey: keys.logs,
      enforceSSL: true,
    });
    if (settings.alarmEmail) {
      this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    }
    const notify = new actions.SnsAction(this.alarmTopic);
    const alarm = (name: string, props: cloudwatch.AlarmProps) => {
      const created = new cloudwatch.Alarm(this, name, props);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      this.alarms.push(created);
      return created;
    };

    const alb = service.loadBalancer.metrics;
    const fiveMinutes = Duration.minutes(5);
    alarm('Alb5xxRate', {
      alarmName: 'telefhir-alb-5xx-rate',
      alarmDescription: `More than ${ALARM_THRESHOLDS.alb5xxPercent}% of requests answered 5xx over 5 minutes`,
      metric: new cloudwatch.MathExpression({
        expression: 'IF(requests > 0, 100 * (FILL(elb5xx, 0) + FILL(target5xx, 0)) / requests, 0)',
        usingMetrics: {
          elb5xx: alb.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, {
            period: fiveMinutes,
            statistic: 'Sum',
          }),
          target5xx: alb.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
            period: fiveMinutes,
            statistic: 'Sum',
          }),
          requests: alb.requestCount({ period: fiveMinutes, statistic: 'Sum' }),
        },
        period: fiveMinutes,
        label: 'ALB 5xx %',
      }),
      threshold: ALARM_THRESHOLDS.alb5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    alarm('TargetResponseP95', {
      alarmName: 'telefhir-p95-response-time',
      alarmDescription: 'p95 target response time above 200 ms for 3 of 3 minutes',
      metric: alb.targetResponseTime({ period: Duration.minutes(1), statistic: 'p95' }),
      threshold: ALARM_THRESHOLDS.p95ResponseSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    alarm('AuroraCpu', {
      alarmName: 'telefhir-aurora-cpu',
      alarmDescription: `Aurora CPU above ${ALARM_THRESHOLDS.auroraCpuPercent}% for 3 of 3 periods of 5 minutes`,
      metric: data.database.metricCPUUtilization({ period: fiveMinutes, statistic: 'Average' }),
      threshold: ALARM_THRESHOLDS.auroraCpuPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });

    alarm('WafBlockedSpike', {
      alarmName: 'telefhir-waf-blocked-spike',
      alarmDescription: `WAF blocked more than ${settings.wafBlockedRequestsThreshold} requests in 5 minutes`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/WAFV2',
        metricName: 'BlockedRequests',
        dimensionsMap: {
          WebACL: service.webAcl.name!,
          Region: service.webAcl.stack.region,
          Rule: 'ALL',
        },
        period: fiveMinutes,
        statistic: 'Sum',
      }),
      threshold: settings.wafBlockedRequestsThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
