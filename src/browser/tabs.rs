//! Coordination between tabs that hold the same grant (issue: single-use refresh tokens).
//!
//! A duplicated tab inherits `sessionStorage`, so two tabs can hold one refresh token. Only the
//! holder of the grant's Web Lock (`navigator.locks`, one lock per grant) refreshes; it publishes
//! the new tokens on a `BroadcastChannel`, and the other tabs of that grant adopt them without a
//! request. A tab that got the lock first asks its peers whether they hold newer tokens (after
//! sleep, its own may be stale). Sign-out is published the same way. Tabs announce themselves with
//! heartbeats so each can show how many share its session.
//!
//! Where either API is missing, every tab refreshes on its own (the single-tab behaviour) and the
//! session panel says so.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use rc_pkce_core::record::{decode_session, encode_session};
use rc_pkce_core::session::Broadcast;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::timer::set_timeout;

const CHANNEL: &str = "rc-pkce.tabs";
const LOCK_PREFIX: &str = "rc-pkce.refresh.";
const HEARTBEAT_MS: u64 = 15_000;
/// Longer than the once-a-minute timer budget Chrome leaves a tab hidden for minutes, so a
/// throttled peer is not counted as gone between its heartbeats.
const PEER_TIMEOUT_MS: f64 = 150_000.0;
/// How long the lock holder waits for peers to offer newer tokens before refreshing itself.
const ASK_WAIT_MS: u64 = 200;

/// Whether tabs can share a session here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Shared,
    /// The named API is missing: each tab refreshes on its own.
    SingleTab(&'static str),
}

/// One message on the channel. A flat struct rather than a tagged enum: serde's internally tagged
/// enums cost about 18 KB of wasm, this costs a fraction.
#[derive(Serialize, Deserialize, Default)]
struct Message {
    /// `hello`, `here`, `bye`, `ask`, `tokens` or `signed_out`.
    t: String,
    grant: String,
    from: String,
    #[serde(default)]
    generation: u64,
    /// The encoded session, for `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
}

impl Message {
    fn new(t: &str, grant: &str, from: &str) -> Self {
        Self {
            t: t.into(),
            grant: grant.into(),
            from: from.into(),
            ..Default::default()
        }
    }

    fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    fn with_record(mut self, record: String) -> Self {
        self.record = Some(record);
        self
    }
}

/// What the coordinator tells the driver.
pub enum TabEvent {
    /// Another tab of this grant published tokens or signed out.
    Broadcast(Box<Broadcast>),
    /// The number of tabs sharing the session changed.
    PeersChanged,
}

pub struct Tabs {
    tab_id: String,
    channel: Option<web_sys::BroadcastChannel>,
    locks: Option<JsValue>,
    /// The grant this tab holds and its generation, and the latest encoded session (to answer asks).
    grant: RefCell<Option<(String, u64, String)>>,
    peers: RefCell<HashMap<String, (String, f64)>>,
    release: RefCell<Option<Function>>,
    lock_wanted: Cell<bool>,
    handler: Rc<dyn Fn(TabEvent)>,
}

impl Tabs {
    /// Sets up the channel and lifecycle listeners. `tab_id` only needs to be unique among tabs.
    pub fn new(tab_id: String, handler: Rc<dyn Fn(TabEvent)>) -> Rc<Self> {
        let window = web_sys::window();
        let locks = window
            .as_ref()
            .and_then(|w| Reflect::get(&w.navigator(), &"locks".into()).ok())
            .filter(|l| !l.is_undefined() && !l.is_null());
        let channel = has_broadcast_channel()
            .then(|| web_sys::BroadcastChannel::new(CHANNEL).ok())
            .flatten();
        let tabs = Rc::new(Self {
            tab_id,
            channel,
            locks,
            grant: RefCell::new(None),
            peers: RefCell::new(HashMap::new()),
            release: RefCell::new(None),
            lock_wanted: Cell::new(false),
            handler,
        });
        if tabs.support() == Support::Shared {
            tabs.listen();
            tabs.heartbeat();
            tabs.say_bye_on_pagehide();
        }
        tabs
    }

