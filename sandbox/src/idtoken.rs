//! OpenID Connect ID tokens: their claims, the keys that sign them, and the one-shot defects the
//! admin API can plant in the next one so a client's every check can be proven to fire.
//!
//! Plain data, no HTTP: the token endpoint asks [`Oidc::id_token`] for a token and the admin API
//! queues [`Defect`]s and rotates keys through the same [`Oidc`] value behind its lock.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::jose::{self, KeyRing, STRANGER_KID};
use crate::seed::User;

/// The longest `nonce` the authorize endpoint keeps; longer ones are refused, since the value is
/// echoed in every ID token of the grant.
pub const MAX_NONCE_CHARS: usize = 255;

/// What an `openid` authorize request asked for, kept from the authorize request to the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRequest {
    /// Exactly as sent; `None` when absent.
    pub nonce: Option<String>,
    pub email: bool,
    pub profile: bool,
}

impl OidcRequest {
    /// `Some` when the space-separated `scope` contains `openid`.
    pub fn from_scope(scope: Option<&str>, nonce: Option<&str>) -> Option<Self> {
        let scopes: Vec<&str> = scope.unwrap_or_default().split(' ').collect();
        scopes.contains(&"openid").then(|| Self {
            nonce: nonce.map(str::to_owned),
            email: scopes.contains(&"email"),
            profile: scopes.contains(&"profile"),
        })
    }
}

/// An `openid` grant: what was asked for, and when the user consented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcGrant {
    pub request: OidcRequest,
    pub auth_time_ms: u64,
}

/// One way to make the next ID token bad. Each changes exactly one thing of a good token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defect {
    /// One byte of the RS256 signature flipped.
    BadSignature,
    /// `alg: none` and an empty signature.
    AlgNone,
    /// HS256 with the client id as the secret (what a confused verifier might accept).
    Hs256,
    /// `aud` another client's id.
    WrongAud,
    /// `iss` another issuer.
    WrongIss,
    /// `nonce` not the one sent (also when none was sent).
    WrongNonce,
    /// Issued two hours ago, expired an hour ago.
    Expired,
    /// Signed with a key the JWKS does not list, under a kid it does not list.
    UnknownKid,
}

/// The `aud` of a [`Defect::WrongAud`] token.
pub const WRONG_AUD: &str = "some-other-client";
/// The `iss` of a [`Defect::WrongIss`] token.
pub const WRONG_ISS: &str = "https://issuer.invalid";
/// The `nonce` of a [`Defect::WrongNonce`] token.
pub const WRONG_NONCE: &str = "not-the-nonce-you-sent";

/// Everything an ID token says, gathered by the token endpoint.
#[derive(Debug)]
pub struct IdTokenFacts<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user: &'a User,
    pub grant: &'a OidcGrant,
    /// Only the code exchange's token echoes the nonce (OIDC Core §12.2 for refreshes).
    pub with_nonce: bool,
    pub now_ms: u64,
    pub lifetime_secs: u64,
    /// Random, from the caller (generating it could fail, and this module has no errors).
    pub jti: String,
}

/// The claims about the user a grant's scopes allow: `sub` and `account_id` always, `email` and
/// the names when asked for. Shared by the ID token and userinfo.
pub fn user_claims(user: &User, request: &OidcRequest) -> serde_json::Map<String, Value> {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), json!(user.extension_id.to_string()));
    claims.insert("account_id".into(), json!(user.account.id.to_string()));
    if request.email {
        claims.insert("email".into(), json!(user.email));
        claims.insert("email_verified".into(), json!(true));
    }
    if request.profile {
        claims.insert("given_name".into(), json!(user.first_name));
        claims.insert("family_name".into(), json!(user.last_name));
    }
    claims
}

/// The OpenID provider's mutable state: the key ring, the queued defects, and a one-shot `sub`
/// for the next userinfo answer.
#[derive(Debug, Default)]
pub struct Oidc {
    pub keys: KeyRing,
    defects: VecDeque<Defect>,
    next_userinfo_sub: Option<String>,
}

impl Oidc {
    pub fn push_defect(&mut self, defect: Defect) {
        self.defects.push_back(defect);
    }

    pub fn defects(&self) -> Vec<Defect> {
        self.defects.iter().copied().collect()
    }

