//! The admin API under `/__sandbox/`: inspect grants and requests, inject faults, move the clock,
//! expire or revoke tokens, rotate the OpenID keys and plant bad ID tokens, reset. JSON in and out,
//! not CORS-enabled, and behind [`guard`]: loopback peers addressing a loopback name, no other
//! site's page, JSON for every change.
//!
//! It exists so browser and HTTP tests can prove what happened on the server (a revoke really
//! ended the session; a refresh really was single-flight) and provoke what is hard to provoke
//! (expiry, 503s, 429s, dropped connections, a seeded share of random failures) without restarting
//! or sleeping. See `sandbox/README.md`.

pub mod guard;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::body::{BodyError, read_body};
use crate::errors::{AdminError, AppError};
use crate::faults::{Fault, RandomFaults};
use crate::idtoken::Defect;
use crate::state::AppState;

/// The admin API's path prefix.
pub const ADMIN_PREFIX: &str = "/__sandbox";

/// Whether `path` is the admin API's. Every layer lets these through untouched (not logged, not
/// faulted, no CORS), so a test inspecting the sandbox does not change what it inspects.
pub fn is_admin_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/__sandbox/")
}

/// Reads an optional JSON body: empty means `T::default()`.
async fn json_body<T: DeserializeOwned + Default>(body: Body) -> Result<T, AdminError> {
    let bytes = read_body(body).await.map_err(|e| match e {
        BodyError::TooLarge => AdminError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "Request body is too large",
        ),
        BodyError::Unreadable => AdminError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Request body could not be read",
        ),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
}

/// The admin routes, behind the [`guard`].
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/__sandbox", get(index))
        .route("/__sandbox/", get(index))
        .route("/__sandbox/state", get(state_view))
        .route("/__sandbox/requests", get(requests).delete(clear_requests))
        .route(
            "/__sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/__sandbox/faults/random",
            get(random_report).post(arm_random).delete(disarm_random),
        )
        .route("/__sandbox/clock", get(clock).post(advance_clock))
        .route(
            "/__sandbox/expire-access-tokens",
            post(expire_access_tokens),
        )
        .route("/__sandbox/revoke-grants", post(revoke_grants))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/oidc", get(oidc_view))
        .route("/__sandbox/oidc/rotate-keys", post(rotate_keys))
        .route(
            "/__sandbox/oidc/bad-id-token",
            post(bad_id_token).delete(clear_bad_id_tokens),
        )
        .route("/__sandbox/oidc/userinfo-sub", post(userinfo_sub))
        .route_layer(from_fn(guard::guard))
}

async fn index(State(state): State<AppState>) -> Response {
    Json(json!({
        "base_url": state.base_url,
        "endpoints": [
            "GET /__sandbox/state",
            "GET /__sandbox/requests", "DELETE /__sandbox/requests",
            "GET /__sandbox/faults", "POST /__sandbox/faults", "DELETE /__sandbox/faults",
            "GET /__sandbox/faults/random", "POST /__sandbox/faults/random",
            "DELETE /__sandbox/faults/random",
            "GET /__sandbox/clock", "POST /__sandbox/clock",
            "POST /__sandbox/expire-access-tokens",
            "POST /__sandbox/revoke-grants",
            "POST /__sandbox/reset",
            "GET /__sandbox/oidc", "POST /__sandbox/oidc/rotate-keys",
            "POST /__sandbox/oidc/bad-id-token", "DELETE /__sandbox/oidc/bad-id-token",
            "POST /__sandbox/oidc/userinfo-sub",
        ],
        "docs": "sandbox/README.md",
    }))
    .into_response()
}

async fn state_view(State(state): State<AppState>) -> Response {
    let now = state.clock.now_ms();
    let store = state.store();
    let (pending, codes) = store.counts(now);
    Json(json!({
        "now_ms": now,
        "clock_offset_ms": state.clock.offset_ms(),
        "grants": store.grant_views(&state.config.users, now),
        "pending_sign_ins": pending,
        "unused_codes": codes,
    }))
    .into_response()
}

async fn requests(State(state): State<AppState>) -> Response {
    Json(state.log().entries()).into_response()
}

