//! One test's world: the sandbox and the static site on ephemeral loopback ports, configured for
//! each other, a fresh browser, and helpers for the sandbox's admin API.
//!
//! With [`EnvOptions::sandbox_via_link`] the app reaches the sandbox through a [`Link`], a TCP relay
//! the test can cut (see [`Env::cut_link`]): the nearest thing to pulling the network cable.
//! Shutting the sandbox down is not the same: its graceful shutdown lets requests in flight finish.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use sandbox::{ClientRegistration, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::bundle::release_bundle;
use crate::site::{ConfigFile, Site};

/// The demo user of the sandbox.
pub const USER: &str = "demo@example.com";
pub const PASSWORD: &str = "demo-password";
/// Their name and details as the sandbox seeds them.
pub const USER_NAME: &str = "Dana Whitfield";
pub const USER_EXTENSION: &str = "101";
pub const USER_COMPANY: &str = "Northwind Analytics";
/// The sandbox's second seeded user.
pub const SECOND_USER: &str = "second@example.com";
pub const SECOND_PASSWORD: &str = "second-password";
pub const SECOND_USER_NAME: &str = "Marcus Ortega";

#[derive(Clone, Debug)]
pub struct EnvOptions {
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    pub code_ttl: u64,
    pub rate_limits: bool,
    /// Permissions of the demo client.
    pub permissions: Vec<String>,
    /// Extra keys merged into the generated config.json.
    pub config_extra: Value,
    /// Replaces the generated config.json entirely.
    pub config_override: Option<ConfigFile>,
    /// The sandbox lists `Retry-After` and `X-Rate-Limit-*` in `Access-Control-Expose-Headers`,
    /// so the app can read them (RingCentral does not; without it the app waits its default 30 s).
    pub expose_rate_limit_headers: bool,
    /// The app talks to the sandbox through a [`Link`] the test can cut ([`Env::cut_link`]).
    pub sandbox_via_link: bool,
    /// The sandbox's refresh grace window (`--refresh-grace-secs`): 0, strict single use, unless a
    /// test needs RingCentral's forgiveness of a repeated refresh.
    pub refresh_grace_secs: u64,
}

impl Default for EnvOptions {
    fn default() -> Self {
        Self {
            access_ttl: 3600,
            refresh_ttl: 604_800,
            code_ttl: 60,
            rate_limits: false,
            permissions: vec!["ReadAccounts".into(), "ReadCallLog".into()],
            config_extra: json!({}),
            config_override: None,
            expose_rate_limit_headers: false,
            sandbox_via_link: false,
            refresh_grace_secs: 0,
        }
    }
}

/// A TCP relay on a loopback port in front of the sandbox. [`Link::cut`] closes its listener and
/// every connection through it at once, requests in flight included. Made with
/// [`Link::recording`], it also keeps every byte the browser sent through it ([`Link::sent`]):
/// headers and bodies as they went over the wire, not the sandbox's log of them (which keeps
/// nothing secret).
pub struct Link {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    sent: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Link {
    /// Relays 127.0.0.1:<ephemeral> to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Self> {
        Self::relay(target, None).await
    }

    /// [`Link::start`], keeping what the browser sends.
    pub async fn recording(target: SocketAddr) -> std::io::Result<Self> {
        Self::relay(target, Some(Arc::default())).await
    }

    async fn relay(target: SocketAddr, sent: Option<Arc<Mutex<Vec<u8>>>>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let conns = Arc::clone(&connections);
        let record = sent.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let record = record.clone();
                let relay = tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    match record {
                        None => {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                        Some(record) => {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let (mut from_browser, mut to_browser) = inbound.into_split();
                            let (mut from_sandbox, mut to_sandbox) = outbound.into_split();
                            let up = async {
                                let mut buf = vec![0u8; 16 * 1024];
                                loop {
                                    let n = from_browser.read(&mut buf).await?;
                                    if n == 0 {
                                        return to_sandbox.shutdown().await;
                                    }
                                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                                    to_sandbox.write_all(&buf[..n]).await?;
                                }
                            };
                            let down = async {
                                tokio::io::copy(&mut from_sandbox, &mut to_browser).await?;
                                to_browser.shutdown().await
                            };
                            let _: (std::io::Result<()>, std::io::Result<()>) =
                                tokio::join!(up, down);
                        }
                    }
                });
                conns.lock().unwrap().push(relay.abort_handle());
            }
        });
        Ok(Self {
            addr,
            accept,
            connections,
            sent,
        })
    }

    /// Every byte the browser has sent through the link so far (needs [`Link::recording`]).
    pub fn sent(&self) -> Vec<u8> {
        self.sent
            .as_ref()
            .expect("a link made with Link::recording")
            .lock()
            .unwrap()
            .clone()
    }

    /// `http://` + the relay's address.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops listening and drops every relayed connection: requests in flight get no answer and
    /// new ones are refused.
    pub fn cut(&self) {
        self.accept.abort();
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
    }
}

