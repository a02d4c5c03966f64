//! Carries the tab protocol ([`rc_pkce_core::tabs`]) over a `BroadcastChannel`, and takes the
//! grant's Web Lock (`navigator.locks`, one name per generation of its tokens) for the tab that
//! refreshes.
//!
//! Every decision (who answers whom, which messages count, when a peer is gone, when the lock
//! holder may refresh, how long to wait for the lock, which channel and lock names to use) is the
//! core's. This adapter owns the channel the [`Coordinator`] says to be on (opened and closed as
//! it says: [`Output::Join`], [`Output::Leave`]), the lock request, its withdrawal and its
//! release, the heartbeat interval, the ask-wait timer and the `pagehide` listener; it feeds each
//! of them to the coordinator and carries out what it answers. Channel text goes through the
//! joined channel's [`Codec`], which drops anything not signed with the session's key.
//!
//! Where either API is missing, every tab refreshes on its own (the single-tab behaviour) and the
//! session panel says so. With tokens kept in memory nothing is shared at all: no channel is
//! opened and no lock is taken.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use rc_pkce_core::session::Broadcast;
use rc_pkce_core::session::StoredSession;
use rc_pkce_core::tabs::{Channel, Codec, Coordinator, HEARTBEAT_MS, Holding, Input, Output};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::clock;
use super::timer::set_timeout;

/// Whether tabs can share a session here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    Shared,
    /// The named API is missing: each tab refreshes on its own.
    SingleTab(&'static str),
    /// Tokens are kept in this tab's memory only: no other tab can have them.
    NotShared,
}

/// What the coordinator tells the driver.
pub enum TabEvent {
    /// Another tab of this grant published tokens or signed out.
    Broadcast(Box<Broadcast>),
    /// The number of tabs sharing the session changed.
    PeersChanged,
}

pub struct Tabs {
    /// Whether this tab shares its session at all (not with tokens in memory).
    shared: bool,
    has_channel: bool,
    /// The channel the coordinator said to be on, and its codec.
    channel: RefCell<Option<(web_sys::BroadcastChannel, Codec)>>,
    locks: Option<JsValue>,
    coordinator: RefCell<Coordinator>,
    /// Resolves the held lock's callback promise: the lock is free again.
    release: RefCell<Option<Function>>,
    /// Withdraws the lock request that has not been granted yet.
    withdraw: RefCell<Option<web_sys::AbortController>>,
    /// The number of the latest lock request, and whether it is still wanted: a grant of any
    /// other (one that crossed its withdrawal) is given straight back.
    lock_request: Cell<u64>,
    lock_wanted: Cell<bool>,
    handler: Rc<dyn Fn(TabEvent)>,
}

impl Tabs {
    /// Sets up the lifecycle listeners; the channel is opened once the session holds a grant.
    /// `tab_id` only needs to be unique among tabs; `shared` is false when tokens are kept in
    /// memory ([`rc_pkce_core::config::TokenStorage::shared_between_tabs`]).
    pub fn new(tab_id: String, shared: bool, handler: Rc<dyn Fn(TabEvent)>) -> Rc<Self> {
        let window = web_sys::window();
        let locks = window
            .as_ref()
            .and_then(|w| Reflect::get(&w.navigator(), &"locks".into()).ok())
            .filter(|l| !l.is_undefined() && !l.is_null());
        let tabs = Rc::new(Self {
            shared,
            has_channel: has_broadcast_channel(),
            channel: RefCell::new(None),
            locks,
            coordinator: RefCell::new(Coordinator::new(tab_id)),
            release: RefCell::new(None),
            withdraw: RefCell::new(None),
            lock_request: Cell::new(0),
            lock_wanted: Cell::new(false),
            handler,
        });
        if tabs.support() == Support::Shared {
            tabs.heartbeat();
            tabs.say_bye_on_pagehide();
        }
        tabs
    }

    pub fn support(&self) -> Support {
        match (self.shared, &self.locks, self.has_channel) {
            (false, _, _) => Support::NotShared,
            (true, Some(_), true) => Support::Shared,
            (true, None, _) => Support::SingleTab("Web Locks"),
            (true, _, false) => Support::SingleTab("BroadcastChannel"),
        }
    }

    /// Tabs (this one included) known to hold the current grant.
    pub fn sharing_count(&self) -> usize {
        self.coordinator.borrow().sharing_count(clock::now())
    }

    /// Tells the coordinator which session this tab holds now (after every session change). The
    /// caller re-reads [`Tabs::sharing_count`] afterwards, so no event is raised here.
    pub fn set_grant(self: &Rc<Self>, current: Option<&StoredSession>) {
        self.step(Input::SetGrant(current.map(Holding::of)));
    }

    pub fn publish(self: &Rc<Self>, message: &Broadcast) {
        self.step(Input::Publish(message.clone()));
    }

