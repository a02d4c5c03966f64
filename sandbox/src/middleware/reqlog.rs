//! The request-log layer: records every non-admin request once it has been answered.
//!
//! It is the outermost layer so that preflights, injected faults and refusals are logged too. It
//! also answers 413 for a body declared larger than the limit, on every path, before any handler
//! could start reading it.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;

use crate::admin::is_admin_path;
use crate::body::MAX_BODY_BYTES;
use crate::errors::{LogInfo, routing_error};
use crate::form::redact_query;
use crate::reqlog::LogEntry;
use crate::state::AppState;

/// The scheme of an `Authorization` header, lower-cased; never its credentials.
fn authorization_kind(value: &str) -> String {
    let scheme = value
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "bearer" | "basic" => scheme,
        _ => "other".to_owned(),
    }
}

/// Logs every non-admin request, and refuses bodies declared larger than the limit up front.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if is_admin_path(&path) {
        return next.run(request).await;
    }
    let seq = state.log().next_seq();
    let started_us = state.clock.monotonic_us();
    let method = request.method().to_string();
    let query = request.uri().query().map(redact_query);
    let (origin, authorization, declared_len) = {
        let headers = request.headers();
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
        };
        (
            header(ORIGIN).map(str::to_owned),
            header(AUTHORIZATION).map(authorization_kind),
            header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok()),
        )
    };
    let response = if declared_len.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        routing_error(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            "CMN-413",
            "Request body is too large",
        )
    } else {
        next.run(request).await
    };
    let info = response
        .extensions()
        .get::<LogInfo>()
        .cloned()
        .unwrap_or_default();
    let entry = LogEntry {
        seq,
        method,
        path,
        query,
        grant_type: info.grant_type,
        status: response.status().as_u16(),
        error: info.error,
        error_code: info.error_code,
        grant_id: info.grant_id,
        origin,
        authorization,
        fault: info.fault,
        started_us,
        finished_us: state.clock.monotonic_us(),
    };
    state.log().push(entry);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_scheme_only() {
        assert_eq!(authorization_kind("Bearer abc.def"), "bearer");
        assert_eq!(authorization_kind("basic Zm9vOmJhcg=="), "basic");
        assert_eq!(authorization_kind("Token xyz"), "other");
        assert_eq!(authorization_kind(""), "other");
    }
}
