//! One page load of the app in a simulated tab: the core [`Session`] and the core tab
//! [`Coordinator`], wired to the simulated browser the way the app wires them to the real one.
//!
//! This mirrors `src/driver/mod.rs` (the effect runner: its event queue, the effects and what each
//! reports back, `restore`, `handle_callback`, `sign_in`, the API reads with their 401 retry),
//! `src/web.rs` (the platform) and `src/browser/tabs.rs` (the lock adapter with its request
//! number, its withdrawal and single release slot, "taken" before the ask and its 200 ms wait,
//! the heartbeat, the bye on page hide), so that what the simulator finds is what the app would do. The page does
//! no I/O: it pushes [`Out`]s for the simulator to carry out, and is called back with what
//! happened. A [`Plant`] breaks the wiring on purpose, to show the invariants catch it.

use std::collections::{BTreeMap, VecDeque};

use rc_pkce_core::authorize::{self, AuthorizeRequest};
use rc_pkce_core::binding::ServerBinding;
use rc_pkce_core::error::{ApiError, parse_error_response};
use rc_pkce_core::record::{
    decode_ended, decode_pending, decode_session, encode_ended, encode_pending, encode_session,
};
use rc_pkce_core::session::{CallId, Effect, Event, Session, handles_callback};
use rc_pkce_core::tabs::{Channel, Coordinator, Holding, Input, Output};
use rc_pkce_core::token::{TokenSet, read_token_answer};
use rc_pkce_core::{Entropy, Timestamp};

use crate::browser::{Storage, keys};
use crate::server::Response;
use crate::world::Failure;

pub const CLIENT_ID: &str = "sim-client";
pub const APP_URL: &str = "http://localhost:5000/";
pub const REDIRECT_URI: &str = "http://localhost:5000/oauth2callback";
pub const AUTHORIZE_ENDPOINT: &str = "https://platform.ringcentral.sim/restapi/oauth/authorize";
const SERVER_ORIGIN: &str = "https://platform.ringcentral.sim";
/// The account page's first reads (`src/api`).
const EXTENSION_PATH: &str = "/account/~/extension/~";
const ACCOUNT_PATH: &str = "/account/~";

/// A deliberate bug in the page's wiring, for showing that the simulator finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    None,
    /// The lock is given back as soon as the refresh is sent, not when its answer came.
    ReleaseEarly,
    /// The lock holder refreshes at once, without asking the other tabs for newer tokens.
    SkipAsk,
    /// A wake-up more than ten minutes away is dropped (as if a timer were never set).
    DropLongWake,
}

impl Plant {
    pub const NAMES: [&str; 3] = ["release-early", "skip-ask", "drop-long-wake"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "release-early" => Some(Self::ReleaseEarly),
            "skip-ask" => Some(Self::SkipAsk),
            "drop-long-wake" => Some(Self::DropLongWake),
            _ => None,
        }
    }
}

/// What a request is, for routing its answer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    /// The token endpoint; `id` is the session's request id.
    Token {
        id: u64,
    },
    Revoke,
    /// A REST read of call `call`.
    Api {
        call: CallId,
    },
}

/// What the page asks of the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Send a request: a form body for the token and revoke endpoints, the bearer token for a read.
    Http { kind: HttpKind, body: String },
    /// Post this text on the channel of this name.
    Post { channel: String, text: String },
    /// The session's wake-up: at `at`, [`crate::world::Timer::Wake`] with `generation`.
    SetWake { at: u64, generation: u64 },
    /// Start the ask wait of lock acquisition `acquisition`.
    AskWait { acquisition: u64, ms: u64 },
    /// Request the Web Lock `name` (this page's request number `acquisition`).
    LockRequest { name: String, acquisition: u64 },
    /// Resolve the lock callback of `acquisition`: the lock is free again.
    LockRelease { acquisition: u64 },
    /// Abort the request of `acquisition`, not granted yet: it leaves the lock's queue.
    LockWithdraw { acquisition: u64 },
    /// Leave for this URL.
    Navigate(String),
    /// Replace the address with the bare redirect URI.
    CleanAddress,
}

