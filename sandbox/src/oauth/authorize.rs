//! `GET /restapi/oauth/authorize` (validate, then show sign-in + consent) and its form post.
//!
//! RFC 6749 §4.1.2.1: a bad `client_id` or `redirect_uri` gets an error page and never a redirect
//! (the redirect target cannot be trusted); every other error redirects back with `error`,
//! `error_description`, `state` and `iss` (RFC 9207). PKCE with S256 is mandatory: a missing
//! challenge or `plain` is refused (RFC 9700 §2.1.1 allows a server to insist). `scope` grants no
//! permissions, as at RingCentral (they come from the client's registration); it only switches on
//! OpenID Connect when it contains `openid`, with `email` and `profile` adding claims, and then
//! `nonce` is kept for the ID token.
//!
//! [`validate`] is the only place the request's parameters are checked, and [`Refusal::into_error`]
//! the only place a refusal becomes an answer, so the order of the checks and the answer to each
//! can be read in one go.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::request::read_form;
use crate::config::{ClientRegistration, origin_of};
use crate::errors::{AppError, ErrorPage, ErrorRedirect, OAuthError, annotate};
use crate::form::Params;
use crate::idtoken::{MAX_NONCE_CHARS, OidcRequest};
use crate::page::{self, SignIn};
use crate::pkce::{hash_secret, is_valid_pkce_string, random_token};
use crate::redirect::{redirect, redirect_location};
use crate::state::AppState;
use crate::store::PendingAuth;

/// How long a shown sign-in page stays usable (virtual time).
pub const PENDING_TTL_SECS: u64 = 600;

/// Parameters that may not be sent twice once the redirect URI is trusted (`state` is checked on
/// its own, because a duplicated `state` cannot be echoed).
const SINGLE: [&str; 6] = [
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "scope",
    "nonce",
];

/// Why an authorize request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// `client_id` or `redirect_uri` is wrong, so there is nowhere trustworthy to send the error:
    /// it is shown instead.
    Shown(BadClient),
    /// Anything else, found once the redirect URI is known to be registered: sent back to it.
    Returned {
        redirect_uri: &'a str,
        /// The client's `state`; `None` when absent or when it was itself the problem.
        state: Option<&'a str>,
        why: BadRequest,
    },
}

/// What is wrong with `client_id` or `redirect_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadClient {
    DuplicatedClientId,
    MissingClientId,
    /// Not a registered client (the value, shortened for display).
    UnknownClientId(String),
    DuplicatedRedirectUri,
    MissingRedirectUri,
    /// Not registered for this client (the value, shortened for display).
    UnregisteredRedirectUri(String),
}

/// What is wrong with the rest of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// `state` or one of [`SINGLE`] sent more than once.
    Duplicated(String),
    MissingResponseType,
    /// `response_type` other than `code`.
    UnsupportedResponseType,
    MissingCodeChallenge,
    MissingCodeChallengeMethod,
    PlainCodeChallengeMethod,
    /// `code_challenge_method` other than `S256` or `plain`.
    UnsupportedCodeChallengeMethod,
    /// `code_challenge` not 43 to 128 unreserved characters.
    MalformedCodeChallenge,
    /// `prompt=none`.
    LoginRequired,
    /// `nonce` longer than [`MAX_NONCE_CHARS`] (an empty one counts as absent, like every
    /// parameter).
    BadNonce,
}

/// An authorize request that passed [`validate`].
#[derive(Debug)]
pub struct Valid<'a> {
    pub client: &'a ClientRegistration,
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub challenge: &'a str,
    /// `Some` when `scope` contains `openid`.
    pub oidc: Option<OidcRequest>,
}

