//! The runtime configuration (`config.json` beside `index.html`) and the visitor's own Settings:
//! schema, defaults, and validation with errors that name the field and say how to fix it.
//!
//! One build serves every deployment, so nothing here is compiled in except the server presets.
//! Unknown keys are errors (a typo must not silently fall back to a default), a `client_secret` is
//! refused outright, and endpoints must be https except on loopback hosts.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::authorize::AuthorizeRequest;
use crate::binding::ServerBinding;
use crate::url::{HttpUrl, join};

/// A config file larger than this is refused unread.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;

pub const PRODUCTION_SERVER: &str = "https://platform.ringcentral.com";
pub const DEVTEST_SERVER: &str = "https://platform.devtest.ringcentral.com";
/// Where `cargo xtask dev` runs the local sandbox.
pub const LOCAL_SANDBOX_SERVER: &str = "http://127.0.0.1:5001";

/// The servers a visitor can pick in Settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerPreset {
    Production,
    /// RingCentral's developer sandbox, deprecated by RingCentral but still reachable for old apps.
    Devtest,
    /// The sandbox server shipped in this repository.
    Local,
}

impl ServerPreset {
    pub const ALL: [ServerPreset; 3] = [Self::Production, Self::Devtest, Self::Local];

    pub fn server(self) -> &'static str {
        match self {
            Self::Production => PRODUCTION_SERVER,
            Self::Devtest => DEVTEST_SERVER,
            Self::Local => LOCAL_SANDBOX_SERVER,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Production => "RingCentral production",
            Self::Devtest => "RingCentral developer sandbox (deprecated by RingCentral)",
            Self::Local => "Local sandbox (cargo xtask dev)",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Devtest => "devtest",
            Self::Local => "local",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == id)
    }

    /// The local sandbox is known to send `iss`; RingCentral's support for it is unconfirmed.
    pub fn issuer(self) -> Option<&'static str> {
        match self {
            Self::Local => Some(LOCAL_SANDBOX_SERVER),
            _ => None,
        }
    }

    pub fn matching(server: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.server() == server.trim_end_matches('/'))
    }
}

/// Where tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStorage {
    /// `sessionStorage`: survives a reload of this tab, gone when the tab closes.
    #[default]
    Session,
    /// Memory only: a reload signs out. Nothing about the session touches storage.
    Memory,
}

impl TokenStorage {
    /// Whether other tabs can hold this tab's session. A memory-only session exists in this tab
    /// alone (a duplicated tab does not inherit it), so there is no one to coordinate with, and
    /// nothing about it is announced to other pages of the origin.
    pub fn shared_between_tabs(self) -> bool {
        self == Self::Session
    }
}

/// A validated configuration with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    pub client_id: String,
    pub server: String,
    pub redirect_uri: String,
    pub authorize_endpoint: String,
    pub token_endpoint: String,
    pub revoke_endpoint: String,
    pub api_base: String,
    pub scope: Option<String>,
    pub issuer: Option<String>,
    /// The callback may come without `iss` ([`ServerBinding::iss_optional`]).
    pub iss_optional: bool,
    /// Sign in with OpenID Connect: `openid` in the scope, a `nonce`, and an ID token verified
    /// against the server's keys before anything else is done with the tokens.
    pub openid: bool,
    /// Read the endpoints from `{issuer}/.well-known/openid-configuration` at start
    /// ([`crate::discovery::configure`]); those set in config.json win.
    pub discovery: bool,
    /// The server's key set (RFC 7517), for ID token signatures.
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    /// The endpoint keys config.json set itself, which a discovery document does not replace.
    pub explicit: Vec<&'static str>,
    pub token_storage: TokenStorage,
    pub prompt: Option<String>,
    pub ui_locales: Option<String>,
    pub brand_id: Option<String>,
    pub display: Option<String>,
}

impl AppConfig {
    pub fn authorize_request(&self) -> AuthorizeRequest {
        AuthorizeRequest {
            endpoint: self.authorize_endpoint.clone(),
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            scope: self.request_scope(),
            openid: self.openid,
            prompt: self.prompt.clone(),
            ui_locales: self.ui_locales.clone(),
            brand_id: self.brand_id.clone(),
            display: self.display.clone(),
            login_hint: None,
        }
    }

    /// The `scope` sent: the configured one, with `openid` in front when OpenID Connect is on and
    /// the scope does not name it already (`email` and `profile` only when configured).
    pub fn request_scope(&self) -> Option<String> {
        let configured = self.scope.as_deref().unwrap_or("");
        if !self.openid || configured.split(' ').any(|s| s == "openid") {
            return self.scope.clone();
        }
        Some(format!("openid {configured}").trim_end().to_string())
    }

