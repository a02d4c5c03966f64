//! `cargo xtask bench`: what a first visit downloads before the sign-in button works, and how fast
//! the app gets from the OAuth callback to the user's name, next to a floor.
//!
//! It builds the release bundle (the harness's trunk build), serves it with the harness's static
//! site, runs an in-process sandbox with rate limits off, and drives one headless Chromium in three
//! phases:
//!
//! 1. first visits: the HTTP cache is emptied (DevTools `Network.clearBrowserCache`), `/` is loaded
//!    and the `rc-pkce:sign-in-ready` mark read; then `/` again with a warm cache. The files of the
//!    first load up to the mark (Resource Timing) are listed with raw, gzip (level 9) and brotli
//!    (quality 11, window 22) sizes;
//! 2. callbacks, app and floor alternating, with no cache clearing (so the CORS preflight cache
//!    behaves as for a user): the app's sign-in button (or the floor's start page) leads to the
//!    sandbox's consent page; the bench posts the consent form itself without following the
//!    redirect and loads the callback URL it got, so the timed page load starts at the callback.
//!    The time is the `rc-pkce:account-name` (app) or `floor:account-name` mark. The floor,
//!    tests/e2e/bench/floor.html + floor.js on a second origin, does only the same requests with
//!    `fetch`: the token POST, then the extension and account GETs in parallel;
//! 3. a concurrency probe, one callback each, with the sandbox holding the extension and account
//!    answers 50 ms: if the page sends them in parallel, their intervals in the sandbox's request
//!    log overlap by about that much (undelayed, each takes the sandbox ~0.1 ms, too short to
//!    overlap however the page sends them).
//!
//! Storage is cleared after each callback. Marks are read relative to the navigation's start with a
//! PerformanceObserver, so the bench does not poll the page while it loads.

use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use e2e::Browser;
use e2e::bundle::release_bundle;
use e2e::env::{PASSWORD, USER};
use e2e::site::{ConfigFile, Site};
use sandbox::{ClientRegistration, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};

const DEFAULT_RUNS: usize = 20;
const FLOOR_HTML: &str = include_str!("../../bench/floor.html");
const FLOOR_JS: &str = include_str!("../../bench/floor.js");
/// The first-visit budget: 90 KB (KiB) of brotli.
const BROTLI_BUDGET: usize = 90 * 1024;
const RATIO_BUDGET: f64 = 1.3;
const EXTENSION: &str = "/restapi/v1.0/account/~/extension/~";
const ACCOUNT: &str = "/restapi/v1.0/account/~";

/// How long the concurrency probe makes the sandbox hold each of the two answers.
const PROBE_DELAY_MS: u64 = 50;
const USAGE: &str = "usage: cargo xtask bench [--runs N]   (default 20 runs of app and floor each)";

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
setTimeout(() => done({ timeout: name, error: window.floorError || null, url: location.href }), 20000);
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
  boot: find((n) => /\/boot-[0-9a-f]{16}\.js$/.test(n)),
  firstLoadScript: find((n) => n.includes("/rc-pkce-callback-") && n.endsWith(".js")),
  firstLoadWasm: find((n) => n.includes("/rc-pkce-callback-") && n.endsWith(".wasm")),
  script: find((n) => /\/rc-pkce-[0-9a-f]{16}\.js$/.test(n)),
  wasm: find((n) => /\/rc-pkce-[0-9a-f]{16}_bg\.wasm$/.test(n)),
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
const STEPS: [(&str, &str); 13] = [
    ("document", "document (index.html / floor.html)"),
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
    ("config", "config.json (app only)"),
    ("token", "token POST"),
    ("extension", "extension GET"),
    ("account", "account GET"),
];

