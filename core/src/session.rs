//! The session state machine: SignedOut → Authorizing → Exchanging → SignedIn ⇄ Refreshing → SignedOut.
//!
//! It is sans-I/O. The browser layer feeds it [`Event`]s (a callback URL, a token response, a timer
//! tick, a 401 from the API, a message from another tab) together with the current time, and carries
//! out the [`Effect`]s it returns (POST this body, store that record, wake me at T). Every rule about
//! when to refresh, when to retry, when to give up and what to tell the user lives here, so it is
//! tested with a fake clock instead of a browser:
//!
//! - refresh when less than 10% of the access token's lifetime (at least 30 s, at most half) is left;
//! - never two refreshes at once (single-flight), and across tabs of one grant only the holder of
//!   the grant's lock refreshes (the browser layer owns the lock, the machine asks for it);
//! - an API 401 leads to at most one refresh and one retry of that call;
//! - `invalid_grant` (and every other non-transient refresh error) ends the session, keeping the reason;
//! - network errors, 5xx and 429 keep the session and retry with capped exponential backoff that
//!   honours `Retry-After`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::authorize::PendingAuthorization;
use crate::callback::{CallbackOutcome, CallbackRejection, parse_callback};
use crate::error::{ApiError, from_authorize_redirect};
use crate::inspector::Step;
use crate::pkce::{CodeVerifier, sha256};
use crate::secret::AuthorizationCode;
use crate::time::Timestamp;
use crate::token::{FormBody, RevokeRequest, TokenRequest, TokenSet};

/// Refresh margin: this share of the lifetime...
pub const REFRESH_MARGIN_DIVISOR: u64 = 10;
/// ...but at least this much...
pub const MIN_REFRESH_MARGIN_MS: u64 = 30_000;
// ...and never more than half the lifetime, or short-lived tokens would be refreshed on arrival.

/// First retry delay after a transient failure; doubled each attempt.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Longest wait between automatic refresh attempts.
pub const BACKOFF_CAP_MS: u64 = 60_000;
/// A code lives about 60 s: after this many failed exchange attempts the sign-in is abandoned.
pub const MAX_EXCHANGE_ATTEMPTS: u32 = 4;

/// Identifies one API call in flight so a 401 can be answered with "retry" or "give up".
pub type CallId = u64;

/// Where the session is. What the user sees follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    SignedOut,
    /// The browser is on its way to the authorize page.
    Authorizing,
    /// A code is being exchanged for tokens (or waits to be retried).
    Exchanging,
    SignedIn,
    /// Signed in with a refresh under way or waiting for its retry; the old access token is still used.
    Refreshing,
}

/// What a token request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Exchange,
    Refresh,
}

/// The outcome of a sign-out's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeStatus {
    /// The revoke request is on its way.
    Pending,
    /// The server confirmed it: the tokens are dead everywhere.
    Confirmed,
    /// The server could not be told (offline, error): the tokens were only forgotten here.
    LocalOnly(ApiError),
}

/// A message for the user about why the session is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    SignedOut(RevokeStatus),
    /// The server refused a refresh for good (e.g. `invalid_grant`): the session is over.
    SessionEnded(ApiError),
    /// The refresh token's lifetime ran out.
    SessionExpired,
    /// The access token expired and the app registration issues no refresh tokens.
    NoRefreshToken,
    /// Another tab of the same session signed out.
    SignedOutInAnotherTab,
    /// The callback was refused before any token request.
    CallbackRejected(CallbackRejection),
    /// The authorization server redirected back with an error (e.g. the user chose Deny).
    AuthorizationDenied(ApiError),
    /// The code exchange failed.
    ExchangeFailed(ApiError),
    /// A replayed or stale callback arrived while signed in: nothing was sent.
    AlreadySignedIn,
    /// A stored record could not be used and was deleted.
    StoredRecordDiscarded(String),
}

/// What is kept in storage (and passed between tabs) for a signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Names the grant (one sign-in) across tabs that share it.
    pub grant_id: String,
    /// Increases with every refresh, so tabs can tell newer tokens from older ones.
    pub generation: u64,
    pub tokens: TokenSet,
}

/// Messages between tabs that share a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    Tokens(StoredSession),
    SignedOut { grant_id: String },
}

/// Inputs to the machine.
#[derive(Debug)]
pub enum Event {
    /// App start: what storage held (already decoded), or why it was discarded.
    Restored {
        stored: Option<StoredSession>,
        discarded: Option<String>,
    },
    /// The user started a sign-in; `pending` and `url` come from [`crate::authorize::start`].
    SignInStarted {
        pending: PendingAuthorization,
        url: String,
    },
    /// The page was loaded at the redirect URI. `pending` is this tab's record (taken from storage).
    CallbackReceived {
        url: String,
        pending: Option<PendingAuthorization>,
        expected_issuer: Option<String>,
    },
    /// The token endpoint answered request `id`.
    TokenResponse {
        id: u64,
        result: Result<TokenSet, ApiError>,
    },
    /// A timer fired (or the tab became visible again).
    Tick,
    /// The browser showed this page again from its back/forward cache (e.g. Back from the
    /// authorize page): the page resumes in the state it was left in instead of loading anew.
    PageRestored,
    /// The user pressed "Refresh now".
    RefreshRequested,
    /// The lock asked for with [`Effect::AcquireRefreshLock`] is held (or locks are unavailable).
    RefreshLockGranted,
    /// API call `call`, made with the tokens of `generation`, got a 401. `retried` says it was
    /// already the retry.
    ApiUnauthorized {
        call: CallId,
        generation: u64,
        retried: bool,
        error: ApiError,
    },
    SignOutRequested,
    RevokeFinished {
        result: Result<(), ApiError>,
    },
    /// Another tab published something for a grant.
    FromOtherTab(Broadcast),
}

/// Outputs: what the browser layer must do, in order.
#[derive(Debug)]
pub enum Effect {
    StorePending(PendingAuthorization),
    ClearPending,
    Navigate(String),
    /// POST `body` to the token endpoint and answer with [`Event::TokenResponse`] carrying `id`.
    PostToken {
        id: u64,
        purpose: Purpose,
        body: FormBody,
    },
    /// POST `body` to the revoke endpoint and answer with [`Event::RevokeFinished`].
    PostRevoke {
        body: FormBody,
    },
    /// Take the grant's cross-tab lock, then answer with [`Event::RefreshLockGranted`].
    AcquireRefreshLock {
        grant_id: String,
    },
    ReleaseRefreshLock,
    StoreSession(StoredSession),
    ClearSession,
    Publish(Broadcast),
    /// Deliver [`Event::Tick`] at this instant (replaces any earlier wake-up).
    WakeAt(Timestamp),
    /// Cancel the pending wake-up.
    CancelWake,
    RetryCall(CallId),
    FailCall(CallId, ApiError),
    /// A step for the PKCE inspector.
    Record(Step),
    /// Sign-in finished: show the account.
    ShowAccount,
}

/// The code and verifier of an exchange, kept for a retry after a transient failure and zeroized
/// when dropped.
struct Exchange {
    code: AuthorizationCode,
    verifier: CodeVerifier,
    redirect_uri: String,
    client_id: String,
    grant_id: String,
}