/// Checks an authorize request's parameters, in the order that decides which error wins.
pub fn validate<'a>(app: &'a AppState, params: &'a Params) -> Result<Valid<'a>, Refusal<'a>> {
    use BadClient::*;
    use BadRequest::*;
    let shown = Refusal::Shown;
    let client_id = params
        .get("client_id")
        .map_err(|_| shown(DuplicatedClientId))?
        .ok_or_else(|| shown(MissingClientId))?;
    let client = app
        .client(client_id)
        .ok_or_else(|| shown(UnknownClientId(shorten(client_id))))?;
    let redirect_uri = params
        .get("redirect_uri")
        .map_err(|_| shown(DuplicatedRedirectUri))?
        .ok_or_else(|| shown(MissingRedirectUri))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(shown(UnregisteredRedirectUri(shorten(redirect_uri))));
    }

    // From here on the redirect URI is trusted: errors go back to the client.
    let state = params.get("state").map_err(|dup| Refusal::Returned {
        redirect_uri,
        state: None,
        why: Duplicated(dup.0),
    })?;
    let returned = |why| Refusal::Returned {
        redirect_uri,
        state,
        why,
    };
    if let Some(dup) = params.first_duplicate(&SINGLE) {
        return Err(returned(Duplicated(dup.0)));
    }
    let get = |name| params.get(name).ok().flatten();
    match get("response_type") {
        None => return Err(returned(MissingResponseType)),
        Some("code") => {}
        Some(_) => return Err(returned(UnsupportedResponseType)),
    }
    let challenge = get("code_challenge").ok_or_else(|| returned(MissingCodeChallenge))?;
    match get("code_challenge_method") {
        Some("S256") => {}
        None => return Err(returned(MissingCodeChallengeMethod)),
        Some("plain") => return Err(returned(PlainCodeChallengeMethod)),
        Some(_) => return Err(returned(UnsupportedCodeChallengeMethod)),
    }
    if !is_valid_pkce_string(challenge) {
        return Err(returned(MalformedCodeChallenge));
    }
    if get("prompt") == Some("none") {
        // The sandbox keeps no browser session, so silent sign-in can never succeed.
        return Err(returned(LoginRequired));
    }
    let nonce = get("nonce");
    if nonce.is_some_and(|n| n.chars().count() > MAX_NONCE_CHARS) {
        return Err(returned(BadNonce));
    }
    Ok(Valid {
        client,
        redirect_uri,
        state,
        challenge,
        oidc: OidcRequest::from_scope(get("scope"), nonce),
    })
}

impl Refusal<'_> {
    /// The answer to a refusal: the error page (HTML when `html`) or a 302 back to the client.
    pub fn into_error(self, html: bool, iss: &str) -> AppError {
        match self {
            Self::Shown(bad) => {
                let invalid_request = |code, text: String| {
                    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", code, text)
                };
                let error = match bad {
                    BadClient::DuplicatedClientId => OAuthError::duplicated("client_id"),
                    BadClient::MissingClientId => {
                        invalid_request("OAU-123", "Parameter [client_id] is missing".into())
                    }
                    BadClient::UnknownClientId(id) => OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_client",
                        "OAU-153",
                        format!("Invalid client: [{id}] is not a registered client_id"),
                    ),
                    BadClient::DuplicatedRedirectUri => OAuthError::duplicated("redirect_uri"),
                    BadClient::MissingRedirectUri => {
                        invalid_request("OAU-113", "Parameter [redirect_uri] is missing".into())
                    }
                    BadClient::UnregisteredRedirectUri(uri) => invalid_request(
                        "OAU-109",
                        format!(
                            "Redirect URIs do not match: [{uri}] is not registered for this client"
                        ),
                    ),
                };
                ErrorPage { error, html }.into()
            }
            Self::Returned {
                redirect_uri,
                state,
                why,
            } => {
                let (error, description) = match why {
                    BadRequest::Duplicated(name) => {
                        ("invalid_request", format!("Duplicated parameter [{name}]"))
                    }
                    BadRequest::MissingResponseType => (
                        "invalid_request",
                        "Parameter [response_type] is missing".into(),
                    ),
                    BadRequest::UnsupportedResponseType => (
                        "unsupported_response_type",
                        "Only response_type=code is supported".into(),
                    ),
                    BadRequest::MissingCodeChallenge => (
                        "invalid_request",
                        "PKCE is required: parameter [code_challenge] is missing".into(),
                    ),
                    BadRequest::MissingCodeChallengeMethod => (
                        "invalid_request",
                        "Parameter [code_challenge_method] is missing: only S256 is accepted"
                            .into(),
                    ),
                    BadRequest::PlainCodeChallengeMethod => (
                        "invalid_request",
                        "code_challenge_method=plain is not allowed: use S256".into(),
                    ),
                    BadRequest::UnsupportedCodeChallengeMethod => (
                        "invalid_request",
                        "Unsupported code_challenge_method: only S256 is accepted".into(),
                    ),
                    BadRequest::MalformedCodeChallenge => (
                        "invalid_request",
                        "Parameter [code_challenge] must be 43 to 128 unreserved characters".into(),
                    ),
                    BadRequest::LoginRequired => ("login_required", "The user must sign in".into()),
                    BadRequest::BadNonce => (
                        "invalid_request",
                        format!("Parameter [nonce] must be at most {MAX_NONCE_CHARS} characters"),
                    ),
                };
                ErrorRedirect {
                    status: StatusCode::FOUND,
                    redirect_uri: redirect_uri.to_owned(),
                    state: state.map(str::to_owned),
                    iss: iss.to_owned(),
                    error,
                    description,
                }
                .into()
            }
        }
    }
}

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

