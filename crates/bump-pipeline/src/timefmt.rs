/*!
Time stamps of recorded trips: epoch numbers in s, ms or µs, or date-times
read with a small strptime-like pattern.

The pattern language is deliberately tiny (`%Y %m %d %H %M %S %f %%` and
literal characters) because loggers use few formats and a full strftime
would accept patterns whose meaning is unclear. `%f` reads any number of
digits as a decimal fraction, so a logger that drops trailing zeros
(`21,6` for .600, `22,` for .000) reads correctly. Date-times are taken as
UTC, minus the mapping's `utc_offset_min`.
*/

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a time column is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimeFormat {
    /// Seconds since the Unix epoch (`epoch_s`).
    EpochSeconds,
    /// Milliseconds since the Unix epoch (`epoch_ms`).
    EpochMillis,
    /// Microseconds since the Unix epoch (`epoch_us`).
    EpochMicros,
    /// A date-time pattern.
    Pattern(String),
}

/// Why a time format or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The pattern uses an unknown directive.
    #[error("time pattern {pattern:?}: unknown directive %{directive}; use %Y %m %d %H %M %S %f or %%")]
    Directive {
        /// The pattern.
        pattern: String,
        /// The directive letter.
        directive: char,
    },
    /// A pattern lacks a date or time part.
    #[error("time pattern {0:?} must contain %Y, %m, %d, %H, %M and %S")]
    Incomplete(String),
    /// A value does not match the pattern.
    #[error("time {value:?} does not match {pattern:?}: {reason}")]
    Mismatch {
        /// The value read.
        value: String,
        /// The pattern.
        pattern: String,
        /// What went wrong.
        reason: &'static str,
    },
}

impl FromStr for TimeFormat {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, TimeError> {
        Ok(match s {
            "epoch_s" => Self::EpochSeconds,
            "epoch_ms" => Self::EpochMillis,
            "epoch_us" => Self::EpochMicros,
            p => {
                let mut it = p.chars();
                let mut seen = String::new();
                while let Some(c) = it.next() {
                    if c == '%' {
                        match it.next() {
                            Some(d @ ('Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'f')) => seen.push(d),
                            Some('%') => {}
                            Some(d) => {
                                return Err(TimeError::Directive {
                                    pattern: p.to_owned(),
                                    directive: d,
                                });
                            }
                            None => {
                                return Err(TimeError::Directive {
                                    pattern: p.to_owned(),
                                    directive: ' ',
                                });
                            }
                        }
                    }
                }
                if !"YmdHMS".chars().all(|d| seen.contains(d)) {
                    return Err(TimeError::Incomplete(p.to_owned()));
                }
                Self::Pattern(p.to_owned())
            }
        })
    }
}

impl TryFrom<String> for TimeFormat {
    type Error = TimeError;
    fn try_from(s: String) -> Result<Self, TimeError> {
        s.parse()
    }
}

impl From<TimeFormat> for String {
    fn from(f: TimeFormat) -> String {
        f.to_string()
    }
}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EpochSeconds => f.write_str("epoch_s"),
            Self::EpochMillis => f.write_str("epoch_ms"),
            Self::EpochMicros => f.write_str("epoch_us"),
            Self::Pattern(p) => f.write_str(p),
        }
    }
}

impl TimeFormat {
    /// Scale of an epoch format to seconds; `None` for a pattern.
    #[must_use]
    pub const fn epoch_scale(&self) -> Option<f64> {
        match self {
            Self::EpochSeconds => Some(1.0),
            Self::EpochMillis => Some(1e-3),
            Self::EpochMicros => Some(1e-6),
            Self::Pattern(_) => None,
        }
    }

