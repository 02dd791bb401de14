import fc from 'fast-check';
import { currencyExponents } from '../../src/domain/currencies';
import {
  MoneyError,
  type MoneyErrorCode,
  currencyExponent,
  formatAmount,
  isCurrency,
  maxAmountMinor,
  parseAmount,
  parseMinorUnits,
} from '../../src/domain/money';

function rejection(run: () => unknown): MoneyErrorCode {
  try {
    run();
  } catch (error) {
    if (error instanceof MoneyError) return error.code;
    throw error;
  }
  throw new Error('expected a MoneyError, but nothing was thrown');
}

describe('currency table', () => {
  it('holds the active ISO 4217 codes', () => {
    for (const code of ['USD', 'EUR', 'JPY', 'KWD', 'CHF', 'GBP', 'CNY', 'INR', 'BRL', 'ZAR', 'CLF']) {
      expect(isCurrency(code)).toBe(true);
    }
    expect(currencyExponents.size).toBeGreaterThan(150);
  });

  it('includes recent additions', () => {
    for (const code of ['SLE', 'VES', 'VED', 'ZWG', 'XCG', 'XAD']) expect(isCurrency(code)).toBe(true);
  });

  it.each(['HRK', 'SLL', 'ZWL', 'CUC', 'ANG', 'BGN'])('excludes withdrawn %s', (code) => {
    expect(isCurrency(code)).toBe(false);
  });

  it.each(['XAU', 'XAG', 'XPD', 'XPT', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XSU', 'XUA', 'XTS', 'XXX'])(
    'excludes %s, whose minor unit is N.A.',
    (code) => expect(isCurrency(code)).toBe(false),
  );

  it.each([
    ['USD', 2],
    ['EUR', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['ISK', 0],
    ['KWD', 3],
    ['BHD', 3],
    ['TND', 3],
    ['CLF', 4],
    ['UYW', 4],
  ])('%s has exponent %i', (code, exponent) => {
    expect(currencyExponent(code)).toBe(exponent);
  });

  it.each(['usd', 'US', 'USDD', '', 'ABC', ' USD'])('rejects unknown code %p', (code) => {
    expect(isCurrency(code)).toBe(false);
    expect(rejection(() => currencyExponent(code))).toBe('UNKNOWN_CURRENCY');
  });
});

describe('parseAmount from a decimal string', () => {
  it.each([
    ['1000.00', 'USD', 100000n],
    ['10.5', 'USD', 1050n],
    ['7', 'USD', 700n],
    ['0.01', 'USD', 1n],
    ['1000', 'JPY', 1000n],
    ['1.5', 'KWD', 1500n],
    ['0.001', 'KWD', 1n],
    ['1.2345', 'CLF', 12345n],
    ['0.0001', 'UYW', 1n],
  ])('reads %p %s as %p minor units', (input, currency, minor) => {
    expect(parseAmount(input, currency)).toBe(minor);
  });

  it.each([
    '1e3',
    ' 1',
    '1 ',
    '1.',
    '.5',
    '+1',
    '0x10',
    '١٢',
    '１',
    '',
    '1,000',
    '1.2.3',
    'NaN',
    'Infinity',
    '1_000',
    '007.50',
    '00',
    '01',
  ])('rejects malformed %p', (input) => {
    expect(rejection(() => parseAmount(input, 'USD'))).toBe('INVALID_AMOUNT');
  });

  it('rejects absurdly long input before parsing it', () => {
    expect(rejection(() => parseAmount('1'.repeat(65), 'USD'))).toBe('INVALID_AMOUNT');
    expect(rejection(() => parseAmount('1'.repeat(1_000_000), 'USD'))).toBe('INVALID_AMOUNT');
  });

  it.each(['0', '0.00', '0.0', '-1', '-0', '-0.01', '-1000.00'])('rejects non-positive %p', (input) => {
    expect(rejection(() => parseAmount(input, 'USD'))).toBe('AMOUNT_NOT_POSITIVE');
  });

  it.each([
    ['1.001', 'USD'],
    ['1.500', 'USD'],
    ['0.000', 'USD'],
    ['1000.0', 'JPY'],
    ['1.0', 'JPY'],
    ['1.0001', 'KWD'],
    ['1.12345', 'CLF'],
  ])('rejects %p in %s for too many decimals', (input, currency) => {
    expect(rejection(() => parseAmount(input, currency))).toBe('TOO_MANY_DECIMALS');
  });

  it('accepts 2^63-1 minor units and rejects 2^63', () => {
    expect(parseAmount('9223372036854775807', 'JPY')).toBe(maxAmountMinor);
    expect(rejection(() => parseAmount('9223372036854775808', 'JPY'))).toBe('AMOUNT_TOO_LARGE');
    expect(parseAmount('92233720368547758.07', 'USD')).toBe(maxAmountMinor);
    expect(rejection(() => parseAmount('92233720368547758.08', 'USD'))).toBe('AMOUNT_TOO_LARGE');
    expect(parseAmount('922337203685477.5807', 'CLF')).toBe(maxAmountMinor);
    expect(rejection(() => parseAmount('922337203685477.5808', 'CLF'))).toBe('AMOUNT_TOO_LARGE');
    expect(rejection(() => parseAmount('1'.repeat(40), 'USD'))).toBe('AMOUNT_TOO_LARGE');
  });

  it('checks the currency before the amount', () => {
    expect(rejection(() => parseAmount('10.00', 'XAU'))).toBe('UNKNOWN_CURRENCY');
    expect(rejection(() => parseAmount('junk', 'usd'))).toBe('UNKNOWN_CURRENCY');
  });

  it.each([null, undefined, true, 10n, {}, [], ['1.00'], { amount: '1.00' }])('rejects a %p', (input) => {
    expect(rejection(() => parseAmount(input, 'USD'))).toBe('INVALID_AMOUNT');
  });
});

describe('parseAmount from a JSON number', () => {
  it.each([
    ['1000.00', 'USD', 100000n],
    ['10.5', 'USD', 1050n],
    ['0.07', 'USD', 7n],
    ['1000', 'JPY', 1000n],
    ['1.5', 'KWD', 1500n],
    ['0.1234', 'CLF', 1234n],
    ['999999999999999', 'JPY', 999999999999999n],
    ['9999999999999.99', 'USD', 999999999999999n],
  ])('converts the literal %s %s exactly to %p', (literal, currency, minor) => {
    const input: unknown = JSON.parse(literal);
    expect(parseAmount(input, currency)).toBe(minor);
  });

  it('rejects 0.1 + 0.2, whose exact value has too many decimals', () => {
    expect(rejection(() => parseAmount(0.1 + 0.2, 'USD'))).toBe('TOO_MANY_DECIMALS');
  });

  it.each([1e21, 1e-7, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1, Number('9007199254740993'), 1e20])(
    'rejects %p',
    (input) => {
      expect(rejection(() => parseAmount(input, 'JPY'))).toBe('INVALID_AMOUNT');
    },
  );

  it('rejects a number the double could not hold exactly', () => {
    // Both arrive one cent off: String() prints ...09.94 and ...00.02.
    expect(rejection(() => parseAmount(JSON.parse('90071992547409.93'), 'USD'))).toBe('INVALID_AMOUNT');
    expect(rejection(() => parseAmount(JSON.parse('100000000000000.01'), 'USD'))).toBe('INVALID_AMOUNT');
    expect(rejection(() => parseAmount(JSON.parse('1234567890123456'), 'JPY'))).toBe('INVALID_AMOUNT');
  });

  it.each([0, -0, -1, -0.5])('rejects non-positive %p', (input) => {
    expect(rejection(() => parseAmount(input, 'USD'))).toBe('AMOUNT_NOT_POSITIVE');
  });

  it('rejects too many decimals for the currency', () => {
    expect(rejection(() => parseAmount(1.5, 'JPY'))).toBe('TOO_MANY_DECIMALS');
    expect(rejection(() => parseAmount(1.001, 'USD'))).toBe('TOO_MANY_DECIMALS');
  });
});

describe('formatAmount', () => {
  it.each([
    [1050n, 'USD', '10.50'],
    [100000n, 'USD', '1000.00'],
    [1n, 'USD', '0.01'],
    [0n, 'USD', '0.00'],
    [-325n, 'USD', '-3.25'],
    [-5n, 'USD', '-0.05'],
    [1000n, 'JPY', '1000'],
    [0n, 'JPY', '0'],
    [-7n, 'JPY', '-7'],
    [1500n, 'KWD', '1.500'],
    [1n, 'KWD', '0.001'],
    [12345n, 'CLF', '1.2345'],
    [maxAmountMinor, 'USD', '92233720368547758.07'],
  ])('prints %p %s as %p', (minor, currency, text) => {
    expect(formatAmount(minor, currency)).toBe(text);
  });

  it('rejects an unknown currency', () => {
    expect(rejection(() => formatAmount(1n, 'XXX'))).toBe('UNKNOWN_CURRENCY');
  });

  it('round-trips every amount in every currency', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...currencyExponents.keys()),
        fc.bigInt({ min: 1n, max: maxAmountMinor }),
        (currency, minor) => parseAmount(formatAmount(minor, currency), currency) === minor,
      ),
      { numRuns: 2000 },
    );
  });
});

