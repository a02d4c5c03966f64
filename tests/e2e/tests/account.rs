//! The account page beyond the happy path: the call log's range, paging, cache and rate-limit
//! cool-down; a missing permission; the PKCE inspector's masking; sign-out while offline; a damaged
//! stored session; and resetting the visitor's Settings.

use std::time::Duration;

use e2e::env::{Env, EnvOptions, run};
use serde_json::{Value, json};

const ROWS: &str = "return document.querySelectorAll('[data-testid=calls] .call-row').length;";

async fn rows(env: &Env) -> u64 {
    env.browser.execute(ROWS).await.as_u64().unwrap_or(0)
}

async fn call_log_requests(env: &Env) -> Vec<Value> {
    env.api_requests("/call-log").await
}

async fn pick_range(env: &Env, id: &str) {
    env.browser
        .client
        .execute(
            "const s = document.querySelector('[data-testid=range]'); s.value = arguments[0]; s.dispatchEvent(new Event('change')); return 1;",
            vec![json!(id)],
        )
        .await
        .expect("range select");
}

async fn wait_rows(env: &Env, n: u64) {
    e2e::env::eventually(
        &format!("{n} call rows"),
        Duration::from_secs(10),
        || async { rows(env).await == n },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_log_range_paging_and_cache() {
    run("call_log", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for("[data-testid=calls] .call-row").await;
            let first = call_log_requests(env).await;
            assert_eq!(first.len(), 1, "{first:#?}");
            let query = first[0]["query"].as_str().unwrap_or_default().to_string();
            assert!(
                query.contains("dateFrom=") && query.contains("page=1"),
                "{query}"
            );

            // The last 30 days hold all 48 seeded calls: two pages of 25.
            pick_range(env, "month").await;
            wait_rows(env, 25).await;
            b.click("[data-testid=next-page]").await;
            b.wait_for_text("[data-testid=page]", "Page 2").await;
            wait_rows(env, sandbox::seed::CALLS_PER_USER as u64 - 25).await;
            let requests = call_log_requests(env).await;
            assert_eq!(requests.len(), 3, "{requests:#?}");
            assert!(
                requests[2]["query"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("page=2")
            );
            assert_eq!(
                b.execute("return document.querySelector('[data-testid=next-page]').disabled;")
                    .await,
                true,
                "no page after the last"
            );

            // The last 24 hours: the sandbox seeds 12 calls there, on one page.
            pick_range(env, "day").await;
            b.wait_for_text("[data-testid=page]", "Page 1").await;
            wait_rows(env, sandbox::seed::CALLS_LAST_24H as u64).await;
            assert_eq!(call_log_requests(env).await.len(), 4);

            // Back to 30 days: page 1 comes from the cache, not from RingCentral's Heavy group.
            pick_range(env, "month").await;
            wait_rows(env, 25).await;
            assert_eq!(
                call_log_requests(env).await.len(),
                4,
                "the cached page was not fetched again"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_log_rate_limit_says_when_to_try_again_and_sends_nothing_meanwhile() {
    let options = EnvOptions {
        expose_rate_limit_headers: true,
        ..Default::default()
    };
    run("call_log_429", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for("[data-testid=calls] .call-row").await;
            env.fault(json!({"target": "call-log", "status": 429, "retry_after_secs": 45})).await;
            b.click("[data-testid=calls-refresh]").await;
            let text = b.wait_for_text("[data-testid=calls-blocked]", "You can load calls again at").await;
            assert!(text.contains("10 call-log requests a minute"), "{text}");
            assert_eq!(b.execute("return document.querySelector('[data-testid=calls-refresh]').disabled;").await, true);
            let statuses: Vec<Value> = call_log_requests(env).await.iter().map(|r| r["status"].clone()).collect();
            assert_eq!(statuses, [json!(200), json!(429)]);
            // Paging while blocked sends nothing either.
            b.execute("document.querySelector('[data-testid=next-page]').click(); document.querySelector('[data-testid=calls-refresh]').click(); return 1;")
                .await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(call_log_requests(env).await.len(), 2);
            // The session is untouched by the call log's limit.
            assert!(b.exists("[data-testid=user-name]").await);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permission_is_named_with_the_fix() {
    let options = EnvOptions {
        permissions: vec!["ReadAccounts".into()],
        ..Default::default()
    };
    run("missing_permission", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            let text = b
                .wait_for_text(".calls .notice-error", "lacks the ReadCallLog permission")
                .await;
            assert!(
                text.contains("add the ReadCallLog permission under Application Scopes"),
                "{text}"
            );
            let statuses: Vec<Value> = call_log_requests(env)
                .await
                .iter()
                .map(|r| r["status"].clone())
                .collect();
            assert_eq!(statuses, [json!(403)], "one request, no retry of a 403");
            assert!(
                b.exists("[data-testid=user-name]").await,
                "the rest of the page works"
            );
        })
    })
    .await;
}

const FIELD: &str = "const row = [...document.querySelectorAll('.inspector tr')].find(r => r.querySelector('th').textContent === arguments[0]); return row ? row.querySelector('code').textContent : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_masks_secrets_until_revealed() {
    run("inspector", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for(".inspector .steps").await;
            let field = |name: &'static str| async move {
                b.client.execute(FIELD, vec![json!(name)]).await.expect("script").as_str().map(str::to_string)
            };
            let masked = field("code_verifier").await.expect("the verifier is listed");
            assert!(masked.contains('…') && masked.ends_with("(43 chars)"), "{masked}");
            let challenge = field("code_challenge = BASE64URL(SHA-256)").await.expect("the challenge is listed");
            assert_eq!(challenge.len(), 43, "the challenge is public and shown in full");
            assert!(!b.page_text().await.contains(&masked.replace('…', "")), "masked");

            b.click("[data-testid=reveal]").await;
            assert_eq!(b.execute("return document.querySelector('[data-testid=reveal]').getAttribute('aria-pressed');").await, "true");
            let verifier = field("code_verifier").await.expect("the verifier is listed");
            assert_eq!(verifier.len(), 43, "{verifier}");
            // The inspector shows the real values: the challenge is the S256 of the verifier.
            assert_eq!(rc_pkce_core::pkce::s256(&verifier), challenge);
            let session = env.stored_session().await.expect("session");
            let access = field("access_token").await.expect("the access token is listed");
            assert_eq!(access, session["access_token"].as_str().unwrap());
        })
    })
    .await;
}

