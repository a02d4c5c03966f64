//! `cargo xtask bench`: what a first visit downloads before the sign-in button works, what a whole
//! sign-in downloads, and how fast the app gets from the OAuth callback to the user's name, next to
//! a floor and to a page built on RingCentral's official JS SDK.
//!
//! It builds the release bundle (the harness's trunk build), serves it with the harness's static
//! site, runs an in-process sandbox with rate limits off, serves the two comparison pages on
//! origins of their own, and drives one headless Chromium in five phases:
//!
//! 1. first visits: the HTTP cache is emptied (DevTools `Network.clearBrowserCache`), `/` is loaded
//!    and the `rc-pkce:sign-in-ready` mark read; then `/` again with a warm cache. The files of the
//!    first load up to the mark (Resource Timing) are listed with raw, gzip (level 9) and brotli
//!    (quality 11, window 22) sizes;
//! 2. callbacks, app, floor and SDK page alternating, with no cache clearing (so the CORS preflight
//!    cache behaves as for a user): each page's sign-in button leads to the sandbox's consent page;
//!    the bench posts the consent form itself without following the redirect and loads the
//!    callback URL it got, so the timed page load starts at the callback. The time is the
//!    `rc-pkce:account-name`, `floor:account-name` or `sdk:account-name` mark. The floor
//!    (tests/e2e/bench/floor.html + floor.js) does only the same requests with `fetch`: the token
//!    POST, then the extension and account GETs in parallel. The SDK page (sdk.html + sdk.js, on
//!    `@ringcentral/sdk`'s browser bundle, which `cargo xtask bench` installs with npm) does the
//!    same sign-in the SDK's way: `loginUrl` with PKCE, `login` with the code, two `platform.get`;
//! 3. a concurrency probe, one callback each, with the sandbox holding the extension and account
//!    answers 50 ms: if the page sends them in parallel, their intervals in the sandbox's request
//!    log overlap by about that much (undelayed, each takes the sandbox ~0.1 ms, too short to
//!    overlap however the page sends them);
//! 4. journeys, one per page: a new visitor (empty cache) from `/` to the account name, every file
//!    the page's origin served counted once. Each page is let finish loading (no new request and
//!    no new file for a second) at `/` before the click and at the callback after the name, so
//!    modules fetched ahead into the cache count too;
//! 5. the same sign-in throttled as Lighthouse's mobile preset (DevTools
//!    `Network.emulateNetworkConditions`: 150 ms RTT, 1.6 Mbit/s; `Emulation.setCPUThrottlingRate`
//!    4), with every origin answering in brotli as a production host does: navigation → sign-in
//!    button (empty cache), callback → account name, and each page's total blocking time (long
//!    tasks from a PerformanceObserver installed before the page's own scripts). Throttling is
//!    switched off again afterwards.
//!
//! Storage is cleared after each callback. Marks are read relative to the navigation's start with a
//! PerformanceObserver, so the bench does not poll the page while it loads. A missed budget is
//! reported, not an error: the bench exits non-zero only when it could not measure (as before the
//! SDK page and the journeys came in).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use e2e::Browser;
use e2e::bundle::release_bundle;
use e2e::env::{PASSWORD, USER};
use e2e::site::{ConfigFile, Site, brotli as brotli_bytes};
use sandbox::{ClientRegistration, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};

const DEFAULT_RUNS: usize = 20;
const FLOOR_HTML: &str = include_str!("../../bench/floor.html");
const FLOOR_JS: &str = include_str!("../../bench/floor.js");
const SDK_HTML: &str = include_str!("../../bench/sdk.html");
const SDK_JS: &str = include_str!("../../bench/sdk.js");
/// The first-visit budget: 70 KB (KiB) of brotli before the sign-in button works.
const BROTLI_BUDGET: usize = 70 * 1024;
/// The whole journey's budget: 200 KB (KiB) of brotli from `/` to the account name.
const JOURNEY_BUDGET: usize = 200 * 1024;
/// Callback → account name: the app's median at most this many times the floor's (and below the
/// SDK page's).
const RATIO_BUDGET: f64 = 1.25;
/// Main-thread blocking of the app under throttling: the medians of its two pages' total blocking
/// time (each page from its navigation until it finished loading, the app's takeover included)
/// added.
const BLOCKING_BUDGET_MS: f64 = 100.0;
const EXTENSION: &str = "/restapi/v1.0/account/~/extension/~";
const ACCOUNT: &str = "/restapi/v1.0/account/~";

/// How long the concurrency probe makes the sandbox hold each of the two answers.
const PROBE_DELAY_MS: u64 = 50;
const USAGE: &str = "\
usage: cargo xtask bench [--runs N]

Builds the release bundle and measures it in headless Chromium against an in-process sandbox,
next to two comparison pages on their own origins: the floor (tests/e2e/bench/floor.*, only the
requests, with fetch) and the official-SDK page (tests/e2e/bench/sdk.*, on @ringcentral/sdk,
which `cargo xtask bench` installs with npm into the cargo target dir on first use).

  --runs N   runs of each timed measurement (default 20); the throttled phase does N/4 (at least 3)

Prints: the first visit's files until the sign-in button works (raw, gzip, brotli); each page's
whole journey from / to the account name (every file once); callback -> account name for the
app, the floor and the SDK page, alternating; the callback page's timeline; the requests
(concurrency probe, CORS preflights); the same sign-in throttled (150 ms RTT, 1.6 Mbit/s, CPU 4x)
with total blocking time; then the budgets, each met or MISSED. A missed budget does not fail the
bench (exit 0); it fails (non-zero) only when it cannot measure, and exits 2 on a bad argument.
`cargo xtask bench` then prints the size report (`cargo xtask sizes`).";

/// Resolves with the mark's startTime (ms since the navigation started) as soon as it exists.
const WAIT_FOR_MARK: &str = r#"
const [name, done] = arguments;
const find = () => performance.getEntriesByName(name, "mark")[0];
const found = find();
if (found) { done(found.startTime); return; }
const observer = new PerformanceObserver(() => {
  const m = find();
  if (m) { observer.disconnect(); done(m.startTime); }
});
observer.observe({ type: "mark" });
setTimeout(() => done({ timeout: name, error: window.benchPageError || null, url: location.href }), 20000);
"#;

/// The document and every resource that started loading before the sign-in-ready mark.
const FIRST_VISIT_FILES: &str = r#"
const mark = performance.getEntriesByName("rc-pkce:sign-in-ready", "mark")[0].startTime;
const nav = performance.getEntriesByType("navigation")[0];
const entries = [{ url: nav.name, start: 0, end: nav.responseEnd, transfer: nav.transferSize }];
for (const r of performance.getEntriesByType("resource")) {
  if (r.startTime <= mark) entries.push({ url: r.name, start: r.startTime, end: r.responseEnd, transfer: r.transferSize });
}
return { mark, entries };
"#;

/// When each step of a callback page load happened (ms since its navigation started), from the
/// page's Navigation and Resource Timing entries: `[start, end]` pairs, or null.
const CALLBACK_TIMELINE: &str = r#"
const [token, extension, account] = arguments;
const span = (e) => (e ? [e.startTime, e.responseEnd] : null);
const at = (name) => span(performance.getEntriesByName(name, "mark").map((m) => ({ startTime: m.startTime, responseEnd: m.startTime }))[0]);
const resources = performance.getEntriesByType("resource");
const find = (test) => span(resources.find((r) => test(r.name)));
const nav = performance.getEntriesByType("navigation")[0];
return {
  document: [0, nav.responseEnd],
  boot: find((n) => /\/boot-[0-9a-f]{12,16}\.js$/.test(n)),
  firstLoadScript: find((n) => n.includes("/rc-pkce-callback-") && n.endsWith(".js")),
  firstLoadWasm: find((n) => n.includes("/rc-pkce-callback-") && n.endsWith(".wasm")),
  script: find((n) => /\/rc-pkce-[0-9a-f]{12,16}\.js$/.test(n)),
  wasm: find((n) => /\/rc-pkce-[0-9a-f]{12,16}_bg\.wasm$/.test(n)),
  sdkBundle: find((n) => n.endsWith("/ringcentral.min.js")),
  config: find((n) => n.endsWith("/config.json")),
  token: find((n) => n === token),
  extension: find((n) => n === extension),
  account: find((n) => n === account),
  firstLoadStarted: at("rc-pkce:first-load-started"),
  tokenPostSent: at("rc-pkce:token-post-sent"),
  appStarted: at("rc-pkce:app-started"),
  fetchCalls: window.__benchFetchCalls || null,
};
"#;

