//! RingCentral's OAuth endpoints: authorize (sign-in + consent), token and revoke.
//!
//! Helpers shared by the three live here: reading a form body strictly, refusing client
//! credentials (every registered client is public), and building a redirect to a client.

pub mod authorize;
pub mod revoke;
pub mod token;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, REFERRER_POLICY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::errors::OAuthError;
use crate::form::{Params, is_form_content_type};
use crate::server::{BodyError, read_body};

/// Reads a form-encoded body: 415 for another content type, 413 when too large, 400 when not UTF-8.
pub async fn read_form(headers: &HeaderMap, body: Body) -> Result<Params, OAuthError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !is_form_content_type(content_type) {
        return Err(OAuthError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "OAU-101",
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = read_body(body).await.map_err(|e| match e {
        BodyError::TooLarge => OAuthError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "CMN-413",
            "Request body is too large",
        ),
        BodyError::Unreadable => {
            OAuthError::invalid_request("OAU-101", "Request body could not be read")
        }
    })?;
    Params::from_body(&bytes)
        .map_err(|_| OAuthError::invalid_request("OAU-101", "Request body is not valid UTF-8"))
}

/// Public clients have no credentials: an `Authorization` header or a `client_secret` is refused
/// rather than ignored, so an app cannot come to depend on sending one.
pub fn refuse_client_credentials(headers: &HeaderMap, params: &Params) -> Result<(), OAuthError> {
    let secret = params.pairs().iter().any(|(k, _)| k == "client_secret");
    if headers.contains_key(AUTHORIZATION) || secret {
        return Err(OAuthError::invalid_client(
            "OAU-146",
            "Invalid client credentials: this client is public and must not authenticate",
        ));
    }
    Ok(())
}

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

/// A redirect to a client, never cached and never leaking the sandbox's URL as a referrer.
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return OAuthError::server_error().into_response();
    };
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(LOCATION, value);
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The client's permissions as a `scope` value.
pub fn scope_of(permissions: &[String]) -> String {
    permissions.join(" ")
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
