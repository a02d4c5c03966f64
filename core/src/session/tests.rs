//! The session machine's tests: every rule driven event by event with a fake clock.

use super::*;
use crate::authorize::{AuthorizeRequest, start};
use crate::binding::BindingField;
use crate::error::{ErrorKind, parse_error_response};
use crate::random::testing::SeededEntropy;
use crate::token::parse_token_response;
use crate::url::{form_encode, parse_query};

const T0: Timestamp = Timestamp::from_secs(1_800_000_000);
const CB: &str = "http://localhost:5000/oauth2callback";

/// The configuration the tests' sessions run with (no issuer required).
fn demo() -> ServerBinding {
    ServerBinding {
        client_id: "demo".into(),
        token_endpoint: "http://127.0.0.1:5001/restapi/oauth/token".into(),
        revoke_endpoint: "http://127.0.0.1:5001/restapi/oauth/revoke".into(),
        api_base: "http://127.0.0.1:5001/restapi/v1.0".into(),
        issuer: None,
        iss_optional: false,
    }
}

/// The tab key of the tests' stored sessions.
fn key() -> crate::tab_key::TabKey {
    crate::tab_key::TabKey::from_bytes([9; crate::tab_key::TAB_KEY_BYTES])
}

fn tokens(now: Timestamp, access_ttl: u64, refresh: Option<(&str, u64)>) -> TokenSet {
    let mut body = serde_json::json!({"access_token": format!("AT{}", now.as_millis()), "token_type": "bearer", "expires_in": access_ttl, "scope": "ReadAccounts", "owner_id": "101"});
    if let Some((rt, ttl)) = refresh {
        body["refresh_token"] = rt.into();
        body["refresh_token_expires_in"] = ttl.into();
    }
    parse_token_response(body.to_string().as_bytes(), now).unwrap()
}

fn pending(seed: u64) -> (PendingAuthorization, String) {
    let r = AuthorizeRequest {
        endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
        client_id: "demo".into(),
        redirect_uri: CB.into(),
        ..Default::default()
    };
    let s = start(&r, &demo(), &mut SeededEntropy(seed), T0).unwrap();
    (s.pending, s.url)
}

fn callback_url(pairs: &[(&str, &str)]) -> String {
    format!("{CB}?{}", form_encode(pairs.iter().copied()))
}

/// A session that has just exchanged a code; returns it with the id-bearing effects drained.
fn signed_in(access_ttl: u64, refresh_ttl: u64) -> Session {
    let mut s = Session::new(demo());
    let (p, _) = pending(1);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    let id = post_id(&fx).unwrap();
    s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(T0, access_ttl, Some(("RT0", refresh_ttl)))),
        },
        T0,
    );
    assert_eq!(s.phase(), Phase::SignedIn);
    s
}

fn post_id(fx: &[Effect]) -> Option<u64> {
    fx.iter().find_map(|e| match e {
        Effect::PostToken { id, .. } => Some(*id),
        _ => None,
    })
}

fn post_body(fx: &[Effect]) -> Option<Vec<(String, String)>> {
    fx.iter().find_map(|e| match e {
        Effect::PostToken { body, .. } => Some(parse_query(body.expose())),
        _ => None,
    })
}

fn wake(fx: &[Effect]) -> Option<Timestamp> {
    fx.iter().rev().find_map(|e| match e {
        Effect::WakeAt(t) => Some(*t),
        _ => None,
    })
}

fn has(fx: &[Effect], f: impl Fn(&Effect) -> bool) -> bool {
    fx.iter().any(f)
}

fn err(status: u16, body: &str, retry_after: Option<&str>) -> ApiError {
    parse_error_response(status, retry_after, body.as_bytes(), T0)
}

/// A first 401 for `call`, made with tokens of `generation`.
fn unauthorized(call: CallId, generation: u64) -> Event {
    Event::ApiUnauthorized {
        call,
        generation,
        retried: false,
        error: err(401, "", None),
    }
}

/// Answers token request `id` at `at` with fresh tokens whose refresh token is `rt`.
fn answer(s: &mut Session, id: u64, at: Timestamp, rt: &str) -> Vec<Effect> {
    s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(at, 3600, Some((rt, 604800)))),
        },
        at,
    )
}

/// Runs a refresh through the lock to its POST; returns the request id.
fn refresh_via_lock(s: &mut Session, now: Timestamp, fx: &[Effect]) -> u64 {
    assert!(
        has(fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })),
        "{fx:?}"
    );
    let fx = s.handle(Event::RefreshLockGranted, now);
    post_id(&fx).expect("refresh POST after the lock")
}

#[test]
fn sign_in_stores_pending_then_navigates() {
    let mut s = Session::new(demo());
    let (p, url) = pending(2);
    let fx = s.handle(
        Event::SignInStarted {
            pending: p,
            url: url.clone(),
        },
        T0,
    );
    assert_eq!(s.phase(), Phase::Authorizing);
    assert!(matches!(&fx[0], Effect::StorePending(_)), "{fx:?}");
    assert!(
        !has(&fx, |e| matches!(e, Effect::Navigate(_))),
        "not before it is stored"
    );
    // Only once the record is stored does the tab leave for the authorize page.
    let fx = s.handle(Event::PendingStored(Ok(())), T0);
    assert!(
        matches!(fx.as_slice(), [Effect::Navigate(u)] if *u == url),
        "{fx:?}"
    );
    assert_eq!(s.phase(), Phase::Authorizing);
}

#[test]
fn a_pending_record_storage_refuses_keeps_the_tab_here_and_says_why() {
    let mut s = Session::new(demo());
    let (p, url) = pending(2);
    s.handle(Event::SignInStarted { pending: p, url }, T0);
    let full = StorageError::QuotaExceeded {
        kind: crate::storage::StoreKind::Session,
    };
    let fx = s.handle(Event::PendingStored(Err(full.clone())), T0);
    assert!(fx.is_empty(), "no navigation without the record: {fx:?}");
    assert_eq!(s.phase(), Phase::SignedOut);
    assert_eq!(s.storage_problem(), Some(&full));
    // The next attempt starts clean.
    let (p, url) = pending(3);
    s.handle(Event::SignInStarted { pending: p, url }, T0);
    assert_eq!(s.storage_problem(), None);
    // A late confirmation navigates only once.
    assert!(!s.handle(Event::PendingStored(Ok(())), T0).is_empty());
    assert!(s.handle(Event::PendingStored(Ok(())), T0).is_empty());
}

#[test]
fn a_refused_navigation_or_missing_randomness_is_fatal_and_ends_the_attempt() {
    let mut s = Session::new(demo());
    let (p, url) = pending(4);
    s.handle(Event::SignInStarted { pending: p, url }, T0);
    s.handle(Event::PendingStored(Ok(())), T0);
    s.handle(Event::BrowserFailed("navigation blocked".into()), T0);
    assert_eq!(s.phase(), Phase::SignedOut);
    assert_eq!(s.fatal(), Some("navigation blocked"));
    // A running session is not ended by it.
    let mut s = signed_in(3600, 604800);
    s.handle(Event::BrowserFailed("no randomness".into()), T0);
    assert!(s.is_signed_in());
    assert_eq!(s.fatal(), Some("no randomness"));
}

