//! Security properties checked on the real release bundle and in the browser: no client secret or
//! hard-coded token in the shipped files, no token in localStorage after a full session, the
//! memory-only token mode, and the security headers the site sends.

use e2e::bundle::release_bundle;
use e2e::env::{EnvOptions, run};
use serde_json::json;

/// Patterns that would mean a secret or a token was compiled or copied into the bundle.
const FORBIDDEN: [&str; 6] = [
    "client_secret\":",
    "client_secret=",
    "clientSecret",
    "Basic ",
    "eyJhbGciOi",
    "-----BEGIN",
];

/// trunk's subresource-integrity hashes (`integrity="sha384-..."`) are long base64 strings by design.
fn without_integrity_hashes(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("integrity=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "integrity=\"".len()..];
        rest = after.find('"').map_or("", |j| &after[j + 1..]);
    }
    out.push_str(rest);
    out
}

#[test]
fn release_bundle_contains_no_secret_or_token() {
    let dist = release_bundle();
    let mut scanned = 0;
    for entry in std::fs::read_dir(dist).expect("dist is readable") {
        let path = entry.expect("entry").path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).expect("file is readable");
        let text = without_integrity_hashes(&String::from_utf8_lossy(&bytes));
        for pattern in FORBIDDEN {
            assert!(
                !text.contains(pattern),
                "{} contains {pattern:?}",
                path.display()
            );
        }
        // A long run of base64url characters in a text asset would be an embedded credential.
        if path
            .extension()
            .is_some_and(|e| e == "js" || e == "json" || e == "html")
        {
            let longest = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .map(str::len)
                .max()
                .unwrap_or(0);
            assert!(
                longest < 60,
                "{} has a {longest}-character token-like string",
                path.display()
            );
        }
        scanned += 1;
    }
    assert!(
        scanned >= 5,
        "expected the whole bundle, scanned {scanned} files"
    );
    let config = std::fs::read_to_string(dist.join("config.json")).expect("config.json shipped");
    assert!(rc_pkce_core::config::parse_config(&config, "http://localhost:5000/").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_mode_keeps_tokens_out_of_storage_and_a_reload_signs_out() {
    let options = EnvOptions {
        config_extra: json!({ "token_storage": "memory" }),
        ..Default::default()
    };
    run("memory_mode", options, |env| {
        Box::pin(async move {
            env.sign_in().await;
            let session = env.browser.session_storage().await;
            assert!(
                session.get("rc-pkce.session").is_none(),
                "memory mode stores no session: {session}"
            );
            let local = env.browser.local_storage().await.to_string();
            assert!(!local.contains("access_token"), "{local}");
            env.browser.client.refresh().await.expect("reload");
            env.browser.wait_for("[data-testid=sign-in]").await;
            assert_eq!(
                env.token_requests(None).await.len(),
                1,
                "a reload sends no token request"
            );
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_ever_reaches_local_storage_and_headers_are_served() {
    run("local_storage_scan", EnvOptions::default(), |env| {
        Box::pin(async move {
            env.sign_in().await;
            let stored = env.stored_session().await.expect("session stored");
            let access = stored["access_token"]
                .as_str()
                .expect("access token")
                .to_string();
            let refresh = stored["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_string();
            env.browser.click("[data-testid=refresh-now]").await;
            env.browser
                .wait_for_text("[data-testid=generation]", "1")
                .await;
            let local = env.browser.local_storage().await.to_string();
            for secret in [access.as_str(), refresh.as_str()] {
                assert!(
                    !local.contains(secret),
                    "a token is in localStorage: {local}"
                );
            }
            assert!(
                !local.contains("token"),
                "localStorage mentions tokens: {local}"
            );
            let resp = env.http.get(env.app("/")).send().await.expect("index");
            let h = resp.headers();
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(
                csp.contains("frame-ancestors 'none'") && csp.contains("base-uri 'none'"),
                "{csp}"
            );
            assert!(!csp.contains("'unsafe-inline'"), "{csp}");
            assert!(
                csp.contains(env.sandbox.base_url()),
                "connect-src names the sandbox: {csp}"
            );
            assert_eq!(h["referrer-policy"], "no-referrer");
        })
    })
    .await;
}
