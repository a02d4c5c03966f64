//! Several tabs of one browser (issue 9). A duplicated tab shares its session, and with it a
//! single-use refresh token: the tabs must refresh once per deadline between them, follow each
//! other's refreshes and sign-outs, and never present a rotated-out refresh token (the sandbox,
//! like RingCentral, would revoke the whole grant). Independent sign-ins in two tabs must not
//! interfere.

use std::time::{Duration, Instant};

use e2e::browser::WindowHandle;
use e2e::env::{
    Env, EnvOptions, Panel, SECOND_PASSWORD, SECOND_USER, SECOND_USER_NAME, USER, USER_NAME,
    eventually, run,
};
use serde_json::{Value, json};

/// Access-token lifetime for the refresh tests: refreshed when half is left, i.e. every 6 s.
const ACCESS_TTL: u64 = 12;
const REFRESH_EVERY_US: u64 = ACCESS_TTL * 1_000_000 / 2;

async fn panel_in(env: &Env, window: &WindowHandle) -> Panel {
    env.browser.switch_to(window).await;
    env.wait_for_panel().await
}

/// The grants and the panels of `windows`, read so that no refresh happened in between.
async fn snapshot(env: &Env, windows: &[&WindowHandle]) -> (Vec<Value>, Vec<Panel>) {
    let started = Instant::now();
    loop {
        let before = env.grants().await;
        let mut panels = Vec::new();
        for w in windows {
            panels.push(panel_in(env, w).await);
        }
        if env.grants().await == before {
            return (before, panels);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no quiet moment"
        );
    }
}