    pub fn support(&self) -> Support {
        match (&self.locks, &self.channel) {
            (Some(_), Some(_)) => Support::Shared,
            (None, _) => Support::SingleTab("Web Locks"),
            (_, None) => Support::SingleTab("BroadcastChannel"),
        }
    }

    /// Tabs (this one included) known to hold the current grant.
    pub fn sharing_count(&self) -> usize {
        let grant = self.grant.borrow();
        let Some((g, _, _)) = grant.as_ref() else {
            return 0;
        };
        let now = js_sys::Date::now();
        1 + self
            .peers
            .borrow()
            .values()
            .filter(|(pg, seen)| pg == g && now - seen < PEER_TIMEOUT_MS)
            .count()
    }

    /// Tells the coordinator which grant this tab holds now (after every session change). The caller
    /// re-reads [`Tabs::sharing_count`] afterwards, so no event is raised here.
    pub fn set_grant(&self, current: Option<(String, u64, String)>) {
        let changed = {
            let old = self.grant.borrow();
            old.as_ref().map(|(g, _, _)| g.clone()) != current.as_ref().map(|(g, _, _)| g.clone())
        };
        *self.grant.borrow_mut() = current;
        if changed {
            self.peers.borrow_mut().clear();
            if let Some((grant, generation, _)) = self.grant.borrow().clone() {
                self.post(&Message::new("hello", &grant, &self.tab_id).with_generation(generation));
            }
        }
    }

    pub fn publish(&self, message: &Broadcast) {
        let m = match message {
            Broadcast::Tokens(s) => {
                Message::new("tokens", &s.grant_id, &self.tab_id).with_record(encode_session(s))
            }
            Broadcast::SignedOut { grant_id } => Message::new("signed_out", grant_id, &self.tab_id),
        };
        self.post(&m);
    }

