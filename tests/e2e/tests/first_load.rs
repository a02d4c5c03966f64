//! The first-load modules (src/first_load): with the app's own module held back by the site, the
//! home page's sign-in button works and the account page shows the user's name; once the app
//! arrives it takes over the page and uses the answers already fetched, so the code is exchanged
//! once and each account request is sent once. A reload after the code was sent does not send it
//! again. If the app never takes over (it cannot start, or the page is left first), the tokens the
//! first-load module got are revoked and nothing secret stays on the hand-off global. With OpenID
//! Connect the redirect URI's module steps aside: only the app verifies the ID token, and it does
//! so before any API call.

use std::time::Duration;

use e2e::env::{
    EnvOptions, PASSWORD, USER, USER_COMPANY, USER_EXTENSION, USER_NAME, eventually, run,
};
use serde_json::{Value, json};

/// What the first-load module and the app left on `window.rcPkceEarly`.
const HAND_OFF: &str = r#"
const h = window.rcPkceEarly || {};
return { painted: h.painted || null, tookOver: !!h.appTookOver, requests: (h.requests || []).length, pending: "pending" in h, callback: "callback" in h };
"#;

fn app_modules_served(served: &[e2e::site::Served]) -> usize {
    served
        .iter()
        .filter(|s| e2e::site::is_app_module(&s.path))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_works_and_the_name_shows_before_the_app_has_loaded() {
    run("first_load_before_app", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            record_page_texts(b).await;
            env.site.hold_app();
            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["painted"], "home", "{h}");
            assert_eq!(h["tookOver"], false, "{h}");
            assert_eq!(b.text("[data-testid=client-id]").await, "rc-pkce-demo");
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;

            // Still without the app: the name and the extension's facts are on screen.
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert_eq!(
                b.text("[data-testid=extension-number]").await,
                USER_EXTENSION
            );
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["painted"], "account", "{h}");
            assert_eq!(h["tookOver"], false, "{h}");
            // The pending record left storage when the code was sent; the app takes it over.
            assert!(b.session_storage().await.get("rc-pkce.pending").is_none());
            assert_eq!(h["pending"], true, "{h}");
            // The code left the address bar before it was sent, without the app: the URL went
            // to the hand-off.
            let url = b.url().await;
            assert!(url.ends_with("/oauth2callback"), "{url}");
            assert_eq!(h["callback"], true, "{h}");
            assert_eq!(app_modules_served(&env.site.served()), 0);
            assert_eq!(env.token_requests(None).await.len(), 1);
            eventually("both account requests", Duration::from_secs(5), || async {
                env.api_requests("").await.len() == 2
            })
            .await;
            assert!(!b.exists("[data-testid=sign-out]").await);

            // The app arrives and takes over with the answers the first-load module got.
            env.site.release_app();
            b.wait_for("[data-testid=sign-out]").await;
            b.wait_for_text("[data-testid=company]", USER_COMPANY).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert_eq!(b.text("[data-testid=user-name]").await, USER_NAME);
            assert!(b.url().await.ends_with("/account"));
            // However late the app came, the name it found on screen stayed there.
            assert_no_step_back(&b.execute("return window.rcPkceTexts;").await);
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "the code is exchanged once: {tokens:?}");
            assert_eq!(tokens[0]["status"], 200);
            let api: Vec<Value> = env.api_requests("").await;
            let count = |suffix: &str| {
                api.iter()
                    .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
                    .count()
            };
            assert_eq!(count("/extension/~"), 1, "{api:?}");
            assert_eq!(count("/account/~"), 1, "{api:?}");
            assert!(api.iter().all(|r| r["status"] == 200), "{api:?}");
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["tookOver"], true, "{h}");
            assert_eq!(h["pending"], false, "{h}");
            assert_eq!(h["callback"], false, "{h}");
            eventually(
                "nothing left in the hand-off",
                Duration::from_secs(5),
                || async { b.execute(HAND_OFF).await["requests"] == 0 },
            )
            .await;
            assert!(env.stored_session().await.is_some());
            assert!(
                env.console_errors().await.is_empty(),
                "{:?}",
                env.console_errors().await
            );
            // The app has the tokens: leaving the page must not revoke them (the first-load
            // module's revocation is only for a sign-in the app never took).
            b.goto(&env.app("/favicon.svg")).await;
            tokio::time::sleep(Duration::from_millis(1000)).await;
            assert!(env.revoke_requests().await.is_empty());
            assert_eq!(env.grants().await[0]["revoked"], false);
        })
    })
    .await;
}

