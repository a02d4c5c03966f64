//! The sign-in journeys of the app in headless Chromium against the sandbox: the happy path, a
//! reload and a second window, a denied consent with "Try again", a keyboard-only sign-in, and a
//! clean console and Content-Security-Policy throughout. Each test asserts what the user sees and
//! what the sandbox saw.

use std::time::Duration;

use e2e::browser::Key;
use e2e::env::{
    Env, EnvOptions, PASSWORD, USER, USER_COMPANY, USER_EXTENSION, USER_NAME, eventually, run,
};
use serde_json::Value;

/// Waits until the account page's three REST calls have answered and returns them.
async fn account_calls(env: &Env, expected: usize) -> Vec<Value> {
    eventually(
        "the account page's REST calls",
        Duration::from_secs(10),
        || async { env.api_requests("").await.len() >= expected },
    )
    .await;
    env.api_requests("").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_signs_in_and_shows_the_account() {
    run("happy_path", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.sign_in().await;
            let b = &env.browser;
            assert_eq!(
                b.text("[data-testid=extension-number]").await,
                USER_EXTENSION
            );
            b.wait_for_text("[data-testid=company]", USER_COMPANY).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            let url = b.url().await;
            assert!(url.ends_with("/account"), "{url}");
            assert!(!url.contains("code=") && !url.contains("state="), "{url}");
            let session = env
                .stored_session()
                .await
                .expect("session in sessionStorage");
            assert_eq!(session["v"], 2);
            // Bound to the server it came from, with the key its tabs share.
            assert_eq!(session["binding"]["client_id"], "rc-pkce-demo");
            let access = session["access_token"].as_str().unwrap().to_string();
            let refresh = session["refresh_token"].as_str().unwrap().to_string();
            let tab_key = session["tab_key"].as_str().unwrap().to_string();
            assert_eq!(tab_key.len(), 43);
            let local = b.local_storage().await.to_string();
            assert!(
                !local.contains(&access) && !local.contains(&refresh) && !local.contains(&tab_key),
                "no token or key in localStorage: {local}"
            );
            // The pending sign-in (verifier, state) is gone once used.
            let pending = b.session_storage().await;
            assert!(pending.get("rc-pkce.pending").is_none(), "{pending}");

            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["grant_type"], "authorization_code");
            assert_eq!(tokens[0]["status"], 200);
            assert_eq!(tokens[0]["origin"], env.site.origin.as_str());
            assert!(tokens[0]["authorization"].is_null(), "a public client");
            let calls = account_calls(env, 3).await;
            assert!(
                calls.iter().all(|c| c["status"] == 200
                    && c["authorization"] == "bearer"
                    && c["grant_id"] == "g1"),
                "{calls:?}"
            );
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1, "{grants:?}");
            assert_eq!(grants[0]["user"], USER);
            assert_eq!(grants[0]["revoked"], false);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_the_session_and_a_new_window_starts_signed_out() {
    run("reload_and_new_window", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.sign_in().await;
            let b = &env.browser;
            account_calls(env, 3).await;
            let first = b.current_window().await;
            let before = env.stored_session().await.expect("stored session");

            b.reload().await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(b.url().await.ends_with("/account"));
            assert_eq!(env.stored_session().await, Some(before.clone()));
            // The reloaded page used the stored tokens: more API calls, no token request.
            let calls = account_calls(env, 6).await;
            assert!(calls.iter().all(|c| c["status"] == 200), "{calls:?}");
            assert_eq!(env.token_requests(None).await.len(), 1);

            // A window the user opens on the app shares nothing with the first one.
            b.open_window(&env.app("/")).await;
            b.wait_for_text("[data-testid=sign-in]", "Sign in with RingCentral")
                .await;
            assert!(!b.exists("[data-testid=user-name]").await);
            assert!(env.stored_session().await.is_none());
            b.goto(&env.app("/account")).await;
            b.wait_for("[data-testid=sign-in]").await;
            assert!(b.url().await.ends_with('/'), "{}", b.url().await);

            // ...and the first window is still signed in.
            b.switch_to(&first).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert_eq!(env.token_requests(None).await.len(), 1);
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1);
            assert_eq!(grants[0]["revoked"], false);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_explains_and_try_again_signs_in() {
    run("denied_consent", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "deny").await;
            b.wait_for_page_text("Sign-in did not complete").await;
            let text = b
                .wait_for_page_text("Access was denied: the sign-in was cancelled or not approved.")
                .await;
            assert!(
                text.contains("Sign in again and choose Allow if you want to use the app."),
                "{text}"
            );
            assert!(text.contains("access_denied"), "{text}");
            let url = b.url().await;
            assert!(!url.contains("error=") && !url.contains("state="), "{url}");
            assert!(env.token_requests(None).await.is_empty());
            assert!(env.stored_session().await.is_none());

            b.click_button("Try again").await;
            b.wait_for("input[name=username]").await;
            assert!(
                b.url()
                    .await
                    .starts_with(&format!("{}/restapi/oauth/authorize", env.sandbox_origin())),
                "{}",
                b.url().await
            );
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(!b.page_text().await.contains("Access was denied"));

            let posts: Vec<_> = env
                .requests_to("/restapi/oauth/authorize")
                .await
                .into_iter()
                .filter(|r| r["method"] == "POST")
                .collect();
            assert_eq!(posts.len(), 2, "a deny, then an allow: {posts:?}");
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["status"], 200);
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_only_sign_in() {
    run("keyboard_sign_in", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            let focused = "const e = document.activeElement; return e ? (e.dataset.testid || e.name || e.id || e.className || e.tagName) : null;";
            // Tab through the page until the sign-in button has the focus.
            let mut order = Vec::new();
            for _ in 0..12 {
                b.press(Key::Tab).await;
                let now = b.execute(focused).await;
                order.push(now.clone());
                if now == "sign-in" {
                    break;
                }
            }
            assert_eq!(order.first().map(|v| v.as_str()), Some(Some("skip-link")), "{order:?}");
            assert_eq!(order.last().map(|v| v.as_str()), Some(Some("sign-in")), "{order:?}");
            let outline = b
                .execute("return getComputedStyle(document.activeElement).outlineStyle;")
                .await;
            assert_ne!(outline, "none", "the focused button shows a focus ring");
            b.press(Key::Enter).await;

            // The sandbox's form, by keyboard too.
            b.wait_for("input[name=username]").await;
            b.press(Key::Tab).await;
            assert_eq!(b.execute(focused).await, "username");
            b.type_active(USER).await;
            b.press(Key::Tab).await;
            assert_eq!(b.execute(focused).await, "password");
            b.type_active(PASSWORD).await;
            b.press(Key::Tab).await;
            assert_eq!(
                b.execute("return document.activeElement.value;").await,
                "allow"
            );
            b.press(Key::Enter).await;

            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(b.url().await.ends_with("/account"));
            let tokens = env.token_requests(Some("authorization_code")).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["status"], 200);
        })
    })
    .await;
}

