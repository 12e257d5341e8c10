/*!
The POST Service Request form, strict in what it sends.

Rules, each from the spec or from servers that enforce it (see
`docs/open311.md`): never an empty parameter (an empty `jurisdiction_id=` is
rejected by some servers although the spec says empty equals absent); `lat`
and `long` both, WGS84, six decimals (about 0.1 m); the description plain
text within 4,000 characters; list attributes as `attribute[code][]`.
*/

use crate::error::Error;

/// The spec's limit on `description`, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 4000;

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// `attribute[code]=value`.
    Single(String),
    /// `attribute[code][]=v1&attribute[code][]=v2` (multivaluelist).
    Multi(Vec<String>),
}

/// A new service request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewRequest {
    /// Service code.
    pub service_code: String,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub long: f64,
    /// Address, most specific first, when known.
    pub address_string: Option<String>,
    /// Plain text; cut to 4,000 characters.
    pub description: Option<String>,
    /// A link to media.
    pub media_url: Option<String>,
    /// Device id.
    pub device_id: Option<String>,
    /// Attributes by code.
    pub attributes: Vec<(String, AttributeValue)>,
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Cuts text to at most `max` characters, at a word boundary when one is
/// near, marking the cut with an ellipsis.
#[must_use]
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let keep: String = s.chars().take(max.saturating_sub(1)).collect();
    let cut = keep
        .rfind(char::is_whitespace)
        .filter(|&i| keep[..i].chars().count() + 40 >= max)
        .unwrap_or(keep.len());
    format!("{}…", keep[..cut].trim_end())
}

impl NewRequest {
    /// The form pairs, `api_key` and `jurisdiction_id` first.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the key or the service code is missing, or the
    /// position is not a WGS84 coordinate.
    pub fn to_form(&self, api_key: &str, jurisdiction_id: Option<&str>) -> Result<Vec<(String, String)>, Error> {
        let api_key = non_empty(Some(api_key)).ok_or_else(|| Error::Invalid("no API key".into()))?;
        let code = non_empty(Some(&self.service_code)).ok_or_else(|| Error::Invalid("empty service_code".into()))?;
        let valid = (-90.0..=90.0).contains(&self.lat) && (-180.0..=180.0).contains(&self.long);
        if !valid {
            return Err(Error::Invalid(format!(
                "position ({}, {}) is not a WGS84 coordinate",
                self.lat, self.long
            )));
        }
        let mut form = vec![("api_key".to_owned(), api_key.to_owned())];
        if let Some(j) = non_empty(jurisdiction_id) {
            form.push(("jurisdiction_id".into(), j.to_owned()));
        }
        form.push(("service_code".into(), code.to_owned()));
        form.push(("lat".into(), format!("{:.6}", self.lat)));
        form.push(("long".into(), format!("{:.6}", self.long)));
        let optional = [
            ("address_string", self.address_string.as_deref()),
            ("device_id", self.device_id.as_deref()),
            ("media_url", self.media_url.as_deref()),
        ];
        for (k, v) in optional {
            if let Some(v) = non_empty(v) {
                form.push((k.into(), v.to_owned()));
            }
        }
        if let Some(d) = non_empty(self.description.as_deref()) {
            form.push(("description".into(), truncate_chars(d, DESCRIPTION_MAX_CHARS)));
        }
        for (code, value) in &self.attributes {
            let Some(code) = non_empty(Some(code)) else { continue };
            match value {
                AttributeValue::Single(v) => {
                    if let Some(v) = non_empty(Some(v)) {
                        form.push((format!("attribute[{code}]"), v.to_owned()));
                    }
                }
                AttributeValue::Multi(vs) => {
                    for v in vs.iter().filter_map(|v| non_empty(Some(v))) {
                        form.push((format!("attribute[{code}][]"), v.to_owned()));
                    }
                }
            }
        }
        Ok(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req() -> NewRequest {
        NewRequest {
            service_code: "REQPOTHL".into(),
            lat: 42.358_431_23,
            long: -71.059_773_9,
            description: Some("Pothole".into()),
            address_string: Some("  ".into()),
            attributes: vec![
                ("SIZE".into(), AttributeValue::Single("large".into())),
                (
                    "LANES".into(),
                    AttributeValue::Multi(vec!["L".into(), String::new(), "R".into()]),
                ),
                ("EMPTY".into(), AttributeValue::Single(String::new())),
            ],
            ..NewRequest::default()
        }
    }

    #[test]
    fn never_sends_an_empty_parameter() {
        let form = req().to_form("key", Some("")).expect("valid");
        assert!(form.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()), "{form:?}");
        assert!(
            !form
                .iter()
                .any(|(k, _)| k == "jurisdiction_id" || k == "address_string")
        );
        let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "api_key",
                "service_code",
                "lat",
                "long",
                "description",
                "attribute[SIZE]",
                "attribute[LANES][]",
                "attribute[LANES][]"
            ]
        );
        assert!(form.contains(&("lat".into(), "42.358431".into())));
    }

    #[test]
    fn refuses_what_a_server_would_reject() {
        assert!(req().to_form("", None).is_err());
        let mut r = req();
        r.lat = f64::NAN;
        assert!(r.to_form("k", None).is_err());
        r.lat = 91.0;
        assert!(r.to_form("k", None).is_err());
        let mut r = req();
        r.service_code = " ".into();
        assert!(r.to_form("k", None).is_err());
    }

    proptest! {
        #[test]
        fn descriptions_fit_the_spec(s in "\\PC{0,5000}") {
            let t = truncate_chars(&s, DESCRIPTION_MAX_CHARS);
            prop_assert!(t.chars().count() <= DESCRIPTION_MAX_CHARS);
            if s.chars().count() <= DESCRIPTION_MAX_CHARS {
                prop_assert_eq!(t, s);
            }
        }
    }
}
