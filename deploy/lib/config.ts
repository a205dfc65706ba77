/**
 * Deployment settings, read from CDK context (`cdk.json` "context", or `-c key=value` on the
 * command line). Every setting has a default so the app synthesizes offline with no AWS
 * account; the defaults marked "placeholder" must be changed before `cdk deploy`.
 */
import type { Node } from 'constructs';

export type FhirStoreKind = 'healthlake' | 'postgres';

export interface Settings {
  /** AWS account id. Placeholder: 123456789012. */
  account: string;
  /** AWS region; HealthLake and the Chime SDK must both be offered there. */
  region: string;
  /**
   * The two (or three) AZs the VPC spans. Given explicitly so synthesis never needs an AZ
   * lookup; default `<region>a`, `<region>b`. The Aurora writer goes in the first, the reader
   * in the second.
   */
  availabilityZones: string[];
  /** Public host name of the API (the ALB's DNS alias). Placeholder: fhir.example.com. */
  domainName: string;
  /** ACM certificate for domainName, in `region`. Placeholder ARN. */
  certificateArn: string;
  /** Cognito hosted-domain prefix (`<prefix>.auth.<region>.amazoncognito.com`); globally unique. */
  authDomainPrefix: string;
  /** Redirect URIs of the SMART app client (authorization code + PKCE). */
  smartAppCallbackUrls: string[];
  smartAppLogoutUrls: string[];
  /** Where alarm notifications are e-mailed; none → the SNS topic has no subscription. */
  alarmEmail: string | undefined;
  /** Clinical store the server uses (`FHIR_STORE`). */
  fhirStore: FhirStoreKind;
  natGateways: number;
  /** Fargate tasks: running count bounds for auto scaling. */
  minTasks: number;
  maxTasks: number;
  taskCpu: number;
  taskMemoryMiB: number;
  /** Aurora Serverless v2 capacity in ACUs. */
  dbMinCapacity: number;
  dbMaxCapacity: number;
  /** WAF rate-based rule: requests per client IP per 5 minutes. */
  wafRateLimit: number;
  /** Alarm when WAF blocks more than this many requests in 5 minutes. */
  wafBlockedRequestsThreshold: number;
  /** Deploy the account-level security stack (GuardDuty detector, Security Hub). */
  accountSecurity: boolean;
}

export const PLACEHOLDER_ACCOUNT = '123456789012';
export const PLACEHOLDER_CERTIFICATE =
  'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000';

export const DEFAULTS: Omit<Settings, 'availabilityZones'> = {
  account: PLACEHOLDER_ACCOUNT,
  region: 'us-east-1',
  domainName: 'fhir.example.com',
  certificateArn: PLACEHOLDER_CERTIFICATE,
  authDomainPrefix: 'telefhir-example',
  smartAppCallbackUrls: ['https://app.example.com/callback'],
  smartAppLogoutUrls: ['https://app.example.com/'],
  alarmEmail: undefined,
  fhirStore: 'healthlake',
  natGateways: 2,
  minTasks: 2,
  maxTasks: 10,
  taskCpu: 1024,
  taskMemoryMiB: 2048,
  dbMinCapacity: 0.5,
  dbMaxCapacity: 16,
  wafRateLimit: 2000,
  wafBlockedRequestsThreshold: 500,
  accountSecurity: true,
};

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

type Context = (key: string) => unknown;

/** Context values given with `-c` arrive as strings; cdk.json ones keep their JSON type. */
function text(get: Context, key: keyof Settings, fallback: string): string {
  const value = get(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (typeof value !== 'string') throw new SettingsError(`context ${key} must be a string`);
  return value.trim();
}

function list(get: Context, key: keyof Settings, fallback: string[]): string[] {
  const value = get(key);
  if (value === undefined || value === null || value === '') return fallback;
  const items = Array.isArray(value) ? value : String(value).split(',');
  const strings = items.map((item) => String(item).trim()).filter((item) => item !== '');
  if (strings.length === 0) throw new SettingsError(`context ${key} must not be empty`);
  return strings;
}

function number(get: Context, key: keyof Settings, fallback: number, min: number, max: number) {
  const value = get(key);
  if (value === undefined || value === null || value === '') return fallback;
  const parsed = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new SettingsError(`context ${key} must be a number from ${min} to ${max}`);
  }
  return parsed;
}

