//! The few URL operations the client needs, done strictly: split off a query, encode and decode
//! `application/x-www-form-urlencoded` pairs, and take an http(s) URL apart far enough to know its
//! origin and whether its host is a loopback address.
//!
//! A full URL parser (the `url` crate) would add its IDNA tables to the wasm bundle for no benefit:
//! every URL this app builds or checks is ASCII and either configured by the operator or sent by the
//! authorization server.

use thiserror::Error;

/// Percent-encodes pairs as `application/x-www-form-urlencoded` (the query and token bodies).
pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Decodes `application/x-www-form-urlencoded` text into ordered pairs, keeping duplicates so the
/// caller can reject them.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The query of a URL: what lies between the first `?` and the fragment.
pub fn query_of(url: &str) -> Option<&str> {
    let without_fragment = url.split('#').next().unwrap_or("");
    without_fragment.split_once('?').map(|(_, q)| q)
}

/// The URL without query and fragment.
pub fn without_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

/// Adds encoded parameters to an endpoint that may already have a query string of its own.
pub fn append_query(endpoint: &str, encoded_pairs: &str) -> String {
    let (base, fragment) = match endpoint.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (endpoint, None),
    };
    let mut out = String::with_capacity(base.len() + encoded_pairs.len() + 2);
    out.push_str(base);
    if !encoded_pairs.is_empty() {
        match base.find('?') {
            None => out.push('?'),
            Some(i) if i + 1 == base.len() || base.ends_with('&') => {}
            Some(_) => out.push('&'),
        }
        out.push_str(encoded_pairs);
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("it is empty")]
    Empty,
    #[error("it must start with https:// (or http:// for a loopback host)")]
    Scheme,
    #[error("it has no host name")]
    NoHost,
    #[error("it must not contain a user name or password")]
    UserInfo,
    #[error("its port is not a number from 1 to 65535")]
    Port,
    #[error("it must not contain a fragment (#...)")]
    Fragment,
    #[error("it contains spaces or characters that are not allowed in a URL")]
    Characters,
}

/// An absolute http(s) URL taken apart into the pieces this app reasons about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    /// Lowercase; IPv6 literals keep their brackets.
    pub host: String,
    pub port: Option<u16>,
    /// Everything from the first `/`, `?` or `#` after the authority (may be empty).
    pub rest: String,
}

impl HttpUrl {
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(UrlError::Empty);
        }
        if input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(UrlError::Characters);
        }
        let (scheme, after) = input.split_once("://").ok_or(UrlError::Scheme)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(UrlError::Scheme);
        }
        let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(auth_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            rest: rest.to_string(),
        })
    }

    /// `scheme://host[:port]`, with the default port left out, as browsers serialise origins.
    pub fn origin(&self) -> String {
        let default = if self.scheme == "https" { 443 } else { 80 };
        match self.port {
            Some(p) if p != default => format!("{}://{}:{}", self.scheme, self.host, p),
            _ => format!("{}://{}", self.scheme, self.host),
        }
    }

    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// `localhost` (and its subdomains), 127.0.0.0/8 and `[::1]`: hosts that never leave the
    /// machine, where plain http cannot be intercepted on the network.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        if h == "localhost" || h.ends_with(".localhost") || h == "[::1]" {
            return true;
        }
        let parts: Vec<&str> = h.split('.').collect();
        parts.len() == 4
            && parts[0] == "127"
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
    }

    pub fn has_fragment(&self) -> bool {
        self.rest.contains('#')
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), UrlError> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']').ok_or(UrlError::NoHost)?;
        let (h, after) = authority.split_at(close + 1);
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(UrlError::Port),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')))
    {
        return Err(UrlError::Characters);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.chars().all(|c| c.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::Port),
        },
    };
    Ok((host, port))
}

