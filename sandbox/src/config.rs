//! The sandbox's configuration: registered clients, users, lifetimes, CORS origins and rate limits.
//!
//! These types are the library's public contract with the e2e suite and the bench, which build a
//! [`SandboxConfig`] per test with `..Default::default()`; the CLI fills the same struct.

use crate::seed::{self, User};

/// The client id of the default public client.
pub const DEMO_CLIENT_ID: &str = "rc-pkce-demo";
/// The redirect URI registered for the default client.
pub const DEMO_REDIRECT_URI: &str = "http://localhost:5000/oauth2callback";
/// The CORS origin allowed by default (where `trunk serve` runs the app).
pub const DEFAULT_ORIGIN: &str = "http://localhost:5000";
/// The permissions a client gets when its registration names none.
pub const DEFAULT_PERMISSIONS: [&str; 2] = ["ReadAccounts", "ReadCallLog"];

/// Everything a running sandbox needs to know. Every field has RingCentral's default.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The registered public clients (default: [`ClientRegistration::demo`]).
    pub clients: Vec<ClientRegistration>,
    /// The users who can sign in (default: [`seed::users`]).
    pub users: Vec<User>,
    /// Access-token lifetime in seconds (default 3600).
    pub access_ttl_secs: u64,
    /// Refresh-token lifetime in seconds (default 604800), restarted by every rotation.
    pub refresh_ttl_secs: u64,
    /// Authorization-code lifetime in seconds (default 60).
    pub code_ttl_secs: u64,
    /// Origins that get CORS headers (default `["http://localhost:5000"]`), compared exactly.
    pub allowed_origins: Vec<String>,
    /// Rate-limit groups per user per minute; `None` turns rate limiting off.
    pub rate_limits: Option<RateLimits>,
    /// Whether `Retry-After` and `X-Rate-Limit-*` are listed in `Access-Control-Expose-Headers`.
    /// RingCentral does not expose them, so the default is `false`.
    pub expose_rate_limit_headers: bool,
    /// Live sessions (grants) per user per client before the oldest is evicted (default 5; 0 = no
    /// limit).
    pub max_sessions_per_user_client: usize,
    /// How long a rotated-out refresh token keeps working (returning the same new pair). RingCentral
    /// allows about 10 s; the default 0 is strict because the app must not depend on it.
    pub refresh_grace_secs: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            clients: vec![ClientRegistration::demo()],
            users: seed::users(),
            access_ttl_secs: 3600,
            refresh_ttl_secs: 604_800,
            code_ttl_secs: 60,
            allowed_origins: vec![DEFAULT_ORIGIN.to_owned()],
            rate_limits: Some(RateLimits::default()),
            expose_rate_limit_headers: false,
            max_sessions_per_user_client: 5,
            refresh_grace_secs: 0,
        }
    }
}

/// One registered public client ("Client-side web app": no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    pub client_id: String,
    /// Exact-match redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Display name shown on the consent page.
    pub name: String,
    /// Permissions granted to every token of this client (the `scope` in token responses).
    pub permissions: Vec<String>,
}

impl ClientRegistration {
    /// The default client: `rc-pkce-demo` with `http://localhost:5000/oauth2callback`.
    pub fn demo() -> Self {
        Self {
            client_id: DEMO_CLIENT_ID.to_owned(),
            redirect_uris: vec![DEMO_REDIRECT_URI.to_owned()],
            name: "rc-pkce demo".to_owned(),
            permissions: default_permissions(),
        }
    }

    /// A public client with one redirect URI, named after its id, with the default permissions.
    pub fn public(client_id: &str, redirect_uri: &str) -> Self {
        Self {
            client_id: client_id.to_owned(),
            redirect_uris: vec![redirect_uri.to_owned()],
            name: client_id.to_owned(),
            permissions: default_permissions(),
        }
    }

    /// Same client with these permissions instead.
    pub fn with_permissions(mut self, permissions: &[&str]) -> Self {
        self.permissions = permissions.iter().map(|p| (*p).to_owned()).collect();
        self
    }
}

fn default_permissions() -> Vec<String> {
    DEFAULT_PERMISSIONS
        .iter()
        .map(|p| (*p).to_owned())
        .collect()
}

