//! Date-times as the spec writes them, and serde helpers (chrono's serde feature is not enabled
//! in the workspace, so the admin JSON uses these).

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

/// `2026-11-20T14:03:11Z`: ISO 8601 with a zone, whole seconds, as the spec asks.
pub(crate) fn format(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses the w3 note's "complete date plus hours and minutes (and seconds, and fractions)" form
/// with a zone: `2010-01-01T00:00:00Z`, `2010-01-01T00:00+02:00`, `…:30.25-05:00`.
/// A date-time without a zone is refused, since the spec says the zone "must" be included; a
/// space instead of `T` is refused too (RFC 3339 allows it, ISO 8601 does not).
pub(crate) fn parse_w3(text: &str) -> Option<DateTime<FixedOffset>> {
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t);
    }
    // Without seconds, which the w3 note allows. `%:z` does not read `Z`, so spell it out.
    let with_offset = match text.strip_suffix(['Z', 'z']) {
        Some(head) => format!("{head}+00:00"),
        None => text.to_owned(),
    };
    DateTime::parse_from_str(&with_offset, "%Y-%m-%dT%H:%M%:z").ok()
}

/// Serde for `DateTime<Utc>` as an RFC 3339 string.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_w3(&text)
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| serde::de::Error::custom(format!("not an ISO 8601 date-time with zone: {text}")))
    }
}

/// Serde for a `Duration` as whole milliseconds.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3_forms_with_zone_parse() {
        for ok in [
            "2010-01-01T00:00:00Z",
            "1994-11-05T08:15:30-05:00",
            "2018-09-06T19:51:48.000Z",
            "2026-11-27T04:31:08.093384+02:00",
            "2010-01-01T00:00Z",
            "2010-01-01T00:00+02:00",
        ] {
            assert!(parse_w3(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn forms_without_zone_or_t_are_refused() {
        for bad in [
            "2010-01-01T00:00:00",
            "2010-01-01",
            "2011-02-03 14:18",
            "2010-01-01 00:00:00Z",
            "",
            "soon",
        ] {
            assert!(parse_w3(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn format_is_whole_seconds_with_z() {
        let t = parse_w3("2026-11-20T14:03:11.75-05:00")
            .expect("parse")
            .with_timezone(&Utc);
        assert_eq!(format(t), "2026-11-20T19:03:11Z");
    }
}
