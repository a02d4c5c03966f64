//! CORS for the token, revoke and REST endpoints, written by hand so that preflights pass through the
//! request log (tests prove a token POST needed none) and disallowed preflights get a 403.
//!
//! Allowed origins get `Access-Control-Allow-Origin: <origin>` and `Vary: Origin`, never
//! credentials. `Retry-After` and `X-Rate-Limit-*` are exposed only when configured, because
//! RingCentral does not expose them and the app must cope without them. The admin API is not
//! CORS-enabled at all, and neither is the authorize page (GET, and its form's POST), as at
//! RingCentral: a browser navigates there, so no other site's script needs to read it.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::admin::is_admin_path;
use crate::errors::ApiError;
use crate::oauth::AUTHORIZE_PATH;
use crate::ratelimit::EXPOSED_HEADERS;
use crate::state::AppState;

pub const ALLOWED_METHODS: &str = "GET, POST";
pub const ALLOWED_HEADERS: [&str; 3] = ["authorization", "content-type", "accept"];
pub const MAX_AGE_SECS: u32 = 600;

/// Why a preflight is refused, or `Ok` when it may proceed.
fn check_preflight(headers: &HeaderMap) -> Result<(), String> {
    let method = headers
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !matches!(method, "GET" | "POST" | "HEAD") {
        return Err(format!(
            "Method [{method}] is not allowed by the CORS policy"
        ));
    }
    let requested = headers
        .get(ACCESS_CONTROL_REQUEST_HEADERS)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    for name in requested
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return Err(format!("Header [{name}] is not allowed by the CORS policy"));
        }
    }
    Ok(())
}

fn forbidden(message: &str) -> Response {
    ApiError::simple(StatusCode::FORBIDDEN, "CMN-403", message).into_response()
}

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if is_admin_path(path) || path == AUTHORIZE_PATH {
        return next.run(request).await;
    }
    let origin = request.headers().get(ORIGIN).cloned();
    let allowed = origin
        .as_ref()
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| state.config.allowed_origins.iter().any(|a| a == o));
    let is_preflight = request.method() == Method::OPTIONS
        && origin.is_some()
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);

    if is_preflight {
        if !allowed {
            return forbidden("Origin is not allowed by the CORS policy");
        }
        if let Err(message) = check_preflight(request.headers()) {
            return forbidden(&message);
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        if let Some(o) = origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, accept"),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(MAX_AGE_SECS));
        h.append(VARY, HeaderValue::from_static("Origin"));
        h.append(
            VARY,
            HeaderValue::from_static("Access-Control-Request-Method"),
        );
        h.append(
            VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
        return response;
    }

    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if allowed {
        if let Some(o) = origin {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        if state.config.expose_rate_limit_headers {
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(method: &str, requested: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_str(method).unwrap(),
        );
        if let Some(r) = requested {
            h.insert(
                ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_str(r).unwrap(),
            );
        }
        h
    }

    #[test]
    fn preflight_rules() {
        assert!(check_preflight(&headers("POST", None)).is_ok());
        assert!(check_preflight(&headers("GET", Some("authorization"))).is_ok());
        assert!(check_preflight(&headers("POST", Some("Content-Type, Accept"))).is_ok());
        assert!(check_preflight(&headers("DELETE", None)).is_err());
        assert!(check_preflight(&headers("GET", Some("authorization,x-user-agent"))).is_err());
    }
}
