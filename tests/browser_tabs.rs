#![cfg(target_arch = "wasm32")]
//! Cross-tab coordination in Chromium with the real BroadcastChannel and Web Locks. Two `Tabs`
//! instances in one page stand in for two tabs: a BroadcastChannel delivers to every other object
//! of the same name, in the same page too. They find each other for the same grant, pass sign-outs
//! and tokens only for their own grant, and the per-grant lock admits one holder at a time.
//!
//! Each test uses its own grant IDs, so instances left from earlier tests in this page (their
//! channels stay open) cannot interfere. A grant's session key is derived from its ID here, so
//! the tabs of one grant share it, as duplicated tabs do.

mod common;

use common::{sleep, wait_for};
use std::cell::RefCell;
use std::rc::Rc;

use rc_pkce::browser::tabs::{Support, TabEvent, Tabs};
use rc_pkce_core::Timestamp;
use rc_pkce_core::binding::ServerBinding;
use rc_pkce_core::pkce::sha256;
use rc_pkce_core::secret::{AccessToken, RefreshToken};
use rc_pkce_core::session::{Broadcast, StoredSession};
use rc_pkce_core::tabs::{Body, Codec, Message, TabKey};
use rc_pkce_core::token::TokenSet;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

type Log = Rc<RefCell<Vec<String>>>;

/// A `Tabs` whose events are written to `log` as text, prefixed with `name`.
fn tab(name: &str, log: &Log) -> Rc<Tabs> {
    tab_sharing(name, true, log)
}

/// [`tab`], with tokens kept in memory (`shared` false) or in `sessionStorage`.
fn tab_sharing(name: &str, shared: bool, log: &Log) -> Rc<Tabs> {
    let log = Rc::clone(log);
    let name = name.to_string();
    let id = format!("{name}-{}", js_sys::Math::random());
    Tabs::new(
        id,
        shared,
        Rc::new(move |event| {
            let text = match event {
                TabEvent::PeersChanged => "peers".to_string(),
                TabEvent::Broadcast(b) => match *b {
                    Broadcast::SignedOut { grant_id } => format!("signed-out {grant_id}"),
                    Broadcast::Tokens(s) => format!(
                        "tokens {} {} {}",
                        s.grant_id,
                        s.generation,
                        s.tokens.access_token.expose()
                    ),
                },
            };
            log.borrow_mut().push(format!("{name}: {text}"));
        }),
    )
}

fn key_of(grant: &str) -> TabKey {
    TabKey::from_bytes(sha256(format!("browser test key {grant}").as_bytes()))
}

fn session(grant: &str, generation: u64, access: &str) -> StoredSession {
    StoredSession {
        grant_id: grant.into(),
        generation,
        tab_key: key_of(grant),
        binding: ServerBinding::default(),
        tokens: TokenSet {
            access_token: AccessToken::new(access),
            issued_at: Timestamp::from_secs(1_800_000_000),
            expires_in: Some(3600),
            expires_at: Some(Timestamp::from_secs(1_800_003_600)),
            refresh_token: Some(RefreshToken::new(format!("rt-{access}"))),
            refresh_expires_in: None,
            refresh_expires_at: None,
            scope: None,
            owner_id: None,
            endpoint_id: None,
            id_token: None,
        },
        identity: None,
    }
}

fn hold(tabs: &Rc<Tabs>, grant: &str, generation: u64) {
    let s = session(grant, generation, &format!("at-{grant}-{generation}"));
    tabs.set_grant(Some(&s));
}

fn has(log: &Log, line: &str) -> bool {
    log.borrow().iter().any(|l| l == line)
}

#[wasm_bindgen_test]
fn chromium_supports_shared_sessions() {
    let log = Log::default();
    let t = tab("a", &log);
    assert_eq!(t.support(), Support::Shared);
}

#[wasm_bindgen_test]
fn sharing_count_is_zero_without_a_grant_and_one_with_it() {
    let log = Log::default();
    let t = tab("a", &log);
    assert_eq!(t.sharing_count(), 0);
    hold(&t, "grant-count", 1);
    assert_eq!(t.sharing_count(), 1);
    t.set_grant(None);
    assert_eq!(t.sharing_count(), 0);
}

#[wasm_bindgen_test]
async fn two_tabs_of_one_grant_find_each_other() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    hold(&a, "grant-peers", 1);
    // b announces itself; a answers.
    hold(&b, "grant-peers", 1);
    assert!(
        wait_for(3000, || a.sharing_count() == 2 && b.sharing_count() == 2).await,
        "a sees {}, b sees {}",
        a.sharing_count(),
        b.sharing_count()
    );
    assert!(has(&log, "a: peers"), "{:?}", log.borrow());
    assert!(has(&log, "b: peers"), "{:?}", log.borrow());

    // A tab of another grant is not counted.
    let c = tab("c", &log);
    hold(&c, "grant-peers-other", 1);
    sleep(100).await;
    assert_eq!(a.sharing_count(), 2);
    assert_eq!(c.sharing_count(), 1);
}

