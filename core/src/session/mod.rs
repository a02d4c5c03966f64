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
//!   the grant's lock refreshes (the browser layer owns the lock, the machine asks for it), unless
//!   the lock has not come for [`LOCK_WAIT_LIMIT_MS`]: then something that is not a refreshing
//!   peer holds it, and the refresh goes ahead without it;
//! - an API 401 leads to at most one refresh and one retry of that call;
//! - only the server ends a session ([`policy::refresh_failure_ends_session`]: `invalid_grant` and
//!   the other OAuth refusals), keeping the reason;
//! - every other failed refresh (network, timeout, 5xx, 429, a blocked or unreadable response)
//!   keeps the session and retries with capped exponential backoff that honours `Retry-After`.
//!
//! The modules: [`event`] (inputs, outputs and the values they carry), `state` (the state enum),
//! [`policy`] (timing and failure rules), [`callback`] (the callback decision shared with the
//! first-load module).

pub mod callback;
pub mod event;
#[cfg(test)]
mod openid_tests;
pub mod policy;
mod state;
#[cfg(test)]
mod tests;
mod verify;

pub use callback::{CallbackVerdict, Exchange, accept_callback, grant_id_for, handles_callback};
pub use event::{
    Broadcast, CallId, Effect, Event, Notice, RevokeStatus, SessionFacts, StoredSession,
};
pub use policy::{
    BACKOFF_BASE_MS, BACKOFF_CAP_MS, LOCK_WAIT_LIMIT_MS, MAX_EXCHANGE_ATTEMPTS,
    MIN_REFRESH_MARGIN_MS, REFRESH_MARGIN_DIVISOR, backoff_ms, refresh_due_at,
};

use crate::authorize::PendingAuthorization;
use crate::binding::ServerBinding;
use crate::callback::CallbackRejection;
use crate::error::{ApiError, ErrorKind};
use crate::id_token::Refusal;
use crate::id_token::{Claims, Expected, IdToken, RsaKey};
use crate::inspector::Step;
use crate::secret::IdTokenText;
use crate::storage::StorageError;
use crate::time::Timestamp;
use crate::token::{RevokeRequest, TokenSet};
use state::{Attempt, Exchanging, Refresh, SignedIn, State, Verifying};
use verify::{Next, Stage};

/// Where the session is, as the UI shows it.
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

/// One tab's session.
///
/// Construct with [`Session::new`]; then, for everything that happens, call [`Session::handle`]
/// with the event and the current time and carry out the returned effects in order. Between
/// events, the getters say what to show:
///
/// - [`phase`](Self::phase), [`is_signed_in`](Self::is_signed_in): where the session is;
/// - [`current`](Self::current): the tokens in use;
/// - [`problem`](Self::problem), [`retry_at`](Self::retry_at): a failure being ridden out and when
///   the next attempt is due;
/// - [`refresh_due_at`](Self::refresh_due_at): when the next automatic refresh is due;
/// - [`notice`](Self::notice): why the session is what it is (until [`Event::NoticeDismissed`]);
/// - [`storage_problem`](Self::storage_problem), [`fatal`](Self::fatal): what the browser refused.
///
/// The machine never reads a clock, never awaits and never fails: an event that makes no sense in
/// the current state (a late response, a spurious lock grant) is answered with what keeps the
/// world consistent (revoke the orphaned tokens, give the lock back), or with nothing.
pub struct Session {
    /// The configuration's client and server: what a record must be bound to to be used.
    binding: ServerBinding,
    state: State,
    notice: Option<Notice>,
    /// Storage refused to keep something the session needs.
    storage_problem: Option<StorageError>,
    /// The browser refused something no sign-in can do without.
    fatal: Option<String>,
    /// Whether the PKCE inspector's steps are recorded ([`Effect::Record`]).
    records: bool,
    next_request_id: u64,
    /// Where the server's key set is, for ID token signatures.
    jwks_uri: String,
    /// The key set as last fetched, kept for the page.
    keys: Option<Vec<RsaKey>>,
}

impl Session {
    pub fn new(binding: ServerBinding) -> Self {
        Self {
            binding,
            state: State::SignedOut,
            notice: None,
            storage_problem: None,
            fatal: None,
            records: true,
            next_request_id: 1,
            jwks_uri: String::new(),
            keys: None,
        }
    }

    /// Where the server publishes the keys that sign its ID tokens (the configuration's
    /// `jwks_uri`), for sign-ins with OpenID Connect.
    pub fn with_key_set(self, jwks_uri: impl Into<String>) -> Self {
        Self {
            jwks_uri: jwks_uri.into(),
            ..self
        }
    }

    /// A session that records no inspector steps: for the first-load modules, whose steps the app
    /// records when its own session handles the same sign-in. (The steps are then never built,
    /// which keeps those modules small and quick.)
    pub fn without_record(binding: ServerBinding) -> Self {
        Self {
            records: false,
            ..Self::new(binding)
        }
    }

    // Getters

    pub fn phase(&self) -> Phase {
        match &self.state {
            State::SignedOut => Phase::SignedOut,
            State::Authorizing { .. } => Phase::Authorizing,
            State::Exchanging(_) | State::Verifying(_) => Phase::Exchanging,
            State::SignedIn(s) => match s.refresh {
                Refresh::Idle => Phase::SignedIn,
                _ => Phase::Refreshing,
            },
        }
    }