/// The sandbox's grants, once the first one is revoked.
async fn wait_for_revoked_grant(env: &e2e::env::Env) -> Vec<Value> {
    eventually("the grant revoked", Duration::from_secs(10), || async {
        env.grants()
            .await
            .first()
            .is_some_and(|g| g["revoked"] == true)
    })
    .await;
    env.grants().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_cannot_start_leaves_no_secret_behind_and_its_sign_in_is_revoked() {
    run("first_load_app_broken", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            // A deployment breaks while the user is at the sign-in page: back at the redirect URI
            // only the first-load module runs, and it exchanges the code.
            env.site.break_app();
            env.consent(USER, PASSWORD, "allow").await;
            let text = b.wait_for_page_text("The sign-in was undone").await;
            assert!(text.contains("The app could not start"), "{text}");
            let tokens = env.token_requests(None).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["status"], 200, "{tokens:?}");
            // Nothing the app would have taken stays on the global: no code (in the callback
            // URL), no verifier (in the pending record), no token answer.
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["pending"], false, "{h}");
            assert_eq!(h["callback"], false, "{h}");
            assert_eq!(h["requests"], 0, "{h}");
            assert!(!b.url().await.contains("code="));
            assert!(env.stored_session().await.is_none());
            // And the grant the server handed out is ended.
            let grants = wait_for_revoked_grant(env).await;
            assert_eq!(grants.len(), 1, "{grants:?}");
            let revokes = env.revoke_requests().await;
            assert_eq!(revokes.len(), 1, "{revokes:?}");
            assert_eq!(revokes[0]["status"], 200, "{revokes:?}");
            assert_eq!(revokes[0]["grant_id"], "g1", "{revokes:?}");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_left_before_the_app_came_revokes_the_sign_in() {
    run("first_load_left_early", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.site.hold_app();
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            // The first-load module has the tokens (it drew the name with them); the app is still
            // on its way when the user leaves.
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert!(env.revoke_requests().await.is_empty());
            b.goto(&env.app("/favicon.svg")).await;
            let grants = wait_for_revoked_grant(env).await;
            assert_eq!(grants.len(), 1, "{grants:?}");
            assert_eq!(env.revoke_requests().await.len(), 1);
            env.site.release_app();
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_after_the_code_was_sent_does_not_send_it_again() {
    run("first_load_reload", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.site.hold_app();
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            assert_eq!(env.token_requests(None).await.len(), 1);
            // The address bar no longer holds the code (a reload loads the bare redirect URI);
            // load the callback URL again, code and state included, before the app has run.
            assert!(!b.url().await.contains("code="));
            b.execute("location.replace(window.rcPkceEarly.callback); return true;")
                .await;
            env.site.release_app();
            b.wait_for_text("main h1", "Sign-in did not complete").await;
            assert_eq!(
                env.token_requests(None).await.len(),
                1,
                "a reload must not send the code again"
            );
            assert!(env.stored_session().await.is_none());
        })
    })
    .await;
}

fn callback_module_files(served: &[e2e::site::Served]) -> Vec<String> {
    served
        .iter()
        .filter(|s| s.path.contains("/rc-pkce-callback-"))
        .map(|s| format!("{} {}", s.status, s.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_uris_module_is_cached_before_the_sign_in_leaves() {
    run("first_load_callback_cached", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            // boot.js asks for it only once the app runs (that it is not among the files loaded
            // before the sign-in button works is in `cargo xtask bench`'s first-visit table).
            eventually(
                "the app has taken over",
                Duration::from_secs(10),
                || async { b.execute(HAND_OFF).await["tookOver"] == true },
            )
            .await;
            eventually(
                "the callback module fetched ahead",
                Duration::from_secs(10),
                || async {
                    let files = callback_module_files(&env.site.served());
                    files
                        .iter()
                        .any(|f| f.starts_with("200 ") && f.ends_with(".js"))
                        && files
                            .iter()
                            .any(|f| f.starts_with("200 ") && f.ends_with("_bg.wasm"))
                },
            )
            .await;
            env.site.clear_log();
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            b.wait_for("[data-testid=sign-out]").await;
            let served = env.site.served();
            assert!(
                served
                    .iter()
                    .any(|s| s.path.ends_with("/oauth2callback") && s.query.is_some()),
                "the callback page was served: {served:?}"
            );
            // The redirect URI's module came from the HTTP cache: not even a revalidation.
            assert_eq!(callback_module_files(&served), Vec::<String>::new());
            // It ran there: it sent the code (once; the app took the answer from the hand-off).
            let sent = b
                .execute(
                    r#"return performance.getEntriesByName("rc-pkce:token-post-sent").length;"#,
                )
                .await;
            assert_eq!(sent, 1);
            assert_eq!(env.token_requests(None).await.len(), 1);
            assert!(env.stored_session().await.is_some());
        })
    })
    .await;
}