    /// What a pending sign-in or a session made with this configuration is bound to.
    pub fn binding(&self) -> ServerBinding {
        ServerBinding {
            client_id: self.client_id.clone(),
            token_endpoint: self.token_endpoint.clone(),
            revoke_endpoint: self.revoke_endpoint.clone(),
            api_base: self.api_base.clone(),
            issuer: self.issuer.clone(),
            iss_optional: self.iss_optional,
        }
    }

    /// The preset this configuration's server corresponds to, if any.
    pub fn preset(&self) -> Option<ServerPreset> {
        ServerPreset::matching(&self.server)
    }

    /// The origins the app talks to with `fetch` (for a Content-Security-Policy `connect-src`).
    /// With discovery, the issuer's too (the document is read from it); the endpoints the
    /// document names are only known at run time, so these are the ones of config.json and
    /// their defaults beside the server ([`crate::discovery::policy_assumption`]).
    pub fn connect_origins(&self) -> Vec<String> {
        let openid = [&self.jwks_uri, &self.userinfo_endpoint];
        let issuer = self.issuer.iter().filter(|_| self.discovery);
        let mut v: Vec<String> = [&self.token_endpoint, &self.revoke_endpoint, &self.api_base]
            .into_iter()
            .chain(openid.into_iter().filter(|_| self.openid))
            .chain(issuer)
            .filter_map(|u| HttpUrl::parse(u).ok().map(|p| p.origin()))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// The Content-Security-Policy a deployment of `config` must send (as a response header, since
/// `frame-ancestors` has no effect in a `<meta>` element).
///
/// Scripts only from the site itself plus WebAssembly compilation; no inline script or style; no
/// `<base>`; no framing; `fetch` only to the site (for config.json), the configured endpoints, and
/// the RingCentral servers the Settings page can switch to.
pub fn content_security_policy(config: &AppConfig) -> String {
    let mut connect = vec!["'self'".to_string()];
    connect.extend(config.connect_origins());
    for preset in [PRODUCTION_SERVER, DEVTEST_SERVER] {
        if let Ok(u) = HttpUrl::parse(preset) {
            connect.push(u.origin());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    connect.retain(|o| seen.insert(o.clone()));
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; \
         connect-src {}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
        connect.join(" ")
    )
}

/// What is wrong with the configuration, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key, when one is to blame.
    pub field: Option<String>,
    pub problem: String,
    pub fix: String,
}

impl ConfigError {
    fn field(field: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "`{field}`: {} {}", self.problem, self.fix),
            None => write!(f, "{} {}", self.problem, self.fix),
        }
    }
}

const KNOWN_KEYS: [&str; 18] = [
    "client_id",
    "server",
    "redirect_uri",
    "authorize_endpoint",
    "token_endpoint",
    "revoke_endpoint",
    "api_base",
    "scope",
    "issuer",
    "openid",
    "discovery",
    "jwks_uri",
    "userinfo_endpoint",
    "token_storage",
    "prompt",
    "ui_locales",
    "brand_id",
    "display",
];

/// Parses and validates `config.json`. `page_base` is the app's origin and base path with a
/// trailing slash (e.g. `https://example.github.io/rc-pkce/`): the default redirect URI hangs off it
/// and the configured one must return to it.
pub fn parse_config(text: &str, page_base: &str) -> Result<AppConfig, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError {
            field: None,
            problem: format!(
                "config.json is larger than {} KiB.",
                MAX_CONFIG_BYTES / 1024
            ),
            fix: "It only needs a few short settings; replace it with a small JSON object.".into(),
        });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigError {
        field: None,
        problem: format!("config.json is not valid JSON ({e})."),
        fix: "Fix the syntax at that line and column; the file must be one JSON object such as {\"client_id\": \"...\"}."
            .into(),
    })?;
    let Value::Object(map) = value else {
        return Err(ConfigError {
            field: None,
            problem: "config.json must be a JSON object.".into(),
            fix: "Write it as {\"client_id\": \"YOUR_CLIENT_ID\"} with any optional settings beside it.".into(),
        });
    };
    validate(&map, page_base)
}