#[test]
fn which_page_loads_are_callbacks_to_handle() {
    let with = callback_url(&[("code", "C"), ("state", "S")]);
    assert!(handles_callback(true, &with, false));
    assert!(
        handles_callback(true, &with, true),
        "a replay is refused, with a reason"
    );
    assert!(
        handles_callback(true, CB, false),
        "a bare load says why nothing happened"
    );
    assert!(
        !handles_callback(true, CB, true),
        "a signed-in reload carries on"
    );
    assert!(!handles_callback(false, &with, false));
}

#[test]
fn good_callback_exchanges_the_code_with_the_verifier() {
    let mut s = Session::new(demo());
    let (p, _) = pending(3);
    let state = p.state.expose().to_string();
    let verifier = p.verifier.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "THE-CODE"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    assert_eq!(s.phase(), Phase::Exchanging);
    assert!(has(&fx, |e| matches!(e, Effect::ClearPending)));
    let body = post_body(&fx).unwrap();
    assert_eq!(
        body,
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), "THE-CODE".into()),
            ("redirect_uri".into(), CB.into()),
            ("code_verifier".into(), verifier),
            ("client_id".into(), "demo".into()),
        ]
    );
    let id = post_id(&fx).unwrap();
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(T0, 3600, Some(("RT", 604800)))),
        },
        T0,
    );
    assert_eq!(s.phase(), Phase::SignedIn);
    assert!(has(
        &fx,
        |e| matches!(e, Effect::StoreSession(st) if st.generation == 0 && !st.grant_id.is_empty())
    ));
    assert!(has(&fx, |e| matches!(e, Effect::ShowAccount)));
    assert_eq!(wake(&fx), Some(T0.plus_secs(3600 - 360)));
}

#[test]
fn forged_or_unknown_state_sends_nothing() {
    let mut s = Session::new(demo());
    let (p, _) = pending(4);
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", "forged")]),
            pending: Some(p),
        },
        T0,
    );
    assert!(post_id(&fx).is_none());
    assert!(
        has(&fx, |e| matches!(e, Effect::StorePending(_))),
        "the tab's own sign-in survives a forged callback"
    );
    assert_eq!(
        s.notice(),
        Some(&Notice::CallbackRejected(CallbackRejection::StateMismatch))
    );
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", "x")]),
            pending: None,
        },
        T0,
    );
    assert!(post_id(&fx).is_none());
    assert_eq!(
        s.notice(),
        Some(&Notice::CallbackRejected(
            CallbackRejection::NoPendingAuthorization
        ))
    );
    assert_eq!(s.phase(), Phase::SignedOut);
}

#[test]
fn replayed_callback_while_signed_in_sends_nothing_and_keeps_the_session() {
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", "old")]),
            pending: None,
        },
        T0.plus_secs(5),
    );
    assert!(post_id(&fx).is_none());
    assert!(!has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert!(s.is_signed_in());
    assert_eq!(s.notice(), Some(&Notice::AlreadySignedIn));
}

#[test]
fn denied_consent_is_reported() {
    let mut s = Session::new(demo());
    let (p, _) = pending(5);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[
                ("error", "access_denied"),
                ("error_description", "User denied"),
                ("state", &state),
            ]),
            pending: Some(p),
        },
        T0,
    );
    assert!(post_id(&fx).is_none());
    assert!(has(&fx, |e| matches!(e, Effect::ClearPending)));
    match s.notice() {
        Some(Notice::AuthorizationDenied(e)) => assert_eq!(e.kind, ErrorKind::AccessDenied),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exchange_retries_transient_errors_then_gives_up() {
    let mut s = Session::new(demo());
    let (p, _) = pending(6);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    let mut id = post_id(&fx).unwrap();
    let mut now = T0;
    for attempt in 1..MAX_EXCHANGE_ATTEMPTS {
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Err(err(503, "", None)),
            },
            now,
        );
        assert_eq!(s.phase(), Phase::Exchanging);
        let at = wake(&fx).unwrap();
        assert_eq!(at, now.plus_millis(backoff_ms(attempt, None)));
        assert!(s.problem().is_some());
        // Too early: nothing.
        assert!(post_id(&s.handle(Event::Tick, now)).is_none());
        now = at;
        let fx = s.handle(Event::Tick, now);
        assert_eq!(
            post_body(&fx).unwrap()[1],
            ("code".to_string(), "C".to_string()),
            "same code, same verifier"
        );
        id = post_id(&fx).unwrap();
    }
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(err(503, "", None)),
        },
        now,
    );
    assert_eq!(s.phase(), Phase::SignedOut);
    assert!(matches!(s.notice(), Some(Notice::ExchangeFailed(_))));
}

#[test]
fn exchange_invalid_grant_fails_at_once() {
    let mut s = Session::new(demo());
    let (p, _) = pending(7);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    let id = post_id(&fx).unwrap();
    let e = err(
        400,
        r#"{"error":"invalid_grant","errors":[{"errorCode":"OAU-108","message":"expired"}]}"#,
        None,
    );
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Err(e.clone()),
        },
        T0,
    );
    assert!(wake(&fx).is_none());
    assert_eq!(s.notice(), Some(&Notice::ExchangeFailed(e)));
}

#[test]
fn refresh_margin_rule() {
    let due = |ttl: u64| refresh_due_at(&tokens(T0, ttl, None)).unwrap();
    assert_eq!(due(3600), T0.plus_secs(3600 - 360), "10% of an hour");
    assert_eq!(due(120), T0.plus_secs(90), "at least 30 s");
    assert_eq!(
        due(40),
        T0.plus_secs(20),
        "at most half of a short lifetime"
    );
    assert_eq!(
        refresh_due_at(
            &parse_token_response(br#"{"access_token":"a","token_type":"bearer"}"#, T0).unwrap()
        ),
        None
    );
}

#[test]
fn refreshes_on_its_own_when_due_and_rotates() {
    let mut s = signed_in(3600, 604800);
    let due = s.refresh_due_at().unwrap();
    assert!(
        s.handle(Event::Tick, due.minus_millis(1))
            .iter()
            .all(|e| !matches!(e, Effect::AcquireRefreshLock { .. }))
    );
    let fx = s.handle(Event::Tick, due);
    assert_eq!(s.phase(), Phase::Refreshing);
    let id = refresh_via_lock(&mut s, due, &fx);
    let fx2 = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(due, 3600, Some(("RT1", 604800)))),
        },
        due,
    );
    assert_eq!(s.phase(), Phase::SignedIn);
    assert_eq!(s.current().unwrap().generation, 1);
    assert_eq!(
        s.current()
            .unwrap()
            .tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose(),
        "RT1"
    );
    assert!(has(
        &fx2,
        |e| matches!(e, Effect::StoreSession(st) if st.generation == 1)
    ));
    assert!(has(
        &fx2,
        |e| matches!(e, Effect::Publish(Broadcast::Tokens(st)) if st.generation == 1)
    ));
    assert!(has(&fx2, |e| matches!(e, Effect::ReleaseRefreshLock)));
    assert_eq!(wake(&fx2), Some(due.plus_secs(3600 - 360)));
}

