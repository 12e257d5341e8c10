//! One document model, written as XML or JSON.
//!
//! The spec defines XML and derives JSON from it "using the Spark Convention" (lists become bare
//! arrays, the container elements disappear). So every response is built once as a [`Doc`] and
//! then written in the requested format; the quirks are alternative writers of the same tree,
//! which is also how the real servers got their odd shapes.

use crate::model::Quirk;

/// The response format, chosen by the path suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Xml,
    Json,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "text/xml; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
        }
    }
}

/// A value in the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum V {
    /// Absent: an empty XML element, JSON `null`.
    Null,
    Str(String),
    /// An id or token: a string, but a number under [`Quirk::NumericIds`] when it is one.
    Id(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    Obj(Vec<(&'static str, V)>),
    /// A list whose XML items are elements named by the first field.
    List(&'static str, Vec<V>),
}

impl V {
    pub(crate) fn opt_str(value: Option<&str>) -> V {
        value.map_or(V::Null, |s| V::Str(s.to_owned()))
    }

    pub(crate) fn str(value: &str) -> V {
        V::Str(value.to_owned())
    }
}

/// What a document is, which decides its XML root and how quirks treat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Discovery,
    Services,
    ServiceDefinition,
    /// `service_requests` lists: GET requests, POST answers, token answers.
    Requests,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Doc {
    pub(crate) kind: Kind,
    pub(crate) body: V,
}

impl Doc {
    fn xml_root(&self, quirk: Option<Quirk>) -> &'static str {
        match self.kind {
            Kind::Discovery => "discovery",
            Kind::Services => "services",
            Kind::ServiceDefinition => "service_definition",
            Kind::Requests if quirk == Some(Quirk::XmlRootRequests) => "requests",
            Kind::Requests => "service_requests",
        }
    }

    pub(crate) fn render(&self, format: Format, quirk: Option<Quirk>) -> String {
        match format {
            Format::Xml => xml_document(self.xml_root(quirk), &self.body),
            Format::Json => self.json(quirk).to_string(),
        }
    }

    fn json(&self, quirk: Option<Quirk>) -> J {
        match quirk {
            Some(Quirk::WrappedLists) => {
                let plain = json_value(&self.body, None);
                if matches!(self.body, V::List(..)) {
                    J::Obj(vec![(self.xml_root(None).to_owned(), plain)])
                } else {
                    plain
                }
            }
            Some(Quirk::XmlSimpleArrays) => {
                // XML::Simple with ForceArray and KeepRoot: every element's content is an array.
                // FixMyStreet's request lists come out under `requests` (quirks/q04).
                let root = match self.kind {
                    Kind::Requests => "requests",
                    _ => self.xml_root(None),
                };
                J::Obj(vec![(root.to_owned(), J::Arr(vec![xml_simple(&self.body)]))])
            }
            other => json_value(&self.body, other),
        }
    }
}

/// An error body: `errors` ⇊ `error` with `code` and `description`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) description: String,
}

/// The spec lets the body code differ from the HTTP status "so that more specific and unique
/// error code identifiers can be used"; JSON then carries a string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ErrorCode {
    Http(u16),
    Named(&'static str),
}

impl ApiError {
    pub(crate) fn http(status: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            code: ErrorCode::Http(status),
            description: description.into(),
        }
    }

    pub(crate) fn named(code: &'static str, description: impl Into<String>) -> ApiError {
        ApiError {
            code: ErrorCode::Named(code),
            description: description.into(),
        }
    }
}

