//! The OpenID Connect ID token, sans I/O: its JWS compact form taken apart (RFC 7515 §7.1), its
//! header held to RS256, and its claims checked against what this sign-in expects (OpenID Connect
//! Core 1.0 §3.1.3.7). The RSA signature itself is checked by the browser (WebCrypto) over the
//! [`IdToken::signing_input`] with the key the header's `kid` names; this module decides
//! everything else, so every rule is a host test.
//!
//! A public client has no secret, so an HMAC-signed token (`HS256`) proves nothing to it: anyone
//! who knows the client ID could have made one. `none` proves nothing to anyone.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::time::Timestamp;

/// Longer than any ID token a server sends with a handful of claims; refused before decoding.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// How far the server's clock may be ahead of this one for `iat`, and behind it for `exp`.
pub const CLOCK_SKEW_SECS: u64 = 120;
/// The one signature algorithm accepted.
pub const ALGORITHM: &str = "RS256";

/// An ID token taken apart; its signature is not checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdToken {
    /// The key the server signed with, to look up in its JWKS.
    pub kid: Option<String>,
    pub claims: Claims,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    pub signing_input: String,
    pub signature: Vec<u8>,
}

/// The claims this client reads. Others are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: u64,
    pub iat: u64,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub auth_time: Option<u64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    /// RingCentral's account of the user; a string or a number.
    #[serde(default)]
    pub account_id: Option<serde_json::Value>,
}

/// `aud` is one string or an array of them (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(a) => std::slice::from_ref(a),
            Self::Many(all) => all,
        }
    }
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Extensions the recipient must understand (RFC 7515 §4.1.11): none are, so any is refused.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// What this sign-in expects of its ID token.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The issuer, exactly as configured (and as the discovery document says).
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The `nonce` sent with the authorization request; `None` for a token from a refresh, which
    /// OpenID Connect lets carry none.
    pub nonce: Option<&'a str>,
    pub now: Timestamp,
}

/// Why an ID token was refused: each check says which one failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the ID token is {0} bytes long, more than the {MAX_ID_TOKEN_BYTES} allowed")]
    TooLarge(usize),
    #[error("the ID token is not a signed JWT (three base64url parts separated by dots)")]
    NotCompact,
    #[error("the ID token's {0} is not base64url")]
    NotBase64(&'static str),
    #[error("the ID token's {0} is not the JSON it should be: {1}")]
    BadJson(&'static str, String),
    #[error("the ID token is not signed (alg \"none\")")]
    Unsigned,
    #[error(
        "the ID token is signed with a shared secret ({0}), which a public client does not have: it proves nothing"
    )]
    SharedSecret(String),
    #[error("the ID token is signed with {0}; only RS256 is accepted")]
    UnsupportedAlgorithm(String),
    #[error("the ID token's header has critical extensions (\"crit\") this client does not know")]
    CriticalExtension,
    #[error("the ID token has no signature")]
    NoSignature,
    #[error("the ID token was issued by {got:?}, not by {expected:?}")]
    WrongIssuer { expected: String, got: String },
    #[error("the ID token is meant for {got:?}, not for this app ({client_id:?})")]
    WrongAudience { client_id: String, got: Vec<String> },
    #[error("the ID token was requested by {got:?} (azp), not by this app ({client_id:?})")]
    WrongAuthorizedParty { client_id: String, got: String },
    #[error("the ID token expired at {exp} (Unix time), and it is {now} now")]
    Expired { exp: u64, now: u64 },
    #[error("the ID token says it was issued at {iat} (Unix time), in the future (it is {now})")]
    IssuedInTheFuture { iat: u64, now: u64 },
    #[error(
        "the ID token from the refresh names another {0} than the sign-in's: it is not the same user's session"
    )]
    ChangedOnRefresh(&'static str),
    #[error("the ID token carries no nonce, but the sign-in sent one")]
    NonceMissing,
    #[error("the ID token's nonce is not the one this sign-in sent (a replayed or injected token)")]
    NonceMismatch,
}

