//! RingCentral having a bad moment: the token endpoint answering 503 and then 429 with
//! `Retry-After` (during a refresh and during the code exchange), and the server becoming
//! unreachable while the code exchange is in flight. The user is told what is happening, a session
//! is never lost to a transient failure, and the automatic retries follow the server's timing.

use std::time::Duration;

use e2e::env::{EnvOptions, PASSWORD, USER, USER_NAME, eventually, run};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rides_out_503_and_429_and_honours_retry_after() {
    let options = EnvOptions {
        expose_rate_limit_headers: true,
        ..Default::default()
    };
    run("refresh_503_429", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let before = env.wait_for_panel().await;
            env.fault(json!({"target": "token", "status": 503, "retry_after_secs": 2}))
                .await;
            env.fault(json!({"target": "token", "status": 429, "retry_after_secs": 3}))
                .await;

            b.click("[data-testid=refresh-now]").await;
            let shown = b
                .wait_for_text(
                    "[data-testid=refresh-problem]",
                    "Refreshing failed: RingCentral's sign-in service is temporarily unavailable.",
                )
                .await;
            assert!(shown.contains("Your session is kept meanwhile."), "{shown}");
            let shown = b
                .wait_for_text(
                    "[data-testid=refresh-problem]",
                    "Refreshing failed: Too many requests: RingCentral's rate limit for this kind of call was reached.",
                )
                .await;
            assert!(shown.contains("Next attempt in"), "{shown}");
            // Still signed in while it waits.
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(env.stored_session().await.is_some());

            eventually("the successful retry", Duration::from_secs(10), || async {
                env.panel().await.is_some_and(|p| p.generation == 1)
            })
            .await;
            eventually("the problem notice to go", Duration::from_secs(5), || async {
                !b.exists("[data-testid=refresh-problem]").await
            })
            .await;
            let after = env.wait_for_panel().await;
            assert!(after.expires_at > before.expires_at);
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(b.url().await.ends_with("/account"));

            // Faulted requests never reach the endpoint, so the log cannot tell their grant type.
            let refreshes: Vec<_> = env
                .token_requests(None)
                .await
                .into_iter()
                .filter(|r| r["grant_type"] != "authorization_code")
                .collect();
            let seen: Vec<_> = refreshes
                .iter()
                .map(|r| (r["status"].as_u64(), r["fault"].as_bool()))
                .collect();
            assert_eq!(
                seen,
                [
                    (Some(503), Some(true)),
                    (Some(429), Some(true)),
                    (Some(200), Some(false))
                ],
                "{refreshes:#?}"
            );
            // The waits between attempts are the server's Retry-After (2 s, then 3 s), not the
            // app's own backoff (1 s, then 2 s).
            let gap = |a: usize, b: usize| {
                refreshes[b]["started_us"].as_u64().unwrap()
                    - refreshes[a]["finished_us"].as_u64().unwrap()
            };
            assert!(gap(0, 1) >= 1_900_000, "{} µs", gap(0, 1));
            assert!(gap(1, 2) >= 2_900_000, "{} µs", gap(1, 2));
            assert!(gap(1, 2) < 6_000_000, "{} µs", gap(1, 2));
            let grant = &env.grants().await[0];
            assert_eq!(grant["revoked"], false);
            assert_eq!(grant["refresh_count"], 1);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_exchange_is_retried_after_a_503() {
    let options = EnvOptions {
        expose_rate_limit_headers: true,
        ..Default::default()
    };
    run("exchange_503", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.fault(json!({"target": "token", "status": 503, "retry_after_secs": 2}))
                .await;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            let shown = b
                .wait_for_text(
                    "[data-testid=exchange-problem]",
                    "RingCentral's sign-in service is temporarily unavailable. Trying again in",
                )
                .await;
            assert!(b.page_text().await.contains("Signing you in…"), "{shown}");
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;

            let tokens = env.token_requests(None).await;
            let statuses: Vec<_> = tokens.iter().map(|r| r["status"].as_u64()).collect();
            assert_eq!(statuses, [Some(503), Some(200)], "{tokens:#?}");
            let gap = tokens[1]["started_us"].as_u64().unwrap()
                - tokens[0]["finished_us"].as_u64().unwrap();
            assert!(gap >= 1_900_000, "waited Retry-After: {gap} µs");
            assert_eq!(env.grants().await.len(), 1);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_unreachable_during_the_exchange_is_a_clear_network_error() {
    let options = EnvOptions {
        sandbox_via_link: true,
        ..Default::default()
    };
    run("exchange_network_down", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            // The exchange hangs at the sandbox for 3 s; meanwhile the network goes away.
            env.fault(json!({"target": "token", "delay_ms": 3000})).await;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            eventually("the exchange to be in flight", Duration::from_secs(10), || async {
                env.pending_faults().await.is_empty()
            })
            .await;
            env.cut_link();

            let origin = env.sandbox_origin();
            let reaching = format!("Could not reach {origin}: the request got no response.");
            let shown = b
                .wait_for_text("[data-testid=exchange-problem]", &reaching)
                .await;
            assert!(shown.contains("Trying again in"), "{shown}");
            let text = b
                .wait_for_page_text(&format!(
                    "Sign-in failed while exchanging the code: {reaching}"
                ))
                .await;
            assert!(
                text.contains("Check your internet connection (and that the server is running), then try again."),
                "{text}"
            );
            assert!(text.contains("Try again"), "{text}");
            assert!(env.stored_session().await.is_none());
            // Only the first attempt got through before the cut, and it never completed: the
            // code was not exchanged (the retries could not reach the sandbox).
            let tokens = env.token_requests(None).await;
            assert!(tokens.is_empty(), "{tokens:#?}");
            let state = env.state().await;
            assert_eq!(state["unused_codes"], 1, "{state}");
            assert_eq!(state["grants"], json!([]), "{state}");
        })
    })
    .await;
}
