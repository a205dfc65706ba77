import t from 'tap';
import { dateRange, periodRange, timingRanges } from '../../src/search/dates.js';

t.test('a date covers its year, month or day', async (t) => {
  t.same(dateRange('1970'), { start: '1970-01-01T00:00:00.000Z', end: '1970-12-31T23:59:59.999Z' });
  t.same(dateRange('2024-02'), {
    start: '2024-02-01T00:00:00.000Z',
    end: '2024-02-29T23:59:59.999Z',
  });
  t.same(dateRange('2023-12'), {
    start: '2023-12-01T00:00:00.000Z',
    end: '2023-12-31T23:59:59.999Z',
  });
  t.same(dateRange('2023-12-31'), {
    start: '2023-12-31T00:00:00.000Z',
    end: '2023-12-31T23:59:59.999Z',
  });
  t.same(
    dateRange('0099-01-01'),
    { start: '0099-01-01T00:00:00.000Z', end: '0099-01-01T23:59:59.999Z' },
    'two-digit years are not read as 19xx',
  );
});

t.test('a dateTime with an offset is moved to UTC', async (t) => {
  t.same(dateRange('2020-01-01T10:00:00+02:00'), {
    start: '2020-01-01T08:00:00.000Z',
    end: '2020-01-01T08:00:00.999Z',
  });
  t.same(dateRange('2020-01-01T01:30:00-05:30'), {
    start: '2020-01-01T07:00:00.000Z',
    end: '2020-01-01T07:00:00.999Z',
  });
  t.same(
    dateRange('2020-01-01T00:30:00+01:00'),
    { start: '2019-12-31T23:30:00.000Z', end: '2019-12-31T23:30:00.999Z' },
    'across a year boundary',
  );
});

t.test('a dateTime without a timezone is taken as UTC', async (t) => {
  t.same(dateRange('2020-01-01T10:00:00'), {
    start: '2020-01-01T10:00:00.000Z',
    end: '2020-01-01T10:00:00.999Z',
  });
  t.same(
    dateRange('2020-01-01T10:00'),
    { start: '2020-01-01T10:00:00.000Z', end: '2020-01-01T10:00:59.999Z' },
    'a minute without seconds',
  );
});

t.test('fractional seconds narrow the range down to the millisecond', async (t) => {
  t.same(dateRange('2020-01-01T10:00:00.5Z'), {
    start: '2020-01-01T10:00:00.500Z',
    end: '2020-01-01T10:00:00.599Z',
  });
  t.same(dateRange('2020-01-01T10:00:00.123456Z'), {
    start: '2020-01-01T10:00:00.123Z',
    end: '2020-01-01T10:00:00.123Z',
  });
});

t.test('a Period runs from its start to its end, open ends infinite', async (t) => {
  t.same(periodRange('2020-01-01', '2020-01-02T12:00:00Z'), {
    start: '2020-01-01T00:00:00.000Z',
    end: '2020-01-02T12:00:00.999Z',
  });
  t.same(periodRange('2020-01', undefined), { start: '2020-01-01T00:00:00.000Z', end: 'infinity' });
  t.same(periodRange(undefined, '2020'), { start: '-infinity', end: '2020-12-31T23:59:59.999Z' });
  t.equal(periodRange(undefined, undefined), undefined);
  t.equal(periodRange('2021', '2020'), undefined, 'an end before its start');
  t.equal(periodRange('bad', '2020'), undefined, 'a malformed end is not an open end');
});

t.test('a Timing gives its events and its bounding Period', async (t) => {
  t.same(
    timingRanges({
      event: ['2021-03-04', 'bad'],
      repeat: { boundsPeriod: { start: '2021-03-01' } },
    }),
    [
      { start: '2021-03-04T00:00:00.000Z', end: '2021-03-04T23:59:59.999Z' },
      { start: '2021-03-01T00:00:00.000Z', end: 'infinity' },
    ],
  );
  t.same(timingRanges({ repeat: { boundsDuration: { value: 3, unit: 'd' } } }), []);
  t.same(timingRanges('not a timing'), []);
});

t.test('malformed dates give nothing', async (t) => {
  for (const bad of [
    '1970-13',
    '2020-02-30',
    '2021-02-29',
    '2020-01-01T25:00:00Z',
    '2020-01-01T10:61:00Z',
    '2020-01-01T10:00:00+15:00',
    '2020-01-01 10:00:00',
    'soon',
    '0000',
    '',
  ]) {
    t.equal(dateRange(bad), undefined, JSON.stringify(bad));
  }
});
