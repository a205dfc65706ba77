// The access matrix, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../auth/access-matrix.test.js');
