//! The fault-injection layer: hands the first matching queued fault to a request, before it reaches
//! its endpoint.
//!
//! Preflights and the admin API are never faulted, so a test can always inspect and clear faults
//! and a browser's CORS check never consumes one meant for the real call.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use crate::admin::is_admin_path;
use crate::errors::annotate;
use crate::faults::{classify, fault_response};
use crate::state::AppState;

/// Applies the first matching queued fault to a request.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() == Method::OPTIONS || is_admin_path(path) {
        return next.run(request).await;
    }
    let Some(endpoint) = classify(path) else {
        return next.run(request).await;
    };
    let Some(fault) = state.faults().take(endpoint) else {
        return next.run(request).await;
    };
    if fault.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
    }
    let mut response = match fault.status {
        Some(status) => fault_response(endpoint, status, fault.retry_after_secs),
        None => next.run(request).await,
    };
    annotate(&mut response, |info| info.fault = true);
    response
}
