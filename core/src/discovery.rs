//! OpenID Connect Discovery 1.0 / RFC 8414, sans I/O: where an issuer's metadata lives, and its
//! document read and held to what a public PKCE client needs. Groundwork for issue 19: the app
//! does not fetch it yet.
//!
//! The document is trusted only as far as its `issuer` matches the configured one exactly (OpenID
//! Discovery §4.3: otherwise a server could name another's endpoints), and only endpoints this app
//! would accept in `config.json` (https, or plain http on loopback) are taken from it.

use serde_json::{Map, Value};

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
}
