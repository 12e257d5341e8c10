/*!
Reading whatever a GeoReport v2 server sent into one JSON-shaped tree.

Both formats are turned into a [`serde_json::Value`] first, XML by the Spark
convention the spec's JSON is defined by (an element with children becomes
an object, repeated children an array, an element with only text a string,
an empty element `null`). The typed readers in [`crate::model`] then work on
that tree and forgive the ways real servers stray from the spec: lists
wrapped in objects or not, scalars wrapped in one-element arrays, numbers for
ids, strings for numbers and booleans.

Before JSON is given up as invalid, one repair is tried: the spec's own
examples write numbers with leading zeros (`"service_code":006`), which no
JSON parser accepts; such a number is read as the string it was meant to be.
*/

use serde_json::{Map, Value};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body was empty.
    #[error("empty body")]
    Empty,
    /// An HTML page where XML or JSON was expected (typically a proxy's or
    /// framework's error page).
    #[error("an HTML page, not Open311 data (title: {title:?})")]
    Html {
        /// The page's title, if it had one.
        title: String,
    },
    /// Neither valid JSON nor valid XML.
    #[error("malformed {format}: {reason}")]
    Malformed {
        /// `JSON` or `XML`.
        format: &'static str,
        /// The parser's message, with its position.
        reason: String,
    },
    /// Well-formed, but not the shape that was expected.
    #[error("unexpected shape: {0}")]
    Shape(String),
}

/// A decoded body: the root element's name (XML only) and its content.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The XML root element's name; `None` for JSON.
    pub root: Option<String>,
    /// The content, Spark-converted for XML.
    pub value: Value,
}

/// Decodes a body of either format, telling them apart by their first
/// character rather than trusting the `Content-Type`, which real servers get
/// wrong.
///
/// # Errors
///
/// [`DecodeError`] when the body is empty, an HTML page, or malformed.
pub fn decode(body: &str) -> Result<Document, DecodeError> {
    let text = body.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    if looks_like_html(text) {
        return Err(DecodeError::Html {
            title: html_title(text),
        });
    }
    if text.starts_with('<') {
        decode_xml(text)
    } else {
        decode_json(text).map(|value| Document { root: None, value })
    }
}

fn looks_like_html(text: &str) -> bool {
    let head: String = text.chars().take(64).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// The text of an HTML page's `<title>`, or of its first heading.
#[must_use]
pub fn html_title(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    for tag in ["title", "h1"] {
        let open = format!("<{tag}");
        if let Some(start) = lower.find(&open) {
            let after = &text[start..];
            if let Some(gt) = after.find('>') {
                let inner = &after[gt + 1..];
                let end = inner
                    .to_ascii_lowercase()
                    .find(&format!("</{tag}"))
                    .unwrap_or(inner.len());
                let t = inner[..end].trim();
                if !t.is_empty() {
                    return t.chars().take(200).collect();
                }
            }
        }
    }
    String::new()
}

fn decode_json(text: &str) -> Result<Value, DecodeError> {
    match serde_json::from_str(text) {
        Ok(v) => Ok(v),
        Err(first) => {
            let repaired = quote_leading_zero_numbers(text);
            if repaired != text
                && let Ok(v) = serde_json::from_str(&repaired)
            {
                return Ok(v);
            }
            Err(DecodeError::Malformed {
                format: "JSON",
                reason: first.to_string(),
            })
        }
    }
}

/// Quotes numbers that have a leading zero (`006` → `"006"`), outside
/// strings. Leaves everything else untouched. One pass: the last significant
/// byte outside strings is carried along, so long runs of whitespace cost no
/// more than any other bytes.
fn quote_leading_zero_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    let mut in_string = false;
    let mut start_of_plain = 0;
    // The last non-whitespace byte seen outside strings (a string counts as
    // its closing quote).
    let mut last_significant: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                in_string = false;
                last_significant = Some(b'"');
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let prev_is_value_start = matches!(last_significant, Some(b':' | b',' | b'['));
        if b == b'0' && prev_is_value_start && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let end = bytes[i..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&text[start_of_plain..i]);
            out.push('"');
            out.push_str(&text[i..end]);
            out.push('"');
            start_of_plain = end;
            last_significant = Some(b'"');
            i = end;
            continue;
        }
        last_significant = Some(b);
        i += 1;
    }
    out.push_str(&text[start_of_plain..]);
    out
}

