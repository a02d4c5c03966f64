//! The effect runner: runs the core's session state machine against a [`Platform`].
//!
//! It turns what happens (a click, a token response, a timer, a 401, a message from another tab)
//! into [`Event`]s, hands them to [`Session::handle`], and carries out the returned [`Effect`]s
//! with the platform. What an effect's outcome means (a refused write, a refused navigation) goes
//! back to the session as an event: the driver only reports. After each event it tells its
//! [`Observer`] what to show; the Leptos signals that render it live in `ui/`.
//!
//! It knows no browser API and no Leptos, so its host tests (`tests.rs`) drive a whole sign-in, a
//! refresh behind the lock, a 401 and its retry, storage failures and messages from other tabs
//! with a fake platform, in `cargo test`.

mod answers;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use futures_channel::oneshot;
use rc_pkce_core::Timestamp;
use rc_pkce_core::authorize;
use rc_pkce_core::config::AppConfig;
use rc_pkce_core::error::{ApiError, ErrorKind, parse_error_response};
use rc_pkce_core::id_token::{Claims, UserInfoError, check_userinfo};
use rc_pkce_core::inspector::{Inspector, Step, StepKind};
use rc_pkce_core::random::{Entropy, EntropyError};
use rc_pkce_core::record::{
    decode_ended, decode_inspector, decode_pending, decode_session, encode_ended, encode_inspector,
    encode_pending, encode_session,
};
use rc_pkce_core::session::{
    CallId, Effect, Event, Notice, Phase, Session, SessionFacts, handles_callback,
};
use rc_pkce_core::storage::StorageError;
use rc_pkce_core::token::{TokenSet, read_token_answer};
use serde::de::DeserializeOwned;

use crate::browser::http::HttpResponse;
use crate::browser::storage::keys;
use crate::browser::tabs::Support;
use crate::platform::{Answer, Area, Platform, Request, Signal};
pub use answers::TakeOnce;

/// Everything the UI shows about the session, as one value.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub phase: Phase,
    pub facts: Option<SessionFacts>,
    pub notice: Option<Notice>,
    pub problem: Option<ApiError>,
    pub retry_at: Option<Timestamp>,
    pub refresh_due_at: Option<Timestamp>,
    /// Who is signed in, from the verified ID token (OpenID Connect sign-ins).
    pub identity: Option<Claims>,
    pub tabs_sharing: usize,
    pub tab_support: Support,
    /// Storage refused to keep something the sign-in needs.
    pub storage_problem: Option<StorageError>,
    /// The browser refused something no sign-in can do without.
    pub fatal: Option<String>,
}

impl Default for SessionView {
    fn default() -> Self {
        Self {
            phase: Phase::SignedOut,
            facts: None,
            notice: None,
            problem: None,
            retry_at: None,
            refresh_due_at: None,
            identity: None,
            tabs_sharing: 0,
            tab_support: Support::SingleTab("Web Locks"),
            storage_problem: None,
            fatal: None,
        }
    }
}

/// Who renders what the driver publishes.
pub trait Observer {
    /// The session as it is now (called after every event; may repeat the last view).
    fn session(&self, view: &SessionView);
    /// The PKCE inspector's steps.
    fn inspector(&self, inspector: &Inspector);
    /// A route the driver wants shown (after sign-in: `/account`).
    fn route(&self, path: &str);
}

/// Why the userinfo cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserInfoProblem {
    /// The request failed (with the error's title and hint).
    Api(ApiError),
    /// The answer is not about the signed-in user, or not userinfo at all.
    Refused(UserInfoError),
}

/// What became of an API call after a 401.
enum CallDecision {
    Retry,
    Fail(ApiError),
}

/// A read's body, on its way.
type Read = oneshot::Receiver<Result<Vec<u8>, ApiError>>;

/// A read on its way: its answer, the tokens' generation, and the request itself (for the
/// inspector, which keeps only its URL and the token masked).
type Sending = (Answer, u64, Request);

