//! The command line of the `sandbox` binary, parsed with clap into a [`SandboxConfig`], and the
//! banner the binary prints once it listens.
//!
//! Flag names are part of the project's contract (`--listen`, `--client`, `--access-ttl`, ...):
//! the README, xtask and CI call them as written.

use clap::Parser;

use crate::config::{
    ClientRegistration, DEFAULT_ORIGIN, RateLimits, SandboxConfig, validate_origin,
    validate_redirect_uri,
};

const AFTER_HELP: &str = "\
CLIENT SYNTAX
  --client ID=REDIRECT_URI[,REDIRECT_URI2...][;PERMISSION1,PERMISSION2...]
  Registers a public client (no secret). Redirect URIs are matched exactly and may not contain
  ',' or ';'. Without ';' the client gets ReadAccounts,ReadCallLog; with ';' exactly the listed
  permissions (none after a bare ';'). Repeatable. A client with the id rc-pkce-demo replaces the
  default one; --no-default-client drops it.
  Examples:
    --client my-app=http://localhost:8080/cb
    --client logs-only=http://localhost:5000/oauth2callback;ReadCallLog

RATE LIMITS
  --rate-limit light=50,heavy=10,auth=5   requests per user per minute; unnamed groups keep
  their default. Light: account and extension; Heavy: call log; Auth: token requests.

The admin API is served under /__sandbox/ on the same address; see sandbox/README.md.";

/// A local RingCentral-compatible OAuth 2.0 server and REST API for rc-pkce.
#[derive(Debug, Parser)]
#[command(name = "sandbox", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Address to listen on (the base URL and `iss` are http:// + the bound address).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5001")]
    pub listen: String,

    /// Register a public client (see CLIENT SYNTAX below). Repeatable.
    #[arg(long = "client", value_name = "ID=REDIRECT_URI[,URI2][;PERM1,PERM2]", value_parser = parse_client)]
    pub clients: Vec<ClientRegistration>,

    /// Do not register the default client rc-pkce-demo.
    #[arg(long)]
    pub no_default_client: bool,

    /// Access-token lifetime in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub access_ttl: u64,

    /// Refresh-token lifetime in seconds (restarted by each rotation).
    #[arg(long, value_name = "SECONDS", default_value_t = 604_800, value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh_ttl: u64,

    /// Authorization-code lifetime in seconds (also the callback's expires_in).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub code_ttl: u64,

    /// An origin allowed to call the API from a browser (CORS), exactly as the browser sends it.
    /// Repeatable; giving one replaces the default.
    #[arg(long = "allow-origin", value_name = "ORIGIN", default_value = DEFAULT_ORIGIN, value_parser = parse_origin)]
    pub allow_origins: Vec<String>,

    /// Turn rate limiting off.
    #[arg(long, conflicts_with = "rate_limit")]
    pub no_rate_limits: bool,

    /// Requests per user per minute, e.g. light=50,heavy=10,auth=5.
    #[arg(long, value_name = "light=N,heavy=N,auth=N", value_parser = parse_rate_limits)]
    pub rate_limit: Option<RateLimits>,

    /// List Retry-After and X-Rate-Limit-* in Access-Control-Expose-Headers (RingCentral does not).
    #[arg(long)]
    pub expose_rate_limit_headers: bool,

    /// Live sessions per user per client; a newer sign-in evicts the oldest (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_sessions: usize,

    /// Seconds a rotated-out refresh token keeps answering with the same new pair (RingCentral:
    /// about 10). 0 = strict.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub refresh_grace_secs: u64,
}