/// Takes a compact JWS apart and holds its header to RS256.
pub fn parse(compact: &str) -> Result<IdToken, IdTokenError> {
    if compact.len() > MAX_ID_TOKEN_BYTES {
        return Err(IdTokenError::TooLarge(compact.len()));
    }
    let mut parts = compact.split('.');
    let (Some(header), Some(payload), Some(encoded_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::NotCompact);
    };
    let header_json = decode(header, "header")?;
    let header: Header = serde_json::from_slice(&header_json)
        .map_err(|e| IdTokenError::BadJson("header", e.to_string()))?;
    check_algorithm(&header.alg)?;
    if header.crit.is_some() {
        return Err(IdTokenError::CriticalExtension);
    }
    let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|e| IdTokenError::BadJson("payload", e.to_string()))?;
    let signature = decode(encoded_signature, "signature")?;
    if signature.is_empty() {
        return Err(IdTokenError::NoSignature);
    }
    Ok(IdToken {
        kid: header.kid,
        claims,
        signing_input: compact[..compact.len() - encoded_signature.len() - 1].to_string(),
        signature,
    })
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, IdTokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| IdTokenError::NotBase64(what))
}

fn check_algorithm(alg: &str) -> Result<(), IdTokenError> {
    match alg {
        ALGORITHM => Ok(()),
        a if a.eq_ignore_ascii_case("none") => Err(IdTokenError::Unsigned),
        a if a.starts_with("HS") => Err(IdTokenError::SharedSecret(a.to_string())),
        a => Err(IdTokenError::UnsupportedAlgorithm(a.to_string())),
    }
}

/// The claim checks of OpenID Connect Core §3.1.3.7 that do not need the key, in the order the
/// specification lists them.
pub fn check_claims(claims: &Claims, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    if claims.iss != expected.issuer {
        return Err(IdTokenError::WrongIssuer {
            expected: expected.issuer.to_string(),
            got: claims.iss.clone(),
        });
    }
    let audiences = claims.aud.as_slice();
    if !audiences.iter().any(|a| a == expected.client_id) {
        return Err(IdTokenError::WrongAudience {
            client_id: expected.client_id.to_string(),
            got: audiences.to_vec(),
        });
    }
    // With several audiences the token must say which one asked for it; when it says, it must be
    // this app.
    match &claims.azp {
        Some(azp) if azp != expected.client_id => {
            return Err(IdTokenError::WrongAuthorizedParty {
                client_id: expected.client_id.to_string(),
                got: azp.clone(),
            });
        }
        None if audiences.len() > 1 => {
            return Err(IdTokenError::WrongAuthorizedParty {
                client_id: expected.client_id.to_string(),
                got: String::new(),
            });
        }
        _ => {}
    }
    let now = expected.now.as_millis() / 1000;
    if claims.exp.saturating_add(CLOCK_SKEW_SECS) <= now {
        return Err(IdTokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(IdTokenError::IssuedInTheFuture {
            iat: claims.iat,
            now,
        });
    }
    match (expected.nonce, &claims.nonce) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(IdTokenError::NonceMissing),
        (Some(sent), Some(got)) if same(sent.as_bytes(), got.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err(IdTokenError::NonceMismatch),
    }
}

/// OpenID Connect Core §12.2: an ID token that comes with a refresh is about the same user, from the
/// same issuer, for the same client, and the same authentication as the sign-in's.
pub fn check_refreshed(first: &Claims, new: &Claims) -> Result<(), IdTokenError> {
    let changed = if new.iss != first.iss {
        "issuer (iss)"
    } else if new.sub != first.sub {
        "subject (sub)"
    } else if new.aud != first.aud {
        "audience (aud)"
    } else if new.auth_time.is_some() && new.auth_time != first.auth_time {
        "authentication time (auth_time)"
    } else {
        return Ok(());
    };
    Err(IdTokenError::ChangedOnRefresh(changed))
}

/// Why a userinfo answer cannot be shown for the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserInfoError {
    #[error("the userinfo answer is not a JSON object with a \"sub\": {0}")]
    NotUserInfo(String),
    #[error("the userinfo answer is about another user ({got:?}) than the ID token ({expected:?})")]
    OtherSubject { expected: String, got: String },
}