/// Installed (DevTools `Page.addScriptToEvaluateOnNewDocument`) only for the concurrency probe:
/// records when the page calls `fetch`, to tell the page's own sequencing from the network's.
const FETCH_HOOK: &str = r#"(() => {
  const original = window.fetch;
  const calls = (window.__benchFetchCalls = []);
  window.fetch = function (input) {
    calls.push([input instanceof Request ? input.url : String(input), performance.now()]);
    return original.apply(this, arguments);
  };
})();"#;

/// The steps of [`CALLBACK_TIMELINE`], in the order they are printed.
const STEPS: [(&str, &str); 14] = [
    ("document", "document (index.html / floor.html / sdk.html)"),
    ("boot", "boot.js (from the HTTP cache; app only)"),
    (
        "firstLoadScript",
        "first-load JS module (from the HTTP cache)",
    ),
    ("firstLoadWasm", "first-load .wasm (from the HTTP cache)"),
    ("firstLoadStarted", "first-load module running (mark)"),
    ("tokenPostSent", "token POST sent by it (mark)"),
    ("script", "JS module (from the HTTP cache)"),
    ("wasm", "app .wasm (from the HTTP cache; app only)"),
    ("appStarted", "app running (mark)"),
    ("sdkBundle", "ringcentral.min.js (from the HTTP cache)"),
    ("config", "config.json (app only)"),
    ("token", "token POST"),
    ("extension", "extension GET"),
    ("account", "account GET"),
];

/// One file of a page's origin.
struct PageFile {
    content_type: &'static str,
    cache: &'static str,
    body: Vec<u8>,
}

/// What a page's origin keeps between requests: its files, what it served, and whether it
/// answers in brotli (the throttled phase, as a production host would).
struct PageState {
    files: HashMap<String, PageFile>,
    csp: String,
    log: Mutex<Vec<(String, u16)>>,
    compress: AtomicBool,
    brotli: Mutex<HashMap<String, Vec<u8>>>,
}