#[test]
fn tokens_that_cannot_be_stored_remove_the_stale_record_and_say_a_reload_signs_out() {
    use crate::storage::{StorageError, StoreKind};
    let mut s = signed_in(3600, 604800);
    let due = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, due);
    let id = refresh_via_lock(&mut s, due, &fx);
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(due, 3600, Some(("RT1", 604800)))),
        },
        due,
    );
    assert!(has(&fx, |e| matches!(e, Effect::StoreSession(_))));
    let full = StorageError::QuotaExceeded {
        kind: StoreKind::Session,
    };
    let fx = s.handle(Event::SessionStored(Err(full.clone())), due);
    // Storage still holds RT0, which the server has replaced.
    assert!(
        has(&fx, |e| matches!(e, Effect::ForgetStoredSession)),
        "{fx:?}"
    );
    assert!(!has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert_eq!(s.phase(), Phase::SignedIn, "the tab goes on in memory");
    assert_eq!(s.notice(), Some(&Notice::SessionNotSaved(full)));
    // A later write that works makes the session survive a reload again.
    assert!(s.handle(Event::SessionStored(Ok(())), due).is_empty());
    assert_eq!(s.notice(), None);
    // Another notice is not taken away by a successful write.
    let mut signed_out = Session::new(demo());
    signed_out.handle(Event::EndedBefore(Notice::SessionExpired), due);
    signed_out.handle(Event::SessionStored(Ok(())), due);
    assert_eq!(signed_out.notice(), Some(&Notice::SessionExpired));
}

#[test]
fn refresh_body_uses_the_refresh_token_and_no_secret() {
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::RefreshRequested, T0.plus_secs(10));
    assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
    let fx = s.handle(Event::RefreshLockGranted, T0.plus_secs(10));
    let body = post_body(&fx).unwrap();
    assert_eq!(
        body,
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".into(), "RT0".into()),
            ("client_id".into(), "demo".into())
        ]
    );
}

#[test]
fn refresh_is_single_flight() {
    let mut s = signed_in(3600, 604800);
    let now = T0.plus_secs(10);
    let fx = s.handle(Event::RefreshRequested, now);
    assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
    // While waiting for the lock (short of the wait's limit): nothing more starts.
    for ev in [Event::RefreshRequested, Event::Tick] {
        let fx = s.handle(ev, now.plus_millis(LOCK_WAIT_LIMIT_MS - 1));
        assert!(
            !has(&fx, |e| matches!(
                e,
                Effect::AcquireRefreshLock { .. } | Effect::PostToken { .. }
            )),
            "{fx:?}"
        );
    }
    let fx = s.handle(Event::RefreshLockGranted, now);
    assert!(post_id(&fx).is_some());
    // While the POST is in flight: nothing more starts, and 401s queue up.
    let fx = s.handle(Event::RefreshRequested, now);
    assert!(fx.is_empty());
    let fx = s.handle(unauthorized(1, 0), now);
    assert!(fx.is_empty(), "{fx:?}");
    // A second grant of the lock (spurious) does not start a second POST.
    let fx = s.handle(Event::RefreshLockGranted, now);
    assert!(post_id(&fx).is_none());
}

#[test]
fn a_401_triggers_one_refresh_and_one_retry() {
    let mut s = signed_in(3600, 604800);
    let now = T0.plus_secs(100);
    let fx = s.handle(unauthorized(7, 0), now);
    let id = refresh_via_lock(&mut s, now, &fx);
    let fx = s.handle(unauthorized(8, 0), now);
    assert!(post_id(&fx).is_none(), "second 401 joins the same refresh");
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
        },
        now,
    );
    let retried: Vec<_> = fx
        .iter()
        .filter_map(|e| {
            if let Effect::RetryCall(c) = e {
                Some(*c)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(retried, vec![7, 8]);
    // The retry gets a 401 again: give up on that call, no new refresh.
    let fx = s.handle(
        Event::ApiUnauthorized {
            call: 7,
            generation: 1,
            retried: true,
            error: err(401, "", None),
        },
        now,
    );
    assert!(matches!(fx.as_slice(), [Effect::FailCall(7, _)]));
    assert!(s.is_signed_in());
}

#[test]
fn a_401_on_already_replaced_tokens_just_retries() {
    let mut s = signed_in(3600, 604800);
    let now = T0.plus_secs(10);
    let fx = s.handle(Event::RefreshRequested, now);
    let id = refresh_via_lock(&mut s, now, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
        },
        now,
    );
    let fx = s.handle(unauthorized(3, 0), now);
    assert!(matches!(fx.as_slice(), [Effect::RetryCall(3)]));
}

#[test]
fn invalid_grant_on_refresh_signs_out_with_the_reason() {
    let mut s = signed_in(3600, 604800);
    let now = T0.plus_secs(10);
    let fx = s.handle(unauthorized(1, 0), now);
    let id = refresh_via_lock(&mut s, now, &fx);
    let e = err(
        400,
        r#"{"error":"invalid_grant","error_description":"Token is revoked","errors":[{"errorCode":"OAU-213","message":"x"}]}"#,
        None,
    );
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Err(e.clone()),
        },
        now,
    );
    assert_eq!(s.phase(), Phase::SignedOut);
    assert!(s.current().is_none());
    assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert!(has(&fx, |e| matches!(e, Effect::FailCall(1, _))));
    assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
    assert_eq!(s.notice(), Some(&Notice::SessionEnded(e)));
}

#[test]
fn transient_refresh_errors_back_off_and_honour_retry_after() {
    let mut s = signed_in(3600, 604800);
    let mut now = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let mut id = refresh_via_lock(&mut s, now, &fx);
    let answers = [
        (err(503, "", None), 1_000),
        (ApiError::network("http://x", "offline"), 2_000),
        (err(429, "", Some("7")), 7_000),
        (err(429, "", None), 30_000),
        (err(502, "", None), 16_000),
        (err(500, "", None), 32_000),
        (err(500, "", None), 60_000),
        (err(500, "", None), 60_000),
    ];
    for (error, delay) in answers {
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Err(error),
            },
            now,
        );
        assert!(s.is_signed_in(), "the session survives transient errors");
        assert!(s.problem().is_some());
        assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
        assert_eq!(wake(&fx), Some(now.plus_millis(delay)));
        assert!(!has(
            &s.handle(Event::Tick, now.plus_millis(delay - 1)),
            |e| matches!(e, Effect::AcquireRefreshLock { .. })
        ));
        now = now.plus_millis(delay);
        let fx = s.handle(Event::Tick, now);
        id = refresh_via_lock(&mut s, now, &fx);
    }
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(now, 3600, Some(("RT1", 604800)))),
        },
        now,
    );
    assert!(s.problem().is_none());
    assert_eq!(s.retry_at(), None);
    assert_eq!(wake(&fx), Some(now.plus_secs(3240)));
}