const VIOLATIONS: &str =
    "return window.rcPkceCspViolations === undefined ? null : window.rcPkceCspViolations;";

async fn assert_no_violations(env: &Env, page: &str) {
    // boot.js defines the list before it loads the app; null would mean the check never ran.
    env.browser
        .wait_until(
            "boot.js's CSP violation list",
            "return Array.isArray(window.rcPkceCspViolations);",
        )
        .await;
    let v = env.browser.execute(VIOLATIONS).await;
    assert_eq!(v, Value::Array(vec![]), "CSP violations on {page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_has_no_console_errors_and_no_csp_violations() {
    run("clean_console", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            // The policy the site sends is the one computed from config.json, and it is strict.
            let resp = env
                .http
                .get(env.app("/"))
                .send()
                .await
                .expect("site answers");
            let csp = resp
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            assert_eq!(csp, env.site.csp());
            assert!(
                csp.contains(&format!("connect-src 'self' {}", env.sandbox.base_url())),
                "{csp}"
            );
            assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");
            assert!(!csp.contains("unsafe-inline"), "{csp}");

            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            assert_no_violations(env, "/").await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert_no_violations(env, "/oauth2callback → /account").await;
            b.goto(&env.app("/settings")).await;
            b.wait_for("[data-testid=redirect-uri]").await;
            assert_no_violations(env, "/settings").await;
            b.goto(&env.app("/account")).await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert_no_violations(env, "/account (reloaded)").await;
            let errors = env.console_errors().await;
            assert!(errors.is_empty(), "console errors: {errors:#?}");
            assert_eq!(env.token_requests(None).await.len(), 1);

            // The checks above can fail: a blocked image is reported both ways.
            b.execute("const i = new Image(); i.src = 'http://203.0.113.9/probe.png'; document.body.appendChild(i); return true;")
                .await;
            b.wait_until(
                "the probe's CSP violation",
                "return window.rcPkceCspViolations.some(v => v.startsWith('img-src'));",
            )
            .await;
            let errors = env.console_errors().await;
            assert!(
                errors.iter().any(|e| e.contains("Content Security Policy")),
                "{errors:#?}"
            );
        })
    })
    .await;
}

