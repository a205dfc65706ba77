// The US Core side-door tests, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../auth/us-core-reach.test.js');
