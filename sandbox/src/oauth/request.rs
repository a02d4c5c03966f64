//! What every OAuth endpoint checks about a request before reading its own parameters: a strict
//! form body, and no client credentials (every registered client is public).

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};

use crate::body::{BodyError, read_body};
use crate::errors::OAuthError;
use crate::form::{Params, is_form_content_type};

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
