//! Money: integer minor units plus an ISO 4217 currency. Never a float.
//!
//! The currency table is the active ISO 4217 list with each currency's
//! minor-unit exponent (JPY 0, EUR 2, KWD 3, CLF 4). Codes without a minor
//! unit (precious metals, testing codes) are not currencies an invoice can be
//! in, so they are not here.

use std::fmt;

/// An ISO 4217 currency this host accepts, with its minor-unit exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

impl Currency {
    /// Looks up an upper-case ISO 4217 code ("EUR"). Lower case is refused
    /// rather than guessed: the code is part of the record.
    pub fn from_code(code: &str) -> Option<Currency> {
        CURRENCIES
            .binary_search_by(|(c, _)| (*c).cmp(code))
            .ok()
            .map(|i| Currency {
                code: CURRENCIES[i].0,
                exponent: CURRENCIES[i].1,
            })
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Digits after the decimal point in this currency's major unit.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// Parses a non-negative decimal amount written in major units ("47.07",
    /// "1,200.5" is refused: no grouping) into minor units. More fractional
    /// digits than the currency has is an error, not a rounding.
    pub fn parse_major(self, text: &str) -> Result<i64, MoneyError> {
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (!frac.is_empty() && !digits(frac)) || text.ends_with('.') {
            return Err(MoneyError::NotANumber(text.to_owned()));
        }
        if frac.len() > usize::from(self.exponent) {
            return Err(MoneyError::TooPrecise {
                text: text.to_owned(),
                currency: self.code,
                exponent: self.exponent,
            });
        }
        let scale = 10i64.pow(u32::from(self.exponent));
        let mut frac_minor: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse()
                .map_err(|_| MoneyError::NotANumber(text.to_owned()))?
        };
        frac_minor *= 10i64.pow(u32::from(self.exponent) - frac.len() as u32);
        whole
            .parse::<i64>()
            .ok()
            .and_then(|w| w.checked_mul(scale))
            .and_then(|w| w.checked_add(frac_minor))
            .ok_or_else(|| MoneyError::TooLarge(text.to_owned()))
    }

    /// Formats minor units in major units with exactly `exponent` decimals.
    pub fn format_minor(self, minor: i64) -> String {
        if self.exponent == 0 {
            return minor.to_string();
        }
        let scale = 10i64.pow(u32::from(self.exponent));
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$}",
            abs / scale as u64,
            abs % scale as u64,
            width = usize::from(self.exponent)
        )
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("{0:?} is not a decimal amount")]
    NotANumber(String),
    #[error("{text:?} has more decimals than {currency} has ({exponent})")]
    TooPrecise {
        text: String,
        currency: &'static str,
        exponent: u8,
    },
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Active ISO 4217 codes and their minor-unit exponents, sorted by code.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2),
    ("AUD", 2), ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2),
    ("BHD", 3), ("BIF", 0), ("BMD", 2), ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2),
    ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2), ("BZD", 2), ("CAD", 2), ("CDF", 2),
    ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0), ("CNY", 2), ("COP", 2),
    ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2),
    ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0),
    ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2),
    ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3),
    ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2),
    ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2),
    ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2),
    ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2),
    ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2),
    ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2),
    ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2),
    ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2),
    ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_so_lookup_works() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(Currency::from_code("JPY").map(Currency::exponent), Some(0));
        assert_eq!(Currency::from_code("KWD").map(Currency::exponent), Some(3));
        assert!(Currency::from_code("eur").is_none());
        assert!(Currency::from_code("XAU").is_none());
        assert!(Currency::from_code("ABC").is_none());
    }

    #[test]
    fn parses_major_units_exactly() {
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(usd.parse_major("47.07"), Ok(47_07));
        assert_eq!(usd.parse_major("35.7"), Ok(35_70));
        assert_eq!(usd.parse_major("12"), Ok(12_00));
        assert_eq!(usd.parse_major(" 0.01 "), Ok(1));
        assert!(matches!(
            usd.parse_major("1.001"),
            Err(MoneyError::TooPrecise { .. })
        ));
        for bad in ["", "-1", "1,200.50", "1.", ".5", "1e3", "abc"] {
            assert!(
                matches!(usd.parse_major(bad), Err(MoneyError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            usd.parse_major("999999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
        let jpy = Currency::from_code("JPY").unwrap();
        assert_eq!(jpy.parse_major("1200"), Ok(1200));
        assert!(jpy.parse_major("1200.5").is_err());
    }

    #[test]
    fn formats_minor_units() {
        let usd = Currency::from_code("USD").unwrap();
        assert_eq!(usd.format_minor(47_07), "47.07");
        assert_eq!(usd.format_minor(-5), "-0.05");
        assert_eq!(
            Currency::from_code("KWD").unwrap().format_minor(1_500),
            "1.500"
        );
        assert_eq!(
            Currency::from_code("JPY").unwrap().format_minor(1200),
            "1200"
        );
    }
}
