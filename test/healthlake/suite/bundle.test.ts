// The REST suite's bundle tests, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../rest/bundle.test.js');