    pub fn is_signed_in(&self) -> bool {
        matches!(self.state, State::SignedIn(_))
    }

    /// The tokens in use, when signed in.
    pub fn current(&self) -> Option<&StoredSession> {
        match &self.state {
            State::SignedIn(s) => Some(&s.current),
            _ => None,
        }
    }

    /// Who is signed in, from the verified ID token (OpenID Connect sign-ins only).
    pub fn identity(&self) -> Option<&Claims> {
        self.current().and_then(|s| s.identity.as_ref())
    }

    pub fn notice(&self) -> Option<&Notice> {
        self.notice.as_ref()
    }

    /// What storage refused, until the next sign-in is started.
    pub fn storage_problem(&self) -> Option<&StorageError> {
        self.storage_problem.as_ref()
    }

    /// Why no sign-in can work in this browser (no random numbers, navigation refused).
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// A transient failure the session is riding out (shown with [`Session::retry_at`]), as the
    /// user should read it (see [`policy::shown_problem`]).
    pub fn problem(&self) -> Option<ApiError> {
        match &self.state {
            State::Exchanging(x) => x.problem.clone(),
            State::Verifying(v) => v.problem.clone(),
            State::SignedIn(s) => s
                .problem
                .as_ref()
                .map(|(e, repeats)| policy::shown_problem(e, *repeats)),
            _ => None,
        }
    }

    pub fn retry_at(&self) -> Option<Timestamp> {
        match &self.state {
            State::Exchanging(Exchanging {
                attempt: Attempt::RetryAt(at),
                ..
            }) => Some(*at),
            State::Verifying(Verifying {
                check:
                    verify::Check {
                        stage: Stage::KeysRetryAt(at),
                        ..
                    },
                ..
            }) => Some(*at),
            State::SignedIn(SignedIn {
                refresh: Refresh::Backoff { at },
                ..
            }) => Some(*at),
            _ => None,
        }
    }

    /// When the next automatic refresh is due, if the tokens say.
    pub fn refresh_due_at(&self) -> Option<Timestamp> {
        self.current().and_then(|s| refresh_due_at(&s.tokens))
    }

