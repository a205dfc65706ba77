// $book (workflow tables in Postgres, FHIR writes through the outbox), against the emulator.
process.env.TEST_STORE = 'healthlake';
await import('../../operations/book.test.js');