/// What a page call may touch: the time, its tab's storage, and where its requests go.
pub struct Ctx<'a> {
    pub now: u64,
    pub storage: &'a mut Storage,
    pub out: &'a mut Vec<Out>,
}

/// An API read in progress (the driver's `read` loop).
#[derive(Debug, Clone, Copy)]
struct Call {
    generation: u64,
    retried: bool,
    /// A 401 was handed to the session, which has not decided yet.
    deciding: bool,
}

pub struct Page {
    pub id: u64,
    pub tab: u64,
    session: Session,
    coordinator: Coordinator,
    /// The channel the coordinator said to be on (`Tabs::join`).
    channel: Option<Channel>,
    plant: Plant,
    // The driver.
    queue: VecDeque<Event>,
    busy: bool,
    calls: BTreeMap<CallId, Call>,
    next_call: CallId,
    /// Retries decided during a dispatch, sent when it is over (the read task resumes later).
    retries: Vec<CallId>,
    // The wake timer.
    wake_generation: u64,
    pub wake_at: Option<u64>,
    // The lock adapter (`Tabs`).
    lock_wanted: bool,
    release: Option<u64>,
    /// The acquisition whose request is still queued (its abort controller).
    withdraw: Option<u64>,
    /// Since when the session waits for the lock (for the `lock_wait_unbounded` check).
    pub lock_asked_at: Option<u64>,
    /// Acquisitions whose `granted` callback is still to be taken, with their grant.
    granted: BTreeMap<u64, String>,
    next_acquisition: u64,
    /// Acquisitions in their ask wait.
    pub ask_waits: usize,
    /// When this page last asked the other tabs (it got the lock).
    pub asked_at: Option<u64>,
    pub loaded_at: u64,
    /// Since when the page holds its current access token (see [`Page::note_held`]).
    pub held_since: u64,
    held_token: Option<String>,
}

/// The one server every page of the simulation is configured for.
fn binding() -> ServerBinding {
    ServerBinding {
        client_id: CLIENT_ID.into(),
        token_endpoint: format!("{SERVER_ORIGIN}/restapi/oauth/token"),
        revoke_endpoint: format!("{SERVER_ORIGIN}/restapi/oauth/revoke"),
        api_base: format!("{SERVER_ORIGIN}/restapi/v1.0"),
        issuer: None,
        iss_optional: false,
    }
}

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

impl Page {
    /// A page load at `href` (the driver's `start`).
    pub fn load(id: u64, tab: u64, href: &str, plant: Plant, ctx: &mut Ctx<'_>) -> Self {
        let mut page = Self {
            id,
            tab,
            session: Session::new(binding()),
            coordinator: Coordinator::new(format!("p{id}")),
            channel: None,
            plant,
            queue: VecDeque::new(),
            busy: false,
            calls: BTreeMap::new(),
            next_call: 1,
            retries: Vec::new(),
            wake_generation: 0,
            wake_at: None,
            lock_wanted: false,
            release: None,
            withdraw: None,
            lock_asked_at: None,
            granted: BTreeMap::new(),
            next_acquisition: 1,
            ask_waits: 0,
            asked_at: None,
            loaded_at: ctx.now,
            held_since: ctx.now,
            held_token: None,
        };
        page.restore(ctx);
        let signed_in = page.session.is_signed_in();
        let at_redirect_uri = rc_pkce_core::url::without_query(href) == REDIRECT_URI;
        if handles_callback(at_redirect_uri, href, signed_in) {
            page.handle_callback(href, ctx);
        }
        page
    }

