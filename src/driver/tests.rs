//! The driver on the host: a fake platform records every request, write, lock and navigation,
//! and answers only when a test says, so each test plays one story step by step.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use futures_executor::LocalPool;
use futures_util::future::LocalBoxFuture;
use futures_util::task::LocalSpawnExt;
use rc_pkce_core::Timestamp;
use rc_pkce_core::config::{AppConfig, parse_config};
use rc_pkce_core::error::{ApiError, ErrorKind};
use rc_pkce_core::id_token::RsaKey;
use rc_pkce_core::inspector::Inspector;
use rc_pkce_core::random::EntropyError;
use rc_pkce_core::record::{decode_pending, decode_session, encode_session};
use rc_pkce_core::session::{Broadcast, LOCK_WAIT_LIMIT_MS, Notice, Phase, StoredSession};
use rc_pkce_core::storage::{StorageError, StoreKind};
use rc_pkce_core::tabs::{TAB_KEY_BYTES, TabKey};
use rc_pkce_core::token::parse_token_response;
use rc_pkce_core::url::{form_encode, parse_query, query_of};

use super::{Driver, Observer, SessionView};
use crate::browser::http::HttpResponse;
use crate::browser::storage::keys;
use crate::browser::tabs::Support;
use crate::platform::{Answer, Area, Platform, Request, RequestKey, Signal};

const T0: Timestamp = Timestamp::from_secs(1_800_000_000);
const APP: &str = "http://localhost:5000/";
const CALLBACK: &str = "http://localhost:5000/oauth2callback";
const TOKEN_URL: &str = "http://127.0.0.1:5001/restapi/oauth/token";

/// A request the driver sent, waiting for the test to answer it.
struct Sent {
    request: Request,
    reply: oneshot::Sender<Result<HttpResponse, ApiError>>,
}

#[derive(Default)]
struct World {
    now: Cell<Option<Timestamp>>,
    href: RefCell<String>,
    storage: RefCell<HashMap<(Area, String), String>>,
    refuse_writes: RefCell<Option<(Area, StorageError)>>,
    sent: RefCell<Vec<Sent>>,
    early: RefCell<Vec<(RequestKey, HttpResponse)>>,
    early_taken: Cell<usize>,
    tasks: RefCell<Vec<LocalBoxFuture<'static, ()>>>,
    wake_in: Cell<Option<u64>>,
    /// "acquire <grant>", "release", in order.
    locks: RefCell<Vec<String>>,
    published: RefCell<Vec<Broadcast>>,
    navigated: RefCell<Vec<String>>,
    refuse_navigation: Cell<bool>,
    cleaned: Cell<bool>,
    sink: RefCell<Option<Sink>>,
    /// Signature checks asked for (the key's `kid`), waiting for the test's verdict.
    checks: RefCell<Vec<(Option<String>, Verdict)>>,
}

type Sink = Rc<dyn Fn(Signal)>;
/// Where the test's verdict on a signature check goes.
type Verdict = oneshot::Sender<Result<bool, String>>;

#[derive(Clone, Default)]
struct Fake(Rc<World>);

impl Platform for Fake {
    fn now(&self) -> Timestamp {
        self.0.now.get().unwrap_or(T0)
    }

    fn fill_random(&self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for (i, b) in dest.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        Ok(())
    }

