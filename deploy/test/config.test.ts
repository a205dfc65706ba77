import t from 'tap';
import { DEFAULTS, settingsFrom, SettingsError } from '../lib/config';

const from = (context: Record<string, unknown>) => settingsFrom((key) => context[key]);

t.test('defaults synthesize offline with a fixed account and region', async (t) => {
  const settings = from({});
  t.equal(settings.account, '123456789012');
  t.equal(settings.region, 'us-east-1');
  t.same(settings.availabilityZones, ['us-east-1a', 'us-east-1b']);
  t.equal(settings.fhirStore, 'healthlake');
  t.equal(settings.alarmEmail, undefined);
  t.equal(settings.accountSecurity, true);
  t.equal(settings.minTasks, DEFAULTS.minTasks);
});

t.test('context strings from -c are parsed', async (t) => {
  const settings = from({
    account: '210987654321',
    region: 'eu-west-2',
    availabilityZones: 'eu-west-2a, eu-west-2b,eu-west-2c',
    smartAppCallbackUrls: 'https://a.example/cb,https://b.example/cb',
    minTasks: '3',
    maxTasks: '6',
    dbMaxCapacity: '32',
    accountSecurity: 'false',
    natGateways: '3',
    alarmEmail: 'ops@example.org',
    domainName: 'FHIR.Example.ORG',
  });
  t.same(settings.availabilityZones, ['eu-west-2a', 'eu-west-2b', 'eu-west-2c']);
  t.same(settings.smartAppCallbackUrls, ['https://a.example/cb', 'https://b.example/cb']);
  t.equal(settings.minTasks, 3);
  t.equal(settings.maxTasks, 6);
  t.equal(settings.dbMaxCapacity, 32);
  t.equal(settings.accountSecurity, false);
  t.equal(settings.natGateways, 3);
  t.equal(settings.alarmEmail, 'ops@example.org');
  t.equal(settings.domainName, 'fhir.example.org');
});

t.test('cdk.json values keep their JSON types', async (t) => {
  const settings = from({
    availabilityZones: ['us-east-1b', 'us-east-1c'],
    minTasks: 4,
    maxTasks: 4,
  });
  t.same(settings.availabilityZones, ['us-east-1b', 'us-east-1c']);
  t.equal(settings.minTasks, 4);
});

t.test('bad settings stop synthesis with a message naming the setting', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ account: '1234' }, /account/],
    [{ region: 'mars-1' }, /region/],
    [{ availabilityZones: 'us-east-1a' }, /2 or 3 zones/],
    [{ availabilityZones: 'us-east-1a,eu-west-1b' }, /not in region/],
    [{ domainName: 'https://fhir.example.org' }, /domainName/],
    [{ certificateArn: 'arn:aws:iam::123456789012:server-certificate/x' }, /certificateArn/],
    [{ smartAppCallbackUrls: 'http://app.example.org/cb' }, /https/],
    [{ minTasks: '5', maxTasks: '2' }, /maxTasks/],
    [{ minTasks: 'two' }, /minTasks/],
    [{ dbMinCapacity: '8', dbMaxCapacity: '4' }, /dbMaxCapacity/],
    [{ fhirStore: 'dynamo' }, /fhirStore/],
    [{ accountSecurity: 'yes' }, /accountSecurity/],
    [{ alarmEmail: 'not-an-address' }, /alarmEmail/],
    [{ authDomainPrefix: 'Has_Capitals' }, /authDomainPrefix/],
    [{ natGateways: '3' }, /natGateways/],
  ];
  for (const [context, message] of cases) {
    t.throws(() => from(context), { name: SettingsError.name, message }, JSON.stringify(context));
  }
});
