//! The release build behind a real nginx (Debian's, from `cargo xtask setup --browser`), configured
//! by the steps the README's deploy section lists: put the deployment's config.json into the build
//! folder, run `cargo xtask deploy --dist <build> --url <URL> --nginx-root <web root>
//! --nginx-listen <addr> --nginx-out <file>`, copy the build to the web root, include the file in
//! nginx (see `e2e::hosting::Hosted`). Then the happy path runs through it in headless Chromium, and a plain HTTP client
//! checks every header the hosting rules promise, path by path against `_headers`/`_redirects`.
//! The same again for a build served under a sub-path (`trunk build --release --public-url
//! /rc-pkce/`, the GitHub Pages layout).

use std::panic::AssertUnwindSafe;

use e2e::Browser;
use e2e::hosting::{HostRules, Hosted, deploy_command, run_command, sign_in};
use futures_util::FutureExt;
use rc_pkce_core::config::{content_security_policy, parse_config};
use reqwest::header::HeaderMap;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Signs in through nginx in headless Chromium: account page shown, no CSP violation, one token
/// exchange from nginx's origin.
async fn happy_path(hosted: &Hosted, name: &str) {
    let browser = Browser::launch().await;
    let outcome = AssertUnwindSafe(async {
        sign_in(&browser, &hosted.page("")).await;
        let url = browser.url().await;
        assert_eq!(url, hosted.page("account"));
        // The navigation links are below the base the site is served from, and followed in place.
        browser.click("nav a[href$=\"/settings\"]").await;
        browser.wait_for("[data-testid=redirect-uri]").await;
        assert_eq!(browser.url().await, hosted.page("settings"));
        browser.back().await;
        browser.wait_for("[data-testid=sign-out]").await;
        assert_eq!(browser.url().await, hosted.page("account"));
        let violations = browser
            .execute("return window.rcPkceCspViolations || null;")
            .await;
        assert_eq!(
            violations,
            serde_json::json!([]),
            "the page tripped the CSP nginx sends"
        );
        let tokens: Vec<_> = hosted
            .sandbox_requests()
            .await
            .into_iter()
            .filter(|r| r["path"] == "/restapi/oauth/token")
            .collect();
        assert_eq!(tokens.len(), 1, "{tokens:?}");
        assert_eq!(tokens[0]["method"], "POST");
        assert_eq!(tokens[0]["status"], 200);
        assert_eq!(tokens[0]["origin"], hosted.origin.as_str());
        // The redirect URI's query (code, state) is not in nginx's access log.
        let log = std::fs::read_to_string(hosted.nginx.dir.join("access.log")).unwrap_or_default();
        assert!(log.contains("GET "), "nginx logged nothing:\n{log}");
        assert!(
            !log.contains("code=") && !log.contains("state="),
            "the callback's query is in the access log:\n{log}"
        );
    })
    .catch_unwind()
    .await;
    if let Err(panic) = outcome {
        let dir = browser.save_artifacts(name).await;
        eprintln!(
            "{name} failed; screenshot and console log in {}\nnginx log:\n{}",
            dir.display(),
            hosted.nginx.log()
        );
        browser.close().await;
        std::panic::resume_unwind(panic);
    }
    browser.close().await;
}

