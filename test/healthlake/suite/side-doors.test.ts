// The side-door attacks (issue "Wave 2, step 1"), run against FHIR_STORE=healthlake and the emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../auth/side-doors.test.js');