/// The userinfo answer, which OpenID Connect Core §5.3.2 says to use only if its `sub` is the ID
/// token's (else it may be about someone else: a mixed-up or substituted response).
pub fn check_userinfo(
    id: &Claims,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, UserInfoError> {
    let info: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| UserInfoError::NotUserInfo(e.to_string()))?;
    let sub = info
        .get("sub")
        .and_then(|s| s.as_str())
        .ok_or_else(|| UserInfoError::NotUserInfo("no sub".into()))?;
    if sub != id.sub {
        return Err(UserInfoError::OtherSubject {
            expected: id.sub.clone(),
            got: sub.to_string(),
        });
    }
    Ok(info)
}

/// Longer than any key set a server publishes for a few keys; refused before parsing.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The smallest RSA modulus accepted, in bits (NIST SP 800-131A: 2048 at least).
pub const MIN_RSA_BITS: usize = 2048;

/// An RSA public key from the server's JWKS, as WebCrypto imports it (`importKey("jwk", …)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub kid: Option<String>,
    /// Modulus and exponent, base64url as in the JWK.
    pub n: String,
    pub e: String,
}

/// Why a key set cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("the key set is {0} bytes long, more than the {MAX_JWKS_BYTES} allowed")]
    TooLarge(usize),
    #[error("the key set is not a JWKS (a JSON object with a \"keys\" array): {0}")]
    NotJwks(String),
    #[error("the key set has no RSA signing key for RS256")]
    NoUsableKey,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

/// The RSA signing keys of a JWKS (RFC 7517) that can check an RS256 signature. Keys of other
/// types, for encryption or for another algorithm, and RSA keys shorter than [`MIN_RSA_BITS`] are
/// left out; a set with none left is refused.
pub fn parse_jwks(text: &str) -> Result<Vec<RsaKey>, JwksError> {
    if text.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge(text.len()));
    }
    let jwks: Jwks = serde_json::from_str(text).map_err(|e| JwksError::NotJwks(e.to_string()))?;
    let keys: Vec<RsaKey> = jwks
        .keys
        .iter()
        .filter(|k| text_of(k, "kty") == Some("RSA"))
        .filter(|k| text_of(k, "use").is_none_or(|u| u == "sig"))
        .filter(|k| text_of(k, "alg").is_none_or(|a| a == ALGORITHM))
        .filter_map(|k| {
            let (n, e) = (text_of(k, "n")?, text_of(k, "e")?);
            let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
            let exponent = URL_SAFE_NO_PAD.decode(e).ok()?;
            let bits = modulus.iter().skip_while(|b| **b == 0).count() * 8;
            (bits >= MIN_RSA_BITS && !exponent.is_empty()).then(|| RsaKey {
                kid: text_of(k, "kid").map(str::to_string),
                n: n.to_string(),
                e: e.to_string(),
            })
        })
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn text_of<'a>(key: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    key.get(name).and_then(|v| v.as_str())
}

/// The key a token's `kid` names; without a `kid`, the only key there is. `None` says to fetch
/// the key set once more (the server may have rotated its keys) before refusing the token.
pub fn key_for<'a>(keys: &'a [RsaKey], kid: Option<&str>) -> Option<&'a RsaKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