fn validate(map: &Map<String, Value>, page_base: &str) -> Result<AppConfig, ConfigError> {
    for key in map.keys() {
        if key == "client_secret" || key.contains("secret") {
            return Err(ConfigError::field(
                key,
                "a browser app must not have a client secret: anything in config.json is readable by every visitor.",
                "Remove it, and register the app in the RingCentral Developer Console as a \"Client-side web app\" using Authorization Code with PKCE, which needs no secret. If the secret was ever published, rotate it.",
            ));
        }
        if !KNOWN_KEYS.contains(&key.as_str()) {
            let suggestion = closest_key(key)
                .map(|k| format!("Did you mean `{k}`? "))
                .unwrap_or_default();
            return Err(ConfigError::field(
                key,
                "is not a setting this app knows.",
                format!("{suggestion}Known settings: {}.", KNOWN_KEYS.join(", ")),
            ));
        }
    }
    let string = |key: &str| -> Result<Option<String>, ConfigError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(ConfigError::field(
                key,
                format!("must be a string, not {}.", type_name(other)),
                format!("Write it in quotes, e.g. \"{key}\": \"...\"."),
            )),
        }
    };

    let page = HttpUrl::parse(page_base).map_err(|e| ConfigError {
        field: None,
        problem: format!("this page's own address ({page_base}) cannot be used: {e}."),
        fix: "Serve the app over https (or http on localhost).".into(),
    })?;

    let client_id = string("client_id")?.ok_or_else(|| {
        ConfigError::field(
            "client_id",
            "is missing.",
            "Copy the Client ID of your app from the RingCentral Developer Console into config.json as \"client_id\" (or enter it on the Settings page).",
        )
    })?;
    if client_id.len() > 256
        || client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::field(
            "client_id",
            "does not look like a client ID (it has spaces or is too long).",
            "Copy the Client ID exactly as the RingCentral Developer Console shows it.",
        ));
    }

    let flag = |key: &str| -> Result<bool, ConfigError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(ConfigError::field(
                key,
                format!("must be true or false, not {}.", type_name(other)),
                format!("Write \"{key}\": true (without quotes), or leave it out."),
            )),
        }
    };
    let configured_issuer = match string("issuer")? {
        Some(i) => Some(issuer("issuer", &i)?),
        None => None,
    };
    let discovery = flag("discovery")?;
    if discovery && configured_issuer.is_none() {
        return Err(ConfigError::field(
            "discovery",
            "needs an `issuer`: the metadata document is read from the issuer's /.well-known/openid-configuration, and its `issuer` must equal the configured one.",
            "Add \"issuer\": \"https://platform.ringcentral.com\" (or your server's issuer), or remove \"discovery\".",
        ));
    }
    let server = match (string("server")?, &configured_issuer) {
        (Some(s), _) => endpoint("server", &s)?.trim_end_matches('/').to_string(),
        // With discovery the issuer names the server; the REST API (which discovery does not
        // name) is expected beside it, as at RingCentral.
        (None, Some(i)) if discovery => i.clone(),
        (None, _) => PRODUCTION_SERVER.to_string(),
    };
    let derived = |key: &str, path: &str| -> Result<String, ConfigError> {
        match string(key)? {
            Some(s) => endpoint(key, &s),
            None => Ok(join(&server, path)),
        }
    };
    let authorize_endpoint = derived("authorize_endpoint", "/restapi/oauth/authorize")?;
    let token_endpoint = derived("token_endpoint", "/restapi/oauth/token")?;
    let revoke_endpoint = derived("revoke_endpoint", "/restapi/oauth/revoke")?;
    let api_base = derived("api_base", "/restapi/v1.0")?
        .trim_end_matches('/')
        .to_string();
    let jwks_uri = derived("jwks_uri", "/restapi/oauth/jwks")?;
    let userinfo_endpoint = derived("userinfo_endpoint", "/restapi/oauth/userinfo")?;
    let mut explicit = Vec::new();
    for key in ENDPOINT_KEYS {
        if string(key)?.is_some() {
            explicit.push(key);
        }
    }
    let scope = string("scope")?;
    let openid = flag("openid")?
        || scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|w| w == "openid"));

    let default_redirect = format!("{}oauth2callback", page.origin() + &base_path(&page));
    let redirect_uri = match string("redirect_uri")? {
        Some(r) => {
            let parsed = HttpUrl::parse(&r).map_err(|e| {
                ConfigError::field(
                    "redirect_uri",
                    format!("is not a usable URL: {e}."),
                    format!("Use {default_redirect}."),
                )
            })?;
            if parsed.has_fragment() {
                return Err(ConfigError::field(
                    "redirect_uri",
                    "must not contain a fragment (#...).",
                    format!("Use {default_redirect}."),
                ));
            }
            if parsed.origin() != page.origin() {
                return Err(ConfigError::field(
                    "redirect_uri",
                    format!(
                        "points at {}, but this app runs at {}: the sign-in would return somewhere else.",
                        parsed.origin(),
                        page.origin()
                    ),
                    format!("Use {default_redirect} (and register exactly that URI for the app)."),
                ));
            }
            r
        }
        None => default_redirect,
    };
    // An ID token is held to an issuer: without a configured one, the server's own URL (which is
    // RingCentral's issuer). The callback's `iss` is then not required, only checked when sent:
    // the issuer was not configured to be required.
    let iss_optional = configured_issuer.is_none();
    let issuer = match configured_issuer {
        Some(i) => Some(i),
        None if openid => Some(issuer("server", &server)?),
        None => None,
    };
    let token_storage = match string("token_storage")?.as_deref() {
        None | Some("session") => TokenStorage::Session,
        Some("memory") => TokenStorage::Memory,
        Some(other) => {
            return Err(ConfigError::field(
                "token_storage",
                format!("is \"{other}\", which is not a storage mode."),
                "Use \"session\" (the default: survives a reload of the tab) or \"memory\" (a reload signs out).",
            ));
        }
    };
    if let Some(display) = string("display")?
        && !matches!(display.as_str(), "page" | "popup" | "touch" | "mobile")
    {
        return Err(ConfigError::field(
            "display",
            format!("is \"{display}\"."),
            "Use one of \"page\", \"popup\", \"touch\", \"mobile\", or leave it out.",
        ));
    }
    if let Some(prompt) = string("prompt")?
        && !prompt
            .split(' ')
            .all(|p| matches!(p, "login" | "sso" | "consent" | "none"))
    {
        return Err(ConfigError::field(
            "prompt",
            format!("is \"{prompt}\"."),
            "Use space-separated values from login, sso, consent, none — or leave it out.",
        ));
    }
    Ok(AppConfig {
        client_id,
        server,
        redirect_uri,
        authorize_endpoint,
        token_endpoint,
        revoke_endpoint,
        api_base,
        scope,
        issuer,
        iss_optional,
        openid,
        discovery,
        jwks_uri,
        userinfo_endpoint,
        explicit,
        token_storage,
        prompt: string("prompt")?,
        ui_locales: string("ui_locales")?,
        brand_id: string("brand_id")?,
        display: string("display")?,
    })
}