/// Issue 17: "Copy diagram as SVG" puts the drawing on the clipboard, masked unless revealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequence_diagram_is_copied_as_svg_with_its_secrets_masked() {
    run("diagram_copy", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.wait_for("[data-testid=sequence] svg").await;
            let origin = env.app("/").trim_end_matches('/').to_string();
            b.cdp(
                "Browser.grantPermissions",
                json!({ "origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] }),
            )
            .await;
            b.click("[data-testid=copy-svg]").await;
            b.wait_for_text("[data-testid=copy-result]", "Copied").await;
            let copied = b.execute("return navigator.clipboard.readText();").await;
            let copied = copied.as_str().expect("text on the clipboard");
            assert!(copied.starts_with("<svg") && copied.trim_end().ends_with("</svg>"), "{copied}");
            assert!(copied.contains("/token") && copied.contains("authorize"), "{copied}");
            let session = env.stored_session().await.expect("session");
            for secret in ["access_token", "refresh_token"] {
                let value = session[secret].as_str().unwrap();
                assert!(!copied.contains(value), "{secret} in the copy");
            }
            assert_eq!(b.text("[data-testid=copy-note]").await, "Secrets stay masked in the copy.");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_while_offline_says_it_was_only_local() {
    let options = EnvOptions {
        sandbox_via_link: true,
        ..Default::default()
    };
    run("offline_sign_out", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            env.cut_link();
            b.click("[data-testid=sign-out]").await;
            let text = b.wait_for_text("[role=status]", "only deleted here").await;
            assert!(
                text.contains("sign in again when online and sign out"),
                "{text}"
            );
            assert!(b.exists("[data-testid=sign-in]").await);
            assert!(
                env.stored_session().await.is_none(),
                "the tab forgot the tokens"
            );
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1);
            assert_eq!(grants[0]["revoked"], false, "the server was never told");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_stored_session_is_discarded_with_a_message() {
    run("damaged_session", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.sign_in().await;
            b.execute(
                "sessionStorage.setItem('rc-pkce.session', '{\"v\":1,\"grant_id\":'); return 1;",
            )
            .await;
            b.reload().await;
            let text = b
                .wait_for_text("[role=status]", "Your saved session could not be used")
                .await;
            assert!(text.contains("was damaged"), "{text}");
            assert!(b.exists("[data-testid=sign-in]").await);
            assert!(
                b.session_storage().await.get("rc-pkce.session").is_none(),
                "the damaged record is gone"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_save_and_reset() {
    run("settings_reset", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/settings")).await;
            let redirect = b.text("[data-testid=redirect-uri]").await;
            assert_eq!(redirect, format!("{}/oauth2callback", env.site.origin));
            b.type_into("#client-id", "my own app").await;
            b.click("button[type=submit]").await;
            b.wait_for_text("#client-id-error", "has spaces").await;
            b.type_into("#client-id", "my-own-app").await;
            b.click("#preset-devtest").await;
            b.click("button[type=submit]").await;
            b.goto(&env.app("/")).await;
            b.wait_for_text("[data-testid=client-id]", "my-own-app")
                .await;
            b.wait_for_text("[data-testid=server]", "deprecated by RingCentral")
                .await;

            b.goto(&env.app("/settings")).await;
            b.click_button("Reset to the deployed configuration").await;
            b.goto(&env.app("/")).await;
            b.wait_for_text("[data-testid=client-id]", "rc-pkce-demo")
                .await;
            assert!(b.local_storage().await.get("rc-pkce.settings").is_none());
            assert!(env.requests().await.is_empty(), "no server was contacted");
        })
    })
    .await;
}