    fn load(&self, area: Area, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .storage
            .borrow()
            .get(&(area, key.to_string()))
            .cloned())
    }

    fn store(&self, area: Area, key: &str, value: &str) -> Result<(), StorageError> {
        if let Some((refused, error)) = &*self.0.refuse_writes.borrow()
            && *refused == area
        {
            return Err(error.clone());
        }
        self.0
            .storage
            .borrow_mut()
            .insert((area, key.to_string()), value.to_string());
        Ok(())
    }

    fn remove(&self, area: Area, key: &str) {
        self.0.storage.borrow_mut().remove(&(area, key.to_string()));
    }

    fn send(&self, request: &Request) -> Answer {
        let (reply, answer) = oneshot::channel();
        self.0.sent.borrow_mut().push(Sent {
            request: request.clone(),
            reply,
        });
        Box::pin(async move {
            answer
                .await
                .unwrap_or_else(|_| Err(ApiError::network("http://test", "dropped")))
        })
    }

    fn take_early(&self, key: &RequestKey) -> Option<Answer> {
        let mut early = self.0.early.borrow_mut();
        let i = early.iter().position(|(k, _)| k == key)?;
        let (_, response) = early.remove(i);
        self.0.early_taken.set(self.0.early_taken.get() + 1);
        Some(Box::pin(async move { Ok(response) }))
    }

    fn take_early_pending(&self) -> Option<String> {
        None
    }

    fn verify_signature(
        &self,
        key: &RsaKey,
        _signing_input: &str,
        _signature: &[u8],
    ) -> LocalBoxFuture<'static, Result<bool, String>> {
        let (reply, verdict) = oneshot::channel();
        self.0.checks.borrow_mut().push((key.kid.clone(), reply));
        Box::pin(async move { verdict.await.unwrap_or_else(|_| Err("dropped".into())) })
    }

    fn discard_early(&self) {
        self.0.early.borrow_mut().clear();
    }

    fn discard_early_soon(&self) {
        self.discard_early();
    }

    fn spawn(&self, task: LocalBoxFuture<'static, ()>) {
        self.0.tasks.borrow_mut().push(task);
    }

    fn wake_after(&self, ms: u64) {
        self.0.wake_in.set(Some(ms));
    }

    fn cancel_wake(&self) {
        self.0.wake_in.set(None);
    }

    fn acquire_lock(&self, grant_id: &str) {
        self.0
            .locks
            .borrow_mut()
            .push(format!("acquire {grant_id}"));
    }

    fn release_lock(&self) {
        self.0.locks.borrow_mut().push("release".into());
    }

    fn publish(&self, message: &Broadcast) {
        self.0.published.borrow_mut().push(message.clone());
    }

    fn share(&self, _current: Option<&StoredSession>) {}

    fn tabs(&self) -> (usize, Support) {
        (1, Support::Shared)
    }

    fn href(&self) -> String {
        self.0.href.borrow().clone()
    }

    fn at_redirect_uri(&self, url: &str) -> bool {
        url.starts_with(CALLBACK)
    }

    fn clean_address(&self) {
        self.0.cleaned.set(true);
    }

    fn navigate(&self, url: &str) -> Result<(), String> {
        if self.0.refuse_navigation.get() {
            return Err("blocked by the test".into());
        }
        self.0.navigated.borrow_mut().push(url.to_string());
        Ok(())
    }

    fn connect(&self, sink: Rc<dyn Fn(Signal)>) {
        *self.0.sink.borrow_mut() = Some(sink);
    }
}

/// What the driver told its observer.
#[derive(Default)]
struct Seen {
    view: RefCell<SessionView>,
    inspector: RefCell<Inspector>,
    routes: RefCell<Vec<String>>,
}

impl Observer for Seen {
    fn session(&self, view: &SessionView) {
        *self.view.borrow_mut() = view.clone();
    }

    fn inspector(&self, inspector: &Inspector) {
        *self.inspector.borrow_mut() = inspector.clone();
    }

    fn route(&self, path: &str) {
        self.routes.borrow_mut().push(path.to_string());
    }
}

struct Page {
    fake: Fake,
    seen: Rc<Seen>,
    driver: Rc<Driver<Fake>>,
    pool: LocalPool,
}

fn config() -> AppConfig {
    parse_config(
        r#"{"client_id": "demo", "server": "http://127.0.0.1:5001", "issuer": "http://127.0.0.1:5001"}"#,
        APP,
    )
    .expect("a valid config")
}

/// Loads the app at `href` in a tab whose storage holds what `fake` holds.
fn load(fake: &Fake, href: &str) -> Page {
    load_with(config(), fake, href)
}

fn load_with(config: AppConfig, fake: &Fake, href: &str) -> Page {
    *fake.0.href.borrow_mut() = href.to_string();
    let seen = Rc::new(Seen::default());
    let driver = Driver::start(config, fake.clone(), seen.clone());
    let mut page = Page {
        fake: fake.clone(),
        seen,
        driver,
        pool: LocalPool::new(),
    };
    page.settle();
    page
}

impl Page {
    /// Runs every task until each waits for something only the test can give.
    fn settle(&mut self) {
        loop {
            let tasks: Vec<_> = self.fake.0.tasks.borrow_mut().drain(..).collect();
            if tasks.is_empty() {
                self.pool.run_until_stalled();
                if self.fake.0.tasks.borrow().is_empty() {
                    return;
                }
                continue;
            }
            for task in tasks {
                self.pool.spawner().spawn_local(task).expect("spawn");
            }
            self.pool.run_until_stalled();
        }
    }

    fn view(&self) -> SessionView {
        self.seen.view.borrow().clone()
    }

    fn signal(&mut self, signal: Signal) {
        let sink = self.fake.0.sink.borrow().clone().expect("connected");
        sink(signal);
        self.settle();
    }

    fn requests(&self) -> Vec<(&'static str, String)> {
        self.fake
            .0
            .sent
            .borrow()
            .iter()
            .map(|s| (s.request.method(), s.request.url().to_string()))
            .collect()
    }

