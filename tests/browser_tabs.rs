#![cfg(target_arch = "wasm32")]
//! Cross-tab coordination in Chromium with the real BroadcastChannel and Web Locks. Two `Tabs`
//! instances in one page stand in for two tabs: a BroadcastChannel delivers to every other object
//! of the same name, in the same page too. They find each other for the same grant, pass sign-outs
//! and tokens only for their own grant, and the per-grant lock admits one holder at a time.
//!
//! Each test uses its own grant IDs, so instances left from earlier tests in this page (their
//! channels stay open) cannot interfere.

use std::cell::RefCell;
use std::rc::Rc;

use rc_pkce::browser::tabs::{Support, TabEvent, Tabs};
use rc_pkce_core::Timestamp;
use rc_pkce_core::record::encode_session;
use rc_pkce_core::secret::{AccessToken, RefreshToken};
use rc_pkce_core::session::{Broadcast, StoredSession};
use rc_pkce_core::token::TokenSet;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

type Log = Rc<RefCell<Vec<String>>>;

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Waits until `done` holds, for at most `ms`; returns whether it did.
async fn wait_for(ms: i32, done: impl Fn() -> bool) -> bool {
    for _ in 0..ms / 10 {
        if done() {
            return true;
        }
        sleep(10).await;
    }
    done()
}

/// A `Tabs` whose events are written to `log` as text, prefixed with `name`.
fn tab(name: &str, log: &Log) -> Rc<Tabs> {
    let log = Rc::clone(log);
    let name = name.to_string();
    let id = format!("{name}-{}", js_sys::Math::random());
    Tabs::new(
        id,
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

fn session(grant: &str, generation: u64, access: &str) -> StoredSession {
    StoredSession {
        grant_id: grant.into(),
        generation,
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
        },
    }
}

fn hold(tabs: &Tabs, grant: &str, generation: u64) {
    let s = session(grant, generation, &format!("at-{grant}-{generation}"));
    tabs.set_grant(Some((grant.into(), generation, encode_session(&s))));
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
    a.acquire(&grant, move || l.borrow_mut().push("a: locked".into()));
    assert!(wait_for(3000, || has(&log, "a: locked")).await);

    let l = Rc::clone(&log);
    b.acquire(&grant, move || l.borrow_mut().push("b: locked".into()));
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
    a.acquire(&format!("grant-x-{suffix}"), move || {
        l.borrow_mut().push("a: locked".into())
    });
    let l = Rc::clone(&log);
    b.acquire(&format!("grant-y-{suffix}"), move || {
        l.borrow_mut().push("b: locked".into())
    });
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
    a.acquire(&grant, move || l.borrow_mut().push("a: locked".into()));
    assert!(wait_for(3000, || has(&log, "a: locked")).await);
    let l = Rc::clone(&log);
    b.acquire(&grant, move || l.borrow_mut().push("b: locked".into()));
    // b gives up while waiting.
    b.release();
    a.release();

    // The lock comes free again: b handed it straight back without running its callback.
    let l = Rc::clone(&log);
    a.acquire(&grant, move || {
        l.borrow_mut().push("a: locked again".into())
    });
    assert!(
        wait_for(3000, || has(&log, "a: locked again")).await,
        "{:?}",
        log.borrow()
    );
    a.release();
    assert!(!has(&log, "b: locked"), "{:?}", log.borrow());
}
