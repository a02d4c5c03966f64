//! Versioned serialisation of what the app keeps in storage: the signed-in session, the pending
//! authorization, the inspector record, and why the last session ended.
//!
//! Every record carries a format version `v`. A record from an older or newer version, or one that
//! is damaged, decodes to a [`RecordError`] whose text says what happened; the app then deletes it
//! and tells the user. Nothing read from storage is trusted further than this module checked it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::authorize::{PendingAuthorization, StateToken};
use crate::binding::ServerBinding;
use crate::error::{ApiError, oauth_kind};
use crate::id_token::{CHECKS, Claims, Refusal};
use crate::inspector::Inspector;
use crate::pkce::CodeVerifier;
use crate::secret::{AccessToken, RefreshToken};
use crate::session::{Notice, StoredSession};
use crate::tab_key::TabKey;
use crate::time::Timestamp;
use crate::token::TokenSet;

/// Current format versions. Bump when a stored shape changes.
/// Version 2 added the tab key and the server binding to both.
pub const SESSION_VERSION: u32 = 2;
pub const PENDING_VERSION: u32 = 2;
pub const INSPECTOR_VERSION: u32 = 1;
pub const ENDED_VERSION: u32 = 1;
/// Stored records larger than this are not parsed.
pub const MAX_RECORD_BYTES: usize = 128 * 1024;
/// A session generation above this is refused as damaged: a refresh a second for a hundred
/// million years stays below it, and so the `+ 1` of a refresh can never overflow.
pub const MAX_GENERATION: u64 = 1 << 53;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("the saved {what} was damaged ({detail}) and was deleted")]
    Corrupt { what: &'static str, detail: String },
    #[error("the saved {what} came from an older version of this app and was deleted")]
    Outdated { what: &'static str, found: u32 },
    #[error("the saved {what} came from a newer version of this app and was deleted")]
    Newer { what: &'static str, found: u32 },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    #[serde(flatten)]
    body: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    v: Option<u32>,
}

fn encode<T: Serialize>(version: u32, body: T) -> String {
    serde_json::to_string(&Envelope { v: version, body }).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(
    what: &'static str,
    version: u32,
    text: &str,
) -> Result<T, RecordError> {
    let corrupt = |detail: String| RecordError::Corrupt { what, detail };
    if text.len() > MAX_RECORD_BYTES {
        return Err(corrupt(format!("larger than {MAX_RECORD_BYTES} bytes")));
    }
    let found = serde_json::from_str::<VersionOnly>(text)
        .map_err(|e| corrupt(e.to_string()))?
        .v
        .ok_or_else(|| corrupt("no version".into()))?;
    if found < version {
        return Err(RecordError::Outdated { what, found });
    }
    if found > version {
        return Err(RecordError::Newer { what, found });
    }
    serde_json::from_str::<Envelope<T>>(text)
        .map(|e| e.body)
        .map_err(|e| corrupt(e.to_string()))
}

#[derive(Serialize, Deserialize)]
struct SessionV2 {
    grant_id: String,
    generation: u64,
    tab_key: String,
    binding: ServerBinding,
    access_token: AccessToken,
    issued_at: Timestamp,
    expires_in: Option<u64>,
    expires_at: Option<Timestamp>,
    refresh_token: Option<RefreshToken>,
    refresh_expires_in: Option<u64>,
    refresh_expires_at: Option<Timestamp>,
    scope: Option<String>,
    owner_id: Option<String>,
    endpoint_id: Option<String>,
    /// The verified ID token's claims (OpenID Connect sign-ins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    identity: Option<Claims>,
}

pub fn encode_session(s: &StoredSession) -> String {
    let t = &s.tokens;
    encode(
        SESSION_VERSION,
        SessionV2 {
            grant_id: s.grant_id.clone(),
            generation: s.generation,
            tab_key: s.tab_key.to_text(),
            binding: s.binding.clone(),
            access_token: t.access_token.clone(),
            issued_at: t.issued_at,
            expires_in: t.expires_in,
            expires_at: t.expires_at,
            refresh_token: t.refresh_token.clone(),
            refresh_expires_in: t.refresh_expires_in,
            refresh_expires_at: t.refresh_expires_at,
            scope: t.scope.clone(),
            owner_id: t.owner_id.clone(),
            endpoint_id: t.endpoint_id.clone(),
            identity: s.identity.clone(),
        },
    )
}

pub fn decode_session(text: &str) -> Result<StoredSession, RecordError> {
    let r: SessionV2 = decode("session", SESSION_VERSION, text)?;
    let corrupt = |detail: &str| RecordError::Corrupt {
        what: "session",
        detail: detail.into(),
    };
    if r.access_token.is_empty() || r.grant_id.is_empty() {
        return Err(corrupt("empty token or grant"));
    }
    if r.refresh_token.as_ref().is_some_and(|t| t.is_empty()) {
        return Err(corrupt("empty refresh token"));
    }
    if r.expires_at.is_some_and(|e| e < r.issued_at) {
        return Err(corrupt("expiry before issue"));
    }
    if r.generation > MAX_GENERATION {
        return Err(corrupt("generation out of range"));
    }
    let tab_key = TabKey::from_text(&r.tab_key).ok_or_else(|| corrupt("bad tab key"))?;
    Ok(StoredSession {
        grant_id: r.grant_id,
        generation: r.generation,
        tab_key,
        binding: r.binding,
        tokens: TokenSet {
            access_token: r.access_token,
            issued_at: r.issued_at,
            expires_in: r.expires_in,
            expires_at: r.expires_at,
            refresh_token: r.refresh_token,
            refresh_expires_in: r.refresh_expires_in,
            refresh_expires_at: r.refresh_expires_at,
            scope: r.scope,
            owner_id: r.owner_id,
            endpoint_id: r.endpoint_id,
            id_token: None,
        },
        identity: r.identity,
    })
}

#[derive(Serialize)]
struct PendingOut<'a> {
    state: &'a str,
    verifier: &'a str,
    redirect_uri: &'a str,
    tab_key: String,
    binding: &'a ServerBinding,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

#[derive(Deserialize)]
struct PendingIn {
    state: String,
    verifier: CodeVerifier,
    redirect_uri: String,
    tab_key: String,
    binding: ServerBinding,
    created_at: Timestamp,
    #[serde(default)]
    nonce: Option<String>,
}

pub fn encode_pending(p: &PendingAuthorization) -> String {
    encode(
        PENDING_VERSION,
        PendingOut {
            state: p.state.expose(),
            verifier: p.verifier.expose(),
            redirect_uri: &p.redirect_uri,
            tab_key: p.tab_key.to_text(),
            binding: &p.binding,
            created_at: p.created_at,
            nonce: p.nonce.as_ref().map(StateToken::expose),
        },
    )
}

pub fn decode_pending(text: &str) -> Result<PendingAuthorization, RecordError> {
    let r: PendingIn = decode("sign-in in progress", PENDING_VERSION, text)?;
    if r.state.len() < 22 {
        return Err(RecordError::Corrupt {
            what: "sign-in in progress",
            detail: "state too short".into(),
        });
    }
    let tab_key = TabKey::from_text(&r.tab_key).ok_or_else(|| RecordError::Corrupt {
        what: "sign-in in progress",
        detail: "bad tab key".into(),
    })?;
    Ok(PendingAuthorization {
        state: StateToken::from_stored(r.state),
        verifier: r.verifier,
        redirect_uri: r.redirect_uri,
        tab_key,
        binding: r.binding,
        created_at: r.created_at,
        nonce: r.nonce.map(StateToken::from_stored),
    })
}

pub fn encode_inspector(i: &Inspector) -> String {
    encode(INSPECTOR_VERSION, i)
}

pub fn decode_inspector(text: &str) -> Result<Inspector, RecordError> {
    decode("inspector record", INSPECTOR_VERSION, text)
}

/// The record for `notice`, if it is one that a reload must still show (a session that ended for
/// a reason the user did not choose). A refused refresh is kept as the server's words (its OAuth
/// error, code, message and status) and read back into the same [`ApiError`]. The record is flat,
/// so it is form-encoded (`v=1&reason=ended&error=invalid_grant…`) rather than JSON: that costs
/// the app no serialiser of its own.
pub fn encode_ended(notice: &Notice) -> Option<String> {
    if let Notice::RefreshedIdTokenRefused(refusal) = notice {
        // Kept as it was shown: the check and the sentence.
        let version = ENDED_VERSION.to_string();
        let text = refusal.to_string();
        return Some(crate::url::form_encode([
            ("v", version.as_str()),
            ("reason", "id_token_refused"),
            ("check", refusal.check()),
            ("message", text.as_str()),
        ]));
    }
    let (reason, error) = match notice {
        Notice::SessionEnded(e) => ("ended", Some(e)),
        Notice::RefreshLostInTransit(e) => ("lost_in_transit", Some(e)),
        Notice::SessionExpired => ("expired", None),
        Notice::NoRefreshToken => ("no_refresh_token", None),
        _ => return None,
    };
    let version = ENDED_VERSION.to_string();
    let status = error.and_then(|e| e.status).map(|s| s.to_string());
    let mut pairs = vec![("v", version.as_str()), ("reason", reason)];
    if let Some(e) = error {
        let fields = [
            ("error", e.oauth_error.as_deref()),
            ("code", e.code.as_deref()),
            ("message", e.server_message.as_deref()),
            ("status", status.as_deref()),
        ];
        pairs.extend(fields.into_iter().filter_map(|(k, v)| Some((k, v?))));
    }
    Some(crate::url::form_encode(pairs))
}

pub fn decode_ended(text: &str) -> Result<Notice, RecordError> {
    const WHAT: &str = "end of the last session";
    let corrupt = |detail: &str| RecordError::Corrupt {
        what: WHAT,
        detail: detail.into(),
    };
    if text.len() > MAX_RECORD_BYTES {
        return Err(corrupt("too large"));
    }
    let pairs = crate::url::parse_query(text);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let found: u32 = get("v")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| corrupt("no version"))?;
    if found < ENDED_VERSION {
        return Err(RecordError::Outdated { what: WHAT, found });
    }
    if found > ENDED_VERSION {
        return Err(RecordError::Newer { what: WHAT, found });
    }
    let refusal = get("error").map(|e| ApiError {
        oauth_error: Some(e.to_string()),
        code: get("code").map(str::to_string),
        server_message: get("message").map(str::to_string),
        status: get("status").and_then(|s| s.parse().ok()),
        ..ApiError::new(oauth_kind(e))
    });
    if get("reason") == Some("id_token_refused") {
        let check = get("check").and_then(|c| CHECKS.iter().find(|k| **k == c));
        return match (check, get("message")) {
            (Some(check), Some(text)) => Ok(Notice::RefreshedIdTokenRefused(Refusal::Recorded {
                check,
                text: text.to_string(),
            })),
            _ => Err(corrupt("an ID token refusal without its check")),
        };
    }
    match (get("reason"), refusal) {
        (Some("ended"), Some(e)) => Ok(Notice::SessionEnded(e)),
        (Some("lost_in_transit"), Some(e)) => Ok(Notice::RefreshLostInTransit(e)),
        (Some("expired"), None) => Ok(Notice::SessionExpired),
        (Some("no_refresh_token"), None) => Ok(Notice::NoRefreshToken),
        _ => Err(corrupt("unknown reason")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::{AuthorizeRequest, start};
    use crate::random::testing::SeededEntropy;
    use crate::token::parse_token_response;
    use proptest::prelude::*;

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn session() -> StoredSession {
        let tokens = parse_token_response(
            br#"{"access_token":"AT","token_type":"bearer","expires_in":3600,"refresh_token":"RT","refresh_token_expires_in":604800,"scope":"ReadAccounts","owner_id":"1","endpoint_id":"e"}"#,
            T0,
        )
        .unwrap();
        StoredSession {
            grant_id: "g1".into(),
            generation: 4,
            tab_key: TabKey::from_bytes([5; crate::tab_key::TAB_KEY_BYTES]),
            binding: binding(),
            tokens,
            identity: None,
        }
    }

    fn pending() -> PendingAuthorization {
        let r = AuthorizeRequest {
            endpoint: "https://h/a".into(),
            client_id: "c".into(),
            redirect_uri: "https://app/cb".into(),
            ..Default::default()
        };
        start(&r, &binding(), &mut SeededEntropy(3), T0)
            .unwrap()
            .pending
    }

    fn binding() -> ServerBinding {
        ServerBinding {
            client_id: "c".into(),
            token_endpoint: "https://h/t".into(),
            revoke_endpoint: "https://h/r".into(),
            api_base: "https://h/api".into(),
            issuer: Some("https://h".into()),
            iss_optional: false,
        }
    }

    #[test]
    fn session_round_trips() {
        let s = session();
        let text = encode_session(&s);
        assert!(text.starts_with(r#"{"v":2,"#));
        assert_eq!(decode_session(&text).unwrap(), s);
    }

    #[test]
    fn pending_round_trips() {
        let p = pending();
        let back = decode_pending(&encode_pending(&p)).unwrap();
        assert_eq!(back, p);
        assert!(!encode_pending(&p).contains("nonce"));
    }

    #[test]
    fn an_openid_sign_in_keeps_its_nonce_and_its_session_the_verified_identity() {
        let r = AuthorizeRequest {
            endpoint: "https://h/a".into(),
            client_id: "c".into(),
            redirect_uri: "https://app/cb".into(),
            openid: true,
            ..Default::default()
        };
        let p = start(&r, &binding(), &mut SeededEntropy(3), T0)
            .unwrap()
            .pending;
        assert!(p.nonce.is_some());
        assert_eq!(decode_pending(&encode_pending(&p)).unwrap(), p);
        let claims: Claims = serde_json::from_str(
            r#"{"iss":"https://h","sub":"101","aud":["c"],"exp":1,"iat":1,"email":"a@b","account_id":37}"#,
        )
        .unwrap();
        let s = StoredSession {
            identity: Some(claims),
            ..session()
        };
        let back = decode_session(&encode_session(&s)).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.identity.unwrap().sub, "101");
    }

    #[test]
    fn versions_are_checked() {
        let text = encode_session(&session());
        let old = text.replacen(r#""v":2"#, r#""v":1"#, 1);
        assert_eq!(
            decode_session(&old),
            Err(RecordError::Outdated {
                what: "session",
                found: 1
            })
        );
        let newer = text.replacen(r#""v":2"#, r#""v":7"#, 1);
        assert_eq!(
            decode_session(&newer),
            Err(RecordError::Newer {
                what: "session",
                found: 7
            })
        );
        let unversioned = r#"{"grant_id":"g"}"#;
        assert!(matches!(
            decode_session(unversioned),
            Err(RecordError::Corrupt { .. })
        ));
    }

    #[test]
    fn damaged_records_are_reported_not_trusted() {
        for bad in [
            "",
            "null",
            "[]",
            "{",
            r#"{"v":1}"#,
            r#"{"v":"1"}"#,
            r#"{"v":1,"grant_id":"g","generation":0,"access_token":"","issued_at":0}"#,
        ] {
            let e = decode_session(bad).unwrap_err();
            assert!(e.to_string().contains("deleted"), "{bad}: {e}");
        }
        let short_verifier =
            encode_pending(&pending()).replace(pending().verifier.expose(), "short");
        assert!(matches!(
            decode_pending(&short_verifier),
            Err(RecordError::Corrupt { .. })
        ));
        let huge = format!(r#"{{"v":1,"x":"{}"}}"#, "a".repeat(MAX_RECORD_BYTES));
        assert!(matches!(
            decode_session(&huge),
            Err(RecordError::Corrupt { .. })
        ));
    }

    #[test]
    fn user_text_names_the_record() {
        let e = decode_pending("{").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the saved sign-in in progress was damaged")
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(text in ".*") {
            let _ = decode_session(&text);
            let _ = decode_pending(&text);
            let _ = decode_inspector(&text);
        }

        #[test]
        fn decoders_never_panic_on_versioned_junk(text in ".*") {
            let doc = format!(r#"{{"v":1,"grant_id":{},"generation":0,"access_token":"x","issued_at":0}}"#, serde_json::to_string(&text).unwrap());
            let _ = decode_session(&doc);
        }
    }

    #[test]
    fn the_end_of_a_session_round_trips_and_only_for_ends_the_user_did_not_choose() {
        let refused = crate::error::parse_error_response(
            400,
            None,
            br#"{"error":"invalid_grant","error_description":"Token is revoked"}"#,
            Timestamp::from_secs(1),
        );
        let ringcentral = crate::error::parse_error_response(
            400,
            None,
            br#"{"error":"invalid_grant","errors":[{"errorCode":"OAU-213","message":"Token not found"}]}"#,
            Timestamp::from_secs(1),
        );
        for notice in [
            Notice::SessionEnded(ringcentral),
            Notice::SessionEnded(refused.clone()),
            Notice::RefreshLostInTransit(refused.clone()),
            Notice::SessionExpired,
            Notice::NoRefreshToken,
        ] {
            let text = encode_ended(&notice).unwrap();
            assert_eq!(decode_ended(&text).unwrap(), notice);
        }
        assert_eq!(encode_ended(&Notice::SignedOutInAnotherTab), None);
        assert_eq!(encode_ended(&Notice::AlreadySignedIn), None);
        // A refresh's refused ID token is read back as it was shown: its check and sentence.
        let refusal = Refusal::Token(crate::id_token::IdTokenError::ChangedOnRefresh(
            "subject (sub)",
        ));
        let text = encode_ended(&Notice::RefreshedIdTokenRefused(refusal.clone())).unwrap();
        let Notice::RefreshedIdTokenRefused(back) = decode_ended(&text).unwrap() else {
            panic!("another notice");
        };
        assert_eq!(
            (back.check(), back.to_string()),
            (refusal.check(), refusal.to_string())
        );
        assert!(decode_ended("v=1&reason=id_token_refused&check=bogus&message=x").is_err());
        assert_eq!(
            encode_ended(&Notice::IdTokenRefused(Refusal::BadSignature)),
            None,
            "a refused sign-in is shown where it happens, and ends no session"
        );
        assert!(decode_ended("v=1&reason=ended").is_err(), "no refusal");
        assert!(decode_ended("v=1&reason=bored").is_err());
        assert!(decode_ended("reason=expired").is_err(), "no version");
        assert!(matches!(
            decode_ended("v=2&reason=expired"),
            Err(RecordError::Newer { .. })
        ));
        assert!(matches!(
            decode_ended("v=0&reason=expired"),
            Err(RecordError::Outdated { .. })
        ));
    }
}
