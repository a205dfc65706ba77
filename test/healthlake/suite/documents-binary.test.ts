// The documents tests (binary), run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../documents/binary.test.js');
