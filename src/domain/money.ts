import { currencyExponents } from './currencies';

/** An ISO 4217 alphabetic code that `isCurrency` accepts. */
export type Currency = string;

export type MoneyErrorCode =
  'INVALID_AMOUNT' | 'AMOUNT_NOT_POSITIVE' | 'TOO_MANY_DECIMALS' | 'AMOUNT_TOO_LARGE' | 'UNKNOWN_CURRENCY';

export class MoneyError extends Error {
  override readonly name = 'MoneyError';
  constructor(
    readonly code: MoneyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Largest amount the ledger holds, in minor units: it must fit a signed 64-bit column. */
export const maxAmountMinor = 2n ** 63n - 1n;

/** Longer input cannot be a valid amount; the cap keeps BigInt() off huge strings. */
const maxAmountInputChars = 64;

/**
 * A JSON number with more significant digits than this may not be the literal the client
 * wrote: 90071992547409.93 arrives as the double printed "90071992547409.94". Any decimal
 * of at most 15 significant digits survives the round trip through a double (DBL_DIG).
 */
const maxExactJsonNumberDigits = 15;

// No leading zeros ("007.50" is rejected): one spelling per amount, and a padded field
// is far more likely a client bug than an intent. ASCII digits only.
const decimalPattern = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;
const negativeDecimalPattern = /^-(0|[1-9][0-9]*)(?:\.[0-9]+)?$/;
const minorUnitsPattern = /^(0|-?[1-9][0-9]*)$/;

export function isCurrency(code: string): boolean {
  return currencyExponents.has(code);
}

export function currencyExponent(code: string): number {
  const exponent = currencyExponents.get(code);
  if (exponent === undefined) {
    throw new MoneyError('UNKNOWN_CURRENCY', `"${code.slice(0, 16)}" is not an active ISO 4217 currency code`);
  }
  return exponent;
}

/**
 * Reads a positive amount in major units — a decimal string ("1000.00") or a JSON number
 * that is exactly representable (1000.00) — and returns it in minor units.
 */
export function parseAmount(input: unknown, currency: string): bigint {
  const exponent = currencyExponent(currency);
  if (typeof input === 'string') return parseDecimal(input, currency, exponent);
  if (typeof input === 'number') return parseJsonNumber(input, currency, exponent);
  throw new MoneyError('INVALID_AMOUNT', 'amount must be a decimal string or a number');
}

function parseJsonNumber(input: number, currency: string, exponent: number): bigint {
  if (!Number.isFinite(input)) throw new MoneyError('INVALID_AMOUNT', 'amount must be a finite number');
  const notExact = 'amount is not exactly representable as a JSON number; send it as a decimal string';
  if (Math.abs(input) > Number.MAX_SAFE_INTEGER) throw new MoneyError('INVALID_AMOUNT', notExact);
  // The shortest round-trip form; exponent forms such as "1e-7" fail the decimal rules.
  const text = String(input);
  const minor = parseDecimal(text, currency, exponent);
  const significantDigits = text.replace('.', '').replace(/^0+/, '').length;
  if (significantDigits > maxExactJsonNumberDigits) throw new MoneyError('INVALID_AMOUNT', notExact);
  return minor;
}

function parseDecimal(text: string, currency: string, exponent: number): bigint {
  if (text.length > maxAmountInputChars) {
    throw new MoneyError('INVALID_AMOUNT', `amount is longer than ${maxAmountInputChars} characters`);
  }
  const match = decimalPattern.exec(text);
  if (match === null) {
    if (negativeDecimalPattern.test(text)) throw new MoneyError('AMOUNT_NOT_POSITIVE', 'amount must be positive');
    throw new MoneyError('INVALID_AMOUNT', 'amount must be a plain decimal such as "1000.00"');
  }
  const [, whole, fraction = ''] = match;
  if (fraction.length > exponent) {
    throw new MoneyError(
      'TOO_MANY_DECIMALS',
      `${currency} allows at most ${exponent} decimal place${exponent === 1 ? '' : 's'}`,
    );
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  if (minor === 0n) throw new MoneyError('AMOUNT_NOT_POSITIVE', 'amount must be positive');
  if (minor > maxAmountMinor) {
    throw new MoneyError('AMOUNT_TOO_LARGE', `amount exceeds ${formatAmount(maxAmountMinor, currency)} ${currency}`);
  }
  return minor;
}

/** Prints minor units at the currency's full scale: "10.50", JPY "1000", KWD "1.500". */
export function formatAmount(minor: bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const sign = minor < 0n ? '-' : '';
  const digits = (minor < 0n ? -minor : minor).toString().padStart(exponent + 1, '0');
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** Strictly reads an integer minor-unit string as stored in events ("-325", "0", "1050"). */
export function parseMinorUnits(s: string): bigint {
  if (!minorUnitsPattern.test(s)) {
    throw new MoneyError('INVALID_AMOUNT', `"${s.slice(0, 32)}" is not an integer minor-unit amount`);
  }
  return BigInt(s);
}