/// Waits until every grant has been refreshed `n` times; fails at once if one is revoked.
async fn wait_for_refreshes(env: &Env, grants: usize, n: u64) {
    let started = Instant::now();
    loop {
        let g = env.grants().await;
        if let Some(dead) = g.iter().find(|g| g["revoked"] == true) {
            panic!(
                "grant revoked while waiting for refreshes: {dead}\n{:#?}",
                env.token_requests(None).await
            );
        }
        if g.len() == grants && g.iter().all(|g| g["refresh_count"].as_u64() >= Some(n)) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(n * ACCESS_TTL + 20),
            "waited for {n} refreshes of {grants} grant(s): {g:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Token-endpoint requests of one grant, no preflights.
async fn refreshes_of(env: &Env, grant: &str) -> Vec<Value> {
    env.token_requests(Some("refresh_token"))
        .await
        .into_iter()
        .filter(|r| r["grant_id"] == grant)
        .collect()
}

/// No request was refused for a reused or revoked refresh token.
async fn assert_no_refresh_token_reuse(env: &Env) {
    let refused: Vec<_> = env
        .requests()
        .await
        .into_iter()
        .filter(|r| r["error"] == "invalid_grant" || r["error_code"] == "OAU-211")
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
}

/// Consecutive refreshes of one grant are one deadline apart: none missed, none doubled.
fn assert_one_refresh_per_deadline(exchange: &Value, refreshes: &[Value]) {
    let mut previous = exchange["finished_us"].as_u64().expect("finished_us");
    for r in refreshes {
        assert_eq!(r["status"], 200, "{refreshes:#?}");
        let started = r["started_us"].as_u64().expect("started_us");
        let gap = started - previous;
        assert!(
            (REFRESH_EVERY_US - 500_000..REFRESH_EVERY_US + 2_500_000).contains(&gap),
            "refreshes {gap} µs apart, deadlines every {REFRESH_EVERY_US} µs: {refreshes:#?}"
        );
        previous = r["finished_us"].as_u64().expect("finished_us");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_tab_shares_one_refresh_per_deadline() {
    let options = EnvOptions {
        access_ttl: ACCESS_TTL,
        ..Default::default()
    };
    run("tabs_duplicated", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let first = b.current_window().await;
            // The duplicate starts with a copy of this tab's sessionStorage: the same tokens.
            let second = b.duplicate_tab(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            let copied = env.stored_session().await.expect("copied session");
            env.wait_for_tabs_line(&second, "2 tabs share this session")
                .await;
            env.wait_for_tabs_line(&first, "2 tabs share this session")
                .await;
            assert_eq!(
                env.stored_session().await.map(|s| s["grant_id"].clone()),
                Some(copied["grant_id"].clone())
            );

            // Every refresh takes 1.5 s at the sandbox, so both tabs' timers fire while one
            // refresh is in flight: without coordination the second tab would present the same
            // refresh token again, and the sandbox would revoke the grant.
            env.fault(json!({"target": "token", "delay_ms": 1500, "count": 50}))
                .await;
            // Three deadlines pass.
            wait_for_refreshes(env, 1, 3).await;
            let (grants, panels) = snapshot(env, &[&first, &second]).await;
            let count = grants[0]["refresh_count"].as_u64().unwrap();
            for (i, p) in panels.iter().enumerate() {
                assert_eq!(p.generation, count, "tab {}: {panels:?} {grants:?}", i + 1);
            }
            assert_eq!(panels[0].expires_at, panels[1].expires_at, "{panels:?}");
            for w in [&first, &second] {
                b.switch_to(w).await;
                b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
                assert!(b.url().await.ends_with("/account"));
                assert!(!b.page_text().await.contains("signed out"));
            }

            assert_eq!(grants.len(), 1, "{grants:?}");
            assert_eq!(grants[0]["revoked"], false, "{grants:?}");
            assert_eq!(grants[0]["live_refresh_token"], true, "{grants:?}");
            let exchange = &env.token_requests(Some("authorization_code")).await[0];
            let refreshes = refreshes_of(env, "g1").await;
            assert_eq!(refreshes.len() as u64, count, "{refreshes:#?}");
            assert_one_refresh_per_deadline(exchange, &refreshes);
            assert_no_refresh_token_reuse(env).await;
            // The REST calls of both tabs always had a live token.
            let api = env.api_requests("").await;
            assert!(api.iter().all(|r| r["status"] == 200), "{api:#?}");
            env.wait_for_tabs_line(&first, "2 tabs share this session")
                .await;
            env.wait_for_tabs_line(&second, "2 tabs share this session")
                .await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_returning_with_stale_tokens_adopts_the_newer_ones() {
    let options = EnvOptions {
        access_ttl: ACCESS_TTL,
        ..Default::default()
    };
    run("tabs_stale", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let first = b.current_window().await;
            // The second tab gets a copy of the session but does not run the app yet, like a tab
            // the browser discarded to save memory: it hears none of the refreshes that follow.
            let second = b.duplicate_tab(&env.app("/favicon.svg")).await;
            let copied = env.stored_session().await.expect("copied session");
            assert_eq!(copied["generation"], 0);
            b.switch_to(&first).await;
            wait_for_refreshes(env, 1, 2).await;
            let refreshed = env.token_requests(Some("refresh_token")).await.len();

            // Back to the second tab: it starts with a rotated-out refresh token and a superseded
            // access token. It must take the first tab's tokens, not refresh with its own.
            b.switch_to(&second).await;
            b.goto(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            let (grants, panels) = snapshot(env, &[&first, &second]).await;
            assert_eq!(grants[0]["revoked"], false, "{grants:?}");
            let count = grants[0]["refresh_count"].as_u64().unwrap();
            assert_eq!(panels[0].generation, count, "{panels:?}");
            assert_eq!(panels[1].generation, count, "{panels:?}");
            assert_no_refresh_token_reuse(env).await;
            let refreshes = env.token_requests(Some("refresh_token")).await;
            assert!(
                refreshes.len() as u64 == count && count <= refreshed as u64 + 1,
                "the returning tab did not refresh on its own: {refreshes:#?}"
            );
            // Its page loaded with the adopted tokens (a 401 for the superseded one is retried).
            eventually(
                "the second tab's cards",
                Duration::from_secs(10),
                || async {
                    b.exists("[data-testid=company]").await
                        && b.exists("[data-testid=calls] .call-row").await
                },
            )
            .await;
            env.wait_for_tabs_line(&second, "2 tabs share this session")
                .await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_in_one_tab_signs_out_the_other() {
    run("tabs_sign_out", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let first = b.current_window().await;
            let second = b.duplicate_tab(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            env.wait_for_tabs_line(&first, "2 tabs share this session")
                .await;
            env.wait_for_tabs_line(&second, "2 tabs share this session")
                .await;

            b.click("[data-testid=sign-out]").await;
            b.wait_for_page_text(
                "You are signed out. RingCentral confirmed that the tokens are revoked.",
            )
            .await;

            b.switch_to(&first).await;
            b.wait_for_page_text("You signed out in another tab.").await;
            b.wait_for("[data-testid=sign-in]").await;
            assert!(!b.exists("[data-testid=user-name]").await);
            assert!(env.stored_session().await.is_none());

            let revokes = env.revoke_requests().await;
            assert_eq!(
                revokes.len(),
                1,
                "revoked once, by the tab that signed out: {revokes:#?}"
            );
            assert_eq!(revokes[0]["status"], 200);
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1);
            assert_eq!(grants[0]["revoked"], true, "{grants:?}");
            assert_eq!(grants[0]["revoked_reason"], "revoked", "{grants:?}");
            assert!(env.token_requests(Some("refresh_token")).await.is_empty());
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_sign_ins_in_two_tabs_do_not_interfere() {
    let options = EnvOptions {
        access_ttl: ACCESS_TTL,
        ..Default::default()
    };
    run("tabs_independent", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let first = b.current_window().await;
            // A tab opened by the user (not duplicated) starts empty and signs in on its own.
            let second = b.open_window(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            env.sign_in_as(SECOND_USER, SECOND_PASSWORD, SECOND_USER_NAME)
                .await;
            env.wait_for_tabs_line(&second, "this tab only").await;
            env.wait_for_tabs_line(&first, "this tab only").await;

            eventually(
                "two refreshes of each grant",
                Duration::from_secs(30),
                || async {
                    let g = env.grants().await;
                    g.len() == 2 && g.iter().all(|g| g["refresh_count"].as_u64() >= Some(2))
                },
            )
            .await;
            let (grants, panels) = snapshot(env, &[&first, &second]).await;
            assert_eq!(grants[0]["user"], USER, "{grants:?}");
            assert_eq!(grants[1]["user"], SECOND_USER, "{grants:?}");
            for (grant, panel) in grants.iter().zip(&panels) {
                assert_eq!(grant["refresh_count"].as_u64(), Some(panel.generation));
                assert_eq!(grant["revoked"], false);
            }
            let exchanges = env.token_requests(Some("authorization_code")).await;
            assert_eq!(exchanges.len(), 2);
            for (i, id) in ["g1", "g2"].iter().enumerate() {
                assert_eq!(exchanges[i]["grant_id"], *id);
                assert_one_refresh_per_deadline(&exchanges[i], &refreshes_of(env, id).await);
            }
            assert_no_refresh_token_reuse(env).await;

            // Signing out in the first tab ends only its own grant.
            b.switch_to(&first).await;
            b.click("[data-testid=sign-out]").await;
            b.wait_for_page_text("You are signed out.").await;
            let grants = env.grants().await;
            assert_eq!(grants[0]["revoked"], true, "{grants:?}");
            assert_eq!(grants[1]["revoked"], false, "{grants:?}");

            b.switch_to(&second).await;
            let before = env.wait_for_panel().await.generation;
            eventually(
                "another refresh in the second tab",
                Duration::from_secs(15),
                || async { env.panel().await.is_some_and(|p| p.generation > before) },
            )
            .await;
            b.wait_for_text("[data-testid=user-name]", SECOND_USER_NAME)
                .await;
            assert!(!b.page_text().await.contains("another tab"));
            let revokes = env.revoke_requests().await;
            assert_eq!(revokes.len(), 1, "{revokes:#?}");
            assert_eq!(revokes[0]["grant_id"], "g1");
            let g2 = &env.grants().await[1];
            assert_eq!(g2["revoked"], false);
            assert!(g2["refresh_count"].as_u64() > Some(before), "{g2}");
            assert_no_refresh_token_reuse(env).await;
        })
    })
    .await;
}
