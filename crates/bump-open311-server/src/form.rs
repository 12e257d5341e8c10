//! `application/x-www-form-urlencoded` parsing, by hand so the raw pairs (duplicates, empty
//! values, `attribute[CODE][]` keys) survive exactly as received.

/// Splits `a=1&b=&c` into pairs, decoding `+` and `%XX`. Empty segments (`a=1&&b=2`, a trailing
/// `&`) are skipped; a key without `=` has an empty value. Fails on bytes that are not UTF-8
/// once decoded, since the spec says all text received "will be assumed to be UTF-8".
pub(crate) fn parse(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for segment in input.split(|&b| b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let (key, value) = match segment.iter().position(|&b| b == b'=') {
            Some(at) => (&segment[..at], &segment[at + 1..]),
            None => (segment, &[][..]),
        };
        pairs.push((decode(key)?, decode(value)?));
    }
    Ok(pairs)
}

fn decode(raw: &[u8]) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        bytes.push(b);
                        i += 2;
                    }
                    // A stray `%` is kept literally, as browsers and most servers do.
                    None => bytes.push(b'%'),
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| format!("parameter is not valid UTF-8: {}", String::from_utf8_lossy(raw)))
}

/// Decodes one path segment (`%20`, but `+` stays a plus there).
pub(crate) fn decode_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn decodes_plus_percent_brackets_and_empties() {
        let got = parse(b"a=1+2%2C3&attribute%5BL%5D%5B%5D=C&empty=&bare&&z=%zz").expect("parse");
        assert_eq!(
            got,
            pairs(&[
                ("a", "1 2,3"),
                ("attribute[L][]", "C"),
                ("empty", ""),
                ("bare", ""),
                ("z", "%zz")
            ])
        );
    }

    #[test]
    fn decodes_utf8_and_refuses_broken_utf8() {
        assert_eq!(parse(b"d=caf%C3%A9").expect("parse"), pairs(&[("d", "café")]));
        assert!(parse(b"d=%C3").is_err());
    }

    #[test]
    fn path_segments_keep_plus() {
        assert_eq!(decode_path("SR%2D1+2"), "SR-1+2");
    }
}
