//! The REST API the app shows: account, extension and call log, behind Bearer tokens; and the
//! OpenID Connect userinfo endpoint ([`userinfo`]), which checks its tokens the same way.
//!
//! Every call goes through [`authenticate`]: the Authorization header (AGW-401/402), the token
//! (OAU-149 unknown, OAU-128 expired, OAU-213 revoked or superseded), the user's rate-limit group,
//! then the client's permission (403 CMN-401). `~` and the user's own ids address the resources.

pub mod calllog;
pub mod resources;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::errors::{ApiError, AppError, annotate, grant_label};
use crate::form::Params;
use crate::idtoken::{OidcGrant, user_claims};
use crate::pkce::hash_secret;
use crate::ratelimit::{Decision, Group};
use crate::seed::User;
use crate::state::AppState;
use crate::store::AccessFailure;

/// The OpenID Connect userinfo endpoint's path, as at RingCentral.
pub const USERINFO_PATH: &str = "/restapi/oauth/userinfo";

/// The REST endpoints.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/restapi/v1.0/account/{account_id}", get(account))
        .route(
            "/restapi/v1.0/account/{account_id}/extension/{extension_id}",
            get(extension),
        )
        .route(
            "/restapi/v1.0/account/{account_id}/extension/{extension_id}/call-log",
            get(call_log),
        )
        // OpenID Connect Core §5.3.1 allows both; the token comes in the header either way.
        .route(USERINFO_PATH, get(userinfo).post(userinfo))
}

/// A request that passed authentication, rate limiting and the permission check.
struct Caller {
    grant_id: u64,
    user_index: usize,
    rate: Option<Decision>,
    /// The grant's OpenID Connect request, for userinfo.
    oidc: Option<OidcGrant>,
}

impl Caller {
    /// An error found after authentication: it names the grant in the log and carries the
    /// rate-limit headers, like a success would.
    fn error(&self, err: ApiError) -> ApiError {
        err.with_grant(self.grant_id).with_rate(self.rate)
    }
}

/// Checks the bearer token, counts the call in `group`, and requires `permission` (if any).
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    group: Group,
    permission: Option<&str>,
) -> Result<Caller, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("AGW-401", "Authorization header is not specified")
    })?;
    let invalid_header = || ApiError::unauthorized("AGW-402", "Invalid Authorization header");
    let value = header.to_str().map_err(|_| invalid_header())?;
    let mut parts = value.splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().map(str::trim).unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(invalid_header());
    }
    let now = state.clock.now_ms();
    let access = state.store().check_access(&hash_secret(token), now);
    let ctx = access.map_err(|failure| match failure {
        AccessFailure::Unknown => ApiError::unauthorized("OAU-149", "Invalid token"),
        AccessFailure::Expired(g) => {
            ApiError::unauthorized("OAU-128", "Access token expired").with_grant(g)
        }
        AccessFailure::Revoked(g) => {
            ApiError::unauthorized("OAU-213", "Token not found").with_grant(g)
        }
    })?;
    let user = state.config.users.get(ctx.user_index);
    let rate = match (&state.config.rate_limits, user) {
        (Some(limits), Some(user)) => {
            let decision = state
                .rate()
                .check(limits, &user.email.to_ascii_lowercase(), group, now);
            if decision.retry_after_secs.is_some() {
                // The decision's headers carry Retry-After.
                return Err(ApiError::rate_limited()
                    .with_grant(ctx.grant_id)
                    .with_rate(Some(decision)));
            }
            Some(decision)
        }
        _ => None,
    };
    let caller = Caller {
        grant_id: ctx.grant_id,
        user_index: ctx.user_index,
        rate,
        oidc: ctx.oidc,
    };
    let Some(permission) = permission else {
        return Ok(caller);
    };
    let allowed = state
        .client(&ctx.client_id)
        .is_some_and(|c| c.permissions.iter().any(|p| p == permission));
    if !allowed {
        return Err(caller.error(ApiError::missing_permission(permission)));
    }
    Ok(caller)
}

fn respond(caller: &Caller, body: Value) -> Response {
    let mut response = (StatusCode::OK, Json(body)).into_response();
    // Personal data: a browser must not keep it in its HTTP cache.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(d) = caller.rate {
        d.apply(response.headers_mut());
    }
    annotate(&mut response, |info| {
        info.grant_id = Some(grant_label(caller.grant_id))
    });
    response
}

