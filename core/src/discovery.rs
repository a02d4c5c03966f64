//! OpenID Connect Discovery 1.0 / RFC 8414, sans I/O: where an issuer's metadata lives, its
//! document read and held to what a public PKCE client needs, and the configuration the app runs
//! with once it is read. With `"discovery": true` in config.json the browser's config loader
//! fetches the document once per page load and hands the answer to [`configure`]; this module
//! decides everything about it.
//!
//! The document is trusted only as far as its `issuer` matches the configured one exactly (OpenID
//! Discovery §4.3: otherwise a server could name another's endpoints), and only endpoints this app
//! would accept in `config.json` (https, or plain http on loopback) are taken from it. Endpoints
//! config.json sets itself win over the document's ([`apply_discovery`]).

use serde_json::{Map, Value};

use crate::config::{AppConfig, ConfigError};
use crate::url::HttpUrl;

/// Longer than any real metadata document; refused before parsing.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// What the app takes from an issuer's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub revocation_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    /// RFC 9207: the server says it sends `iss` on the callback, so a callback without it is
    /// refused.
    pub iss_parameter_supported: bool,
    pub scopes_supported: Vec<String>,
}

/// Why a metadata document cannot be used: which URL, which field, what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url}: {}{problem}", field.map(|f| format!("\"{f}\" ")).unwrap_or_default())]
pub struct DiscoveryError {
    pub url: String,
    pub field: Option<&'static str>,
    pub problem: String,
}

/// Where `issuer`'s metadata is: the issuer with `/.well-known/openid-configuration` appended
/// (OpenID Discovery §4.1; a trailing `/` of the issuer is not doubled).
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads the document fetched from `url` for the configured `issuer` (already in its one form,
/// see `config::issuer`).
pub fn parse_discovery(url: &str, text: &str, issuer: &str) -> Result<Discovery, DiscoveryError> {
    let fail = |field: Option<&'static str>, problem: String| DiscoveryError {
        url: url.to_string(),
        field,
        problem,
    };
    if text.len() > MAX_DISCOVERY_BYTES {
        return Err(fail(
            None,
            format!(
                "is {} bytes long, more than the {MAX_DISCOVERY_BYTES} allowed",
                text.len()
            ),
        ));
    }
    let doc: Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| fail(None, format!("is not a JSON object ({e})")))?;
    let string = |field: &'static str| -> Result<Option<String>, DiscoveryError> {
        match doc.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(fail(Some(field), "is not a string".into())),
        }
    };
    let required = |field: &'static str| -> Result<String, DiscoveryError> {
        string(field)?.ok_or_else(|| fail(Some(field), "is missing".into()))
    };
    let endpoint = |field: &'static str, value: String| -> Result<String, DiscoveryError> {
        let parsed = HttpUrl::parse(&value)
            .map_err(|e| fail(Some(field), format!("is not a usable URL ({e})")))?;
        if !parsed.is_https() && !parsed.is_loopback() {
            return Err(fail(
                Some(field),
                format!("uses plain http ({value}), which only loopback servers may"),
            ));
        }
        if value.contains('#') {
            return Err(fail(Some(field), "has a fragment (#...)".into()));
        }
        Ok(value)
    };
    let optional = |field: &'static str| -> Result<Option<String>, DiscoveryError> {
        string(field)?.map(|v| endpoint(field, v)).transpose()
    };
    let stated = required("issuer")?;
    if stated != issuer {
        return Err(fail(
            Some("issuer"),
            format!(
                "is {stated:?}, not the configured {issuer:?}: the document is not that issuer's"
            ),
        ));
    }
    let list = |field: &'static str| -> Result<Option<Vec<String>>, DiscoveryError> {
        match doc.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| fail(Some(field), "is not a list of strings".into())),
            Some(_) => Err(fail(Some(field), "is not a list".into())),
        }
    };
    // A server that lists its PKCE methods must list S256: it is the only one this app sends.
    if let Some(methods) = list("code_challenge_methods_supported")?
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(fail(
            Some("code_challenge_methods_supported"),
            format!("lists {methods:?} without S256, the only PKCE method this app uses"),
        ));
    }
    if let Some(algs) = list("id_token_signing_alg_values_supported")?
        && !algs.iter().any(|a| a == crate::id_token::ALGORITHM)
    {
        return Err(fail(
            Some("id_token_signing_alg_values_supported"),
            format!("lists {algs:?} without RS256, the only ID token signature this app accepts"),
        ));
    }
    let iss_parameter_supported = match doc.get("authorization_response_iss_parameter_supported") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(fail(
                Some("authorization_response_iss_parameter_supported"),
                "is not true or false".into(),
            ));
        }
    };
    Ok(Discovery {
        issuer: stated,
        authorization_endpoint: endpoint(
            "authorization_endpoint",
            required("authorization_endpoint")?,
        )?,
        token_endpoint: endpoint("token_endpoint", required("token_endpoint")?)?,
        revocation_endpoint: optional("revocation_endpoint")?,
        userinfo_endpoint: optional("userinfo_endpoint")?,
        jwks_uri: optional("jwks_uri")?,
        iss_parameter_supported,
        scopes_supported: list("scopes_supported")?.unwrap_or_default(),
    })
}

