import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type AppProps, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks, HIPAASecurityChecks } from 'cdk-nag';
import { AccountSecurityStack } from './account-security-stack';
import { settingsOf, type Settings } from './config';
import { suppressNagFindings, type Suppression } from './nag';
import { deployRoot } from './paths';
import { TelefhirStack } from './telefhir-stack';

export interface TelefhirApp {
  app: App;
  settings: Settings;
  stack: TelefhirStack;
  accountSecurity: AccountSecurityStack | undefined;
  suppressions: Suppression[];
}

/** cdk.json's "context" (feature flags, settings): the same for the CLI, `node` and tests. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(deployRoot, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/**
 * The whole app: settings from context, the stacks, the documented cdk-nag suppressions, and
 * the HIPAA Security and AWS Solutions rule packs as aspects (they annotate at synthesis).
 */
export interface BuildOptions {
  /** Add the HIPAA Security and AWS Solutions packs (default true). */
  nag?: boolean;
  /** Apply the documented suppressions (default true; false to see what they hide). */
  suppress?: boolean;
}

export function buildApp(props: AppProps = {}, options: BuildOptions = {}): TelefhirApp {
  const app = new App({ ...props, context: { ...cdkJsonContext(), ...props.context } });
  const settings = settingsOf(app.node);
  const env = { account: settings.account, region: settings.region };
  const stack = new TelefhirStack(app, 'Telefhir', {
    env,
    settings,
    description: 'telefhir FHIR server: HIPAA-ready deployment',
  });
  const accountSecurity = settings.accountSecurity
    ? new AccountSecurityStack(app, 'TelefhirAccountSecurity', {
        env,
        description: 'telefhir: GuardDuty detector and Security Hub for this account and region',
      })
    : undefined;
  const suppressions = options.suppress === false ? [] : suppressNagFindings(stack);
  if (options.nag !== false) {
    Aspects.of(app).add(new HIPAASecurityChecks({ verbose: true }));
    Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  }
  return { app, settings, stack, accountSecurity, suppressions };
}