async fn clear_requests(State(state): State<AppState>) -> Response {
    state.log().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_faults(State(state): State<AppState>) -> Response {
    Json(state.faults().list()).into_response()
}

async fn add_fault(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let invalid =
        |message: String| AdminError::new(StatusCode::BAD_REQUEST, "invalid_fault", message);
    let fault: Option<Fault> = json_body(body).await?;
    let fault = fault.ok_or_else(|| invalid("A fault needs at least a target".into()))?;
    fault.validate().map_err(invalid)?;
    state.faults().push(fault);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear_faults(State(state): State<AppState>) -> Response {
    state.faults().clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn random_report(State(state): State<AppState>) -> Response {
    Json(state.faults().random_report()).into_response()
}

async fn arm_random(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let invalid = |message: String| {
        AdminError::new(StatusCode::BAD_REQUEST, "invalid_random_faults", message)
    };
    let config: Option<RandomFaults> = json_body(body).await?;
    let config = config
        .ok_or_else(|| invalid("Random faults need at least a seed and a probability".into()))?;
    config.validate().map_err(invalid)?;
    state.faults().arm_random(config);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn disarm_random(State(state): State<AppState>) -> Response {
    let report = state.faults().disarm_random();
    Json(report).into_response()
}

fn clock_json(state: &AppState) -> Response {
    Json(json!({ "now_ms": state.clock.now_ms(), "offset_ms": state.clock.offset_ms() }))
        .into_response()
}

async fn clock(State(state): State<AppState>) -> Response {
    clock_json(&state)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    advance_secs: u64,
    #[serde(default)]
    advance_ms: u64,
}

async fn advance_clock(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let advance: Advance = json_body(body).await?;
    let ms = advance
        .advance_secs
        .saturating_mul(1000)
        .saturating_add(advance.advance_ms);
    if ms == 0 {
        return Err(AdminError::new(
            StatusCode::BAD_REQUEST,
            "invalid_clock",
            "Give advance_secs or advance_ms (> 0)",
        )
        .into());
    }
    state.clock.advance_ms(ms);
    Ok(clock_json(&state))
}

async fn expire_access_tokens(State(state): State<AppState>) -> Response {
    let now = state.clock.now_ms();
    let expired = state.store().expire_access_tokens(now);
    Json(json!({ "expired": expired })).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeGrants {
    #[serde(default)]
    grant_id: Option<String>,
}

async fn revoke_grants(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let request: RevokeGrants = json_body(body).await?;
    let id = request
        .grant_id
        .as_deref()
        .map(|label| {
            let n = label.strip_prefix('g').and_then(|n| n.parse::<u64>().ok());
            n.ok_or_else(|| {
                AdminError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant_id",
                    "grant_id looks like \"g1\"",
                )
            })
        })
        .transpose()?;
    let revoked = state
        .store()
        .admin_revoke(id)
        .ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, "unknown_grant", "No such grant"))?;
    Ok(Json(json!({ "revoked": revoked })).into_response())
}

async fn reset(State(state): State<AppState>) -> Response {
    state.reset();
    StatusCode::NO_CONTENT.into_response()
}

fn oidc_json(state: &AppState) -> Response {
    let oidc = state.oidc();
    Json(json!({
        "kids": oidc.keys.kids(),
        "current_kid": oidc.keys.current.kid,
        "bad_id_tokens": oidc.defects(),
        "next_userinfo_sub": oidc.next_userinfo_sub(),
    }))
    .into_response()
}

async fn oidc_view(State(state): State<AppState>) -> Response {
    oidc_json(&state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// Keep listing the replaced key until the next rotation.
    #[serde(default = "yes")]
    keep_previous: bool,
}

impl Default for Rotate {
    fn default() -> Self {
        Self {
            keep_previous: true,
        }
    }
}

fn yes() -> bool {
    true
}

async fn rotate_keys(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let rotate: Rotate = json_body(body).await?;
    state.oidc().keys.rotate(rotate.keep_previous);
    Ok(oidc_json(&state))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BadIdToken {
    defect: Option<String>,
}

async fn bad_id_token(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let request: BadIdToken = json_body(body).await?;
    let invalid =
        |message: String| AdminError::new(StatusCode::BAD_REQUEST, "invalid_defect", message);
    let name = request
        .defect
        .ok_or_else(|| invalid("Give a defect, e.g. {\"defect\":\"wrong_aud\"}".into()))?;
    let defect: Defect = serde_json::from_value(json!(name)).map_err(|_| {
        invalid(format!(
            "Unknown defect [{name}]: bad_signature, alg_none, hs256, wrong_aud, wrong_iss, \
             wrong_nonce, expired, unknown_kid"
        ))
    })?;
    state.oidc().push_defect(defect);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn clear_bad_id_tokens(State(state): State<AppState>) -> Response {
    state.oidc().clear();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserinfoSub {
    sub: Option<String>,
}

async fn userinfo_sub(State(state): State<AppState>, body: Body) -> Result<Response, AppError> {
    let request: UserinfoSub = json_body(body).await?;
    let sub = request.sub.unwrap_or_else(|| "99999999999".into());
    state.oidc().set_next_userinfo_sub(sub);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/__sandbox"));
        assert!(is_admin_path("/__sandbox/state"));
        assert!(!is_admin_path("/__sandboxx"));
    }
}
