//! The driver: runs the core's session state machine in the browser.
//!
//! It turns browser happenings (a click, a token response, a timer, a 401, a message from another
//! tab) into [`Event`]s, hands them to [`Session::handle`], and carries out the returned
//! [`Effect`]s with the adapters in [`crate::browser`]. After each event it publishes a
//! [`SessionView`] signal that the UI renders. It never decides anything itself.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, Shared};
use leptos::prelude::*;
use rc_pkce_core::authorize;
use rc_pkce_core::callback::carries_response_parameters;
use rc_pkce_core::config::AppConfig;
use rc_pkce_core::error::{ApiError, ErrorKind, parse_error_response};
use rc_pkce_core::inspector::Inspector;
use rc_pkce_core::record::{
    decode_inspector, decode_pending, decode_session, encode_inspector, encode_pending,
    encode_session,
};
use rc_pkce_core::session::{CallId, Effect, Event, Notice, Phase, Session, SessionFacts};
use rc_pkce_core::token::{TokenSet, parse_token_response};
use rc_pkce_core::{Entropy, SystemEntropy, Timestamp};
use serde::de::DeserializeOwned;

use crate::browser::http::{self, HttpResponse};
use crate::browser::storage::{StorageError, TokenStore, keys};
use crate::browser::tabs::{Support, TabEvent, Tabs};
use crate::browser::timer::{WakeTimer, on_page_restored, on_wake};
use crate::browser::{clock, location};

/// Everything the UI shows about the session, as one value.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub phase: Phase,
    pub facts: Option<SessionFacts>,
    pub notice: Option<Notice>,
    pub problem: Option<ApiError>,
    pub retry_at: Option<Timestamp>,
    pub refresh_due_at: Option<Timestamp>,
    pub tabs_sharing: usize,
    pub tab_support: Support,
    /// Storage refused to keep something the sign-in needs.
    pub storage_problem: Option<StorageError>,
    /// The browser could not generate random numbers.
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
            tabs_sharing: 0,
            tab_support: Support::SingleTab("Web Locks"),
            storage_problem: None,
            fatal: None,
        }
    }
}

/// What became of an API call after a 401.
enum CallDecision {
    Retry,
    Fail(ApiError),
}

pub struct Driver {
    pub config: AppConfig,
    session: RefCell<Session>,
    store: TokenStore,
    timer: WakeTimer,
    tabs: RefCell<Option<Rc<Tabs>>>,
    calls: RefCell<HashMap<CallId, oneshot::Sender<CallDecision>>>,
    next_call: Cell<CallId>,
    inspector: RefCell<Inspector>,
    storage_problem: RefCell<Option<StorageError>>,
    fatal: RefCell<Option<String>>,
    /// The session as the UI sees it.
    pub view: RwSignal<SessionView>,
    /// The PKCE inspector's steps.
    pub inspector_view: RwSignal<Inspector>,
    /// A route the driver wants shown (after sign-in: `/account`).
    pub route_request: RwSignal<Option<String>>,
    /// API reads started before the page that shows them exists (see [`Driver::prefetch`]).
    prefetched: RefCell<HashMap<&'static str, (Timestamp, Prefetch)>>,
}

/// A GET in flight whose body one later reader takes.
type Prefetch = Shared<LocalBoxFuture<'static, Result<Rc<Vec<u8>>, ApiError>>>;

/// A prefetched body older than this is not used; the page asks again.
const PREFETCH_MAX_AGE_MS: u64 = 30_000;