    /// Answers the oldest unanswered request to a URL ending in `url_end`; returns what it carried.
    fn answer(&mut self, url_end: &str, response: Result<HttpResponse, ApiError>) -> Request {
        let sent = {
            let mut sent = self.fake.0.sent.borrow_mut();
            let i = sent
                .iter()
                .position(|s| s.request.url().ends_with(url_end))
                .unwrap_or_else(|| panic!("no request to …{url_end}"));
            sent.remove(i)
        };
        let _ = sent.reply.send(response);
        self.settle();
        sent.request
    }

    fn stored(&self, area: Area, key: &str) -> Option<String> {
        self.fake
            .0
            .storage
            .borrow()
            .get(&(area, key.to_string()))
            .cloned()
    }
}

fn ok(body: serde_json::Value) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse {
        status: 200,
        retry_after: None,
        body: body.to_string().into_bytes(),
    })
}

fn status(code: u16, body: &str) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse {
        status: code,
        retry_after: None,
        body: body.as_bytes().to_vec(),
    })
}

fn tokens(access: &str, refresh: &str, ttl: u64) -> Result<HttpResponse, ApiError> {
    ok(serde_json::json!({
        "access_token": access, "token_type": "bearer", "expires_in": ttl,
        "refresh_token": refresh, "refresh_token_expires_in": 604800,
        "scope": "ReadAccounts", "owner_id": "101"
    }))
}

fn form(request: &Request) -> HashMap<String, String> {
    match request {
        Request::Form { body, .. } => parse_query(body.expose()).into_iter().collect(),
        Request::Bearer { .. } | Request::Public { .. } => panic!("not a form POST: {request:?}"),
    }
}

fn bearer(request: &Request) -> &str {
    match request {
        Request::Bearer { token, .. } => token,
        Request::Form { .. } | Request::Public { .. } => panic!("not a bearer GET: {request:?}"),
    }
}

/// The Web Lock of [`signed_in_tab`]'s grant: named after its key, so no other page can guess it.
fn grant_lock() -> String {
    TabKey::from_bytes([4; TAB_KEY_BYTES]).lock_name("grant-1", 0)
}

/// A tab that has been signed in: the stored session of access token `access`, which is due for
/// a refresh `due_in` seconds from now.
fn signed_in_tab(access: &str, due_in: i64) -> Fake {
    let fake = Fake::default();
    let issued = Timestamp::from_secs(T0.as_millis() / 1000 - 3600 + (due_in + 360) as u64);
    let set = parse_token_response(
        serde_json::json!({
            "access_token": access, "token_type": "bearer", "expires_in": 3600,
            "refresh_token": "RT0", "refresh_token_expires_in": 604800
        })
        .to_string()
        .as_bytes(),
        issued,
    )
    .unwrap();
    let session = StoredSession {
        grant_id: "grant-1".into(),
        generation: 0,
        tab_key: TabKey::from_bytes([4; TAB_KEY_BYTES]),
        binding: config().binding(),
        tokens: set,
        identity: None,
    };
    fake.store(Area::Tokens, keys::SESSION, &encode_session(&session))
        .unwrap();
    fake
}

#[test]
fn a_sign_in_stores_the_pending_record_then_leaves_for_the_authorize_page() {
    let fake = Fake::default();
    let page = load(&fake, APP);
    page.driver.sign_in();
    let pending = page
        .stored(Area::Pending, keys::PENDING)
        .expect("pending stored");
    let pending = decode_pending(&pending).unwrap();
    let navigated = fake.0.navigated.borrow().clone();
    assert_eq!(navigated.len(), 1);
    let url = &navigated[0];
    assert!(
        url.starts_with("http://127.0.0.1:5001/restapi/oauth/authorize?"),
        "{url}"
    );
    let query: HashMap<_, _> = parse_query(query_of(url).unwrap()).into_iter().collect();
    assert_eq!(query["state"], pending.state.expose());
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(page.view().phase, Phase::Authorizing);
    assert_eq!(
        page.seen.inspector.borrow().steps.len(),
        2,
        "PKCE and authorize steps"
    );
}

#[test]
fn a_pending_record_storage_refuses_keeps_the_tab_here_and_the_view_says_why() {
    let fake = Fake::default();
    let full = StorageError::QuotaExceeded {
        kind: StoreKind::Session,
    };
    *fake.0.refuse_writes.borrow_mut() = Some((Area::Pending, full.clone()));
    let page = load(&fake, APP);
    page.driver.sign_in();
    assert!(fake.0.navigated.borrow().is_empty(), "no navigation");
    let view = page.view();
    assert_eq!(view.storage_problem, Some(full));
    assert_eq!(view.phase, Phase::SignedOut);
}

