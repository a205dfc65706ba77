// Bulk $export, run against FHIR_STORE=healthlake and the HealthLake emulator: system and
// Patient level page the store's searches; Group level and `patient` answer 501 there.
process.env.TEST_STORE = 'healthlake';
await import('../../export/export.test.js');
