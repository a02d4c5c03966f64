//! The fault-injection layer: hands the first matching queued fault to a request, or else lets an
//! armed random fault mode draw for it, before it reaches its endpoint.
//!
//! Preflights and the admin API are never faulted, so a test can always inspect and clear faults
//! and a browser's CORS check never consumes one meant for the real call.
//!
//! A delayed request is read whole before the wait. Only then does hyper watch the connection
//! while the response is pending: when the client hangs up (a browser giving up after its
//! timeout), hyper drops this future, so the endpoint never runs for a request nobody waits for.
//! A refresh processed after the client gave up would rotate a refresh token the client never
//! learns about, and its next attempt would be refused as reuse.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::admin::is_admin_path;
use crate::body::{BodyError, read_body};
use crate::errors::{annotate, routing_error};
use crate::faults::{
    Action, Injection, RESET_LOG_ERROR, RandomTarget, Target, classify, connection_reset,
    fault_response, is_refresh,
};
use crate::state::AppState;

/// Applies the first matching queued fault to a request, or a random one.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if request.method() == Method::OPTIONS || is_admin_path(path) {
        return next.run(request).await;
    }
    let Some(endpoint) = classify(path) else {
        return next.run(request).await;
    };
    let mut response = faulted(&state, endpoint, request, next).await;
    if state.faults().closes_connections() {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The response of a request to `endpoint`, with the fault it gets, if any.
async fn faulted(state: &AppState, endpoint: Target, request: Request, next: Next) -> Response {
    // Queued faults are the test's explicit script: they go first, and such a request does not
    // draw (so it does not shift the random sequence either).
    let queued = state.faults().take(endpoint);
    if let Some(fault) = queued {
        return inject(endpoint, fault.injection(), request, next).await;
    }
    random(state, endpoint, request, next).await
}

/// Lets the random mode draw for a refresh or a REST read, if it is armed for that kind.
async fn random(state: &AppState, endpoint: Target, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if method == Method::GET && endpoint.is_rest() {
        let drawn = state.faults().draw_random(RandomTarget::ApiRead);
        return match drawn {
            Some((_, injection)) => inject(endpoint, injection, request, next).await,
            None => next.run(request).await,
        };
    }
    let refreshes = state.faults().random_applies_to(RandomTarget::Refresh);
    if !(method == Method::POST && endpoint == Target::Token && refreshes) {
        return next.run(request).await;
    }
    // Only the form body tells a refresh from a code exchange.
    let (request, body) = match buffer(request).await {
        Ok(read) => read,
        Err(refused) => return refused,
    };
    if !is_refresh(&body) {
        return next.run(request).await;
    }
    let drawn = state.faults().draw_random(RandomTarget::Refresh);
    let Some((_, injection)) = drawn else {
        return next.run(request).await;
    };
    let mut response = inject(endpoint, injection, request, next).await;
    // The endpoint never saw it, so the log learns the grant type here.
    annotate(&mut response, |info| {
        info.grant_type = Some("refresh_token".into());
    });
    response
}

/// Waits, then answers for the endpoint, closes the connection, or calls the endpoint.
async fn inject(endpoint: Target, injection: Injection, request: Request, next: Next) -> Response {
    let request = if injection.delay_ms > 0 {
        let request = match buffer(request).await {
            Ok((request, _)) => request,
            Err(refused) => return refused,
        };
        tokio::time::sleep(Duration::from_millis(injection.delay_ms)).await;
        request
    } else {
        request
    };
    let mut response = match injection.action {
        Action::Endpoint => next.run(request).await,
        Action::Status {
            status,
            retry_after_secs,
        } => fault_response(endpoint, status, retry_after_secs),
        Action::Reset => connection_reset(),
    };
    let reset = injection.action == Action::Reset;
    annotate(&mut response, |info| {
        info.fault = true;
        if reset {
            info.error = Some(RESET_LOG_ERROR.into());
        }
    });
    response
}

/// Reads the request's body whole and puts it back, so the request can still go to its endpoint;
/// a body that is too large or unreadable gets the answer its endpoint would give.
async fn buffer(request: Request) -> Result<(Request, axum::body::Bytes), Response> {
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    match read_body(body).await {
        Ok(bytes) => Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes)),
        Err(BodyError::TooLarge) => Err(routing_error(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            "CMN-413",
            "Request body is too large",
        )),
        Err(BodyError::Unreadable) => Err(routing_error(
            &path,
            StatusCode::BAD_REQUEST,
            if path.starts_with("/restapi/oauth/") {
                "OAU-101"
            } else {
                "CMN-101"
            },
            "Request body could not be read",
        )),
    }
}