pub(crate) fn render_errors(status: u16, errors: &[ApiError], format: Format, quirk: Option<Quirk>) -> String {
    if quirk == Some(Quirk::OddErrors) {
        // Django REST framework's object (quirks/q06b) and the Ruby gem's bare element (q06c).
        return match format {
            Format::Json => {
                let detail = errors.iter().map(|e| J::Str(e.description.clone())).collect();
                J::Obj(vec![
                    ("code".to_owned(), J::Int(i64::from(status))),
                    ("detail".to_owned(), J::Arr(detail)),
                ])
                .to_string()
            }
            Format::Xml => {
                let text = errors
                    .iter()
                    .map(|e| e.description.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                format!("{XML_DECLARATION}\n<error>{}</error>\n", escape(&text))
            }
        };
    }
    let items = errors
        .iter()
        .map(|e| {
            let code = match e.code {
                ErrorCode::Http(status) => V::Int(i64::from(status)),
                ErrorCode::Named(name) => V::str(name),
            };
            V::Obj(vec![("code", code), ("description", V::Str(e.description.clone()))])
        })
        .collect();
    let body = V::List("error", items);
    match format {
        Format::Xml => xml_document("errors", &body),
        Format::Json => json_value(&body, None).to_string(),
    }
}

pub(crate) const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Escapes text for element content and attribute values. Characters XML 1.0 cannot carry at
/// all (most C0 controls) become U+FFFD, and `\r` becomes `&#13;` so a parser keeps it instead
/// of normalising it away ("This may contain line breaks").
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn xml_document(root: &str, body: &V) -> String {
    let mut out = String::from(XML_DECLARATION);
    out.push('\n');
    xml_element(&mut out, root, body, 0);
    out
}

fn xml_element(out: &mut String, name: &str, value: &V, depth: usize) {
    let indent = "  ".repeat(depth);
    match value {
        V::Obj(fields) => {
            out.push_str(&format!("{indent}<{name}>\n"));
            for (field, v) in fields {
                xml_element(out, field, v, depth + 1);
            }
            out.push_str(&format!("{indent}</{name}>\n"));
        }
        V::List(item, items) => {
            out.push_str(&format!("{indent}<{name}>\n"));
            for v in items {
                xml_element(out, item, v, depth + 1);
            }
            out.push_str(&format!("{indent}</{name}>\n"));
        }
        scalar => out.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape(&scalar_text(scalar)))),
    }
}

fn scalar_text(value: &V) -> String {
    match value {
        V::Null | V::Obj(_) | V::List(..) => String::new(),
        V::Str(s) | V::Id(s) => s.clone(),
        V::Num(n) => n.to_string(),
        V::Int(n) => n.to_string(),
        V::Bool(b) => b.to_string(),
    }
}

/// Whether an id reads as a JSON number without changing (no sign, no leading zero).
fn numeric_id(id: &str) -> Option<u64> {
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && (id == "0" || !id.starts_with('0'));
    if plain { id.parse().ok() } else { None }
}

fn json_value(value: &V, quirk: Option<Quirk>) -> J {
    let all_strings = quirk == Some(Quirk::AllStrings);
    match value {
        V::Null => J::Null,
        V::Str(s) => J::Str(s.clone()),
        V::Id(s) => match (quirk, numeric_id(s)) {
            (Some(Quirk::NumericIds), Some(n)) => J::Raw(n.to_string()),
            _ => J::Str(s.clone()),
        },
        V::Num(n) if all_strings => J::Str(n.to_string()),
        V::Num(n) => J::Num(*n),
        V::Int(n) if all_strings => J::Str(n.to_string()),
        V::Int(n) => J::Int(*n),
        V::Bool(b) if all_strings => J::Str(b.to_string()),
        V::Bool(b) => J::Raw(b.to_string()),
        V::Obj(fields) => J::Obj(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json_value(v, quirk)))
                .collect(),
        ),
        V::List(_, items) => J::Arr(items.iter().map(|v| json_value(v, quirk)).collect()),
    }
}

/// XML::Simple's shape of an element's content: an object of arrays, items under their element
/// name, scalars in one-element arrays. Empty elements are left out, as FixMyStreet does.
fn xml_simple(value: &V) -> J {
    match value {
        V::Obj(fields) => J::Obj(
            fields
                .iter()
                .filter(|(_, v)| *v != V::Null)
                .map(|(k, v)| ((*k).to_owned(), J::Arr(vec![xml_simple(v)])))
                .collect(),
        ),
        V::List(item, items) => J::Obj(vec![(
            (*item).to_owned(),
            J::Arr(items.iter().map(xml_simple).collect()),
        )]),
        scalar => json_value(scalar, None),
    }
}