/// Why the last session ended survives a reload (a record in sessionStorage, no secret): the
/// first-load module leaves such a page to the app, and the app's home page says why until the
/// user dismisses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_end_of_session_is_left_to_the_app_which_says_why() {
    run("first_load_end_reason", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for("[data-testid=sign-in]").await;
            b.execute(
                r#"sessionStorage.setItem("rc-pkce.ended", "v=1&reason=expired"); return 1;"#,
            )
            .await;
            env.site.hold_app();
            b.reload().await;
            // Long enough for the first-load module to draw, if it were going to.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["painted"], Value::Null, "{h}");
            env.site.release_app();
            b.wait_for_page_text("Your session expired").await;
            b.wait_for("[data-testid=sign-in]").await;
            b.click_button("Dismiss").await;
            eventually("the record is gone", Duration::from_secs(5), || async {
                b.session_storage().await.get("rc-pkce.ended").is_none()
            })
            .await;
            b.reload().await;
            b.wait_for("[data-testid=sign-in]").await;
            assert!(!b.page_text().await.contains("Your session expired"));
        })
    })
    .await;
}

/// Installed before any page script runs (DevTools): the page's text after every batch of DOM
/// changes, each different one once.
const TEXT_RECORDER: &str = r#"
window.rcPkceTexts = [];
const note = () => {
  const text = document.body ? document.body.innerText : "";
  const all = window.rcPkceTexts;
  if (all[all.length - 1] !== text && all.length < 5000) all.push(text);
};
new MutationObserver(note).observe(document, { subtree: true, childList: true, characterData: true });
"#;

/// Installs [`TEXT_RECORDER`] in every page this browser loads from now on.
async fn record_page_texts(b: &e2e::Browser) {
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        serde_json::json!({ "source": TEXT_RECORDER }),
    )
    .await;
}

/// Fails unless the page texts [`TEXT_RECORDER`] kept show the user's name from its first
/// appearance on, with nothing of it going back to loading.
fn assert_no_step_back(recorded: &Value) {
    let texts: Vec<String> = serde_json::from_value(recorded.clone())
        .expect("the recorder ran on the redirect URI's page");
    let first = texts
        .iter()
        .position(|t| t.contains(USER_NAME))
        .unwrap_or_else(|| panic!("the name never showed: {texts:#?}"));
    for (i, t) in texts.iter().enumerate().skip(first) {
        assert!(
            t.contains(USER_NAME) && !t.contains("Loading your extension"),
            "step {i} of {} went back after the name showed at step {first}: {t:?}\n{texts:#?}",
            texts.len()
        );
    }
}

/// Issue 17: on the way back from the sign-in page the name appeared (the first-load module's
/// page), then the page was emptied, then said "Loading your extension…", then showed the name
/// again. Once the name is on screen it stays, through the app's take-over and the route change
/// to `/account`, and nothing it showed goes back to loading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_once_shown_stays_on_screen_until_the_account_page_is_complete() {
    run("first_load_no_step_back", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            record_page_texts(b).await;
            b.goto(&env.app("/")).await;
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            b.wait_for("[data-testid=sign-out]").await;
            b.wait_for_text("[data-testid=company]", USER_COMPANY).await;
            b.wait_for("[data-testid=calls] .call-row").await;
            assert!(b.url().await.ends_with("/account"));
            assert_no_step_back(&b.execute("return window.rcPkceTexts;").await);
            let h = b.execute(HAND_OFF).await;
            assert_eq!(h["tookOver"], true, "{h}");
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openid_the_code_waits_for_the_app_which_verifies_before_any_api_call() {
    let options = EnvOptions {
        config_extra: json!({"openid": true}),
        ..Default::default()
    };
    run("first_load_openid", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            env.site.hold_app();
            b.goto(&env.app("/")).await;
            // The home module still starts the sign-in (the core draws the nonce).
            b.click("[data-testid=sign-in]").await;
            env.consent(USER, PASSWORD, "allow").await;
            eventually("the redirect URI", Duration::from_secs(10), || async {
                b.url().await.contains("/oauth2callback")
            })
            .await;
            // With the app held back nothing is sent: the callback module left it to the app.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert!(env.token_requests(None).await.is_empty());
            assert_eq!(b.execute(HAND_OFF).await["requests"], 0);
            env.site.release_app();
            b.wait_for_text("[data-testid=user-name]", USER_NAME).await;
            let requests = env.requests().await;
            let first = |what: &dyn Fn(&Value) -> bool| {
                requests
                    .iter()
                    .find(|r| r["method"] == "GET" && what(r))
                    .and_then(|r| r["seq"].as_u64())
            };
            let keys = first(&|r| r["path"] == "/restapi/oauth/jwks").expect("the key set");
            let api = first(&|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/restapi/v1.0/"))
            })
            .expect("an API read");
            assert!(keys < api, "{requests:#?}");
            assert_eq!(
                env.token_requests(Some("authorization_code")).await.len(),
                1
            );
        })
    })
    .await;
}
