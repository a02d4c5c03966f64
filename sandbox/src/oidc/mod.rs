//! The OpenID provider's public documents: the discovery document (OpenID Connect Discovery 1.0,
//! RFC 8414) in RingCentral's shape, and the JWKS its ID tokens verify against.
//!
//! Both are plain GETs a browser fetches, so they get CORS like the token endpoint (the CORS layer
//! covers every non-admin path but authorize). They are answered `no-cache`: the admin API rotates
//! keys mid-test, and a client must see that on its next fetch. The userinfo endpoint sits with the
//! REST API, whose bearer-token checks it shares; ID tokens are made by the token endpoint.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::state::AppState;

pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/restapi/oauth/jwks";

/// The OpenID routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(DISCOVERY_PATH, get(discovery))
        .route(JWKS_PATH, get(jwks))
}

/// The discovery document for a sandbox at `base` (its issuer, exactly).
///
/// RingCentral's fields, with the values the sandbox really honours where they differ: only S256
/// PKCE, only RS256 ID tokens, and `none` as the token endpoint's client authentication (it refuses
/// client credentials, where RingCentral lists secret-based methods). It sends `iss` on every
/// redirect back to the client, so it says so (RFC 9207), which RingCentral's schema does not.
pub fn document(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/restapi/oauth/authorize"),
        "token_endpoint": format!("{base}/restapi/oauth/token"),
        "revocation_endpoint": format!("{base}/restapi/oauth/revoke"),
        "userinfo_endpoint": format!("{base}/restapi/oauth/userinfo"),
        "jwks_uri": format!("{base}{JWKS_PATH}"),
        "scopes_supported": ["openid", "email", "profile"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "claims_supported": [
            "sub", "iss", "auth_time", "aud", "exp", "iat", "jti", "nonce", "account_id",
            "email", "email_verified", "given_name", "family_name",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

fn uncached(body: Value) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn discovery(State(state): State<AppState>) -> Response {
    uncached(document(&state.base_url))
}

async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.oidc().keys.jwks();
    uncached(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let doc = document("http://127.0.0.1:5001");
        assert_eq!(doc["issuer"], "http://127.0.0.1:5001");
        assert_eq!(doc["jwks_uri"], "http://127.0.0.1:5001/restapi/oauth/jwks");
        assert_eq!(
            doc["userinfo_endpoint"],
            "http://127.0.0.1:5001/restapi/oauth/userinfo"
        );
    }
}
