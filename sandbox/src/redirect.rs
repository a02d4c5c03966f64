//! Redirects back to a client: the query joining and the headers every such redirect carries.
//!
//! Used for the code (success) and for authorize errors, so both leave the same way: never cached,
//! and never leaking the sandbox's URL as a referrer.

use axum::http::header::{CACHE_CONTROL, InvalidHeaderValue, LOCATION, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// `redirect_uri` with `params` appended to its query.
pub fn redirect_location(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let query = query.finish();
    let separator = if redirect_uri.ends_with(['?', '&']) {
        ""
    } else if redirect_uri.contains('?') {
        "&"
    } else {
        "?"
    };
    format!("{redirect_uri}{separator}{query}")
}

/// A redirect to `location`. Fails only for a location that is not a valid header value, which
/// registration rules out; callers answer that with a server error in their own shape.
pub fn redirect(status: StatusCode, location: &str) -> Result<Response, InvalidHeaderValue> {
    let value = HeaderValue::from_str(location)?;
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(LOCATION, value);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_query_joining() {
        assert_eq!(
            redirect_location("http://x/cb", &[("code", "a b")]),
            "http://x/cb?code=a+b"
        );
        assert_eq!(
            redirect_location("http://x/cb?app=1", &[("code", "c")]),
            "http://x/cb?app=1&code=c"
        );
        assert_eq!(
            redirect_location("http://x/cb?", &[("state", "s&t")]),
            "http://x/cb?state=s%26t"
        );
    }
}
