// Logged errors keep their type, code and frames, never their message or a driver's details,
// which can quote data (a Postgres error names the value it refused; a parser quotes the body).
import t from 'tap';
import { pino } from 'pino';
import { loggerOptions } from '../../src/logger.js';
import { logCapture } from '../helpers.js';

const VALUE = '123-45-6789 Jane Doe';

t.test('an error is logged without its message or details', async (t) => {
  const capture = logCapture();
  const { stream, ...options } = loggerOptions('info', capture.stream);
  const log = pino(options, stream);
  const pgLike = Object.assign(new Error(`invalid input syntax for type date: "${VALUE}"`), {
    code: '22007',
    routine: 'DateTimeParseError',
    detail: `Key (value)=(${VALUE}) already exists.`,
    where: `SQL statement with ${VALUE}`,
  });
  log.error({ err: pgLike }, 'unexpected error');
  log.warn({ err: new TypeError(`bad ${VALUE}`) }, 'pass failed');
  log.warn({ err: `a string error ${VALUE}` }, 'odd');
  const text = capture.text();
  t.notMatch(text, 'Jane Doe');
  t.notMatch(text, '123-45-6789');
  const [first, second, third] = capture.lines.map((line) => JSON.parse(line));
  t.match(first.err, {
    type: 'Error',
    name: 'Error',
    code: '22007',
    routine: 'DateTimeParseError',
  });
  t.match(first.err.stack, /log-errors\.test\.ts/, 'the frames stay');
  t.notOk(first.err.message);
  t.notOk(first.err.detail);
  t.match(second.err, { type: 'TypeError', name: 'TypeError' });
  t.same(third.err, { type: 'string' });
});