/// The endpoint keys a discovery document can fill in, unless config.json sets them.
pub const ENDPOINT_KEYS: [&str; 6] = [
    "authorize_endpoint",
    "token_endpoint",
    "revoke_endpoint",
    "api_base",
    "jwks_uri",
    "userinfo_endpoint",
];

/// The path of the app's base, `/` or `/sub/path/`.
fn base_path(page: &HttpUrl) -> String {
    let path = crate::url::without_query(&page.rest);
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("/{dir}")
    }
}

/// Checks an endpoint URL: absolute, https unless loopback, no fragment.
fn endpoint(key: &str, value: &str) -> Result<String, ConfigError> {
    let url = HttpUrl::parse(value).map_err(|e| {
        ConfigError::field(
            key,
            format!("is not a usable URL: {e}."),
            format!("Write a full URL such as \"{PRODUCTION_SERVER}\"."),
        )
    })?;
    if !url.is_https() && !url.is_loopback() {
        return Err(ConfigError::field(
            key,
            format!(
                "uses plain http on {}, where tokens could be read or changed on the network.",
                url.host
            ),
            "Use https:// (plain http is only accepted for localhost and 127.0.0.1).",
        ));
    }
    if url.has_fragment() {
        return Err(ConfigError::field(
            key,
            "must not contain a fragment (#...).",
            "Remove everything from the # on.",
        ));
    }
    Ok(value.to_string())
}