fn not_found(caller: &Caller, name: &str, value: &str) -> ApiError {
    let mut err = ApiError::simple(
        StatusCode::NOT_FOUND,
        "CMN-102",
        format!("Resource for parameter [{name}] is not found"),
    );
    err.item.insert("parameterName".into(), Value::from(name));
    err.item.insert("parameterValue".into(), Value::from(value));
    caller.error(err)
}

/// Resolves `~`/own ids for the caller; `Err` is the 404 to send.
fn resolve<'a>(
    state: &'a AppState,
    caller: &Caller,
    account: &str,
    extension: Option<&str>,
) -> Result<&'a User, ApiError> {
    let user = state
        .config
        .users
        .get(caller.user_index)
        .ok_or_else(|| not_found(caller, "accountId", account))?;
    if account != "~" && account != user.account.id.to_string() {
        return Err(not_found(caller, "accountId", account));
    }
    if let Some(ext) = extension
        && ext != "~"
        && ext != user.extension_id.to_string()
    {
        return Err(not_found(caller, "extensionId", ext));
    }
    Ok(user)
}

/// A path that matched a route but whose parameters could not be extracted.
fn bad_path(_: PathRejection) -> ApiError {
    ApiError::simple(StatusCode::BAD_REQUEST, "CMN-101", "Invalid path parameter")
}

/// `GET /restapi/v1.0/account/{accountId}` (Light, ReadAccounts).
pub async fn account(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, AppError> {
    let caller = authenticate(&state, &headers, Group::Light, Some("ReadAccounts"))?;
    let Path(account_id) = path.map_err(bad_path)?;
    let user = resolve(&state, &caller, &account_id, None)?;
    Ok(respond(
        &caller,
        resources::account_json(&state.base_url, user),
    ))
}

/// `GET /restapi/v1.0/account/{accountId}/extension/{extensionId}` (Light, ReadAccounts).
pub async fn extension(
    State(state): State<AppState>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let caller = authenticate(&state, &headers, Group::Light, Some("ReadAccounts"))?;
    let Path((account_id, extension_id)) = path.map_err(bad_path)?;
    let user = resolve(&state, &caller, &account_id, Some(&extension_id))?;
    Ok(respond(
        &caller,
        resources::extension_json(&state.base_url, user),
    ))
}

/// `GET /restapi/v1.0/account/{accountId}/extension/{extensionId}/call-log` (Heavy, ReadCallLog).
pub async fn call_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, AppError> {
    let caller = authenticate(&state, &headers, Group::Heavy, Some("ReadCallLog"))?;
    let Path((account_id, extension_id)) = path.map_err(bad_path)?;
    let user = resolve(&state, &caller, &account_id, Some(&extension_id))?;
    let params = Params::from_query(uri.query().unwrap_or_default());
    let now = i64::try_from(state.clock.now_ms()).unwrap_or(i64::MAX);
    let query = calllog::parse_query(&params, now).map_err(|e| caller.error(e))?;
    let records = state
        .call_logs
        .get(caller.user_index)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let page = calllog::select(records, &query);
    let base = format!(
        "{}/call-log",
        resources::extension_uri(&state.base_url, user)
    );
    Ok(respond(
        &caller,
        calllog::page_json(&page, &query, &base, &params),
    ))
}

/// `GET`/`POST /restapi/oauth/userinfo` (Light): the signed-in user's claims, as the grant's
/// scopes allow. Only tokens of an `openid` grant may call it (else 403, as RFC 6750 §3.1's
/// `insufficient_scope`, in RingCentral's REST shape). The admin API can make the next answer's
/// `sub` differ from the ID token's.
pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let caller = authenticate(&state, &headers, Group::Light, None)?;
    let Some(oidc) = &caller.oidc else {
        let err = ApiError::with_top(
            StatusCode::FORBIDDEN,
            "InsufficientPermissions",
            "CMN-401",
            "[openid] scope required: this token was not issued for OpenID Connect \
             (sign in again with scope=openid)",
        );
        let mut response = caller.error(err).into_response();
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(concat!(
                "Bearer realm=\"RingCentral REST API\", ",
                "error=\"insufficient_scope\", scope=\"openid\""
            )),
        );
        return Ok(response);
    };
    let user = state
        .config
        .users
        .get(caller.user_index)
        .ok_or_else(|| caller.error(ApiError::unauthorized("OAU-149", "Invalid token")))?;
    let mut claims = user_claims(user, &oidc.request);
    if let Some(sub) = state.oidc().take_userinfo_sub() {
        claims.insert("sub".into(), Value::from(sub));
    }
    Ok(respond(&caller, Value::Object(claims)))
}