describe('parseMinorUnits', () => {
  it.each([
    ['0', 0n],
    ['1', 1n],
    ['1050', 1050n],
    ['-325', -325n],
    ['9223372036854775807', maxAmountMinor],
    ['-9223372036854775808', -(2n ** 63n)],
  ])('reads %p', (text, minor) => {
    expect(parseMinorUnits(text)).toBe(minor);
  });

  it.each(['', '-', '-0', '00', '007', '+1', '1.0', '1e3', ' 1', '1 ', '0x10', '١٢', '1,000', '--1'])(
    'rejects %p',
    (text) => {
      expect(rejection(() => parseMinorUnits(text))).toBe('INVALID_AMOUNT');
    },
  );
});

describe('MoneyError', () => {
  it('carries a code and a human message', () => {
    const error = new MoneyError('TOO_MANY_DECIMALS', 'USD allows at most 2 decimal places');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('MoneyError');
    expect(error.code).toBe('TOO_MANY_DECIMALS');
    expect(error.message).toBe('USD allows at most 2 decimal places');
  });

  it('says why an amount was refused', () => {
    expect(() => parseAmount('1.001', 'USD')).toThrow('USD allows at most 2 decimal places');
    expect(() => parseAmount('1.5', 'JPY')).toThrow('JPY allows at most 0 decimal places');
  });
});
