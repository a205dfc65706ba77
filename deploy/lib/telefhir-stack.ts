import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Audit } from './audit';
import type { Settings } from './config';
import { Data } from './data';
import { Identity } from './identity';
import { Keys } from './keys';
import { Network } from './network';
import { Service } from './service';

export interface TelefhirStackProps extends StackProps {
  settings: Settings;
}

/** The application: network, keys, stores, identity, the service and its audit/alarms. */
export class TelefhirStack extends Stack {
  readonly keys: Keys;
  readonly network: Network;
  readonly data: Data;
  readonly identity: Identity;
  readonly service: Service;
  readonly audit: Audit;

  constructor(scope: Construct, id: string, props: TelefhirStackProps) {
    super(scope, id, { terminationProtection: true, ...props });
    const { settings } = props;
    Tags.of(this).add('application', 'telefhir');
    Tags.of(this).add('data-classification', 'phi');

    this.keys = new Keys(this, 'Keys');
    this.network = new Network(this, 'Network', { settings, logsKey: this.keys.logs });
    this.data = new Data(this, 'Data', { settings, keys: this.keys, network: this.network });
    this.identity = new Identity(this, 'Identity', {
      settings,
      network: this.network,
      logsKey: this.keys.logs,
    });
    this.service = new Service(this, 'Service', {
      settings,
      network: this.network,
      keys: this.keys,
      data: this.data,
      identity: this.identity,
    });
    this.audit = new Audit(this, 'Audit', {
      settings,
      keys: this.keys,
      data: this.data,
      service: this.service,
    });

    new CfnOutput(this, 'LoadBalancerDnsName', {
      description: `Point ${settings.domainName} (CNAME or alias) here`,
      value: this.service.loadBalancer.loadBalancerDnsName,
    });
    new CfnOutput(this, 'FhirBaseUrl', { value: `https://${settings.domainName}/fhir` });
    new CfnOutput(this, 'UserPoolId', { value: this.identity.userPool.userPoolId });
    new CfnOutput(this, 'SmartAppClientId', {
      value: this.identity.smartAppClient.userPoolClientId,
    });
    new CfnOutput(this, 'HealthLakeEndpoint', { value: this.data.healthlakeEndpoint });
    new CfnOutput(this, 'DocumentsBucket', { value: this.data.documentsBucket.bucketName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.audit.alarmTopic.topicArn });
  }
}