impl Cli {
    pub fn into_config(self) -> SandboxConfig {
        let mut clients = Vec::new();
        if !self.no_default_client {
            clients.push(ClientRegistration::demo());
        }
        for client in self.clients {
            match clients.iter_mut().find(|c| c.client_id == client.client_id) {
                Some(existing) => *existing = client,
                None => clients.push(client),
            }
        }
        let rate_limits = if self.no_rate_limits {
            None
        } else {
            Some(self.rate_limit.unwrap_or_default())
        };
        SandboxConfig {
            clients,
            access_ttl_secs: self.access_ttl,
            refresh_ttl_secs: self.refresh_ttl,
            code_ttl_secs: self.code_ttl,
            allowed_origins: self.allow_origins,
            rate_limits,
            expose_rate_limit_headers: self.expose_rate_limit_headers,
            max_sessions_per_user_client: self.max_sessions,
            refresh_grace_secs: self.refresh_grace_secs,
            ..SandboxConfig::default()
        }
    }
}

/// Parses `ID=URI[,URI2][;PERM1,PERM2]`.
pub fn parse_client(spec: &str) -> Result<ClientRegistration, String> {
    let (registration, permissions) = match spec.split_once(';') {
        Some((r, p)) => (r, Some(p)),
        None => (spec, None),
    };
    let (id, uris) = registration
        .split_once('=')
        .ok_or("expected ID=REDIRECT_URI")?;
    let id = id.trim();
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "client id {id:?} must be non-empty letters, digits, '-', '_' or '.'"
        ));
    }
    let redirect_uris: Vec<String> = uris.split(',').map(|u| u.trim().to_owned()).collect();
    for uri in &redirect_uris {
        validate_redirect_uri(uri)?;
    }
    let mut client = ClientRegistration::public(id, "http://unused");
    client.redirect_uris = redirect_uris;
    if let Some(list) = permissions {
        client.permissions = list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = client
            .permissions
            .iter()
            .find(|p| !p.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(format!(
                "permission {bad:?} must be letters and digits, e.g. ReadCallLog"
            ));
        }
    }
    Ok(client)
}

pub fn parse_origin(origin: &str) -> Result<String, String> {
    validate_origin(origin)?;
    Ok(origin.to_owned())
}

/// Parses `light=50,heavy=10,auth=5`; groups left out keep their default.
pub fn parse_rate_limits(spec: &str) -> Result<RateLimits, String> {
    let mut limits = RateLimits::default();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (group, value) = part
            .split_once('=')
            .ok_or_else(|| format!("expected GROUP=N, got {part:?}"))?;
        let n: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("{value:?} is not a number"))?;
        match group.trim().to_ascii_lowercase().as_str() {
            "light" => limits.light = n,
            "heavy" => limits.heavy = n,
            "auth" => limits.auth = n,
            other => {
                return Err(format!(
                    "unknown rate-limit group {other:?} (light, heavy, auth)"
                ));
            }
        }
    }
    Ok(limits)
}

