//! Carries the tab protocol ([`rc_pkce_core::tabs`]) over a `BroadcastChannel`, and takes the
//! grant's Web Lock (`navigator.locks`, one lock per grant) for the tab that refreshes.
//!
//! Every decision (who answers whom, which messages count, when a peer is gone, when the lock
//! holder may refresh) is the core [`Coordinator`]'s. This adapter owns the channel, the lock
//! request and its release, the heartbeat interval, the ask-wait timer and the `pagehide`
//! listener; it feeds each of them to the coordinator and carries out what it answers.
//!
//! Where either API is missing, every tab refreshes on its own (the single-tab behaviour) and the
//! session panel says so.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use rc_pkce_core::session::Broadcast;
use rc_pkce_core::tabs::{Codec, Coordinator, HEARTBEAT_MS, Holding, Input, Output};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::clock;
use super::timer::set_timeout;

const CHANNEL: &str = "rc-pkce.tabs";
const LOCK_PREFIX: &str = "rc-pkce.refresh.";

/// Whether tabs can share a session here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Shared,
    /// The named API is missing: each tab refreshes on its own.
    SingleTab(&'static str),
}

/// What the coordinator tells the driver.
pub enum TabEvent {
    /// Another tab of this grant published tokens or signed out.
    Broadcast(Box<Broadcast>),
    /// The number of tabs sharing the session changed.
    PeersChanged,
}

pub struct Tabs {
    channel: Option<web_sys::BroadcastChannel>,
    locks: Option<JsValue>,
    codec: Codec,
    coordinator: RefCell<Coordinator>,
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
            channel,
            locks,
            codec: Codec,
            coordinator: RefCell::new(Coordinator::new(tab_id)),
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
        self.coordinator.borrow().sharing_count(clock::now())
    }

    /// Tells the coordinator which grant this tab holds now (after every session change). The caller
    /// re-reads [`Tabs::sharing_count`] afterwards, so no event is raised here.
    pub fn set_grant(&self, current: Option<(String, u64, String)>) {
        let holding = current.map(|(grant_id, generation, record)| Holding {
            grant_id,
            generation,
            record,
        });
        self.step(Input::SetGrant(holding));
    }

    pub fn publish(&self, message: &Broadcast) {
        self.step(Input::Publish(message.clone()));
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
                let input = Input::LockGranted {
                    grant_id: grant.clone(),
                };
                let wait = me.step(input).into_iter().find_map(|o| match o {
                    Output::StartAskWait { ms } => Some(ms),
                    _ => None,
                });
                if let Some(ms) = wait {
                    wait_for_answers(Rc::clone(&me), ms, granted);
                }
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

    /// Feeds one input to the coordinator and carries out its posts and events. The lock outputs
    /// are returned for the caller that waits on them ([`Tabs::acquire`]).
    fn step(&self, input: Input) -> Vec<Output> {
        // The borrow ends before the handler runs: the driver calls back into `set_grant`.
        let outputs = self.coordinator.borrow_mut().handle(input, clock::now());
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Post(m) => {
                    if let Some(ch) = &self.channel {
                        let _ = ch.post_message(&self.codec.encode(&m).into());
                    }
                }
                Output::Deliver(b) => (self.handler)(TabEvent::Broadcast(b)),
                Output::PeersChanged => (self.handler)(TabEvent::PeersChanged),
                lock @ (Output::StartAskWait { .. } | Output::LockReady) => rest.push(lock),
            }
        }
        rest
    }

    fn listen(self: &Rc<Self>) {
        let Some(channel) = &self.channel else { return };
        let me = Rc::downgrade(self);
        let cb = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let (Some(me), Some(text)) = (me.upgrade(), e.data().as_string()) else {
                return;
            };
            // Text that is not a message of this app (too large, unknown, damaged) is dropped.
            if let Ok(m) = me.codec.decode(&text) {
                me.step(Input::Received(m));
            }
        });
        channel.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        cb.forget();
    }

    fn heartbeat(self: &Rc<Self>) {
        let me = Rc::downgrade(self);
        let Some(window) = web_sys::window() else {
            return;
        };
        let cb = Closure::<dyn Fn()>::new(move || {
            if let Some(me) = me.upgrade() {
                me.step(Input::Heartbeat);
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
            if let Some(me) = me.upgrade() {
                me.step(Input::PageHide);
            }
        });
        let _ = window.add_event_listener_with_callback("pagehide", cb.as_ref().unchecked_ref());
        cb.forget();
    }
}

/// Waits `ms` for the peers' answers to the lock holder's ask, then calls `granted`, or waits
/// again when the coordinator asked again (the wait spanned a freeze).
fn wait_for_answers(tabs: Rc<Tabs>, ms: u64, granted: impl FnOnce() + 'static) {
    let _ = set_timeout(ms, move || {
        let out = tabs.step(Input::AskWaitOver);
        if out.contains(&Output::LockReady) {
            granted();
        } else if let Some(ms) = out.iter().find_map(|o| match o {
            Output::StartAskWait { ms } => Some(*ms),
            _ => None,
        }) {
            wait_for_answers(Rc::clone(&tabs), ms, granted);
        }
    });
}

fn has_broadcast_channel() -> bool {
    web_sys::window()
        .and_then(|w| Reflect::get(&w, &"BroadcastChannel".into()).ok())
        .is_some_and(|v| v.is_function())
}