impl Driver {
    /// Creates the driver, restores what storage holds and starts timers and tab coordination.
    pub fn start(config: AppConfig) -> Rc<Self> {
        let store = TokenStore::for_mode(config.token_storage);
        let driver = Rc::new(Self {
            session: RefCell::new(Session::new(config.client_id.clone())),
            config,
            store,
            timer: WakeTimer::default(),
            tabs: RefCell::new(None),
            calls: RefCell::new(HashMap::new()),
            next_call: Cell::new(1),
            inspector: RefCell::new(Inspector::default()),
            storage_problem: RefCell::new(None),
            fatal: RefCell::new(None),
            view: RwSignal::new(SessionView::default()),
            inspector_view: RwSignal::new(Inspector::default()),
            route_request: RwSignal::new(None),
            prefetched: RefCell::new(HashMap::new()),
        });
        let weak = Rc::downgrade(&driver);
        let handler: Rc<dyn Fn(TabEvent)> = Rc::new(move |e| {
            let Some(d) = weak.upgrade() else { return };
            match e {
                TabEvent::Broadcast(b) => d.dispatch(Event::FromOtherTab(*b)),
                TabEvent::PeersChanged => d.publish_view(),
            }
        });
        *driver.tabs.borrow_mut() = Some(Tabs::new(random_id(), handler));
        driver.restore();
        // A load at the redirect URI is handled here, before any rendering, so the token request
        // does not wait for the UI. A replayed URL without parameters while signed in is ignored.
        let url = location::href();
        let handles_callback = location::is_callback(&url)
            && (carries_response_parameters(&url) || !driver.session.borrow().is_signed_in());
        if handles_callback {
            driver.handle_callback(url);
        } else {
            crate::early::discard_rest();
        }
        let weak = Rc::downgrade(&driver);
        on_wake(move || {
            if let Some(d) = weak.upgrade() {
                d.dispatch(Event::Tick);
            }
        });
        let weak = Rc::downgrade(&driver);
        on_page_restored(move || {
            if let Some(d) = weak.upgrade() {
                d.dispatch(Event::PageRestored);
            }
        });
        driver
    }