/// Every file of the build, the app's routes and some missing paths answer exactly as `_headers`
/// and `_redirects` say: status, the headers those files set, and the body.
async fn same_rules_as_headers_and_redirects(hosted: &Hosted) {
    let http = reqwest::Client::new();
    let rules = HostRules::read(&hosted.dist);
    let mut paths: Vec<String> = [
        "",
        "index.html",
        "config.json",
        "favicon.svg",
        "robots.txt",
        "account",
        "oauth2callback?code=c&state=s",
        "settings",
        "missing.js",
        "rc-pkce-0123456789abcdef.js",
        "no-such-page",
        "account/deeper",
        "_headers",
        "_redirects",
    ]
    .map(String::from)
    .to_vec();
    for entry in std::fs::read_dir(&hosted.dist).unwrap().flatten() {
        paths.push(entry.file_name().to_string_lossy().into_owned());
    }
    for route in paths {
        let path = format!("{}{route}", hosted.base);
        let predicted = rules.predict(&hosted.dist, &hosted.base, &path);
        let r = http.get(hosted.url(&path)).send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            predicted.status,
            "{path}: {predicted:?}"
        );
        if predicted.status != 200 {
            continue;
        }
        for (name, value) in &predicted.headers {
            let actual = header(r.headers(), name).unwrap_or_default();
            let actual = if name.eq_ignore_ascii_case("content-type") {
                actual.split(';').next().unwrap_or_default()
            } else {
                actual
            };
            assert_eq!(actual, value, "{path}: {name}");
        }
        let file = predicted.file.expect("a 200 serves a file");
        let body = std::fs::read(hosted.dist.join(&file)).unwrap();
        assert_eq!(r.bytes().await.unwrap(), body, "{path} serves {file}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_through_nginx() {
    let hosted = Hosted::start("happy").await;
    happy_path(&hosted, "nginx_happy_path").await;
    hosted.close().await;
}

/// The GitHub Pages case: built with `--public-url /rc-pkce/`, served from that folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_under_a_sub_path() {
    let hosted = Hosted::start_at("subpath", "/rc-pkce/").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let index = std::fs::read_to_string(hosted.dist.join("index.html")).unwrap();
    assert!(index.contains(r#"data-base="/rc-pkce/""#), "{index}");
    let r = http.get(hosted.url("/rc-pkce")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert!(header(r.headers(), "location").is_some_and(|l| l.ends_with("/rc-pkce/")));
    for outside in ["/", "/index.html", "/account", "/config.json"] {
        let r = http.get(hosted.url(outside)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{outside} is outside the base path");
    }
    same_rules_as_headers_and_redirects(&hosted).await;
    happy_path(&hosted, "nginx_sub_path").await;
    hosted.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_sends_the_deploy_headers() {
    let hosted = Hosted::start("headers").await;
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(hosted.url(path)).send();
    let csp = content_security_policy(
        &parse_config(&hosted.config_json, &hosted.url("/")).expect("the test's config is valid"),
    );
    assert!(
        hosted.deploy_output.contains(&csp),
        "{}",
        hosted.deploy_output
    );
    let index = std::fs::read(hosted.dist.join("index.html")).unwrap();
    let mut hashed: Vec<String> = std::fs::read_dir(&hosted.dist)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| e2e::site::is_hashed(n))
        .collect();
    hashed.sort();
    assert!(
        hashed.iter().any(|n| n.ends_with(".wasm"))
            && hashed.iter().any(|n| n.ends_with(".js"))
            && hashed.iter().any(|n| n.ends_with(".css")),
        "{hashed:?}"
    );

    // Security headers on everything, pages, assets and errors alike.
    for path in [
        "/",
        "/index.html",
        "/config.json",
        "/account",
        "/missing.js",
        &format!("/{}", hashed[0]),
    ] {
        let r = get(path).await.unwrap();
        let h = r.headers();
        assert_eq!(
            header(h, "content-security-policy"),
            Some(csp.as_str()),
            "{path}"
        );
        assert_eq!(header(h, "referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(
            header(h, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(h, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(h, "cross-origin-opener-policy"),
            Some("same-origin"),
            "{path}"
        );
        assert_eq!(header(h, "strict-transport-security"), None, "{path}: http");
    }

    // Caching: hashed assets for a year, the rest revalidated, the redirect URI in no cache.
    for name in &hashed {
        let r = get(&format!("/{name}")).await.unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(
            header(r.headers(), "cache-control"),
            Some(IMMUTABLE),
            "{name}"
        );
        if name.ends_with(".wasm") {
            assert_eq!(
                header(r.headers(), "content-type"),
                Some("application/wasm")
            );
        }
    }
    for path in [
        "/",
        "/index.html",
        "/config.json",
        "/favicon.svg",
        "/robots.txt",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            header(r.headers(), "cache-control"),
            Some("no-cache"),
            "{path}"
        );
    }
    let r = get("/robots.txt").await.unwrap();
    assert_eq!(
        header(r.headers(), "content-type"),
        Some("text/plain; charset=utf-8")
    );
    let robots = r.text().await.unwrap();
    assert!(robots.contains("Disallow: /oauth2callback\n"), "{robots}");
    let r = get("/oauth2callback?code=c&state=s").await.unwrap();
    assert_eq!(header(r.headers(), "cache-control"), Some("no-store"));
    let r = get("/config.json").await.unwrap();
    assert_eq!(r.text().await.unwrap(), hosted.config_json);

    // SPA fallback for the app's routes; real 404s for anything missing.
    for path in ["/account", "/oauth2callback?x=y", "/settings", "/"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            header(r.headers(), "content-type").is_some_and(|t| t.starts_with("text/html")),
            "{path}"
        );
        assert_eq!(r.bytes().await.unwrap(), index, "{path} serves index.html");
    }
    for path in [
        "/missing.js",
        "/rc-pkce-0123456789abcdef_bg.wasm",
        "/no-such-page",
        "/account/deeper",
        "/_headers",
        "/_redirects",
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_ne!(
            header(r.headers(), "cache-control"),
            Some(IMMUTABLE),
            "{path}"
        );
    }

    // Revalidation and compression work as a browser expects.
    let etag = get("/index.html").await.unwrap().headers()["etag"].clone();
    let r = http
        .get(hosted.url("/index.html"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let wasm = hashed.iter().find(|n| n.ends_with(".wasm")).unwrap();
    let r = http
        .get(hosted.url(&format!("/{wasm}")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(r.headers(), "content-encoding"), Some("gzip"));

    // The same rules as _headers and _redirects, path by path.
    same_rules_as_headers_and_redirects(&hosted).await;
    hosted.close().await;
}

#[tokio::test]
async fn deploy_refuses_a_client_secret() {
    let dir = std::env::temp_dir().join(format!("rc-pkce-deploy-secret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    e2e::hosting::copy_dir(e2e::bundle::release_bundle(), &dir);
    let config = r#"{"client_id":"abc","client_secret":"s3cret"}"#;
    std::fs::write(dir.join("config.json"), config).unwrap();
    let out = dir.join("nginx.conf");
    let args: Vec<String> = [
        "--dist",
        &dir.display().to_string(),
        "--url",
        "https://example.com/",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--nginx-out".to_string(), out.display().to_string()])
    .collect();
    let mut command = deploy_command(&args);
    let (ok, text) = tokio::task::spawn_blocking(move || run_command(&mut command))
        .await
        .unwrap();
    let core = parse_config(config, "https://example.com/")
        .unwrap_err()
        .to_string();
    assert!(!ok);
    assert!(text.contains(&core), "{text}");
    assert!(!out.exists() && !dir.join("_headers").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