    /// Notes when the page's tokens last changed (called after every call into the page).
    pub fn note_held(&mut self, now: u64) {
        let current = self
            .session
            .current()
            .map(|c| c.tokens.access_token.expose());
        if current != self.held_token.as_deref() {
            self.held_token = current.map(str::to_string);
            self.held_since = now;
        }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn coordinator(&self) -> &Coordinator {
        &self.coordinator
    }

    /// Whether the lock adapter holds a lock's release (the lock is this page's).
    pub fn holds_release(&self) -> bool {
        self.release.is_some()
    }

    /// API reads in flight or waiting for the session's decision.
    pub fn calls_open(&self) -> usize {
        self.calls.len()
    }

    fn restore(&mut self, ctx: &mut Ctx<'_>) {
        let (stored, discarded) = match ctx.storage.get(keys::SESSION) {
            None => (None, None),
            Some(text) => match decode_session(text) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    ctx.storage.remove(keys::SESSION);
                    (None, Some(e.to_string()))
                }
            },
        };
        // The inspector record is not modelled beyond its writes (they can fail).
        if let Some(text) = ctx.storage.get(keys::ENDED) {
            match decode_ended(text) {
                Ok(notice) => self.dispatch(Event::EndedBefore(notice), ctx),
                Err(_) => ctx.storage.remove(keys::ENDED),
            }
        }
        self.dispatch(Event::Restored { stored, discarded }, ctx);
    }

    fn handle_callback(&mut self, url: &str, ctx: &mut Ctx<'_>) {
        ctx.out.push(Out::CleanAddress);
        let pending = match ctx.storage.get(keys::PENDING).map(str::to_string) {
            Some(text) => {
                ctx.storage.remove(keys::PENDING);
                decode_pending(&text).ok()
            }
            None => None,
        };
        self.dispatch(
            Event::CallbackReceived {
                url: url.to_string(),
                pending,
            },
            ctx,
        );
    }

    // User actions (the driver's public methods).

    pub fn sign_in(&mut self, entropy: &mut impl Entropy, ctx: &mut Ctx<'_>) {
        let request = AuthorizeRequest {
            endpoint: AUTHORIZE_ENDPOINT.into(),
            client_id: CLIENT_ID.into(),
            redirect_uri: REDIRECT_URI.into(),
            scope: None,
            ..Default::default()
        };
        match authorize::start(&request, &binding(), entropy, ts(ctx.now)) {
            Ok(started) => {
                self.save_inspector(ctx);
                self.dispatch(
                    Event::SignInStarted {
                        pending: started.pending,
                        url: started.url,
                    },
                    ctx,
                );
            }
            Err(e) => self.dispatch(Event::BrowserFailed(e.to_string()), ctx),
        }
    }

    pub fn sign_out(&mut self, ctx: &mut Ctx<'_>) {
        self.dispatch(Event::SignOutRequested, ctx);
    }

    pub fn refresh_now(&mut self, ctx: &mut Ctx<'_>) {
        self.dispatch(Event::RefreshRequested, ctx);
    }

    pub fn dismiss_notice(&mut self, ctx: &mut Ctx<'_>) {
        self.dispatch(Event::NoticeDismissed, ctx);
    }

    /// The user opens a page that reads the API.
    pub fn read(&mut self, ctx: &mut Ctx<'_>) {
        self.start_read(ctx);
    }

    /// The page is hidden for good (close, reload, navigation): the coordinator says bye.
    pub fn page_hide(&mut self, ctx: &mut Ctx<'_>) {
        self.step(Input::PageHide, ctx);
    }

    // What the browser reports.

    pub fn on_wake_timer(&mut self, generation: u64, ctx: &mut Ctx<'_>) {
        if generation == self.wake_generation && self.wake_at.is_some() {
            self.wake_at = None;
            self.dispatch(Event::Tick, ctx);
        }
    }

    /// The laptop woke up or the tab became visible (`visibilitychange`, `online`).
    pub fn on_visible(&mut self, ctx: &mut Ctx<'_>) {
        self.dispatch(Event::Tick, ctx);
    }

    pub fn on_heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        self.step(Input::Heartbeat, ctx);
    }

    /// Text posted on the channel `channel` reaches this page (heard only while it is on it).
    pub fn on_message(&mut self, channel: &str, text: &str, ctx: &mut Ctx<'_>) {
        let Some(joined) = self.channel.as_ref().filter(|c| c.name == channel) else {
            return;
        };
        // Text not signed with this session's key, or not a message at all, is dropped.
        if let Ok(m) = joined.codec.decode(text) {
            self.step(Input::Received(m), ctx);
        }
    }

    /// The name of the channel this page is on, if any.
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_ref().map(|c| c.name.as_str())
    }

    /// The Web Lock of `acquisition` is granted (the `on_lock` callback of `Tabs::acquire`).
    pub fn on_lock(&mut self, acquisition: u64, ctx: &mut Ctx<'_>) {
        if !self.wants(acquisition) {
            // Released before the lock came: give it straight back.
            ctx.out.push(Out::LockRelease { acquisition });
            return;
        }
        self.withdraw = None;
        self.release = Some(acquisition);
        if self.granted.remove(&acquisition).is_none() {
            return;
        }
        // The lock is this page's: no longer a wait that may be given up.
        self.lock_asked_at = None;
        self.dispatch(Event::RefreshLockTaken, ctx);
        if !self.wants(acquisition) {
            return;
        }
        if self.plant == Plant::SkipAsk {
            self.dispatch(Event::RefreshLockGranted, ctx);
            return;
        }
        let out = self.step(Input::LockGranted, ctx);
        self.follow(acquisition, &out, ctx);
    }

    /// The ask wait of `acquisition` is over (its timer in `follow`).
    pub fn on_ask_wait_over(&mut self, acquisition: u64, ctx: &mut Ctx<'_>) {
        self.ask_waits = self.ask_waits.saturating_sub(1);
        let out = self.step(Input::AskWaitOver, ctx);
        self.follow(acquisition, &out, ctx);
    }

    /// `follow` in `src/browser/tabs.rs`: go ahead, or wait for the peers' answers to the ask.
    fn follow(&mut self, acquisition: u64, out: &[Output], ctx: &mut Ctx<'_>) {
        if out.contains(&Output::LockReady) {
            // Released during the ask (the session gave up waiting): the session has moved on.
            if self.wants(acquisition) {
                self.dispatch(Event::RefreshLockGranted, ctx);
            }
        } else if let Some(ms) = out.iter().find_map(|o| match o {
            Output::StartAskWait { ms } => Some(*ms),
            _ => None,
        }) {
            self.asked_at = Some(ctx.now);
            self.ask_waits += 1;
            ctx.out.push(Out::AskWait { acquisition, ms });
        }
    }

    pub fn on_token_response(
        &mut self,
        id: u64,
        result: Result<Response, Failure>,
        ctx: &mut Ctx<'_>,
    ) {
        let result = token_result(answer(result), ctx.now);
        self.dispatch(Event::TokenResponse { id, result }, ctx);
    }

    pub fn on_revoke_response(&mut self, result: Result<Response, Failure>, ctx: &mut Ctx<'_>) {
        let result = match answer(result) {
            Ok(r) if is_success(&r) => Ok(()),
            Ok(r) => Err(parse_error_response(
                r.status,
                r.retry_after.as_deref(),
                &r.body,
                ts(ctx.now),
            )),
            Err(e) => Err(e),
        };
        self.dispatch(Event::RevokeFinished { result }, ctx);
    }

    pub fn on_api_response(
        &mut self,
        call: CallId,
        result: Result<Response, Failure>,
        ctx: &mut Ctx<'_>,
    ) {
        let Some(c) = self.calls.get(&call).copied() else {
            return;
        };
        let response = match answer(result) {
            Ok(r) if r.status == 401 => r,
            // Done: a success, another status or no answer at all.
            _ => {
                self.calls.remove(&call);
                return;
            }
        };
        let error = parse_error_response(
            response.status,
            response.retry_after.as_deref(),
            &response.body,
            ts(ctx.now),
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.deciding = true;
        }
        self.dispatch(
            Event::ApiUnauthorized {
                call,
                generation: c.generation,
                retried: c.retried,
                error,
            },
            ctx,
        );
    }

    // The driver's machinery.

    fn dispatch(&mut self, event: Event, ctx: &mut Ctx<'_>) {
        self.queue.push_back(event);
        if self.busy {
            return; // the loop below, further up the stack, takes it
        }
        self.busy = true;
        while let Some(event) = self.queue.pop_front() {
            let now = ctx.now;
            let effects = self.session.handle(event, ts(now));
            for effect in effects {
                self.run(effect, ctx);
            }
        }
        self.busy = false;
        self.publish_view(ctx);
        // The read tasks told to retry resume now.
        for call in std::mem::take(&mut self.retries) {
            self.resend(call, ctx);
        }
    }

    /// An event an effect raised: handled after the current one.
    fn raise(&mut self, event: Event) {
        self.queue.push_back(event);
    }

    fn run(&mut self, effect: Effect, ctx: &mut Ctx<'_>) {
        match effect {
            Effect::StorePending(p) => {
                let result = ctx.storage.set(keys::PENDING, encode_pending(&p));
                self.raise(Event::PendingStored(result));
            }
            Effect::ClearPending => ctx.storage.remove(keys::PENDING),
            Effect::Navigate(url) => ctx.out.push(Out::Navigate(url)),
            Effect::PostToken { id, body } => {
                ctx.out.push(Out::Http {
                    kind: HttpKind::Token { id },
                    body: body.expose().to_string(),
                });
                if self.plant == Plant::ReleaseEarly {
                    self.release_lock(ctx);
                }
            }
            // One server in the simulation, so every record is bound to it: one revoke endpoint.
            Effect::PostRevoke { endpoint: _, body } => ctx.out.push(Out::Http {
                kind: HttpKind::Revoke,
                body: body.expose().to_string(),
            }),
            Effect::AcquireRefreshLock { name } => self.acquire_lock(name, ctx),
            Effect::ReleaseRefreshLock => self.release_lock(ctx),
            Effect::StoreSession(s) => {
                let result = ctx.storage.set(keys::SESSION, encode_session(&s));
                self.raise(Event::SessionStored(result));
            }
            Effect::ForgetStoredSession => ctx.storage.remove(keys::SESSION),
            Effect::ClearSession => {
                ctx.storage.remove(keys::SESSION);
                ctx.storage.remove(keys::INSPECTOR);
            }
            Effect::StoreEnded(notice) => {
                if let Some(record) = encode_ended(&notice)
                    && let Err(e) = ctx.storage.set(keys::ENDED, record)
                {
                    self.raise(Event::StorageFailed(e));
                }
            }
            Effect::ClearEnded => ctx.storage.remove(keys::ENDED),
            Effect::Publish(message) => {
                self.step(Input::Publish(message), ctx);
            }
            Effect::WakeAt(at) => {
                let at = at.as_millis().max(ctx.now);
                self.wake_generation += 1;
                if self.plant == Plant::DropLongWake && at > ctx.now + 600_000 {
                    self.wake_at = None;
                    return;
                }
                self.wake_at = Some(at);
                ctx.out.push(Out::SetWake {
                    at,
                    generation: self.wake_generation,
                });
            }
            Effect::CancelWake => {
                self.wake_generation += 1;
                self.wake_at = None;
            }
            Effect::RetryCall(call) => {
                if let Some(c) = self.calls.get_mut(&call)
                    && c.deciding
                {
                    c.deciding = false;
                    c.retried = true;
                    self.retries.push(call);
                }
            }
            Effect::FailCall(call, _) => {
                if self.calls.get(&call).is_some_and(|c| c.deciding) {
                    self.calls.remove(&call);
                }
            }
            Effect::Record(_) => self.save_inspector(ctx),
            Effect::ShowAccount => {
                // The account page's first reads start before it is routed to.
                let _ = (EXTENSION_PATH, ACCOUNT_PATH);
                self.start_read(ctx);
                self.start_read(ctx);
            }
            // The simulated sign-ins do not ask for OpenID Connect, so no ID token is checked;
            // its rules are the session's host tests'.
            Effect::FetchKeys { .. } | Effect::CheckSignature { .. } => {}
        }
    }

    fn save_inspector(&mut self, ctx: &mut Ctx<'_>) {
        if let Err(e) = ctx.storage.set(keys::INSPECTOR, "{\"v\":1}".into()) {
            self.raise(Event::StorageFailed(e));
        }
    }

    /// The driver's `publish_view`: the coordinator learns what this tab holds now.
    fn publish_view(&mut self, ctx: &mut Ctx<'_>) {
        let holding = self.session.current().map(Holding::of);
        self.step(Input::SetGrant(holding), ctx);
    }

    /// `Tabs::step`: feeds the coordinator and carries out its posts and events; returns the lock
    /// outputs for the caller that waits on them.
    fn step(&mut self, input: Input, ctx: &mut Ctx<'_>) -> Vec<Output> {
        let outputs = self.coordinator.handle(input, ts(ctx.now));
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Join(channel) => self.channel = Some(channel),
                Output::Leave => self.channel = None,
                Output::Post(m) => {
                    if let Some(ch) = &self.channel {
                        ctx.out.push(Out::Post {
                            channel: ch.name.clone(),
                            text: ch.codec.encode(&m),
                        });
                    }
                }
                Output::Deliver(b) => self.dispatch(Event::FromOtherTab(*b), ctx),
                Output::PeersChanged => self.publish_view(ctx),
                lock @ (Output::StartAskWait { .. } | Output::LockReady) => rest.push(lock),
            }
        }
        rest
    }

    fn acquire_lock(&mut self, name: String, ctx: &mut Ctx<'_>) {
        if let Some(earlier) = self.withdraw.take() {
            self.granted.remove(&earlier);
            ctx.out.push(Out::LockWithdraw {
                acquisition: earlier,
            });
        }
        self.lock_wanted = true;
        let acquisition = self.next_acquisition;
        self.next_acquisition += 1;
        self.granted.insert(acquisition, name.clone());
        self.withdraw = Some(acquisition);
        self.lock_asked_at = Some(ctx.now);
        ctx.out.push(Out::LockRequest { name, acquisition });
    }

    fn release_lock(&mut self, ctx: &mut Ctx<'_>) {
        self.lock_wanted = false;
        self.lock_asked_at = None;
        if let Some(acquisition) = self.release.take() {
            ctx.out.push(Out::LockRelease { acquisition });
        }
        if let Some(acquisition) = self.withdraw.take() {
            self.granted.remove(&acquisition);
            ctx.out.push(Out::LockWithdraw { acquisition });
        }
    }

    /// `Tabs::wants`: the latest request, still wanted.
    fn wants(&self, acquisition: u64) -> bool {
        self.lock_wanted && acquisition + 1 == self.next_acquisition
    }

    fn current_read(&self) -> Option<(String, u64)> {
        let current = self.session.current()?;
        Some((
            current.tokens.access_token.expose().to_string(),
            current.generation,
        ))
    }

    fn start_read(&mut self, ctx: &mut Ctx<'_>) {
        let call = self.next_call;
        self.next_call += 1;
        let Some((token, generation)) = self.current_read() else {
            return;
        };
        self.calls.insert(
            call,
            Call {
                generation,
                retried: false,
                deciding: false,
            },
        );
        ctx.out.push(Out::Http {
            kind: HttpKind::Api { call },
            body: token,
        });
    }

    fn resend(&mut self, call: CallId, ctx: &mut Ctx<'_>) {
        match self.current_read() {
            Some((token, generation)) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.generation = generation;
                }
                ctx.out.push(Out::Http {
                    kind: HttpKind::Api { call },
                    body: token,
                });
            }
            None => {
                self.calls.remove(&call);
            }
        }
    }
}

fn is_success(r: &Response) -> bool {
    (200..300).contains(&r.status)
}

/// What `fetch` gives the driver: an answer, or the error `src/browser/http.rs` makes of none.
fn answer(result: Result<Response, Failure>) -> Result<Response, ApiError> {
    result.map_err(|f| match f {
        Failure::Lost => ApiError::network(SERVER_ORIGIN, "TypeError: Failed to fetch"),
        Failure::TimedOut => ApiError::timeout(SERVER_ORIGIN, 30),
    })
}

/// The driver's `token_result`.
fn token_result(response: Result<Response, ApiError>, now: u64) -> Result<TokenSet, ApiError> {
    let r = response?;
    read_token_answer(r.status, r.retry_after.as_deref(), &r.body, ts(now))
}