/// Why an ID token was refused, as the user reads it: which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The sign-in asked for OpenID Connect and the token response carried no `id_token`.
    Missing,
    /// Its form, algorithm or a claim ([`IdTokenError`] says which).
    Token(IdTokenError),
    /// The server's key set is not one (not JSON, no RS256 key).
    KeySet { url: String, problem: JwksError },
    /// The key set could not be fetched (after the retries a transient failure gets).
    KeysUnreachable { url: String, error: ApiError },
    /// The token names a key the server's key set does not hold, fetched afresh.
    UnknownKey(Option<String>),
    /// The signature does not verify with the server's key: the token was changed or forged.
    BadSignature,
    /// The browser could not check the signature (no WebCrypto, a key it refuses).
    CannotVerify(String),
    /// A refusal as it was recorded for a reload to show again (the check and its sentence).
    Recorded { check: &'static str, text: String },
}

impl Refusal {
    /// The check that failed, as the inspector lists them ([`CHECKS`]).
    pub fn check(&self) -> &'static str {
        match self {
            Self::Missing => "present",
            Self::Token(e) => match e {
                IdTokenError::TooLarge(_)
                | IdTokenError::NotCompact
                | IdTokenError::NotBase64(_)
                | IdTokenError::BadJson(..)
                | IdTokenError::NoSignature => "form",
                IdTokenError::Unsigned
                | IdTokenError::SharedSecret(_)
                | IdTokenError::UnsupportedAlgorithm(_)
                | IdTokenError::CriticalExtension => "alg",
                IdTokenError::WrongIssuer { .. } => "iss",
                IdTokenError::WrongAudience { .. } => "aud",
                IdTokenError::WrongAuthorizedParty { .. } => "azp",
                IdTokenError::Expired { .. } => "exp",
                IdTokenError::IssuedInTheFuture { .. } => "iat",
                IdTokenError::NonceMissing | IdTokenError::NonceMismatch => "nonce",
                IdTokenError::ChangedOnRefresh(_) => "same sign-in",
            },
            Self::KeySet { .. } | Self::KeysUnreachable { .. } | Self::UnknownKey(_) => "key",
            Self::BadSignature | Self::CannotVerify(_) => "signature",
            Self::Recorded { check, .. } => check,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str(
                "the token response carries no ID token, though the sign-in asked for OpenID Connect (scope openid)",
            ),
            Self::Token(e) => write!(f, "{e}"),
            Self::KeySet { url, problem } => write!(f, "the server's key set at {url}: {problem}"),
            Self::KeysUnreachable { url, error } => write!(
                f,
                "the server's key set could not be fetched from {url}: {}",
                error.title()
            ),
            Self::UnknownKey(Some(kid)) => write!(
                f,
                "the ID token is signed with key {kid:?}, which the server's key set does not hold"
            ),
            Self::UnknownKey(None) => f.write_str(
                "the ID token names no key (kid) and the server's key set holds several",
            ),
            Self::BadSignature => f.write_str(
                "the ID token's signature does not verify with the server's key: it was changed or forged",
            ),
            Self::CannotVerify(why) => write!(f, "the ID token's signature could not be checked: {why}"),
            Self::Recorded { text, .. } => f.write_str(text),
        }
    }
}

/// The checks in the order they are made, as the inspector lists them.
pub const CHECKS: [&str; 12] = [
    "present",
    "form",
    "alg",
    "iss",
    "aud",
    "azp",
    "exp",
    "iat",
    "nonce",
    "same sign-in",
    "key",
    "signature",
];