/// The sign-in + consent page for `client`, posting back with `txn`.
fn sign_in(
    client: &ClientRegistration,
    redirect_uri: &str,
    txn: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let view = SignIn {
        client_name: &client.name,
        permissions: &client.permissions,
        redirect_origin: origin_of(redirect_uri).unwrap_or(redirect_uri),
        txn,
        message,
    };
    page::sign_in(&view, status)
}

/// Validates the authorize request and shows the sign-in page.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let params = Params::from_query(uri.query().unwrap_or_default());
    let valid = validate(&state, &params)
        .map_err(|refusal| refusal.into_error(wants_html(&headers), &state.base_url))?;
    let txn = random_token(24)?;
    let now = state.clock.now_ms();
    let pending = PendingAuth {
        client_id: valid.client.client_id.clone(),
        redirect_uri: valid.redirect_uri.to_owned(),
        state: valid.state.map(str::to_owned),
        challenge: valid.challenge.to_owned(),
        expires_at_ms: now + PENDING_TTL_SECS * 1000,
        oidc: valid.oidc,
    };
    state
        .store()
        .insert_pending(hash_secret(&txn), pending, now);
    Ok(sign_in(
        valid.client,
        valid.redirect_uri,
        &txn,
        None,
        StatusCode::OK,
    ))
}