/// `base` + `/` + `path` with exactly one slash between them.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_and_fragment_are_split_off() {
        assert_eq!(
            query_of("http://a/cb?code=1&state=2#frag"),
            Some("code=1&state=2")
        );
        assert_eq!(query_of("http://a/cb#x?y"), None);
        assert_eq!(query_of("http://a/cb"), None);
        assert_eq!(without_query("http://a/cb?x#y"), "http://a/cb");
    }

    #[test]
    fn append_query_handles_existing_queries_and_fragments() {
        assert_eq!(append_query("https://h/a", "x=1"), "https://h/a?x=1");
        assert_eq!(
            append_query("https://h/a?b=2", "x=1"),
            "https://h/a?b=2&x=1"
        );
        assert_eq!(append_query("https://h/a?", "x=1"), "https://h/a?x=1");
        assert_eq!(
            append_query("https://h/a?b=2&", "x=1"),
            "https://h/a?b=2&x=1"
        );
        assert_eq!(append_query("https://h/a#f", "x=1"), "https://h/a?x=1#f");
    }

    #[test]
    fn form_encoding_round_trips_reserved_characters() {
        let s = form_encode([
            ("redirect_uri", "http://localhost:5000/cb?a=1&b"),
            ("s", "a b+c"),
        ]);
        assert_eq!(
            s,
            "redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fcb%3Fa%3D1%26b&s=a+b%2Bc"
        );
        let back = parse_query(&s);
        assert_eq!(back[0].1, "http://localhost:5000/cb?a=1&b");
        assert_eq!(back[1].1, "a b+c");
    }

    #[test]
    fn origins_and_loopback() {
        let check = |u: &str, origin: &str, loopback: bool| {
            let p = HttpUrl::parse(u).unwrap();
            assert_eq!(p.origin(), origin, "{u}");
            assert_eq!(p.is_loopback(), loopback, "{u}");
        };
        check(
            "https://platform.ringcentral.com/restapi",
            "https://platform.ringcentral.com",
            false,
        );
        check(
            "https://Platform.RingCentral.com:443/x",
            "https://platform.ringcentral.com",
            false,
        );
        check("http://127.0.0.1:5001", "http://127.0.0.1:5001", true);
        check("http://localhost:5000/", "http://localhost:5000", true);
        check("http://app.localhost", "http://app.localhost", true);
        check("http://[::1]:8080/a", "http://[::1]:8080", true);
        check(
            "http://127.0.0.1.evil.com/",
            "http://127.0.0.1.evil.com",
            false,
        );
        check(
            "http://localhost.evil.com/",
            "http://localhost.evil.com",
            false,
        );
        check("http://128.0.0.1/", "http://128.0.0.1", false);
    }

    #[test]
    fn bad_urls_say_why() {
        assert_eq!(HttpUrl::parse(""), Err(UrlError::Empty));
        assert_eq!(HttpUrl::parse("ftp://x"), Err(UrlError::Scheme));
        assert_eq!(
            HttpUrl::parse("platform.ringcentral.com"),
            Err(UrlError::Scheme)
        );
        assert_eq!(HttpUrl::parse("https://"), Err(UrlError::NoHost));
        assert_eq!(HttpUrl::parse("https://u:p@h/"), Err(UrlError::UserInfo));
        assert_eq!(HttpUrl::parse("https://h:99999/"), Err(UrlError::Port));
        assert_eq!(HttpUrl::parse("https://h:+1/"), Err(UrlError::Port));
        assert_eq!(HttpUrl::parse("https://h x/"), Err(UrlError::Characters));
        assert_eq!(
            HttpUrl::parse("https://h\u{e9}/"),
            Err(UrlError::Characters)
        );
    }

    #[test]
    fn join_uses_one_slash() {
        assert_eq!(
            join("https://h/", "/restapi/v1.0"),
            "https://h/restapi/v1.0"
        );
        assert_eq!(join("https://h", "restapi"), "https://h/restapi");
    }

    proptest! {
        #[test]
        fn form_encoding_round_trips(pairs in proptest::collection::vec((".*", ".*"), 0..6)) {
            let encoded = form_encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            prop_assert_eq!(parse_query(&encoded), pairs);
        }

        #[test]
        fn url_parsing_never_panics(s in ".*") {
            let _ = HttpUrl::parse(&s);
            let _ = query_of(&s);
            let _ = without_query(&s);
        }
    }
}