    pub fn set_next_userinfo_sub(&mut self, sub: String) {
        self.next_userinfo_sub = Some(sub);
    }

    pub fn next_userinfo_sub(&self) -> Option<&str> {
        self.next_userinfo_sub.as_deref()
    }

    /// The `sub` override for this userinfo answer, used up.
    pub fn take_userinfo_sub(&mut self) -> Option<String> {
        self.next_userinfo_sub.take()
    }

    /// Forgets the queued defects and the userinfo override; the keys stay, so tokens a client
    /// already holds still verify.
    pub fn clear(&mut self) {
        self.defects.clear();
        self.next_userinfo_sub = None;
    }

    /// A signed ID token, with the next queued defect (if any) applied and used up.
    pub fn id_token(&mut self, facts: &IdTokenFacts<'_>) -> String {
        let defect = self.defects.pop_front();
        let iat = facts.now_ms / 1000;
        let mut claims = user_claims(facts.user, &facts.grant.request);
        claims.insert("iss".into(), json!(facts.issuer));
        claims.insert("aud".into(), json!(facts.client_id));
        claims.insert("azp".into(), json!(facts.client_id));
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(iat + facts.lifetime_secs));
        claims.insert("auth_time".into(), json!(facts.grant.auth_time_ms / 1000));
        claims.insert("jti".into(), json!(facts.jti));
        if facts.with_nonce
            && let Some(nonce) = &facts.grant.request.nonce
        {
            claims.insert("nonce".into(), json!(nonce));
        }
        match defect {
            Some(Defect::WrongAud) => {
                claims.insert("aud".into(), json!(WRONG_AUD));
            }
            Some(Defect::WrongIss) => {
                claims.insert("iss".into(), json!(WRONG_ISS));
            }
            Some(Defect::WrongNonce) => {
                claims.insert("nonce".into(), json!(WRONG_NONCE));
            }
            Some(Defect::Expired) => {
                let past = iat.saturating_sub(7200);
                claims.insert("iat".into(), json!(past));
                claims.insert("exp".into(), json!(past + 3600));
            }
            _ => {}
        }
        let claims = Value::Object(claims);
        let kid = &self.keys.current.kid;
        let header = |alg: &str, kid: &str| json!({ "alg": alg, "typ": "JWT", "kid": kid });
        match defect {
            Some(Defect::AlgNone) => {
                let header = json!({ "alg": "none", "typ": "JWT" });
                format!("{}.", jose::signing_input(&header, &claims))
            }
            Some(Defect::Hs256) => {
                let input = jose::signing_input(&header("HS256", kid), &claims);
                let mac = jose::hs256(facts.client_id.as_bytes(), &input);
                format!("{input}.{}", jose::b64(&mac))
            }
            Some(Defect::UnknownKid) => {
                let input = jose::signing_input(&header("RS256", STRANGER_KID), &claims);
                let sig = jose::rs256(jose::stranger(), &input);
                format!("{input}.{}", jose::b64(&sig))
            }
            _ => {
                let input = jose::signing_input(&header("RS256", kid), &claims);
                let mut sig = jose::rs256(self.keys.current.key(), &input);
                if defect == Some(Defect::BadSignature)
                    && let Some(last) = sig.last_mut()
                {
                    *last ^= 0x01;
                }
                format!("{input}.{}", jose::b64(&sig))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_is_recognised_among_other_scopes() {
        assert_eq!(OidcRequest::from_scope(None, Some("n")), None);
        assert_eq!(OidcRequest::from_scope(Some("email profile"), None), None);
        assert_eq!(OidcRequest::from_scope(Some("openidx"), None), None);
        let r = OidcRequest::from_scope(Some("ReadAccounts openid email"), Some("n")).unwrap();
        assert_eq!(
            r,
            OidcRequest {
                nonce: Some("n".into()),
                email: true,
                profile: false
            }
        );
    }

    #[test]
    fn defects_are_queued_and_used_once() {
        let mut oidc = Oidc::default();
        oidc.push_defect(Defect::WrongAud);
        oidc.push_defect(Defect::AlgNone);
        assert_eq!(oidc.defects(), [Defect::WrongAud, Defect::AlgNone]);
        oidc.clear();
        assert!(oidc.defects().is_empty());
    }
}
