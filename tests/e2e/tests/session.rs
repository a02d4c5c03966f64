//! The life of a signed-in session: automatic refresh before expiry, a 401 answered by exactly one
//! refresh and a retry, a revoked or expired refresh token ending the session with the reason
//! shown, and sign-out revoking the grant at the sandbox. Each test checks the page and the
//! sandbox's request log and state.

use std::time::Duration;

use e2e::env::{Env, EnvOptions, USER_NAME, eventually, run};
use serde_json::Value;

/// The session panel's `data-expires-at` and generation, as shown.
async fn panel(env: &Env) -> (u64, u64) {
    let p = env.wait_for_panel().await;
    (p.expires_at, p.generation)
}

/// Waits until the account page's first three REST calls have answered.
async fn settled(env: &Env) {
    eventually(
        "the account page's REST calls",
        Duration::from_secs(10),
        || async { env.api_requests("").await.len() >= 3 },
    )
    .await;
}

fn statuses(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            let path = r["path"].as_str().unwrap_or_default();
            let what = r["grant_type"]
                .as_str()
                .unwrap_or_else(|| path.rsplit('/').next().unwrap_or_default());
            format!("{what} {}", r["status"])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lived_tokens_are_refreshed_before_they_expire() {
    let options = EnvOptions {
        access_ttl: 6,
        ..Default::default()
    };
    run("auto_refresh", options, |env| {
        Box::pin(async move {
            env.sign_in().await;
            settled(env).await;
            let (first_expiry, first_generation) = panel(env).await;
            assert_eq!(first_generation, 0);
            // A 6 s token is refreshed when half its life is left: every 3 s, without any click.
            eventually(
                "two automatic refreshes",
                Duration::from_secs(15),
                || async { panel(env).await.1 >= 2 },
            )
            .await;
            let (expiry, generation) = panel(env).await;
            assert!(expiry > first_expiry + 2_000, "{first_expiry} → {expiry}");
            let b = &env.browser;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(b.url().await.ends_with("/account"));

            let refreshes = env.token_requests(Some("refresh_token")).await;
            assert!(refreshes.len() as u64 >= generation, "{refreshes:?}");
            assert!(
                refreshes.iter().all(|r| r["status"] == 200),
                "{refreshes:?}"
            );
            // Each refresh happened before the token it replaced expired: no API call saw a 401.
            let api = env.api_requests("").await;
            assert!(
                api.iter().all(|r| r["status"] == 200),
                "{:?}",
                statuses(&api)
            );
            // ...and the page kept what it had loaded: a refresh does not reload the cards.
            assert_eq!(api.len(), 3, "{:?}", statuses(&api));
            let grant = &env.grants().await[0];
            assert_eq!(grant["revoked"], false);
            assert_eq!(
                grant["refresh_count"].as_u64(),
                Some(refreshes.len() as u64)
            );
            // What the tab stores follows: the newest generation, the newest tokens.
            let stored = env.stored_session().await.expect("stored session");
            assert!(
                stored["generation"].as_u64() >= Some(generation),
                "{stored}"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_leads_to_exactly_one_refresh_and_a_successful_retry() {
    run("refresh_on_401", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for("[data-testid=calls] .call-row").await;
            settled(env).await;
            let (expiry, _) = panel(env).await;
            let expired = env.expire_access_tokens().await;
            assert_eq!(expired["expired"], 1);
            env.clear_requests().await;

            // The app's clock still says the token is good: only the server knows otherwise.
            b.click("[data-testid=calls-refresh]").await;
            eventually(
                "the retried call-log request",
                Duration::from_secs(10),
                || async { env.api_requests("/call-log").await.len() >= 2 },
            )
            .await;
            b.wait_for("[data-testid=calls] .call-row").await;
            b.wait_for_text("[data-testid=generation]", "1").await;
            let (new_expiry, _) = panel(env).await;
            assert!(new_expiry > expiry, "{expiry} → {new_expiry}");
            assert!(!b.page_text().await.contains("was not accepted"));

            let log: Vec<Value> = env
                .requests()
                .await
                .into_iter()
                .filter(|r| r["method"] != "OPTIONS")
                .collect();
            assert_eq!(
                statuses(&log),
                ["call-log 401", "refresh_token 200", "call-log 200"],
                "{log:#?}"
            );
            assert_eq!(log[0]["error_code"], "OAU-128");
            let grant = &env.grants().await[0];
            assert_eq!(grant["refresh_count"], 1);
            assert_eq!(grant["revoked"], false);

            // Three calls at once (a reload loads all cards) all get a 401: still one refresh.
            env.expire_access_tokens().await;
            env.clear_requests().await;
            b.reload().await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            b.wait_for("[data-testid=company]").await;
            let log: Vec<Value> = env
                .requests()
                .await
                .into_iter()
                .filter(|r| r["method"] != "OPTIONS")
                .collect();
            let mut seen = statuses(&log);
            assert_eq!(seen.len(), 7, "{seen:?}");
            seen[..3].sort();
            seen[4..].sort();
            assert_eq!(
                seen,
                [
                    "call-log 401",
                    "~ 401",
                    "~ 401",
                    "refresh_token 200",
                    "call-log 200",
                    "~ 200",
                    "~ 200"
                ],
                "{log:#?}"
            );
            assert_eq!(env.grants().await[0]["refresh_count"], 2);
            b.wait_for_text("[data-testid=generation]", "2").await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_signs_out_with_the_reason() {
    run("revoked_refresh_token", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            settled(env).await;
            assert_eq!(env.revoke_grants().await["revoked"], 1);
            b.click("[data-testid=refresh-now]").await;
            let text = b
                .wait_for_page_text(
                    "Your session ended: RingCentral no longer accepts its refresh token.",
                )
                .await;
            assert!(
                text.contains("OAU-211"),
                "the server's reason is shown: {text}"
            );
            assert!(text.contains("invalid_grant"), "{text}");
            b.wait_for("[data-testid=sign-in]").await;
            assert!(b.url().await.ends_with('/'), "{}", b.url().await);
            assert!(!b.exists("[data-testid=user-name]").await);
            assert!(env.stored_session().await.is_none());

            let refreshes = env.token_requests(Some("refresh_token")).await;
            assert_eq!(refreshes.len(), 1, "no second try: {refreshes:?}");
            assert_eq!(refreshes[0]["status"], 400);
            assert_eq!(refreshes[0]["error"], "invalid_grant");
            assert_eq!(refreshes[0]["error_code"], "OAU-211");
            // Nothing left to revoke: the app does not call revoke for a dead grant.
            assert!(env.revoke_requests().await.is_empty());
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_refresh_token_signs_out_with_the_reason() {
    let options = EnvOptions {
        refresh_ttl: 600,
        ..Default::default()
    };
    run("expired_refresh_token", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            settled(env).await;
            // The sandbox's clock moves past both tokens' lifetimes; the app's does not.
            env.advance_clock(3_700).await;
            env.clear_requests().await;
            b.click("[data-testid=calls-refresh]").await;
            let text = b
                .wait_for_page_text(
                    "Your session ended: RingCentral no longer accepts its refresh token.",
                )
                .await;
            assert!(text.contains("OAU-210"), "{text}");
            b.wait_for("[data-testid=sign-in]").await;
            assert!(env.stored_session().await.is_none());

            let log: Vec<Value> = env
                .requests()
                .await
                .into_iter()
                .filter(|r| r["method"] != "OPTIONS")
                .collect();
            assert_eq!(
                statuses(&log),
                ["call-log 401", "refresh_token 400"],
                "{log:#?}"
            );
            assert_eq!(log[1]["error_code"], "OAU-210");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_the_grant_at_the_server() {
    run("sign_out", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            settled(env).await;
            let stored = env.stored_session().await.expect("stored session");
            let access = stored["access_token"].as_str().unwrap().to_string();
            assert_eq!(env.api_status_with(&access).await, 200);

            b.click("[data-testid=sign-out]").await;
            b.wait_for_page_text(
                "You are signed out. RingCentral confirmed that the tokens are revoked.",
            )
            .await;
            b.wait_for("[data-testid=sign-in]").await;
            assert!(env.stored_session().await.is_none());
            let storage = b.session_storage().await;
            assert!(
                !storage.to_string().contains(&access),
                "nothing of the session is left: {storage}"
            );

            let revokes = env.revoke_requests().await;
            assert_eq!(revokes.len(), 1, "{revokes:?}");
            assert_eq!(revokes[0]["status"], 200);
            assert_eq!(revokes[0]["grant_id"], "g1");
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1);
            assert_eq!(grants[0]["revoked"], true, "{grants:?}");
            assert_eq!(grants[0]["revoked_reason"], "revoked");
            assert_eq!(grants[0]["live_access_tokens"], 0);
            assert_eq!(grants[0]["live_refresh_token"], false);
            assert_eq!(env.api_status_with(&access).await, 401);
        })
    })
    .await;
}
