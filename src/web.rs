//! The browser's [`Platform`]: the adapters of [`crate::browser`], the first-load hand-off
//! ([`crate::early`]) and the page's lifecycle events, wired for the driver. Each method reports
//! what the browser did; nothing here decides.

use std::cell::RefCell;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use rc_pkce_core::config::AppConfig;
use rc_pkce_core::id_token::RsaKey;
use rc_pkce_core::random::EntropyError;
use rc_pkce_core::session::{Broadcast, StoredSession};
use rc_pkce_core::storage::StorageError;
use rc_pkce_core::{Entropy, SystemEntropy, Timestamp};

use crate::browser::http::{self, Outgoing};
use crate::browser::storage::{KeyValue, TokenStore};
use crate::browser::tabs::{Support, TabEvent, Tabs};
use crate::browser::timer::{WakeTimer, on_page_restored, on_wake};
use crate::browser::{clock, location};
use crate::platform::{Answer, Area, Platform, Request, RequestKey, Signal};

type Sink = Rc<RefCell<Option<Rc<dyn Fn(Signal)>>>>;

pub struct WebPlatform {
    store: TokenStore,
    /// Whether the session may be shared with other tabs (not with tokens in memory).
    shared: bool,
    timer: WakeTimer,
    tabs: RefCell<Option<Rc<Tabs>>>,
    sink: Sink,
}

impl WebPlatform {
    pub fn new(config: &AppConfig) -> Self {
        Self {
            store: TokenStore::for_mode(config.token_storage),
            shared: config.token_storage.shared_between_tabs(),
            timer: WakeTimer::default(),
            tabs: RefCell::new(None),
            sink: Rc::new(RefCell::new(None)),
        }
    }

    fn area(&self, area: Area) -> &dyn KeyValue {
        match area {
            Area::Tokens => &*self.store.tokens,
            Area::Pending => &*self.store.pending,
        }
    }

    fn tabs_ref(&self) -> Option<Rc<Tabs>> {
        self.tabs.borrow().clone()
    }

    /// A function that hands `signal` to the driver, if one is connected.
    fn signal(&self) -> impl Fn(Signal) + 'static {
        let sink = Rc::clone(&self.sink);
        move |signal| {
            let target = sink.borrow().clone();
            if let Some(target) = target {
                target(signal);
            }
        }
    }
}

impl Platform for WebPlatform {
    fn now(&self) -> Timestamp {
        clock::now()
    }

    fn fill_random(&self, dest: &mut [u8]) -> Result<(), EntropyError> {
        SystemEntropy.fill(dest)
    }

    fn load(&self, area: Area, key: &str) -> Result<Option<String>, StorageError> {
        self.area(area).get(key)
    }

    fn store(&self, area: Area, key: &str, value: &str) -> Result<(), StorageError> {
        self.area(area).set(key, value)
    }

    fn remove(&self, area: Area, key: &str) {
        // A failed removal leaves nothing the next read does not report.
        let _ = self.area(area).remove(key);
    }

    fn send(&self, request: &Request) -> Answer {
        let request = request.clone();
        Box::pin(async move { http::send(outgoing(&request)).await })
    }

    fn take_early(&self, key: &RequestKey) -> Option<Answer> {
        let request = match key.method {
            "POST" => Outgoing::Form {
                url: &key.url,
                body: &key.credential,
            },
            _ => Outgoing::Bearer {
                url: &key.url,
                token: &key.credential,
            },
        };
        let (promise, controller) = crate::early::take(&request)?;
        let url = key.url.clone();
        Some(Box::pin(async move {
            http::receive(&url, promise, controller).await
        }))
    }

    fn verify_signature(
        &self,
        key: &RsaKey,
        signing_input: &str,
        signature: &[u8],
    ) -> LocalBoxFuture<'static, Result<bool, String>> {
        let (key, input, signature) = (key.clone(), signing_input.to_string(), signature.to_vec());
        Box::pin(async move {
            crate::browser::webcrypto::verify_rs256(&key, &input, &signature)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn take_early_pending(&self) -> Option<String> {
        crate::early::take_pending()
    }

    fn discard_early(&self) {
        crate::early::discard_rest();
    }

    fn discard_early_soon(&self) {
        crate::early::discard_rest_soon();
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn wake_after(&self, ms: u64) {
        let signal = self.signal();
        self.timer.set(ms, move || signal(Signal::Wake));
    }

    fn cancel_wake(&self) {
        self.timer.cancel();
    }

    fn acquire_lock(&self, name: &str) {
        if let Some(tabs) = self.tabs_ref() {
            let (signal, also) = (self.signal(), self.signal());
            tabs.acquire(
                name,
                move || signal(Signal::LockTaken),
                move || also(Signal::LockGranted),
            );
        }
    }

    fn release_lock(&self) {
        if let Some(tabs) = self.tabs_ref() {
            tabs.release();
        }
    }

    fn publish(&self, message: &Broadcast) {
        if let Some(tabs) = self.tabs_ref() {
            tabs.publish(message);
        }
    }

    fn share(&self, current: Option<&StoredSession>) {
        if let Some(tabs) = self.tabs_ref() {
            tabs.set_grant(current);
        }
    }

    fn tabs(&self) -> (usize, Support) {
        match self.tabs_ref() {
            Some(t) => (t.sharing_count(), t.support()),
            None => (0, Support::SingleTab("Web Locks")),
        }
    }

    fn href(&self) -> String {
        crate::early::take_callback().unwrap_or_else(location::href)
    }

    fn at_redirect_uri(&self, url: &str) -> bool {
        location::is_callback(url)
    }

    fn clean_address(&self) {
        location::clean_callback_address();
    }

    fn navigate(&self, url: &str) -> Result<(), String> {
        location::navigate_away(url)
    }

    fn connect(&self, sink: Rc<dyn Fn(Signal)>) {
        *self.sink.borrow_mut() = Some(sink);
        let signal = Rc::new(self.signal());
        let to_tabs = Rc::clone(&signal);
        let handler: Rc<dyn Fn(TabEvent)> = Rc::new(move |e| match e {
            TabEvent::Broadcast(b) => to_tabs(Signal::FromOtherTab(b)),
            TabEvent::PeersChanged => to_tabs(Signal::PeersChanged),
        });
        *self.tabs.borrow_mut() = Some(Tabs::new(random_id(), self.shared, handler));
        let wake = Rc::clone(&signal);
        on_wake(move || wake(Signal::Wake));
        on_page_restored(move || signal(Signal::PageRestored));
    }
}

fn outgoing(request: &Request) -> Outgoing<'_> {
    match request {
        Request::Form { url, body } => Outgoing::Form {
            url,
            body: body.expose(),
        },
        Request::Bearer { url, token } => Outgoing::Bearer { url, token },
        Request::Public { url } => Outgoing::Public { url },
    }
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = SystemEntropy.fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
