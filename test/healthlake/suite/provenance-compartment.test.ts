// The Provenance compartment tests, run against FHIR_STORE=healthlake and the HealthLake emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../auth/provenance-compartment.test.js');
