/*! Validated identifiers. Ids end up in file names, URLs and Kafka keys, so
they are restricted to a printable, bounded alphabet at the edge. */

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id was empty.
    #[error("{kind} id is empty")]
    Empty {
        /// Which id (`trip`, `device`).
        kind: &'static str,
    },
    /// The id was longer than [`MAX_ID_LEN`] bytes.
    #[error("{kind} id is {len} bytes long, more than {MAX_ID_LEN}")]
    TooLong {
        /// Which id.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The id contained a character outside `[A-Za-z0-9._:@ -]`.
    #[error("{kind} id {id:?} contains {ch:?}; allowed are letters, digits and . _ - : @ space")]
    BadChar {
        /// Which id.
        kind: &'static str,
        /// The offending id (truncated by the caller's limit already).
        id: String,
        /// The first character refused.
        ch: char,
    },
}

fn validate(kind: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len: s.len() });
    }
    if let Some(ch) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@' | ' ')))
    {
        return Err(IdError::BadChar {
            kind,
            id: s.to_owned(),
            ch,
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            ///
            /// # Errors
            /// [`IdError`] when `s` is empty, too long or holds a character
            /// outside the allowed set.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                validate($kind, &s)?;
                Ok(Self(s))
            }

            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A trip: one drive of one device, possibly uploaded in many batches.
    TripId,
    "trip"
);
id_type!(
    /// A device (phone), stable across its trips.
    DeviceId,
    "device"
);

impl TripId {
    /// Derives a trip id from a file stem, replacing characters the id
    /// alphabet refuses with `_` so any file name yields a usable id.
    #[must_use]
    pub fn from_file_stem(stem: &str) -> Self {
        let mut s: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@' | ' ') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if s.is_empty() {
            s.push_str("trip");
        }
        while s.len() > MAX_ID_LEN {
            s.pop();
        }
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_long_and_odd() {
        assert_eq!(TripId::new(""), Err(IdError::Empty { kind: "trip" }));
        assert!(matches!(
            DeviceId::new("x".repeat(129)),
            Err(IdError::TooLong { len: 129, .. })
        ));
        assert!(matches!(TripId::new("a/b"), Err(IdError::BadChar { ch: '/', .. })));
        assert_eq!(
            TripId::new("2015-01-24 09-31-21").unwrap().as_str(),
            "2015-01-24 09-31-21"
        );
    }

    #[test]
    fn file_stem_is_sanitised() {
        assert_eq!(TripId::from_file_stem("a(b)").as_str(), "a_b_");
        assert_eq!(TripId::from_file_stem("").as_str(), "trip");
        assert!(TripId::new(TripId::from_file_stem("ü/ö").as_str()).is_ok());
    }

    #[test]
    fn serde_validates() {
        let ok: TripId = serde_json::from_str("\"t1\"").unwrap();
        assert_eq!(ok.as_str(), "t1");
        assert!(serde_json::from_str::<TripId>("\"\"").is_err());
    }
}
