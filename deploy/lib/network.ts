import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Settings } from './config';

export const VPC_CIDR = '10.40.0.0/16';

export interface NetworkProps {
  settings: Settings;
  logsKey: kms.IKey;
}

/**
 * A VPC over the configured AZs: public subnets hold only the ALB and the NAT gateways (no
 * public IPs are assigned on launch), the service runs in private subnets, the database in
 * isolated ones. AWS APIs the server calls are reached through VPC endpoints; the NAT carries
 * what has no endpoint (Chime SDK meetings, the Cognito JWKS).
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  readonly serviceSubnets: ec2.SubnetSelection = { subnetGroupName: 'service' };
  readonly databaseSubnets: ec2.SubnetSelection = { subnetGroupName: 'database' };
  readonly secretsManagerEndpoint: ec2.InterfaceVpcEndpoint;
  readonly flowLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    const { settings, logsKey } = props;

    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      encryptionKey: logsKey,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(VPC_CIDR),
      availabilityZones: settings.availabilityZones,
      natGateways: settings.natGateways,
      restrictDefaultSecurityGroup: true,
      subnetConfiguration: [
        {
          name: 'public',
          subnetType: ec2.SubnetType.PUBLIC,
          cidrMask: 24,
          mapPublicIpOnLaunch: false,
        },
        { name: 'service', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    this.vpc.addGatewayEndpoint('S3', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [this.serviceSubnets, this.databaseSubnets],
    });

    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface VPC endpoints: HTTPS from inside the VPC only',
      allowAllOutbound: false,
    });
    endpointSg.addIngressRule(ec2.Peer.ipv4(VPC_CIDR), ec2.Port.tcp(443), 'HTTPS from the VPC');
    const endpoint = (name: string, service: ec2.InterfaceVpcEndpointAwsService) =>
      this.vpc.addInterfaceEndpoint(name, {
        service,
        subnets: this.serviceSubnets,
        securityGroups: [endpointSg],
        privateDnsEnabled: true,
        open: false,
      });
    endpoint('HealthLake', ec2.InterfaceVpcEndpointAwsService.HEALTHLAKE);
    endpoint('Kms', ec2.InterfaceVpcEndpointAwsService.KMS);
    this.secretsManagerEndpoint = endpoint(
      'SecretsManager',
      ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    );
    endpoint('Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS);
    endpoint('Ecr', ec2.InterfaceVpcEndpointAwsService.ECR);
    endpoint('EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER);
  }
}
