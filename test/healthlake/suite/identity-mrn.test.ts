// MRN assignment and uniqueness, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../identity/mrn.test.js');