/// What the session panel on `/account` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// `data-expires-at`: when the access token expires, in ms since the epoch.
    pub expires_at: u64,
    /// "Refreshes so far".
    pub generation: u64,
    /// The "Tabs" line.
    pub tabs: String,
}

pub struct Env {
    pub site: Site,
    pub sandbox: RunningSandbox,
    pub browser: Browser,
    pub http: reqwest::Client,
    pub options: EnvOptions,
    /// The relay the app reaches the sandbox through, with [`EnvOptions::sandbox_via_link`].
    pub link: Option<Link>,
}

impl Env {
    pub async fn start(options: EnvOptions) -> Self {
        let site = Site::start(release_bundle().to_path_buf())
            .await
            .expect("site starts");
        let sandbox = spawn_sandbox(&options, &site.origin).await;
        let link = if options.sandbox_via_link {
            Some(Link::start(sandbox.addr()).await.expect("link starts"))
        } else {
            None
        };
        let server = link
            .as_ref()
            .map_or_else(|| sandbox.base_url().to_string(), Link::base_url);
        let config_file = options.config_override.clone().unwrap_or_else(|| {
            // The callback's `iss` is the sandbox's own base URL, also when reached via the link.
            let mut c = json!({
                "client_id": "rc-pkce-demo",
                "server": server,
                "issuer": sandbox.base_url(),
            });
            if let (Some(obj), Some(extra)) = (c.as_object_mut(), options.config_extra.as_object())
            {
                for (k, v) in extra {
                    obj.insert(k.clone(), v.clone());
                }
            }
            ConfigFile::Json(c.to_string())
        });
        site.set_config(config_file);
        let browser = Browser::launch().await;
        Self {
            site,
            sandbox,
            browser,
            http: reqwest::Client::new(),
            options,
            link,
        }
    }

    /// Another sandbox, configured as the first one is (the same client registration, this
    /// site's origin allowed) but with its own grants, tokens and request log: a second server
    /// the app can be pointed at. Shut it down at the end of the test.
    pub async fn another_sandbox(&self) -> RunningSandbox {
        spawn_sandbox(&self.options, &self.site.origin).await
    }

    /// Cuts the app's connection to the sandbox (needs [`EnvOptions::sandbox_via_link`]).
    pub fn cut_link(&self) {
        self.link
            .as_ref()
            .expect("EnvOptions::sandbox_via_link is set")
            .cut();
    }

    /// The origin the app uses for the sandbox (the link's, when there is one).
    pub fn sandbox_origin(&self) -> String {
        self.link
            .as_ref()
            .map_or_else(|| self.sandbox.base_url().to_string(), Link::base_url)
    }

    pub fn app(&self, path: &str) -> String {
        format!("{}{}", self.site.origin, path)
    }

    /// From the home page through the sandbox's consent page to the account page.
    pub async fn sign_in(&self) {
        self.sign_in_as(USER, PASSWORD, USER_NAME).await;
    }

    /// [`Env::sign_in`] as another seeded user, in the current window. Returns once the app has
    /// taken over the account page (its sign-out button is there), so the session is stored: the
    /// name alone may be the first-load module's, drawn before the app has stored anything.
    pub async fn sign_in_as(&self, user: &str, password: &str, name: &str) {
        self.browser.goto(&self.app("/")).await;
        self.browser.click("[data-testid=sign-in]").await;
        self.consent(user, password, "allow").await;
        self.browser
            .wait_for_text("[data-testid=user-name]", name)
            .await;
        self.browser.wait_for("[data-testid=sign-out]").await;
    }