struct Floor {
    origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn floor_response(
    content_type: &'static str,
    cache: &'static str,
    body: String,
    csp: &str,
) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(csp) {
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

/// Serves the floor page on its own loopback origin: `/` and `/callback` (the page), `/floor.js`
/// (cached like the app's hashed assets) and `/blank` (a script-free page to clear storage on).
async fn start_floor(listener: tokio::net::TcpListener, server: String) -> Floor {
    let origin = format!("http://{}", listener.local_addr().expect("floor address"));
    let csp = format!(
        "default-src 'none'; script-src 'self'; connect-src {server}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let html = FLOOR_HTML
        .replace("{{server}}", &server)
        .replace("{{client_id}}", "rc-pkce-floor");
    let page = {
        let (csp, html) = (csp.clone(), html.clone());
        move || {
            let (csp, html) = (csp.clone(), html.clone());
            async move { floor_response("text/html; charset=utf-8", "no-cache", html, &csp) }
        }
    };
    let script = {
        let csp = csp.clone();
        move || {
            let csp = csp.clone();
            async move {
                floor_response(
                    "text/javascript; charset=utf-8",
                    "public, max-age=31536000, immutable",
                    FLOOR_JS.to_string(),
                    &csp,
                )
            }
        }
    };
    let blank = move || {
        let csp = csp.clone();
        async move {
            floor_response(
                "text/html; charset=utf-8",
                "no-cache",
                "<!doctype html><title>blank</title>".into(),
                &csp,
            )
        }
    };
    let app = Router::new()
        .route("/", get(page.clone()))
        .route("/callback", get(page))
        .route("/floor.js", get(script))
        .route("/blank", get(blank));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Floor { origin, task }
}

/// Everything one bench run needs.
struct World {
    site: Site,
    floor: Floor,
    sandbox: RunningSandbox,
    browser: Browser,
    http: reqwest::Client,
    dist: std::path::PathBuf,
    config_json: String,
}

impl World {
    async fn start() -> Self {
        let dist = tokio::task::spawn_blocking(|| release_bundle().to_path_buf())
            .await
            .expect("build task");
        let site = Site::start(dist.clone()).await.expect("site starts");
        let floor_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind floor");
        let floor_origin = format!("http://{}", floor_listener.local_addr().unwrap());
        let config = SandboxConfig {
            clients: vec![
                ClientRegistration::public(
                    "rc-pkce-demo",
                    &format!("{}/oauth2callback", site.origin),
                ),
                ClientRegistration::public("rc-pkce-floor", &format!("{floor_origin}/callback")),
            ],
            allowed_origins: vec![site.origin.clone(), floor_origin],
            rate_limits: None,
            max_sessions_per_user_client: 0,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox = sandbox::spawn(config, listener)
            .await
            .expect("sandbox starts");
        let floor = start_floor(floor_listener, sandbox.base_url().to_string()).await;
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
    app_probe: Option<Callback>,
    floor_probe: Option<Callback>,
}

fn gzip_len(bytes: &[u8]) -> usize {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory").len()
}

fn brotli_len(bytes: &[u8]) -> usize {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).expect("brotli in memory");
    out.len()
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

#[derive(Clone, Copy, PartialEq)]
enum Who {
    App,
    Floor,
}

/// Phases 2 and 3: from the start page to the consent page, then the timed callback page load.
async fn callback_run(world: &World, who: Who) -> Callback {
    let (mark, blank) = match who {
        Who::App => {
            let site = &world.site.origin;
            world.browser.goto(&format!("{site}/")).await;
            world.mark("rc-pkce:sign-in-ready").await;
            world.browser.click("[data-testid=sign-in]").await;
            ("rc-pkce:account-name", format!("{site}/config.json"))
        }
        Who::Floor => {
            let floor = &world.floor.origin;
            world.browser.goto(&format!("{floor}/")).await;
            ("floor:account-name", format!("{floor}/blank"))
        }
    };
    let callback = world.consent().await;
    world.clear_requests().await;
    world.browser.goto(&callback).await;
    let ms = world.mark(mark).await;
    let log = CallbackLog::from(&world.callback_requests().await);
    let timeline = world.timeline().await;
    world.clear_storage(&blank).await;
    Callback { ms, log, timeline }
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
    println!("  {:<46} {:>15} {:>15}", "", "app", "floor");
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
            "  {label:<46} {:>15} {:>15}",
            span(&results.app, step),
            span(&results.floor, step)
        );
    }
    let ms = |runs: &[Callback]| runs.iter().map(|r| r.ms).collect::<Vec<_>>();
    println!(
        "  {:<46} {:>15.1} {:>15.1}",
        "account name (mark)",
        median(&ms(&results.app)),
        median(&ms(&results.floor))
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
    for (who, runs, probe) in [
        ("app", &results.app, &results.app_probe),
        ("floor", &results.floor, &results.floor_probe),
    ] {
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
            None => concurrent = false,
        }
        let token: usize = runs.iter().map(|r| r.log.token_preflights).sum();
        token_total += token;
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

fn report(world: &World, results: &Results, runs: usize, browser_version: &str, load_before: &str) {
    println!();
    println!(
        "rc-pkce bench: {runs} runs each of the app and the floor, sandbox and sites on loopback"
    );
    for line in machine(browser_version) {
        println!("  {line}");
    }
    println!(
        "  load average before / after: {load_before} / {}",
        loadavg()
    );

    let brotli = report_first_visit(world, results);

    println!();
    println!("Timings (ms from the navigation's start to the mark)");
    println!(
        "  {:<46} {:>8} {:>8} {:>8} {:>8}",
        "", "median", "p90", "min", "max"
    );
    let app: Vec<f64> = results.app.iter().map(|r| r.ms).collect();
    let floor: Vec<f64> = results.floor.iter().map(|r| r.ms).collect();
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
    ] {
        println!("{}", timing_row(name, values));
    }
    let ratio = median(&app) / median(&floor);
    println!("  callback -> account name, app/floor (medians): {ratio:.2}");
    println!(
        "  (the HTTP cache was empty for {}/{} first visits: the site served the .wasm each time)",
        results.cold_wasm_served,
        results.cold_ready.len()
    );

    report_timeline(results);
    let (concurrent, no_token_preflight, cached) = report_requests(results);

    println!();
    println!("Budgets");
    println!(
        "  first visit at most 90 KiB brotli:             {} ({}, {:.0}% of the budget)",
        met(brotli <= BROTLI_BUDGET),
        kib(brotli),
        brotli as f64 * 100.0 / BROTLI_BUDGET as f64
    );
    println!(
        "  callback -> account, app/floor at most {RATIO_BUDGET}:  {} ({ratio:.2})",
        met(ratio <= RATIO_BUDGET)
    );
    println!(
        "  extension and account requests concurrent:     {} (the app's, in the sandbox log with both answers held {PROBE_DELAY_MS} ms)",
        met(concurrent)
    );
    println!(
        "  token POST without a CORS preflight:           {}",
        met(no_token_preflight)
    );
    println!(
        "  extension/account preflights cached (run 2+):  {}",
        met(cached)
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
            "bench: callback {}/{runs}: account name after: app {}; floor {}",
            run + 1,
            spans(results.app.last()),
            spans(results.floor.last()),
        );
    }
    let hook = world
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": FETCH_HOOK }),
        )
        .await;
    for who in [Who::App, Who::Floor] {
        world.delay_extension_and_account(PROBE_DELAY_MS).await;
        let probe = callback_run(world, who).await;
        eprintln!(
            "bench: concurrency probe: {}; {}",
            probe.log.describe(),
            probe.fetch_calls()
        );
        match who {
            Who::App => results.app_probe = Some(probe),
            Who::Floor => results.floor_probe = Some(probe),
        }
    }
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