#[test]
fn a_refused_navigation_is_shown() {
    let fake = Fake::default();
    fake.0.refuse_navigation.set(true);
    let page = load(&fake, APP);
    page.driver.sign_in();
    let view = page.view();
    assert!(
        view.fatal
            .as_deref()
            .is_some_and(|f| f.contains("did not open the sign-in page")),
        "{view:?}"
    );
    assert_eq!(view.phase, Phase::SignedOut);
}

/// Signs in on `/`, then loads the redirect URI the way the authorize endpoint sends the tab back.
fn come_back_with_a_code(fake: &Fake) -> Page {
    let page = load(fake, APP);
    page.driver.sign_in();
    let pending = decode_pending(&page.stored(Area::Pending, keys::PENDING).unwrap()).unwrap();
    load(fake, &callback_for(&pending))
}

/// The redirect URI with a code for `pending`, as the sandbox sends the tab back.
fn callback_for(pending: &rc_pkce_core::authorize::PendingAuthorization) -> String {
    format!(
        "{CALLBACK}?{}",
        form_encode([
            ("code", "THE-CODE"),
            ("state", pending.state.expose()),
            ("iss", "http://127.0.0.1:5001"),
        ])
    )
}

#[test]
fn a_callback_exchanges_the_code_stores_the_session_and_reads_the_account_once() {
    let fake = Fake::default();
    let mut page = come_back_with_a_code(&fake);
    assert!(
        fake.0.cleaned.get(),
        "the code leaves the address bar first"
    );
    assert_eq!(page.requests(), [("POST", TOKEN_URL.to_string())]);
    assert!(
        page.stored(Area::Pending, keys::PENDING).is_none(),
        "single use"
    );
    let post = page.answer("/oauth/token", tokens("AT1", "RT1", 3600));
    let body = form(&post);
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["code"], "THE-CODE");
    assert!(!body.contains_key("client_secret"));
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.tokens.access_token.expose(), "AT1");
    assert_eq!(*page.seen.routes.borrow(), ["/account"]);
    assert_eq!(page.view().phase, Phase::SignedIn);
    // The account page's first reads started before it exists...
    let reads = page.requests();
    assert_eq!(reads.len(), 2, "{reads:?}");
    let extension = page.answer("/extension/~", ok(serde_json::json!({"id": 7})));
    assert_eq!(bearer(&extension), "AT1");
    // ...and the page takes that answer instead of asking again.
    let driver = Rc::clone(&page.driver);
    let got = Rc::new(RefCell::new(None));
    let into = Rc::clone(&got);
    page.fake.spawn(Box::pin(async move {
        let r = driver
            .api_get::<serde_json::Value>(crate::api::EXTENSION_PATH)
            .await;
        *into.borrow_mut() = Some(r);
    }));
    page.settle();
    assert_eq!(
        got.borrow().as_ref().unwrap().as_ref().unwrap()["id"],
        7,
        "the prefetched body"
    );
    assert_eq!(
        page.requests().len(),
        1,
        "only the account read is still open"
    );
}

#[test]
fn an_answer_the_first_load_module_already_got_is_taken_instead_of_sending_again() {
    let fake = Fake::default();
    // The first-load module sent the identical POST; the app must take its answer.
    let page = load(&fake, APP);
    page.driver.sign_in();
    let pending = decode_pending(&page.stored(Area::Pending, keys::PENDING).unwrap()).unwrap();
    let body = format!(
        "grant_type=authorization_code&code=C&redirect_uri={}&code_verifier={}&client_id=demo",
        form_encode([("", CALLBACK)]).trim_start_matches('='),
        pending.verifier.expose()
    );
    fake.0.early.borrow_mut().push((
        RequestKey {
            method: "POST",
            url: TOKEN_URL.into(),
            credential: body,
        },
        tokens("AT-EARLY", "RT", 3600).unwrap(),
    ));
    let url = format!(
        "{CALLBACK}?{}",
        form_encode([
            ("code", "C"),
            ("state", pending.state.expose()),
            ("iss", "http://127.0.0.1:5001"),
        ])
    );
    let page = load(&fake, &url);
    assert_eq!(fake.0.early_taken.get(), 1, "the early answer was taken");
    assert!(
        !page.requests().iter().any(|(m, _)| *m == "POST"),
        "the code is sent once: {:?}",
        page.requests()
    );
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.tokens.access_token.expose(), "AT-EARLY");
    assert!(fake.0.early.borrow().is_empty(), "the rest is dropped");
}