/// A comparison page (the floor, the SDK page) on its own loopback origin: `/` and `/callback`
/// (the page), its scripts (cached like the app's hashed assets) and `/blank` (a script-free page
/// to clear storage on).
struct PageSite {
    origin: String,
    state: Arc<PageState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PageSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PageSite {
    /// Paths served since the last [`PageSite::clear_log`], with their status.
    fn served(&self) -> Vec<(String, u16)> {
        self.state.log.lock().unwrap().clone()
    }

    fn clear_log(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// The bytes the origin answers `path` with (before compression), if it has such a file.
    fn file(&self, path: &str) -> Option<&[u8]> {
        let key = if path == "/callback" { "/" } else { path };
        self.state.files.get(key).map(|f| f.body.as_slice())
    }

    /// Answers in brotli from now on (`on`), compressing every file once up front so that no
    /// timed request waits for the encoder.
    fn set_compression(&self, on: bool) {
        if on {
            let mut cache = self.state.brotli.lock().unwrap();
            for (path, file) in &self.state.files {
                cache
                    .entry(path.clone())
                    .or_insert_with(|| brotli_bytes(&file.body));
            }
        }
        self.state.compress.store(on, Ordering::SeqCst);
    }
}

async fn serve_page(state: Arc<PageState>, request: axum::extract::Request) -> Response {
    let path = request.uri().path();
    let key = if path == "/callback" { "/" } else { path };
    let Some(file) = state.files.get(key) else {
        state.log.lock().unwrap().push((path.to_string(), 404));
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    state.log.lock().unwrap().push((path.to_string(), 200));
    let accepts_brotli = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("br")));
    let compressed = (state.compress.load(Ordering::SeqCst) && accepts_brotli)
        .then(|| state.brotli.lock().unwrap().get(key).cloned())
        .flatten();
    let brotli = compressed.is_some();
    let mut response = (
        StatusCode::OK,
        compressed.unwrap_or_else(|| file.body.clone()),
    )
        .into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(file.cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if brotli {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
    }
    if let Ok(v) = HeaderValue::from_str(&state.csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Serves `html` (with `{{server}}` and `{{client_id}}` filled in) and `scripts` (path, text) on
/// the listener's origin.
fn start_page(
    listener: tokio::net::TcpListener,
    server: &str,
    client_id: &str,
    html: &str,
    scripts: Vec<(&str, Vec<u8>)>,
) -> PageSite {
    let origin = format!("http://{}", listener.local_addr().expect("page address"));
    let csp = format!(
        "default-src 'none'; script-src 'self'; connect-src {server}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let html = html
        .replace("{{server}}", server)
        .replace("{{client_id}}", client_id);
    let page = |cache: &'static str, content_type: &'static str, body: Vec<u8>| PageFile {
        content_type,
        cache,
        body,
    };
    let mut files = HashMap::new();
    files.insert(
        "/".to_string(),
        page("no-cache", "text/html; charset=utf-8", html.into_bytes()),
    );
    files.insert(
        "/blank".to_string(),
        page(
            "no-cache",
            "text/html; charset=utf-8",
            b"<!doctype html><title>blank</title>".to_vec(),
        ),
    );
    for (path, body) in scripts {
        files.insert(
            path.to_string(),
            page(
                "public, max-age=31536000, immutable",
                "text/javascript; charset=utf-8",
                body,
            ),
        );
    }
    let state = Arc::new(PageState {
        files,
        csp,
        log: Mutex::default(),
        compress: AtomicBool::new(false),
        brotli: Mutex::default(),
    });
    let app = {
        let state = state.clone();
        Router::new()
            .fallback(move |request: axum::extract::Request| serve_page(state.clone(), request))
    };
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    PageSite {
        origin,
        state,
        task,
    }
}

/// Everything one bench run needs.
struct World {
    site: Site,
    floor: PageSite,
    sdk: PageSite,
    sandbox: RunningSandbox,
    browser: Browser,
    http: reqwest::Client,
    dist: std::path::PathBuf,
    config_json: String,
}

/// The SDK's browser bundle, from the folder `cargo xtask bench` installed it in.
fn sdk_bundle() -> Vec<u8> {
    let dir = std::env::var_os("RC_PKCE_BENCH_SDK").unwrap_or_else(|| {
        panic!("RC_PKCE_BENCH_SDK is not set: run the bench with `cargo xtask bench`, which installs @ringcentral/sdk")
    });
    let path = std::path::Path::new(&dir).join("ringcentral.min.js");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The installed SDK's version, from its package.json beside `dist`.
fn sdk_version() -> String {
    let dir = std::env::var_os("RC_PKCE_BENCH_SDK").unwrap_or_default();
    let manifest = std::path::Path::new(&dir).join("../package.json");
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "(version unknown)".into())
}

impl World {
    async fn start() -> Self {
        let sdk_js = sdk_bundle();
        let dist = tokio::task::spawn_blocking(|| release_bundle().to_path_buf())
            .await
            .expect("build task");
        let site = Site::start(dist.clone()).await.expect("site starts");
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let floor_listener = bind().await.expect("bind floor");
        let sdk_listener = bind().await.expect("bind SDK page");
        let origin = |l: &tokio::net::TcpListener| format!("http://{}", l.local_addr().unwrap());
        let (floor_origin, sdk_origin) = (origin(&floor_listener), origin(&sdk_listener));
        let config = SandboxConfig {
            clients: vec![
                ClientRegistration::public(
                    "rc-pkce-demo",
                    &format!("{}/oauth2callback", site.origin),
                ),
                ClientRegistration::public("rc-pkce-floor", &format!("{floor_origin}/callback")),
                ClientRegistration::public("rc-pkce-sdk", &format!("{sdk_origin}/callback")),
            ],
            allowed_origins: vec![site.origin.clone(), floor_origin, sdk_origin],
            rate_limits: None,
            max_sessions_per_user_client: 0,
            ..Default::default()
        };
        let listener = bind().await.expect("bind sandbox");
        let sandbox = sandbox::spawn(config, listener)
            .await
            .expect("sandbox starts");
        let server = sandbox.base_url().to_string();
        let floor = start_page(
            floor_listener,
            &server,
            "rc-pkce-floor",
            FLOOR_HTML,
            vec![("/floor.js", FLOOR_JS.as_bytes().to_vec())],
        );
        let sdk = start_page(
            sdk_listener,
            &server,
            "rc-pkce-sdk",
            SDK_HTML,
            vec![
                ("/ringcentral.min.js", sdk_js),
                ("/sdk.js", SDK_JS.as_bytes().to_vec()),
            ],
        );
        let config_json = json!({
            "client_id": "rc-pkce-demo",
            "server": sandbox.base_url(),
            "issuer": sandbox.base_url(),
        })
        .to_string();
        site.set_config(ConfigFile::Json(config_json.clone()));
        let browser = Browser::launch().await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            site,
            floor,
            sdk,
            sandbox,
            browser,
            http,
            dist,
            config_json,
        }
    }

    async fn cdp(&self, command: &'static str, params: Value) -> Value {
        self.browser.cdp(command, params).await
    }

    async fn mark(&self, name: &str) -> f64 {
        let value = self
            .browser
            .client
            .execute_async(WAIT_FOR_MARK, vec![json!(name)])
            .await
            .unwrap_or_else(|e| panic!("waiting for the {name} mark: {e}"));
        value
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} mark within 20 s: {value}"))
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        e2e::env::sandbox_admin(&self.http, self.sandbox.base_url(), method, path, body).await
    }

    async fn clear_requests(&self) {
        self.admin(reqwest::Method::DELETE, "requests", None).await;
    }

    async fn requests(&self) -> Vec<Value> {
        match self.admin(reqwest::Method::GET, "requests", None).await {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// On the sandbox's consent page: posts the form as the user would, without following the
    /// redirect, and returns the callback URL (so its page load can be timed from its start).
    async fn consent(&self) -> String {
        self.browser.wait_for("input[name=txn]").await;
        let txn = self
            .browser
            .execute("return document.querySelector('input[name=txn]').value;")
            .await;
        let txn = txn.as_str().expect("txn is text").to_string();
        let response = self
            .http
            .post(format!(
                "{}/restapi/oauth/authorize",
                self.sandbox.base_url()
            ))
            .form(&[
                ("txn", txn.as_str()),
                ("username", USER),
                ("password", PASSWORD),
                ("decision", "allow"),
            ])
            .send()
            .await
            .expect("consent POST");
        assert_eq!(
            response.status(),
            303,
            "the sandbox did not redirect after consent"
        );
        response.headers()[header::LOCATION]
            .to_str()
            .expect("Location is text")
            .to_string()
    }

    /// The sandbox requests of one callback, once the extension and account GETs are both in.
    async fn callback_requests(&self) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let log = self.requests().await;
            let done = |path: &str| {
                log.iter()
                    .any(|r| r["method"] == "GET" && r["path"] == path && r["status"] == 200)
            };
            if (done(EXTENSION) && done(ACCOUNT)) || started.elapsed() > Duration::from_secs(10) {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// [`CALLBACK_TIMELINE`] of the page on screen, once the account GET is in Resource Timing.
    async fn timeline(&self) -> Value {
        let api = format!("{}/restapi/v1.0", self.sandbox.base_url());
        let args = vec![
            json!(format!("{}/restapi/oauth/token", self.sandbox.base_url())),
            json!(format!("{api}/account/~/extension/~")),
            json!(format!("{api}/account/~")),
        ];
        let mut value = Value::Null;
        for _ in 0..50 {
            value = self
                .browser
                .client
                .execute(CALLBACK_TIMELINE, args.clone())
                .await
                .unwrap_or(Value::Null);
            if !value["account"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        value
    }

    /// Makes the sandbox hold the next extension and account answers for `ms` each.
    async fn delay_extension_and_account(&self, ms: u64) {
        for target in ["extension", "account"] {
            let fault = json!({ "target": target, "count": 1, "delay_ms": ms });
            self.admin(reqwest::Method::POST, "faults", Some(fault))
                .await;
        }
    }

    async fn clear_storage(&self, url: &str) {
        self.browser.goto(url).await;
        self.browser
            .execute("sessionStorage.clear(); localStorage.clear(); return true;")
            .await;
    }
}

/// One callback's requests, as the sandbox logged them.
#[derive(Debug, Default, Clone)]
struct CallbackLog {
    token_preflights: usize,
    api_preflights: Vec<String>,
    extension: Option<(u64, u64)>,
    account: Option<(u64, u64)>,
}

/// How long two `[start, end]` intervals overlap; `None` if they do not.
fn overlap<T: Copy + PartialOrd + std::ops::Sub<Output = T>>(a: (T, T), b: (T, T)) -> Option<T> {
    let start = if a.0 > b.0 { a.0 } else { b.0 };
    let end = if a.1 < b.1 { a.1 } else { b.1 };
    (start < end).then(|| end - start)
}

impl CallbackLog {
    fn from(log: &[Value]) -> Self {
        let interval = |path: &str| {
            log.iter()
                .find(|r| r["method"] == "GET" && r["path"] == path)
                .and_then(|r| Some((r["started_us"].as_u64()?, r["finished_us"].as_u64()?)))
        };
        Self {
            token_preflights: log
                .iter()
                .filter(|r| r["method"] == "OPTIONS" && r["path"] == "/restapi/oauth/token")
                .count(),
            api_preflights: log
                .iter()
                .filter(|r| {
                    r["method"] == "OPTIONS"
                        && r["path"]
                            .as_str()
                            .is_some_and(|p| p.starts_with("/restapi/v1.0/"))
                })
                .map(|r| short_api_path(r["path"].as_str().unwrap_or_default()))
                .collect(),
            extension: interval(EXTENSION),
            account: interval(ACCOUNT),
        }
    }

    /// How long the two GETs were in the sandbox together (µs).
    fn overlap_us(&self) -> Option<u64> {
        overlap(self.extension?, self.account?)
    }

    fn describe(&self) -> String {
        let (Some(e), Some(a)) = (self.extension, self.account) else {
            return "extension or account GET missing from the log".into();
        };
        format!(
            "extension [{}, {}], account [{}, {}] µs: {}",
            e.0,
            e.1,
            a.0,
            a.1,
            match self.overlap_us() {
                Some(us) => format!("overlap {:.1} ms, yes", us as f64 / 1000.0),
                None => "no overlap".into(),
            }
        )
    }
}

fn short_api_path(path: &str) -> String {
    match path {
        EXTENSION => "extension".into(),
        ACCOUNT => "account".into(),
        p if p.ends_with("/call-log") => "call-log".into(),
        p => p.to_string(),
    }
}

/// One timed callback page load.
struct Callback {
    ms: f64,
    log: CallbackLog,
    timeline: Value,
}

impl Callback {
    /// When the page called `fetch` for the extension and the account (probe runs only).
    fn fetch_calls(&self) -> String {
        let calls = self.timeline["fetchCalls"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let at = |suffix: &str| {
            calls
                .iter()
                .find(|c| c[0].as_str().is_some_and(|u| u.ends_with(suffix)))
                .and_then(|c| c[1].as_f64())
        };
        match (at("/extension/~"), at("/account/~")) {
            (Some(e), Some(a)) => format!(
                "the page called fetch for them at {e:.1} and {a:.1} ms ({:.1} ms apart)",
                (a - e).abs()
            ),
            _ => "the page's fetch calls were not recorded".into(),
        }
    }

    /// The page's extension and account fetches overlapped (Resource Timing), by this much (ms).
    fn browser_overlap_ms(&self) -> Option<f64> {
        let span = |step: &str| {
            Some((
                self.timeline[step][0].as_f64()?,
                self.timeline[step][1].as_f64()?,
            ))
        };
        overlap(span("extension")?, span("account")?)
    }
}

#[derive(Default)]
struct Results {
    cold_ready: Vec<f64>,
    warm_ready: Vec<f64>,
    /// First visits in which the site served the .wasm (proves the cache was really empty).
    cold_wasm_served: usize,
    /// Per first visit: (path, start, end) of each file loaded before the mark.
    first_visits: Vec<Vec<(String, f64, f64)>>,
    /// Per first visit: requests the site served and how many of them were repeats of a path.
    served_counts: Vec<(usize, usize)>,
    app: Vec<Callback>,
    floor: Vec<Callback>,
    sdk: Vec<Callback>,
    app_probe: Option<Callback>,
    floor_probe: Option<Callback>,
    sdk_probe: Option<Callback>,
    /// Phase 4, per page.
    journeys: Vec<(Who, Journey)>,
    /// Phase 5, per page.
    throttled: Vec<(Who, Throttled)>,
    /// [`World::cpu_probe`] before and while throttled.
    cpu_check: Option<(f64, f64)>,
}

impl Results {
    fn callbacks(&self, who: Who) -> &[Callback] {
        match who {
            Who::App => &self.app,
            Who::Floor => &self.floor,
            Who::Sdk => &self.sdk,
        }
    }

    fn probe(&self, who: Who) -> Option<&Callback> {
        match who {
            Who::App => self.app_probe.as_ref(),
            Who::Floor => self.floor_probe.as_ref(),
            Who::Sdk => self.sdk_probe.as_ref(),
        }
    }

    fn throttled(&self, who: Who) -> Vec<&Throttled> {
        self.throttled
            .iter()
            .filter(|(w, _)| *w == who)
            .map(|(_, t)| t)
            .collect()
    }
}

fn gzip_len(bytes: &[u8]) -> usize {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory").len()
}

fn brotli_len(bytes: &[u8]) -> usize {
    brotli_bytes(bytes).len()
}

/// The bytes of a path the site serves: `/` is index.html, config.json is the bench's.
fn served_bytes(world: &World, path: &str) -> Vec<u8> {
    match path.trim_start_matches('/') {
        "" => std::fs::read(world.dist.join("index.html")).unwrap_or_default(),
        "config.json" => world.config_json.clone().into_bytes(),
        rel => std::fs::read(world.dist.join(rel)).unwrap_or_default(),
    }
}

/// Phase 1: a first visit with an empty HTTP cache, then a repeat visit.
async fn first_visit_run(world: &World, results: &mut Results) {
    let site = &world.site.origin;
    world.cdp("Network.clearBrowserCache", json!({})).await;
    world.site.clear_log();
    world.browser.goto(&format!("{site}/")).await;
    results
        .cold_ready
        .push(world.mark("rc-pkce:sign-in-ready").await);
    let visit = world.browser.execute(FIRST_VISIT_FILES).await;
    let served = world.site.served();
    if served.iter().any(|s| s.path.ends_with(".wasm")) {
        results.cold_wasm_served += 1;
    }
    let mut paths: Vec<&str> = served.iter().map(|s| s.path.as_str()).collect();
    let total = paths.len();
    paths.sort();
    paths.dedup();
    results.served_counts.push((total, total - paths.len()));
    let mut files: Vec<(String, f64, f64)> = Vec::new();
    for entry in visit["entries"].as_array().cloned().unwrap_or_default() {
        let url = entry["url"].as_str().unwrap_or_default();
        let Some(path) = url.strip_prefix(site.as_str()) else {
            continue;
        };
        let path = path.split('?').next().unwrap_or(path).to_string();
        if files.iter().any(|(p, _, _)| *p == path) {
            continue;
        }
        files.push((
            path,
            entry["start"].as_f64().unwrap_or_default(),
            entry["end"].as_f64().unwrap_or_default(),
        ));
    }
    results.first_visits.push(files);
    world.browser.goto(&format!("{site}/")).await;
    results
        .warm_ready
        .push(world.mark("rc-pkce:sign-in-ready").await);
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    App,
    Floor,
    Sdk,
}

const PAGES: [Who; 3] = [Who::App, Who::Floor, Who::Sdk];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::App => "app",
            Who::Floor => "floor",
            Who::Sdk => "SDK page",
        }
    }

    fn origin(self, world: &World) -> &str {
        match self {
            Who::App => &world.site.origin,
            Who::Floor => &world.floor.origin,
            Who::Sdk => &world.sdk.origin,
        }
    }

    /// The mark a page sets once its sign-in button works.
    fn ready_mark(self) -> &'static str {
        match self {
            Who::App => "rc-pkce:sign-in-ready",
            Who::Floor => "floor:sign-in-ready",
            Who::Sdk => "sdk:sign-in-ready",
        }
    }

    /// The mark a page sets once the user's name is on screen.
    fn account_mark(self) -> &'static str {
        match self {
            Who::App => "rc-pkce:account-name",
            Who::Floor => "floor:account-name",
            Who::Sdk => "sdk:account-name",
        }
    }

    /// A page of the same origin that runs no script, to clear storage on.
    fn blank(self, world: &World) -> String {
        match self {
            Who::App => format!("{}/config.json", world.site.origin),
            Who::Floor | Who::Sdk => format!("{}/blank", self.origin(world)),
        }
    }

    /// How many files the page's origin has answered (200, or 304 from a revalidation) since
    /// its log was cleared. The browser's favicon requests never show in Resource Timing, so they
    /// are left out.
    fn served_count(self, world: &World) -> usize {
        let counted =
            |path: &str, status: u16| matches!(status, 200 | 304) && !path.contains("favicon");
        match self {
            Who::App => world
                .site
                .served()
                .iter()
                .filter(|s| counted(&s.path, s.status))
                .count(),
            Who::Floor => world
                .floor
                .served()
                .iter()
                .filter(|(p, s)| counted(p, *s))
                .count(),
            Who::Sdk => world
                .sdk
                .served()
                .iter()
                .filter(|(p, s)| counted(p, *s))
                .count(),
        }
    }

    fn clear_log(self, world: &World) {
        match self {
            Who::App => world.site.clear_log(),
            Who::Floor => world.floor.clear_log(),
            Who::Sdk => world.sdk.clear_log(),
        }
    }

    /// The files the page's origin answered with 200 since its log was cleared, each once, with
    /// the bytes it served for them (before any compression). The app's routes all serve
    /// `index.html`, counted once under `/`.
    fn served_files(self, world: &World) -> Vec<(String, Vec<u8>)> {
        let served: Vec<String> = match self {
            Who::App => world
                .site
                .served()
                .into_iter()
                .filter(|s| s.status == 200)
                .map(|s| s.path)
                .collect(),
            Who::Floor => ok_paths(world.floor.served()),
            Who::Sdk => ok_paths(world.sdk.served()),
        };
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for path in served {
            let (key, bytes) = match self {
                Who::App => app_file(world, &path),
                Who::Floor => page_file(&world.floor, &path),
                Who::Sdk => page_file(&world.sdk, &path),
            };
            if !files.iter().any(|(k, _)| *k == key) {
                files.push((key, bytes));
            }
        }
        files
    }
}

fn ok_paths(served: Vec<(String, u16)>) -> Vec<String> {
    served
        .into_iter()
        .filter(|(_, status)| *status == 200)
        .map(|(path, _)| path)
        .collect()
}

/// A path of the app's site as the file it serves: an app route (no dot) serves index.html.
fn app_file(world: &World, path: &str) -> (String, Vec<u8>) {
    let rel = path.trim_start_matches('/');
    if rel != "config.json" && !world.dist.join(rel).is_file() && !rel.contains('.') {
        return ("/".into(), served_bytes(world, "/"));
    }
    (path.to_string(), served_bytes(world, path))
}

fn page_file(page: &PageSite, path: &str) -> (String, Vec<u8>) {
    let key = if path == "/callback" { "/" } else { path };
    (key.to_string(), page.file(key).unwrap_or_default().to_vec())
}

/// Phases 2 and 3: from the start page to the consent page, then the timed callback page load.
async fn callback_run(world: &World, who: Who) -> Callback {
    world.browser.goto(&format!("{}/", who.origin(world))).await;
    world.mark(who.ready_mark()).await;
    world.browser.click("[data-testid=sign-in]").await;
    let callback = world.consent().await;
    world.clear_requests().await;
    world.browser.goto(&callback).await;
    let ms = world.mark(who.account_mark()).await;
    let log = CallbackLog::from(&world.callback_requests().await);
    let timeline = world.timeline().await;
    world.clear_storage(&who.blank(world)).await;
    Callback { ms, log, timeline }
}

/// How long the bench waits with no new request at a page's origin and no new file in before it
/// calls the page's loading finished (its modules fetched, prefetches included).
const QUIET: Duration = Duration::from_millis(1000);
/// Under throttling, a module that came in takes longer to start (and to ask for the next), so the
/// quiet time is longer.
const QUIET_THROTTLED: Duration = Duration::from_millis(2000);

/// Bytes on the wire (Resource Timing `transferSize`: encoded bodies and headers) of the page's
/// own origin so far, the navigation included.
const TRANSFERRED_FROM_ORIGIN: &str = r#"
const origin = location.origin;
const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
return entries.filter((r) => r.name.startsWith(origin)).reduce((sum, r) => sum + r.transferSize, 0);
"#;

/// Resource Timing entries of the page's own origin so far (the navigation included).
const LOADED_FROM_ORIGIN: &str = r#"
const origin = location.origin;
return 1 + performance.getEntriesByType("resource").filter((r) => r.name.startsWith(origin)).length;
"#;

impl World {
    /// Waits until the page on screen has finished loading: for [`QUIET`] (or [`QUIET_THROTTLED`])
    /// its origin answered no new request and no new file came in (Resource Timing, which lists a
    /// file once it is loaded, not when it is requested), and Resource Timing has an entry for
    /// every file the origin answered since `since` (a [`Who::served_count`] taken before the
    /// page's navigation). Quiet after the last file came in, so a page that starts a module and
    /// only then fetches the next (the app's prefetch) is waited for. At most 30 s.
    async fn network_idle(&self, who: Who, since: usize, throttled: bool) {
        let quiet = if throttled { QUIET_THROTTLED } else { QUIET };
        let started = std::time::Instant::now();
        let seen = async || {
            let loaded = self.browser.execute(LOADED_FROM_ORIGIN).await;
            (
                who.served_count(self),
                loaded.as_u64().unwrap_or(0) as usize,
            )
        };
        let mut last = seen().await;
        let mut changed = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = seen().await;
            if now != last {
                (last, changed) = (now, std::time::Instant::now());
                continue;
            }
            let (served, loaded) = now;
            if changed.elapsed() >= quiet && loaded >= served.saturating_sub(since) {
                return;
            }
        }
        eprintln!(
            "bench: {}: still loading after 30 s, counted as finished",
            who.name()
        );
    }
}

/// The bytes of one journey: every file the page's origin served, from `/` to the account name.
struct Journey {
    files: Vec<(String, Vec<u8>)>,
}

/// Phase 4: a new visitor's whole sign-in, empty cache: `/` until its loading has finished (see
/// [`World::network_idle`]), the sign-in, the callback page until the account name and then until
/// its loading has finished too.
async fn journey_run(world: &World, who: Who) -> Journey {
    world.cdp("Network.clearBrowserCache", json!({})).await;
    who.clear_log(world);
    world.browser.goto(&format!("{}/", who.origin(world))).await;
    world.mark(who.ready_mark()).await;
    world.network_idle(who, 0, false).await;
    world.browser.click("[data-testid=sign-in]").await;
    let callback = world.consent().await;
    let since = who.served_count(world);
    world.browser.goto(&callback).await;
    world.mark(who.account_mark()).await;
    world.network_idle(who, since, false).await;
    let files = who.served_files(world);
    world.clear_storage(&who.blank(world)).await;
    Journey { files }
}

/// Installed for the throttled phase (DevTools `Page.addScriptToEvaluateOnNewDocument`): collects
/// the page's long tasks (over 50 ms on the main thread) from its start.
const LONG_TASK_HOOK: &str = r#"(() => {
  const tasks = (window.__benchLongTasks = []);
  try {
    const observer = new PerformanceObserver((list) => {
      for (const t of list.getEntries()) tasks.push([t.startTime, t.duration]);
    });
    observer.observe({ type: "longtask", buffered: true });
    window.__benchLongTaskObserver = observer;
  } catch (e) {
    window.__benchLongTasks = null;
  }
})();"#;

/// Total blocking time: the sum over long tasks of their time beyond 50 ms, for the tasks that
/// started before the mark and for all the page had so far: `[to the mark, all, tasks]`.
const BLOCKING_TIME: &str = r#"
const [name, done] = arguments;
const mark = performance.getEntriesByName(name, "mark")[0];
const tasks = window.__benchLongTasks;
const observer = window.__benchLongTaskObserver;
if (!mark || !tasks || !observer) { done(null); return; }
// A task's entry is queued when it ends; give the observer a moment to deliver it.
setTimeout(() => {
  for (const t of observer.takeRecords()) tasks.push([t.startTime, t.duration]);
  const blocking = (list) => list.reduce((sum, [, duration]) => sum + Math.max(0, duration - 50), 0);
  done([blocking(tasks.filter(([start]) => start <= mark.startTime)), blocking(tasks), tasks.length]);
}, 50);
"#;

/// A fixed piece of JavaScript work, timed, to check that CPU throttling is in effect.
const CPU_PROBE: &str = r#"
const started = performance.now();
let x = 0;
for (let i = 0; i < 20000000; i++) x = (x + i * 7) % 1000003;
return [performance.now() - started, x];
"#;

/// One throttled sign-in of a page.
#[derive(Default, Clone)]
struct Throttled {
    /// Navigation → sign-in button works, empty cache.
    ready_ms: f64,
    /// Callback page loaded → account name on screen.
    account_ms: f64,
    /// Total blocking time (ms) of the start page: until the button works, and until the page
    /// finished loading; `None` where the browser reported no long-task timing.
    ready_blocking: Option<(f64, f64)>,
    /// The same for the callback page: until the name, and until it finished loading.
    account_blocking: Option<(f64, f64)>,
    /// Bytes on the wire at `/` once it finished loading (see [`TRANSFERRED_FROM_ORIGIN`]).
    start_transferred: f64,
}

impl World {
    async fn blocking_time(&self, mark: &str) -> Option<(f64, f64)> {
        let value = self
            .browser
            .client
            .execute_async(BLOCKING_TIME, vec![json!(mark)])
            .await
            .ok()?;
        Some((value[0].as_f64()?, value[1].as_f64()?))
    }