#[test]
fn coming_back_from_the_authorize_page_allows_a_new_sign_in() {
    let mut s = Session::new(demo());
    let (p, url) = pending(20);
    s.handle(Event::SignInStarted { pending: p, url }, T0);
    assert_eq!(s.phase(), Phase::Authorizing);
    // Timers and visibility changes do not end the wait for the authorize page...
    s.handle(Event::Tick, T0.plus_secs(1));
    assert_eq!(s.phase(), Phase::Authorizing);
    // ...but the page shown again from the back/forward cache does.
    let fx = s.handle(Event::PageRestored, T0.plus_secs(5));
    assert_eq!(s.phase(), Phase::SignedOut);
    assert!(s.notice().is_none());
    assert!(
        !has(&fx, |e| matches!(e, Effect::ClearPending)),
        "finishing the sign-in ahead in history still works: {fx:?}"
    );

    // A signed-in session only checks its timers.
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::PageRestored, T0.plus_secs(1));
    assert!(s.is_signed_in());
    assert_eq!(wake(&fx), Some(T0.plus_secs(3240)));
    let fx = s.handle(Event::PageRestored, T0.plus_secs(3300));
    assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
}

#[test]
fn backoff_schedule() {
    assert_eq!(backoff_ms(1, None), 1_000);
    assert_eq!(backoff_ms(2, None), 2_000);
    assert_eq!(backoff_ms(6, None), 32_000);
    assert_eq!(backoff_ms(7, None), 60_000);
    assert_eq!(backoff_ms(u32::MAX, None), 60_000);
    assert_eq!(backoff_ms(1, Some(5)), 5_000);
    assert_eq!(backoff_ms(7, Some(120)), 120_000);
    assert_eq!(backoff_ms(1, Some(u64::MAX)), u64::MAX);
}

#[test]
fn refresh_token_expiry_ends_the_session_without_a_request() {
    let mut s = signed_in(3600, 7200);
    let fx = s.handle(Event::Tick, T0.plus_secs(7200));
    assert!(post_id(&fx).is_none());
    assert_eq!(s.phase(), Phase::SignedOut);
    assert_eq!(s.notice(), Some(&Notice::SessionExpired));
}

#[test]
fn without_a_refresh_token_the_session_ends_with_the_access_token() {
    let mut s = Session::new(demo());
    s.handle(
        Event::Restored {
            stored: Some(StoredSession {
                grant_id: "g".into(),
                generation: 0,
                tab_key: key(),
                binding: demo(),
                tokens: tokens(T0, 3600, None),
                identity: None,
            }),
            discarded: None,
        },
        T0,
    );
    assert!(s.is_signed_in());
    let fx = s.handle(Event::Tick, T0.plus_secs(3599));
    assert_eq!(wake(&fx), Some(T0.plus_secs(3600)));
    s.handle(Event::Tick, T0.plus_secs(3600));
    assert_eq!(s.notice(), Some(&Notice::NoRefreshToken));
}

#[test]
fn restore_of_an_expired_session_clears_it() {
    let mut s = Session::new(demo());
    let fx = s.handle(
        Event::Restored {
            stored: Some(StoredSession {
                grant_id: "g".into(),
                generation: 3,
                tab_key: key(),
                binding: demo(),
                tokens: tokens(T0, 3600, Some(("R", 60))),
                identity: None,
            }),
            discarded: None,
        },
        T0.plus_secs(61),
    );
    assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert_eq!(s.notice(), Some(&Notice::SessionExpired));
    let mut s = Session::new(demo());
    s.handle(
        Event::Restored {
            stored: None,
            discarded: Some("corrupted".into()),
        },
        T0,
    );
    assert_eq!(
        s.notice(),
        Some(&Notice::StoredRecordDiscarded("corrupted".into()))
    );
}

#[test]
fn restore_after_sleep_refreshes_overdue_tokens() {
    let mut s = Session::new(demo());
    let fx = s.handle(
        Event::Restored {
            stored: Some(StoredSession {
                grant_id: "g".into(),
                generation: 2,
                tab_key: key(),
                binding: demo(),
                tokens: tokens(T0, 3600, Some(("R", 604800))),
                identity: None,
            }),
            discarded: None,
        },
        T0.plus_secs(4000),
    );
    assert!(has(
        &fx,
        |e| matches!(e, Effect::AcquireRefreshLock { name } if *name == key().lock_name("g", 2))
    ));
}

