//! `GET /restapi/oauth/authorize` (validate, then show sign-in + consent) and its form post.
//!
//! RFC 6749 §4.1.2.1: a bad `client_id` or `redirect_uri` gets an error page and never a redirect
//! (the redirect target cannot be trusted); every other error redirects back with `error`,
//! `error_description`, `state` and `iss` (RFC 9207). PKCE with S256 is mandatory: a missing
//! challenge or `plain` is refused (RFC 9700 §2.1.1 allows a server to insist). `scope` is ignored,
//! as at RingCentral: permissions come from the client's registration.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::config::origin_of;
use crate::errors::{OAuthError, annotate};
use crate::form::Params;
use crate::oauth::{read_form, redirect, redirect_location};
use crate::page::{self, SignIn};
use crate::pkce::{hash_secret, is_valid_pkce_string, random_token};
use crate::server::AppState;
use crate::store::PendingAuth;

/// How long a shown sign-in page stays usable (virtual time).
pub const PENDING_TTL_SECS: u64 = 600;

/// Echoed values are cut short so an error page cannot be made arbitrarily long.
fn shorten(value: &str) -> String {
    value.chars().take(200).collect()
}

/// Browsers ask for HTML; API clients and tests get the same error as JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// An error shown instead of redirecting: an HTML page for browsers, OAuth JSON otherwise.
fn error_page(headers: &HeaderMap, err: OAuthError) -> Response {
    if !wants_html(headers) {
        return err.into_response();
    }
    let mut response = page::error(err.status, err.error, &err.description);
    annotate(&mut response, |info| {
        info.error = Some(err.error.to_owned());
        info.error_code = Some(err.code.to_owned());
    });
    response
}

/// An error sent back to the client's redirect URI.
fn error_redirect(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &str,
    description: &str,
    status: StatusCode,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", state.base_url.as_str()));
    let mut response = redirect(status, &redirect_location(redirect_uri, &params));
    annotate(&mut response, |info| info.error = Some(error.to_owned()));
    response
}

/// Validates the authorize request and shows the sign-in page.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let params = Params::from_query(uri.query().unwrap_or_default());
    let bad = |code, text: String| {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", code, text)
    };

    let client_id = match params.get("client_id") {
        Err(dup) => {
            return error_page(
                &headers,
                bad("OAU-111", format!("Duplicated parameter [{}]", dup.0)),
            );
        }
        Ok(None) => {
            return error_page(
                &headers,
                bad("OAU-123", "Parameter [client_id] is missing".into()),
            );
        }
        Ok(Some(c)) => c,
    };
    let Some(client) = state.client(client_id) else {
        let err = OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "OAU-153",
            format!(
                "Invalid client: [{}] is not a registered client_id",
                shorten(client_id)
            ),
        );
        return error_page(&headers, err);
    };
    let redirect_uri = match params.get("redirect_uri") {
        Err(dup) => {
            return error_page(
                &headers,
                bad("OAU-111", format!("Duplicated parameter [{}]", dup.0)),
            );
        }
        Ok(None) => {
            return error_page(
                &headers,
                bad("OAU-113", "Parameter [redirect_uri] is missing".into()),
            );
        }
        Ok(Some(r)) => r,
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return error_page(
            &headers,
            bad(
                "OAU-109",
                format!(
                    "Redirect URIs do not match: [{}] is not registered for this client",
                    shorten(redirect_uri)
                ),
            ),
        );
    }

    // From here on the redirect URI is trusted: errors go back to the client.
    let client_state = match params.get("state") {
        Ok(s) => s,
        Err(_) => {
            let text = "Duplicated parameter [state]";
            return error_redirect(
                &state,
                redirect_uri,
                None,
                "invalid_request",
                text,
                StatusCode::FOUND,
            );
        }
    };
    let fail = |error: &str, text: &str| {
        error_redirect(
            &state,
            redirect_uri,
            client_state,
            error,
            text,
            StatusCode::FOUND,
        )
    };
    let names = [
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "scope",
    ];
    if let Some(dup) = params.first_duplicate(&names) {
        return fail(
            "invalid_request",
            &format!("Duplicated parameter [{}]", dup.0),
        );
    }
    let get = |name| params.get(name).ok().flatten();
    match get("response_type") {
        None => return fail("invalid_request", "Parameter [response_type] is missing"),
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "Only response_type=code is supported",
            );
        }
    }
    let Some(challenge) = get("code_challenge") else {
        return fail(
            "invalid_request",
            "PKCE is required: parameter [code_challenge] is missing",
        );
    };
    match get("code_challenge_method") {
        Some("S256") => {}
        None => {
            return fail(
                "invalid_request",
                "Parameter [code_challenge_method] is missing: only S256 is accepted",
            );
        }
        Some("plain") => {
            return fail(
                "invalid_request",
                "code_challenge_method=plain is not allowed: use S256",
            );
        }
        Some(_) => {
            return fail(
                "invalid_request",
                "Unsupported code_challenge_method: only S256 is accepted",
            );
        }
    }
    if !is_valid_pkce_string(challenge) {
        return fail(
            "invalid_request",
            "Parameter [code_challenge] must be 43 to 128 unreserved characters",
        );
    }
    if get("prompt") == Some("none") {
        // The sandbox keeps no browser session, so silent sign-in can never succeed.
        return fail("login_required", "The user must sign in");
    }

    let Ok(txn) = random_token(24) else {
        return OAuthError::server_error().into_response();
    };
    let now = state.clock.now_ms();
    let pending = PendingAuth {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        state: client_state.map(str::to_owned),
        challenge: challenge.to_owned(),
        expires_at_ms: now + PENDING_TTL_SECS * 1000,
    };
    state
        .store()
        .insert_pending(hash_secret(&txn), pending, now);
    let origin = origin_of(redirect_uri).unwrap_or(redirect_uri);
    let view = SignIn {
        client_name: &client.name,
        permissions: &client.permissions,
        redirect_origin: origin,
        txn: &txn,
        message: None,
    };
    page::sign_in(&view, StatusCode::OK)
}

