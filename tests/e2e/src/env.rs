//! One test's world: the sandbox and the static site on ephemeral loopback ports, configured for
//! each other, a fresh browser, and helpers for the sandbox's admin API.

use std::future::Future;
use std::pin::Pin;
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
        }
    }
}

pub struct Env {
    pub site: Site,
    pub sandbox: RunningSandbox,
    pub browser: Browser,
    pub http: reqwest::Client,
    pub options: EnvOptions,
}

impl Env {
    pub async fn start(options: EnvOptions) -> Self {
        let site = Site::start(release_bundle().to_path_buf())
            .await
            .expect("site starts");
        let redirect = format!("{}/oauth2callback", site.origin);
        let perms: Vec<&str> = options.permissions.iter().map(String::as_str).collect();
        let config = SandboxConfig {
            clients: vec![
                ClientRegistration::public("rc-pkce-demo", &redirect).with_permissions(&perms),
            ],
            access_ttl_secs: options.access_ttl,
            refresh_ttl_secs: options.refresh_ttl,
            code_ttl_secs: options.code_ttl,
            allowed_origins: vec![site.origin.clone()],
            rate_limits: if options.rate_limits {
                Some(sandbox::RateLimits::default())
            } else {
                None
            },
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind sandbox");
        let sandbox = sandbox::spawn(config, listener)
            .await
            .expect("sandbox starts");
        let config_file = options.config_override.clone().unwrap_or_else(|| {
            let mut c = json!({
                "client_id": "rc-pkce-demo",
                "server": sandbox.base_url(),
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
        }
    }

    pub fn app(&self, path: &str) -> String {
        format!("{}{}", self.site.origin, path)
    }

    /// From the home page through the sandbox's consent page to the account page.
    pub async fn sign_in(&self) {
        self.browser.goto(&self.app("/")).await;
        self.browser.click("[data-testid=sign-in]").await;
        self.consent(USER, PASSWORD, "allow").await;
        self.browser
            .wait_for_text("[data-testid=user-name]", USER_NAME)
            .await;
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
        let url = format!("{}/__sandbox/{path}", self.sandbox.base_url());
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
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

type Scenario<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Runs one scenario in a fresh environment; on failure saves a screenshot and the console log
/// under `target/e2e-artifacts/<name>/` before failing the test.
pub async fn run(
    name: &str,
    options: EnvOptions,
    scenario: impl for<'a> FnOnce(&'a Env) -> Scenario<'a>,
) {
    let env = Env::start(options).await;
    let outcome = std::panic::AssertUnwindSafe(scenario(&env))
        .catch_unwind()
        .await;
    if let Err(panic) = outcome {
        let dir = env.browser.save_artifacts(name).await;
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