function flag(get: Context, key: keyof Settings, fallback: boolean): boolean {
  const value = get(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new SettingsError(`context ${key} must be true or false`);
}

function https(key: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SettingsError(`context ${key} must hold absolute URLs (got "${value}")`);
  }
  if (url.protocol !== 'https:') {
    throw new SettingsError(`context ${key} must hold https URLs (got "${value}")`);
  }
  return value;
}

export function settingsFrom(get: Context): Settings {
  const account = text(get, 'account', DEFAULTS.account);
  if (!/^\d{12}$/.test(account)) throw new SettingsError('context account must be 12 digits');
  const region = text(get, 'region', DEFAULTS.region);
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new SettingsError(`context region is not an AWS region name (got "${region}")`);
  }
  const availabilityZones = list(get, 'availabilityZones', [`${region}a`, `${region}b`]);
  if (availabilityZones.length < 2 || availabilityZones.length > 3) {
    throw new SettingsError('context availabilityZones must name 2 or 3 zones (Multi-AZ)');
  }
  for (const az of availabilityZones) {
    if (!az.startsWith(region)) {
      throw new SettingsError(`availability zone ${az} is not in region ${region}`);
    }
  }
  const domainName = text(get, 'domainName', DEFAULTS.domainName).toLowerCase();
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(domainName)) {
    throw new SettingsError(`context domainName is not a host name (got "${domainName}")`);
  }
  const certificateArn = text(get, 'certificateArn', DEFAULTS.certificateArn);
  if (!/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(certificateArn)) {
    throw new SettingsError('context certificateArn must be an ACM certificate ARN');
  }
  const authDomainPrefix = text(get, 'authDomainPrefix', DEFAULTS.authDomainPrefix);
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(authDomainPrefix)) {
    throw new SettingsError('context authDomainPrefix must be lower-case letters, digits, -');
  }
  const alarmEmail = text(get, 'alarmEmail', '') || undefined;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new SettingsError('context alarmEmail must be an e-mail address');
  }
  const fhirStore = text(get, 'fhirStore', DEFAULTS.fhirStore);
  if (fhirStore !== 'healthlake' && fhirStore !== 'postgres') {
    throw new SettingsError('context fhirStore must be healthlake or postgres');
  }
  const minTasks = number(get, 'minTasks', DEFAULTS.minTasks, 1, 100);
  const maxTasks = number(get, 'maxTasks', DEFAULTS.maxTasks, 1, 100);
  if (maxTasks < minTasks) throw new SettingsError('context maxTasks must be ≥ minTasks');
  const dbMinCapacity = number(get, 'dbMinCapacity', DEFAULTS.dbMinCapacity, 0.5, 256);
  const dbMaxCapacity = number(get, 'dbMaxCapacity', DEFAULTS.dbMaxCapacity, 1, 256);
  if (dbMaxCapacity < dbMinCapacity) {
    throw new SettingsError('context dbMaxCapacity must be ≥ dbMinCapacity');
  }
  return {
    account,
    region,
    availabilityZones,
    domainName,
    certificateArn,
    authDomainPrefix,
    smartAppCallbackUrls: list(get, 'smartAppCallbackUrls', DEFAULTS.smartAppCallbackUrls).map(
      (url) => https('smartAppCallbackUrls', url),
    ),
    smartAppLogoutUrls: list(get, 'smartAppLogoutUrls', DEFAULTS.smartAppLogoutUrls).map((url) =>
      https('smartAppLogoutUrls', url),
    ),
    alarmEmail,
    fhirStore,
    natGateways: number(get, 'natGateways', DEFAULTS.natGateways, 1, availabilityZones.length),
    minTasks,
    maxTasks,
    taskCpu: number(get, 'taskCpu', DEFAULTS.taskCpu, 256, 16384),
    taskMemoryMiB: number(get, 'taskMemoryMiB', DEFAULTS.taskMemoryMiB, 512, 122880),
    dbMinCapacity,
    dbMaxCapacity,
    wafRateLimit: number(get, 'wafRateLimit', DEFAULTS.wafRateLimit, 10, 2_000_000_000),
    wafBlockedRequestsThreshold: number(
      get,
      'wafBlockedRequestsThreshold',
      DEFAULTS.wafBlockedRequestsThreshold,
      1,
      1_000_000_000,
    ),
    accountSecurity: flag(get, 'accountSecurity', DEFAULTS.accountSecurity),
  };
}

/** Settings from a construct tree's context (the App's). */
export function settingsOf(node: Node): Settings {
  return settingsFrom((key) => node.tryGetContext(key));
}
