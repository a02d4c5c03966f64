//! `POST /restapi/oauth/revoke` (RFC 7009): any token of a session ends the whole session.
//!
//! Unknown, expired and already-revoked tokens get 200 too, so a client can always finish signing
//! out and learns nothing about which tokens exist. `client_id` is optional (RingCentral's SPA flow
//! sends it); when sent, it must be a registered client and the token's own.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::request::{read_form, refuse_client_credentials};
use crate::errors::{AppError, OAuthError, annotate, grant_label};
use crate::pkce::hash_secret;
use crate::state::AppState;

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let params = read_form(&headers, body).await?;
    if let Some(dup) = params.first_duplicate(&["token", "client_id", "token_type_hint"]) {
        return Err(OAuthError::duplicated(&dup.0).into());
    }
    refuse_client_credentials(&headers, &params)?;
    let client_id = params.get("client_id").ok().flatten();
    if client_id.is_some_and(|c| state.client(c).is_none()) {
        return Err(OAuthError::invalid_client("OAU-153", "Invalid client").into());
    }
    let token = params
        .get("token")
        .ok()
        .flatten()
        .ok_or_else(|| OAuthError::missing("token"))?;
    let revoked = state.store().revoke_token(&hash_secret(token), client_id)?;
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(id) = revoked {
        annotate(&mut response, |info| info.grant_id = Some(grant_label(id)));
    }
    Ok(response)
}