#[wasm_bindgen_test]
async fn a_sign_out_reaches_the_other_tab_of_the_same_grant_only() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    hold(&a, "grant-out", 1);
    hold(&b, "grant-out", 1);

    // Messages from one sender arrive in order: once the second is in, the first was handled.
    a.publish(&Broadcast::SignedOut {
        grant_id: "grant-out-elsewhere".into(),
    });
    a.publish(&Broadcast::SignedOut {
        grant_id: "grant-out".into(),
    });
    assert!(
        wait_for(3000, || has(&log, "b: signed-out grant-out")).await,
        "{:?}",
        log.borrow()
    );
    let log = log.borrow();
    assert!(
        !log.iter().any(|l| l.contains("grant-out-elsewhere")),
        "{log:?}"
    );
    // The sender does not hear itself.
    assert!(
        !log.iter().any(|l| l.starts_with("a: signed-out")),
        "{log:?}"
    );
}

#[wasm_bindgen_test]
async fn published_tokens_reach_the_other_tab_of_the_same_grant_only() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    hold(&a, "grant-tokens", 1);
    hold(&b, "grant-tokens", 1);

    a.publish(&Broadcast::Tokens(session(
        "grant-tokens-other",
        9,
        "at-other",
    )));
    a.publish(&Broadcast::Tokens(session("grant-tokens", 2, "at-fresh")));
    assert!(
        wait_for(3000, || has(&log, "b: tokens grant-tokens 2 at-fresh")).await,
        "{:?}",
        log.borrow()
    );
    assert!(!log.borrow().iter().any(|l| l.contains("at-other")));
}

#[wasm_bindgen_test]
async fn a_tab_without_a_grant_ignores_broadcasts() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    let c = tab("c", &log);
    hold(&a, "grant-idle", 1);
    hold(&c, "grant-idle", 1);
    // b holds no grant.
    a.publish(&Broadcast::SignedOut {
        grant_id: "grant-idle".into(),
    });
    assert!(wait_for(3000, || has(&log, "c: signed-out grant-idle")).await);
    assert!(
        !log.borrow().iter().any(|l| l.starts_with("b:")),
        "{:?}",
        log.borrow()
    );
    assert_eq!(b.sharing_count(), 0);
}

#[wasm_bindgen_test]
async fn the_grant_lock_admits_one_tab_at_a_time() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    let grant = format!("grant-lock-{}", js_sys::Math::random());

    let l = Rc::clone(&log);
    a.acquire(
        &grant,
        || (),
        move || l.borrow_mut().push("a: locked".into()),
    );
    assert!(wait_for(3000, || has(&log, "a: locked")).await);

    let l = Rc::clone(&log);
    b.acquire(
        &grant,
        || (),
        move || l.borrow_mut().push("b: locked".into()),
    );
    // b waits while a holds the lock.
    sleep(300).await;
    assert!(!has(&log, "b: locked"), "{:?}", log.borrow());

    log.borrow_mut().push("a: release".into());
    a.release();
    assert!(wait_for(3000, || has(&log, "b: locked")).await);
    b.release();
    assert_eq!(
        *log.borrow(),
        ["a: locked", "a: release", "b: locked"],
        "lock order"
    );
}

#[wasm_bindgen_test]
async fn locks_of_different_grants_do_not_block_each_other() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    let suffix = js_sys::Math::random();

    let l = Rc::clone(&log);
    a.acquire(
        &format!("grant-x-{suffix}"),
        || (),
        move || l.borrow_mut().push("a: locked".into()),
    );
    let l = Rc::clone(&log);
    b.acquire(
        &format!("grant-y-{suffix}"),
        || (),
        move || l.borrow_mut().push("b: locked".into()),
    );
    assert!(
        wait_for(3000, || has(&log, "a: locked") && has(&log, "b: locked")).await,
        "{:?}",
        log.borrow()
    );
    a.release();
    b.release();
}