#[test]
fn sign_out_revokes_clears_and_reports() {
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::SignOutRequested, T0.plus_secs(1));
    assert_eq!(s.phase(), Phase::SignedOut);
    assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert!(has(&fx, |e| matches!(
        e,
        Effect::Publish(Broadcast::SignedOut { .. })
    )));
    let body = fx
        .iter()
        .find_map(|e| {
            if let Effect::PostRevoke { endpoint, body } = e {
                assert_eq!(*endpoint, demo().revoke_endpoint);
                Some(parse_query(body.expose()))
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(body[0], ("token".to_string(), "RT0".to_string()));
    assert_eq!(
        body[1],
        ("token_type_hint".to_string(), "refresh_token".to_string())
    );
    assert_eq!(s.notice(), Some(&Notice::SignedOut(RevokeStatus::Pending)));
    s.handle(Event::RevokeFinished { result: Ok(()) }, T0);
    assert_eq!(
        s.notice(),
        Some(&Notice::SignedOut(RevokeStatus::Confirmed))
    );

    let mut s = signed_in(3600, 604800);
    s.handle(Event::SignOutRequested, T0);
    let offline = ApiError::network("http://x", "offline");
    s.handle(
        Event::RevokeFinished {
            result: Err(offline.clone()),
        },
        T0,
    );
    assert_eq!(
        s.notice(),
        Some(&Notice::SignedOut(RevokeStatus::LocalOnly(offline)))
    );
}

#[test]
fn tokens_arriving_after_sign_out_are_revoked_not_kept() {
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::RefreshRequested, T0);
    let id = refresh_via_lock(&mut s, T0, &fx);
    let fx = s.handle(Event::SignOutRequested, T0);
    assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(T0, 3600, Some(("LATE", 604800)))),
        },
        T0,
    );
    let body = fx
        .iter()
        .find_map(|e| {
            if let Effect::PostRevoke { endpoint, body } = e {
                assert_eq!(*endpoint, demo().revoke_endpoint);
                Some(parse_query(body.expose()))
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(body[0].1, "LATE");
    assert!(!has(&fx, |e| matches!(e, Effect::StoreSession(_))));
    assert!(s.current().is_none());
}

#[test]
fn another_tabs_tokens_are_adopted_without_a_request() {
    let mut s = signed_in(3600, 604800);
    let grant = s.current().unwrap().grant_id.clone();
    let tab_key = s.current().unwrap().tab_key.clone();
    let now = T0.plus_secs(3300);
    // This tab wants to refresh and waits for the lock...
    let fx = s.handle(Event::Tick, now);
    assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
    // ...meanwhile the lock holder publishes fresh tokens.
    let shared = StoredSession {
        grant_id: grant.clone(),
        generation: 1,
        tab_key: tab_key.clone(),
        binding: demo(),
        tokens: tokens(now, 3600, Some(("RT1", 604800))),
        identity: None,
    };
    let fx = s.handle(Event::FromOtherTab(Broadcast::Tokens(shared.clone())), now);
    assert!(has(
        &fx,
        |e| matches!(e, Effect::StoreSession(st) if *st == shared)
    ));
    assert_eq!(s.current(), Some(&shared));
    // Nothing left to do: the lock request is withdrawn, the next refresh is the new tokens'.
    assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
    assert_eq!(s.phase(), Phase::SignedIn);
    assert_eq!(wake(&fx), Some(now.plus_secs(3240)));
    // A grant that crossed the withdrawal is given back unused.
    let fx = s.handle(Event::RefreshLockGranted, now);
    assert!(post_id(&fx).is_none());
    assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
}

#[test]
fn older_or_foreign_broadcasts_are_ignored() {
    let mut s = signed_in(3600, 604800);
    let grant = s.current().unwrap().grant_id.clone();
    let tab_key = s.current().unwrap().tab_key.clone();
    let before = s.current().cloned();
    for msg in [
        Broadcast::Tokens(StoredSession {
            grant_id: grant.clone(),
            generation: 0,
            tab_key: tab_key.clone(),
            binding: demo(),
            tokens: tokens(T0, 60, None),
            identity: None,
        }),
        Broadcast::Tokens(StoredSession {
            grant_id: "other".into(),
            generation: 9,
            tab_key: tab_key.clone(),
            binding: demo(),
            tokens: tokens(T0, 60, None),
            identity: None,
        }),
        Broadcast::SignedOut {
            grant_id: "other".into(),
        },
    ] {
        assert!(s.handle(Event::FromOtherTab(msg), T0).is_empty());
    }
    assert_eq!(s.current().cloned(), before);
    let fx = s.handle(
        Event::FromOtherTab(Broadcast::SignedOut { grant_id: grant }),
        T0,
    );
    assert!(has(&fx, |e| matches!(e, Effect::ClearSession)));
    assert!(
        !has(&fx, |e| matches!(e, Effect::PostRevoke { .. })),
        "the other tab already revoked"
    );
    assert_eq!(s.notice(), Some(&Notice::SignedOutInAnotherTab));
}

#[test]
fn grant_ids_are_stable_per_sign_in_and_reveal_nothing() {
    let (a, _) = pending(10);
    let (b, _) = pending(11);
    assert_eq!(grant_id_for(&a, "C"), grant_id_for(&a, "C"));
    assert_ne!(grant_id_for(&a, "C"), grant_id_for(&b, "C"));
    assert_ne!(grant_id_for(&a, "C"), grant_id_for(&a, "D"));
    assert!(!grant_id_for(&a, "C").contains(&a.state.expose()[..8]));
}

/// Found by the simulator (issue 15): a tab duplicated on the authorize page carries a copy of
/// the pending record, and when the user approves in both tabs, the server makes two grants.
/// They must not share a grant id: tabs of one id share a lock, adopt each other's tokens, and a
/// sign-out in one signed the other out without revoking its own, still live, grant.
#[test]
fn two_approvals_of_one_duplicated_sign_in_are_two_grants() {
    let sign_in = |code: &str| {
        let mut s = Session::new(demo());
        let (p, _) = pending(20);
        let state = p.state.expose().to_string();
        let fx = s.handle(
            Event::CallbackReceived {
                url: callback_url(&[("code", code), ("state", &state)]),
                pending: Some(p),
            },
            T0,
        );
        let id = post_id(&fx).unwrap();
        s.handle(
            Event::TokenResponse {
                id,
                result: Ok(tokens(T0, 3600, Some(("RT", 604800)))),
            },
            T0,
        );
        s
    };
    let (mut a, mut b) = (sign_in("C1"), sign_in("C2"));
    let grant_a = a.current().unwrap().grant_id.clone();
    let grant_b = b.current().unwrap().grant_id.clone();
    assert_ne!(grant_a, grant_b);
    // Signing out of one leaves the other signed in.
    let fx = a.handle(Event::SignOutRequested, T0);
    let published = fx.iter().find_map(|e| match e {
        Effect::Publish(m) => Some(m.clone()),
        _ => None,
    });
    b.handle(Event::FromOtherTab(published.unwrap()), T0);
    assert!(b.is_signed_in());
    // The same callback replayed is the same grant (the id is stable per approval).
    assert_eq!(sign_in("C1").current().unwrap().grant_id, grant_a);
}

#[test]
fn inspector_steps_are_recorded_with_secrets_flagged() {
    let mut s = Session::new(demo());
    let (p, _) = pending(12);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    let steps: Vec<_> = fx
        .iter()
        .filter_map(|e| {
            if let Effect::Record(st) = e {
                Some(st)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(steps.len(), 2, "callback parameters and the token request");
}

mod early_exchange {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `accept_callback` (what the first-load module asks) sends exactly what the session sends, and nothing when the
        /// session sends nothing: whatever the callback carries, wherever it was tampered with.
        #[test]
        fn matches_what_a_signed_out_session_sends(
            seed in 0u64..1_000,
            code in "[A-Za-z0-9._~-]{0,40}",
            state_kind in 0u8..4,
            error in proptest::option::of("[a-z_]{1,20}"),
            iss in proptest::option::of(prop_oneof![Just("http://127.0.0.1:5001".to_string()), "[a-z:/.]{0,20}"]),
            expected in proptest::option::of(Just("http://127.0.0.1:5001".to_string())),
            later_secs in prop_oneof![Just(0u64), Just(60), Just(3_600)],
        ) {
            let (p, _) = pending(seed);
            let good = p.state.expose().to_string();
            let mut pairs: Vec<(&str, String)> = Vec::new();
            if !code.is_empty() {
                pairs.push(("code", code.clone()));
            }
            match state_kind {
                0 => pairs.push(("state", good.clone())),
                1 => pairs.push(("state", format!("{good}x"))),
                2 => {}
                _ => {
                    pairs.push(("state", good.clone()));
                    pairs.push(("state", good.clone()));
                }
            }
            if let Some(e) = &error {
                pairs.push(("error", e.clone()));
            }
            if let Some(i) = &iss {
                pairs.push(("iss", i.clone()));
            }
            let url = format!("{CB}?{}", form_encode(pairs.iter().map(|(k, v)| (*k, v.as_str()))));
            let now = T0.plus_secs(later_secs);
            let current = ServerBinding { issuer: expected, ..demo() };
            let early = match accept_callback(&url, Some(&p), &current, now) {
                CallbackVerdict::Exchange(x) => Some(x.request().form_body().expose().to_string()),
                _ => None,
            };
            let mut s = Session::new(current);
            s.handle(Event::Restored { stored: None, discarded: None }, now);
            let fx = s.handle(
                Event::CallbackReceived { url, pending: Some(p) },
                now,
            );
            let sent = fx.iter().find_map(|e| match e {
                Effect::PostToken { body, .. } => Some(body.expose().to_string()),
                _ => None,
            });
            prop_assert_eq!(early, sent);
        }
    }
}

/// Issue 15: a failed refresh whose server answered the probe (classified `Cors`) looked like a
/// CORS refusal and ended the session; on a flaky network one such failure proves nothing.
#[test]
fn a_blocked_or_unreadable_refresh_keeps_the_session_and_says_cors_only_when_it_repeats() {
    let mut s = signed_in(3600, 604800);
    let mut now = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let mut id = refresh_via_lock(&mut s, now, &fx);
    for round in 1..=policy::CORS_SUSPECT_AFTER {
        let fx = s.handle(
            Event::TokenResponse {
                id,
                result: Err(ApiError::cors("http://127.0.0.1:5001")),
            },
            now,
        );
        assert!(s.is_signed_in(), "round {round}: the session survives");
        assert!(!has(&fx, |e| matches!(e, Effect::ClearSession)));
        let shown = s.problem().unwrap();
        if round < policy::CORS_SUSPECT_AFTER {
            assert_eq!(shown.kind, ErrorKind::Network, "round {round}");
        } else {
            assert_eq!(shown.kind, ErrorKind::Cors, "round {round}");
        }
        now = s.retry_at().unwrap();
        let fx = s.handle(Event::Tick, now);
        id = refresh_via_lock(&mut s, now, &fx);
    }
    // A different failure in between starts the count again.
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(err(503, "", None)),
        },
        now,
    );
    now = s.retry_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    id = refresh_via_lock(&mut s, now, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(ApiError::cors("http://127.0.0.1:5001")),
        },
        now,
    );
    assert_eq!(s.problem().unwrap().kind, ErrorKind::Network);
    for error in [ApiError::bad_response(200, "not JSON"), err(404, "", None)] {
        now = s.retry_at().unwrap();
        let fx = s.handle(Event::Tick, now);
        id = refresh_via_lock(&mut s, now, &fx);
        s.handle(
            Event::TokenResponse {
                id,
                result: Err(error),
            },
            now,
        );
        assert!(s.is_signed_in());
    }
}

#[test]
fn signing_out_fails_the_calls_that_wait_for_a_refresh() {
    let mut s = signed_in(3600, 604800);
    let now = T0.plus_secs(10);
    let fx = s.handle(unauthorized(4, 0), now);
    refresh_via_lock(&mut s, now, &fx);
    let fx = s.handle(Event::SignOutRequested, now);
    assert!(has(&fx, |e| matches!(e, Effect::FailCall(4, _))), "{fx:?}");
    assert!(has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)));
}

