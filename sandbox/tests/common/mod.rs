//! Shared helpers for the sandbox's HTTP integration tests: start a sandbox on an ephemeral
//! loopback port, drive the sign-in form like a browser would, and call the admin API.
//!
//! Every helper talks only to the sandbox the test started.

#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Client, Response, StatusCode, Url};
use sandbox::{ClientRegistration, RunningSandbox, SandboxConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const DEMO_CLIENT: &str = "rc-pkce-demo";
pub const DEMO_REDIRECT: &str = "http://localhost:5000/oauth2callback";
pub const ORIGIN: &str = "http://localhost:5000";
/// RFC 7636 Appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const DEMO_EXTENSION_ID: u64 = 62_912_345_008;

pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A distinct valid verifier per `n`.
pub fn verifier(n: u32) -> String {
    format!("test-verifier-{n:04}-abcdefghijklmnopqrstuvwxyz0123456789")
}

/// A running sandbox plus a client that does not follow redirects.
pub struct Sb {
    pub sandbox: RunningSandbox,
    pub base: String,
    pub http: Client,
}

/// The query of a redirect to the client.
#[derive(Debug)]
pub struct Callback {
    pub url: Url,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn code(&self) -> String {
        self.param("code").unwrap_or_default()
    }
}

/// A token pair from a successful exchange.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub body: Value,
}

pub async fn start() -> Sb {
    start_with(SandboxConfig::default()).await
}

pub fn no_limits() -> SandboxConfig {
    SandboxConfig {
        rate_limits: None,
        ..SandboxConfig::default()
    }
}

pub async fn start_with(config: SandboxConfig) -> Sb {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral loopback port");
    let sandbox = sandbox::spawn(config, listener)
        .await
        .expect("sandbox starts");
    let base = sandbox.base_url().to_owned();
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    Sb {
        sandbox,
        base,
        http,
    }
}

/// Adds a second client to the default config.
pub fn with_client(client: ClientRegistration) -> SandboxConfig {
    let mut config = no_limits();
    config.clients.push(client);
    config
}

pub fn txn_of(html: &str) -> String {
    let marker = "name=\"txn\" value=\"";
    html.split(marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

pub fn location(response: &Response) -> Option<Url> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Url::parse(v).ok())
}

pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Sb {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The standard authorize query for `client`/`redirect` with `challenge`, plus `extra`.
    pub fn authorize_query(
        client: &str,
        redirect: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let mut q: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.into()),
            ("redirect_uri".into(), redirect.into()),
            ("code_challenge".into(), challenge.into()),
            ("code_challenge_method".into(), "S256".into()),
            ("state".into(), "st-123".into()),
        ];
        for (k, v) in extra {
            q.retain(|(name, _)| name != k);
            if !v.is_empty() {
                q.push(((*k).into(), (*v).into()));
            }
        }
        q
    }

    pub async fn get_authorize(&self, query: &[(String, String)]) -> Response {
        self.http
            .get(self.url("/restapi/oauth/authorize"))
            .header("accept", "text/html,application/xhtml+xml")
            .query(query)
            .send()
            .await
            .expect("authorize request")
    }

    /// Loads the sign-in page and returns its transaction id.
    pub async fn open_sign_in(&self, client: &str, redirect: &str, challenge: &str) -> String {
        let response = self
            .get_authorize(&Self::authorize_query(client, redirect, challenge, &[]))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in page");
        txn_of(&response.text().await.expect("page body"))
    }

    pub async fn post_decision(&self, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/restapi/oauth/authorize"))
            .header("accept", "text/html")
            .form(fields)
            .send()
            .await
            .expect("decision post")
    }

    /// Signs in as `user` for `client` and returns the callback.
    pub async fn sign_in_as(
        &self,
        client: &str,
        redirect: &str,
        challenge: &str,
        user: &str,
        password: &str,
    ) -> Callback {
        let query = Self::authorize_query(client, redirect, challenge, &[]);
        self.allow(&query, user, password).await
    }

    /// Signs in as the demo user for the demo client, with `extra` authorize parameters.
    pub async fn sign_in_with(&self, challenge: &str, extra: &[(&str, &str)]) -> Callback {
        let query = Self::authorize_query(DEMO_CLIENT, DEMO_REDIRECT, challenge, extra);
        self.allow(&query, "demo@example.com", "demo-password")
            .await
    }

    /// Loads the sign-in page for `query`, allows as `user` and returns the callback.
    async fn allow(&self, query: &[(String, String)], user: &str, password: &str) -> Callback {
        let page = self.get_authorize(query).await;
        assert_eq!(page.status(), StatusCode::OK, "sign-in page");
        let txn = txn_of(&page.text().await.expect("page body"));
        let response = self
            .post_decision(&[
                ("txn", &txn),
                ("username", user),
                ("password", password),
                ("decision", "allow"),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "allow redirects");
        Callback {
            url: location(&response).expect("callback location"),
        }
    }

    pub async fn sign_in(&self, challenge: &str) -> Callback {
        self.sign_in_as(
            DEMO_CLIENT,
            DEMO_REDIRECT,
            challenge,
            "demo@example.com",
            "demo-password",
        )
        .await
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/restapi/oauth/token"))
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("token request")
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", verifier),
            ("client_id", DEMO_CLIENT),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", DEMO_CLIENT),
        ])
        .await
    }

    /// The whole flow for the demo user: sign in, exchange, return the pair.
    pub async fn login(&self) -> Tokens {
        let callback = self.sign_in(CHALLENGE).await;
        let response = self.exchange(&callback.code(), VERIFIER).await;
        assert_eq!(response.status(), StatusCode::OK, "exchange succeeds");
        tokens_of(response.json().await.expect("token json"))
    }

    pub async fn login_as(&self, user: &str, password: &str) -> Tokens {
        let callback = self
            .sign_in_as(DEMO_CLIENT, DEMO_REDIRECT, CHALLENGE, user, password)
            .await;
        let response = self.exchange(&callback.code(), VERIFIER).await;
        assert_eq!(response.status(), StatusCode::OK, "exchange succeeds");
        tokens_of(response.json().await.expect("token json"))
    }

    pub async fn api(&self, path: &str, access: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .expect("api request")
    }

    pub async fn revoke(&self, token: &str) -> Response {
        self.http
            .post(self.url("/restapi/oauth/revoke"))
            .form(&[("token", token), ("client_id", DEMO_CLIENT)])
            .send()
            .await
            .expect("revoke request")
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("admin get")
            .json()
            .await
            .expect("admin json")
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("admin post")
    }

    /// A DELETE as every state-changing admin call must be sent: declaring JSON (no body needed).
    pub async fn admin_delete(&self, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .header("content-type", "application/json")
            .send()
            .await
            .expect("admin delete")
    }

    pub async fn advance(&self, secs: u64) {
        let r = self
            .admin_post("/__sandbox/clock", json!({ "advance_secs": secs }))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    pub async fn fault(&self, fault: Value) {
        let r = self.admin_post("/__sandbox/faults", fault).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    pub async fn grants(&self) -> Vec<Value> {
        self.admin_get("/__sandbox/state").await["grants"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn requests(&self) -> Vec<Value> {
        self.admin_get("/__sandbox/requests")
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

pub fn tokens_of(body: Value) -> Tokens {
    Tokens {
        access: body["access_token"].as_str().unwrap_or_default().to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        body,
    }
}

/// Status and JSON body of a response.
pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts RingCentral's OAuth error shape with this status, error and code.
pub async fn assert_oauth_error(
    response: Response,
    status: StatusCode,
    error: &str,
    code: &str,
) -> Value {
    let (got, body) = json_of(response).await;
    assert_eq!(got, status, "status for {body}");
    assert_eq!(body["error"], error, "error in {body}");
    assert_eq!(body["errors"][0]["errorCode"], code, "errorCode in {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(body["errors"][0]["message"], body["error_description"]);
    body
}

/// Asserts a REST API 401 with the entry code and the WWW-Authenticate header.
pub async fn assert_unauthorized(response: Response, code: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(response.headers(), "www-authenticate").as_deref(),
        Some("Bearer realm=\"RingCentral REST API\"")
    );
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(body["errorCode"], "TokenInvalid", "{body}");
    assert_eq!(body["errors"][0]["errorCode"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}