#[wasm_bindgen_test]
async fn releasing_before_the_lock_arrives_gives_it_back_unused() {
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    let grant = format!("grant-cancel-{}", js_sys::Math::random());

    let l = Rc::clone(&log);
    a.acquire(
        &grant,
        || (),
        move || l.borrow_mut().push("a: locked".into()),
    );
    assert!(wait_for(3000, || has(&log, "a: locked")).await);
    let l = Rc::clone(&log);
    b.acquire(
        &grant,
        || (),
        move || l.borrow_mut().push("b: locked".into()),
    );
    // b gives up while waiting.
    b.release();
    a.release();

    // The lock comes free again: b handed it straight back without running its callback.
    let l = Rc::clone(&log);
    a.acquire(
        &grant,
        || (),
        move || l.borrow_mut().push("a: locked again".into()),
    );
    assert!(
        wait_for(3000, || has(&log, "a: locked again")).await,
        "{:?}",
        log.borrow()
    );
    a.release();
    assert!(!has(&log, "b: locked"), "{:?}", log.borrow());
}

/// Takes the Web Lock `name` the way another page of the origin can (it sees the name in
/// `navigator.locks.query()`) and holds it until [`let_go`] is called.
async fn squat(name: &str) {
    let take = js_sys::Function::new_with_args(
        "name",
        "return new Promise(held => navigator.locks.request(name, () => \
           new Promise(free => { (window.squatted ||= {})[name] = free; held(); })));",
    );
    let promise = take.call1(&JsValue::NULL, &name.into()).unwrap();
    JsFuture::from(js_sys::Promise::from(promise))
        .await
        .unwrap();
}

fn let_go(name: &str) {
    let free = js_sys::Function::new_with_args("name", "window.squatted[name]();");
    free.call1(&JsValue::NULL, &name.into()).unwrap();
}

/// The names of the lock requests waiting in this origin's queue.
async fn pending_locks() -> Vec<String> {
    let query = js_sys::Function::new_no_args(
        "return navigator.locks.query().then(s => s.pending.map(l => l.name));",
    );
    let names = JsFuture::from(js_sys::Promise::from(query.call0(&JsValue::NULL).unwrap()))
        .await
        .unwrap();
    js_sys::Array::from(&names)
        .iter()
        .filter_map(|n| n.as_string())
        .collect()
}

/// Issue 16: another page of the origin can hold a refresh lock forever. When the session gives
/// up waiting, its request leaves the queue (a lock freed later is not taken for a refresh that
/// went ahead without it), and a later request is served on its own.
#[wasm_bindgen_test]
async fn a_request_given_up_leaves_the_lock_queue() {
    let log = Log::default();
    let a = tab("a", &log);
    let name = format!("lock-squatted-{}", js_sys::Math::random());
    squat(&name).await;

    let (l, t) = (Rc::clone(&log), Rc::clone(&log));
    a.acquire(
        &name,
        move || t.borrow_mut().push("a: taken (first)".into()),
        move || l.borrow_mut().push("a: locked (first)".into()),
    );
    sleep(100).await;
    assert_eq!(
        pending_locks().await.iter().filter(|n| **n == name).count(),
        1
    );
    a.release();
    sleep(100).await;
    assert!(
        !pending_locks().await.contains(&name),
        "still queued after the release"
    );

    // Asked again, and the squatter lets go: only the new request is served.
    let (l, t) = (Rc::clone(&log), Rc::clone(&log));
    a.acquire(
        &name,
        move || t.borrow_mut().push("a: taken (second)".into()),
        move || l.borrow_mut().push("a: locked (second)".into()),
    );
    sleep(100).await;
    assert!(!has(&log, "a: locked (second)"), "{:?}", log.borrow());
    let_go(&name);
    assert!(
        wait_for(3000, || has(&log, "a: locked (second)")).await,
        "{:?}",
        log.borrow()
    );
    assert!(!has(&log, "a: locked (first)"), "{:?}", log.borrow());
    // The lock is reported taken first, then (no grant held, so no ask) ready.
    assert_eq!(
        *log.borrow(),
        ["a: taken (second)", "a: locked (second)"],
        "{:?}",
        log.borrow()
    );
    a.release();
}

/// A page of the same origin that is not a tab of the session (another app on `USER.github.io`,
/// an injected frame): it listens on every name it can guess and posts what a tab would.
struct Stranger {
    heard: Log,
    channels: Vec<web_sys::BroadcastChannel>,
}

impl Stranger {
    fn on(names: &[String]) -> Self {
        let heard = Log::default();
        let channels = names
            .iter()
            .map(|name| {
                let ch = web_sys::BroadcastChannel::new(name).unwrap();
                let h = Rc::clone(&heard);
                let name = name.clone();
                let cb = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::MessageEvent)>::new(
                    move |e: web_sys::MessageEvent| {
                        let text = e.data().as_string().unwrap_or_default();
                        h.borrow_mut().push(format!("{name} {text}"));
                    },
                );
                ch.set_onmessage(Some(wasm_bindgen::JsCast::unchecked_ref(cb.as_ref())));
                cb.forget();
                ch
            })
            .collect();
        Self { heard, channels }
    }

    fn post(&self, text: &str) {
        for ch in &self.channels {
            ch.post_message(&text.into()).unwrap();
        }
    }
}

