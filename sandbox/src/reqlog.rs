//! The request log: one entry per request received (admin calls excepted), for tests to inspect.
//!
//! Entries carry what a test needs to prove behaviour (which grant type, which error code, whether a
//! preflight happened, whether two requests overlapped in real time) and nothing secret: the query
//! string is redacted, bodies are never read here, and `authorization` is only the scheme.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::errors::{LogInfo, routing_error};
use crate::form::redact_query;
use crate::server::{AppState, MAX_BODY_BYTES, is_admin_path};

/// Oldest entries are dropped beyond this many, so a long-running sandbox stays small.
pub const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub grant_type: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub grant_id: Option<String>,
    pub origin: Option<String>,
    pub authorization: Option<String>,
    pub fault: bool,
    pub started_us: u64,
    pub finished_us: u64,
}

#[derive(Debug)]
pub struct RequestLog {
    next_seq: u64,
    entries: Vec<LogEntry>,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            next_seq: 1,
            entries: Vec::new(),
        }
    }
}

impl RequestLog {
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn push(&mut self, entry: LogEntry) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }

    /// Entries in arrival order (requests are added when they finish).
    pub fn entries(&self) -> Vec<LogEntry> {
        let mut out = self.entries.clone();
        out.sort_by_key(|e| e.seq);
        out
    }

    /// Empties the log; numbering starts again at 1.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

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

    #[test]
    fn numbering_restarts_after_clear() {
        let mut log = RequestLog::default();
        assert_eq!(log.next_seq(), 1);
        assert_eq!(log.next_seq(), 2);
        log.clear();
        assert_eq!(log.next_seq(), 1);
    }
}
