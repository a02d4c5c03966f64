//! The redirect back from RingCentral when it is not the one this tab expects: a forged `state`,
//! a callback in a tab that started no sign-in, the Back button (after sign-in, and from the
//! sign-in page before it) and a replayed callback URL, and a code that expired before the
//! exchange. None of them may cause a token request the app should not send, and each must tell
//! the user what happened.

use std::time::Duration;

use e2e::env::{Env, EnvOptions, PASSWORD, USER, USER_NAME, eventually, run};
use serde_json::json;

/// The callback URLs the site served (with their query), oldest first.
fn served_callbacks(env: &Env) -> Vec<String> {
    env.site
        .served()
        .into_iter()
        .filter(|s| s.path == "/oauth2callback")
        .filter_map(|s| {
            s.query
                .map(|q| format!("{}/oauth2callback?{q}", env.site.origin))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_state_is_refused_and_the_real_sign_in_still_completes() {
    run("forged_state", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            b.wait_for("input[name=username]").await;

            // An attacker's link lands in this tab while its sign-in is under way.
            b.goto(&env.app("/oauth2callback?code=x&state=forged"))
                .await;
            let text = b.wait_for_page_text("Sign-in refused").await;
            assert!(
                text.contains(
                    "the sign-in response's state does not match the sign-in this tab started"
                ),
                "{text}"
            );
            assert!(text.contains("No token request was sent."), "{text}");
            assert!(
                b.url().await.ends_with("/oauth2callback"),
                "{}",
                b.url().await
            );
            assert!(env.token_requests(None).await.is_empty());
            assert!(env.stored_session().await.is_none());
            let storage = b.session_storage().await;
            assert!(
                storage.get("rc-pkce.pending").is_some(),
                "the pending sign-in is kept: {storage}"
            );

            // The forged callback did not cancel the real sign-in: finishing it still works.
            b.back().await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["status"], 200);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_in_a_tab_that_started_no_sign_in_is_refused() {
    run("unknown_state", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            // Another window is in the middle of a sign-in: its pending record is not this tab's.
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            b.wait_for("input[name=username]").await;

            b.open_window(&env.app("/oauth2callback?code=x&state=unknown"))
                .await;
            let text = b.wait_for_page_text("Sign-in refused").await;
            assert!(
                text.contains(
                    "this tab did not start a sign-in, or its sign-in was already completed"
                ),
                "{text}"
            );
            assert!(text.contains("No token request was sent."), "{text}");
            assert!(
                text.contains("Start a new sign-in from this app."),
                "{text}"
            );
            assert!(text.contains("Try again"), "{text}");
            assert!(env.token_requests(None).await.is_empty());
            assert_eq!(env.state().await["unused_codes"], 0);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_button_and_replayed_callback_send_nothing() {
    run("replayed_callback", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let callbacks = served_callbacks(env);
            assert_eq!(callbacks.len(), 1, "{callbacks:?}");
            assert!(callbacks[0].contains("code="), "{callbacks:?}");

            // Back from the account page leads to RingCentral's sign-in page (the callback entry
            // was replaced); Forward returns to the account, still signed in.
            b.back().await;
            b.wait_for("input[name=username]").await;
            assert!(b.url().await.starts_with(env.sandbox.base_url()));
            b.forward().await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;

            // Back again, and the sign-in page reloaded: signing in there answers with a new code
            // for the state this tab already used.
            b.back().await;
            b.wait_for("input[name=username]").await;
            b.reload().await;
            env.consent(USER, PASSWORD, "allow").await;
            let text = b
                .wait_for_page_text("That sign-in link was already used. You are still signed in; nothing was sent.")
                .await;
            assert!(text.contains("You are signed in"), "{text}");
            b.click("a[href$='/account']").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;

            // The first callback URL, replayed (from history, a bookmark, a copied link).
            b.goto(&callbacks[0]).await;
            b.wait_for_page_text("That sign-in link was already used.").await;
            assert!(b.url().await.ends_with("/oauth2callback"));
            b.goto(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;

            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "only the first code was exchanged: {tokens:?}");
            let state = env.state().await;
            // Presenting the first code again would have revoked the grant (code reuse).
            assert_eq!(state["grants"][0]["revoked"], false, "{state}");
            assert_eq!(state["grants"].as_array().map(Vec::len), Some(1), "{state}");
            assert_eq!(state["unused_codes"], 1, "the second code was never sent: {state}");
            assert_eq!(served_callbacks(env).len(), 3);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_from_the_sign_in_page_lets_the_user_start_again() {
    run("back_before_sign_in", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            b.wait_for("input[name=username]").await;
            // The user changes their mind on RingCentral's page and goes Back. Chromium shows the
            // home page from its back/forward cache, as it was left: "Opening RingCentral…".
            b.back().await;
            b.wait_until(
                "the sign-in button to be usable again",
                "const e = document.querySelector('[data-testid=sign-in]'); \
                 return !!e && !e.disabled && e.textContent === 'Sign in with RingCentral';",
            )
            .await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;

            let pages: Vec<_> = env
                .requests_to("/restapi/oauth/authorize")
                .await
                .into_iter()
                .map(|r| r["method"].as_str().unwrap_or_default().to_string())
                .collect();
            assert_eq!(
                pages,
                ["GET", "GET", "POST"],
                "two sign-in pages, one consent"
            );
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["status"], 200);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_code_is_explained() {
    run("expired_code", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            // The exchange is held at the token endpoint for 2 s; meanwhile the sandbox's clock
            // moves past the code's 60 s lifetime.
            env.fault(json!({"target": "token", "delay_ms": 2000})).await;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            eventually("the exchange to be in flight", Duration::from_secs(10), || async {
                env.pending_faults().await.is_empty()
            })
            .await;
            env.advance_clock(61).await;
            let text = b
                .wait_for_page_text("Sign-in failed while exchanging the code: The authorization code expired before it could be exchanged")
                .await;
            assert!(
                text.contains("Sign in again: each code works once, within a minute."),
                "{text}"
            );
            assert!(text.contains("OAU-108"), "{text}");
            assert!(env.stored_session().await.is_none());
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "no retry of a dead code: {tokens:?}");
            assert_eq!(tokens[0]["status"], 400);
            assert_eq!(tokens[0]["error_code"], "OAU-108");
            assert!(env.grants().await.is_empty());

            // A fresh sign-in is one click away and works.
            b.click_button("Try again").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert_eq!(env.token_requests(None).await.len(), 2);
        })
    })
    .await;
}