    /// Feeds one event; returns the effects to carry out, in order.
    // Inlined so that a caller that only ever passes a few event kinds (the first-load module:
    // a sign-in's first steps) links only those transitions; the app has one call site.
    #[inline(always)]
    pub fn handle(&mut self, event: Event, now: Timestamp) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Restored { stored, discarded } => {
                self.on_restored(stored, discarded, now, &mut fx)
            }
            Event::SignInStarted { pending, url } => {
                self.leave_state(&mut fx);
                self.notice = None;
                self.storage_problem = None;
                self.state = State::Authorizing {
                    navigate_to: Some(url),
                };
                fx.push(Effect::StorePending(pending));
                // A new sign-in replaces the story of the last one.
                fx.push(Effect::ClearEnded);
            }
            Event::PendingStored(result) => {
                let navigate_to = match &mut self.state {
                    State::Authorizing { navigate_to } => navigate_to.take(),
                    _ => None,
                };
                match (result, navigate_to) {
                    (Ok(()), Some(url)) => fx.push(Effect::Navigate(url)),
                    (Ok(()), None) => {}
                    (Err(e), navigate_to) => {
                        if navigate_to.is_some() {
                            // Without the record the callback could only be refused: stay here.
                            self.state = State::SignedOut;
                        }
                        self.storage_problem = Some(e);
                    }
                }
            }
            Event::SessionStored(Ok(())) => {
                if matches!(self.notice, Some(Notice::SessionNotSaved(_))) {
                    self.notice = None;
                }
            }
            Event::SessionStored(Err(e)) => {
                // Storage still holds the record before this one, whose refresh token the server
                // has replaced: a reload would present it (reuse, which revokes the grant) or
                // restore a session the user signed out of. Without it, a reload signs out.
                fx.push(Effect::ForgetStoredSession);
                if self.is_signed_in() {
                    self.notice = Some(Notice::SessionNotSaved(e));
                } else {
                    self.storage_problem = Some(e);
                }
            }
            Event::StorageFailed(e) => self.storage_problem = Some(e),
            Event::EndedBefore(notice) => {
                if matches!(self.state, State::SignedOut) && self.notice.is_none() {
                    self.notice = Some(notice);
                }
            }
            Event::NoticeDismissed => {
                self.notice = None;
                fx.push(Effect::ClearEnded);
            }
            Event::BrowserFailed(why) => {
                if matches!(self.state, State::Authorizing { .. }) {
                    self.state = State::SignedOut;
                }
                self.fatal = Some(why);
            }
            Event::CallbackReceived { url, pending } => {
                self.on_callback(&url, pending, now, &mut fx)
            }
            Event::TokenResponse { id, result } => self.on_token_response(id, result, now, &mut fx),
            Event::Tick => self.on_tick(now, &mut fx),
            Event::PageRestored => {
                if matches!(self.state, State::Authorizing { .. }) {
                    // The user came back without finishing the sign-in: it can be started again.
                    // The pending record stays, so finishing it from the history entry ahead
                    // (Forward, then Allow) still works.
                    self.state = State::SignedOut;
                }
                self.on_tick(now, &mut fx);
            }
            Event::RefreshRequested => {
                if let State::SignedIn(s) = &mut self.state
                    && matches!(s.refresh, Refresh::Idle | Refresh::Backoff { .. })
                {
                    s.failures = 0;
                    self.start_refresh(Vec::new(), now, &mut fx);
                }
            }
            Event::RefreshLockTaken => self.on_lock_taken(),
            Event::RefreshLockGranted => self.on_lock_granted(now, &mut fx),
            Event::ApiUnauthorized {
                call,
                generation,
                retried,
                error,
            } => self.on_unauthorized(call, generation, retried, error, now, &mut fx),
            Event::SignOutRequested => self.on_sign_out(&mut fx),
            Event::RevokeFinished { result } => {
                if let Some(
                    Notice::SignedOut(status @ RevokeStatus::Pending)
                    | Notice::SessionOfAnotherServer {
                        revoke: status @ RevokeStatus::Pending,
                        ..
                    },
                ) = &mut self.notice
                {
                    *status = match result {
                        Ok(()) => RevokeStatus::Confirmed,
                        Err(e) => RevokeStatus::LocalOnly(e),
                    };
                }
            }
            Event::FromOtherTab(message) => self.on_broadcast(message, now, &mut fx),
            Event::KeysFetched { id, result } => self.on_keys(id, result, now, &mut fx),
            Event::SignatureChecked { id, result } => self.on_signature(id, result, now, &mut fx),
        }
        fx
    }

    // Transitions

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
        if let Some(changed) = stored.binding.differs_from(&self.binding) {
            // Made with another client or server: using it would send its tokens to the one
            // configured now. It goes back to its own server, unused.
            fx.push(Effect::ClearSession);
            fx.push(Effect::PostRevoke {
                endpoint: stored.binding.revoke_endpoint.clone(),
                body: RevokeRequest::for_tokens(&stored.tokens, &stored.binding.client_id)
                    .form_body(),
            });
            self.notice = Some(Notice::SessionOfAnotherServer {
                changed,
                revoke: RevokeStatus::Pending,
            });
            return;
        }
        if stored.tokens.refresh_expires_at.is_some_and(|t| t <= now) {
            fx.push(Effect::ClearSession);
            fx.push(Effect::StoreEnded(Notice::SessionExpired));
            self.notice = Some(Notice::SessionExpired);
            return;
        }
        self.leave_state(fx);
        self.state = State::SignedIn(SignedIn::new(stored));
        self.on_tick(now, fx);
    }

    fn on_callback(
        &mut self,
        url: &str,
        pending: Option<PendingAuthorization>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let verdict = accept_callback(url, pending.as_ref(), &self.binding, now);
        self.record(fx, || {
            let params = crate::url::query_of(url)
                .map(crate::url::parse_query)
                .unwrap_or_default();
            Step::callback(&params)
        });
        match verdict {
            CallbackVerdict::Rejected(CallbackRejection::NoPendingAuthorization)
                if self.is_signed_in() =>
            {
                // A replayed callback (Back button, reload, a copied link): the code was used, or is
                // someone else's. Nothing is sent; the session carries on.
                self.notice = Some(Notice::AlreadySignedIn);
            }
            CallbackVerdict::Rejected(rejection) => {
                if rejection.consumes_pending() {
                    fx.push(Effect::ClearPending);
                } else if let Some(p) = pending {
                    // Keep this tab's own sign-in alive: a forged callback must not cancel it.
                    fx.push(Effect::StorePending(p));
                }
                self.sign_out_unless_signed_in(fx);
                self.notice = Some(Notice::CallbackRejected(rejection));
            }
            CallbackVerdict::Denied(error) => {
                fx.push(Effect::ClearPending);
                self.sign_out_unless_signed_in(fx);
                self.notice = Some(Notice::AuthorizationDenied(error));
            }
            CallbackVerdict::Exchange(exchange) => {
                fx.push(Effect::ClearPending);
                self.leave_state(fx);
                self.notice = None;
                let id = self.next_id();
                send_exchange(self.records, &exchange, id, fx);
                self.state = State::Exchanging(Exchanging {
                    exchange,
                    attempt: Attempt::InFlight(id),
                    failures: 0,
                    problem: None,
                });
            }
        }
    }

    fn on_token_response(
        &mut self,
        id: u64,
        result: Result<TokenSet, ApiError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let awaited = match &self.state {
            State::Exchanging(x) => x.attempt == Attempt::InFlight(id),
            State::SignedIn(s) => matches!(s.refresh, Refresh::InFlight { id: i, .. } if i == id),
            _ => false,
        };
        if !awaited {
            // Nobody waits for it any more (signed out meanwhile). Fresh tokens nobody holds must
            // not stay alive on the server.
            if let Ok(tokens) = result {
                fx.push(Effect::PostRevoke {
                    endpoint: self.binding.revoke_endpoint.clone(),
                    body: RevokeRequest::for_tokens(&tokens, &self.binding.client_id).form_body(),
                });
            }
            return;
        }
        self.record(fx, || Step::token_response(&result));
        match &mut self.state {
            State::Exchanging(x) => match result {
                Ok(mut tokens) => {
                    let id_token = tokens.id_token.take();
                    let nonce = x.exchange.nonce().map(str::to_string);
                    let stored = StoredSession {
                        grant_id: x.exchange.grant_id(),
                        generation: 0,
                        tab_key: x.exchange.tab_key().clone(),
                        binding: x.exchange.binding().clone(),
                        tokens,
                        identity: None,
                    };
                    match nonce {
                        // An OpenID Connect sign-in: nobody is signed in before its ID token is
                        // verified.
                        Some(nonce) => self.verify_sign_in(stored, id_token, &nonce, now, fx),
                        None => self.signed_in(stored, now, fx),
                    }
                }
                Err(error) => {
                    x.failures += 1;
                    // A code is single use: only failures that may not have reached the server
                    // are worth sending it again, and only while it can still be valid. After a
                    // timeout the server may have redeemed it; sending it again could look like
                    // reuse, which revokes the grant.
                    if policy::may_resend_code(&error) && x.failures < MAX_EXCHANGE_ATTEMPTS {
                        let at = now.plus_millis(backoff_ms(x.failures, error.retry_after_secs));
                        x.attempt = Attempt::RetryAt(at);
                        x.problem = Some(error);
                        fx.push(Effect::WakeAt(at));
                    } else {
                        self.state = State::SignedOut;
                        self.notice = Some(Notice::ExchangeFailed(error));
                    }
                }
            },
            State::SignedIn(s) => {
                let locked = s.holds_lock();
                let waiting = s.take_waiting();
                match result {
                    Ok(mut tokens) => {
                        let id_token = tokens.id_token.take();
                        let stored = StoredSession {
                            grant_id: s.current.grant_id.clone(),
                            // Records cap the generation far below the limit (MAX_GENERATION).
                            generation: s.current.generation.saturating_add(1),
                            tab_key: s.current.tab_key.clone(),
                            binding: s.current.binding.clone(),
                            tokens,
                            identity: s.current.identity.clone(),
                        };
                        s.current = stored.clone();
                        s.refresh = Refresh::Idle;
                        s.recovered();
                        // The lock goes back after the new tokens are stored and published, so
                        // the next holder finds them.
                        fx.push(Effect::StoreSession(stored.clone()));
                        fx.push(Effect::Publish(Broadcast::Tokens(stored)));
                        if locked {
                            fx.push(Effect::ReleaseRefreshLock);
                        }
                        fx.extend(waiting.into_iter().map(Effect::RetryCall));
                        self.schedule(now, fx);
                        // An OpenID Connect session holds a refresh's new ID token to the
                        // sign-in's; one without an identity has nothing to hold it to.
                        if let Some(text) = id_token
                            && self.identity().is_some()
                        {
                            self.verify_refreshed(&text, now, fx);
                        }
                    }
                    Err(error) => {
                        if locked {
                            fx.push(Effect::ReleaseRefreshLock);
                        }
                        fx.extend(
                            waiting
                                .into_iter()
                                .map(|call| Effect::FailCall(call, error.clone())),
                        );
                        if policy::refresh_failure_ends_session(&error) {
                            s.refresh = Refresh::Idle;
                            let notice = if s.unsure {
                                Notice::RefreshLostInTransit(error)
                            } else {
                                Notice::SessionEnded(error)
                            };
                            self.end_session(notice, fx);
                            return;
                        }
                        if error.kind == ErrorKind::Timeout {
                            s.unsure = true;
                        }
                        s.failures += 1;
                        let at = now.plus_millis(backoff_ms(s.failures, error.retry_after_secs));
                        s.refresh = Refresh::Backoff { at };
                        let repeats = match &s.problem {
                            Some((last, n)) if last.kind == error.kind => n + 1,
                            _ => 1,
                        };
                        s.problem = Some((error, repeats));
                        let deadline = s.current.tokens.refresh_expires_at;
                        fx.push(Effect::WakeAt(deadline.map_or(at, |d| d.min(at))));
                    }
                }
            }
            State::SignedOut | State::Authorizing { .. } | State::Verifying(_) => {}
        }
    }

    fn on_tick(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        match &mut self.state {
            State::Verifying(v) => {
                if let Stage::KeysRetryAt(at) = v.check.stage {
                    if at <= now {
                        let id = self.next_id();
                        let State::Verifying(v) = &mut self.state else {
                            return;
                        };
                        v.check.stage = Stage::Keys { id };
                        fx.push(Effect::FetchKeys {
                            id,
                            url: self.jwks_uri.clone(),
                        });
                    } else {
                        fx.push(Effect::WakeAt(at));
                    }
                }
            }
            State::Exchanging(x) => {
                if let Attempt::RetryAt(at) = x.attempt {
                    if at <= now {
                        let id = self.next_id();
                        let State::Exchanging(x) = &mut self.state else {
                            return;
                        };
                        x.attempt = Attempt::InFlight(id);
                        send_exchange(self.records, &x.exchange, id, fx);
                    } else {
                        fx.push(Effect::WakeAt(at));
                    }
                }
            }
            State::SignedIn(s) => {
                if s.current
                    .tokens
                    .refresh_expires_at
                    .is_some_and(|t| t <= now)
                {
                    self.end_session(Notice::SessionExpired, fx);
                    return;
                }
                let due = match s.refresh {
                    // Holding the lock, asking the other tabs: their answers decide, and what
                    // follows them sets the next wake-up.
                    Refresh::AwaitingLock { taken: true, .. } => return,
                    Refresh::AwaitingLock { since, .. } => {
                        let limit = since.plus_millis(LOCK_WAIT_LIMIT_MS);
                        if limit > now {
                            // Woken for something else; the wait's own wake-up is set again.
                            self.schedule(now, fx);
                            return;
                        }
                        if limit.millis_until(now) >= LOCK_WAIT_LIMIT_MS {
                            // Woken a whole limit late: the laptop slept or the tab was frozen,
                            // and so were the peers that hold or wait for the lock. Going ahead
                            // now would race a holder that is only waking up: the wait starts
                            // again. (A hidden tab's timers run up to a minute late, not more.)
                            s.refresh = Refresh::AwaitingLock {
                                since: now,
                                taken: false,
                                waiting: s.take_waiting(),
                            };
                            self.schedule(now, fx);
                            return;
                        }
                        // Withdraw the request, so a lock that comes later is not taken.
                        fx.push(Effect::ReleaseRefreshLock);
                        self.send_refresh(false, now, fx);
                        return;
                    }
                    Refresh::InFlight { .. } => return,
                    Refresh::Backoff { at } => at <= now,
                    Refresh::Idle => refresh_due_at(&s.current.tokens).is_some_and(|t| t <= now),
                };
                if due {
                    self.start_refresh(Vec::new(), now, fx);
                } else {
                    self.schedule(now, fx);
                }
            }
            State::SignedOut | State::Authorizing { .. } => {}
        }
    }

    /// Asks for the grant's lock (the refresh itself starts when it is granted), with `waiting`
    /// the API calls that wait for the outcome. Only from `Idle` or `Backoff`.
    fn start_refresh(&mut self, waiting: Vec<CallId>, now: Timestamp, fx: &mut Vec<Effect>) {
        let State::SignedIn(s) = &mut self.state else {
            return;
        };
        if s.current.tokens.refresh_token.is_none() {
            match s.current.tokens.expires_at {
                Some(t) if t > now => fx.push(Effect::WakeAt(t)),
                _ => {
                    fx.extend(waiting.into_iter().map(|call| {
                        Effect::FailCall(call, ApiError::new(ErrorKind::Unauthorized))
                    }));
                    self.end_session(Notice::NoRefreshToken, fx);
                }
            }
            return;
        }
        s.refresh = Refresh::AwaitingLock {
            since: now,
            taken: false,
            waiting,
        };
        fx.push(Effect::AcquireRefreshLock {
            name: s
                .current
                .tab_key
                .lock_name(&s.current.grant_id, s.current.generation),
        });
        self.schedule(now, fx);
    }

    fn on_lock_taken(&mut self) {
        if let State::SignedIn(s) = &mut self.state
            && let Refresh::AwaitingLock { taken, .. } = &mut s.refresh
        {
            // Giving up now would let the next tab in the queue refresh beside this one. The
            // wake-up set for the limit may still come; it finds nothing to do.
            *taken = true;
        }
    }

    fn on_lock_granted(&mut self, now: Timestamp, fx: &mut Vec<Effect>) {
        let State::SignedIn(s) = &mut self.state else {
            // Not (or no longer) wanted: signed out meanwhile.
            fx.push(Effect::ReleaseRefreshLock);
            return;
        };
        match s.refresh {
            // The tokens are still those the lock was asked for: newer ones from another tab end
            // the wait (`on_broadcast`).
            Refresh::AwaitingLock { .. } => self.send_refresh(true, now, fx),
            // This tab already holds the lock for its POST: a second grant is spurious.
            Refresh::InFlight { locked: true, .. } => {}
            // A grant that crossed the request's withdrawal (the wait was given up, or newer
            // tokens made it pointless) is given back.
            Refresh::InFlight { locked: false, .. } | Refresh::Idle | Refresh::Backoff { .. } => {
                fx.push(Effect::ReleaseRefreshLock)
            }
        }
    }

    /// Sends the refresh POST, behind the grant's lock or (`locked: false`) after the wait for it
    /// was given up. The calls waiting for the refresh keep waiting for its answer.
    fn send_refresh(&mut self, locked: bool, now: Timestamp, fx: &mut Vec<Effect>) {
        let id = self.next_id();
        let client_id = self.binding.client_id.clone();
        let State::SignedIn(s) = &mut self.state else {
            return;
        };
        let waiting = s.take_waiting();
        let Some(refresh_token) = s.current.tokens.refresh_token.clone() else {
            // Not reached: a refresh starts only with a refresh token, and adopted tokens end the
            // wait. Settled as "nothing to send" all the same.
            if locked {
                fx.push(Effect::ReleaseRefreshLock);
            }
            s.refresh = Refresh::Idle;
            fx.extend(waiting.into_iter().map(Effect::RetryCall));
            self.schedule(now, fx);
            return;
        };
        let request = crate::token::TokenRequest::Refresh {
            refresh_token,
            client_id,
        };
        s.refresh = Refresh::InFlight {
            id,
            locked,
            waiting,
        };
        if self.records {
            fx.push(Effect::Record(Step::token_request(&request)));
        }
        fx.push(Effect::PostToken {
            id,
            body: request.form_body(),
        });
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
        let State::SignedIn(s) = &mut self.state else {
            fx.push(Effect::FailCall(call, error));
            return;
        };
        if retried {
            fx.push(Effect::FailCall(call, error));
            return;
        }
        if generation < s.current.generation {
            // The call used tokens that have been replaced since: just retry with the new ones.
            fx.push(Effect::RetryCall(call));
            return;
        }
        if s.current.tokens.refresh_token.is_none() {
            fx.push(Effect::FailCall(call, error));
            self.end_session(Notice::NoRefreshToken, fx);
            return;
        }
        match &mut s.refresh {
            Refresh::AwaitingLock { waiting, .. } | Refresh::InFlight { waiting, .. } => {
                waiting.push(call)
            }
            // The server says the token is dead whatever our clock says: refresh now, not at the
            // next backoff step.
            Refresh::Idle | Refresh::Backoff { .. } => self.start_refresh(vec![call], now, fx),
        }
    }

    fn on_sign_out(&mut self, fx: &mut Vec<Effect>) {
        let tokens = self.current().map(|s| {
            (
                s.grant_id.clone(),
                s.binding.revoke_endpoint.clone(),
                RevokeRequest::for_tokens(&s.tokens, &s.binding.client_id),
            )
        });
        self.leave_state(fx);
        fx.push(Effect::ClearSession);
        fx.push(Effect::ClearPending);
        fx.push(Effect::CancelWake);
        match tokens {
            Some((grant_id, endpoint, revoke)) => {
                fx.push(Effect::Publish(Broadcast::SignedOut { grant_id }));
                fx.push(Effect::PostRevoke {
                    endpoint,
                    body: revoke.form_body(),
                });
                self.notice = Some(Notice::SignedOut(RevokeStatus::Pending));
            }
            None => self.notice = None,
        }
    }

    fn on_broadcast(&mut self, message: Broadcast, now: Timestamp, fx: &mut Vec<Effect>) {
        let State::SignedIn(s) = &mut self.state else {
            return;
        };
        match message {
            Broadcast::Tokens(shared)
                if shared.grant_id == s.current.grant_id
                    && shared.tab_key == s.current.tab_key
                    && shared.binding == s.current.binding
                    && shared.generation > s.current.generation =>
            {
                s.current = shared.clone();
                fx.push(Effect::StoreSession(shared));
                match s.refresh {
                    // This tab's own POST decides; its answer builds on the adopted generation.
                    Refresh::InFlight { .. } => {}
                    Refresh::AwaitingLock { .. } => {
                        // No refresh is needed any more: the lock is given back, or its request
                        // withdrawn (it may never come, and the next refresh asks for the next
                        // generation's lock).
                        s.recovered();
                        let waiting = s.take_waiting();
                        s.refresh = Refresh::Idle;
                        fx.push(Effect::ReleaseRefreshLock);
                        fx.extend(waiting.into_iter().map(Effect::RetryCall));
                        self.schedule(now, fx);
                    }
                    Refresh::Idle | Refresh::Backoff { .. } => {
                        s.recovered();
                        s.refresh = Refresh::Idle;
                        self.schedule(now, fx);
                    }
                }
            }
            Broadcast::SignedOut { grant_id } if grant_id == s.current.grant_id => {
                self.leave_state(fx);
                fx.push(Effect::ClearSession);
                fx.push(Effect::CancelWake);
                self.notice = Some(Notice::SignedOutInAnotherTab);
            }
            _ => {}
        }
    }

    // The ID token (OpenID Connect)

    /// The sign-in is done: show the account.
    fn signed_in(&mut self, stored: StoredSession, now: Timestamp, fx: &mut Vec<Effect>) {
        self.state = State::SignedIn(SignedIn::new(stored.clone()));
        fx.push(Effect::StoreSession(stored));
        fx.push(Effect::ClearEnded);
        fx.push(Effect::ShowAccount);
        self.schedule(now, fx);
    }

    /// Checks the ID token of a sign-in that sent `nonce`; `session` waits for the verdict.
    fn verify_sign_in(
        &mut self,
        session: StoredSession,
        text: Option<IdTokenText>,
        nonce: &str,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let Some(text) = text else {
            self.refuse_sign_in(session, Refusal::Missing, None, fx);
            return;
        };
        let id = self.next_id();
        let expected = expected_of(&session.binding, Some(nonce), now);
        let next = verify::start(
            &text,
            &expected,
            None,
            self.keys.as_deref(),
            &self.jwks_uri,
            id,
        );
        match next {
            Next::Wait(check, effect) => {
                self.state = State::Verifying(Verifying {
                    session,
                    check,
                    failures: 0,
                    problem: None,
                });
                fx.push(effect);
            }
            Next::Refused(refusal, token) => {
                self.refuse_sign_in(session, refusal, token.as_ref(), fx)
            }
            // `start` waits for a key or refuses; settled all the same.
            Next::Verified(_) | Next::KeysFailed(..) => {
                self.refuse_sign_in(session, Refusal::CannotVerify("no key".into()), None, fx)
            }
        }
    }

    /// Checks the ID token a refresh brought against the sign-in's (the tokens are in use
    /// already: the old refresh token is spent).
    fn verify_refreshed(&mut self, text: &IdTokenText, now: Timestamp, fx: &mut Vec<Effect>) {
        let id = self.next_id();
        let State::SignedIn(s) = &mut self.state else {
            return;
        };
        let Some(first) = s.current.identity.as_ref() else {
            return;
        };
        let expected = expected_of(&s.current.binding, None, now);
        let next = verify::start(
            text,
            &expected,
            Some(first),
            self.keys.as_deref(),
            &self.jwks_uri,
            id,
        );
        self.go_on_refreshed(next, fx);
    }

    fn on_keys(
        &mut self,
        id: u64,
        result: Result<String, ApiError>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        let next_id = self.next_id();
        self.answer_check(Stage::Keys { id }, now, fx, |check, keys, jwks_uri| {
            verify::on_keys(check, result, keys, jwks_uri, next_id)
        });
    }

    fn on_signature(
        &mut self,
        id: u64,
        result: Result<bool, String>,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        self.answer_check(Stage::Signature { id }, now, fx, |check, _, _| {
            verify::on_signature(check, result)
        });
    }

    /// Hands an answer to the check that waits for it at `awaited`, the sign-in's or a
    /// refresh's (`step` with the page's key set and where it is), and goes on from there. An
    /// answer nobody waits for any more (signed out, a newer check) changes nothing.
    fn answer_check(
        &mut self,
        awaited: Stage,
        now: Timestamp,
        fx: &mut Vec<Effect>,
        step: impl FnOnce(verify::Check, &mut Option<Vec<RsaKey>>, &str) -> Next,
    ) {
        match &mut self.state {
            State::Verifying(v) if v.check.stage == awaited => {
                let Some(v) = self.take_verifying() else {
                    return;
                };
                let next = step(v.check, &mut self.keys, &self.jwks_uri);
                self.go_on_sign_in(v.session, v.failures, next, now, fx);
            }
            State::SignedIn(s) if s.check.as_ref().is_some_and(|c| c.stage == awaited) => {
                let Some(check) = s.check.take() else { return };
                let next = step(check, &mut self.keys, &self.jwks_uri);
                self.go_on_refreshed(next, fx);
            }
            _ => {}
        }
    }

    /// The sign-in being verified, taken out of the state (which the caller sets next).
    fn take_verifying(&mut self) -> Option<Verifying> {
        match std::mem::replace(&mut self.state, State::SignedOut) {
            State::Verifying(v) => Some(v),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// Where a sign-in's check goes next; `failures` counts the key set's failed fetches.
    fn go_on_sign_in(
        &mut self,
        session: StoredSession,
        failures: u32,
        next: Next,
        now: Timestamp,
        fx: &mut Vec<Effect>,
    ) {
        match next {
            Next::Wait(check, effect) => {
                self.state = State::Verifying(Verifying {
                    session,
                    check,
                    failures,
                    problem: None,
                });
                fx.push(effect);
            }
            Next::Verified(token) => {
                self.record(fx, || Step::id_token(Some(&token), None, false));
                let stored = StoredSession {
                    identity: Some(token.claims),
                    ..session
                };
                self.signed_in(stored, now, fx);
            }
            Next::Refused(refusal, token) => {
                self.refuse_sign_in(session, refusal, token.as_ref(), fx)
            }
            Next::KeysFailed(mut check, error) => {
                let failures = failures + 1;
                if failures >= MAX_EXCHANGE_ATTEMPTS {
                    let refusal = Refusal::KeysUnreachable {
                        url: self.jwks_uri.clone(),
                        error,
                    };
                    self.refuse_sign_in(session, refusal, Some(&check.token), fx);
                    return;
                }
                let at = now.plus_millis(backoff_ms(failures, error.retry_after_secs));
                check.stage = Stage::KeysRetryAt(at);
                self.state = State::Verifying(Verifying {
                    session,
                    check,
                    failures,
                    problem: Some(error),
                });
                fx.push(Effect::WakeAt(at));
            }
        }
    }

    /// A sign-in whose ID token failed: nobody is signed in, and its tokens are revoked.
    fn refuse_sign_in(
        &mut self,
        session: StoredSession,
        refusal: Refusal,
        token: Option<&IdToken>,
        fx: &mut Vec<Effect>,
    ) {
        self.record(fx, || {
            Step::id_token(token, Some((refusal.check(), refusal.to_string())), false)
        });
        fx.push(revoke(&session));
        self.state = State::SignedOut;
        self.notice = Some(Notice::IdTokenRefused(refusal));
    }

    /// Where the check of a refresh's ID token goes next.
    fn go_on_refreshed(&mut self, next: Next, fx: &mut Vec<Effect>) {
        let records = self.records;
        let jwks_uri = self.jwks_uri.clone();
        let State::SignedIn(s) = &mut self.state else {
            return;
        };
        let mut record = |step: Step| {
            if records {
                fx.push(Effect::Record(step));
            }
        };
        match next {
            Next::Wait(check, effect) => {
                s.check = Some(check);
                fx.push(effect);
            }
            Next::Verified(token) => {
                record(Step::id_token(Some(&token), None, true));
                s.current.identity = Some(token.claims);
                fx.push(Effect::StoreSession(s.current.clone()));
            }
            Next::KeysFailed(check, error) => {
                // The key set is out of reach for now: that proves nothing against the token,
                // whose claims passed. The session goes on with the sign-in's identity.
                let refusal = Refusal::KeysUnreachable {
                    url: jwks_uri,
                    error,
                };
                let shown = format!("not checked: {refusal}");
                record(Step::id_token(
                    Some(&check.token),
                    Some(("key", shown)),
                    true,
                ));
            }
            // Nor does a key set the server cannot serve or serves broken (a 404, no RS256 key):
            // it says nothing about this session's grant, which only the server's refusal ends.
            Next::Refused(
                refusal @ (Refusal::KeysUnreachable { .. } | Refusal::KeySet { .. }),
                token,
            ) => {
                let shown = format!("not checked: {refusal}");
                record(Step::id_token(token.as_ref(), Some(("key", shown)), true));
            }
            Next::Refused(refusal, token) => {
                let why = (refusal.check(), refusal.to_string());
                record(Step::id_token(token.as_ref(), Some(why), true));
                // Not the sign-in's user, issuer or client, or not the server's signature: the
                // tokens that came with it are not used, here or in the other tabs.
                let current = s.current.clone();
                fx.push(Effect::Publish(Broadcast::SignedOut {
                    grant_id: current.grant_id.clone(),
                }));
                fx.push(revoke(&current));
                self.end_session(Notice::RefreshedIdTokenRefused(refusal), fx);
            }
        }
    }

    // Helpers shared by the transitions

    /// Ends the session for a reason the user did not choose; the reason is kept, so the page
    /// still says it after a reload.
    fn end_session(&mut self, notice: Notice, fx: &mut Vec<Effect>) {
        self.leave_state(fx);
        fx.push(Effect::ClearSession);
        fx.push(Effect::CancelWake);
        fx.push(Effect::StoreEnded(notice.clone()));
        self.notice = Some(notice);
    }

    /// Falls back to signed out unless a session is running (which a stray callback must not end).
    fn sign_out_unless_signed_in(&mut self, fx: &mut Vec<Effect>) {
        if !self.is_signed_in() {
            self.leave_state(fx);
        }
    }

    /// Leaves the current state for `SignedOut`, tidying up what it held: API calls waiting for a
    /// refresh fail, and a held lock is given back (or its request withdrawn). Whatever answer is
    /// still on its way finds nobody waiting for it (and is revoked, see `on_token_response`).
    fn leave_state(&mut self, fx: &mut Vec<Effect>) {
        if let State::SignedIn(s) = &mut self.state {
            // A request still waiting is withdrawn too: another page may hold the lock forever.
            let held = s.holds_lock() || matches!(s.refresh, Refresh::AwaitingLock { .. });
            fx.extend(
                s.take_waiting()
                    .into_iter()
                    .map(|call| Effect::FailCall(call, ApiError::new(ErrorKind::Unauthorized))),
            );
            if held {
                fx.push(Effect::ReleaseRefreshLock);
            }
        }
        if let State::Verifying(v) = &self.state {
            // Tokens of a sign-in nobody will finish must not stay alive on the server.
            fx.push(revoke(&v.session));
        }
        self.state = State::SignedOut;
    }

    /// Sets the wake-up for the next thing that has to happen on its own.
    fn schedule(&self, now: Timestamp, fx: &mut Vec<Effect>) {
        let State::SignedIn(s) = &self.state else {
            return;
        };
        let tokens = &s.current.tokens;
        let next = match (&s.refresh, refresh_due_at(tokens)) {
            (
                Refresh::AwaitingLock {
                    since,
                    taken: false,
                    ..
                },
                _,
            ) => Some(since.plus_millis(LOCK_WAIT_LIMIT_MS)),
            // The ask under way ends with a grant or newer tokens, not with a wake-up.
            (Refresh::AwaitingLock { taken: true, .. }, _) => None,
            (Refresh::Backoff { at }, _) => Some(*at),
            (_, Some(due)) if tokens.refresh_token.is_some() => Some(due),
            // Without a refresh token, wake when the access token dies to say so.
            _ => tokens.expires_at,
        };
        let next = match (next, tokens.refresh_expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            fx.push(Effect::WakeAt(at.max(now)));
        }
    }

    /// Records an inspector step, built only when steps are recorded.
    fn record(&self, fx: &mut Vec<Effect>, step: impl FnOnce() -> Step) {
        if self.records {
            fx.push(Effect::Record(step()));
        }
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        id
    }
}

/// What an ID token of a sign-in bound to `binding` must say: its issuer and client, and the
/// `nonce` the sign-in sent (`None` for a refresh's token, which carries none).
fn expected_of<'a>(
    binding: &'a ServerBinding,
    nonce: Option<&'a str>,
    now: Timestamp,
) -> Expected<'a> {
    Expected {
        issuer: binding.issuer.as_deref().unwrap_or_default(),
        client_id: &binding.client_id,
        nonce,
        now,
    }
}

/// The revoke of a session's tokens at the server it came from.
fn revoke(session: &StoredSession) -> Effect {
    Effect::PostRevoke {
        endpoint: session.binding.revoke_endpoint.clone(),
        body: RevokeRequest::for_tokens(&session.tokens, &session.binding.client_id).form_body(),
    }
}

fn send_exchange(records: bool, exchange: &Exchange, id: u64, fx: &mut Vec<Effect>) {
    let request = exchange.request();
    if records {
        fx.push(Effect::Record(Step::token_request(&request)));
    }
    fx.push(Effect::PostToken {
        id,
        body: request.form_body(),
    });
}