/// The deepest XML nesting read, root included. Open311 documents are five
/// levels deep; the limit only keeps the recursive conversion below from
/// overflowing the stack (roxmltree parses any depth without recursion but
/// has no nesting limit of its own). JSON is bounded by serde_json's own
/// limit of 128.
pub const MAX_XML_DEPTH: usize = 256;

fn decode_xml(text: &str) -> Result<Document, DecodeError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| DecodeError::Malformed {
        format: "XML",
        reason: e.to_string(),
    })?;
    let root = doc.root_element();
    Ok(Document {
        root: Some(root.tag_name().name().to_owned()),
        value: element_value(root, 1)?,
    })
}

/// Spark convention: children by name (repeated ones as an array), text-only
/// elements as strings, empty elements as `null`. `depth` is the element's
/// own depth, the root being 1.
fn element_value(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, DecodeError> {
    let children: Vec<_> = node.children().filter(roxmltree::Node::is_element).collect();
    if children.is_empty() {
        let text: String = node
            .children()
            .filter(roxmltree::Node::is_text)
            .filter_map(|t| t.text())
            .collect();
        let text = text.trim();
        return Ok(if text.is_empty() {
            Value::Null
        } else {
            Value::String(text.to_owned())
        });
    }
    // Checked before recursing, so the stack never holds more than the limit.
    if depth >= MAX_XML_DEPTH {
        return Err(DecodeError::Malformed {
            format: "XML",
            reason: format!("nesting deeper than {MAX_XML_DEPTH} levels"),
        });
    }
    let mut map = Map::new();
    for child in children {
        let name = child.tag_name().name().to_owned();
        let v = element_value(child, depth + 1)?;
        match map.get_mut(&name) {
            // Element values are never arrays, so an array here is a list
            // being built from repeated children.
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(name, v);
            }
        }
    }
    Ok(Value::Object(map))
}

/// Field names that mark an object as one item rather than a wrapper.
const ITEM_FIELDS: [&str; 8] = [
    "service_request_id",
    "service_code",
    "token",
    "status",
    "code",
    "description",
    "specification",
    "key",
];

/// The items of a list, however the server wrapped them: a bare array, an
/// object holding one array (`{"service_requests": [...]}`), XML containers
/// (`{"request": [...]}` or a single `{"request": {...}}`), or one item on its
/// own. `null` is an empty list.
#[must_use]
pub fn items(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    collect_items(v, &mut out, 0);
    out
}

fn collect_items<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    if depth > 6 {
        return;
    }
    match v {
        Value::Array(xs) => {
            for x in xs {
                match x {
                    Value::Object(m) if is_wrapper(m) => collect_items(x, out, depth + 1),
                    Value::Array(_) => collect_items(x, out, depth + 1),
                    _ => out.push(x),
                }
            }
        }
        Value::Object(m) if is_wrapper(m) => {
            if let Some(inner) = m.values().next() {
                collect_items(inner, out, depth + 1);
            }
        }
        Value::Object(_) => out.push(v),
        _ => {}
    }
}

fn is_wrapper(m: &Map<String, Value>) -> bool {
    m.len() == 1 && !ITEM_FIELDS.iter().any(|f| m.contains_key(*f))
}