#[test]
fn a_due_refresh_waits_for_the_lock_then_posts_once_and_publishes() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    assert_eq!(
        *fake.0.locks.borrow(),
        [format!("acquire {}", grant_lock())]
    );
    assert!(
        page.requests().is_empty(),
        "nothing is sent before the lock"
    );
    page.signal(Signal::LockGranted);
    assert_eq!(page.requests(), [("POST", TOKEN_URL.to_string())]);
    let post = page.answer("/oauth/token", tokens("AT1", "RT1", 3600));
    let body = form(&post);
    assert_eq!(body["grant_type"], "refresh_token");
    assert_eq!(body["refresh_token"], "RT0");
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.generation, 1);
    assert_eq!(
        *fake.0.locks.borrow(),
        [format!("acquire {}", grant_lock()), "release".into()]
    );
    assert!(matches!(
        fake.0.published.borrow().as_slice(),
        [Broadcast::Tokens(s)] if s.generation == 1
    ));
    assert!(
        fake.0.wake_in.get().is_some(),
        "the next refresh is scheduled"
    );
}

/// Issue 16: another page of the origin can hold the lock for ever. The core's limit reaches the
/// browser as a wake-up; the request is withdrawn and the refresh goes out without the lock.
#[test]
fn a_lock_that_never_comes_is_given_up_and_the_refresh_sent_without_it() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    assert_eq!(fake.0.wake_in.get(), Some(LOCK_WAIT_LIMIT_MS));
    fake.0.now.set(Some(T0.plus_millis(LOCK_WAIT_LIMIT_MS)));
    page.signal(Signal::Wake);
    assert_eq!(page.requests(), [("POST", TOKEN_URL.to_string())]);
    assert_eq!(
        *fake.0.locks.borrow(),
        [format!("acquire {}", grant_lock()), "release".into()],
        "the request is withdrawn"
    );
    page.answer("/oauth/token", tokens("AT1", "RT1", 3600));
    assert_eq!(fake.0.locks.borrow().len(), 2, "nothing more to give back");
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.generation, 1);
}

/// Once the Web Lock is this tab's (it asks the other tabs), the limit no longer applies.
#[test]
fn a_lock_taken_is_not_given_up_while_the_tab_asks() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    page.signal(Signal::LockTaken);
    fake.0.now.set(Some(T0.plus_millis(LOCK_WAIT_LIMIT_MS)));
    page.signal(Signal::Wake);
    assert!(page.requests().is_empty());
    assert_eq!(fake.0.locks.borrow().len(), 1, "still held");
    page.signal(Signal::LockGranted);
    assert_eq!(page.requests(), [("POST", TOKEN_URL.to_string())]);
}

#[test]
fn a_401_refreshes_once_and_the_call_is_retried_with_the_new_token() {
    let fake = signed_in_tab("AT0", 600);
    let mut page = load(&fake, "http://localhost:5000/account");
    let driver = Rc::clone(&page.driver);
    let got = Rc::new(RefCell::new(None));
    let into = Rc::clone(&got);
    page.fake.spawn(Box::pin(async move {
        let r = driver
            .api_get::<serde_json::Value>("/restapi/v1.0/account/~")
            .await;
        *into.borrow_mut() = Some(r);
    }));
    page.settle();
    let first = page.answer("/account/~", status(401, r#"{"errorCode":"TokenInvalid"}"#));
    assert_eq!(bearer(&first), "AT0");
    assert_eq!(
        *fake.0.locks.borrow(),
        [format!("acquire {}", grant_lock())]
    );
    page.signal(Signal::LockGranted);
    page.answer("/oauth/token", tokens("AT1", "RT1", 3600));
    let retry = page.answer("/account/~", ok(serde_json::json!({"id": 1})));
    assert_eq!(bearer(&retry), "AT1");
    assert_eq!(got.borrow().as_ref().unwrap().as_ref().unwrap()["id"], 1);
    assert!(page.requests().is_empty(), "one refresh, one retry");
}

#[test]
fn a_dropped_connection_on_a_refresh_keeps_the_session_and_retries_later() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    page.signal(Signal::LockGranted);
    page.answer(
        "/oauth/token",
        Err(ApiError::network(
            "http://127.0.0.1:5001",
            "connection reset",
        )),
    );
    let view = page.view();
    assert_eq!(view.phase, Phase::Refreshing);
    assert!(view.problem.is_some());
    assert!(page.stored(Area::Tokens, keys::SESSION).is_some(), "kept");
    assert_eq!(fake.0.wake_in.get(), Some(1_000), "first backoff step");
    // The same with a failure whose server answered the probe (once, it proves nothing).
    fake.0.now.set(Some(T0.plus_secs(1)));
    page.signal(Signal::Wake);
    page.signal(Signal::LockGranted);
    page.answer("/oauth/token", Err(ApiError::cors("http://127.0.0.1:5001")));
    let view = page.view();
    assert!(view.facts.is_some(), "still signed in");
    assert_eq!(view.problem.unwrap().kind, ErrorKind::Network);
}

#[test]
fn another_tabs_tokens_are_adopted_and_stored_without_a_request() {
    let fake = signed_in_tab("AT0", 600);
    let mut page = load(&fake, "http://localhost:5000/account");
    let newer = StoredSession {
        generation: 1,
        ..decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap()
    };
    page.signal(Signal::FromOtherTab(Box::new(Broadcast::Tokens(newer))));
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.generation, 1);
    assert!(page.requests().is_empty());
    page.signal(Signal::FromOtherTab(Box::new(Broadcast::SignedOut {
        grant_id: "grant-1".into(),
    })));
    assert!(page.stored(Area::Tokens, keys::SESSION).is_none());
    assert_eq!(page.view().phase, Phase::SignedOut);
}

