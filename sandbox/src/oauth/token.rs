//! `POST /restapi/oauth/token`: the authorization_code and refresh_token grants for public clients.
//!
//! The checks run in RFC order (request syntax, grant type, client, then the grant itself) so each
//! failure gets the RFC 6749 §5.2 error and RingCentral's OAU code. Token requests count against
//! the user's Auth rate-limit group before the code or refresh token is consumed. The tokens of an
//! `openid` grant come with an `id_token` (the code exchange's echoes the `nonce`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::request::{read_form, refuse_client_credentials};
use crate::errors::{ApiError, AppError, OAuthError, annotate, grant_label};
use crate::form::Params;
use crate::idtoken::IdTokenFacts;
use crate::pkce::{RandomUnavailable, hash_secret, random_digits, random_token};
use crate::ratelimit::{Decision, Group};
use crate::state::AppState;
use crate::store::{Exchange, IdTokenFor, NewTokens, Policy};

/// Every parameter this endpoint reads; none may be sent twice (OAU-111).
const PARAMS: [&str; 8] = [
    "grant_type",
    "client_id",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "access_token_ttl",
    "refresh_token_ttl",
];

/// What the handler learned, for the log and the rate-limit headers, whatever the outcome.
#[derive(Default)]
struct Context {
    grant_type: Option<String>,
    rate: Option<Decision>,
}

/// The handler. Unlike the others it decorates its errors too: once counted, every answer carries
/// the rate-limit headers, and every answer tells the log the grant type sent.
pub async fn handle(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut ctx = Context::default();
    let mut response = run(&state, &headers, body, &mut ctx).await.into_response();
    if let Some(decision) = ctx.rate {
        decision.apply(response.headers_mut());
    }
    annotate(&mut response, |info| info.grant_type = ctx.grant_type);
    response
}

/// The client's permissions as a `scope` value.
fn scope_of(permissions: &[String]) -> String {
    permissions.join(" ")
}

/// A requested lifetime (`access_token_ttl`, `refresh_token_ttl`): honoured up to the configured
/// one, as RingCentral lets a client shorten but not extend.
fn requested_ttl(params: &Params, name: &str, configured: u64) -> Result<u64, OAuthError> {
    match params.get(name).ok().flatten() {
        None => Ok(configured),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n.min(configured)),
            _ => Err(OAuthError::invalid_request(
                "OAU-101",
                format!("Parameter [{name}] value is invalid"),
            )),
        },
    }
}

fn new_tokens() -> Result<NewTokens, RandomUnavailable> {
    Ok(NewTokens {
        access: random_token(32)?,
        refresh: random_token(32)?,
        endpoint_id: random_token(16)?,
        session_id: random_digits(12)?,
    })
}

/// A signed ID token for a grant's fresh tokens; it lives as long as the access token.
fn id_token(state: &AppState, wanted: &IdTokenFor, lifetime_secs: u64) -> Result<String, AppError> {
    let user = state
        .config
        .users
        .get(wanted.user_index)
        .ok_or_else(OAuthError::server_error)?;
    let facts = IdTokenFacts {
        issuer: &state.base_url,
        client_id: &wanted.client_id,
        user,
        grant: &wanted.grant,
        with_nonce: wanted.with_nonce,
        now_ms: state.clock.now_ms(),
        lifetime_secs,
        jti: random_token(16)?,
    };
    Ok(state.oidc().id_token(&facts))
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    ctx: &mut Context,
) -> Result<Response, AppError> {
    let params = read_form(headers, body).await?;
    let grant_type = params
        .get("grant_type")
        .map_err(|dup| OAuthError::duplicated(&dup.0))?
        .ok_or_else(|| OAuthError::missing("grant_type"))?;
    ctx.grant_type = Some(grant_type.chars().take(64).collect());
    if let Some(dup) = params.first_duplicate(&PARAMS) {
        return Err(OAuthError::duplicated(&dup.0).into());
    }
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        let text = format!(
            "Unsupported grant type [{}]",
            ctx.grant_type.as_deref().unwrap_or_default()
        );
        let err = OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "OAU-112",
            text,
        );
        return Err(err.into());
    }
    refuse_client_credentials(headers, &params)?;
    let get = |name| params.get(name).ok().flatten();
    let client_id = get("client_id").ok_or_else(|| {
        OAuthError::invalid_client("OAU-123", "Client authentication is required")
    })?;
    let client = state
        .client(client_id)
        .ok_or_else(|| OAuthError::invalid_client("OAU-153", "Invalid client"))?;

    let secret = if grant_type == "authorization_code" {
        get("code")
    } else {
        get("refresh_token")
    };
    if let Some(limits) = &state.config.rate_limits {
        let owner = secret.and_then(|s| {
            let hash = hash_secret(s);
            let store = state.store();
            store.code_owner(&hash).or_else(|| store.token_owner(&hash))
        });
        let key = match owner.and_then(|i| state.config.users.get(i)) {
            Some(user) => user.email.to_ascii_lowercase(),
            None => format!("client:{client_id}"),
        };
        let decision = state
            .rate()
            .check(limits, &key, Group::Auth, state.clock.now_ms());
        ctx.rate = Some(decision);
        if decision.retry_after_secs.is_some() {
            // `handle` adds the headers, Retry-After included.
            return Err(ApiError::rate_limited().into());
        }
    }

    let policy = Policy {
        access_ttl_secs: requested_ttl(&params, "access_token_ttl", state.config.access_ttl_secs)?,
        refresh_ttl_secs: requested_ttl(
            &params,
            "refresh_token_ttl",
            state.config.refresh_ttl_secs,
        )?,
        grace_secs: state.config.refresh_grace_secs,
        max_sessions: state.config.max_sessions_per_user_client,
    };
    let issued = if grant_type == "authorization_code" {
        let code = secret.ok_or_else(|| OAuthError::missing("code"))?;
        let redirect_uri =
            get("redirect_uri").ok_or_else(|| OAuthError::missing("redirect_uri"))?;
        let verifier = get("code_verifier").ok_or_else(|| OAuthError::missing("code_verifier"))?;
        let tokens = new_tokens()?;
        let scope = scope_of(&client.permissions);
        let exchange = Exchange {
            code: hash_secret(code),
            client_id,
            redirect_uri,
            verifier,
            scope: &scope,
        };
        let now = state.clock.now_ms();
        state.store().exchange_code(&exchange, tokens, policy, now)
    } else {
        let refresh = secret.ok_or_else(|| OAuthError::missing("refresh_token"))?;
        let tokens = new_tokens()?;
        let now = state.clock.now_ms();
        state
            .store()
            .refresh(&hash_secret(refresh), client_id, tokens, policy, now)
    }?;

    let mut body = issued.body;
    if let Some(wanted) = &issued.id_token {
        let id_token = id_token(state, wanted, policy.access_ttl_secs)?;
        body["id_token"] = id_token.into();
        state.store().update_grace(issued.grant_id, &body);
    }
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    annotate(&mut response, |info| {
        info.grant_id = Some(grant_label(issued.grant_id))
    });
    Ok(response)
}
