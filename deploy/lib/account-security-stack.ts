import { Stack, type StackProps } from 'aws-cdk-lib';
import * as guardduty from 'aws-cdk-lib/aws-guardduty';
import * as securityhub from 'aws-cdk-lib/aws-securityhub';
import type { Construct } from 'constructs';

/**
 * Account-and-region services that exist once: a GuardDuty detector and Security Hub. A
 * separate stack because an account that already has them (say, from AWS Organizations)
 * must skip it: `-c accountSecurity=false`.
 */
export class AccountSecurityStack extends Stack {
  readonly detector: guardduty.CfnDetector;
  readonly hub: securityhub.CfnHub;

  constructor(scope: Construct, id: string, props: StackProps) {
    super(scope, id, props);
    this.detector = new guardduty.CfnDetector(this, 'GuardDuty', {
      enable: true,
      findingPublishingFrequency: 'FIFTEEN_MINUTES',
      features: [
        { name: 'S3_DATA_EVENTS', status: 'ENABLED' },
        { name: 'RDS_LOGIN_EVENTS', status: 'ENABLED' },
      ],
    });
    this.hub = new securityhub.CfnHub(this, 'SecurityHub', {
      enableDefaultStandards: true,
      controlFindingGenerator: 'SECURITY_CONTROL',
      autoEnableControls: true,
    });
  }
}
