//! Parsing of `application/x-www-form-urlencoded` bodies and query strings, strictly.
//!
//! RFC 6749 §3.1/§3.2 say parameters sent without a value are treated as omitted and that no
//! parameter may appear twice; this keeps every pair so a handler can reject duplicates
//! (RingCentral's OAU-111) instead of silently taking the first or last.

/// The decoded name/value pairs of one form or query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

/// Why a body could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The bytes are not UTF-8 (a percent-decoded value may be; the raw body must be).
    NotUtf8,
}

impl Params {
    /// Parses a raw body. Malformed percent escapes are kept literally, as browsers do.
    pub fn from_body(body: &[u8]) -> Result<Self, FormError> {
        let text = std::str::from_utf8(body).map_err(|_| FormError::NotUtf8)?;
        Ok(Self::from_query(text))
    }

    /// Parses a query string (without the `?`).
    pub fn from_query(query: &str) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The single non-empty value of `name`; [`Duplicate`] when it was sent more than once.
    pub fn get(&self, name: &str) -> Result<Option<&str>, Duplicate> {
        let mut found = None;
        for (k, v) in &self.pairs {
            if k == name && !v.is_empty() {
                if found.is_some() {
                    return Err(Duplicate(name.to_owned()));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found)
    }

    /// Every non-empty value of `name`, for parameters that may repeat (the call log's `direction`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first parameter among `names` that was sent more than once with a value.
    pub fn first_duplicate(&self, names: &[&str]) -> Option<Duplicate> {
        names.iter().find_map(|n| self.get(n).err())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// A parameter sent more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate(pub String);

/// Whether a `Content-Type` header value is `application/x-www-form-urlencoded` (any parameters,
/// any case).
pub fn is_form_content_type(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        v.split(';').next().is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
}

/// Replaces the values of secret-bearing parameters with `[redacted]` and keeps the rest as sent,
/// so a query string can be logged.
pub fn redact_query(query: &str) -> String {
    const SECRET: [&str; 7] = [
        "access_token",
        "refresh_token",
        "code",
        "code_verifier",
        "token",
        "password",
        "client_secret",
    ];
    query
        .split('&')
        .map(|segment| {
            let raw_key = segment.split('=').next().unwrap_or_default();
            let key = form_urlencoded::parse(raw_key.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned());
            match key {
                Some(k) if SECRET.contains(&k.as_str()) && segment.contains('=') => {
                    format!("{raw_key}=[redacted]")
                }
                _ => segment.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs() {
        let p = Params::from_body(
            b"grant_type=authorization_code&code=a%2Bb&redirect_uri=http%3A%2F%2Fx%2Fcb&x=1+2",
        )
        .unwrap();
        assert_eq!(p.get("grant_type"), Ok(Some("authorization_code")));
        assert_eq!(p.get("code"), Ok(Some("a+b")));
        assert_eq!(p.get("redirect_uri"), Ok(Some("http://x/cb")));
        assert_eq!(p.get("x"), Ok(Some("1 2")));
        assert_eq!(p.get("missing"), Ok(None));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = Params::from_body(b"code=&state=s&code=abc").unwrap();
        assert_eq!(p.get("code"), Ok(Some("abc")));
        let p = Params::from_body(b"code&state").unwrap();
        assert_eq!(p.get("code"), Ok(None));
    }

    #[test]
    fn duplicates_are_reported() {
        let p = Params::from_body(b"code=a&code=b&direction=Inbound&direction=Outbound").unwrap();
        assert_eq!(p.get("code"), Err(Duplicate("code".into())));
        assert_eq!(
            p.first_duplicate(&["grant_type", "code"]),
            Some(Duplicate("code".into()))
        );
        assert_eq!(p.all("direction"), ["Inbound", "Outbound"]);
    }

    #[test]
    fn malformed_input_does_not_panic() {
        assert_eq!(
            Params::from_body(&[0xff, 0xfe, b'=']),
            Err(FormError::NotUtf8)
        );
        let p = Params::from_body(b"a=%ZZ&b=%&=&&&c==").unwrap();
        assert_eq!(p.get("a"), Ok(Some("%ZZ")));
        assert_eq!(p.get("b"), Ok(Some("%")));
        assert_eq!(p.get("c"), Ok(Some("=")));
        let p = Params::from_body(b"").unwrap();
        assert!(p.pairs().is_empty());
    }

    #[test]
    fn content_type_check() {
        assert!(is_form_content_type(Some(
            "application/x-www-form-urlencoded"
        )));
        assert!(is_form_content_type(Some(
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8"
        )));
        assert!(!is_form_content_type(Some("application/json")));
        assert!(!is_form_content_type(None));
    }

    #[test]
    fn redaction() {
        let q = redact_query("code=abc&state=xyz&access_token=t");
        assert_eq!(q, "code=[redacted]&state=xyz&access_token=[redacted]");
        assert_eq!(
            redact_query("co%64e=abc&page=2"),
            "co%64e=[redacted]&page=2"
        );
    }
}