impl Exchange {
    fn request(&self) -> TokenRequest {
        TokenRequest::AuthorizationCode {
            code: AuthorizationCode::new(self.code.expose()),
            redirect_uri: self.redirect_uri.clone(),
            verifier: self.verifier.duplicate(),
            client_id: self.client_id.clone(),
        }
    }
}

/// The token request a [`Session`] holding no session sends for this callback, or `None` when it
/// would send none (it refuses the callback, or the server reported an error).
///
/// For a module that runs before the session (the app's first-load module): it can send the
/// exchange early, and the session's own request is then the identical one. A property test below
/// holds the two together.
pub fn exchange_request(
    url: &str,
    pending: &PendingAuthorization,
    expected_issuer: Option<&str>,
    now: Timestamp,
) -> Option<TokenRequest> {
    match parse_callback(url, Some(pending), expected_issuer, now) {
        Ok(CallbackOutcome::Code { code, .. }) => Some(TokenRequest::AuthorizationCode {
            code,
            redirect_uri: pending.redirect_uri.clone(),
            verifier: pending.verifier.duplicate(),
            client_id: pending.client_id.clone(),
        }),
        _ => None,
    }
}

/// The state machine. Construct with [`Session::new`], then feed [`Session::handle`].
pub struct Session {
    client_id: String,
    phase: Phase,
    current: Option<StoredSession>,
    exchange: Option<Exchange>,
    /// Id of the token request in flight, if any.
    in_flight: Option<u64>,
    next_request_id: u64,
    /// Waiting for the cross-tab lock, with the generation that was current when it was asked for.
    awaiting_lock: Option<u64>,
    holds_lock: bool,
    /// Consecutive transient failures of the current token request.
    attempt: u32,
    retry_at: Option<Timestamp>,
    /// The latest transient problem, shown while the session carries on.
    problem: Option<ApiError>,
    notice: Option<Notice>,
    waiting_calls: Vec<CallId>,
}

impl Session {
    pub fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            phase: Phase::SignedOut,
            current: None,
            exchange: None,
            in_flight: None,
            next_request_id: 1,
            awaiting_lock: None,
            holds_lock: false,
            attempt: 0,
            retry_at: None,
            problem: None,
            notice: None,
            waiting_calls: Vec::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The tokens in use, when signed in.
    pub fn current(&self) -> Option<&StoredSession> {
        self.current.as_ref()
    }

    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// A transient failure the session is riding out (shown with [`Session::retry_at`]).
    pub fn problem(&self) -> Option<&ApiError> {
        self.problem.as_ref()
    }

    pub fn retry_at(&self) -> Option<Timestamp> {
        self.retry_at
    }

    pub fn is_signed_in(&self) -> bool {
        matches!(self.phase, Phase::SignedIn | Phase::Refreshing)
    }

    /// When the next automatic refresh is due, if the tokens say.
    pub fn refresh_due_at(&self) -> Option<Timestamp> {
        self.current
            .as_ref()
            .and_then(|s| refresh_due_at(&s.tokens))
    }

    pub fn dismiss_notice(&mut self) {
        self.notice = None;
    }

