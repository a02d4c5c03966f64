//! Fault injection: queued failures and latency for the next N calls of an endpoint.
//!
//! Faults are set through `POST /__sandbox/faults` and consumed in order by matching non-preflight
//! requests, so a test can script "the next token call is a 503, the one after a 429" without
//! restarting anything. A fault with a status answers in RingCentral's error shape for that
//! endpoint; a fault without one only adds latency. This is the queue and its rules; the layer
//! that applies them is `middleware::faults`, so the shared state can hold the queue without
//! depending on the layer.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::errors::{ApiError, OAuthError};

/// Longest latency a fault may add, so a mistaken fault cannot hang a test run.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Which calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    Token,
    Revoke,
    Authorize,
    Account,
    Extension,
    CallLog,
    /// Any REST API call (`/restapi/v1.0/...`).
    Api,
}

/// One queued fault, as posted and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub target: Target,
    /// How many more matching calls it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status (400..=599) instead of calling the endpoint.
    #[serde(default)]
    pub status: Option<u16>,
    /// Sent as `Retry-After` with the fault's status.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Latency added before answering (or before calling the endpoint).
    #[serde(default)]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if self.status.is_some_and(|s| !(400..=599).contains(&s)) {
            return Err("status must be between 400 and 599".into());
        }
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        if self.status.is_none() && self.delay_ms == 0 {
            return Err("a fault needs a status, a delay_ms, or both".into());
        }
        Ok(())
    }
}

/// The ordered queue of pending faults.
#[derive(Debug, Default)]
pub struct FaultQueue {
    items: Vec<Fault>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault) {
        self.items.push(fault);
    }

    pub fn list(&self) -> Vec<Fault> {
        self.items.clone()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Consumes one use of the first fault that matches `endpoint`.
    pub fn take(&mut self, endpoint: Target) -> Option<Fault> {
        let index = self
            .items
            .iter()
            .position(|f| matches(f.target, endpoint))?;
        let fault = self.items.get_mut(index)?;
        fault.count = fault.count.saturating_sub(1);
        let taken = Fault {
            count: 1,
            ..fault.clone()
        };
        if fault.count == 0 {
            self.items.remove(index);
        }
        Some(taken)
    }
}

fn matches(target: Target, endpoint: Target) -> bool {
    target == endpoint
        || (target == Target::Api
            && matches!(
                endpoint,
                Target::Account | Target::Extension | Target::CallLog | Target::Api
            ))
}

/// The endpoint a path belongs to; `Api` for other REST paths, `None` outside the API.
pub fn classify(path: &str) -> Option<Target> {
    match path {
        "/restapi/oauth/token" => return Some(Target::Token),
        "/restapi/oauth/revoke" => return Some(Target::Revoke),
        "/restapi/oauth/authorize" => return Some(Target::Authorize),
        _ => {}
    }
    let rest = path.strip_prefix("/restapi/v1.0/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match segments.as_slice() {
        ["account", _] => Target::Account,
        ["account", _, "extension", _] => Target::Extension,
        ["account", _, "extension", _, "call-log"] => Target::CallLog,
        _ => Target::Api,
    })
}

/// The response an injected status gets, in the endpoint's own error shape.
pub fn fault_response(endpoint: Target, status: u16, retry_after_secs: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let oauth = matches!(endpoint, Target::Token | Target::Revoke | Target::Authorize);
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        // Rate limiting happens in RingCentral's gateway, before OAuth: same shape everywhere.
        ApiError::rate_limited().into_response()
    } else if oauth {
        let (error, code, text) = match status.as_u16() {
            401 => ("invalid_client", "OAU-153", "Invalid client"),
            400..=499 => ("invalid_request", "OAU-101", "Injected client error"),
            502..=504 => (
                "temporarily_unavailable",
                "CMN-211",
                "Service temporarily unavailable",
            ),
            _ => ("server_error", "CMN-201", "Internal server error"),
        };
        OAuthError::new(status, error, code, text).into_response()
    } else {
        match status.as_u16() {
            401 => ApiError::unauthorized("OAU-149", "Invalid token").into_response(),
            403 => ApiError::simple(status, "CMN-408", "Access denied").into_response(),
            404 => ApiError::simple(status, "CMN-102", "Resource not found").into_response(),
            400..=499 => ApiError::simple(status, "CMN-101", "Bad request").into_response(),
            502..=504 => ApiError::simple(status, "CMN-211", "Service temporarily unavailable")
                .into_response(),
            _ => ApiError::simple(status, "CMN-201", "Internal server error").into_response(),
        }
    };
    *response.status_mut() = status;
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(target: Target, count: u32, status: u16) -> Fault {
        Fault {
            target,
            count,
            status: Some(status),
            retry_after_secs: None,
            delay_ms: 0,
        }
    }

    #[test]
    fn classifies_paths() {
        assert_eq!(classify("/restapi/oauth/token"), Some(Target::Token));
        assert_eq!(classify("/restapi/v1.0/account/~"), Some(Target::Account));
        assert_eq!(
            classify("/restapi/v1.0/account/~/extension/~"),
            Some(Target::Extension)
        );
        assert_eq!(
            classify("/restapi/v1.0/account/~/extension/~/call-log"),
            Some(Target::CallLog)
        );
        assert_eq!(classify("/restapi/v1.0/other"), Some(Target::Api));
        assert_eq!(classify("/__sandbox/state"), None);
    }

    #[test]
    fn queue_consumes_in_order() {
        let mut q = FaultQueue::default();
        q.push(fault(Target::Token, 1, 503));
        q.push(fault(Target::Api, 2, 500));
        q.push(fault(Target::Token, 1, 429));
        assert_eq!(q.take(Target::Token).and_then(|f| f.status), Some(503));
        assert_eq!(q.take(Target::CallLog).and_then(|f| f.status), Some(500));
        assert_eq!(q.take(Target::Token).and_then(|f| f.status), Some(429));
        assert_eq!(q.take(Target::Token), None);
        assert_eq!(q.list().len(), 1);
        assert_eq!(q.list()[0].count, 1);
        assert_eq!(q.take(Target::Revoke), None);
    }

    #[test]
    fn validation() {
        assert!(fault(Target::Token, 0, 503).validate().is_err());
        assert!(fault(Target::Token, 1, 200).validate().is_err());
        assert!(fault(Target::Token, 1, 503).validate().is_ok());
    }
}
