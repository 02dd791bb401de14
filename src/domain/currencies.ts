/**
 * Active ISO 4217 alphabetic codes ("List One") with their minor-unit exponent, as the
 * list stood on 2026-01-01 (through Amendment 180). Grouped by exponent so the few
 * non-2 currencies are visible at a glance; everything not listed under 0, 3 or 4 is 2.
 *
 * What is deliberately left out:
 * - Codes whose minor unit ISO gives as "N.A.": the metals XAU XAG XPD XPT, the bond
 *   market units XBA XBB XBC XBD, XDR, XSU, XUA, and XTS/XXX (test / "no currency").
 *   Without an exponent an amount has no integer minor unit, so the ledger cannot hold it.
 * - Withdrawn codes, now in List Three: HRK (Croatia → EUR, 2023), SLL (→ SLE, 2023),
 *   ZWL (→ ZWG, 2024), CUC (Amendment 178, 2025), ANG (→ XCG, 2025), BGN (Bulgaria →
 *   EUR, Amendment 180, 2026-01-01). A ledger must not open new accounts in them; if
 *   old data ever needs one, it belongs in a separate historic table, not here.
 *
 * Fund codes that do have an exponent (BOV CHE CHW CLF COU MXV USN UYI UYW XAD) are
 * kept: they are on List One and are booked like any other currency.
 */
const codesByExponent: Readonly<Record<0 | 2 | 3 | 4, string>> = {
  0: 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF',
  2: `
    AED AFN ALL AMD AOA ARS AUD AWG AZN
    BAM BBD BDT BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK
    DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF
    IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT
    LAK LBP LKR LRD LSL
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
    NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR
    RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS
    VED VES WST XAD XCD XCG YER ZAR ZMW ZWG`,
  3: 'BHD IQD JOD KWD LYD OMR TND',
  4: 'CLF UYW',
};

function buildExponentTable(): ReadonlyMap<string, number> {
  const table = new Map<string, number>();
  for (const [exponent, codes] of Object.entries(codesByExponent)) {
    for (const code of codes.trim().split(/\s+/)) {
      // A typo or a code listed under two exponents would silently mis-scale money.
      if (!/^[A-Z]{3}$/.test(code)) throw new Error(`currency table: malformed code "${code}"`);
      if (table.has(code)) throw new Error(`currency table: ${code} listed twice`);
      table.set(code, Number(exponent));
    }
  }
  return table;
}

/** ISO 4217 alphabetic code → minor-unit exponent (USD 2, JPY 0, KWD 3, CLF 4). */
export const currencyExponents: ReadonlyMap<string, number> = buildExponentTable();