    /// Fills the sandbox's sign-in form and presses Allow or Deny.
    pub async fn consent(&self, user: &str, password: &str, decision: &str) {
        self.browser.wait_for("input[name=username]").await;
        self.browser.type_into("input[name=username]", user).await;
        self.browser
            .type_into("input[name=password]", password)
            .await;
        self.browser
            .click(&format!("button[name=decision][value={decision}]"))
            .await;
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        sandbox_admin(&self.http, self.sandbox.base_url(), method, path, body).await
    }

    /// Every request the sandbox received, in order.
    pub async fn requests(&self) -> Vec<Value> {
        match self.admin(reqwest::Method::GET, "requests", None).await {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// Token endpoint requests (no preflights), optionally of one grant type.
    pub async fn token_requests(&self, grant_type: Option<&str>) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["path"] == "/restapi/oauth/token" && r["method"] == "POST")
            .filter(|r| grant_type.is_none_or(|g| r["grant_type"] == g))
            .collect()
    }

    /// Requests to `path` (no preflights).
    pub async fn requests_to(&self, path: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["path"] == path && r["method"] != "OPTIONS")
            .collect()
    }

    /// REST API requests (no preflights) whose path ends with `suffix`.
    pub async fn api_requests(&self, suffix: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("/restapi/v1.0/") && p.ends_with(suffix))
            })
            .collect()
    }

    /// Revoke endpoint requests (no preflights).
    pub async fn revoke_requests(&self) -> Vec<Value> {
        self.requests_to("/restapi/oauth/revoke").await
    }

    /// Empties the sandbox's request log.
    pub async fn clear_requests(&self) {
        self.admin(reqwest::Method::DELETE, "requests", None).await;
    }

    pub async fn state(&self) -> Value {
        self.admin(reqwest::Method::GET, "state", None).await
    }

    pub async fn grants(&self) -> Vec<Value> {
        match self.state().await["grants"].clone() {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    pub async fn fault(&self, fault: Value) {
        self.admin(reqwest::Method::POST, "faults", Some(fault))
            .await;
    }

    pub async fn advance_clock(&self, secs: u64) {
        self.admin(
            reqwest::Method::POST,
            "clock",
            Some(json!({ "advance_secs": secs })),
        )
        .await;
    }

    pub async fn expire_access_tokens(&self) -> Value {
        self.admin(reqwest::Method::POST, "expire-access-tokens", None)
            .await
    }

    pub async fn revoke_grants(&self) -> Value {
        self.admin(reqwest::Method::POST, "revoke-grants", None)
            .await
    }

    /// Faults not used up yet.
    pub async fn pending_faults(&self) -> Vec<Value> {
        match self.admin(reqwest::Method::GET, "faults", None).await {
            Value::Array(a) => a,
            _ => Vec::new(),
        }
    }

    /// Calls the REST API directly with `token`, as an attacker holding an old token would.
    pub async fn api_status_with(&self, token: &str) -> u16 {
        self.http
            .get(format!(
                "{}/restapi/v1.0/account/~/extension/~",
                self.sandbox.base_url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// The session panel of the current window, if it is shown. Read in one script: the panel
    /// re-renders every second for its countdowns, so elements found earlier go stale.
    pub async fn panel(&self) -> Option<Panel> {
        let v = self
            .browser
            .execute(
                "const q = id => document.querySelector(`[data-testid=${id}]`); \
                 const e = q('access-expiry'), g = q('generation'), t = q('tabs'); \
                 return e && g && t ? [e.dataset.expiresAt || '', g.textContent, t.textContent] : null;",
            )
            .await;
        Some(Panel {
            expires_at: v[0].as_str()?.parse().ok()?,
            generation: v[1].as_str()?.trim().parse().ok()?,
            tabs: v[2].as_str()?.to_string(),
        })
    }

    /// Switches to `window` and waits until its session panel's Tabs line contains `text`.
    pub async fn wait_for_tabs_line(&self, window: &crate::browser::WindowHandle, text: &str) {
        self.browser.switch_to(window).await;
        eventually(
            &format!("the Tabs line to say {text:?}"),
            Duration::from_secs(20),
            || async { self.panel().await.is_some_and(|p| p.tabs.contains(text)) },
        )
        .await;
    }

    /// Waits for the session panel and returns what it shows.
    pub async fn wait_for_panel(&self) -> Panel {
        let started = std::time::Instant::now();
        loop {
            if let Some(p) = self.panel().await {
                return p;
            }
            assert!(
                started.elapsed() < crate::browser::WAIT,
                "no session panel on {}",
                self.browser.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The stored session record of the current tab, parsed.
    pub async fn stored_session(&self) -> Option<Value> {
        let s = self.browser.session_storage().await;
        s["rc-pkce.session"]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    /// Console messages at level SEVERE.
    pub async fn console_errors(&self) -> Vec<String> {
        self.browser
            .console()
            .await
            .into_iter()
            .filter(|(l, _)| l == "SEVERE")
            .map(|(_, m)| m)
            .collect()
    }

    pub async fn close(self) {
        self.browser.close().await;
        self.sandbox.shutdown().await;
    }
}

/// A sandbox on 127.0.0.1:<ephemeral> that serves the demo client of the site at `site_origin`.
async fn spawn_sandbox(options: &EnvOptions, site_origin: &str) -> RunningSandbox {
    let redirect = format!("{site_origin}/oauth2callback");
    let perms: Vec<&str> = options.permissions.iter().map(String::as_str).collect();
    let config = SandboxConfig {
        clients: vec![
            ClientRegistration::public("rc-pkce-demo", &redirect).with_permissions(&perms),
        ],
        access_ttl_secs: options.access_ttl,
        refresh_ttl_secs: options.refresh_ttl,
        code_ttl_secs: options.code_ttl,
        allowed_origins: vec![site_origin.to_string()],
        rate_limits: if options.rate_limits {
            Some(sandbox::RateLimits::default())
        } else {
            None
        },
        expose_rate_limit_headers: options.expose_rate_limit_headers,
        refresh_grace_secs: options.refresh_grace_secs,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox");
    sandbox::spawn(config, listener)
        .await
        .expect("sandbox starts")
}

/// Calls the sandbox's admin API (`/__sandbox/<path>`) and returns its JSON answer (`null` for an
/// empty body). Panics, naming the call, unless it succeeds.
///
/// Every call but a GET declares JSON, as the admin API requires of state-changing requests (so no
/// web page can make them): a POST sends `body` or `{}`, a DELETE only the header.
pub async fn sandbox_admin(
    http: &reqwest::Client,
    base_url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let url = format!("{base_url}/__sandbox/{path}");
    let mut req = http.request(method.clone(), &url);
    if let Some(b) = body {
        req = req.json(&b);
    } else if method == reqwest::Method::POST {
        req = req.json(&json!({}));
    } else if method != reqwest::Method::GET {
        req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("admin {path}: {e}"));
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "admin {path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

type Scenario<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs one scenario in a fresh environment; on failure saves a screenshot and the console log
/// under `target/e2e-artifacts/<name>/` before failing the test.
pub async fn run(
    name: &str,
    options: EnvOptions,
    scenario: impl for<'a> FnOnce(&'a Env) -> Scenario<'a>,
) {
    let started = std::time::Instant::now();
    let env = Env::start(options).await;
    let outcome = std::panic::AssertUnwindSafe(scenario(&env))
        .catch_unwind()
        .await;
    // Shown with `--nocapture`: where a slow suite spends its time.
    eprintln!("e2e {name}: {:.1} s", started.elapsed().as_secs_f64());
    if let Err(panic) = outcome {
        let dir = env.browser.save_artifacts(name).await;
        // What the sandbox saw, for the post-mortem (it may be down on purpose).
        let url = format!("{}/__sandbox/requests", env.sandbox.base_url());
        let log = match env
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("request log unavailable: {e}"),
        };
        let _ = std::fs::write(dir.join("sandbox-requests.json"), log);
        eprintln!(
            "e2e {name} failed; screenshot and console log in {}",
            dir.display()
        );
        env.close().await;
        std::panic::resume_unwind(panic);
    }
    env.close().await;
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}