/// What the binary prints on start.
pub fn banner(config: &SandboxConfig, base_url: &str) -> String {
    let mut out = format!("RingCentral sandbox listening on {base_url}\n");
    for c in &config.clients {
        out.push_str(&format!(
            "  client {} -> {}  ({})\n",
            c.client_id,
            c.redirect_uris.join(", "),
            if c.permissions.is_empty() {
                "no permissions".to_owned()
            } else {
                c.permissions.join(", ")
            }
        ));
    }
    let mut users = config.users.iter();
    if let Some(first) = users.next() {
        let others: Vec<String> = users
            .map(|u| format!("{} / {}", u.email, u.password))
            .collect();
        out.push_str(&format!(
            "  sign in as {} / {}",
            first.email, first.password
        ));
        if !others.is_empty() {
            out.push_str(&format!("   (also {})", others.join(", ")));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "  CORS origins: {}\n",
        config.allowed_origins.join(", ")
    ));
    match &config.rate_limits {
        Some(r) => out.push_str(&format!(
            "  rate limits per user per minute: light {}, heavy {}, auth {}{}\n",
            r.light,
            r.heavy,
            r.auth,
            if config.expose_rate_limit_headers {
                " (headers exposed to JS)"
            } else {
                ""
            }
        )),
        None => out.push_str("  rate limits: off\n"),
    }
    out.push_str(&format!(
        "  admin API: {base_url}/__sandbox/ (see sandbox/README.md)\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<SandboxConfig, clap::Error> {
        Cli::try_parse_from(std::iter::once("sandbox").chain(args.iter().copied()))
            .map(Cli::into_config)
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        let d = SandboxConfig::default();
        assert_eq!(c.clients, d.clients);
        assert_eq!(c.allowed_origins, d.allowed_origins);
        assert_eq!(c.rate_limits, d.rate_limits);
        assert_eq!(
            (c.access_ttl_secs, c.refresh_ttl_secs, c.code_ttl_secs),
            (3600, 604_800, 60)
        );
        let cli = Cli::try_parse_from(["sandbox"]).unwrap();
        assert_eq!(cli.listen, "127.0.0.1:5001");
    }

    #[test]
    fn client_syntax() {
        let c = parse_client("app=http://a/cb,http://b/cb;ReadCallLog").unwrap();
        assert_eq!(c.client_id, "app");
        assert_eq!(c.redirect_uris, ["http://a/cb", "http://b/cb"]);
        assert_eq!(c.permissions, ["ReadCallLog"]);
        assert_eq!(
            parse_client("app=http://a/cb").unwrap().permissions,
            ["ReadAccounts", "ReadCallLog"]
        );
        assert!(
            parse_client("app=http://a/cb;")
                .unwrap()
                .permissions
                .is_empty()
        );
        assert!(parse_client("http://a/cb").is_err());
        assert!(parse_client("=http://a/cb").is_err());
        assert!(parse_client("app=notaurl").is_err());
        assert!(parse_client("app=http://a/cb;Read-Call").is_err());
    }

    #[test]
    fn flags() {
        let c = parse(&[
            "--client",
            "x=http://localhost:1/cb;ReadAccounts",
            "--client",
            "rc-pkce-demo=http://localhost:9/cb",
            "--access-ttl",
            "5",
            "--code-ttl",
            "2",
            "--allow-origin",
            "http://a:1",
            "--allow-origin",
            "http://b:2",
            "--rate-limit",
            "heavy=2",
            "--expose-rate-limit-headers",
            "--refresh-grace-secs",
            "10",
            "--max-sessions",
            "2",
        ])
        .unwrap();
        assert_eq!(c.clients.len(), 2);
        assert_eq!(c.clients[0].redirect_uris, ["http://localhost:9/cb"]);
        assert_eq!(c.access_ttl_secs, 5);
        assert_eq!(c.code_ttl_secs, 2);
        assert_eq!(c.allowed_origins, ["http://a:1", "http://b:2"]);
        assert_eq!(
            c.rate_limits,
            Some(RateLimits {
                light: 50,
                heavy: 2,
                auth: 5
            })
        );
        assert!(c.expose_rate_limit_headers);
        assert_eq!(c.refresh_grace_secs, 10);
        assert_eq!(c.max_sessions_per_user_client, 2);
        assert_eq!(parse(&["--no-rate-limits"]).unwrap().rate_limits, None);
        assert!(parse(&["--no-rate-limits", "--rate-limit", "auth=1"]).is_err());
        assert!(parse(&["--access-ttl", "0"]).is_err());
        assert!(parse(&["--allow-origin", "http://a:1/"]).is_err());
        assert!(parse(&["--rate-limit", "medium=3"]).is_err());
        assert!(parse(&["--no-default-client"]).unwrap().clients.is_empty());
    }

    #[test]
    fn banner_names_clients_users_and_admin() {
        let b = banner(&SandboxConfig::default(), "http://127.0.0.1:5001");
        assert!(b.starts_with("RingCentral sandbox listening on http://127.0.0.1:5001\n"));
        assert!(b.contains(
            "  client rc-pkce-demo -> http://localhost:5000/oauth2callback  (ReadAccounts, ReadCallLog)"
        ));
        assert!(b.contains("sign in as demo@example.com / demo-password   (also second@example.com / second-password)"));
        assert!(b.contains("admin API: http://127.0.0.1:5001/__sandbox/"));
    }
}
