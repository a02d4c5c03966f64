//! A site deployed without a usable `config.json`: missing, with a misspelt key, with a client
//! secret. The app must say which file and which field is wrong and how to fix it, offer no
//! sign-in, and contact no server. And a configuration that reads its endpoints from the issuer's
//! discovery document: it signs in with them, and a document that cannot be used is an error that
//! names its URL and field, with no sign-in offered.

use e2e::env::{Env, EnvOptions, run};
use e2e::site::ConfigFile;
use serde_json::json;

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
            // A sign-in that cannot go on still takes its code out of the address bar.
            b.goto(&env.app("/oauth2callback?code=THE-CODE&state=S"))
                .await;
            b.wait_for_text("[data-testid=config-problem]", "config.json is missing")
                .await;
            let url = b.url().await;
            assert!(url.ends_with("/oauth2callback"), "{url}");
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

/// The sandbox's discovery document, as the app asks for it.
const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// A config.json with nothing but the client, the issuer and discovery.
fn discovering(issuer: &str) -> ConfigFile {
    ConfigFile::Json(
        json!({"client_id": "rc-pkce-demo", "issuer": issuer, "discovery": true}).to_string(),
    )
}

/// The sandbox saw only discovery GETs, without credentials, and the page offers no sign-in.
async fn only_discovery_was_asked(env: &Env) {
    let requests = env.requests().await;
    assert!(!requests.is_empty(), "the document was asked for");
    for r in &requests {
        assert_eq!(
            (r["method"].as_str(), r["path"].as_str()),
            (Some("GET"), Some(DISCOVERY_PATH)),
            "{requests:#?}"
        );
        assert!(r["authorization"].is_null(), "{r}");
    }
    assert!(!env.browser.exists("[data-testid=sign-in]").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_only_config_signs_in_with_the_documents_endpoints() {
    run("config_discovery", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.site.set_config(discovering(env.sandbox.base_url()));
            env.sign_in().await;
            // Once per page load: the home page and the redirect URI (the account page is an
            // in-app navigation). The first-load modules stepped aside, so the app sent the rest.
            let asked = env.requests_to(DISCOVERY_PATH).await;
            assert_eq!(asked.len(), 2, "{asked:#?}");
            assert!(
                asked.iter().all(|r| r["authorization"].is_null()),
                "{asked:#?}"
            );
            assert_eq!(
                env.token_requests(Some("authorization_code")).await.len(),
                1
            );
            assert!(!env.api_requests("/extension/~").await.is_empty());
            assert_eq!(env.console_errors().await, Vec::<String>::new());
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_discovery_document_is_named_and_no_sign_in_is_offered() {
    run("config_discovery_fails", EnvOptions::default(), |env| {
        Box::pin(async move {
            let b = &env.browser;
            let base = env.sandbox.base_url().to_string();
            let url = format!("{base}{DISCOVERY_PATH}");
            env.site.set_config(discovering(&base));

            // The server answers with an error instead of the document.
            env.fault(json!({"target": "discovery", "status": 503})).await;
            b.goto(&env.app("/")).await;
            b.wait_for_text("[data-testid=config-error]", "Problem with discovery")
                .await;
            assert_eq!(
                b.text("[data-testid=config-problem]").await,
                format!(
                    "The issuer's metadata could not be used: {url}: answered HTTP 503 instead of the document."
                )
            );
            let fix = b.text("[data-testid=config-fix]").await;
            assert!(fix.contains("`issuer`") && fix.contains("reload"), "{fix}");
            only_discovery_was_asked(env).await;
            // The fault is used up: a reload reads the document and offers the sign-in.
            b.reload().await;
            b.wait_for("[data-testid=sign-in]").await;

            // Another issuer than the one the document names (the same server, by another
            // name): the document is not trusted, whatever endpoints it lists.
            env.clear_requests().await;
            let other = base.replace("127.0.0.1", "localhost");
            env.site.set_config(discovering(&other));
            b.reload().await;
            b.wait_for_text("[data-testid=config-error]", "Problem with issuer")
                .await;
            assert_eq!(
                b.text("[data-testid=config-problem]").await,
                format!(
                    "The issuer's metadata could not be used: {other}{DISCOVERY_PATH}: \"issuer\" is \"{base}\", not the configured \"{other}\": the document is not that issuer's."
                )
            );
            let fix = b.text("[data-testid=config-fix]").await;
            assert!(fix.contains("set `issuer` in config.json"), "{fix}");
            only_discovery_was_asked(env).await;
        })
    })
    .await;
}