/// A field as text, forgiving numbers, booleans and one-element arrays;
/// empty text is absent.
#[must_use]
pub fn text(v: Option<&Value>) -> Option<String> {
    match peel(v?) {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as a finite number, forgiving strings.
#[must_use]
pub fn number(v: Option<&Value>) -> Option<f64> {
    match peel(v?) {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A field as a boolean, forgiving `"true"`/`"false"`, `1`/`0`.
#[must_use]
pub fn boolean(v: Option<&Value>) -> Option<bool> {
    match peel(v?) {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The value inside any number of one-element arrays, by a loop, so no
/// nesting can exhaust the stack.
fn peel(mut v: &Value) -> &Value {
    while let Value::Array(xs) = v
        && let [one] = xs.as_slice()
    {
        v = one;
    }
    v
}

/// Every string inside a value, depth first (to make a message out of an
/// error body of unknown shape).
#[must_use]
pub fn all_strings(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_strings(v, &mut out, 0);
    out
}

fn walk_strings(v: &Value, out: &mut Vec<String>, depth: usize) {
    // Decoded values are bounded (serde_json: 128, XML: MAX_XML_DEPTH); this
    // bounds values built some other way too.
    if depth > MAX_XML_DEPTH {
        return;
    }
    match v {
        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
        Value::Array(xs) => xs.iter().for_each(|x| walk_strings(x, out, depth + 1)),
        Value::Object(m) => m.values().for_each(|x| walk_strings(x, out, depth + 1)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leading_zero_numbers_become_strings() {
        let d = decode(r#"[{"service_code":006,"zipcode":94122,"lat":0.5,"s":"a:007"}]"#).expect("repaired");
        assert_eq!(d.value[0]["service_code"], json!("006"));
        assert_eq!(d.value[0]["zipcode"], json!(94122));
        assert_eq!(d.value[0]["lat"], json!(0.5));
        assert_eq!(d.value[0]["s"], json!("a:007"));
    }

    #[test]
    fn the_repair_looks_past_whitespace_and_strings() {
        let d = decode("{\"a\" :\n  007, \"b\": [ 08 ]}").expect("repaired");
        assert_eq!(d.value["a"], json!("007"));
        assert_eq!(d.value["b"], json!(["08"]));
        // A ':' inside a string is no value start.
        assert_eq!(quote_leading_zero_numbers(r#"["x:" 007]"#), r#"["x:" 007]"#);
    }

    #[test]
    fn xml_deeper_than_the_limit_is_malformed() {
        let nest = |n: usize| format!("{}x{}", "<a>".repeat(n), "</a>".repeat(n));
        assert!(decode(&nest(MAX_XML_DEPTH)).is_ok());
        // roxmltree has no nesting limit of its own, so ours is what answers
        // even far deeper input.
        for depth in [MAX_XML_DEPTH + 1, 100_000] {
            let e = decode(&nest(depth)).expect_err("too deep");
            assert_eq!(
                e,
                DecodeError::Malformed {
                    format: "XML",
                    reason: format!("nesting deeper than {MAX_XML_DEPTH} levels"),
                }
            );
        }
    }

    #[test]
    fn invalid_json_is_a_clear_error() {
        let e = decode(r#"[{"supports_media": TRUE}]"#).expect_err("invalid");
        assert!(matches!(e, DecodeError::Malformed { format: "JSON", .. }), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn xml_follows_the_spark_convention() {
        let d = decode(
            "<?xml version=\"1.0\"?><service_requests><request><service_request_id>1</service_request_id>\
             <description></description></request><request><service_request_id>2</service_request_id></request>\
             </service_requests>",
        )
        .expect("xml");
        assert_eq!(d.root.as_deref(), Some("service_requests"));
        let list = items(&d.value);
        assert_eq!(list.len(), 2);
        assert_eq!(text(list[1].get("service_request_id")).as_deref(), Some("2"));
        assert_eq!(list[0]["description"], Value::Null);
    }

    #[test]
    fn a_single_xml_child_is_still_a_list() {
        let d = decode("<services><service><service_code>A</service_code></service></services>").expect("xml");
        assert_eq!(items(&d.value).len(), 1);
    }

    #[test]
    fn xml_entities_are_decoded() {
        let d = decode("<r><description>a &amp; b &lt; c</description></r>").expect("xml");
        assert_eq!(text(d.value.get("description")).as_deref(), Some("a & b < c"));
    }

    #[test]
    fn wrapped_lists_unwrap() {
        let v = json!({"requests":[{"request":[{"service_request_id":[12345],"status":["open"]}]}]});
        let list = items(&v);
        assert_eq!(list.len(), 1);
        assert_eq!(text(list[0].get("service_request_id")).as_deref(), Some("12345"));
        assert_eq!(
            items(&json!({"service_requests": [{"token": "t"}, {"token": "u"}]})).len(),
            2
        );
        assert!(items(&Value::Null).is_empty());
    }

    #[test]
    fn html_pages_are_named_by_their_title() {
        let e =
            decode("\n<!doctype html><html><head><title>Server Error (500)</title></head></html>").expect_err("html");
        assert_eq!(
            e,
            DecodeError::Html {
                title: "Server Error (500)".into()
            }
        );
    }

    #[test]
    fn scalars_are_forgiven() {
        assert_eq!(number(Some(&json!("42.5"))), Some(42.5));
        assert_eq!(number(Some(&json!("NaN"))), None);
        assert_eq!(boolean(Some(&json!("false"))), Some(false));
        assert_eq!(text(Some(&json!("  "))), None);
        assert_eq!(text(Some(&json!(12))), Some("12".into()));
    }
}