/// The configured issuer in the one form the callback's `iss` is compared with, exactly (RFC 9207
/// asks for simple string comparison): scheme and host in lowercase, a default port left out, and
/// an issuer that is a bare origin written without its lone `/` (how RingCentral and OpenID
/// providers write theirs). Done once here, so the comparison itself forgives nothing.
fn issuer(key: &str, value: &str) -> Result<String, ConfigError> {
    endpoint(key, value)?;
    let url = HttpUrl::parse(value).map_err(|e| {
        ConfigError::field(
            key,
            format!("is not a usable URL: {e}."),
            "Write the issuer's URL.",
        )
    })?;
    if url.rest.contains('?') {
        return Err(ConfigError::field(
            key,
            "must not contain a query (?...): an issuer identifier has none (RFC 8414).",
            "Remove everything from the ? on.",
        ));
    }
    let path = if url.rest == "/" {
        ""
    } else {
        url.rest.as_str()
    };
    Ok(format!("{}{path}", url.origin()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The known key nearest to a typo, when it is close enough to be a likely intent.
fn closest_key(key: &str) -> Option<&'static str> {
    let k = key.to_ascii_lowercase().replace('-', "_");
    KNOWN_KEYS
        .iter()
        .map(|known| (edit_distance(&k, known), *known))
        .filter(|(d, known)| *d <= 2.max(known.len() / 4))
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A visitor's own choice of client ID and server, kept in `localStorage` on the Settings page.
/// It holds no token, ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub client_id: String,
    pub preset: ServerPreset,
}

impl Settings {
    /// Checks a client ID typed on the Settings page.
    pub fn validate_client_id(client_id: &str) -> Result<String, ConfigError> {
        let c = client_id.trim();
        if c.is_empty() {
            return Err(ConfigError::field(
                "client_id",
                "is empty.",
                "Paste the Client ID of your RingCentral app (Developer Console → your app → Credentials).",
            ));
        }
        if c.len() > 256 || c.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(ConfigError::field(
                "client_id",
                "has spaces or is too long.",
                "Paste the Client ID exactly as shown.",
            ));
        }
        Ok(c.to_string())
    }

    /// The deployed configuration with this visitor's client ID and server. Endpoints and issuer
    /// follow the chosen server; redirect URI, scope and storage mode stay as deployed.
    pub fn apply(&self, deployed: &AppConfig) -> AppConfig {
        let server = self.preset.server().to_string();
        AppConfig {
            client_id: self.client_id.clone(),
            authorize_endpoint: join(&server, "/restapi/oauth/authorize"),
            token_endpoint: join(&server, "/restapi/oauth/token"),
            revoke_endpoint: join(&server, "/restapi/oauth/revoke"),
            api_base: join(&server, "/restapi/v1.0"),
            jwks_uri: join(&server, "/restapi/oauth/jwks"),
            userinfo_endpoint: join(&server, "/restapi/oauth/userinfo"),
            issuer: self
                .preset
                .issuer()
                .or(deployed.openid.then_some(self.preset.server()))
                .map(str::to_string),
            iss_optional: self.preset.issuer().is_none(),
            // The deployed document describes the deployed issuer, not the chosen server.
            discovery: false,
            explicit: Vec::new(),
            server,
            ..deployed.clone()
        }
    }
}

/// Stored Settings as text; `None` when damaged (the caller then discards it and says so).
pub fn decode_settings(text: &str) -> Option<Settings> {
    if text.len() > 4096 {
        return None;
    }
    let s: Settings = serde_json::from_str(text).ok()?;
    Settings::validate_client_id(&s.client_id).ok()?;
    Some(s)
}

pub fn encode_settings(s: &Settings) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// What the first-load modules may do.
impl AppConfig {
    /// Whether the home page's first-load module may draw the sign-in button. Not with discovery:
    /// the authorize endpoint is in a document only the app reads.
    pub fn first_load_home(&self) -> bool {
        !self.discovery
    }

    /// Whether the redirect URI's first-load module may send the token POST and the account
    /// GETs. Not with discovery (the endpoints are in the document), nor with OpenID Connect: the
    /// ID token must be verified before any API call, which only the app does.
    pub fn first_load_callback(&self) -> bool {
        !self.discovery && !self.openid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "http://localhost:5000/";

    fn ok(json: &str) -> AppConfig {
        parse_config(json, BASE).unwrap()
    }

    fn err(json: &str) -> ConfigError {
        parse_config(json, BASE).unwrap_err()
    }

    #[test]
    fn openid_sends_its_scope_and_holds_id_tokens_to_an_issuer() {
        let c = ok(r#"{"client_id":"a","openid":true,"scope":"email profile"}"#);
        assert!(c.openid && c.authorize_request().openid);
        assert_eq!(c.request_scope().as_deref(), Some("openid email profile"));
        // Without a configured issuer the ID token's is the server's, and the callback need not
        // name it.
        assert_eq!(c.issuer.as_deref(), Some(PRODUCTION_SERVER));
        assert!(c.iss_optional && c.binding().iss_optional);
        assert_eq!(
            c.jwks_uri,
            format!("{PRODUCTION_SERVER}/restapi/oauth/jwks")
        );
        assert_eq!(
            c.userinfo_endpoint,
            format!("{PRODUCTION_SERVER}/restapi/oauth/userinfo")
        );
        assert!(c.connect_origins().iter().all(|o| o == PRODUCTION_SERVER));
        // `openid` in the scope is the same switch, and is not sent twice.
        let c = ok(
            r#"{"client_id":"a","scope":"openid ReadAccounts","issuer":"http://127.0.0.1:5001/"}"#,
        );
        assert!(c.openid && !c.iss_optional);
        assert_eq!(c.request_scope().as_deref(), Some("openid ReadAccounts"));
        assert_eq!(c.issuer.as_deref(), Some("http://127.0.0.1:5001"));
        assert_eq!(
            ok(r#"{"client_id":"a","openid":true}"#)
                .request_scope()
                .as_deref(),
            Some("openid")
        );
        let plain = ok(r#"{"client_id":"a","scope":"ReadAccounts"}"#);
        assert!(!plain.openid && plain.issuer.is_none());
        assert_eq!(plain.request_scope().as_deref(), Some("ReadAccounts"));
        let e = err(r#"{"client_id":"a","openid":"yes"}"#);
        assert_eq!(e.field.as_deref(), Some("openid"));
        assert!(e.problem.contains("true or false"), "{e}");
        let explicit =
            ok(r#"{"client_id":"a","openid":true,"jwks_uri":"https://keys.example/jwks"}"#);
        assert_eq!(explicit.explicit, ["jwks_uri"]);
        assert!(
            explicit
                .connect_origins()
                .contains(&"https://keys.example".to_string())
        );
    }

    #[test]
    fn discovery_needs_an_issuer_which_then_names_the_server() {
        let e = err(r#"{"client_id":"a","discovery":true}"#);
        assert_eq!(e.field.as_deref(), Some("discovery"));
        assert!(e.problem.contains("issuer"), "{e}");
        let c = ok(r#"{"client_id":"a","discovery":true,"issuer":"http://127.0.0.1:5001"}"#);
        assert!(c.discovery);
        assert_eq!(c.server, "http://127.0.0.1:5001");
        assert_eq!(c.api_base, "http://127.0.0.1:5001/restapi/v1.0");
        assert!(c.explicit.is_empty());
        let c = ok(
            r#"{"client_id":"a","discovery":true,"issuer":"http://127.0.0.1:5001","server":"http://localhost:5009","token_endpoint":"http://localhost:5009/t"}"#,
        );
        assert_eq!(c.api_base, "http://localhost:5009/restapi/v1.0");
        assert_eq!(c.explicit, ["token_endpoint"]);
    }

    #[test]
    fn settings_keep_openid_on_the_chosen_server() {
        let deployed = ok(
            r#"{"client_id":"a","openid":true,"discovery":true,"issuer":"http://127.0.0.1:5001"}"#,
        );
        let s = Settings {
            client_id: "mine".into(),
            preset: ServerPreset::Production,
        };
        let c = s.apply(&deployed);
        assert!(c.openid && !c.discovery);
        assert_eq!(c.issuer.as_deref(), Some(PRODUCTION_SERVER));
        assert!(c.iss_optional);
        assert_eq!(
            c.jwks_uri,
            format!("{PRODUCTION_SERVER}/restapi/oauth/jwks")
        );
        let local = Settings {
            preset: ServerPreset::Local,
            ..s
        }
        .apply(&deployed);
        assert_eq!(local.issuer.as_deref(), Some(LOCAL_SANDBOX_SERVER));
        assert!(!local.iss_optional);
    }

    #[test]
    fn minimal_config_gets_ringcentral_defaults() {
        let c = ok(r#"{"client_id":"abc"}"#);
        assert_eq!(c.server, "https://platform.ringcentral.com");
        assert_eq!(
            c.authorize_endpoint,
            "https://platform.ringcentral.com/restapi/oauth/authorize"
        );
        assert_eq!(
            c.token_endpoint,
            "https://platform.ringcentral.com/restapi/oauth/token"
        );
        assert_eq!(
            c.revoke_endpoint,
            "https://platform.ringcentral.com/restapi/oauth/revoke"
        );
        assert_eq!(c.api_base, "https://platform.ringcentral.com/restapi/v1.0");
        assert_eq!(c.redirect_uri, "http://localhost:5000/oauth2callback");
        assert_eq!(c.token_storage, TokenStorage::Session);
        assert_eq!(c.issuer, None);
        assert_eq!(c.preset(), Some(ServerPreset::Production));
        assert_eq!(
            c.connect_origins(),
            vec!["https://platform.ringcentral.com".to_string()]
        );
    }

    #[test]
    fn the_issuer_is_put_in_one_form_once() {
        for (written, kept) in [
            (
                "https://platform.ringcentral.com",
                "https://platform.ringcentral.com",
            ),
            (
                "https://platform.ringcentral.com/",
                "https://platform.ringcentral.com",
            ),
            (
                "HTTPS://Platform.RingCentral.com:443/",
                "https://platform.ringcentral.com",
            ),
            ("http://127.0.0.1:5001/", "http://127.0.0.1:5001"),
            // A path is part of the identifier, its trailing slash included.
            ("https://idp.example/tenant/", "https://idp.example/tenant/"),
        ] {
            let c = ok(&format!(r#"{{"client_id":"a","issuer":"{written}"}}"#));
            assert_eq!(c.issuer.as_deref(), Some(kept), "{written}");
        }
        let e = err(r#"{"client_id":"a","issuer":"https://idp.example/?x=1"}"#);
        assert_eq!(e.field.as_deref(), Some("issuer"));
        assert!(e.problem.contains("query"), "{e:?}");
    }

    #[test]
    fn local_sandbox_config() {
        let c = ok(
            r#"{"client_id":"rc-pkce-demo","server":"http://127.0.0.1:5001/","issuer":"http://127.0.0.1:5001","token_storage":"memory"}"#,
        );
        assert_eq!(c.server, "http://127.0.0.1:5001");
        assert_eq!(
            c.token_endpoint,
            "http://127.0.0.1:5001/restapi/oauth/token"
        );
        assert_eq!(c.issuer.as_deref(), Some("http://127.0.0.1:5001"));
        assert_eq!(c.token_storage, TokenStorage::Memory);
        assert_eq!(c.preset(), Some(ServerPreset::Local));
    }

    #[test]
    fn redirect_uri_default_follows_a_sub_path_base() {
        let c = parse_config(r#"{"client_id":"a"}"#, "https://me.github.io/rc-pkce/").unwrap();
        assert_eq!(
            c.redirect_uri,
            "https://me.github.io/rc-pkce/oauth2callback"
        );
        let c = parse_config(
            r#"{"client_id":"a"}"#,
            "https://me.github.io/rc-pkce/index.html",
        )
        .unwrap();
        assert_eq!(
            c.redirect_uri,
            "https://me.github.io/rc-pkce/oauth2callback"
        );
    }

    #[test]
    fn explicit_endpoints_win_over_server() {
        let c = ok(
            r#"{"client_id":"a","server":"https://x.example","token_endpoint":"https://t.example/token","api_base":"https://api.example/v1/"}"#,
        );
        assert_eq!(c.token_endpoint, "https://t.example/token");
        assert_eq!(
            c.authorize_endpoint,
            "https://x.example/restapi/oauth/authorize"
        );
        assert_eq!(c.api_base, "https://api.example/v1");
        assert_eq!(
            c.connect_origins(),
            vec![
                "https://api.example".to_string(),
                "https://t.example".into(),
                "https://x.example".into()
            ]
        );
    }

    #[test]
    fn each_problem_names_its_field() {
        let cases = [
            (r#"{}"#, "client_id", "is missing"),
            (r#"{"client_id":""}"#, "client_id", "is missing"),
            (
                r#"{"client_id":42}"#,
                "client_id",
                "must be a string, not a number",
            ),
            (r#"{"client_id":"a b"}"#, "client_id", "does not look like"),
            (
                r#"{"client_id":"a","clientid":"b"}"#,
                "clientid",
                "Did you mean `client_id`?",
            ),
            (
                r#"{"client_id":"a","tokenEndpoint":"x"}"#,
                "tokenEndpoint",
                "Known settings",
            ),
            (
                r#"{"client_id":"a","client_secret":"s"}"#,
                "client_secret",
                "must not have a client secret",
            ),
            (
                r#"{"client_id":"a","server":"http://platform.ringcentral.com"}"#,
                "server",
                "plain http",
            ),
            (
                r#"{"client_id":"a","server":"platform.ringcentral.com"}"#,
                "server",
                "https://",
            ),
            (
                r#"{"client_id":"a","token_endpoint":"https://h/t#x"}"#,
                "token_endpoint",
                "fragment",
            ),
            (
                r#"{"client_id":"a","redirect_uri":"https://evil.example/cb"}"#,
                "redirect_uri",
                "this app runs at http://localhost:5000",
            ),
            (
                r#"{"client_id":"a","redirect_uri":"http://localhost:5000/cb#f"}"#,
                "redirect_uri",
                "fragment",
            ),
            (
                r#"{"client_id":"a","token_storage":"local"}"#,
                "token_storage",
                "\"session\"",
            ),
            (r#"{"client_id":"a","display":"huge"}"#, "display", "page"),
            (r#"{"client_id":"a","prompt":"always"}"#, "prompt", "login"),
            (
                r#"{"client_id":"a","issuer":"http://idp.example"}"#,
                "issuer",
                "plain http",
            ),
        ];
        for (json, field, text) in cases {
            let e = err(json);
            assert_eq!(e.field.as_deref(), Some(field), "{json}");
            assert!(e.to_string().contains(text), "{json}: {e}");
            assert!(!e.fix.is_empty());
        }
    }

    #[test]
    fn syntax_and_shape_errors() {
        let e = err(r#"{"client_id": "a",}"#);
        assert!(
            e.problem.contains("not valid JSON") && e.problem.contains("line 1"),
            "{e}"
        );
        assert!(err("[]").problem.contains("JSON object"));
        assert!(
            err(&" ".repeat(MAX_CONFIG_BYTES + 1))
                .problem
                .contains("larger")
        );
    }

    #[test]
    fn loopback_http_is_fine_for_endpoints() {
        for server in [
            "http://localhost:5001",
            "http://127.0.0.1:5001",
            "http://[::1]:5001",
        ] {
            ok(&format!(r#"{{"client_id":"a","server":"{server}"}}"#));
        }
    }

    #[test]
    fn settings_override_client_and_server_only() {
        let deployed = ok(
            r#"{"client_id":"deployed","server":"http://127.0.0.1:5001","issuer":"http://127.0.0.1:5001","scope":"ReadAccounts"}"#,
        );
        let s = Settings {
            client_id: "mine".into(),
            preset: ServerPreset::Production,
        };
        let c = s.apply(&deployed);
        assert_eq!(c.client_id, "mine");
        assert_eq!(
            c.token_endpoint,
            "https://platform.ringcentral.com/restapi/oauth/token"
        );
        assert_eq!(c.issuer, None, "the production preset does not require iss");
        assert_eq!(c.redirect_uri, deployed.redirect_uri);
        assert_eq!(c.scope.as_deref(), Some("ReadAccounts"));
        let back = decode_settings(&encode_settings(&s)).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            decode_settings(r#"{"client_id":" ","preset":"production"}"#),
            None
        );
        assert_eq!(
            decode_settings(r#"{"client_id":"a","preset":"mars"}"#),
            None
        );
        assert!(Settings::validate_client_id("").is_err());
        assert_eq!(Settings::validate_client_id("  abc ").unwrap(), "abc");
    }

    #[test]
    fn csp_allows_exactly_the_configured_origins() {
        let c = ok(r#"{"client_id":"a","server":"http://127.0.0.1:5001"}"#);
        let csp = content_security_policy(&c);
        assert!(csp.contains(
            "connect-src 'self' http://127.0.0.1:5001 https://platform.ringcentral.com https://platform.devtest.ringcentral.com;"
        ));
        for directive in [
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "script-src 'self' 'wasm-unsafe-eval';",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{directive}");
        }
        assert!(!csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"));
        let prod = content_security_policy(&ok(r#"{"client_id":"a"}"#));
        assert!(prod.contains("connect-src 'self' https://platform.ringcentral.com https://platform.devtest.ringcentral.com;"));
    }

    #[test]
    fn presets() {
        assert_eq!(
            ServerPreset::from_id("devtest"),
            Some(ServerPreset::Devtest)
        );
        assert!(ServerPreset::Devtest.label().contains("deprecated"));
        assert_eq!(
            ServerPreset::matching("https://platform.ringcentral.com/"),
            Some(ServerPreset::Production)
        );
        assert_eq!(ServerPreset::matching("https://other"), None);
    }

    #[test]
    fn first_load_modules_step_aside_where_only_the_app_can_act() {
        let plain = ok(r#"{"client_id":"a"}"#);
        assert!(plain.first_load_home() && plain.first_load_callback());
        let openid = ok(r#"{"client_id":"a","openid":true}"#);
        assert!(openid.first_load_home(), "authorize::start draws the nonce");
        assert!(
            !openid.first_load_callback(),
            "the ID token is verified first"
        );
        let discovery = ok(r#"{"client_id":"a","issuer":"https://idp.example","discovery":true}"#);
        assert!(!discovery.first_load_home() && !discovery.first_load_callback());
        // A visitor's Settings turn discovery off, and the modules may run again.
        let visitor = Settings {
            client_id: "b".into(),
            preset: ServerPreset::Local,
        }
        .apply(&discovery);
        assert!(visitor.first_load_home() && visitor.first_load_callback());
    }

    #[test]
    fn with_discovery_the_policy_covers_the_issuer() {
        let c = ok(
            r#"{"client_id":"a","issuer":"https://idp.example/tenant","server":"https://rc.example","discovery":true}"#,
        );
        assert_eq!(
            c.connect_origins(),
            ["https://idp.example", "https://rc.example"]
        );
        let csp = content_security_policy(&c);
        assert!(csp.contains("connect-src 'self' https://idp.example https://rc.example https://platform.ringcentral.com"), "{csp}");
        // The issuer alone is not fetched from without discovery.
        let c =
            ok(r#"{"client_id":"a","issuer":"https://idp.example","server":"https://rc.example"}"#);
        assert_eq!(c.connect_origins(), ["https://rc.example"]);
    }

    proptest! {
        #[test]
        fn never_panics(text in ".*", base in ".*") {
            let _ = parse_config(&text, &base);
            let _ = parse_config(&text, BASE);
            let _ = decode_settings(&text);
        }

        #[test]
        fn never_panics_on_object_shapes(key in "[a-z_]{1,20}", value in ".*") {
            let doc = serde_json::json!({"client_id": "a", key.clone(): value.clone()});
            let _ = parse_config(&doc.to_string(), BASE);
        }
    }
}