#[test]
fn a_401_with_adopted_tokens_refreshes_them_under_their_own_lock() {
    let mut s = signed_in(3600, 604800);
    let grant = s.current().unwrap().grant_id.clone();
    let tab_key = s.current().unwrap().tab_key.clone();
    let now = T0.plus_secs(3300);
    let fx = s.handle(Event::Tick, now);
    let first_lock = fx.iter().find_map(|e| match e {
        Effect::AcquireRefreshLock { name } => Some(name.clone()),
        _ => None,
    });
    // A call waits for that refresh when the peer's tokens arrive: it is retried with them.
    s.handle(unauthorized(8, 0), now);
    let fx = s.handle(
        Event::FromOtherTab(Broadcast::Tokens(StoredSession {
            grant_id: grant,
            generation: 1,
            tab_key: tab_key.clone(),
            binding: demo(),
            tokens: tokens(now, 3600, Some(("RT1", 604800))),
            identity: None,
        })),
        now,
    );
    assert!(has(&fx, |e| matches!(e, Effect::RetryCall(8))), "{fx:?}");
    // A call made with the adopted tokens gets a 401: that asks for the new generation's lock.
    let fx = s.handle(unauthorized(9, 1), now);
    let second_lock = fx.iter().find_map(|e| match e {
        Effect::AcquireRefreshLock { name } => Some(name.clone()),
        _ => None,
    });
    assert!(second_lock.is_some() && second_lock != first_lock, "{fx:?}");
    let fx = s.handle(Event::RefreshLockGranted, now);
    let id = post_id(&fx).expect("a refresh of the adopted tokens");
    let fx = answer(&mut s, id, now, "RT2");
    assert!(has(&fx, |e| matches!(e, Effect::RetryCall(9))), "{fx:?}");
}

#[test]
fn a_spurious_lock_grant_while_refreshing_keeps_the_lock() {
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::RefreshRequested, T0);
    refresh_via_lock(&mut s, T0, &fx);
    let fx = s.handle(Event::RefreshLockGranted, T0);
    assert!(fx.is_empty(), "{fx:?}");
}

/// Issue 15: a refresh that timed out may have been carried out by the server (which then
/// replaced the refresh token); if the retry is refused, the notice says exactly that.
#[test]
fn a_refresh_refused_after_a_timeout_says_the_earlier_answer_was_lost() {
    let mut s = signed_in(3600, 604800);
    let mut now = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let id = refresh_via_lock(&mut s, now, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(ApiError::timeout("http://127.0.0.1:5001", 30)),
        },
        now,
    );
    assert!(s.is_signed_in(), "a timeout ends nothing");
    now = s.retry_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let id = refresh_via_lock(&mut s, now, &fx);
    let refused = err(400, r#"{"error":"invalid_grant"}"#, None);
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(refused.clone()),
        },
        now,
    );
    assert_eq!(
        s.notice(),
        Some(&Notice::RefreshLostInTransit(refused.clone()))
    );

    // A refresh that worked in between makes a later refusal an ordinary one.
    let mut s = signed_in(3600, 604800);
    let now = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let id = refresh_via_lock(&mut s, now, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(ApiError::timeout("http://x", 30)),
        },
        now,
    );
    let later = s.retry_at().unwrap();
    let fx = s.handle(Event::Tick, later);
    let id = refresh_via_lock(&mut s, later, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Ok(tokens(later, 3600, Some(("RT1", 604800)))),
        },
        later,
    );
    let fx = s.handle(Event::RefreshRequested, later);
    let id = refresh_via_lock(&mut s, later, &fx);
    s.handle(
        Event::TokenResponse {
            id,
            result: Err(refused.clone()),
        },
        later,
    );
    assert_eq!(s.notice(), Some(&Notice::SessionEnded(refused)));
}

/// A code the server may have redeemed is never sent again (issue 16: resending looks like reuse).
#[test]
fn an_exchange_that_timed_out_is_not_sent_again() {
    let mut s = Session::new(demo());
    let (p, _) = pending(30);
    let state = p.state.expose().to_string();
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    let id = post_id(&fx).unwrap();
    let timeout = ApiError::timeout("http://127.0.0.1:5001", 30);
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Err(timeout.clone()),
        },
        T0,
    );
    assert!(wake(&fx).is_none(), "no retry is scheduled: {fx:?}");
    assert_eq!(s.phase(), Phase::SignedOut);
    assert_eq!(s.notice(), Some(&Notice::ExchangeFailed(timeout)));
    assert!(s.handle(Event::Tick, T0.plus_secs(5)).is_empty());
}