/// Handles the sign-in form: allow with good credentials, deny, or show the form again.
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let params = match read_form(&headers, body).await {
        Ok(p) => p,
        Err(err) => return error_page(&headers, err),
    };
    let expired = || {
        let text = "This sign-in request has expired or was already used. Go back to the app and sign in again.";
        error_page(&headers, OAuthError::invalid_request("OAU-101", text))
    };
    let Some(txn) = params.get("txn").ok().flatten() else {
        return expired();
    };
    let txn_hash = hash_secret(txn);
    let now = state.clock.now_ms();
    let Some(pending) = state.store().pending(&txn_hash, now).cloned() else {
        return expired();
    };
    let Some(client) = state.client(&pending.client_id) else {
        return expired();
    };
    let origin = origin_of(&pending.redirect_uri).unwrap_or(&pending.redirect_uri);
    let again = |message: &str, status: StatusCode| {
        let view = SignIn {
            client_name: &client.name,
            permissions: &client.permissions,
            redirect_origin: origin,
            txn,
            message: Some(message),
        };
        let mut response = page::sign_in(&view, status);
        annotate(&mut response, |info| {
            info.error = Some("login_failed".into())
        });
        response
    };

    match params.get("decision").ok().flatten() {
        Some("deny") => {
            if state.store().take_pending(&txn_hash, now).is_none() {
                return expired();
            }
            let text = "The user denied access";
            error_redirect(
                &state,
                &pending.redirect_uri,
                pending.state.as_deref(),
                "access_denied",
                text,
                StatusCode::SEE_OTHER,
            )
        }
        Some("allow") => {
            let username = params
                .get("username")
                .ok()
                .flatten()
                .map(str::trim)
                .unwrap_or_default();
            let password = params.get("password").ok().flatten().unwrap_or_default();
            if username.is_empty() || password.is_empty() {
                return again("Enter your email and password.", StatusCode::OK);
            }
            let user = state
                .config
                .users
                .iter()
                .position(|u| u.email.eq_ignore_ascii_case(username) && u.password == password);
            let Some(user_index) = user else {
                return again("Incorrect email or password. Try again.", StatusCode::OK);
            };
            let Ok(code) = random_token(32) else {
                return OAuthError::server_error().into_response();
            };
            {
                let mut store = state.store();
                let Some(pending) = store.take_pending(&txn_hash, now) else {
                    drop(store);
                    return expired();
                };
                let expires = now + state.config.code_ttl_secs * 1000;
                store.insert_code(hash_secret(&code), &pending, user_index, expires);
            }
            let ttl = state.config.code_ttl_secs.to_string();
            let mut query = vec![("code", code.as_str())];
            if let Some(s) = pending.state.as_deref() {
                query.push(("state", s));
            }
            query.push(("expires_in", &ttl));
            query.push(("iss", &state.base_url));
            redirect(
                StatusCode::SEE_OTHER,
                &redirect_location(&pending.redirect_uri, &query),
            )
        }
        _ => again("Choose Allow or Deny.", StatusCode::BAD_REQUEST),
    }
}