/// What came back for a request, as the inspector records it.
fn outcome_of(response: &Result<HttpResponse, ApiError>) -> Result<u16, String> {
    match response {
        Ok(r) => Ok(r.status),
        Err(e) => Err(e.title().to_string()),
    }
}

pub struct Driver<P: Platform> {
    pub config: AppConfig,
    platform: P,
    observer: Rc<dyn Observer>,
    session: RefCell<Session>,
    /// Events raised while an event is being handled (an effect's outcome, a platform that calls
    /// back at once), handled in order after it.
    queue: RefCell<VecDeque<Event>>,
    busy: Cell<bool>,
    calls: RefCell<HashMap<CallId, oneshot::Sender<CallDecision>>>,
    next_call: Cell<CallId>,
    inspector: RefCell<Inspector>,
    /// Reads started before the page that shows them exists (see [`Driver::prefetch`]).
    prefetched: RefCell<TakeOnce<Read>>,
}

impl<P: Platform + 'static> Driver<P> {
    /// Creates the driver, restores what storage holds, and handles a load at the redirect URI
    /// before anything renders (so the token request does not wait for the UI).
    pub fn start(config: AppConfig, platform: P, observer: Rc<dyn Observer>) -> Rc<Self> {
        let driver = Rc::new(Self {
            session: RefCell::new(Session::new(config.binding()).with_key_set(&config.jwks_uri)),
            config,
            platform,
            observer,
            queue: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            calls: RefCell::new(HashMap::new()),
            next_call: Cell::new(1),
            inspector: RefCell::new(Inspector::default()),
            prefetched: RefCell::new(TakeOnce::default()),
        });
        let weak = Rc::downgrade(&driver);
        driver.platform.connect(Rc::new(move |signal| {
            let Some(d) = weak.upgrade() else { return };
            match signal {
                Signal::Wake => d.dispatch(Event::Tick),
                Signal::PageRestored => d.dispatch(Event::PageRestored),
                Signal::LockTaken => d.dispatch(Event::RefreshLockTaken),
                Signal::LockGranted => d.dispatch(Event::RefreshLockGranted),
                Signal::FromOtherTab(message) => d.dispatch(Event::FromOtherTab(*message)),
                Signal::PeersChanged => d.publish_view(),
            }
        }));
        driver.restore();
        let url = driver.platform.href();
        let signed_in = driver.session.borrow().is_signed_in();
        if handles_callback(driver.platform.at_redirect_uri(&url), &url, signed_in) {
            driver.handle_callback(url);
        } else {
            driver.platform.discard_early();
        }
        driver
    }

    fn restore(self: &Rc<Self>) {
        let (stored, discarded) = match self.platform.load(Area::Tokens, keys::SESSION) {
            Ok(None) => (None, None),
            Ok(Some(text)) => match decode_session(&text) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    self.platform.remove(Area::Tokens, keys::SESSION);
                    (None, Some(e.to_string()))
                }
            },
            Err(e) => {
                self.dispatch(Event::StorageFailed(e));
                (None, None)
            }
        };
        if let Ok(Some(text)) = self.platform.load(Area::Tokens, keys::INSPECTOR) {
            match decode_inspector(&text) {
                Ok(i) => *self.inspector.borrow_mut() = i,
                Err(_) => self.platform.remove(Area::Tokens, keys::INSPECTOR),
            }
        }
        self.observer.inspector(&self.inspector.borrow());
        if let Ok(Some(text)) = self.platform.load(Area::Pending, keys::ENDED) {
            match decode_ended(&text) {
                Ok(notice) => self.dispatch(Event::EndedBefore(notice)),
                Err(_) => self.platform.remove(Area::Pending, keys::ENDED),
            }
        }
        self.dispatch(Event::Restored { stored, discarded });
    }

    /// Feeds one event to the session and carries out its effects, then those of the events the
    /// effects raised.
    pub fn dispatch(self: &Rc<Self>, event: Event) {
        self.queue.borrow_mut().push_back(event);
        if self.busy.replace(true) {
            return; // the loop below, further up the stack, takes it
        }
        loop {
            let Some(event) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            let now = self.platform.now();
            let effects = self.session.borrow_mut().handle(event, now);
            for effect in effects {
                self.run(effect, now);
            }
        }
        self.busy.set(false);
        self.publish_view();
    }

    /// An event an effect raised: handled after the current one.
    fn raise(&self, event: Event) {
        self.queue.borrow_mut().push_back(event);
    }

    fn run(self: &Rc<Self>, effect: Effect, now: Timestamp) {
        match effect {
            Effect::StorePending(p) => {
                let result = self
                    .platform
                    .store(Area::Pending, keys::PENDING, &encode_pending(&p));
                self.raise(Event::PendingStored(result));
            }
            Effect::ClearPending => self.platform.remove(Area::Pending, keys::PENDING),
            Effect::Navigate(url) => {
                if let Err(e) = self.platform.navigate(&url) {
                    self.raise(Event::BrowserFailed(format!(
                        "{} {e}",
                        crate::present::text::NAVIGATION_REFUSED
                    )));
                }
            }
            Effect::PostToken { id, body } => {
                let answer = self.answer(Request::Form {
                    url: self.config.token_endpoint.clone(),
                    body,
                });
                let me = Rc::clone(self);
                self.platform.spawn(Box::pin(async move {
                    let response = answer.await;
                    let now = me.platform.now();
                    me.dispatch(Event::TokenResponse {
                        id,
                        result: token_result(response, now),
                    });
                    // What the first-load module sent and the app did not take is dropped, once
                    // the account page's first reads (`ShowAccount`) have taken theirs.
                    me.platform.discard_early_soon();
                }));
            }
            Effect::PostRevoke { endpoint, body } => {
                let request = Request::Form {
                    url: endpoint,
                    body,
                };
                let answer = self.answer(request.clone());
                let me = Rc::clone(self);
                self.platform.spawn(Box::pin(async move {
                    let response = answer.await;
                    if let Request::Form { url, body } = &request {
                        me.record_now(Step::revoke(url, body, &outcome_of(&response)));
                    }
                    let result = match response {
                        Ok(r) if r.is_success() => Ok(()),
                        Ok(r) => Err(parse_error_response(
                            r.status,
                            r.retry_after.as_deref(),
                            &r.body,
                            me.platform.now(),
                        )),
                        Err(e) => Err(e),
                    };
                    me.dispatch(Event::RevokeFinished { result });
                }));
            }
            Effect::AcquireRefreshLock { name } => self.platform.acquire_lock(&name),
            Effect::ReleaseRefreshLock => self.platform.release_lock(),
            Effect::StoreSession(s) => {
                let result = self
                    .platform
                    .store(Area::Tokens, keys::SESSION, &encode_session(&s));
                self.raise(Event::SessionStored(result));
            }
            Effect::ForgetStoredSession => self.platform.remove(Area::Tokens, keys::SESSION),
            Effect::ClearSession => {
                self.prefetched.borrow_mut().clear();
                self.platform.remove(Area::Tokens, keys::SESSION);
                self.platform.remove(Area::Tokens, keys::INSPECTOR);
                // Still shown (the sign-out's revoke is added to it), but no secret is kept.
                self.inspector.borrow_mut().forget_secrets();
                self.observer.inspector(&self.inspector.borrow());
            }
            Effect::StoreEnded(notice) => {
                if let Some(record) = encode_ended(&notice)
                    && let Err(e) = self.platform.store(Area::Pending, keys::ENDED, &record)
                {
                    self.raise(Event::StorageFailed(e));
                }
            }
            Effect::ClearEnded => self.platform.remove(Area::Pending, keys::ENDED),
            Effect::Publish(message) => self.platform.publish(&message),
            Effect::WakeAt(at) => self.platform.wake_after(now.millis_until(at)),
            Effect::CancelWake => self.platform.cancel_wake(),
            Effect::RetryCall(call) => self.decide(call, CallDecision::Retry),
            Effect::FailCall(call, error) => self.decide(call, CallDecision::Fail(error)),
            Effect::Record(step) => {
                // The core does not know where the request goes; the timing entry is found by URL.
                let step = match step.kind {
                    StepKind::TokenRequest if step.url.is_none() => {
                        step.with_url(&self.config.token_endpoint)
                    }
                    _ => step,
                };
                self.inspector.borrow_mut().push(step, now);
                self.save_inspector();
            }
            Effect::ShowAccount => {
                // The account page needs these first; start them before it is even routed to.
                self.prefetch(crate::api::EXTENSION_PATH);
                self.prefetch(crate::api::ACCOUNT_PATH);
                self.observer.route("/account");
            }
            Effect::FetchKeys { id, url } => {
                let answer = self.platform.send(&Request::Public { url });
                let me = Rc::clone(self);
                self.platform.spawn(Box::pin(async move {
                    let result = body_text(answer.await, me.platform.now());
                    me.dispatch(Event::KeysFetched { id, result });
                }));
            }
            Effect::CheckSignature {
                id,
                key,
                signing_input,
                signature,
            } => {
                let verdict = self
                    .platform
                    .verify_signature(&key, &signing_input, &signature);
                let me = Rc::clone(self);
                self.platform.spawn(Box::pin(async move {
                    let result = verdict.await;
                    me.dispatch(Event::SignatureChecked { id, result });
                }));
            }
        }
    }

    /// Records a step outside of an event (a read's or the revoke's answer came).
    fn record_now(self: &Rc<Self>, step: Step) {
        let now = self.platform.now();
        self.inspector.borrow_mut().push(step, now);
        self.save_inspector();
        // A refused write was raised, and no event loop is running to take it: start one.
        if !self.busy.get() {
            let raised = self.queue.borrow_mut().pop_front();
            if let Some(event) = raised {
                self.dispatch(event);
            }
        }
    }

    /// Stores the inspector's record and shows it.
    fn save_inspector(&self) {
        let record = self.inspector.borrow();
        if record.ended {
            self.observer.inspector(&record);
            return;
        }
        if let Err(e) =
            self.platform
                .store(Area::Tokens, keys::INSPECTOR, &encode_inspector(&record))
        {
            self.raise(Event::StorageFailed(e));
        }
        self.observer.inspector(&record);
    }

    /// The answer to `request`: the one that arrived early if someone sent this very request
    /// before the app, else a new one. Both happen when the answer is first awaited (a spawned
    /// task's first poll), so a first-load module that sends its request a moment after the app
    /// decided to still has its answer taken.
    fn answer(self: &Rc<Self>, request: Request) -> Answer {
        let me = Rc::clone(self);
        Box::pin(async move { me.platform.take_early_or_send(&request).await })
    }

    fn decide(&self, call: CallId, decision: CallDecision) {
        if let Some(tx) = self.calls.borrow_mut().remove(&call) {
            let _ = tx.send(decision);
        }
    }

    fn publish_view(&self) {
        let session = self.session.borrow();
        self.platform.share(session.current());
        let (tabs_sharing, tab_support) = self.platform.tabs();
        let view = SessionView {
            phase: session.phase(),
            facts: session.current().map(SessionFacts::from),
            notice: session.notice().cloned(),
            problem: session.problem(),
            retry_at: session.retry_at(),
            refresh_due_at: session.refresh_due_at(),
            identity: session.identity().cloned(),
            tabs_sharing,
            tab_support,
            storage_problem: session.storage_problem().cloned(),
            fatal: session.fatal().map(str::to_string),
        };
        drop(session);
        self.observer.session(&view);
    }

    /// Starts a sign-in: new verifier and state, the inspector's first steps, then the session
    /// stores the pending record and leaves for the authorize page.
    pub fn sign_in(self: &Rc<Self>) {
        let now = self.platform.now();
        let mut entropy = PlatformEntropy(&self.platform);
        let binding = self.config.binding();
        match authorize::start(
            &self.config.authorize_request(),
            &binding,
            &mut entropy,
            now,
        ) {
            Ok(started) => {
                *self.inspector.borrow_mut() = Inspector::start(&started, now);
                self.save_inspector();
                self.dispatch(Event::SignInStarted {
                    pending: started.pending,
                    url: started.url,
                });
            }
            Err(e) => self.dispatch(Event::BrowserFailed(e.to_string())),
        }
    }

    /// Handles a page load at the redirect URI: cleans the address bar at once, then lets the
    /// session check the callback against this tab's pending record.
    pub fn handle_callback(self: &Rc<Self>, url: String) {
        self.platform.clean_address();
        // The first-load module may have taken the record out of storage already.
        let record = match self.platform.take_early_pending() {
            Some(text) => Ok(Some(text)),
            None => self.platform.load(Area::Pending, keys::PENDING),
        };
        let pending = match record {
            Ok(Some(text)) => {
                // Single use: taken out now; the session puts it back only for a forged callback.
                self.platform.remove(Area::Pending, keys::PENDING);
                decode_pending(&text).ok()
            }
            Ok(None) => None,
            Err(e) => {
                self.raise(Event::StorageFailed(e));
                None
            }
        };
        self.dispatch(Event::CallbackReceived { url, pending });
    }

    pub fn refresh_now(self: &Rc<Self>) {
        self.dispatch(Event::RefreshRequested);
    }

    pub fn sign_out(self: &Rc<Self>) {
        self.dispatch(Event::SignOutRequested);
    }

    pub fn dismiss_notice(self: &Rc<Self>) {
        self.dispatch(Event::NoticeDismissed);
    }

    /// Starts reading `path` now; the next [`Driver::api_get`] of that path, with the same
    /// tokens, takes the result.
    fn prefetch(self: &Rc<Self>, path: &'static str) {
        let Some((request, generation)) = self.current_read(path) else {
            return;
        };
        let key = request.key();
        let first = (self.answer(request.clone()), generation, request);
        let (tx, rx) = oneshot::channel();
        let me = Rc::clone(self);
        self.platform.spawn(Box::pin(async move {
            let _ = tx.send(me.read(path, Some(first)).await);
        }));
        let now = self.platform.now();
        self.prefetched.borrow_mut().insert(key, now, rx);
    }

    /// The GET of `path` with the current access token, and the tokens' generation.
    fn current_read(&self, path: &str) -> Option<(Request, u64)> {
        let session = self.session.borrow();
        let current = session.current()?;
        // The userinfo endpoint is the OAuth server's, not under the API base.
        let url = match path.starts_with('/') {
            true => format!("{}{}", self.config.api_base, path),
            false => path.to_string(),
        };
        let request = Request::Bearer {
            url,
            token: current.tokens.access_token.expose().to_string(),
        };
        Some((request, current.generation))
    }

    /// The answer to [`Driver::current_read`] (started now, or arrived early), the generation
    /// of the tokens it was sent with, and the request.
    fn first_read(self: &Rc<Self>, path: &str) -> Option<Sending> {
        let (request, generation) = self.current_read(path)?;
        Some((self.answer(request.clone()), generation, request))
    }

    /// GETs `path` (relative to the API base) with the current access token and decodes the JSON.
    /// A 401 goes through the session: at most one refresh and one retry.
    pub async fn api_get<T: DeserializeOwned>(self: &Rc<Self>, path: &str) -> Result<T, ApiError> {
        let Some((request, generation)) = self.current_read(path) else {
            return Err(ApiError::new(ErrorKind::Unauthorized));
        };
        let now = self.platform.now();
        let prefetched = self.prefetched.borrow_mut().take(&request.key(), now);
        let body = match prefetched {
            Some(read) => match read.await {
                Ok(body) => body?,
                // The prefetch was dropped (signed out meanwhile).
                Err(_) => return Err(ApiError::new(ErrorKind::Unauthorized)),
            },
            None => {
                let answer = self.answer(request.clone());
                self.read(path, Some((answer, generation, request))).await?
            }
        };
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_response(200, e.to_string()))
    }

    /// The OpenID Connect userinfo of the signed-in user, used only when it is about the user
    /// the ID token names (the core's rule).
    pub async fn userinfo(
        self: &Rc<Self>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, UserInfoProblem> {
        let identity = self.session.borrow().identity().cloned();
        let Some(identity) = identity else {
            return Err(UserInfoProblem::Api(ApiError::new(ErrorKind::Unauthorized)));
        };
        let url = self.config.userinfo_endpoint.clone();
        let body = self.read(&url, None).await.map_err(UserInfoProblem::Api)?;
        let text = String::from_utf8_lossy(&body);
        check_userinfo(&identity, &text).map_err(UserInfoProblem::Refused)
    }

    /// The body of `path`, sending `first` (or a fresh GET) and after a 401 asking the session
    /// whether to retry.
    async fn read(
        self: &Rc<Self>,
        path: &str,
        mut first: Option<Sending>,
    ) -> Result<Vec<u8>, ApiError> {
        let call = self.next_call.get();
        self.next_call.set(call + 1);
        let mut retried = false;
        loop {
            let Some((answer, generation, request)) =
                first.take().or_else(|| self.first_read(path))
            else {
                return Err(ApiError::new(ErrorKind::Unauthorized));
            };
            let response = answer.await;
            // A read that ends after sign-out belongs to no record.
            if self.session.borrow().current().is_some() {
                self.record_now(Step::api_read(
                    request.url(),
                    path,
                    request.credential(),
                    &outcome_of(&response),
                ));
            }
            let response = response?;
            if response.is_success() {
                return Ok(response.body);
            }
            let error = parse_error_response(
                response.status,
                response.retry_after.as_deref(),
                &response.body,
                self.platform.now(),
            );
            if response.status != 401 {
                return Err(error);
            }
            let (tx, rx) = oneshot::channel();
            self.calls.borrow_mut().insert(call, tx);
            self.dispatch(Event::ApiUnauthorized {
                call,
                generation,
                retried,
                error: error.clone(),
            });
            match rx.await {
                Ok(CallDecision::Retry) => retried = true,
                Ok(CallDecision::Fail(e)) => return Err(e),
                Err(_) => return Err(error),
            }
        }
    }
}

/// The platform's CSPRNG as the core's [`Entropy`].
struct PlatformEntropy<'a, P>(&'a P);

impl<P: Platform> Entropy for PlatformEntropy<'_, P> {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        self.0.fill_random(dest)
    }
}

/// The text of a 2xx answer, or what went wrong.
fn body_text(response: Result<HttpResponse, ApiError>, now: Timestamp) -> Result<String, ApiError> {
    let r = response?;
    if !r.is_success() {
        return Err(parse_error_response(
            r.status,
            r.retry_after.as_deref(),
            &r.body,
            now,
        ));
    }
    String::from_utf8(r.body).map_err(|_| ApiError::bad_response(r.status, "not UTF-8 text"))
}

fn token_result(
    response: Result<HttpResponse, ApiError>,
    now: Timestamp,
) -> Result<TokenSet, ApiError> {
    let r = response?;
    read_token_answer(r.status, r.retry_after.as_deref(), &r.body, now)
}