/// Issue 15: a session that ended for a reason the user did not choose says so after a reload.
#[test]
fn why_a_session_ended_is_kept_for_the_next_page_load_until_dismissed() {
    let mut s = signed_in(3600, 604800);
    let now = s.refresh_due_at().unwrap();
    let fx = s.handle(Event::Tick, now);
    let id = refresh_via_lock(&mut s, now, &fx);
    let refused = err(400, r#"{"error":"invalid_grant"}"#, None);
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Err(refused.clone()),
        },
        now,
    );
    let kept = fx.iter().find_map(|e| match e {
        Effect::StoreEnded(n) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(kept, Some(Notice::SessionEnded(refused.clone())));
    // The next page load: nothing restored, the reason read back.
    let mut s = Session::new(demo());
    s.handle(Event::EndedBefore(kept.unwrap()), now);
    s.handle(
        Event::Restored {
            stored: None,
            discarded: None,
        },
        now,
    );
    assert_eq!(s.notice(), Some(&Notice::SessionEnded(refused)));
    let fx = s.handle(Event::NoticeDismissed, now);
    assert!(matches!(fx.as_slice(), [Effect::ClearEnded]));
    assert_eq!(s.notice(), None);
    // The user's own sign-out is not kept; a new sign-in forgets the old reason.
    let mut s = signed_in(3600, 604800);
    let fx = s.handle(Event::SignOutRequested, now);
    assert!(!has(&fx, |e| matches!(e, Effect::StoreEnded(_))));
    let (p, url) = pending(40);
    let fx = s.handle(Event::SignInStarted { pending: p, url }, now);
    assert!(has(&fx, |e| matches!(e, Effect::ClearEnded)));
}

/// The first-load modules' session: the same decisions and requests, no inspector steps.
#[test]
fn a_session_without_record_sends_the_same_and_records_nothing() {
    let (p, _) = pending(50);
    let state = p.state.expose().to_string();
    let url = callback_url(&[("code", "C"), ("state", &state)]);
    let run = |mut s: Session| {
        let (p, _) = pending(50);
        s.handle(
            Event::CallbackReceived {
                url: url.clone(),
                pending: Some(p),
            },
            T0,
        )
    };
    let recorded = run(Session::new(demo()));
    let unrecorded = run(Session::without_record(demo()));
    assert!(has(&recorded, |e| matches!(e, Effect::Record(_))));
    assert!(!has(&unrecorded, |e| matches!(e, Effect::Record(_))));
    assert_eq!(post_body(&recorded), post_body(&unrecorded));
    assert!(post_body(&unrecorded).is_some());
    drop(p);
}

/// Issue 16: a stored session held no trace of where it came from, so after Settings changed (or
/// `config.json` was redeployed) a reload sent its refresh token to the new token endpoint. Now a
/// record bound to another client or server is dropped unused and revoked at its own server.
#[test]
fn a_session_of_another_server_is_revoked_there_and_not_used() {
    let before = signed_in(3600, 604800);
    let record = before.current().unwrap().clone();
    let moved = ServerBinding {
        token_endpoint: "http://127.0.0.1:5002/restapi/oauth/token".into(),
        revoke_endpoint: "http://127.0.0.1:5002/restapi/oauth/revoke".into(),
        api_base: "http://127.0.0.1:5002/restapi/v1.0".into(),
        ..demo()
    };
    let mut s = Session::new(moved.clone());
    let fx = s.handle(
        Event::Restored {
            stored: Some(record.clone()),
            discarded: None,
        },
        T0.plus_secs(4000),
    );
    assert!(!s.is_signed_in());
    assert!(has(&fx, |e| matches!(e, Effect::ClearSession)), "{fx:?}");
    // Nothing goes to the new server: no refresh, no lock, no token request.
    assert!(!has(&fx, |e| matches!(
        e,
        Effect::PostToken { .. } | Effect::AcquireRefreshLock { .. } | Effect::ShowAccount
    )));
    let revokes: Vec<_> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::PostRevoke { endpoint, body } => {
                Some((endpoint.clone(), parse_query(body.expose())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(revokes.len(), 1, "{fx:?}");
    assert_eq!(
        revokes[0].0,
        demo().revoke_endpoint,
        "revoked where it came from"
    );
    assert!(revokes[0].1.contains(&("token".into(), "RT0".into())));
    assert!(revokes[0].1.contains(&("client_id".into(), "demo".into())));
    assert_eq!(
        s.notice(),
        Some(&Notice::SessionOfAnotherServer {
            changed: BindingField::TokenEndpoint,
            revoke: RevokeStatus::Pending
        })
    );
    s.handle(Event::RevokeFinished { result: Ok(()) }, T0);
    assert_eq!(
        s.notice(),
        Some(&Notice::SessionOfAnotherServer {
            changed: BindingField::TokenEndpoint,
            revoke: RevokeStatus::Confirmed
        })
    );

    // Each part of the binding counts: another client ID or issuer is another server too.
    for (current, changed) in [
        (
            ServerBinding {
                client_id: "other-app".into(),
                ..demo()
            },
            BindingField::ClientId,
        ),
        (
            ServerBinding {
                issuer: Some("http://127.0.0.1:5001".into()),
                ..demo()
            },
            BindingField::Issuer,
        ),
        (
            ServerBinding {
                api_base: "https://platform.ringcentral.com/restapi/v1.0".into(),
                ..demo()
            },
            BindingField::ApiBase,
        ),
    ] {
        let mut s = Session::new(current);
        s.handle(
            Event::Restored {
                stored: Some(record.clone()),
                discarded: None,
            },
            T0,
        );
        assert!(!s.is_signed_in());
        assert!(
            matches!(s.notice(), Some(Notice::SessionOfAnotherServer { changed: c, .. }) if *c == changed)
        );
    }
    // The same configuration restores it.
    let mut s = Session::new(demo());
    s.handle(
        Event::Restored {
            stored: Some(record),
            discarded: None,
        },
        T0,
    );
    assert!(s.is_signed_in());
}

/// Issue 16: the pending record did not say which server the sign-in was started for; a callback
/// after a configuration change sent the code and verifier to the new token endpoint.
#[test]
fn a_sign_in_started_for_another_server_sends_nothing() {
    let (p, _) = pending(7);
    let state = p.state.expose().to_string();
    let mut s = Session::new(ServerBinding {
        client_id: "another-client".into(),
        ..demo()
    });
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", &state)]),
            pending: Some(p),
        },
        T0,
    );
    assert!(post_id(&fx).is_none(), "{fx:?}");
    assert!(has(&fx, |e| matches!(e, Effect::ClearPending)));
    assert_eq!(
        s.notice(),
        Some(&Notice::CallbackRejected(CallbackRejection::ServerChanged(
            BindingField::ClientId
        )))
    );
    // A forged callback (wrong state) is refused as forged and keeps the sign-in.
    let (p, _) = pending(8);
    let mut s = Session::new(ServerBinding {
        client_id: "another-client".into(),
        ..demo()
    });
    let fx = s.handle(
        Event::CallbackReceived {
            url: callback_url(&[("code", "C"), ("state", "forged-state-forged-state")]),
            pending: Some(p),
        },
        T0,
    );
    assert!(has(&fx, |e| matches!(e, Effect::StorePending(_))));
    assert_eq!(
        s.notice(),
        Some(&Notice::CallbackRejected(CallbackRejection::StateMismatch))
    );
}

/// Tokens from another tab are adopted only when they are of this very session: same grant, key
/// and server. (The channel already carries only this session's messages; this is the session's
/// own check.)
#[test]
fn tokens_of_another_session_or_server_are_not_adopted() {
    let mut s = signed_in(3600, 604800);
    let mine = s.current().unwrap().clone();
    let newer = |f: fn(&mut StoredSession)| {
        let mut t = mine.clone();
        t.generation = 5;
        t.tokens = tokens(T0, 3600, Some(("RT-other", 604800)));
        f(&mut t);
        t
    };
    for other in [
        newer(|t| {
            t.tab_key = crate::tab_key::TabKey::from_bytes([1; crate::tab_key::TAB_KEY_BYTES])
        }),
        newer(|t| t.binding.client_id = "x".into()),
        newer(|t| t.grant_id = "other".into()),
    ] {
        let fx = s.handle(Event::FromOtherTab(Broadcast::Tokens(other)), T0);
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(s.current(), Some(&mine));
    }
    let same = newer(|_| {});
    s.handle(Event::FromOtherTab(Broadcast::Tokens(same.clone())), T0);
    assert_eq!(s.current(), Some(&same));
}

/// Issue 16: another page of the origin sees the lock's name and can hold it forever. The wait is
/// bounded: then the refresh goes ahead without the lock, and nothing is given back for it.
#[test]
fn a_lock_that_never_comes_does_not_stop_the_refresh() {
    let mut s = signed_in(3600, 604800);
    let asked = T0.plus_secs(3300);
    let fx = s.handle(Event::Tick, asked);
    assert!(has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })));
    let limit = asked.plus_millis(LOCK_WAIT_LIMIT_MS);
    assert_eq!(wake(&fx), Some(limit), "{fx:?}");
    // A 401 meanwhile waits for the refresh like any other.
    s.handle(unauthorized(3, 0), asked);
    // Woken early (a wake-up set before, a sleep): the wait's limit is armed again.
    let fx = s.handle(Event::Tick, asked.plus_secs(20));
    assert!(post_id(&fx).is_none(), "{fx:?}");
    assert_eq!(wake(&fx), Some(limit), "{fx:?}");
    // At the limit: the request is withdrawn and the POST goes out without the lock.
    let fx = s.handle(Event::Tick, limit);
    let release = fx
        .iter()
        .position(|e| matches!(e, Effect::ReleaseRefreshLock));
    let post = fx
        .iter()
        .position(|e| matches!(e, Effect::PostToken { .. }));
    assert!(release.is_some() && release < post, "{fx:?}");
    let id = post_id(&fx).unwrap();
    // The answer settles the waiting call; no lock is given back for a POST that had none.
    let fx = answer(&mut s, id, limit, "RT1");
    assert!(has(&fx, |e| matches!(e, Effect::StoreSession(_))), "{fx:?}");
    assert!(has(&fx, |e| matches!(e, Effect::RetryCall(3))), "{fx:?}");
    assert!(
        !has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
    assert_eq!(s.current().unwrap().generation, 1);
}