/// The navigation links change the page in place (no reload: a marker set on `window` survives),
/// mark the page shown with `aria-current`, and Back and Forward go through the pages visited. A
/// signed-in user who follows Home is passed on to the account page, which replaces that entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn navigation_links_change_the_page_in_place_and_history_follows() {
    run("in_app_navigation", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.sign_in().await;
            let b = &env.browser;
            b.execute("window.__samePage = 'yes'; return null;").await;
            let current = |href: &'static str| async move {
                b.attr(&format!("nav a[href=\"{href}\"]"), "aria-current")
                    .await
            };
            let same_page = || async {
                assert_eq!(
                    b.execute("return window.__samePage || null;").await,
                    "yes",
                    "the page was reloaded"
                );
            };
            assert_eq!(current("/account").await.as_deref(), Some("page"));
            assert_eq!(current("/settings").await, None);
            assert_eq!(current("/").await, None);

            b.click("nav a[href=\"/settings\"]").await;
            b.wait_for("[data-testid=redirect-uri]").await;
            assert!(b.url().await.ends_with("/settings"), "{}", b.url().await);
            assert_eq!(current("/settings").await.as_deref(), Some("page"));
            assert_eq!(current("/account").await, None);
            same_page().await;

            b.back().await;
            b.wait_for_text("[data-testid=extension-number]", USER_EXTENSION)
                .await;
            assert!(b.url().await.ends_with("/account"), "{}", b.url().await);
            assert_eq!(current("/account").await.as_deref(), Some("page"));
            same_page().await;

            b.forward().await;
            b.wait_for("[data-testid=redirect-uri]").await;
            assert!(b.url().await.ends_with("/settings"), "{}", b.url().await);
            same_page().await;

            // Home, signed in, passes the user on to the account page in place of its entry.
            b.click("nav a[href=\"/\"]").await;
            b.wait_for_text("[data-testid=extension-number]", USER_EXTENSION)
                .await;
            assert!(b.url().await.ends_with("/account"), "{}", b.url().await);
            same_page().await;
            b.back().await;
            b.wait_for("[data-testid=redirect-uri]").await;
            assert!(b.url().await.ends_with("/settings"), "{}", b.url().await);

            // An unknown path is the app's "not found" page, whose link leads home.
            b.goto(&env.app("/no-such-page")).await;
            b.wait_for_page_text("Page not found").await;
            b.click("main a[href=\"/\"]").await;
            b.wait_for_text("[data-testid=extension-number]", USER_EXTENSION)
                .await;
        })
    })
    .await;
}
