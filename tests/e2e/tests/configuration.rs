//! A site deployed without a usable `config.json`: missing, with a misspelt key, with a client
//! secret. The app must say which file and which field is wrong and how to fix it, offer no
//! sign-in, and contact no server.

use e2e::env::{Env, EnvOptions, run};
use e2e::site::ConfigFile;

async fn assert_sandbox_untouched(env: &Env) {
    let requests = env.requests().await;
    assert!(requests.is_empty(), "{requests:#?}");
    assert!(!env.browser.exists("[data-testid=sign-in]").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_config_is_named() {
    let options = EnvOptions {
        config_override: Some(ConfigFile::Missing),
        ..Default::default()
    };
    run("config_missing", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for_text("h1", "This app is not configured yet")
                .await;
            let problem = b.text("[data-testid=config-problem]").await;
            assert_eq!(
                problem,
                format!(
                    "config.json is missing: {}/config.json answered 404 Not Found.",
                    env.site.origin
                )
            );
            let fix = b.text("[data-testid=config-fix]").await;
            assert!(fix.contains("{\"client_id\": \"YOUR_CLIENT_ID\"}"), "{fix}");
            assert!(fix.contains("Settings page"), "{fix}");
            // Every app route explains the same.
            b.goto(&env.app("/account")).await;
            b.wait_for_text("[data-testid=config-problem]", "config.json is missing")
                .await;
            let served: Vec<_> = env
                .site
                .served()
                .into_iter()
                .filter(|s| s.path == "/config.json")
                .map(|s| s.status)
                .collect();
            assert_eq!(served, [404, 404]);
            assert_sandbox_untouched(env).await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_names_the_field_and_the_fix() {
    let options = EnvOptions {
        config_override: Some(ConfigFile::Json(
            r#"{"client_id": "rc-pkce-demo", "sever": "http://127.0.0.1:9"}"#.into(),
        )),
        ..Default::default()
    };
    run("config_invalid", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/")).await;
            b.wait_for_text("[data-testid=config-error]", "Problem with sever")
                .await;
            assert_eq!(
                b.text("[data-testid=config-problem]").await,
                "is not a setting this app knows."
            );
            let fix = b.text("[data-testid=config-fix]").await;
            assert!(fix.starts_with("Did you mean `server`?"), "{fix}");
            assert_sandbox_untouched(env).await;

            // A client secret is refused with the reason, not silently ignored.
            env.site.set_config(ConfigFile::Json(
                r#"{"client_id": "rc-pkce-demo", "client_secret": "s3cr3t"}"#.into(),
            ));
            b.reload().await;
            b.wait_for_text("[data-testid=config-error]", "Problem with client_secret")
                .await;
            let problem = b.text("[data-testid=config-problem]").await;
            assert!(
                problem.contains("a browser app must not have a client secret"),
                "{problem}"
            );
            let fix = b.text("[data-testid=config-fix]").await;
            assert!(fix.contains("Authorization Code with PKCE"), "{fix}");
            assert!(fix.contains("rotate it"), "{fix}");
            assert!(
                !b.page_text().await.contains("s3cr3t"),
                "the secret is not echoed"
            );
            assert_sandbox_untouched(env).await;
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_override_a_broken_config_with_a_warning() {
    let options = EnvOptions {
        config_override: Some(ConfigFile::Json(r#"{"clientid": "typo"}"#.into())),
        ..Default::default()
    };
    run("config_settings_override", options, |env| {
        Box::pin(async move {
            let b = &env.browser;
            b.goto(&env.app("/settings")).await;
            b.type_into("#client-id", "visitor-app-id").await;
            b.click("#preset-production").await;
            b.click("button[type=submit]").await;
            // The page reloads with the visitor's app over the defaults, and says why.
            b.goto(&env.app("/")).await;
            b.wait_for_text("[data-testid=client-id]", "visitor-app-id")
                .await;
            b.wait_for_text("[data-testid=server]", "https://platform.ringcentral.com")
                .await;
            let warning = b.text(".notice-warning").await;
            assert!(warning.contains("clientid"), "{warning}");
            assert!(warning.contains("Did you mean `client_id`?"), "{warning}");
            let local = b.local_storage().await;
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(
                    local["rc-pkce.settings"].as_str().unwrap()
                )
                .unwrap(),
                serde_json::json!({"client_id": "visitor-app-id", "preset": "production"})
            );
            assert!(env.requests().await.is_empty());
        })
    })
    .await;
}