#[test]
fn a_session_storage_refuses_to_keep_is_reported() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    let full = StorageError::QuotaExceeded {
        kind: StoreKind::Session,
    };
    let before = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    *fake.0.refuse_writes.borrow_mut() = Some((Area::Tokens, full.clone()));
    page.signal(Signal::LockGranted);
    page.answer("/oauth/token", tokens("AT1", "RT1", 3600));
    assert_eq!(page.view().storage_problem, Some(full.clone()));
    assert_eq!(page.view().phase, Phase::SignedIn, "the tab carries on");
    // The stored record still held RT0, which the server has just replaced: a reload must not
    // find it (it would present a superseded refresh token).
    assert_eq!(page.stored(Area::Tokens, keys::SESSION), None);
    assert_eq!(page.view().notice, Some(Notice::SessionNotSaved(full)));
    // Once a write works again, the tokens are saved and the notice goes.
    *fake.0.refuse_writes.borrow_mut() = None;
    let newer = StoredSession {
        generation: 2,
        ..before
    };
    page.signal(Signal::FromOtherTab(Box::new(Broadcast::Tokens(newer))));
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(stored.generation, 2);
    assert_eq!(page.view().notice, None);
}

#[test]
fn a_bare_redirect_uri_in_a_signed_in_tab_is_left_alone() {
    let fake = signed_in_tab("AT0", 600);
    let page = load(&fake, CALLBACK);
    assert!(!fake.0.cleaned.get());
    assert_eq!(page.view().phase, Phase::SignedIn);
    assert!(page.view().notice.is_none());
}

#[test]
fn a_session_the_server_ended_still_says_why_after_a_reload() {
    let fake = signed_in_tab("AT0", -1);
    let mut page = load(&fake, "http://localhost:5000/account");
    page.signal(Signal::LockGranted);
    page.answer(
        "/oauth/token",
        status(
            400,
            r#"{"error":"invalid_grant","error_description":"Token is revoked"}"#,
        ),
    );
    assert_eq!(page.view().phase, Phase::SignedOut);
    assert!(page.stored(Area::Tokens, keys::SESSION).is_none());
    assert!(page.stored(Area::Pending, keys::ENDED).is_some());
    // The reload: a new page on the same tab's storage.
    let page = load(&fake, APP);
    let notice = page.view().notice.expect("the reason is shown again");
    assert!(matches!(notice, Notice::SessionEnded(_)), "{notice:?}");
    page.driver.dismiss_notice();
    assert!(page.view().notice.is_none());
    assert!(
        page.stored(Area::Pending, keys::ENDED).is_none(),
        "dismissed for good"
    );
    let page = load(&fake, APP);
    assert!(page.view().notice.is_none());
}

/// Issue 16: a stored session of another server (Settings changed, `config.json` redeployed) was
/// refreshed at the server configured now. Now the only request is its revocation, at the server
/// it came from, and the user is told.
#[test]
fn a_stored_session_of_another_server_is_revoked_there_and_nothing_goes_to_this_one() {
    let fake = signed_in_tab("AT0", -1);
    let text = fake.0.storage.borrow()[&(Area::Tokens, keys::SESSION.to_string())].clone();
    let mut other = decode_session(&text).unwrap();
    other.binding.token_endpoint = "http://127.0.0.1:5999/restapi/oauth/token".into();
    other.binding.revoke_endpoint = "http://127.0.0.1:5999/restapi/oauth/revoke".into();
    fake.store(Area::Tokens, keys::SESSION, &encode_session(&other))
        .unwrap();
    let mut page = load(&fake, "http://localhost:5000/account");
    assert_eq!(
        page.requests(),
        [(
            "POST",
            "http://127.0.0.1:5999/restapi/oauth/revoke".to_string()
        )]
    );
    assert!(page.stored(Area::Tokens, keys::SESSION).is_none());
    let revoke = page.answer("/oauth/revoke", ok(serde_json::json!({})));
    assert_eq!(form(&revoke)["token"], "RT0");
    let view = page.view();
    assert_eq!(view.phase, Phase::SignedOut);
    assert!(matches!(
        view.notice,
        Some(Notice::SessionOfAnotherServer {
            revoke: rc_pkce_core::session::RevokeStatus::Confirmed,
            ..
        })
    ));
}