/// Handles the sign-in form: allow with good credentials, deny, or show the form again.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let html = wants_html(&headers);
    let params = read_form(&headers, body)
        .await
        .map_err(|error| ErrorPage { error, html })?;
    let expired = || {
        let text = "This sign-in request has expired or was already used. Go back to the app and sign in again.";
        let error = OAuthError::invalid_request("OAU-101", text);
        ErrorPage { error, html }
    };
    let txn = params.get("txn").ok().flatten().ok_or_else(expired)?;
    let txn_hash = hash_secret(txn);
    let now = state.clock.now_ms();
    let pending = state
        .store()
        .pending(&txn_hash, now)
        .cloned()
        .ok_or_else(expired)?;
    let client = state.client(&pending.client_id).ok_or_else(expired)?;
    let again = |message: &str, status: StatusCode| {
        let mut response = sign_in(client, &pending.redirect_uri, txn, Some(message), status);
        annotate(&mut response, |info| {
            info.error = Some("login_failed".into())
        });
        response
    };

    match params.get("decision").ok().flatten() {
        Some("deny") => {
            state
                .store()
                .take_pending(&txn_hash, now)
                .ok_or_else(expired)?;
            Err(ErrorRedirect {
                status: StatusCode::SEE_OTHER,
                redirect_uri: pending.redirect_uri,
                state: pending.state,
                iss: state.base_url.clone(),
                error: "access_denied",
                description: "The user denied access".into(),
            }
            .into())
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
                return Ok(again("Enter your email and password.", StatusCode::OK));
            }
            let user = state
                .config
                .users
                .iter()
                .position(|u| u.email.eq_ignore_ascii_case(username) && u.password == password);
            let Some(user_index) = user else {
                return Ok(again(
                    "Incorrect email or password. Try again.",
                    StatusCode::OK,
                ));
            };
            let code = random_token(32)?;
            {
                let mut store = state.store();
                let pending = store.take_pending(&txn_hash, now).ok_or_else(expired)?;
                let expires = now + state.config.code_ttl_secs * 1000;
                store.insert_code(hash_secret(&code), &pending, user_index, now, expires);
            }
            let ttl = state.config.code_ttl_secs.to_string();
            let mut query = vec![("code", code.as_str())];
            if let Some(s) = pending.state.as_deref() {
                query.push(("state", s));
            }
            query.push(("expires_in", &ttl));
            query.push(("iss", &state.base_url));
            let location = redirect_location(&pending.redirect_uri, &query);
            redirect(StatusCode::SEE_OTHER, &location)
                .map_err(|_| OAuthError::server_error().into())
        }
        _ => Ok(again("Choose Allow or Deny.", StatusCode::BAD_REQUEST)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const CALLBACK: &str = "http://localhost:5000/oauth2callback";

    fn app() -> AppState {
        AppState::new(SandboxConfig::default(), "http://127.0.0.1:5001".into())
    }

    /// A good request with `changes` applied: `Some` replaces (or adds) a value, `None` drops it.
    /// Values are not encoded, so a value can smuggle in a second copy of a parameter.
    fn request(changes: &[(&str, Option<&str>)]) -> Params {
        let mut pairs = vec![
            ("client_id", "rc-pkce-demo"),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("state", "s"),
        ];
        for (name, value) in changes {
            pairs.retain(|(k, _)| k != name);
            if let Some(v) = value {
                pairs.push((name, v));
            }
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Params::from_query(&query.join("&"))
    }

    #[test]
    fn a_good_request_is_valid() {
        let app = app();
        let params = request(&[]);
        let valid = validate(&app, &params).unwrap();
        assert_eq!(
            (valid.redirect_uri, valid.state, valid.challenge),
            (CALLBACK, Some("s"), CHALLENGE)
        );
        assert_eq!(valid.oidc, None, "no openid, no OpenID Connect");
    }

    #[test]
    fn openid_scope_keeps_the_nonce() {
        let app = app();
        let nonce = "n".repeat(MAX_NONCE_CHARS);
        let params = request(&[("scope", Some("openid+email")), ("nonce", Some(&nonce))]);
        let oidc = validate(&app, &params).unwrap().oidc.unwrap();
        assert_eq!(
            (oidc.nonce, oidc.email, oidc.profile),
            (Some(nonce), true, false)
        );
    }

    #[test]
    fn client_and_redirect_uri_problems_are_shown() {
        let app = app();
        for (query, expected) in [
            ("redirect_uri=x", BadClient::MissingClientId),
            ("client_id=a&client_id=b", BadClient::DuplicatedClientId),
            ("client_id=nope", BadClient::UnknownClientId("nope".into())),
            ("client_id=rc-pkce-demo", BadClient::MissingRedirectUri),
            (
                "client_id=rc-pkce-demo&redirect_uri=a&redirect_uri=b",
                BadClient::DuplicatedRedirectUri,
            ),
            (
                "client_id=rc-pkce-demo&redirect_uri=http://x/cb",
                BadClient::UnregisteredRedirectUri("http://x/cb".into()),
            ),
        ] {
            let params = Params::from_query(query);
            assert_eq!(
                validate(&app, &params).err(),
                Some(Refusal::Shown(expected)),
                "{query}"
            );
        }
    }

    #[test]
    fn a_duplicated_state_is_returned_without_state() {
        let app = app();
        let params = Params::from_query(&format!(
            "client_id=rc-pkce-demo&redirect_uri={CALLBACK}&state=a&state=b"
        ));
        assert_eq!(
            validate(&app, &params).err(),
            Some(Refusal::Returned {
                redirect_uri: CALLBACK,
                state: None,
                why: BadRequest::Duplicated("state".into()),
            })
        );
    }

    #[test]
    fn other_problems_are_returned_with_state() {
        use BadRequest::*;
        let app = app();
        let twice = format!("{CHALLENGE}&code_challenge={CHALLENGE}");
        let long_nonce = "n".repeat(MAX_NONCE_CHARS + 1);
        let cases = [
            ("scope", Some("a&scope=b"), Duplicated("scope".into())),
            (
                "code_challenge",
                Some(twice.as_str()),
                Duplicated("code_challenge".into()),
            ),
            ("response_type", None, MissingResponseType),
            ("response_type", Some("token"), UnsupportedResponseType),
            ("code_challenge", None, MissingCodeChallenge),
            ("code_challenge_method", None, MissingCodeChallengeMethod),
            (
                "code_challenge_method",
                Some("plain"),
                PlainCodeChallengeMethod,
            ),
            (
                "code_challenge_method",
                Some("s256"),
                UnsupportedCodeChallengeMethod,
            ),
            ("code_challenge", Some("short"), MalformedCodeChallenge),
            ("prompt", Some("none"), LoginRequired),
            ("nonce", Some("n&nonce=m"), Duplicated("nonce".into())),
            ("nonce", Some(long_nonce.as_str()), BadNonce),
        ];
        for (name, value, expected) in cases {
            let params = request(&[(name, value)]);
            assert_eq!(
                validate(&app, &params).err(),
                Some(Refusal::Returned {
                    redirect_uri: CALLBACK,
                    state: Some("s"),
                    why: expected,
                }),
                "{name}={value:?}"
            );
        }
    }
}