    fn restore(self: &Rc<Self>) {
        let (stored, discarded) = match self.store.tokens.get(keys::SESSION) {
            Ok(None) => (None, None),
            Ok(Some(text)) => match decode_session(&text) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    let _ = self.store.tokens.remove(keys::SESSION);
                    (None, Some(e.to_string()))
                }
            },
            Err(e) => {
                *self.storage_problem.borrow_mut() = Some(e);
                (None, None)
            }
        };
        if let Ok(Some(text)) = self.store.tokens.get(keys::INSPECTOR) {
            match decode_inspector(&text) {
                Ok(i) => *self.inspector.borrow_mut() = i,
                Err(_) => {
                    let _ = self.store.tokens.remove(keys::INSPECTOR);
                }
            }
        }
        self.inspector_view.set(self.inspector.borrow().clone());
        self.dispatch(Event::Restored { stored, discarded });
    }

    /// Feeds one event to the session and carries out its effects.
    pub fn dispatch(self: &Rc<Self>, event: Event) {
        let now = clock::now();
        let effects = self.session.borrow_mut().handle(event, now);
        let mut pending_stored = true;
        for effect in effects {
            match effect {
                Effect::StorePending(p) => {
                    pending_stored =
                        self.write(&*self.store.pending, keys::PENDING, &encode_pending(&p));
                }
                Effect::Navigate(url) => {
                    // Without the pending record the callback could only be refused: stay here.
                    if pending_stored && let Err(e) = location::navigate_away(&url) {
                        *self.fatal.borrow_mut() =
                            Some(format!("The browser did not open the sign-in page: {e}"));
                    }
                }
                other => self.run(other, now),
            }
        }
        self.publish_view();
    }

    fn run(self: &Rc<Self>, effect: Effect, now: Timestamp) {
        match effect {
            Effect::StorePending(_) | Effect::Navigate(_) => {}
            Effect::ClearPending => {
                let _ = self.store.pending.remove(keys::PENDING);
            }
            Effect::PostToken { id, body, .. } => {
                let me = Rc::clone(self);
                let url = self.config.token_endpoint.clone();
                leptos::task::spawn_local(async move {
                    let response = http::post_form(&url, &body).await;
                    drop(body);
                    me.dispatch(Event::TokenResponse {
                        id,
                        result: token_result(response),
                    });
                    // What the first-load module sent and the app does not use is dropped, once
                    // the account page's first requests (`ShowAccount`) have taken theirs.
                    crate::early::discard_rest_soon();
                });
            }
            Effect::PostRevoke { body } => {
                let me = Rc::clone(self);
                let url = self.config.revoke_endpoint.clone();
                leptos::task::spawn_local(async move {
                    let result = match http::post_form(&url, &body).await {
                        Ok(r) if r.is_success() => Ok(()),
                        Ok(r) => Err(parse_error_response(
                            r.status,
                            r.retry_after.as_deref(),
                            &r.body,
                            clock::now(),
                        )),
                        Err(e) => Err(e),
                    };
                    drop(body);
                    me.dispatch(Event::RevokeFinished { result });
                });
            }
            Effect::AcquireRefreshLock { grant_id } => {
                let me = Rc::clone(self);
                if let Some(tabs) = self.tabs() {
                    tabs.acquire(&grant_id, move || me.dispatch(Event::RefreshLockGranted));
                }
            }
            Effect::ReleaseRefreshLock => {
                if let Some(tabs) = self.tabs() {
                    tabs.release();
                }
            }
            Effect::StoreSession(s) => {
                self.write(&*self.store.tokens, keys::SESSION, &encode_session(&s));
            }
            Effect::ClearSession => {
                self.prefetched.borrow_mut().clear();
                let _ = self.store.tokens.remove(keys::SESSION);
                let _ = self.store.tokens.remove(keys::INSPECTOR);
                *self.inspector.borrow_mut() = Inspector::default();
                self.inspector_view.set(Inspector::default());
            }
            Effect::Publish(message) => {
                if let Some(tabs) = self.tabs() {
                    tabs.publish(&message);
                }
            }
            Effect::WakeAt(at) => {
                let me = Rc::downgrade(self);
                self.timer.set(now.millis_until(at), move || {
                    if let Some(d) = me.upgrade() {
                        d.dispatch(Event::Tick);
                    }
                });
            }
            Effect::CancelWake => self.timer.cancel(),
            Effect::RetryCall(call) => self.decide(call, CallDecision::Retry),
            Effect::FailCall(call, error) => self.decide(call, CallDecision::Fail(error)),
            Effect::Record(step) => {
                self.inspector.borrow_mut().push(step, now);
                let record = self.inspector.borrow().clone();
                self.write(
                    &*self.store.tokens,
                    keys::INSPECTOR,
                    &encode_inspector(&record),
                );
                self.inspector_view.set(record);
            }
            Effect::ShowAccount => {
                // The account page needs these first; start them before it is even routed to.
                self.prefetch(crate::api::EXTENSION_PATH, now);
                self.prefetch(crate::api::ACCOUNT_PATH, now);
                self.route_request.set(Some("/account".into()));
            }
        }
    }

    fn write(&self, store: &dyn crate::browser::storage::KeyValue, key: &str, value: &str) -> bool {
        match store.set(key, value) {
            Ok(()) => true,
            Err(e) => {
                *self.storage_problem.borrow_mut() = Some(e);
                false
            }
        }
    }

    fn decide(&self, call: CallId, decision: CallDecision) {
        if let Some(tx) = self.calls.borrow_mut().remove(&call) {
            let _ = tx.send(decision);
        }
    }

    fn tabs(&self) -> Option<Rc<Tabs>> {
        self.tabs.borrow().clone()
    }

    fn publish_view(&self) {
        let session = self.session.borrow();
        let (tabs_sharing, tab_support) = match self.tabs() {
            Some(t) => {
                t.set_grant(
                    session
                        .current()
                        .map(|s| (s.grant_id.clone(), s.generation, encode_session(s))),
                );
                (t.sharing_count(), t.support())
            }
            None => (0, Support::SingleTab("Web Locks")),
        };
        let view = SessionView {
            phase: session.phase(),
            facts: session.current().map(SessionFacts::from),
            notice: session.notice().cloned(),
            problem: session.problem(),
            retry_at: session.retry_at(),
            refresh_due_at: session.refresh_due_at(),
            tabs_sharing,
            tab_support,
            storage_problem: self.storage_problem.borrow().clone(),
            fatal: self.fatal.borrow().clone(),
        };
        drop(session);
        if self.view.get_untracked() != view {
            self.view.set(view);
        }
    }

    /// Starts a sign-in: new verifier and state, pending record, then off to the authorize page.
    pub fn sign_in(self: &Rc<Self>) {
        let now = clock::now();
        *self.storage_problem.borrow_mut() = None;
        match authorize::start(&self.config.authorize_request(), &mut SystemEntropy, now) {
            Ok(started) => {
                let record = Inspector::start(&started, now);
                self.write(
                    &*self.store.tokens,
                    keys::INSPECTOR,
                    &encode_inspector(&record),
                );
                *self.inspector.borrow_mut() = record.clone();
                self.inspector_view.set(record);
                self.dispatch(Event::SignInStarted {
                    pending: started.pending,
                    url: started.url,
                });
            }
            Err(e) => {
                *self.fatal.borrow_mut() = Some(e.to_string());
                self.publish_view();
            }
        }
    }

    /// Handles a page load at the redirect URI: cleans the address bar at once, then lets the
    /// session check the callback against this tab's pending record.
    pub fn handle_callback(self: &Rc<Self>, url: String) {
        location::replace_url(&format!("{}oauth2callback", location::base_url()));
        // The first-load module may have taken the record out of storage already (src/early.rs).
        let record = match crate::early::take_pending() {
            Some(text) => Ok(Some(text)),
            None => self.store.pending.get(keys::PENDING),
        };
        let pending = match record {
            Ok(Some(text)) => {
                // Single use: taken out now; the session puts it back only for a forged callback.
                let _ = self.store.pending.remove(keys::PENDING);
                decode_pending(&text).ok()
            }
            Ok(None) => None,
            Err(e) => {
                *self.storage_problem.borrow_mut() = Some(e);
                None
            }
        };
        self.dispatch(Event::CallbackReceived {
            url,
            pending,
            expected_issuer: self.config.issuer.clone(),
        });
    }

    pub fn refresh_now(self: &Rc<Self>) {
        self.dispatch(Event::RefreshRequested);
    }

    pub fn sign_out(self: &Rc<Self>) {
        self.dispatch(Event::SignOutRequested);
    }

    pub fn dismiss_notice(self: &Rc<Self>) {
        self.session.borrow_mut().dismiss_notice();
        self.publish_view();
    }

    /// Starts GETting `path` now; the next [`Driver::api_get`] of that path takes the result.
    fn prefetch(self: &Rc<Self>, path: &'static str, now: Timestamp) {
        let me = Rc::clone(self);
        let request: LocalBoxFuture<'static, Result<Rc<Vec<u8>>, ApiError>> =
            Box::pin(async move { me.api_get_bytes(path).await.map(Rc::new) });
        let shared = request.shared();
        leptos::task::spawn_local(shared.clone().map(|_| ()));
        self.prefetched.borrow_mut().insert(path, (now, shared));
    }

    /// GETs `path` (relative to the API base) with the current access token and decodes the JSON.
    /// A 401 goes through the session: at most one refresh and one retry.
    pub async fn api_get<T: DeserializeOwned>(self: &Rc<Self>, path: &str) -> Result<T, ApiError> {
        let fresh = self
            .prefetched
            .borrow_mut()
            .remove(path)
            .filter(|(at, _)| at.millis_until(clock::now()) < PREFETCH_MAX_AGE_MS);
        let body = match fresh {
            Some((_, prefetch)) => prefetch.await?,
            None => Rc::new(self.api_get_bytes(path).await?),
        };
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_response(200, e.to_string()))
    }

    async fn api_get_bytes(self: &Rc<Self>, path: &str) -> Result<Vec<u8>, ApiError> {
        let url = format!("{}{}", self.config.api_base, path);
        let call = self.next_call.get();
        self.next_call.set(call + 1);
        let mut retried = false;
        loop {
            let current = self
                .session
                .borrow()
                .current()
                .map(|s| (s.tokens.access_token.clone(), s.generation));
            let Some((token, generation)) = current else {
                return Err(ApiError::new(ErrorKind::Unauthorized));
            };
            let response = http::get_with_bearer(&url, token.expose()).await;
            drop(token);
            let response = response?;
            if response.is_success() {
                return Ok(response.body);
            }
            let error = parse_error_response(
                response.status,
                response.retry_after.as_deref(),
                &response.body,
                clock::now(),
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

fn token_result(response: Result<HttpResponse, ApiError>) -> Result<TokenSet, ApiError> {
    let now = clock::now();
    let r = response?;
    if r.is_success() {
        parse_token_response(&r.body, now)
            .map_err(|e| ApiError::bad_response(r.status, e.to_string()))
    } else {
        Err(parse_error_response(
            r.status,
            r.retry_after.as_deref(),
            &r.body,
            now,
        ))
    }
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = SystemEntropy.fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