/// Where the document of `config`'s issuer is, when config.json asks for discovery (and no
/// visitor Settings turned it off); `None` when the configuration is complete as it is.
pub fn document_url(config: &AppConfig) -> Option<String> {
    match (&config.issuer, config.discovery) {
        (Some(issuer), true) => Some(discovery_url(issuer)),
        _ => None,
    }
}

/// `config` with the endpoints `discovery` names, except those config.json set itself
/// ([`AppConfig::explicit`]: the deployer's choice wins). A document without a revocation,
/// userinfo or JWKS endpoint leaves the config's own. A server that says it sends `iss` on the
/// callback (RFC 9207) has a callback without it refused; one that does not say so may leave it
/// out (it is still held to the issuer when it sends one).
pub fn apply_discovery(config: &AppConfig, discovery: &Discovery) -> AppConfig {
    let mut applied = config.clone();
    let named = [
        (
            "authorize_endpoint",
            &mut applied.authorize_endpoint,
            Some(&discovery.authorization_endpoint),
        ),
        (
            "token_endpoint",
            &mut applied.token_endpoint,
            Some(&discovery.token_endpoint),
        ),
        (
            "revoke_endpoint",
            &mut applied.revoke_endpoint,
            discovery.revocation_endpoint.as_ref(),
        ),
        (
            "userinfo_endpoint",
            &mut applied.userinfo_endpoint,
            discovery.userinfo_endpoint.as_ref(),
        ),
        (
            "jwks_uri",
            &mut applied.jwks_uri,
            discovery.jwks_uri.as_ref(),
        ),
    ];
    for (key, slot, value) in named {
        if let Some(value) = value
            && !config.explicit.contains(&key)
        {
            slot.clone_from(value);
        }
    }
    applied.iss_optional = !discovery.iss_parameter_supported;
    applied
}

/// With discovery, what a Content-Security-Policy built before the document is read assumes,
/// for `cargo xtask csp` and `deploy` to say: which origins it allows, and that the document's
/// endpoints must be on them. `None` without discovery (the policy then covers every endpoint).
pub fn policy_assumption(config: &AppConfig) -> Option<String> {
    let url = document_url(config)?;
    Some(format!(
        "config.json sets \"discovery\": the app reads its endpoints from {url} when it starts, so the policy cannot know them. It allows {} (the issuer, and the endpoints config.json names or implies beside the server). Every endpoint the document names must be on one of these origins, or the browser blocks it; if one is elsewhere, set it in config.json (explicit endpoints win over the document) and run this again.",
        config.connect_origins().join(", ")
    ))
}