    /// Takes the grant's lock, then calls `granted`. Without Web Locks, grants at once.
    pub fn acquire(self: &Rc<Self>, grant_id: &str, granted: impl FnOnce() + 'static) {
        self.lock_wanted.set(true);
        let (Some(locks), Support::Shared) = (self.locks.clone(), self.support()) else {
            wasm_bindgen_futures::spawn_local(async move { granted() });
            return;
        };
        let me = Rc::clone(self);
        let grant = grant_id.to_string();
        let granted = RefCell::new(Some(granted));
        let on_lock = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            Promise::new(&mut |resolve, _reject| {
                if !me.lock_wanted.get() {
                    // Released before the lock came: give it straight back.
                    let _ = resolve.call0(&JsValue::NULL);
                    return;
                }
                *me.release.borrow_mut() = Some(resolve);
                let Some(granted) = granted.borrow_mut().take() else {
                    return;
                };
                // Always ask, even when no peer is known: a tab restored after sleep or a discard
                // holds the lock before its peers have answered its hello, and refreshing with a
                // rotated-out token would end the session for every tab. 200 ms per refresh is
                // cheap next to that.
                let generation = me.grant.borrow().as_ref().map_or(0, |(_, g, _)| *g);
                me.post(&Message::new("ask", &grant, &me.tab_id).with_generation(generation));
                let _ = set_timeout(ASK_WAIT_MS, granted);
            })
        });
        let request = Reflect::get(&locks, &"request".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        match request {
            Some(request) => {
                let _ = request.call2(&locks, &format!("{LOCK_PREFIX}{grant_id}").into(), &on_lock);
            }
            None => {
                if let Ok(f) = on_lock.dyn_into::<Function>() {
                    let _ = f.call1(&JsValue::NULL, &JsValue::NULL);
                }
            }
        }
    }

    pub fn release(&self) {
        self.lock_wanted.set(false);
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }

    fn post(&self, m: &Message) {
        if let (Some(ch), Ok(text)) = (&self.channel, serde_json::to_string(m)) {
            let _ = ch.post_message(&text.into());
        }
    }

    fn listen(self: &Rc<Self>) {
        let Some(channel) = &self.channel else { return };
        let me = Rc::downgrade(self);
        let cb = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let (Some(me), Some(text)) = (me.upgrade(), e.data().as_string()) else {
                return;
            };
            if text.len() > 64 * 1024 {
                return;
            }
            if let Ok(m) = serde_json::from_str::<Message>(&text) {
                me.receive(m);
            }
        });
        channel.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        cb.forget();
    }

    fn receive(&self, m: Message) {
        let mine = self.grant.borrow().clone();
        let Some((grant, generation, record)) = mine else {
            return;
        };
        if m.grant != grant || m.from == self.tab_id {
            return;
        }
        let now = js_sys::Date::now();
        match m.t.as_str() {
            "hello" => {
                self.peers.borrow_mut().insert(m.from, (m.grant, now));
                self.post(&Message::new("here", &grant, &self.tab_id).with_generation(generation));
                (self.handler)(TabEvent::PeersChanged);
            }
            "here" => {
                let new = self
                    .peers
                    .borrow_mut()
                    .insert(m.from, (m.grant, now))
                    .is_none();
                if new {
                    (self.handler)(TabEvent::PeersChanged);
                }
            }
            "bye" => {
                self.peers.borrow_mut().remove(&m.from);
                (self.handler)(TabEvent::PeersChanged);
            }
            "ask" => {
                self.peers.borrow_mut().insert(m.from, (m.grant, now));
                if generation > m.generation {
                    self.post(&Message::new("tokens", &grant, &self.tab_id).with_record(record));
                }
            }
            "tokens" => {
                self.peers.borrow_mut().insert(m.from, (m.grant, now));
                if let Some(session) = m.record.as_deref().and_then(|r| decode_session(r).ok()) {
                    (self.handler)(TabEvent::Broadcast(Box::new(Broadcast::Tokens(session))));
                }
            }
            "signed_out" => {
                (self.handler)(TabEvent::Broadcast(Box::new(Broadcast::SignedOut {
                    grant_id: grant,
                })));
            }
            _ => {}
        }
    }

    fn heartbeat(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        let Some(window) = web_sys::window() else {
            return;
        };
        let cb = Closure::<dyn Fn()>::new(move || {
            let Some(me) = me.upgrade() else { return };
            let now = js_sys::Date::now();
            let before = me.peers.borrow().len();
            me.peers
                .borrow_mut()
                .retain(|_, (_, seen)| now - *seen < PEER_TIMEOUT_MS);
            if me.peers.borrow().len() != before {
                (me.handler)(TabEvent::PeersChanged);
            }
            if let Some((grant, generation, _)) = me.grant.borrow().clone() {
                me.post(&Message::new("here", &grant, &me.tab_id).with_generation(generation));
            }
        });
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
            cb.as_ref().unchecked_ref(),
            HEARTBEAT_MS as i32,
        );
        cb.forget();
    }

    fn say_bye_on_pagehide(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        let Some(window) = web_sys::window() else {
            return;
        };
        let cb = Closure::<dyn Fn()>::new(move || {
            let Some(me) = me.upgrade() else { return };
            if let Some((grant, _, _)) = me.grant.borrow().clone() {
                me.post(&Message::new("bye", &grant, &me.tab_id));
            }
        });
        let _ = window.add_event_listener_with_callback("pagehide", cb.as_ref().unchecked_ref());
        cb.forget();
    }
}

fn has_broadcast_channel() -> bool {
    web_sys::window()
        .and_then(|w| Reflect::get(&w, &"BroadcastChannel".into()).ok())
        .is_some_and(|v| v.is_function())
}