/// Requests per user per minute for each RingCentral rate-limit group the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Account and extension info.
    pub light: u32,
    /// Call log.
    pub heavy: u32,
    /// Token requests.
    pub auth: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            light: 50,
            heavy: 10,
            auth: 5,
        }
    }
}

/// Checks a redirect URI for registration: absolute http(s), no fragment (RFC 6749 §3.1.2).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("http://")
        .or_else(|| uri.strip_prefix("https://"))
        .ok_or_else(|| format!("redirect URI {uri:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("redirect URI {uri:?} has no host"));
    }
    if uri.contains('#') {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("redirect URI {uri:?} contains whitespace"));
    }
    Ok(())
}

/// Checks a CORS origin: `scheme://host[:port]` exactly as a browser sends it (no path, no slash).
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(|| format!("origin {origin:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "origin {origin:?} must be scheme://host[:port] with no path or trailing slash"
        ));
    }
    Ok(())
}

/// The origin (`scheme://authority`) of an absolute http(s) URL, used for the consent page's CSP.
pub fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let authority_len = url[scheme_end..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - scheme_end);
    Some(&url[..scheme_end + authority_len])
}

/// Checks a whole configuration, so that a mistake fails `spawn` rather than some later request.
pub(crate) fn validate(config: &SandboxConfig) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    for client in &config.clients {
        if client.client_id.is_empty() {
            return Err("a client has an empty client_id".into());
        }
        if !ids.insert(client.client_id.as_str()) {
            return Err(format!("client {} is registered twice", client.client_id));
        }
        if client.redirect_uris.is_empty() {
            return Err(format!("client {} has no redirect URI", client.client_id));
        }
        for uri in &client.redirect_uris {
            validate_redirect_uri(uri)?;
        }
    }
    for origin in &config.allowed_origins {
        validate_origin(origin)?;
    }
    if config.access_ttl_secs == 0 || config.refresh_ttl_secs == 0 || config.code_ttl_secs == 0 {
        return Err("token and code lifetimes must be at least 1 second".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_ringcentral() {
        let c = SandboxConfig::default();
        assert_eq!(c.access_ttl_secs, 3600);
        assert_eq!(c.refresh_ttl_secs, 604_800);
        assert_eq!(c.code_ttl_secs, 60);
        assert_eq!(c.clients, vec![ClientRegistration::demo()]);
        assert_eq!(c.clients[0].permissions, ["ReadAccounts", "ReadCallLog"]);
        assert_eq!(
            c.rate_limits,
            Some(RateLimits {
                light: 50,
                heavy: 10,
                auth: 5
            })
        );
        assert_eq!(c.max_sessions_per_user_client, 5);
        assert!(!c.expose_rate_limit_headers);
        assert!(c.users.len() >= 2);
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(validate_redirect_uri("http://localhost:5000/oauth2callback").is_ok());
        assert!(validate_redirect_uri("https://app.example.com/cb?x=1").is_ok());
        assert!(validate_redirect_uri("ftp://x/cb").is_err());
        assert!(validate_redirect_uri("http:///cb").is_err());
        assert!(validate_redirect_uri("http://x/cb#frag").is_err());
    }

    #[test]
    fn origin_rules() {
        assert!(validate_origin("http://localhost:5000").is_ok());
        assert!(validate_origin("http://localhost:5000/").is_err());
        assert!(validate_origin("localhost:5000").is_err());
        assert_eq!(
            origin_of("http://localhost:5000/oauth2callback"),
            Some("http://localhost:5000")
        );
        assert_eq!(origin_of("https://a.example?x"), Some("https://a.example"));
        assert_eq!(origin_of("nope"), None);
    }

    #[test]
    fn config_validation() {
        assert!(validate(&SandboxConfig::default()).is_ok());
        let mut c = SandboxConfig::default();
        c.clients.push(ClientRegistration::demo());
        assert!(validate(&c).is_err());
        let c = SandboxConfig {
            allowed_origins: vec!["http://x/".into()],
            ..SandboxConfig::default()
        };
        assert!(validate(&c).is_err());
        let c = SandboxConfig {
            code_ttl_secs: 0,
            ..SandboxConfig::default()
        };
        assert!(validate(&c).is_err());
    }
}