/// Equal, compared without an early exit: how much of a guess matched does not show in the time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// 2026-12-01T00:00:00Z.
    const NOW: u64 = 1_796_083_200;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(&[7; 256])
        )
    }

    fn claims() -> Value {
        json!({
            "iss": "https://platform.ringcentral.com",
            "sub": "62912345008",
            "aud": "client-1",
            "exp": NOW + 3600,
            "iat": NOW - 5,
            "nonce": "n-0S6_WzA2Mj",
            "email": "demo@example.com",
            "email_verified": true,
            "account_id": 37439510,
        })
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://platform.ringcentral.com",
            client_id: "client-1",
            nonce: Some("n-0S6_WzA2Mj"),
            now: Timestamp::from_millis(NOW * 1000),
        }
    }

    fn check(claims: Value) -> Result<(), IdTokenError> {
        let t = parse(&token(json!({"alg": "RS256", "kid": "k1"}), claims))?;
        check_claims(&t.claims, &expected())
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = claims();
        c[key] = value;
        c
    }

    #[test]
    fn a_good_token_is_taken_apart_with_its_signing_input() {
        let compact = token(json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}), claims());
        let t = parse(&compact).unwrap();
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert_eq!(t.signature, vec![7; 256]);
        assert_eq!(
            t.signing_input,
            compact[..compact.rfind('.').unwrap()],
            "what the signature covers"
        );
        assert_eq!(t.claims.sub, "62912345008");
        assert_eq!(t.claims.email_verified, Some(true));
        assert_eq!(check_claims(&t.claims, &expected()), Ok(()));
    }

    /// RFC 7515 Appendix A.2: the header `{"alg":"RS256"}` and its payload as the RFC encodes them
    /// (with CR LF inside the JSON). The payload is not an ID token (no `sub`, `aud`, `iat`): the
    /// header is accepted and the payload refused for what it lacks.
    #[test]
    fn the_rfc_7515_rs256_example_parses_to_its_missing_claims() {
        let signing_input = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let e = parse(&format!("{signing_input}.{}", b64(&[1; 256]))).unwrap_err();
        assert!(
            matches!(&e, IdTokenError::BadJson("payload", why) if why.contains("sub")),
            "{e}"
        );
    }

    #[test]
    fn only_rs256_is_accepted() {
        let c = claims();
        for (alg, want) in [
            ("none", IdTokenError::Unsigned),
            ("None", IdTokenError::Unsigned),
            ("HS256", IdTokenError::SharedSecret("HS256".into())),
            ("HS512", IdTokenError::SharedSecret("HS512".into())),
            ("RS512", IdTokenError::UnsupportedAlgorithm("RS512".into())),
            ("ES256", IdTokenError::UnsupportedAlgorithm("ES256".into())),
            ("rs256", IdTokenError::UnsupportedAlgorithm("rs256".into())),
        ] {
            let e = parse(&token(json!({ "alg": alg }), c.clone())).unwrap_err();
            assert_eq!(e, want, "{alg}");
        }
        let e = parse(&token(json!({"alg": "RS256", "crit": ["exp"]}), c.clone())).unwrap_err();
        assert_eq!(e, IdTokenError::CriticalExtension);
        let e = parse(&token(json!({"kid": "k1"}), c)).unwrap_err();
        assert!(matches!(e, IdTokenError::BadJson("header", _)), "{e}");
    }

    #[test]
    fn malformed_tokens_say_which_part_is_wrong() {
        let good = token(json!({"alg": "RS256"}), claims());
        let parts: Vec<&str> = good.split('.').collect();
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        for (bad, want) in [
            ("", IdTokenError::NotCompact),
            ("a.b", IdTokenError::NotCompact),
            (&format!("{good}.x")[..], IdTokenError::NotCompact),
            (
                &format!("{}.{}.{}", "e30=", parts[1], parts[2])[..],
                IdTokenError::NotBase64("header"),
            ),
            (
                &format!("{}.!.{}", parts[0], parts[2])[..],
                IdTokenError::NotBase64("payload"),
            ),
            (&unsigned[..], IdTokenError::NoSignature),
        ] {
            assert_eq!(parse(bad).unwrap_err(), want, "{bad}");
        }
        let huge = "a".repeat(MAX_ID_TOKEN_BYTES + 1);
        assert_eq!(
            parse(&huge).unwrap_err(),
            IdTokenError::TooLarge(MAX_ID_TOKEN_BYTES + 1)
        );
    }

    #[test]
    fn issuer_and_audience_are_exact() {
        let e = check(with("iss", json!("https://platform.ringcentral.com/"))).unwrap_err();
        assert!(matches!(e, IdTokenError::WrongIssuer { .. }), "{e}");
        let e = check(with("aud", json!("client-10"))).unwrap_err();
        assert!(matches!(e, IdTokenError::WrongAudience { .. }), "{e}");
        let e = check(with("aud", json!(["other"]))).unwrap_err();
        assert!(matches!(e, IdTokenError::WrongAudience { .. }), "{e}");
        assert_eq!(check(with("aud", json!(["client-1"]))), Ok(()));
        // Several audiences need azp, and azp must be this app.
        let e = check(with("aud", json!(["client-1", "other"]))).unwrap_err();
        assert!(
            matches!(e, IdTokenError::WrongAuthorizedParty { .. }),
            "{e}"
        );
        let mut c = with("aud", json!(["client-1", "other"]));
        c["azp"] = json!("client-1");
        assert_eq!(check(c), Ok(()));
        let e = check(with("azp", json!("other"))).unwrap_err();
        assert!(
            matches!(e, IdTokenError::WrongAuthorizedParty { .. }),
            "{e}"
        );
    }

    #[test]
    fn lifetime_allows_only_a_small_skew() {
        assert_eq!(check(with("exp", json!(NOW - CLOCK_SKEW_SECS + 1))), Ok(()));
        let e = check(with("exp", json!(NOW - CLOCK_SKEW_SECS))).unwrap_err();
        assert!(matches!(e, IdTokenError::Expired { .. }), "{e}");
        assert_eq!(check(with("iat", json!(NOW + CLOCK_SKEW_SECS))), Ok(()));
        let e = check(with("iat", json!(NOW + CLOCK_SKEW_SECS + 1))).unwrap_err();
        assert!(matches!(e, IdTokenError::IssuedInTheFuture { .. }), "{e}");
        let e = check(with("exp", json!(u64::MAX)));
        assert_eq!(e, Ok(()), "no overflow");
        let e = check(with("exp", json!(-1))).unwrap_err();
        assert!(matches!(e, IdTokenError::BadJson("payload", _)), "{e}");
    }

    #[test]
    fn the_nonce_must_be_the_one_sent() {
        let e = check(with("nonce", json!("n-0S6_WzA2Mk"))).unwrap_err();
        assert_eq!(e, IdTokenError::NonceMismatch);
        let mut c = claims();
        c.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check(c.clone()).unwrap_err(), IdTokenError::NonceMissing);
        // A token from a refresh may carry none.
        let t = parse(&token(json!({"alg": "RS256"}), c)).unwrap();
        let refresh = Expected {
            nonce: None,
            ..expected()
        };
        assert_eq!(check_claims(&t.claims, &refresh), Ok(()));
    }

    #[test]
    fn every_refusal_says_what_failed() {
        let e = IdTokenError::WrongIssuer {
            expected: "https://a".into(),
            got: "https://b".into(),
        };
        assert_eq!(
            e.to_string(),
            "the ID token was issued by \"https://b\", not by \"https://a\""
        );
        assert!(
            IdTokenError::SharedSecret("HS256".into())
                .to_string()
                .contains("public client")
        );
    }

    fn parsed(c: Value) -> Claims {
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn a_refreshed_id_token_is_about_the_same_sign_in() {
        let first = parsed(claims());
        let mut later = claims();
        later["iat"] = json!(NOW + 1800);
        later["exp"] = json!(NOW + 5400);
        later.as_object_mut().unwrap().remove("nonce");
        assert_eq!(check_refreshed(&first, &parsed(later.clone())), Ok(()));
        for (field, value, what) in [
            ("sub", json!("other"), "subject (sub)"),
            ("iss", json!("https://evil.example"), "issuer (iss)"),
            ("aud", json!(["client-1", "x"]), "audience (aud)"),
            ("auth_time", json!(NOW), "authentication time (auth_time)"),
        ] {
            let mut c = later.clone();
            c[field] = value;
            assert_eq!(
                check_refreshed(&first, &parsed(c)),
                Err(IdTokenError::ChangedOnRefresh(what)),
                "{field}"
            );
        }
    }

    #[test]
    fn userinfo_is_used_only_for_the_id_tokens_subject() {
        let id = parsed(claims());
        let info =
            check_userinfo(&id, r#"{"sub":"62912345008","email":"demo@example.com"}"#).unwrap();
        assert_eq!(info["email"], "demo@example.com");
        assert_eq!(
            check_userinfo(&id, r#"{"sub":"1"}"#),
            Err(UserInfoError::OtherSubject {
                expected: "62912345008".into(),
                got: "1".into()
            })
        );
        for bad in ["[]", "{}", r#"{"sub":5}"#, "<html>"] {
            assert!(
                matches!(check_userinfo(&id, bad), Err(UserInfoError::NotUserInfo(_))),
                "{bad}"
            );
        }
    }

    fn rsa_jwk(kid: &str, bytes: usize) -> Value {
        let mut n = vec![0xc5; bytes];
        n[0] = 0xb1;
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": "AQAB"})
    }

    #[test]
    fn only_rsa_signing_keys_of_2048_bits_or_more_are_kept() {
        let set = json!({"keys": [
            rsa_jwk("good", 256),
            rsa_jwk("short", 128),
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": b64(&[0xc5; 256]), "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": b64(&[0xc5; 256]), "e": "AQAB"},
            {"kty": "RSA", "kid": "no-e", "n": b64(&[0xc5; 256])},
            {"kty": "RSA", "kid": "plain", "n": b64(&[0xc5; 512]), "e": "AQAB"},
        ]});
        let keys = parse_jwks(&set.to_string()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref().unwrap()).collect();
        assert_eq!(kids, ["good", "plain"]);
        assert_eq!(keys[0].e, "AQAB");
        // A leading zero byte does not make a key longer.
        let mut padded = vec![0u8; 1];
        padded.extend([0xc5; 255]);
        let set = json!({"keys": [{"kty": "RSA", "n": b64(&padded), "e": "AQAB"}]});
        assert_eq!(parse_jwks(&set.to_string()), Err(JwksError::NoUsableKey));
    }

    #[test]
    fn a_bad_key_set_says_why() {
        assert!(matches!(parse_jwks("[]"), Err(JwksError::NotJwks(_))));
        assert!(matches!(parse_jwks("{}"), Err(JwksError::NotJwks(_))));
        assert_eq!(parse_jwks(r#"{"keys": []}"#), Err(JwksError::NoUsableKey));
        let huge = " ".repeat(MAX_JWKS_BYTES + 1);
        assert_eq!(
            parse_jwks(&huge),
            Err(JwksError::TooLarge(MAX_JWKS_BYTES + 1))
        );
    }

    #[test]
    fn the_kid_picks_the_key_and_an_unknown_one_asks_for_a_refetch() {
        let set = json!({"keys": [rsa_jwk("k1", 256), rsa_jwk("k2", 256)]}).to_string();
        let keys = parse_jwks(&set).unwrap();
        assert_eq!(
            key_for(&keys, Some("k2")).unwrap().kid.as_deref(),
            Some("k2")
        );
        assert_eq!(key_for(&keys, Some("k3")), None);
        assert_eq!(key_for(&keys, None), None, "two keys and no kid: ambiguous");
        let one = &keys[..1];
        assert_eq!(key_for(one, None), Some(&keys[0]));
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "[A-Za-z0-9_.=-]{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn any_change_to_the_nonce_is_refused(nonce in "[A-Za-z0-9_-]{1,40}") {
            prop_assume!(nonce != "n-0S6_WzA2Mj");
            prop_assert_eq!(check(with("nonce", json!(nonce))), Err(IdTokenError::NonceMismatch));
        }
    }
}