    /// Reads a date-time `value` with this pattern, UTC seconds.
    ///
    /// # Errors
    /// [`TimeError::Mismatch`] naming the value and what did not match.
    pub fn parse_datetime(&self, value: &str) -> Result<f64, TimeError> {
        let pattern = match self {
            Self::Pattern(p) => p.as_str(),
            other => {
                let scale = other.epoch_scale().unwrap_or(1.0);
                return value
                    .trim()
                    .parse::<f64>()
                    .map(|v| v * scale)
                    .map_err(|_| mismatch(value, &other.to_string(), "not a number"));
            }
        };
        let b = value.trim().as_bytes();
        let mut i = 0;
        let (mut y, mut mo, mut d, mut h, mut mi, mut s, mut frac) = (0i64, 0i64, 0i64, 0i64, 0i64, 0i64, 0.0f64);
        let mut pc = pattern.chars();
        let num = |i: &mut usize, max: usize| -> Option<i64> {
            let start = *i;
            while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
                *i += 1;
            }
            std::str::from_utf8(&b[start..*i]).ok()?.parse().ok()
        };
        while let Some(c) = pc.next() {
            if c == '%' {
                let dch = pc.next().unwrap_or('%');
                let v = match dch {
                    'Y' => num(&mut i, 4),
                    'm' | 'd' | 'H' | 'M' | 'S' => num(&mut i, 2),
                    'f' => {
                        let start = i;
                        while i < b.len() && b[i].is_ascii_digit() {
                            i += 1;
                        }
                        let digits = std::str::from_utf8(&b[start..i]).unwrap_or("");
                        frac = if digits.is_empty() {
                            0.0
                        } else {
                            format!("0.{digits}").parse().unwrap_or(0.0)
                        };
                        Some(0)
                    }
                    _ => {
                        if b.get(i) == Some(&b'%') {
                            i += 1;
                            Some(0)
                        } else {
                            None
                        }
                    }
                };
                let v = v.ok_or_else(|| mismatch(value, pattern, "expected digits"))?;
                match dch {
                    'Y' => y = v,
                    'm' => mo = v,
                    'd' => d = v,
                    'H' => h = v,
                    'M' => mi = v,
                    'S' => s = v,
                    _ => {}
                }
            } else {
                let mut buf = [0u8; 4];
                let lit = c.encode_utf8(&mut buf).as_bytes();
                if b.get(i..i + lit.len()) != Some(lit) {
                    return Err(mismatch(value, pattern, "literal character differs"));
                }
                i += lit.len();
            }
        }
        if i != b.len() {
            return Err(mismatch(value, pattern, "trailing characters"));
        }
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return Err(mismatch(value, pattern, "field out of range"));
        }
        let days = days_from_civil(y, mo, d);
        #[allow(clippy::cast_precision_loss, reason = "epoch seconds fit f64 exactly")]
        let secs = (days * 86_400 + h * 3600 + mi * 60 + s) as f64;
        Ok(secs + frac)
    }
}

fn mismatch(value: &str, pattern: &str, reason: &'static str) -> TimeError {
    TimeError::Mismatch {
        value: value.chars().take(64).collect(),
        pattern: pattern.to_owned(),
        reason,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
#[must_use]
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lublin_fractions_with_dropped_zeros() {
        let f: TimeFormat = "%Y-%m-%d %H:%M:%S,%f".parse().unwrap();
        let t = f.parse_datetime("2015-01-24 09:29:06,053").unwrap();
        assert!((t - 1_422_091_746.053).abs() < 1e-6, "{t}");
        let a = f.parse_datetime("2015-01-24 09:29:21,6").unwrap();
        assert!((a - 1_422_091_761.6).abs() < 1e-6);
        let b = f.parse_datetime("2015-01-24 09:29:22,").unwrap();
        assert!((b - 1_422_091_762.0).abs() < 1e-6);
        let c = f.parse_datetime("2015-03-31 12:31:47,17").unwrap();
        assert!((c.fract() - 0.17).abs() < 1e-6);
    }

    #[test]
    fn refuses_bad_patterns_and_values() {
        assert!(matches!(
            "%Y-%q".parse::<TimeFormat>(),
            Err(TimeError::Directive { directive: 'q', .. })
        ));
        assert!(matches!("%H:%M".parse::<TimeFormat>(), Err(TimeError::Incomplete(_))));
        let f: TimeFormat = "%Y-%m-%d %H:%M:%S".parse().unwrap();
        assert!(f.parse_datetime("2015-13-01 00:00:00").is_err());
        assert!(f.parse_datetime("2015-01-01T00:00:00").is_err());
        assert!(f.parse_datetime("2015-01-01 00:00:00x").is_err());
        assert!(f.parse_datetime("").is_err());
    }

    #[test]
    fn epoch_formats() {
        assert_eq!(TimeFormat::EpochMillis.parse_datetime("1500").unwrap(), 1.5);
        assert_eq!("epoch_us".parse::<TimeFormat>().unwrap(), TimeFormat::EpochMicros);
        assert_eq!(TimeFormat::EpochSeconds.to_string(), "epoch_s");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