#[test]
fn the_inspector_records_reads_and_the_revoke_with_their_tokens_masked() {
    let access = "AT-a-long-access-token-0123456789";
    let refresh = "RT-a-long-refresh-token-0123456789";
    let fake = Fake::default();
    let mut page = come_back_with_a_code(&fake);
    page.answer("/oauth/token", tokens(access, refresh, 3600));
    page.answer("/extension/~", ok(serde_json::json!({"id": 7})));
    page.answer("/account/~", status(503, "{}"));
    let steps = page.seen.inspector.borrow().steps.clone();
    let kinds: Vec<_> = steps.iter().map(|s| s.kind).collect();
    use rc_pkce_core::inspector::StepKind::*;
    assert_eq!(
        kinds,
        [
            Pkce,
            Authorize,
            Callback,
            TokenRequest,
            TokenResponse,
            ApiRead,
            ApiRead
        ]
    );
    assert_eq!(
        steps[3].url.as_deref(),
        Some(TOKEN_URL),
        "found by its URL in Resource Timing"
    );
    for read in &steps[5..] {
        assert!(
            read.url
                .as_deref()
                .unwrap()
                .starts_with("http://127.0.0.1:5001/restapi/")
        );
        assert!(read.at.is_some());
        let fields = format!(
            "{:?}",
            read.fields.iter().map(|f| &f.value).collect::<Vec<_>>()
        );
        assert!(!fields.contains(access), "{fields}");
        assert!(read.fields[0].secret);
    }
    assert_eq!(steps[5].fields[1].value, "200");
    assert_eq!(steps[6].fields[1].value, "503");

    page.driver.sign_out();
    page.settle();
    page.answer("/revoke", status(200, ""));
    // The page still shows the whole sign-in, its revoke last, with no secret left to reveal;
    // nothing of it stays in storage.
    let steps = page.seen.inspector.borrow().steps.clone();
    assert_eq!(steps.len(), 8, "{steps:?}");
    assert_eq!(steps[7].kind, Revoke);
    assert!(
        steps[7]
            .fields
            .iter()
            .any(|f| f.name == "token" && f.secret)
    );
    for f in steps.iter().flat_map(|s| &s.fields) {
        assert!(!f.secret || f.masked_only, "{f:?} can still be revealed");
    }
    let shown = format!(
        "{:?}",
        steps
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.value.clone()))
            .collect::<Vec<_>>()
    );
    assert!(
        !shown.contains(refresh) && !shown.contains(access),
        "{shown}"
    );
    assert_eq!(page.stored(Area::Tokens, keys::INSPECTOR), None);
}

/// The local sandbox with OpenID Connect on.
fn openid_config() -> AppConfig {
    parse_config(
        r#"{"client_id": "demo", "server": "http://127.0.0.1:5001", "issuer": "http://127.0.0.1:5001", "openid": true}"#,
        APP,
    )
    .expect("a valid config")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An ID token for the pending sign-in's nonce, signed (as far as the fake's verdict says) with
/// key `kid`.
fn id_token(nonce: &str, sub: &str) -> String {
    let now = T0.as_millis() / 1000;
    let header = serde_json::json!({"alg": "RS256", "kid": "k1"});
    let claims = serde_json::json!({
        "iss": "http://127.0.0.1:5001", "sub": sub, "aud": "demo", "iat": now,
        "exp": now + 3600, "nonce": nonce, "email": "jane@example.com",
    });
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(&[5; 256])
    )
}

fn jwks() -> Result<HttpResponse, ApiError> {
    ok(serde_json::json!({"keys": [
        {"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": b64(&[0xc5; 256]), "e": "AQAB"}
    ]}))
}

/// Back at the redirect URI from an OpenID sign-in; returns the page and the nonce sent.
fn come_back_openid(fake: &Fake) -> (Page, String) {
    let page = load_with(openid_config(), fake, APP);
    page.driver.sign_in();
    let navigated = fake.0.navigated.borrow().last().cloned().unwrap();
    assert!(navigated.contains("scope=openid"), "{navigated}");
    let pending = decode_pending(&page.stored(Area::Pending, keys::PENDING).unwrap()).unwrap();
    let nonce = pending
        .nonce
        .as_ref()
        .expect("a nonce")
        .expose()
        .to_string();
    assert!(navigated.contains(&format!("nonce={nonce}")));
    (
        load_with(openid_config(), fake, &callback_for(&pending)),
        nonce,
    )
}