/// What fetching the document came to.
#[derive(Debug, Clone, Copy)]
pub enum Fetched<'a> {
    /// The server answered: its status and body.
    Answered { status: u16, body: &'a [u8] },
    /// No answer could be read (network, CORS, timeout), in the browser's words.
    Failed(&'a str),
}

/// The configuration the app runs with, once `config`'s discovery document was fetched from
/// `url` ([`document_url`]): with the document's endpoints, or the error to show instead (the
/// app then starts no sign-in). A configuration without discovery is returned as it is.
pub fn configure(
    config: &AppConfig,
    url: &str,
    fetched: Fetched<'_>,
) -> Result<AppConfig, ConfigError> {
    let Some(issuer) = config.issuer.as_deref().filter(|_| config.discovery) else {
        return Ok(config.clone());
    };
    let fail = |problem: String| DiscoveryError {
        url: url.to_string(),
        field: None,
        problem,
    };
    let body = match fetched {
        Fetched::Failed(why) => return Err(unreachable(url, why)),
        Fetched::Answered { status: 200, body } => body,
        Fetched::Answered { status, .. } => {
            return Err(refused(fail(format!(
                "answered HTTP {status} instead of the document"
            ))));
        }
    };
    let text = std::str::from_utf8(body).map_err(|_| refused(fail("is not UTF-8 text".into())))?;
    let discovery = parse_discovery(url, text, issuer).map_err(refused)?;
    Ok(apply_discovery(config, &discovery))
}

/// No answer came from the document's server.
fn unreachable(url: &str, why: &str) -> ConfigError {
    ConfigError {
        field: Some("discovery".into()),
        problem: format!(
            "The issuer's metadata document could not be fetched from {url}: {}.",
            why.trim_end_matches('.')
        ),
        fix: "Check that `issuer` in config.json is your server's issuer and that the server is reachable from this browser and allows this site's origin (CORS), then reload. Or remove \"discovery\" and set the endpoints in config.json.".into(),
    }
}

/// The document came but cannot be used: which URL, which of its fields, and what to change.
fn refused(e: DiscoveryError) -> ConfigError {
    let (field, fix) = match e.field {
        // The server is not the configured issuer (or claims to be another one).
        Some("issuer") => (
            "issuer",
            "If that server is the one you mean, set `issuer` in config.json to exactly the issuer its document names; otherwise correct `issuer`. Then reload.",
        ),
        None => (
            "discovery",
            "Check that `issuer` in config.json is your server's issuer (the document is read from it + /.well-known/openid-configuration), and reload once the server answers. Or remove \"discovery\" and set the endpoints in config.json.",
        ),
        Some(_) => (
            "discovery",
            "This server's metadata is not usable by this app: remove \"discovery\" and set the endpoints in config.json (authorize_endpoint, token_endpoint, revoke_endpoint), or have the document fixed. Then reload.",
        ),
    };
    ConfigError {
        field: Some(field.into()),
        problem: format!("The issuer's metadata could not be used: {e}."),
        fix: fix.into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://platform.ringcentral.com";
    const URL: &str = "https://platform.ringcentral.com/.well-known/openid-configuration";

    /// RingCentral's document as its API specification describes it.
    fn ringcentral() -> Value {
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://platform.ringcentral.com/restapi/oauth/authorize",
            "token_endpoint": "https://platform.ringcentral.com/restapi/oauth/token",
            "revocation_endpoint": "https://platform.ringcentral.com/restapi/oauth/revoke",
            "userinfo_endpoint": "https://platform.ringcentral.com/restapi/oauth/userinfo",
            "jwks_uri": "https://platform.ringcentral.com/restapi/oauth/jwks",
            "scopes_supported": ["openid", "email", "profile"],
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "claims_supported": ["sub", "iss", "auth_time", "aud", "exp", "iat", "jti", "nonce"],
        })
    }

    fn parse_with(field: &str, value: Value) -> Result<Discovery, DiscoveryError> {
        let mut doc = ringcentral();
        doc[field] = value;
        parse_discovery(URL, &doc.to_string(), ISSUER)
    }

    #[test]
    fn the_url_is_the_issuer_with_the_well_known_path() {
        assert_eq!(discovery_url(ISSUER), URL);
        assert_eq!(discovery_url("https://platform.ringcentral.com/"), URL);
        assert_eq!(
            discovery_url("https://idp.example/tenant"),
            "https://idp.example/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn ringcentrals_document_gives_its_endpoints() {
        let d = parse_discovery(URL, &ringcentral().to_string(), ISSUER).unwrap();
        assert_eq!(
            d.token_endpoint,
            "https://platform.ringcentral.com/restapi/oauth/token"
        );
        assert_eq!(
            d.jwks_uri.as_deref(),
            Some("https://platform.ringcentral.com/restapi/oauth/jwks")
        );
        assert!(!d.iss_parameter_supported);
        assert_eq!(d.scopes_supported, ["openid", "email", "profile"]);
        let d = parse_with(
            "authorization_response_iss_parameter_supported",
            json!(true),
        )
        .unwrap();
        assert!(d.iss_parameter_supported);
    }

    #[test]
    fn the_issuer_must_be_exactly_the_configured_one() {
        for other in [
            "https://platform.ringcentral.com/",
            "https://PLATFORM.ringcentral.com",
            "https://platform.devtest.ringcentral.com",
        ] {
            let e = parse_with("issuer", json!(other)).unwrap_err();
            assert_eq!(e.field, Some("issuer"), "{other}");
            assert!(e.to_string().starts_with(URL), "{e}");
        }
        let mut doc = ringcentral();
        doc.as_object_mut().unwrap().remove("issuer");
        let e = parse_discovery(URL, &doc.to_string(), ISSUER).unwrap_err();
        assert_eq!(e.to_string(), format!("{URL}: \"issuer\" is missing"));
    }

    #[test]
    fn endpoints_are_held_to_the_configs_rules() {
        let e = parse_with("token_endpoint", json!("http://idp.example/token")).unwrap_err();
        assert_eq!(e.field, Some("token_endpoint"));
        assert!(e.problem.contains("plain http"), "{e}");
        assert!(parse_with("token_endpoint", json!("http://127.0.0.1:5001/token")).is_ok());
        let e = parse_with("jwks_uri", json!(42)).unwrap_err();
        assert_eq!(
            (e.field, e.problem.as_str()),
            (Some("jwks_uri"), "is not a string")
        );
        let e = parse_with("userinfo_endpoint", json!("not a url")).unwrap_err();
        assert_eq!(e.field, Some("userinfo_endpoint"));
        let e = parse_with("authorization_endpoint", json!(null)).unwrap_err();
        assert_eq!(e.problem, "is missing");
    }

    #[test]
    fn a_server_without_s256_or_rs256_is_refused() {
        let e = parse_with("code_challenge_methods_supported", json!(["plain"])).unwrap_err();
        assert_eq!(e.field, Some("code_challenge_methods_supported"));
        let e = parse_with("id_token_signing_alg_values_supported", json!(["HS256"])).unwrap_err();
        assert_eq!(e.field, Some("id_token_signing_alg_values_supported"));
        let e = parse_with("scopes_supported", json!("openid")).unwrap_err();
        assert_eq!(e.problem, "is not a list");
        let e = parse_with(
            "authorization_response_iss_parameter_supported",
            json!("yes"),
        )
        .unwrap_err();
        assert_eq!(e.problem, "is not true or false");
    }

    #[test]
    fn not_a_document_at_all() {
        for text in ["", "[]", "<html>", "null"] {
            let e = parse_discovery(URL, text, ISSUER).unwrap_err();
            assert_eq!(e.field, None, "{text}");
            assert!(e.problem.starts_with("is not a JSON object"), "{e}");
        }
        let huge = " ".repeat(MAX_DISCOVERY_BYTES + 1);
        assert!(parse_discovery(URL, &huge, ISSUER).is_err());
    }
    /// A config.json of the production issuer with discovery, and `extra` keys beside it.
    fn discovering(extra: &str) -> AppConfig {
        let text = format!(r#"{{"client_id":"a","issuer":"{ISSUER}","discovery":true{extra}}}"#);
        crate::config::parse_config(&text, "https://app.example/").unwrap()
    }

    /// A document of another server's endpoints, so that each one taken is seen to be.
    fn elsewhere() -> Value {
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": "https://login.example/authorize",
            "token_endpoint": "https://tokens.example/token",
            "revocation_endpoint": "https://tokens.example/revoke",
            "userinfo_endpoint": "https://id.example/userinfo",
            "jwks_uri": "https://id.example/jwks",
        })
    }

    fn applied(config: &AppConfig, doc: &Value) -> AppConfig {
        apply_discovery(
            config,
            &parse_discovery(URL, &doc.to_string(), ISSUER).unwrap(),
        )
    }

    #[test]
    fn the_documents_endpoints_replace_the_derived_ones() {
        let config = discovering("");
        let c = applied(&config, &elsewhere());
        assert_eq!(c.authorize_endpoint, "https://login.example/authorize");
        assert_eq!(c.token_endpoint, "https://tokens.example/token");
        assert_eq!(c.revoke_endpoint, "https://tokens.example/revoke");
        assert_eq!(c.userinfo_endpoint, "https://id.example/userinfo");
        assert_eq!(c.jwks_uri, "https://id.example/jwks");
        // Discovery names no REST API: it stays beside the issuer.
        assert_eq!(c.api_base, "https://platform.ringcentral.com/restapi/v1.0");
        assert_eq!(c.binding().token_endpoint, "https://tokens.example/token");
    }

    #[test]
    fn endpoints_set_in_config_json_win() {
        let config = discovering(
            r#","token_endpoint":"https://mine.example/token","jwks_uri":"https://mine.example/jwks""#,
        );
        let c = applied(&config, &elsewhere());
        assert_eq!(c.token_endpoint, "https://mine.example/token");
        assert_eq!(c.jwks_uri, "https://mine.example/jwks");
        assert_eq!(c.authorize_endpoint, "https://login.example/authorize");
        assert_eq!(c.revoke_endpoint, "https://tokens.example/revoke");
    }

    #[test]
    fn endpoints_the_document_leaves_out_keep_the_configs() {
        let config = discovering("");
        let mut doc = elsewhere();
        for key in ["revocation_endpoint", "userinfo_endpoint", "jwks_uri"] {
            doc.as_object_mut().unwrap().remove(key);
        }
        let c = applied(&config, &doc);
        assert_eq!(c.token_endpoint, "https://tokens.example/token");
        assert_eq!(c.revoke_endpoint, config.revoke_endpoint);
        assert_eq!(c.userinfo_endpoint, config.userinfo_endpoint);
        assert_eq!(c.jwks_uri, config.jwks_uri);
    }

    #[test]
    fn a_server_that_sends_iss_has_it_required() {
        let config = discovering("");
        assert!(!config.iss_optional, "a configured issuer is required");
        let c = applied(&config, &elsewhere());
        assert!(
            c.iss_optional,
            "the document does not say the server sends it"
        );
        assert!(c.binding().iss_optional);
        let mut doc = elsewhere();
        doc["authorization_response_iss_parameter_supported"] = json!(true);
        let c = applied(&config, &doc);
        assert!(!c.iss_optional);
        assert!(!c.binding().iss_optional);
    }

    #[test]
    fn only_a_discovering_config_has_a_document_to_fetch() {
        let config = discovering("");
        assert_eq!(document_url(&config).as_deref(), Some(URL));
        let plain = crate::config::parse_config(
            r#"{"client_id":"a","issuer":"https://platform.ringcentral.com"}"#,
            "https://app.example/",
        )
        .unwrap();
        assert_eq!(document_url(&plain), None);
        let settings = crate::config::Settings {
            client_id: "b".into(),
            preset: crate::config::ServerPreset::Production,
        };
        assert_eq!(document_url(&settings.apply(&config)), None);
        // Nothing was fetched for it, and nothing changes.
        assert_eq!(
            configure(&plain, URL, Fetched::Failed("x")),
            Ok(plain.clone())
        );
    }

    #[test]
    fn a_fetched_document_configures_the_app() {
        let config = discovering("");
        let body = elsewhere().to_string();
        let answer = Fetched::Answered {
            status: 200,
            body: body.as_bytes(),
        };
        let c = configure(&config, URL, answer).unwrap();
        assert_eq!(c.token_endpoint, "https://tokens.example/token");
    }

    #[test]
    fn every_failure_names_the_url_and_says_what_to_do() {
        let config = discovering("");
        let wrong_issuer = json!({"issuer": "https://other.example"}).to_string();
        let plain_http = {
            let mut doc = elsewhere();
            doc["token_endpoint"] = json!("http://tokens.example/token");
            doc.to_string()
        };
        let cases: [(Fetched<'_>, &str, &str); 6] = [
            (
                Fetched::Failed("TypeError: Failed to fetch"),
                "discovery",
                "could not be fetched from",
            ),
            (
                Fetched::Answered {
                    status: 404,
                    body: b"",
                },
                "discovery",
                "answered HTTP 404",
            ),
            (
                Fetched::Answered {
                    status: 200,
                    body: b"<html>",
                },
                "discovery",
                "is not a JSON object",
            ),
            (
                Fetched::Answered {
                    status: 200,
                    body: &[0xff, 0xfe],
                },
                "discovery",
                "is not UTF-8 text",
            ),
            (
                Fetched::Answered {
                    status: 200,
                    body: wrong_issuer.as_bytes(),
                },
                "issuer",
                "\"issuer\" is \"https://other.example\", not the configured",
            ),
            (
                Fetched::Answered {
                    status: 200,
                    body: plain_http.as_bytes(),
                },
                "discovery",
                "\"token_endpoint\" uses plain http",
            ),
        ];
        for (fetched, field, text) in cases {
            let e = configure(&config, URL, fetched).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
            assert!(e.problem.contains(URL), "{e}");
            assert!(e.problem.contains(text), "{e}");
            assert!(
                e.problem.ends_with('.') && !e.problem.ends_with(".."),
                "{e}"
            );
            assert!(
                e.fix.contains("config.json") && e.fix.contains("reload"),
                "{e}"
            );
        }
    }
    #[test]
    fn the_policys_assumption_is_said_only_with_discovery() {
        let said = policy_assumption(&discovering("")).unwrap();
        assert!(said.contains(URL), "{said}");
        assert!(
            said.contains("It allows https://platform.ringcentral.com ("),
            "{said}"
        );
        let mine = policy_assumption(&discovering(
            r#","token_endpoint":"https://mine.example/t""#,
        ))
        .unwrap();
        assert!(
            mine.contains("It allows https://mine.example, https://platform.ringcentral.com ("),
            "{mine}"
        );
        let plain =
            crate::config::parse_config(r#"{"client_id":"a"}"#, "https://app.example/").unwrap();
        assert_eq!(policy_assumption(&plain), None);
    }
}
