// The documents tests (document-reference), run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../documents/document-reference.test.js');