impl Page {
    /// Gives the verdict on the oldest signature check; returns the key's `kid`.
    fn verdict(&mut self, result: Result<bool, String>) -> Option<String> {
        let (kid, reply) = self.fake.0.checks.borrow_mut().remove(0);
        let _ = reply.send(result);
        self.settle();
        kid
    }
}

fn id_token_answer(token: &str) -> Result<HttpResponse, ApiError> {
    ok(serde_json::json!({
        "access_token": "AT1", "token_type": "bearer", "expires_in": 3600,
        "refresh_token": "RT1", "refresh_token_expires_in": 604800,
        "scope": "openid", "owner_id": "101", "id_token": token,
    }))
}

#[test]
fn an_openid_sign_in_reads_nothing_before_its_id_token_is_verified() {
    let fake = Fake::default();
    let (mut page, nonce) = come_back_openid(&fake);
    page.answer("/oauth/token", id_token_answer(&id_token(&nonce, "101")));
    assert_eq!(
        page.requests(),
        [(
            "GET",
            "http://127.0.0.1:5001/restapi/oauth/jwks".to_string()
        )],
        "only the key set, without a token"
    );
    assert!(matches!(
        fake.0.sent.borrow()[0].request,
        Request::Public { .. }
    ));
    assert!(page.stored(Area::Tokens, keys::SESSION).is_none());
    assert_eq!(page.view().phase, Phase::Exchanging);
    page.answer("/oauth/jwks", jwks());
    assert!(page.requests().is_empty(), "still nothing read");
    assert_eq!(page.verdict(Ok(true)).as_deref(), Some("k1"));
    assert_eq!(page.view().phase, Phase::SignedIn);
    assert_eq!(page.view().identity.unwrap().sub, "101");
    assert_eq!(*page.seen.routes.borrow(), ["/account"]);
    assert_eq!(page.requests().len(), 2, "the account's reads start now");
    let stored = decode_session(&page.stored(Area::Tokens, keys::SESSION).unwrap()).unwrap();
    assert_eq!(
        stored.identity.unwrap().email.as_deref(),
        Some("jane@example.com")
    );

    // Userinfo: read with the access token, used only for the ID token's subject.
    for (sub, shown) in [("101", true), ("999", false)] {
        let driver = Rc::clone(&page.driver);
        let got = Rc::new(RefCell::new(None));
        let into = Rc::clone(&got);
        page.fake.spawn(Box::pin(async move {
            *into.borrow_mut() = Some(driver.userinfo().await);
        }));
        page.settle();
        let request = page.answer(
            "/oauth/userinfo",
            ok(serde_json::json!({"sub": sub, "email": "jane@example.com"})),
        );
        assert_eq!(bearer(&request), "AT1");
        let result = got.borrow_mut().take().unwrap();
        assert_eq!(result.is_ok(), shown, "{result:?}");
    }
}

#[test]
fn a_forged_id_token_signs_nobody_in_and_its_tokens_are_revoked() {
    let fake = Fake::default();
    let (mut page, nonce) = come_back_openid(&fake);
    page.answer("/oauth/token", id_token_answer(&id_token(&nonce, "101")));
    page.answer("/oauth/jwks", jwks());
    page.verdict(Ok(false));
    assert_eq!(page.view().phase, Phase::SignedOut);
    assert!(matches!(
        page.view().notice,
        Some(Notice::IdTokenRefused(_))
    ));
    assert_eq!(
        page.requests(),
        [(
            "POST",
            "http://127.0.0.1:5001/restapi/oauth/revoke".to_string()
        )],
        "no API call, only the revoke"
    );
    assert!(page.stored(Area::Tokens, keys::SESSION).is_none());
    assert!(page.seen.routes.borrow().is_empty());
}

#[test]
fn a_key_set_that_does_not_answer_is_asked_again_after_a_wait() {
    let fake = Fake::default();
    let (mut page, nonce) = come_back_openid(&fake);
    page.answer("/oauth/token", id_token_answer(&id_token(&nonce, "101")));
    page.answer(
        "/oauth/jwks",
        Err(ApiError::network(
            "http://127.0.0.1:5001",
            "connection reset",
        )),
    );
    assert!(page.requests().is_empty());
    assert_eq!(page.view().phase, Phase::Exchanging);
    assert!(page.view().problem.is_some() && page.view().retry_at.is_some());
    let wait = fake.0.wake_in.get().expect("a wake-up is set");
    fake.0.now.set(Some(T0.plus_millis(wait)));
    page.signal(Signal::Wake);
    page.answer("/oauth/jwks", jwks());
    page.verdict(Ok(true));
    assert_eq!(page.view().phase, Phase::SignedIn);
}