    /// How long [`CPU_PROBE`] takes on a script-free page of the floor's origin (ms).
    async fn cpu_probe(&self) -> f64 {
        self.browser
            .goto(&format!("{}/blank", self.floor.origin))
            .await;
        self.browser.execute(CPU_PROBE).await[0]
            .as_f64()
            .unwrap_or(f64::NAN)
    }

    /// Network and CPU throttling as Lighthouse's mobile preset, or none.
    async fn throttle(&self, on: bool) {
        self.cdp("Network.enable", json!({})).await;
        let network = if on {
            json!({
                "offline": false,
                "latency": THROTTLE_RTT_MS,
                "downloadThroughput": THROTTLE_BYTES_PER_S,
                "uploadThroughput": THROTTLE_BYTES_PER_S,
            })
        } else {
            json!({ "offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1 })
        };
        self.cdp("Network.emulateNetworkConditions", network).await;
        let rate = if on { THROTTLE_CPU } else { 1.0 };
        self.cdp("Emulation.setCPUThrottlingRate", json!({ "rate": rate }))
            .await;
        self.site.set_compression(on);
        self.floor.set_compression(on);
        self.sdk.set_compression(on);
    }
}

/// Round-trip time added to every request in the throttled phase (ms).
const THROTTLE_RTT_MS: f64 = 150.0;
/// 1.6 Mbit/s, down and up, in bytes per second.
const THROTTLE_BYTES_PER_S: f64 = 1.6e6 / 8.0;
/// CPU slowdown in the throttled phase.
const THROTTLE_CPU: f64 = 4.0;

/// Phase 5: one throttled sign-in: empty cache, `/` until the button works and then until the
/// page finished loading, the sign-in, the callback page until the account name and then until it
/// finished loading (see [`World::network_idle`]).
async fn throttled_run(world: &World, who: Who) -> Throttled {
    world.cdp("Network.clearBrowserCache", json!({})).await;
    who.clear_log(world);
    world.browser.goto(&format!("{}/", who.origin(world))).await;
    let ready_ms = world.mark(who.ready_mark()).await;
    world.network_idle(who, 0, true).await;
    let ready_blocking = world.blocking_time(who.ready_mark()).await;
    let start_transferred = world.browser.execute(TRANSFERRED_FROM_ORIGIN).await;
    world.browser.click("[data-testid=sign-in]").await;
    let callback = world.consent().await;
    let since = who.served_count(world);
    world.browser.goto(&callback).await;
    let account_ms = world.mark(who.account_mark()).await;
    world.network_idle(who, since, true).await;
    let account_blocking = world.blocking_time(who.account_mark()).await;
    world.clear_storage(&who.blank(world)).await;
    Throttled {
        ready_ms,
        account_ms,
        ready_blocking,
        account_blocking,
        start_transferred: start_transferred.as_f64().unwrap_or(f64::NAN),
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(values: &[f64]) -> f64 {
    let v = sorted(values);
    match v.len() {
        0 => f64::NAN,
        n if !n.is_multiple_of(2) => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    let v = sorted(values);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn kib(n: usize) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn machine(browser_version: &str) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_string()))
        .unwrap_or_default();
    vec![
        format!("CPU: {model}, {logical} logical cores ({usable} usable by this process)"),
        format!("memory: {memory}; Linux {}", kernel.trim()),
        format!("browser: headless Chromium {browser_version} via chromedriver"),
    ]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn timing_row(name: &str, values: &[f64]) -> String {
    let v = sorted(values);
    format!(
        "  {name:<46} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        median(values),
        percentile(values, 90.0),
        v.first().copied().unwrap_or(f64::NAN),
        v.last().copied().unwrap_or(f64::NAN),
    )
}

/// "extension 1+0, account 1+0, call-log 1+19": preflights in run 1 + in the later runs.
fn preflight_summary(runs: &[Callback]) -> String {
    let count = |range: &[Callback], which: &str| {
        range
            .iter()
            .flat_map(|c| c.log.api_preflights.iter())
            .filter(|p| *p == which)
            .count()
    };
    let (first, rest) = runs.split_at(runs.len().min(1));
    ["extension", "account", "call-log"]
        .iter()
        .map(|w| format!("{w} {}+{}", count(first, w), count(rest, w)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the first-visit table: the files loaded before the mark in every run, with sizes; returns
/// their brotli total.
fn report_first_visit(world: &World, results: &Results) -> usize {
    let runs = results.first_visits.len();
    let mut order: Vec<String> = Vec::new();
    for visit in &results.first_visits {
        for (path, _, _) in visit {
            if !order.contains(path) {
                order.push(path.clone());
            }
        }
    }
    let in_runs = |path: &str| {
        results
            .first_visits
            .iter()
            .filter(|v| v.iter().any(|(p, _, _)| p == path))
            .count()
    };
    let (always, sometimes): (Vec<String>, Vec<String>) =
        order.into_iter().partition(|p| in_runs(p) == runs);
    println!();
    println!(
        "First visit: every file loaded before the sign-in button works (Resource Timing up to rc-pkce:sign-in-ready, in all {runs} runs)"
    );
    println!(
        "  {:<46} {:>10} {:>10} {:>10} {:>16}",
        "file", "raw B", "gzip -9 B", "brotli B", "loaded (ms)"
    );
    let (mut raw, mut gz, mut br) = (0, 0, 0);
    for path in &always {
        let bytes = served_bytes(world, path);
        let (r, g, b) = (bytes.len(), gzip_len(&bytes), brotli_len(&bytes));
        raw += r;
        gz += g;
        br += b;
        let times = |i: usize| {
            let v: Vec<f64> = results
                .first_visits
                .iter()
                .flat_map(|visit| visit.iter().filter(|f| f.0 == *path))
                .map(|f| if i == 0 { f.1 } else { f.2 })
                .collect();
            median(&v)
        };
        println!(
            "  {:<46} {:>10} {:>10} {:>10} {:>7.1}–{:<7.1}",
            if path == "/" {
                "/ (index.html)"
            } else {
                path.as_str()
            },
            thousands(r),
            thousands(g),
            thousands(b),
            times(0),
            times(1)
        );
    }
    println!(
        "  {:<46} {:>10} {:>10} {:>10}",
        format!("total ({} files)", always.len()),
        thousands(raw),
        thousands(gz),
        thousands(br)
    );
    println!(
        "  {:<46} {:>10} {:>10} {:>10}",
        "",
        kib(raw),
        kib(gz),
        kib(br)
    );
    println!("  (loaded: medians of start–end, ms from the navigation's start)");
    for path in &sometimes {
        let bytes = served_bytes(world, path);
        println!(
            "  not counted: {path} ({} B raw, {} B brotli) came in before the mark in only {}/{runs} runs",
            thousands(bytes.len()),
            thousands(brotli_len(&bytes)),
            in_runs(path)
        );
    }
    let requests: Vec<f64> = results.served_counts.iter().map(|c| c.0 as f64).collect();
    let repeats: usize = results.served_counts.iter().map(|c| c.1).sum();
    println!(
        "  the site served {} requests per first visit (median), {repeats} repeated paths in all runs",
        median(&requests)
    );
    br
}

fn report_timeline(results: &Results) {
    println!();
    println!(
        "Callback page timeline (medians over the runs, ms from the navigation's start: start–end)"
    );
    println!(
        "  {:<46} {:>15} {:>15} {:>15}",
        "", "app", "floor", "SDK page"
    );
    let span = |runs: &[Callback], step: &str| {
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for run in runs {
            if let (Some(a), Some(b)) = (
                run.timeline[step][0].as_f64(),
                run.timeline[step][1].as_f64(),
            ) {
                starts.push(a);
                ends.push(b);
            }
        }
        if starts.is_empty() {
            "—".to_string()
        } else {
            format!("{:.1}–{:.1}", median(&starts), median(&ends))
        }
    };
    for (step, label) in STEPS {
        println!(
            "  {label:<46} {:>15} {:>15} {:>15}",
            span(&results.app, step),
            span(&results.floor, step),
            span(&results.sdk, step)
        );
    }
    let ms = |runs: &[Callback]| runs.iter().map(|r| r.ms).collect::<Vec<_>>();
    println!(
        "  {:<46} {:>15.1} {:>15.1} {:>15.1}",
        "account name (mark)",
        median(&ms(&results.app)),
        median(&ms(&results.floor)),
        median(&ms(&results.sdk))
    );
}

/// Prints the requests section; returns (concurrent, no token preflight, API preflights cached).
fn report_requests(results: &Results) -> (bool, bool, bool) {
    println!();
    println!(
        "Requests of the callback pages (the sandbox's request log; the page's Resource Timing)"
    );
    let mut concurrent = false;
    let mut token_total = 0;
    let mut cached = true;
    for page in PAGES {
        let (who, runs, probe) = (page.name(), results.callbacks(page), results.probe(page));
        let browser: Vec<f64> = runs
            .iter()
            .filter_map(Callback::browser_overlap_ms)
            .collect();
        println!(
            "  {who}: extension and account fetches in flight together (Resource Timing) in {}/{} runs, overlap median {:.1} ms",
            browser.len(),
            runs.len(),
            median(&browser)
        );
        let undelayed = runs.iter().filter(|r| r.log.overlap_us().is_some()).count();
        let server_us: Vec<f64> = runs
            .iter()
            .flat_map(|r| [r.log.extension, r.log.account])
            .flatten()
            .map(|(a, b)| (b - a) as f64)
            .collect();
        let gaps: Vec<f64> = runs
            .iter()
            .filter_map(|r| Some((r.log.extension?.0, r.log.account?.0)))
            .map(|(a, b)| (a as f64 - b as f64).abs())
            .collect();
        println!(
            "    sandbox log, undelayed: intervals overlap in {undelayed}/{} runs (each request takes the sandbox {:.0} µs, median; the two arrive {:.0} µs apart)",
            runs.len(),
            median(&server_us),
            median(&gaps)
        );
        match probe {
            Some(p) => {
                println!(
                    "    sandbox log, both answers held {PROBE_DELAY_MS} ms: {}",
                    p.log.describe()
                );
                println!("      and {}", p.fetch_calls());
                if who == "app" {
                    concurrent = p.log.overlap_us().is_some();
                }
            }
            None if who == "app" => concurrent = false,
            None => {}
        }
        let token: usize = runs.iter().map(|r| r.log.token_preflights).sum();
        if who == "app" {
            token_total += token;
        }
        println!(
            "    OPTIONS /restapi/oauth/token: {token} in {} runs; API preflights, run 1 + runs 2..{}: {}",
            runs.len(),
            runs.len(),
            preflight_summary(runs)
        );
        // The budget is the app's; the floor is only measured.
        cached &= who != "app"
            || runs.iter().skip(1).all(|r| {
                !r.log
                    .api_preflights
                    .iter()
                    .any(|p| p == "extension" || p == "account")
            });
    }
    (concurrent, token_total == 0, cached)
}

/// Prints one page's journey table; returns its brotli total.
fn report_journey(who: Who, journey: &Journey) -> usize {
    println!("  {}:", who.name());
    let (mut raw, mut gz, mut br) = (0, 0, 0);
    for (path, bytes) in &journey.files {
        let (r, g, b) = (bytes.len(), gzip_len(bytes), brotli_len(bytes));
        (raw, gz, br) = (raw + r, gz + g, br + b);
        let label = match (who, path.as_str()) {
            (Who::App, "/") => "/ (index.html, also at /oauth2callback)".to_string(),
            (_, "/") => "/ (the page, also at /callback)".to_string(),
            _ => path.clone(),
        };
        println!(
            "    {label:<44} {:>10} {:>10} {:>10}",
            thousands(r),
            thousands(g),
            thousands(b)
        );
    }
    println!(
        "    {:<44} {:>10} {:>10} {:>10}   ({})",
        format!("total ({} files)", journey.files.len()),
        thousands(raw),
        thousands(gz),
        thousands(br),
        kib(br)
    );
    br
}

/// Prints the journey section; returns the app's brotli total.
fn report_journeys(results: &Results) -> usize {
    println!();
    println!(
        "Journey: every file a new visitor downloads from opening / (empty cache) to the account name, each once"
    );
    println!(
        "  (the page's own origin only: the sign-in page and the API answers are the same for all three; a page's"
    );
    println!(
        "   loading counts as finished when no new request and no new file came for {} ms, at / and at the callback)",
        QUIET.as_millis()
    );
    println!(
        "    {:<44} {:>10} {:>10} {:>10}",
        "file", "raw B", "gzip -9 B", "brotli B"
    );
    let mut app = 0;
    for (who, journey) in &results.journeys {
        let br = report_journey(*who, journey);
        if *who == Who::App {
            app = br;
        }
    }
    app
}

/// One figure of a throttled run, where the run has it.
type Figure = fn(&Throttled) -> Option<f64>;

/// Prints the throttled section; returns the app's summed total blocking time (median per page).
fn report_throttled(results: &Results) -> f64 {
    let runs = results.throttled(Who::App).len();
    println!();
    println!(
        "Throttled (DevTools: {THROTTLE_RTT_MS:.0} ms RTT, {:.1} Mbit/s down and up, CPU {THROTTLE_CPU:.0}× slower; \
         files served in brotli; medians of {runs} runs, empty cache)",
        THROTTLE_BYTES_PER_S * 8.0 / 1e6
    );
    println!(
        "  {:<46} {:>12} {:>12} {:>12}",
        "", "app", "floor", "SDK page"
    );
    let column = |f: Figure| -> Vec<String> {
        PAGES
            .iter()
            .map(|who| {
                let values: Vec<f64> = results.throttled(*who).into_iter().filter_map(f).collect();
                if values.is_empty() {
                    "—".to_string()
                } else {
                    format!("{:.0} ms", median(&values))
                }
            })
            .collect()
    };
    let rows: [(&str, Figure); 6] = [
        ("navigation -> sign-in button ready", |t| Some(t.ready_ms)),
        ("callback page loaded -> account name", |t| {
            Some(t.account_ms)
        }),
        ("blocking, start page until the button works", |t| {
            t.ready_blocking.map(|b| b.0)
        }),
        ("blocking, start page until loaded", |t| {
            t.ready_blocking.map(|b| b.1)
        }),
        ("blocking, callback page until the name", |t| {
            t.account_blocking.map(|b| b.0)
        }),
        ("blocking, callback page until loaded", |t| {
            t.account_blocking.map(|b| b.1)
        }),
    ];
    for (label, f) in rows {
        let c = column(f);
        println!("  {label:<46} {:>12} {:>12} {:>12}", c[0], c[1], c[2]);
    }
    let wire: Vec<String> = PAGES
        .iter()
        .map(|who| {
            let v: Vec<f64> = results
                .throttled(*who)
                .iter()
                .map(|t| t.start_transferred)
                .collect();
            kib(median(&v) as usize)
        })
        .collect();
    println!(
        "  {:<46} {:>12} {:>12} {:>12}",
        "on the wire at / until loaded (transferSize)", wire[0], wire[1], wire[2]
    );
    println!(
        "  (blocking: total blocking time, the sum over the page's long tasks of their time beyond 50 ms, from the"
    );
    println!(
        "   navigation's start to the mark, or to the end of its loading: {} ms without a new request or file, all in)",
        QUIET_THROTTLED.as_millis()
    );
    if let Some((plain, throttled)) = results.cpu_check {
        println!(
            "  CPU check: a fixed JavaScript loop took {plain:.0} ms unthrottled, {throttled:.0} ms throttled ({:.1}×)",
            throttled / plain
        );
    }
    let app = results.throttled(Who::App);
    let of = |f: Figure| {
        let v: Vec<f64> = app.iter().filter_map(|t| f(t)).collect();
        median(&v)
    };
    of(|t| t.ready_blocking.map(|b| b.1)) + of(|t| t.account_blocking.map(|b| b.1))
}

fn report(world: &World, results: &Results, runs: usize, browser_version: &str, load_before: &str) {
    println!();
    println!(
        "rc-pkce bench: {runs} runs each of the app, the floor and the SDK page, sandbox and sites on loopback"
    );
    for line in machine(browser_version) {
        println!("  {line}");
    }
    println!(
        "  official SDK page: @ringcentral/sdk {} (dist/ringcentral.min.js)",
        sdk_version()
    );
    println!(
        "  load average before / after: {load_before} / {}",
        loadavg()
    );

    let brotli = report_first_visit(world, results);
    let journey = report_journeys(results);

    println!();
    println!("Timings (ms from the navigation's start to the mark)");
    println!(
        "  {:<46} {:>8} {:>8} {:>8} {:>8}",
        "", "median", "p90", "min", "max"
    );
    let ms = |runs: &[Callback]| runs.iter().map(|r| r.ms).collect::<Vec<f64>>();
    let (app, floor, sdk) = (ms(&results.app), ms(&results.floor), ms(&results.sdk));
    for (name, values) in [
        (
            "app: sign-in ready, first visit (empty cache)",
            &results.cold_ready,
        ),
        (
            "app: sign-in ready, repeat visit (warm cache)",
            &results.warm_ready,
        ),
        ("app: callback -> account name", &app),
        ("floor: callback -> account name", &floor),
        ("SDK page: callback -> account name", &sdk),
    ] {
        println!("{}", timing_row(name, values));
    }
    let ratio = median(&app) / median(&floor);
    let sdk_ratio = median(&sdk) / median(&floor);
    println!(
        "  callback -> account name, medians: app/floor {ratio:.2}, SDK page/floor {sdk_ratio:.2}, app/SDK page {:.2}",
        median(&app) / median(&sdk)
    );
    println!(
        "  (the HTTP cache was empty for {}/{} first visits: the site served the .wasm each time)",
        results.cold_wasm_served,
        results.cold_ready.len()
    );

    report_timeline(results);
    let (concurrent, no_token_preflight, cached) = report_requests(results);
    let blocking = report_throttled(results);

    println!();
    println!("Budgets");
    let line = |label: String, ok: bool, detail: String| {
        println!("  {label:<50} {:<6} ({detail})", met(ok));
    };
    line(
        format!("first visit at most {} KiB brotli", BROTLI_BUDGET / 1024),
        brotli <= BROTLI_BUDGET,
        format!(
            "{}, {:.0}% of the budget",
            kib(brotli),
            brotli as f64 * 100.0 / BROTLI_BUDGET as f64
        ),
    );
    line(
        format!("whole journey at most {} KiB brotli", JOURNEY_BUDGET / 1024),
        journey > 0 && journey <= JOURNEY_BUDGET,
        format!(
            "{}, {:.0}% of the budget",
            kib(journey),
            journey as f64 * 100.0 / JOURNEY_BUDGET as f64
        ),
    );
    line(
        format!("callback -> account, app/floor at most {RATIO_BUDGET}"),
        ratio <= RATIO_BUDGET,
        format!("{ratio:.2}, medians"),
    );
    line(
        "callback -> account, app below the SDK page".into(),
        median(&app) < median(&sdk),
        format!(
            "{:.1} vs {:.1} ms, medians of the same run",
            median(&app),
            median(&sdk)
        ),
    );
    line(
        format!("app's total blocking time at most {BLOCKING_BUDGET_MS:.0} ms"),
        blocking <= BLOCKING_BUDGET_MS,
        format!("{blocking:.0} ms throttled: start page + callback page until loaded, medians"),
    );
    line(
        "extension and account requests concurrent".into(),
        concurrent,
        format!("the app's, in the sandbox log with both answers held {PROBE_DELAY_MS} ms"),
    );
    line(
        "token POST without a CORS preflight".into(),
        no_token_preflight,
        "the app's".into(),
    );
    line(
        "extension/account preflights cached (run 2+)".into(),
        cached,
        "the app's".into(),
    );
    println!(
        "  (a missed budget is reported, not an error: the bench fails only when it cannot measure)"
    );
}

fn parse_runs(args: &[String]) -> Result<usize, String> {
    let mut runs = DEFAULT_RUNS;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--runs needs a positive number")?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(runs)
}

/// Throttled runs per page: a quarter of the runs, at least 3 (each takes seconds).
fn throttled_runs(runs: usize) -> usize {
    (runs / 4).max(3)
}

async fn run_phases(world: &World, results: &mut Results, runs: usize) {
    for run in 0..runs {
        first_visit_run(world, results).await;
        eprintln!(
            "bench: first visit {}/{runs}: sign-in ready after {:.0} ms (repeat visit {:.0} ms)",
            run + 1,
            results.cold_ready.last().copied().unwrap_or_default(),
            results.warm_ready.last().copied().unwrap_or_default(),
        );
    }
    for run in 0..runs {
        results.app.push(callback_run(world, Who::App).await);
        results.floor.push(callback_run(world, Who::Floor).await);
        results.sdk.push(callback_run(world, Who::Sdk).await);
        let spans = |r: Option<&Callback>| {
            r.map(|r| {
                let t = &r.timeline;
                let f = |step: &str, i: usize| t[step][i].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{:.0} ms (extension {:.1}–{:.1}, account {:.1}–{:.1})",
                    r.ms,
                    f("extension", 0),
                    f("extension", 1),
                    f("account", 0),
                    f("account", 1)
                )
            })
            .unwrap_or_default()
        };
        eprintln!(
            "bench: callback {}/{runs}: account name after: app {}; floor {}; SDK page {}",
            run + 1,
            spans(results.app.last()),
            spans(results.floor.last()),
            spans(results.sdk.last()),
        );
    }
    let hook = world
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": FETCH_HOOK }),
        )
        .await;
    for who in PAGES {
        world.delay_extension_and_account(PROBE_DELAY_MS).await;
        let probe = callback_run(world, who).await;
        eprintln!(
            "bench: concurrency probe, {}: {}; {}",
            who.name(),
            probe.log.describe(),
            probe.fetch_calls()
        );
        match who {
            Who::App => results.app_probe = Some(probe),
            Who::Floor => results.floor_probe = Some(probe),
            Who::Sdk => results.sdk_probe = Some(probe),
        }
    }
    world
        .cdp(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({ "identifier": hook["identifier"] }),
        )
        .await;
    for who in PAGES {
        let journey = journey_run(world, who).await;
        let brotli: usize = journey.files.iter().map(|(_, b)| brotli_len(b)).sum();
        eprintln!(
            "bench: journey, {}: {} files, {} brotli",
            who.name(),
            journey.files.len(),
            kib(brotli)
        );
        results.journeys.push((who, journey));
    }
    let hook = world
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": LONG_TASK_HOOK }),
        )
        .await;
    let plain = world.cpu_probe().await;
    world.throttle(true).await;
    world
        .browser
        .goto(&format!("{}/blank", world.sdk.origin))
        .await;
    let slowed = world.cpu_probe().await;
    results.cpu_check = Some((plain, slowed));
    eprintln!("bench: CPU check: {plain:.0} ms unthrottled, {slowed:.0} ms throttled");
    let throttled = throttled_runs(runs);
    for run in 0..throttled {
        for who in PAGES {
            let t = throttled_run(world, who).await;
            eprintln!(
                "bench: throttled {}/{throttled}, {}: sign-in ready {:.0} ms, account name {:.0} ms, blocking (to the mark, to loaded) {:?} + {:?} ms",
                run + 1,
                who.name(),
                t.ready_ms,
                t.account_ms,
                t.ready_blocking,
                t.account_blocking
            );
            results.throttled.push((who, t));
        }
    }
    world.throttle(false).await;
    world
        .cdp(
            "Page.removeScriptToEvaluateOnNewDocument",
            json!({ "identifier": hook["identifier"] }),
        )
        .await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = match parse_runs(&args) {
        Ok(runs) => runs,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("bench: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    let load_before = loadavg();
    eprintln!("bench: building the release bundle (trunk build --release) ...");
    let world = World::start().await;
    let browser_version = world
        .browser
        .client
        .capabilities()
        .and_then(|c| c.get("browserVersion"))
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    eprintln!(
        "bench: app at {}, floor at {}, sandbox at {}; {runs} runs",
        world.site.origin,
        world.floor.origin,
        world.sandbox.base_url()
    );
    let mut results = Results::default();
    let outcome = std::panic::AssertUnwindSafe(run_phases(&world, &mut results, runs));
    if futures_util::FutureExt::catch_unwind(outcome)
        .await
        .is_err()
    {
        let dir = world.browser.save_artifacts("bench").await;
        eprintln!(
            "bench: failed; screenshot and console log in {}",
            dir.display()
        );
        world.browser.close().await;
        return ExitCode::FAILURE;
    }
    report(&world, &results, runs, &browser_version, &load_before);
    let World {
        browser, sandbox, ..
    } = world;
    browser.close().await;
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_runs_are_a_quarter_but_at_least_three() {
        assert_eq!(throttled_runs(1), 3);
        assert_eq!(throttled_runs(12), 3);
        assert_eq!(throttled_runs(20), 5);
    }

    #[test]
    fn runs_are_parsed() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_runs(&args(&[])), Ok(DEFAULT_RUNS));
        assert_eq!(parse_runs(&args(&["--runs", "3"])), Ok(3));
        assert!(parse_runs(&args(&["--runs", "0"])).is_err());
        assert_eq!(parse_runs(&args(&["--help"])), Err(String::new()));
    }

    #[test]
    fn overlap_and_medians() {
        assert_eq!(overlap((0, 10), (5, 20)), Some(5));
        assert_eq!(overlap((0, 10), (10, 20)), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 90.0), 4.0);
    }
}
