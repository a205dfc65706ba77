// The REST suite's conditional tests, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../rest/conditional.test.js');