    /// Takes the lock `name` (the grant's, named by the core): calls `taken` when the Web Lock is
    /// this tab's, and `granted` once the coordinator says the holder may refresh (after its ask).
    /// Without Web Locks, or when nothing is shared, both at once.
    pub fn acquire(
        self: &Rc<Self>,
        name: &str,
        taken: impl FnOnce() + 'static,
        granted: impl FnOnce() + 'static,
    ) {
        // One request at a time: one still queued is withdrawn first.
        if let Some(earlier) = self.withdraw.borrow_mut().take() {
            earlier.abort();
        }
        let number = self.lock_request.get() + 1;
        self.lock_request.set(number);
        self.lock_wanted.set(true);
        let (Some(locks), Support::Shared) = (self.locks.clone(), self.support()) else {
            wasm_bindgen_futures::spawn_local(async move {
                taken();
                granted();
            });
            return;
        };
        let me = Rc::clone(self);
        let callbacks = RefCell::new(Some((taken, granted)));
        let on_lock = Closure::once_into_js(move |_lock: JsValue| -> Promise {
            Promise::new(&mut |resolve, _reject| {
                if !me.wants(number) {
                    // Released before the lock came: give it straight back.
                    let _ = resolve.call0(&JsValue::NULL);
                    return;
                }
                me.withdraw.borrow_mut().take();
                *me.release.borrow_mut() = Some(resolve);
                let Some((taken, granted)) = callbacks.borrow_mut().take() else {
                    return;
                };
                taken();
                // The session may have given the lock back at once (newer tokens came meanwhile).
                if !me.wants(number) {
                    return;
                }
                let out = me.step(Input::LockGranted);
                let still = Rc::clone(&me);
                // Released during the ask (the session gave up waiting): the session has moved on.
                follow(&me, &out, move || {
                    if still.wants(number) {
                        granted()
                    }
                });
            })
        });
        let request = Reflect::get(&locks, &"request".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let Some(request) = request else {
            if let Ok(f) = on_lock.dyn_into::<Function>() {
                let _ = f.call1(&JsValue::NULL, &JsValue::NULL);
            }
            return;
        };
        // The session gives up waiting if the lock does not come (another page of the origin
        // may hold it forever); the signal takes the request out of the queue then.
        let controller = web_sys::AbortController::new().ok();
        let options = js_sys::Object::new();
        if let Some(c) = &controller {
            let _ = Reflect::set(&options, &"signal".into(), &c.signal());
        }
        *self.withdraw.borrow_mut() = controller;
        if let Ok(promise) = request.call3(&locks, &name.into(), &options, &on_lock) {
            // Rejects with an AbortError when withdrawn: expected, and not worth a console line.
            let promise = Promise::from(promise);
            wasm_bindgen_futures::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
            });
        }
    }

    /// Gives back the held lock, or withdraws the request that has not been granted yet.
    pub fn release(&self) {
        self.lock_wanted.set(false);
        if let Some(resolve) = self.release.borrow_mut().take() {
            let _ = resolve.call0(&JsValue::NULL);
        }
        if let Some(controller) = self.withdraw.borrow_mut().take() {
            controller.abort();
        }
    }

    fn wants(&self, number: u64) -> bool {
        self.lock_wanted.get() && self.lock_request.get() == number
    }

    /// Feeds one input to the coordinator and carries out its posts and events. The lock outputs
    /// are returned for the caller that waits on them ([`Tabs::acquire`]).
    fn step(self: &Rc<Self>, input: Input) -> Vec<Output> {
        // The borrow ends before the handler runs: the driver calls back into `set_grant`.
        let outputs = self.coordinator.borrow_mut().handle(input, clock::now());
        let mut rest = Vec::new();
        for output in outputs {
            match output {
                Output::Join(channel) => self.join(channel),
                Output::Leave => self.leave(),
                Output::Post(m) => {
                    if let Some((ch, codec)) = &*self.channel.borrow() {
                        let _ = ch.post_message(&codec.encode(&m).into());
                    }
                }
                Output::Deliver(b) => (self.handler)(TabEvent::Broadcast(b)),
                Output::PeersChanged => (self.handler)(TabEvent::PeersChanged),
                lock @ (Output::StartAskWait { .. } | Output::LockReady) => rest.push(lock),
            }
        }
        rest
    }

    /// Opens the channel `channel` names, closing the one before.
    fn join(self: &Rc<Self>, channel: Channel) {
        self.leave();
        if self.support() != Support::Shared {
            return;
        }
        let Ok(ch) = web_sys::BroadcastChannel::new(&channel.name) else {
            return;
        };
        let me = Rc::downgrade(self);
        let cb = Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let (Some(me), Some(text)) = (me.upgrade(), e.data().as_string()) else {
                return;
            };
            // Text not signed with this session's key, or not a message at all, is dropped.
            let decoded = me
                .channel
                .borrow()
                .as_ref()
                .map(|(_, codec)| codec.decode(&text));
            if let Some(Ok(m)) = decoded {
                me.step(Input::Received(m));
            }
        });
        ch.set_onmessage(Some(cb.as_ref().unchecked_ref()));
        // The closure lives as long as the page; a closed channel no longer calls it.
        cb.forget();
        *self.channel.borrow_mut() = Some((ch, channel.codec));
    }

    fn leave(&self) {
        if let Some((ch, _)) = self.channel.borrow_mut().take() {
            ch.set_onmessage(None);
            ch.close();
        }
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

/// Does what the coordinator said about the lock holder: go ahead (`granted`), or wait for the
/// peers' answers to its ask and then ask the coordinator again (it asks once more when the wait
/// spanned a freeze).
fn follow(tabs: &Rc<Tabs>, out: &[Output], granted: impl FnOnce() + 'static) {
    if out.contains(&Output::LockReady) {
        granted();
    } else if let Some(ms) = out.iter().find_map(|o| match o {
        Output::StartAskWait { ms } => Some(*ms),
        _ => None,
    }) {
        let tabs = Rc::clone(tabs);
        let _ = set_timeout(ms, move || {
            let out = tabs.step(Input::AskWaitOver);
            follow(&tabs, &out, granted);
        });
    }
}

fn has_broadcast_channel() -> bool {
    web_sys::window()
        .and_then(|w| Reflect::get(&w, &"BroadcastChannel".into()).ok())
        .is_some_and(|v| v.is_function())
}