/// A JSON tree that keeps the field order (serde_json's map sorts keys unless its
/// `preserve_order` feature is on, and the spec's examples list fields in element order).
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Str(String),
    Num(f64),
    Int(i64),
    /// Already JSON text (a bool, or a large unsigned id).
    Raw(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl std::fmt::Display for J {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            J::Null => f.write_str("null"),
            J::Str(s) => f.write_str(&json_string(s)),
            // serde_json writes the shortest form that reads back to the same f64.
            J::Num(n) => match serde_json::Number::from_f64(*n) {
                Some(number) => write!(f, "{number}"),
                None => f.write_str("null"),
            },
            J::Int(n) => write!(f, "{n}"),
            J::Raw(text) => f.write_str(text),
            J::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            J::Obj(fields) => {
                f.write_str("{")?;
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{value}", json_string(key))?;
                }
                f.write_str("}")
            }
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Doc {
        Doc {
            kind: Kind::Requests,
            body: V::List(
                "request",
                vec![V::Obj(vec![
                    ("service_request_id", V::Id("293944".to_owned())),
                    ("description", V::str("a & b < c")),
                    ("lat", V::Num(42.35)),
                    ("status_notes", V::Null),
                ])],
            ),
        }
    }

    #[test]
    fn escapes_the_five_and_controls() {
        assert_eq!(escape(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(escape("x\r\ny\u{1}"), "x&#13;\ny\u{FFFD}");
    }

    #[test]
    fn spec_xml_and_json() {
        let xml = sample().render(Format::Xml, None);
        assert!(xml.starts_with(XML_DECLARATION), "{xml}");
        assert!(xml.contains("<service_requests>\n  <request>\n"), "{xml}");
        assert!(xml.contains("<description>a &amp; b &lt; c</description>"), "{xml}");
        assert!(xml.contains("<status_notes></status_notes>"), "{xml}");
        let json = sample().render(Format::Json, None);
        assert_eq!(
            json,
            r#"[{"service_request_id":"293944","description":"a & b < c","lat":42.35,"status_notes":null}]"#
        );
    }

    #[test]
    fn quirk_shapes() {
        let doc = sample();
        assert!(
            doc.render(Format::Json, Some(Quirk::NumericIds))
                .contains(r#""service_request_id":293944"#)
        );
        assert!(
            doc.render(Format::Json, Some(Quirk::WrappedLists))
                .starts_with(r#"{"service_requests":[{"#)
        );
        assert!(
            doc.render(Format::Json, Some(Quirk::AllStrings))
                .contains(r#""lat":"42.35""#)
        );
        assert_eq!(
            doc.render(Format::Json, Some(Quirk::XmlSimpleArrays)),
            r#"{"requests":[{"request":[{"service_request_id":["293944"],"description":["a & b < c"],"lat":[42.35]}]}]}"#
        );
        assert!(
            doc.render(Format::Xml, Some(Quirk::XmlRootRequests))
                .contains("\n<requests>\n")
        );
    }

    #[test]
    fn numeric_ids_keep_strings_that_are_not_plain_numbers() {
        assert_eq!(numeric_id("00123"), None);
        assert_eq!(numeric_id("SR-1"), None);
        assert_eq!(numeric_id("12"), Some(12));
    }

    #[test]
    fn error_bodies() {
        let errors = [ApiError::http(400, "one"), ApiError::named("ATTR_REQUIRED", "two")];
        assert_eq!(
            render_errors(400, &errors, Format::Json, None),
            r#"[{"code":400,"description":"one"},{"code":"ATTR_REQUIRED","description":"two"}]"#
        );
        assert_eq!(
            render_errors(400, &errors, Format::Json, Some(Quirk::OddErrors)),
            r#"{"code":400,"detail":["one","two"]}"#
        );
        assert!(render_errors(400, &errors, Format::Xml, Some(Quirk::OddErrors)).contains("\n<error>one; two</error>"));
        let xml = render_errors(403, &errors[..1], Format::Xml, None);
        assert!(
            xml.contains("<errors>\n  <error>\n    <code>400</code>\n    <description>one</description>"),
            "{xml}"
        );
    }
}