/// Issue 16: the channel name was fixed (`rc-pkce.tabs`) and messages were plain JSON, so any
/// page of the origin could read a tab's tokens (answer its heartbeat with an `ask`) and swap or
/// end its session (post `tokens` or `signed_out`). Now it hears nothing on the old name, and
/// even on the session's own channel (which it cannot learn) nothing it posts is taken.
#[wasm_bindgen_test]
async fn a_page_without_the_session_key_reads_nothing_and_changes_nothing() {
    let grant = format!("grant-stranger-{}", js_sys::Math::random());
    let key = key_of(&grant);
    let stranger = Stranger::on(&["rc-pkce.tabs".to_string(), key.channel_name(&grant)]);
    let log = Log::default();
    let a = tab("a", &log);
    let b = tab("b", &log);
    hold(&a, &grant, 1);
    hold(&b, &grant, 1);
    assert!(wait_for(3000, || a.sharing_count() == 2).await);

    // What a page without the key can post, on both names: the old plain JSON, and messages
    // signed with a key of its own.
    let forged = Message {
        grant: grant.clone(),
        from: "stranger".into(),
        body: Body::Tokens(Box::new(session(&grant, 7, "at-attacker"))),
    };
    let sign_out = Message {
        grant: grant.clone(),
        from: "stranger".into(),
        body: Body::SignedOut,
    };
    let ask = Message {
        grant: grant.clone(),
        from: "stranger".into(),
        body: Body::Ask { generation: 0 },
    };
    let wrong_key = Codec::new(&key_of("the stranger's own"));
    for m in [&forged, &sign_out, &ask] {
        let signed = wrong_key.encode(m);
        stranger.post(&signed);
        stranger.post(&signed[44..]);
    }
    sleep(300).await;
    let lines = log.borrow().clone();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("tokens") || l.contains("signed-out")),
        "{lines:?}"
    );
    assert_eq!(a.sharing_count(), 2, "the stranger is not counted");

    // The tabs' own traffic (hello, here, an answer to b's newer tokens) never used the old name.
    let before = stranger.heard.borrow().len();
    a.publish(&Broadcast::Tokens(session(&grant, 2, "at-fresh")));
    let fresh = format!("b: tokens {grant} 2 at-fresh");
    assert!(
        wait_for(3000, || has(&log, &fresh)).await,
        "{:?}",
        log.borrow()
    );
    let heard = stranger.heard.borrow();
    // Everything it heard came on the session's channel (it was told the name for this test),
    // and all of it signed; nothing on the old name.
    assert!(heard.len() > before, "{heard:?}");
    let own = format!("{} ", key.channel_name(&grant));
    for line in heard.iter() {
        let text = line.strip_prefix(&own).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(text.find('.'), Some(43), "{line}");
    }
}

/// Issue 16: memory mode announced its grant on the shared channel like session mode. A session
/// in one tab's memory has no other tab to share with: nothing is opened or said.
#[wasm_bindgen_test]
async fn with_tokens_in_memory_nothing_is_shared() {
    let grant = format!("grant-memory-{}", js_sys::Math::random());
    let stranger = Stranger::on(&[
        "rc-pkce.tabs".to_string(),
        key_of(&grant).channel_name(&grant),
    ]);
    let log = Log::default();
    let a = tab_sharing("a", false, &log);
    let b = tab("b", &log);
    assert_eq!(a.support(), Support::NotShared);
    hold(&b, &grant, 1);
    hold(&a, &grant, 1);
    a.publish(&Broadcast::SignedOut {
        grant_id: grant.clone(),
    });
    sleep(300).await;
    assert_eq!(b.sharing_count(), 1, "{:?}", log.borrow());
    assert!(
        !has(&log, &format!("b: signed-out {grant}")),
        "{:?}",
        log.borrow()
    );
    // b's own hello was heard on the session channel; a said nothing at all.
    assert!(
        !stranger
            .heard
            .borrow()
            .iter()
            .any(|t| t.contains("\"from\":\"a-")),
        "{:?}",
        stranger.heard.borrow()
    );
    // And its lock is granted at once, without Web Locks.
    let l = Rc::clone(&log);
    a.acquire(
        &key_of(&grant).lock_name(&grant, 0),
        || (),
        move || l.borrow_mut().push("a: locked".into()),
    );
    assert!(wait_for(1000, || has(&log, "a: locked")).await);
    a.release();
}
