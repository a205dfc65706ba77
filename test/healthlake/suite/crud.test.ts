// The REST suite's crud tests, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../rest/crud.test.js');