#[test]
fn a_lock_granted_after_the_wait_was_given_up_is_given_back_unused() {
    let mut s = signed_in(3600, 604800);
    let asked = T0.plus_secs(3300);
    s.handle(Event::Tick, asked);
    let limit = asked.plus_millis(LOCK_WAIT_LIMIT_MS);
    let fx = s.handle(Event::Tick, limit);
    let id = post_id(&fx).unwrap();
    // The grant crossed the withdrawal: given back, and no second POST.
    let fx = s.handle(Event::RefreshLockGranted, limit);
    assert!(post_id(&fx).is_none(), "{fx:?}");
    assert!(
        has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
    // A refused refresh without the lock: the session ends, and still nothing to give back.
    let fx = s.handle(
        Event::TokenResponse {
            id,
            result: Err(err(400, r#"{"error":"invalid_grant"}"#, None)),
        },
        limit,
    );
    assert!(!s.is_signed_in());
    assert!(
        !has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
}

#[test]
fn tokens_adopted_during_a_wait_withdraw_it_and_nothing_is_sent_at_its_limit() {
    let mut s = signed_in(3600, 604800);
    let grant = s.current().unwrap().grant_id.clone();
    let tab_key = s.current().unwrap().tab_key.clone();
    let asked = T0.plus_secs(3300);
    s.handle(Event::Tick, asked);
    let fx = s.handle(
        Event::FromOtherTab(Broadcast::Tokens(StoredSession {
            grant_id: grant,
            generation: 1,
            tab_key,
            binding: demo(),
            tokens: tokens(asked, 3600, Some(("RT1", 604800))),
            identity: None,
        })),
        asked,
    );
    assert!(
        has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
    // Back to the adopted tokens' own schedule: the old wait's limit passes unnoticed.
    assert_eq!(wake(&fx), s.refresh_due_at(), "{fx:?}");
    let fx = s.handle(Event::Tick, asked.plus_millis(LOCK_WAIT_LIMIT_MS));
    assert!(post_id(&fx).is_none(), "{fx:?}");
    assert!(
        !has(&fx, |e| matches!(e, Effect::AcquireRefreshLock { .. })),
        "{fx:?}"
    );
}

#[test]
fn a_lock_wait_that_spanned_a_sleep_starts_again() {
    let mut s = signed_in(3600, 604800);
    let asked = T0.plus_secs(3300);
    s.handle(Event::Tick, asked);
    // The laptop slept through the limit: the holder, asleep too, may be about to refresh.
    let woke = asked.plus_secs(3600);
    let fx = s.handle(Event::Tick, woke);
    assert!(post_id(&fx).is_none(), "{fx:?}");
    assert!(
        !has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
    let limit = woke.plus_millis(LOCK_WAIT_LIMIT_MS);
    assert_eq!(wake(&fx), Some(limit), "{fx:?}");
    // A wake-up less than a limit late (a hidden tab's throttled timer) does give up.
    let fx = s.handle(Event::Tick, limit.plus_millis(LOCK_WAIT_LIMIT_MS - 1));
    assert!(post_id(&fx).is_some(), "{fx:?}");
}

/// The limit is for a lock that does not come: once this tab holds it and asks the other tabs,
/// giving up would let the next tab in the queue refresh beside this one.
#[test]
fn a_lock_taken_before_the_limit_is_not_given_up_during_the_ask() {
    let mut s = signed_in(3600, 604800);
    let asked = T0.plus_secs(3300);
    s.handle(Event::Tick, asked);
    let limit = asked.plus_millis(LOCK_WAIT_LIMIT_MS);
    let fx = s.handle(Event::RefreshLockTaken, asked.plus_secs(59));
    assert!(fx.is_empty(), "{fx:?}");
    // The limit's wake-up comes during the ask: nothing to do.
    let fx = s.handle(Event::Tick, limit);
    assert!(fx.is_empty(), "{fx:?}");
    // The ask ends: the refresh goes out behind the lock, and gives it back when answered.
    let fx = s.handle(Event::RefreshLockGranted, limit);
    let id = post_id(&fx).unwrap();
    let fx = answer(&mut s, id, limit, "RT1");
    assert!(
        has(&fx, |e| matches!(e, Effect::ReleaseRefreshLock)),
        "{fx:?}"
    );
}