    /// Feeds one event; returns the effects to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Restored { stored, discarded } => {
                self.on_restored(stored, discarded, now, &mut fx)
            }
            Event::SignInStarted { pending, url } => {
                self.reset_to_signed_out();
                self.notice = None;
                self.phase = Phase::Authorizing;
                fx.push(Effect::StorePending(pending));
                fx.push(Effect::Navigate(url));
            }
            Event::CallbackReceived {
                url,
                pending,
                expected_issuer,
            } => self.on_callback(&url, pending, expected_issuer.as_deref(), now, &mut fx),
            Event::TokenResponse { id, result } => self.on_token_response(id, result, now, &mut fx),
            Event::Tick => self.on_tick(now, &mut fx),
            Event::PageRestored => {
                if self.phase == Phase::Authorizing {
                    // The user came back without finishing the sign-in: it can be started again.
                    // The pending record stays, so finishing it from the history entry ahead
                    // (Forward, then Allow) still works.
                    self.phase = Phase::SignedOut;
                }
                self.on_tick(now, &mut fx);
            }
            Event::RefreshRequested => {
                if self.is_signed_in() && self.in_flight.is_none() && self.awaiting_lock.is_none() {
                    self.attempt = 0;
                    self.start_refresh(now, &mut fx);
                }
            }
            Event::RefreshLockGranted => self.on_lock_granted(now, &mut fx),
            Event::ApiUnauthorized {
                call,
                generation,
                retried,
                error,
            } => self.on_unauthorized(call, generation, retried, error, now, &mut fx),
            Event::SignOutRequested => self.on_sign_out(&mut fx),
            Event::RevokeFinished { result } => {
                if let Some(Notice::SignedOut(status @ RevokeStatus::Pending)) = &mut self.notice {
                    *status = match result {
                        Ok(()) => RevokeStatus::Confirmed,
                        Err(e) => RevokeStatus::LocalOnly(e),
                    };
                }
            }
            Event::FromOtherTab(message) => self.on_broadcast(message, now, &mut fx),
        }
        fx
    }

    fn on_restored(
        &mut self,
        stored: Option<StoredSession>,
        discarded: Option<String>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        if let Some(why) = discarded {
            self.notice = Some(Notice::StoredRecordDiscarded(why));
        }
        let Some(stored) = stored else { return };
        if stored.tokens.refresh_expires_at.is_some_and(|t| t <= now) {
            fx.push(Effect::ClearSession);
            self.notice = Some(Notice::SessionExpired);
            return;
        }
        self.current = Some(stored);
        self.phase = Phase::SignedIn;
        self.on_tick(now, fx);
    }

    fn on_callback(
        &mut self,
        url: &str,
        pending: Option<PendingAuthorization>,
        expected_issuer: Option<&str>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let outcome = parse_callback(url, pending.as_ref(), expected_issuer, now);
        let params = crate::url::query_of(url)
            .map(crate::url::parse_query)
            .unwrap_or_default();
        fx.push(Effect::Record(Step::callback(&params)));
        match outcome {
            Err(CallbackRejection::NoPendingAuthorization) if self.is_signed_in() => {
                // A replayed callback (Back button, reload, a copied link): the code was used, or is
                // someone else's. Nothing is sent; the session carries on.
                self.notice = Some(Notice::AlreadySignedIn);
            }
            Err(rejection) => {
                if rejection.consumes_pending() {
                    fx.push(Effect::ClearPending);
                } else if let Some(p) = pending {
                    // Keep this tab's own sign-in alive: a forged callback must not cancel it.
                    fx.push(Effect::StorePending(p));
                }
                if !self.is_signed_in() {
                    self.phase = Phase::SignedOut;
                }
                self.notice = Some(Notice::CallbackRejected(rejection));
            }
            Ok(CallbackOutcome::Error {
                error, description, ..
            }) => {
                fx.push(Effect::ClearPending);
                if !self.is_signed_in() {
                    self.phase = Phase::SignedOut;
                }
                self.notice = Some(Notice::AuthorizationDenied(from_authorize_redirect(
                    &error,
                    description.as_deref(),
                )));
            }
            Ok(CallbackOutcome::Code { code, .. }) => {
                let Some(pending) = pending else { return };
                fx.push(Effect::ClearPending);
                let grant_id = grant_id_for(&pending);
                let PendingAuthorization {
                    verifier,
                    redirect_uri,
                    client_id,
                    ..
                } = pending;
                self.reset_to_signed_out();
                self.notice = None;
                self.exchange = Some(Exchange {
                    code,
                    verifier,
                    redirect_uri,
                    client_id,
                    grant_id,
                });
                self.phase = Phase::Exchanging;
                self.send_exchange(fx);
            }
        }
    }

    fn send_exchange(&mut self, fx: &mut Vec<Effect>) {
        let Some(exchange) = &self.exchange else {
            return;
        };
        let request = exchange.request();
        let id = self.next_id();
        self.in_flight = Some(id);
        self.retry_at = None;
        fx.push(Effect::Record(Step::token_request(&request)));
        fx.push(Effect::PostToken {
            id,
            purpose: Purpose::Exchange,
            body: request.form_body(),
        });
    }

    fn start_refresh(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(current) = &self.current else { return };
        if self.in_flight.is_some() || self.awaiting_lock.is_some() {
            return; // single flight
        }
        if current.tokens.refresh_token.is_none() {
            match current.tokens.expires_at {
                Some(t) if t > now => fx.push(Effect::WakeAt(t)),
                _ => self.end_session(Notice::NoRefreshToken, fx),
            }
            return;
        }
        self.phase = Phase::Refreshing;
        self.awaiting_lock = Some(current.generation);
        fx.push(Effect::AcquireRefreshLock {
            grant_id: current.grant_id.clone(),
        });
    }

    fn on_lock_granted(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(asked_at_generation) = self.awaiting_lock.take() else {
            // Not (or no longer) wanted: signed out, or another tab's tokens arrived meanwhile.
            fx.push(Effect::ReleaseRefreshLock);
            return;
        };
        self.holds_lock = true;
        let Some(current) = &self.current else {
            self.release_lock(fx);
            return;
        };
        if current.generation > asked_at_generation {
            // Another tab refreshed while this one waited for the lock: its tokens were adopted.
            self.release_lock(fx);
            self.phase = Phase::SignedIn;
            self.schedule(now, fx);
            return;
        }
        let Some(refresh_token) = current.tokens.refresh_token.clone() else {
            self.release_lock(fx);
            return;
        };
        let request = TokenRequest::Refresh {
            refresh_token,
            client_id: self.client_id.clone(),
        };
        let id = self.next_id();
        self.in_flight = Some(id);
        self.retry_at = None;
        fx.push(Effect::Record(Step::token_request(&request)));
        fx.push(Effect::PostToken {
            id,
            purpose: Purpose::Refresh,
            body: request.form_body(),
        });
    }

    fn on_token_response(
        &mut self,
        id: u64,
        result: Result<TokenSet, ApiError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        if self.in_flight != Some(id) {
            // Nobody waits for it any more (signed out meanwhile). Fresh tokens nobody holds must
            // not stay alive on the server.
            if let Ok(tokens) = result {
                fx.push(Effect::PostRevoke {
                    body: revoke_request(&tokens, &self.client_id).form_body(),
                });
            }
            return;
        }
        self.in_flight = None;
        fx.push(Effect::Record(Step::token_response(&result)));
        match (self.phase, result) {
            (Phase::Exchanging, Ok(tokens)) => {
                let grant_id = self.exchange.take().map(|e| e.grant_id).unwrap_or_default();
                self.attempt = 0;
                self.problem = None;
                let stored = StoredSession {
                    grant_id,
                    generation: 0,
                    tokens,
                };
                self.current = Some(stored.clone());
                self.phase = Phase::SignedIn;
                fx.push(Effect::StoreSession(stored));
                fx.push(Effect::ShowAccount);
                self.schedule(now, fx);
            }
            (Phase::Exchanging, Err(error)) => {
                self.attempt += 1;
                if error.is_transient() && self.attempt < MAX_EXCHANGE_ATTEMPTS {
                    let at = now.plus_millis(backoff_ms(self.attempt, error.retry_after_secs));
                    self.retry_at = Some(at);
                    self.problem = Some(error);
                    fx.push(Effect::WakeAt(at));
                } else {
                    self.exchange = None;
                    self.phase = Phase::SignedOut;
                    self.attempt = 0;
                    self.problem = None;
                    self.retry_at = None;
                    self.notice = Some(Notice::ExchangeFailed(error));
                }
            }
            (Phase::Refreshing, Ok(tokens)) => {
                let Some(current) = &self.current else { return };
                let stored = StoredSession {
                    grant_id: current.grant_id.clone(),
                    generation: current.generation + 1,
                    tokens,
                };
                self.current = Some(stored.clone());
                self.phase = Phase::SignedIn;
                self.attempt = 0;
                self.problem = None;
                fx.push(Effect::StoreSession(stored.clone()));
                fx.push(Effect::Publish(Broadcast::Tokens(stored)));
                self.release_lock(fx);
                for call in std::mem::take(&mut self.waiting_calls) {
                    fx.push(Effect::RetryCall(call));
                }
                self.schedule(now, fx);
            }
            (Phase::Refreshing, Err(error)) => {
                self.release_lock(fx);
                if error.is_transient() {
                    self.attempt += 1;
                    let at = now.plus_millis(backoff_ms(self.attempt, error.retry_after_secs));
                    self.retry_at = Some(at);
                    for call in std::mem::take(&mut self.waiting_calls) {
                        fx.push(Effect::FailCall(call, error.clone()));
                    }
                    self.problem = Some(error);
                    let at = self.refresh_deadline().map_or(at, |d| d.min(at));
                    fx.push(Effect::WakeAt(at));
                } else {
                    for call in std::mem::take(&mut self.waiting_calls) {
                        fx.push(Effect::FailCall(call, error.clone()));
                    }
                    self.end_session(Notice::SessionEnded(error), fx);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        match self.phase {
            Phase::Exchanging => {
                if self.in_flight.is_none() && self.retry_at.is_some_and(|t| t <= now) {
                    self.send_exchange(fx);
                } else if let Some(t) = self.retry_at {
                    fx.push(Effect::WakeAt(t));
                }
            }
            Phase::SignedIn | Phase::Refreshing => {
                if self.refresh_deadline().is_some_and(|t| t <= now) {
                    self.end_session(Notice::SessionExpired, fx);
                    return;
                }
                if self.in_flight.is_some() || self.awaiting_lock.is_some() {
                    return;
                }
                let due = match self.retry_at {
                    Some(retry) => retry <= now,
                    None => self.refresh_due_at().is_some_and(|t| t <= now),
                };
                if due {
                    self.start_refresh(now, fx);
                } else {
                    self.schedule(now, fx);
                }
            }
            Phase::SignedOut | Phase::Authorizing => {}
        }
    }

    fn on_unauthorized(
        &mut self,
        call: CallId,
        generation: u64,
        retried: bool,
        error: ApiError,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let Some(current) = &self.current else {
            fx.push(Effect::FailCall(call, error));
            return;
        };
        if retried {
            fx.push(Effect::FailCall(call, error));
            return;
        }
        if generation < current.generation {
            // The call used tokens that have been replaced since: just retry with the new ones.
            fx.push(Effect::RetryCall(call));
            return;
        }
        if current.tokens.refresh_token.is_none() {
            fx.push(Effect::FailCall(call, error));
            self.end_session(Notice::NoRefreshToken, fx);
            return;
        }
        self.waiting_calls.push(call);
        if self.in_flight.is_none() && self.awaiting_lock.is_none() {
            // The server says the token is dead whatever our clock says: refresh now, not at the
            // next backoff step.
            self.retry_at = None;
            self.start_refresh(now, fx);
        }
    }

    fn on_sign_out(&mut self, fx: &mut Vec<Effect>) {
        let tokens = self.current.as_ref().map(|s| {
            (
                s.grant_id.clone(),
                revoke_request(&s.tokens, &self.client_id),
            )
        });
        self.release_lock(fx);
        self.reset_to_signed_out();
        fx.push(Effect::ClearSession);
        fx.push(Effect::ClearPending);
        fx.push(Effect::CancelWake);
        match tokens {
            Some((grant_id, revoke)) => {
                fx.push(Effect::Publish(Broadcast::SignedOut { grant_id }));
                fx.push(Effect::PostRevoke {
                    body: revoke.form_body(),
                });
                self.notice = Some(Notice::SignedOut(RevokeStatus::Pending));
            }
            None => self.notice = None,
        }
    }

    fn on_broadcast(&mut self, message: Broadcast, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(current) = &self.current else { return };
        match message {
            Broadcast::Tokens(shared)
                if shared.grant_id == current.grant_id
                    && shared.generation > current.generation =>
            {
                self.current = Some(shared.clone());
                fx.push(Effect::StoreSession(shared));
                if self.in_flight.is_none() {
                    self.phase = Phase::SignedIn;
                    self.attempt = 0;
                    self.retry_at = None;
                    self.problem = None;
                    for call in std::mem::take(&mut self.waiting_calls) {
                        fx.push(Effect::RetryCall(call));
                    }
                    if self.awaiting_lock.is_none() {
                        self.schedule(now, fx);
                    }
                }
            }
            Broadcast::SignedOut { grant_id } if grant_id == current.grant_id => {
                for call in std::mem::take(&mut self.waiting_calls) {
                    fx.push(Effect::FailCall(
                        call,
                        ApiError::new(crate::error::ErrorKind::Unauthorized),
                    ));
                }
                self.release_lock(fx);
                self.reset_to_signed_out();
                fx.push(Effect::ClearSession);
                fx.push(Effect::CancelWake);
                self.notice = Some(Notice::SignedOutInAnotherTab);
            }
            _ => {}
        }
    }

    fn end_session(&mut self, notice: Notice, fx: &mut Vec<Effect>) {
        for call in std::mem::take(&mut self.waiting_calls) {
            fx.push(Effect::FailCall(
                call,
                ApiError::new(crate::error::ErrorKind::Unauthorized),
            ));
        }
        self.release_lock(fx);
        self.reset_to_signed_out();
        fx.push(Effect::ClearSession);
        fx.push(Effect::CancelWake);
        self.notice = Some(notice);
    }

    fn reset_to_signed_out(&mut self) {
        self.phase = Phase::SignedOut;
        self.current = None;
        self.exchange = None;
        self.in_flight = None;
        self.awaiting_lock = None;
        self.attempt = 0;
        self.retry_at = None;
        self.problem = None;
    }

    fn release_lock(&mut self, fx: &mut Vec<Effect>) {
        if self.holds_lock {
            self.holds_lock = false;
            fx.push(Effect::ReleaseRefreshLock);
        }
    }

    /// After the refresh token dies there is nothing left to retry.
    fn refresh_deadline(&self) -> Option<Timestamp> {
        self.current
            .as_ref()
            .and_then(|s| s.tokens.refresh_expires_at)
    }

    /// Sets the wake-up for the next thing that has to happen on its own.
    fn schedule(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        let Some(current) = &self.current else { return };
        let next = match (self.retry_at, refresh_due_at(&current.tokens)) {
            (Some(r), _) => Some(r),
            (None, Some(due)) if current.tokens.refresh_token.is_some() => Some(due),
            // Without a refresh token, wake when the access token dies to say so.
            (None, _) => current.tokens.expires_at,
        };
        let next = match (next, self.refresh_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            fx.push(Effect::WakeAt(at.max(now)));
        }
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }
}

/// When to refresh: when less than a tenth of the lifetime is left, with the margin at least 30 s
/// and at most half the lifetime.
pub fn refresh_due_at(tokens: &TokenSet) -> Option<Timestamp> {
    let expires_at = tokens.expires_at?;
    let lifetime_ms = tokens.issued_at.millis_until(expires_at);
    let margin = (lifetime_ms / REFRESH_MARGIN_DIVISOR)
        .max(MIN_REFRESH_MARGIN_MS)
        .min(lifetime_ms / 2);
    Some(expires_at.minus_millis(margin))
}

/// Delay before retry number `attempt` (1-based): 1 s, 2 s, 4 s ... capped at 60 s, and never
/// shorter than the server's `Retry-After`.
pub fn backoff_ms(attempt: u32, retry_after_secs: Option<u64>) -> u64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let backoff = exp.min(BACKOFF_CAP_MS);
    backoff.max(retry_after_secs.unwrap_or(0).saturating_mul(1000))
}

/// A stable, non-secret name for the grant a pending authorization leads to: a hash of its `state`
/// (which stays secret: the hash cannot be reversed).
pub fn grant_id_for(pending: &PendingAuthorization) -> String {
    let digest = sha256(format!("rc-pkce grant {}", pending.state.expose()).as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

fn revoke_request(tokens: &TokenSet, client_id: &str) -> RevokeRequest {
    match &tokens.refresh_token {
        // Revoking the refresh token ends the whole grant (RFC 7009 §2.1; RingCentral ends the session).
        Some(rt) => RevokeRequest::Refresh {
            token: rt.clone(),
            client_id: client_id.to_string(),
        },
        None => RevokeRequest::Access {
            token: tokens.access_token.clone(),
            client_id: client_id.to_string(),
        },
    }
}

/// The non-secret facts about a stored session the app may show (session panel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    pub scope: Option<String>,
    pub owner_id: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub refresh_expires_at: Option<Timestamp>,
    pub has_refresh_token: bool,
    pub generation: u64,
}

impl From<&StoredSession> for SessionFacts {
    fn from(s: &StoredSession) -> Self {
        Self {
            scope: s.tokens.scope.clone(),
            owner_id: s.tokens.owner_id.clone(),
            expires_at: s.tokens.expires_at,
            refresh_expires_at: s.tokens.refresh_expires_at,
            has_refresh_token: s.tokens.refresh_token.is_some(),
            generation: s.generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::{AuthorizeRequest, start};
    use crate::error::{ErrorKind, parse_error_response};
    use crate::random::testing::SeededEntropy;
    use crate::token::parse_token_response;
    use crate::url::{form_encode, parse_query};

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);
    const CB: &str = "http://localhost:5000/oauth2callback";

    fn tokens(now: Timestamp, access_ttl: u64, refresh: Option<(&str, u64)>) -> TokenSet {
        let mut body = serde_json::json!({"access_token": format!("AT{}", now.as_millis()), "token_type": "bearer", "expires_in": access_ttl, "scope": "ReadAccounts", "owner_id": "101"});
        if let Some((rt, ttl)) = refresh {
            body["refresh_token"] = rt.into();
            body["refresh_token_expires_in"] = ttl.into();
        }
        parse_token_response(body.to_string().as_bytes(), now).unwrap()
    }

    fn pending(seed: u64) -> (PendingAuthorization, String) {
        let r = AuthorizeRequest {
            endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
            client_id: "demo".into(),
            redirect_uri: CB.into(),
            ..Default::default()
        };
        let s = start(&r, &mut SeededEntropy(seed), T0).unwrap();
        (s.pending, s.url)
    }

    fn callback_url(pairs: &[(&str, &str)]) -> String {
        format!("{CB}?{}", form_encode(pairs.iter().copied()))
    }

    /// A session that has just exchanged a code; returns it with the id-bearing effects drained.
    fn signed_in(access_ttl: u64, refresh_ttl: u64) -> Session {
        let mut s = Session::new("demo");
        let (p, _) = pending(1);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", &state)]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        let id = post_id(&fx).unwrap();
        s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(T0, access_ttl, Some(("RT0", refresh_ttl)))),
            },
            T0,
        );
        assert_eq!(s.phase(), Phase::SignedIn);
        s
    }

    fn post_id(fx: &[Effect]) -> Option<u64> {
        fx.iter().find_map(|e| match e {
            Effect::PostToken { id, .. } => Some(*id),
            _ => None,
        })
    }

    fn post_body(fx: &[Effect]) -> Option<Vec<(String, String)>> {
        fx.iter().find_map(|e| match e {
            Effect::PostToken { body, .. } => Some(parse_query(body.expose())),
            _ => None,
        })
    }

    fn wake(fx: &[Effect]) -> Option<Timestamp> {
        fx.iter().rev().find_map(|e| match e {
            Effect::WakeAt(t) => Some(*t),
            _ => None,
        })
    }

    fn has(fx: &[Effect], f: impl Fn(&Effect) -> bool) -> bool {
        fx.iter().any(f)
    }

    fn err(status: u16, body: &str, retry_after: Option<&str>) -> ApiError {
        parse_error_response(status, retry_after, body.as_bytes(), T0)
    }

    /// Runs a refresh through the lock to its POST; returns the request id.
    fn refresh_via_lock(s: &mut Session, now: Timestamp, fx: &[Effect]) -> u64 {
        assert!(
            has(fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })),
            "{fx:?}"
        );
        let fx = s.handle(Event::RefreshLockGranted, now);
        post_id(&fx).expect("refresh POST after the lock")
    }

    #[test]
    fn sign_in_stores_pending_then_navigates() {
        let mut s = Session::new("demo");
        let (p, url) = pending(2);
        let fx = s.handle(
            Event::SignInStarted {
                pending: p,
                url: url.clone(),
            },
            T0,
        );
        assert_eq!(s.phase(), Phase::Authorizing);
        assert!(matches!(&fx[0], Effect::StorePending(_)));
        assert!(matches!(&fx[1], Effect::Navigate(u) if *u == url));
    }

    #[test]
    fn good_callback_exchanges_the_code_with_the_verifier() {
        let mut s = Session::new("demo");
        let (p, _) = pending(3);
        let state = p.state.expose().to_string();
        let verifier = p.verifier.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "THE-CODE"), ("state", &state)]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        assert_eq!(s.phase(), Phase::Exchanging);
        assert!(has(&fx, |e| matches!(e, Effect::ClearPending)));
        let body = post_body(&fx).unwrap();
        assert_eq!(
            body,
            vec![
                ("grant_type".into(), "authorization_code".into()),
                ("code".into(), "THE-CODE".into()),
                ("redirect_uri".into(), CB.into()),
                ("code_verifier".into(), verifier),
                ("client_id".into(), "demo".into()),
            ]
        );
        let id = post_id(&fx).unwrap();
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(T0, 3600, Some(("RT", 604800)))),
            },
            T0,
        );
        assert_eq!(s.phase(), Phase::SignedIn);
        assert!(has(
            &fx,
            |e| matches!(e, Effect::StoreSession(st) if st.generation == 0 && !st.grant_id.is_empty())
        ));
        assert!(has(&fx, |e| matches!(e, Effect::ShowAccount)));
        assert_eq!(wake(&fx), Some(T0.plus_secs(3600 - 360)));
    }

    #[test]
    fn forged_or_unknown_state_sends_nothing() {
        let mut s = Session::new("demo");
        let (p, _) = pending(4);
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", "forged")]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        assert!(post_id(&fx).is_none());
        assert!(
            has(&fx, |e| matches!(e, Effect::StorePending(_))),
            "the tab's own sign-in survives a forged callback"
        );
        assert_eq!(
            s.notice(),
            Some(&Notice::CallbackRejected(CallbackRejection::StateMismatch))
        );
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", "x")]),
                pending: None,
                expected_issuer: None,
            },
            T0,
        );
        assert!(post_id(&fx).is_none());
        assert_eq!(
            s.notice(),
            Some(&Notice::CallbackRejected(
                CallbackRejection::NoPendingAuthorization
            ))
        );
        assert_eq!(s.phase(), Phase::SignedOut);
    }

    #[test]
    fn replayed_callback_while_signed_in_sends_nothing_and_keeps_the_session() {
        let mut s = signed_in(3600, 604800);
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", "old")]),
                pending: None,
                expected_issuer: None,
            },
            T0.plus_secs(5),
        );
        assert!(post_id(&fx).is_none());
        assert!(!has(&fx, |e| matches!(e, Effect::ClearSession)));
        assert!(s.is_signed_in());
        assert_eq!(s.notice(), Some(&Notice::AlreadySignedIn));
    }

    #[test]
    fn denied_consent_is_reported() {
        let mut s = Session::new("demo");
        let (p, _) = pending(5);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[
                    ("error", "access_denied"),
                    ("error_description", "User denied"),
                    ("state", &state),
                ]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        assert!(post_id(&fx).is_none());
        assert!(has(&fx, |e| matches!(e, Effect::ClearPending)));
        match s.notice() {
            Some(Notice::AuthorizationDenied(e)) => assert_eq!(e.kind, ErrorKind::AccessDenied),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exchange_retries_transient_errors_then_gives_up() {
        let mut s = Session::new("demo");
        let (p, _) = pending(6);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", &state)]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        let mut id = post_id(&fx).unwrap();
        let mut now = T0;
        for attempt in 1..MAX_EXCHANGE_ATTEMPTS {
            let fx = s.handle(
                Event::TokenResponse {
                    id,
                    result: Err(err(503, "", None)),
                },
                now,
            );
            assert_eq!(s.phase(), Phase::Exchanging);
            let at = wake(&fx).unwrap();
            assert_eq!(at, now.plus_millis(backoff_ms(attempt, None)));
            assert!(s.problem().is_some());
            // Too early: nothing.
            assert!(post_id(&s.handle(Event::Tick, now)).is_none());
            now = at;
            let fx = s.handle(Event::Tick, now);
            assert_eq!(
                post_body(&fx).unwrap()[1],
                ("code".to_string(), "C".to_string()),
                "same code, same verifier"
            );
            id = post_id(&fx).unwrap();
        }
        s.handle(
            Event::TokenResponse {
                id,
                result: Err(err(503, "", None)),
            },
            now,
        );
        assert_eq!(s.phase(), Phase::SignedOut);
        assert!(matches!(s.notice(), Some(Notice::ExchangeFailed(_))));
    }

    #[test]
    fn exchange_invalid_grant_fails_at_once() {
        let mut s = Session::new("demo");
        let (p, _) = pending(7);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", &state)]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        let id = post_id(&fx).unwrap();
        let e = err(
            400,
            r#"{"error":"invalid_grant","errors":[{"errorCode":"OAU-108","message":"expired"}]}"#,
            None,
        );
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Err(e.clone()),
            },
            T0,
        );
        assert!(wake(&fx).is_none());
        assert_eq!(s.notice(), Some(&Notice::ExchangeFailed(e)));
    }

    #[test]
    fn refresh_margin_rule() {
        let due = |ttl: u64| refresh_due_at(&tokens(T0, ttl, None)).unwrap();
        assert_eq!(due(3600), T0.plus_secs(3600 - 360), "10% of an hour");
        assert_eq!(due(120), T0.plus_secs(90), "at least 30 s");
        assert_eq!(
            due(40),
            T0.plus_secs(20),
            "at most half of a short lifetime"
        );
        assert_eq!(
            refresh_due_at(
                &parse_token_response(br#"{"access_token":"a","token_type":"bearer"}"#, T0)
                    .unwrap()
            ),
            None
        );
    }

    #[test]
    fn refreshes_on_its_own_when_due_and_rotates() {
        let mut s = signed_in(3600, 604800);
        let due = s.refresh_due_at().unwrap();
        assert!(
            s.handle(Event::Tick, due.minus_millis(1))
                .iter()
                .all(|e| !matches!(e, Effect::AcquireRefreshLock { .. }))
        );
        let fx = s.handle(Event::Tick, due);
        assert_eq!(s.phase(), Phase::Refreshing);
        let id = refresh_via_lock(&mut s, due, &fx);
        let fx2 = s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(due, 3600, Some(("RT1", 604800)))),
            },
            due,
        );
        assert_eq!(s.phase(), Phase::SignedIn);
        assert_eq!(s.current().unwrap().generation, 1);
        assert_eq!(
            s.current()
                .unwrap()
                .tokens
                .refresh_token
                .as_ref()
                .unwrap()
                .expose(),
            "RT1"
        );
        assert!(has(
            &fx2,
            |e| matches!(e, Effect::StoreSession(st) if st.generation == 1)
        ));
        assert!(has(
            &fx2,
            |e| matches!(e, Effect::Publish(Broadcast::Tokens(st)) if st.generation == 1)
        ));
        assert!(has(&fx2, |e| matches!(e, Effect::ReleaseRefreshLock)));
        assert_eq!(wake(&fx2), Some(due.plus_secs(3600 - 360)));
    }

    #[test]
    fn refresh_body_uses_the_refresh_token_and_no_secret() {
        let mut s = signed_in(3600, 604800);
        let fx = s.handle(Event::RefreshRequested, T0.plus_secs(10));
        assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
        let fx = s.handle(Event::RefreshLockGranted, T0.plus_secs(10));
        let body = post_body(&fx).unwrap();
        assert_eq!(
            body,
            vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".into(), "RT0".into()),
                ("client_id".into(), "demo".into())
            ]
        );
    }

    #[test]
    fn refresh_is_single_flight() {
        let mut s = signed_in(3600, 604800);
        let now = T0.plus_secs(10);
        let fx = s.handle(Event::RefreshRequested, now);
        assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
        // While waiting for the lock: nothing more starts.
        for ev in [Event::RefreshRequested, Event::Tick] {
            let fx = s.handle(ev, s.refresh_due_at().unwrap());
            assert!(
                !has(&fx, |e| matches!(
                    e,
                    Effect::AcquireRefreshLock { .. } | Effect::PostToken { .. }
                )),
                "{fx:?}"
            );
        }
        let fx = s.handle(Event::RefreshLockGranted, now);
        assert!(post_id(&fx).is_some());
        // While the POST is in flight: nothing more starts, and 401s queue up.
        let fx = s.handle(Event::RefreshRequested, now);
        assert!(fx.is_empty());
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 1,
                generation: 0,
                retried: false,
                error: err(401, "", None),
            },
            now,
        );
        assert!(fx.is_empty(), "{fx:?}");
        // A second grant of the lock (spurious) does not start a second POST.
        let fx = s.handle(Event::RefreshLockGranted, now);
        assert!(post_id(&fx).is_none());
    }

    #[test]
    fn a_401_triggers_one_refresh_and_one_retry() {
        let mut s = signed_in(3600, 604800);
        let now = T0.plus_secs(100);
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 7,
                generation: 0,
                retried: false,
                error: err(401, "", None),
            },
            now,
        );
        let id = refresh_via_lock(&mut s, now, &fx);
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 8,
                generation: 0,
                retried: false,
                error: err(401, "", None),
            },
            now,
        );
        assert!(post_id(&fx).is_none(), "second 401 joins the same refresh");
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
            },
            now,
        );
        let retried: Vec<_> = fx
            .iter()
            .filter_map(|e| {
                if let Effect::RetryCall(c) = e {
                    Some(*c)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(retried, vec![7, 8]);
        // The retry gets a 401 again: give up on that call, no new refresh.
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 7,
                generation: 1,
                retried: true,
                error: err(401, "", None),
            },
            now,
        );
        assert!(matches!(fx.as_slice(), [Effect::FailCall(7, _)]));
        assert!(s.is_signed_in());
    }

    #[test]
    fn a_401_on_already_replaced_tokens_just_retries() {
        let mut s = signed_in(3600, 604800);
        let now = T0.plus_secs(10);
        let fx = s.handle(Event::RefreshRequested, now);
        let id = refresh_via_lock(&mut s, now, &fx);
        s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
            },
            now,
        );
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 3,
                generation: 0,
                retried: false,
                error: err(401, "", None),
            },
            now,
        );
        assert!(matches!(fx.as_slice(), [Effect::RetryCall(3)]));
    }

    #[test]
    fn invalid_grant_on_refresh_signs_out_with_the_reason() {
        let mut s = signed_in(3600, 604800);
        let now = T0.plus_secs(10);
        let fx = s.handle(
            Event::ApiUnauthorized {
                call: 1,
                generation: 0,
                retried: false,
                error: err(401, "", None),
            },
            now,
        );
        let id = refresh_via_lock(&mut s, now, &fx);
        let e = err(
            400,
            r#"{"error":"invalid_grant","error_description":"Token is revoked","errors":[{"errorCode":"OAU-213","message":"x"}]}"#,
            None,
        );
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Err(e.clone()),
            },
            now,
        );
        assert_eq!(s.phase(), Phase::SignedOut);
        assert!(s.current().is_none());
        assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
        assert!(has(&fx, |e| matches!(e, Effect::FailCall(1, _))));
        assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
        assert_eq!(s.notice(), Some(&Notice::SessionEnded(e)));
    }

    #[test]
    fn transient_refresh_errors_back_off_and_honour_retry_after() {
        let mut s = signed_in(3600, 604800);
        let mut now = s.refresh_due_at().unwrap();
        let fx = s.handle(Event::Tick, now);
        let mut id = refresh_via_lock(&mut s, now, &fx);
        let answers = [
            (err(503, "", None), 1_000),
            (ApiError::network("http://x", "offline"), 2_000),
            (err(429, "", Some("7")), 7_000),
            (err(429, "", None), 30_000),
            (err(502, "", None), 16_000),
            (err(500, "", None), 32_000),
            (err(500, "", None), 60_000),
            (err(500, "", None), 60_000),
        ];
        for (error, delay) in answers {
            let fx = s.handle(
                Event::TokenResponse {
                    id,
                    result: Err(error),
                },
                now,
            );
            assert!(s.is_signed_in(), "the session survives transient errors");
            assert!(s.problem().is_some());
            assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
            assert_eq!(wake(&fx), Some(now.plus_millis(delay)));
            assert!(!has(
                &s.handle(Event::Tick, now.plus_millis(delay - 1)),
                |e| matches!(e, Effect::AcquireRefreshLock { .. })
            ));
            now = now.plus_millis(delay);
            let fx = s.handle(Event::Tick, now);
            id = refresh_via_lock(&mut s, now, &fx);
        }
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
            },
            now,
        );
        assert!(s.problem().is_none());
        assert_eq!(s.retry_at(), None);
        assert_eq!(wake(&fx), Some(now.plus_secs(3240)));
    }

    #[test]
    fn coming_back_from_the_authorize_page_allows_a_new_sign_in() {
        let mut s = Session::new("demo");
        let (p, url) = pending(20);
        s.handle(Event::SignInStarted { pending: p, url }, T0);
        assert_eq!(s.phase(), Phase::Authorizing);
        // Timers and visibility changes do not end the wait for the authorize page...
        s.handle(Event::Tick, T0.plus_secs(1));
        assert_eq!(s.phase(), Phase::Authorizing);
        // ...but the page shown again from the back/forward cache does.
        let fx = s.handle(Event::PageRestored, T0.plus_secs(5));
        assert_eq!(s.phase(), Phase::SignedOut);
        assert!(s.notice().is_none());
        assert!(
            !has(&fx, |e| matches!(e, Effect::ClearPending)),
            "finishing the sign-in ahead in history still works: {fx:?}"
        );

        // A signed-in session only checks its timers.
        let mut s = signed_in(3600, 604800);
        let fx = s.handle(Event::PageRestored, T0.plus_secs(1));
        assert!(s.is_signed_in());
        assert_eq!(wake(&fx), Some(T0.plus_secs(3240)));
        let fx = s.handle(Event::PageRestored, T0.plus_secs(3300));
        assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
    }

    #[test]
    fn backoff_schedule() {
        assert_eq!(backoff_ms(1, None), 1_000);
        assert_eq!(backoff_ms(2, None), 2_000);
        assert_eq!(backoff_ms(6, None), 32_000);
        assert_eq!(backoff_ms(7, None), 60_000);
        assert_eq!(backoff_ms(u32::MAX, None), 60_000);
        assert_eq!(backoff_ms(1, Some(5)), 5_000);
        assert_eq!(backoff_ms(7, Some(120)), 120_000);
        assert_eq!(backoff_ms(1, Some(u64::MAX)), u64::MAX);
    }

    #[test]
    fn refresh_token_expiry_ends_the_session_without_a_request() {
        let mut s = signed_in(3600, 7200);
        let fx = s.handle(Event::Tick, T0.plus_secs(7200));
        assert!(post_id(&fx).is_none());
        assert_eq!(s.phase(), Phase::SignedOut);
        assert_eq!(s.notice(), Some(&Notice::SessionExpired));
    }

    #[test]
    fn without_a_refresh_token_the_session_ends_with_the_access_token() {
        let mut s = Session::new("demo");
        s.handle(
            Event::Restored {
                stored: Some(StoredSession {
                    grant_id: "g".into(),
                    generation: 0,
                    tokens: tokens(T0, 3600, None),
                }),
                discarded: None,
            },
            T0,
        );
        assert!(s.is_signed_in());
        let fx = s.handle(Event::Tick, T0.plus_secs(3599));
        assert_eq!(wake(&fx), Some(T0.plus_secs(3600)));
        s.handle(Event::Tick, T0.plus_secs(3600));
        assert_eq!(s.notice(), Some(&Notice::NoRefreshToken));
    }

    #[test]
    fn restore_of_an_expired_session_clears_it() {
        let mut s = Session::new("demo");
        let fx = s.handle(
            Event::Restored {
                stored: Some(StoredSession {
                    grant_id: "g".into(),
                    generation: 3,
                    tokens: tokens(T0, 3600, Some(("R", 60))),
                }),
                discarded: None,
            },
            T0.plus_secs(61),
        );
        assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
        assert_eq!(s.notice(), Some(&Notice::SessionExpired));
        let mut s = Session::new("demo");
        s.handle(
            Event::Restored {
                stored: None,
                discarded: Some("corrupted".into()),
            },
            T0,
        );
        assert_eq!(
            s.notice(),
            Some(&Notice::StoredRecordDiscarded("corrupted".into()))
        );
    }

    #[test]
    fn restore_after_sleep_refreshes_overdue_tokens() {
        let mut s = Session::new("demo");
        let fx = s.handle(
            Event::Restored {
                stored: Some(StoredSession {
                    grant_id: "g".into(),
                    generation: 2,
                    tokens: tokens(T0, 3600, Some(("R", 604800))),
                }),
                discarded: None,
            },
            T0.plus_secs(4000),
        );
        assert!(has(
            &fx,
            |e| matches!(e, Effect::AcquireRefreshLock { grant_id } if grant_id == "g")
        ));
    }

    #[test]
    fn sign_out_revokes_clears_and_reports() {
        let mut s = signed_in(3600, 604800);
        let fx = s.handle(Event::SignOutRequested, T0.plus_secs(1));
        assert_eq!(s.phase(), Phase::SignedOut);
        assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
        assert!(has(&fx, |e| matches!(
            e,
            Effect::Publish(Broadcast::SignedOut { .. })
        )));
        let body = fx
            .iter()
            .find_map(|e| {
                if let Effect::PostRevoke { body } = e {
                    Some(parse_query(body.expose()))
                } else {
                    None
                }
            })
            .unwrap();
        assert_eq!(body[0], ("token".to_string(), "RT0".to_string()));
        assert_eq!(
            body[1],
            ("token_type_hint".to_string(), "refresh_token".to_string())
        );
        assert_eq!(s.notice(), Some(&Notice::SignedOut(RevokeStatus::Pending)));
        s.handle(Event::RevokeFinished { result: Ok(()) }, T0);
        assert_eq!(
            s.notice(),
            Some(&Notice::SignedOut(RevokeStatus::Confirmed))
        );

        let mut s = signed_in(3600, 604800);
        s.handle(Event::SignOutRequested, T0);
        let offline = ApiError::network("http://x", "offline");
        s.handle(
            Event::RevokeFinished {
                result: Err(offline.clone()),
            },
            T0,
        );
        assert_eq!(
            s.notice(),
            Some(&Notice::SignedOut(RevokeStatus::LocalOnly(offline)))
        );
    }

    #[test]
    fn tokens_arriving_after_sign_out_are_revoked_not_kept() {
        let mut s = signed_in(3600, 604800);
        let fx = s.handle(Event::RefreshRequested, T0);
        let id = refresh_via_lock(&mut s, T0, &fx);
        let fx = s.handle(Event::SignOutRequested, T0);
        assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(T0, 3600, Some(("LATE", 604800)))),
            },
            T0,
        );
        let body = fx
            .iter()
            .find_map(|e| {
                if let Effect::PostRevoke { body } = e {
                    Some(parse_query(body.expose()))
                } else {
                    None
                }
            })
            .unwrap();
        assert_eq!(body[0].1, "LATE");
        assert!(!has(&fx, |e| matches!(e, Effect::StoreSession(_))));
        assert!(s.current().is_none());
    }

    #[test]
    fn another_tabs_tokens_are_adopted_without_a_request() {
        let mut s = signed_in(3600, 604800);
        let grant = s.current().unwrap().grant_id.clone();
        let now = T0.plus_secs(3300);
        // This tab wants to refresh and waits for the lock...
        let fx = s.handle(Event::Tick, now);
        assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
        // ...meanwhile the lock holder publishes fresh tokens.
        let shared = StoredSession {
            grant_id: grant.clone(),
            generation: 1,
            tokens: tokens(now, 3600, Some(("RT1", 604800))),
        };
        let fx = s.handle(Event::FromOtherTab(Broadcast::Tokens(shared.clone())), now);
        assert!(has(
            &fx,
            |e| matches!(e, Effect::StoreSession(st) if *st == shared)
        ));
        assert_eq!(s.current(), Some(&shared));
        // When the lock comes, there is nothing left to do.
        let fx = s.handle(Event::RefreshLockGranted, now);
        assert!(post_id(&fx).is_none());
        assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
        assert_eq!(s.phase(), Phase::SignedIn);
        assert_eq!(wake(&fx), Some(now.plus_secs(3240)));
    }

    #[test]
    fn older_or_foreign_broadcasts_are_ignored() {
        let mut s = signed_in(3600, 604800);
        let grant = s.current().unwrap().grant_id.clone();
        let before = s.current().cloned();
        for msg in [
            Broadcast::Tokens(StoredSession {
                grant_id: grant.clone(),
                generation: 0,
                tokens: tokens(T0, 60, None),
            }),
            Broadcast::Tokens(StoredSession {
                grant_id: "other".into(),
                generation: 9,
                tokens: tokens(T0, 60, None),
            }),
            Broadcast::SignedOut {
                grant_id: "other".into(),
            },
        ] {
            assert!(s.handle(Event::FromOtherTab(msg), T0).is_empty());
        }
        assert_eq!(s.current().cloned(), before);
        let fx = s.handle(
            Event::FromOtherTab(Broadcast::SignedOut { grant_id: grant }),
            T0,
        );
        assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
        assert!(
            !has(&fx, |e| matches!(e, Effect::PostRevoke { .. })),
            "the other tab already revoked"
        );
        assert_eq!(s.notice(), Some(&Notice::SignedOutInAnotherTab));
    }

    #[test]
    fn grant_ids_are_stable_per_sign_in_and_reveal_nothing() {
        let (a, _) = pending(10);
        let (b, _) = pending(11);
        assert_eq!(grant_id_for(&a), grant_id_for(&a));
        assert_ne!(grant_id_for(&a), grant_id_for(&b));
        assert!(!grant_id_for(&a).contains(&a.state.expose()[..8]));
    }

    #[test]
    fn inspector_steps_are_recorded_with_secrets_flagged() {
        let mut s = Session::new("demo");
        let (p, _) = pending(12);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", "C"), ("state", &state)]),
                pending: Some(p),
                expected_issuer: None,
            },
            T0,
        );
        let steps: Vec<_> = fx
            .iter()
            .filter_map(|e| {
                if let Effect::Record(st) = e {
                    Some(st)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(steps.len(), 2, "callback parameters and the token request");
    }

    mod early_exchange {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// `exchange_request` sends exactly what the session sends, and nothing when the
            /// session sends nothing: whatever the callback carries, wherever it was tampered with.
            #[test]
            fn matches_what_a_signed_out_session_sends(
                seed in 0u64..1_000,
                code in "[A-Za-z0-9._~-]{0,40}",
                state_kind in 0u8..4,
                error in proptest::option::of("[a-z_]{1,20}"),
                iss in proptest::option::of(prop_oneof![Just("http://127.0.0.1:5001".to_string()), "[a-z:/.]{0,20}"]),
                expected in proptest::option::of(Just("http://127.0.0.1:5001".to_string())),
                later_secs in prop_oneof![Just(0u64), Just(60), Just(3_600)],
            ) {
                let (p, _) = pending(seed);
                let good = p.state.expose().to_string();
                let mut pairs: Vec<(&str, String)> = Vec::new();
                if !code.is_empty() {
                    pairs.push(("code", code.clone()));
                }
                match state_kind {
                    0 => pairs.push(("state", good.clone())),
                    1 => pairs.push(("state", format!("{good}x"))),
                    2 => {}
                    _ => {
                        pairs.push(("state", good.clone()));
                        pairs.push(("state", good.clone()));
                    }
                }
                if let Some(e) = &error {
                    pairs.push(("error", e.clone()));
                }
                if let Some(i) = &iss {
                    pairs.push(("iss", i.clone()));
                }
                let url = format!("{CB}?{}", form_encode(pairs.iter().map(|(k, v)| (*k, v.as_str()))));
                let now = T0.plus_secs(later_secs);
                let early = exchange_request(&url, &p, expected.as_deref(), now)
                    .map(|r| r.form_body().expose().to_string());
                let mut s = Session::new("demo");
                s.handle(Event::Restored { stored: None, discarded: None }, now);
                let fx = s.handle(
                    Event::CallbackReceived { url, pending: Some(p), expected_issuer: expected },
                    now,
                );
                let sent = fx.iter().find_map(|e| match e {
                    Effect::PostToken { body, .. } => Some(body.expose().to_string()),
                    _ => None,
                });
                prop_assert_eq!(early, sent);
            }
        }
    }
}
