//! Token endpoint traffic: the form bodies of the code exchange, the refresh and the revocation, and
//! the validated token response.
//!
//! There is no client secret anywhere in these types. A browser app is a public client (RFC 6749
//! §2.1): it proves possession of the code with the PKCE verifier instead.

use serde::Deserialize;
use thiserror::Error;

use crate::error::{ApiError, parse_error_response};
use crate::pkce::CodeVerifier;
use crate::secret::{AccessToken, AuthorizationCode, IdTokenText, RefreshToken, mask};
use crate::time::Timestamp;
use crate::url::form_encode;

/// A token response larger than this is refused unread.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// Lifetimes beyond a year are treated as a broken server, not trusted.
pub const MAX_LIFETIME_SECS: u64 = 365 * 24 * 3600;

/// An `application/x-www-form-urlencoded` request body. Its `Debug` hides the content because it
/// carries a code, verifier or token.
#[derive(Clone, PartialEq, Eq)]
pub struct FormBody(String);

impl FormBody {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for FormBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FormBody(<redacted, {} bytes>)", self.0.len())
    }
}

/// The two grants this client uses at the token endpoint.
#[derive(Debug)]
pub enum TokenRequest {
    /// RFC 6749 §4.1.3 with RFC 7636 §4.5.
    AuthorizationCode {
        code: AuthorizationCode,
        redirect_uri: String,
        verifier: CodeVerifier,
        client_id: String,
    },
    /// RFC 6749 §6.
    Refresh {
        refresh_token: RefreshToken,
        client_id: String,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> &'static str {
        match self {
            Self::AuthorizationCode { .. } => "authorization_code",
            Self::Refresh { .. } => "refresh_token",
        }
    }

    /// The body's parameters with their real values, in the order sent.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        match self {
            Self::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
                client_id,
            } => vec![
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose()),
                ("client_id", client_id),
            ],
            Self::Refresh {
                refresh_token,
                client_id,
            } => vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
                ("client_id", client_id),
            ],
        }
    }

    pub fn form_body(&self) -> FormBody {
        FormBody(form_encode(self.pairs()))
    }

    /// The parameters for the inspector: `(name, value, is_secret)`.
    pub fn display_pairs(&self) -> Vec<(String, String, bool)> {
        self.pairs()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.to_string(),
                    matches!(k, "code" | "code_verifier" | "refresh_token"),
                )
            })
            .collect()
    }
}

/// RFC 7009 revocation. RingCentral ends the whole session whichever of its tokens is revoked.
#[derive(Debug)]
pub enum RevokeRequest {
    Refresh {
        token: RefreshToken,
        client_id: String,
    },
    Access {
        token: AccessToken,
        client_id: String,
    },
}

impl RevokeRequest {
    /// The revocation that ends the grant `tokens` came from: by its refresh token when there is
    /// one, since revoking that ends the whole grant (RFC 7009 §2.1; RingCentral ends the session).
    pub fn for_tokens(tokens: &TokenSet, client_id: &str) -> Self {
        match &tokens.refresh_token {
            Some(token) => Self::Refresh {
                token: token.clone(),
                client_id: client_id.to_string(),
            },
            None => Self::Access {
                token: tokens.access_token.clone(),
                client_id: client_id.to_string(),
            },
        }
    }

    pub fn form_body(&self) -> FormBody {
        let (token, hint, client_id) = match self {
            Self::Refresh { token, client_id } => (token.expose(), "refresh_token", client_id),
            Self::Access { token, client_id } => (token.expose(), "access_token", client_id),
        };
        FormBody(form_encode([
            ("token", token),
            ("token_type_hint", hint),
            ("client_id", client_id),
        ]))
    }
}

/// A validated token response with absolute expiry instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: AccessToken,
    pub issued_at: Timestamp,
    /// Seconds of access-token lifetime as the server stated it.
    pub expires_in: Option<u64>,
    pub expires_at: Option<Timestamp>,
    pub refresh_token: Option<RefreshToken>,
    pub refresh_expires_in: Option<u64>,
    pub refresh_expires_at: Option<Timestamp>,
    pub scope: Option<String>,
    pub owner_id: Option<String>,
    pub endpoint_id: Option<String>,
    /// The OpenID Connect ID token, when the server sent one: checked by the session
    /// ([`crate::id_token`]) and then dropped (its verified claims are the session's identity).
    pub id_token: Option<IdTokenText>,
}

impl TokenSet {
    /// Masked field list for the inspector: `(name, shown value, is_secret, full value)`.
    pub fn display_fields(&self) -> Vec<(String, String, bool, String)> {
        let mut v = vec![(
            "access_token".to_string(),
            mask(self.access_token.expose()),
            true,
            self.access_token.expose().to_string(),
        )];
        v.push(("token_type".into(), "bearer".into(), false, "bearer".into()));
        let mut plain = |k: &str, val: Option<String>| {
            if let Some(val) = val {
                v.push((k.to_string(), val.clone(), false, val));
            }
        };
        plain("expires_in", self.expires_in.map(|s| s.to_string()));
        plain(
            "refresh_token_expires_in",
            self.refresh_expires_in.map(|s| s.to_string()),
        );
        plain("scope", self.scope.clone());
        plain("owner_id", self.owner_id.clone());
        plain("endpoint_id", self.endpoint_id.clone());
        if let Some(rt) = &self.refresh_token {
            v.push((
                "refresh_token".into(),
                mask(rt.expose()),
                true,
                rt.expose().to_string(),
            ));
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenResponseError {
    #[error("the token response is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("the token response is not valid JSON: {0}")]
    NotJson(String),
    #[error("the token response has no `{0}`")]
    Missing(&'static str),
    #[error("the token response's `{field}` is not valid: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("the token type is `{0}`, but this app only uses bearer tokens")]
    NotBearer(String),
}

/// Seconds as RingCentral sends them: a JSON integer, tolerated as a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Int(i128),
    Float(f64),
    Text(String),
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<Seconds>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<Seconds>,
    scope: Option<String>,
    owner_id: Option<serde_json::Value>,
    endpoint_id: Option<String>,
    id_token: Option<String>,
}

fn lifetime(
    field: &'static str,
    value: Option<Seconds>,
) -> Result<Option<u64>, TokenResponseError> {
    let invalid = |problem: String| TokenResponseError::Invalid { field, problem };
    let secs: i128 = match value {
        None => return Ok(None),
        Some(Seconds::Int(i)) => i,
        // Whole floats (serde's form for integers beyond u64 too) are clamped, then range-checked.
        Some(Seconds::Float(f)) if f.is_finite() && f.fract() == 0.0 => {
            f.clamp(-1e30, 1e30) as i128
        }
        Some(Seconds::Float(f)) => {
            // serde_json's number formatting is linked anyway; `{f}` would add core's float
            // formatting (about 9 KB of wasm) for this one message.
            let shown =
                serde_json::Number::from_f64(f).map_or_else(|| "it".into(), |n| n.to_string());
            return Err(invalid(format!("{shown} is not a whole number of seconds")));
        }
        Some(Seconds::Text(t)) => t
            .trim()
            .parse::<i128>()
            // Quoted by hand: `{t:?}` would link the escaping of `Debug for str` for this one message.
            .map_err(|_| invalid(format!("\"{t}\" is not a number")))?,
    };
    if secs <= 0 {
        return Err(invalid(format!(
            "{secs} seconds is not a positive lifetime"
        )));
    }
    if secs > MAX_LIFETIME_SECS as i128 {
        return Err(invalid(format!("{secs} seconds is more than a year")));
    }
    Ok(Some(secs as u64))
}

fn nonempty(field: &'static str, v: Option<String>) -> Result<Option<String>, TokenResponseError> {
    match v {
        Some(s) if s.is_empty() => Err(TokenResponseError::Invalid {
            field,
            problem: "it is empty".into(),
        }),
        other => Ok(other),
    }
}

fn token_chars(field: &'static str, s: &str) -> Result<(), TokenResponseError> {
    // RFC 6750 b64token plus what real servers use; anything else could break a header or a form.
    if s.chars().all(|c| c.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(TokenResponseError::Invalid {
            field,
            problem: "it contains spaces or non-ASCII characters".into(),
        })
    }
}

/// Parses and validates a token endpoint success body. `now` is when the response arrived; expiry
/// instants are computed from it.
pub fn parse_token_response(body: &[u8], now: Timestamp) -> Result<TokenSet, TokenResponseError> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(TokenResponseError::TooLarge);
    }
    let raw: RawTokenResponse =
        serde_json::from_slice(body).map_err(|e| TokenResponseError::NotJson(e.to_string()))?;
    let access = nonempty("access_token", raw.access_token)?
        .ok_or(TokenResponseError::Missing("access_token"))?;
    token_chars("access_token", &access)?;
    let token_type = raw
        .token_type
        .ok_or(TokenResponseError::Missing("token_type"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenResponseError::NotBearer(token_type));
    }
    let expires_in = lifetime("expires_in", raw.expires_in)?;
    let refresh_expires_in = lifetime("refresh_token_expires_in", raw.refresh_token_expires_in)?;
    let refresh = nonempty("refresh_token", raw.refresh_token)?;
    if let Some(r) = &refresh {
        token_chars("refresh_token", r)?;
    }
    let owner_id = match raw.owner_id {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(TokenResponseError::Invalid {
                field: "owner_id",
                problem: "it is not a string".into(),
            });
        }
    };
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        issued_at: now,
        expires_in,
        expires_at: expires_in.map(|s| now.plus_secs(s)),
        refresh_expires_in: refresh.as_ref().and(refresh_expires_in),
        refresh_expires_at: refresh
            .as_ref()
            .and(refresh_expires_in.map(|s| now.plus_secs(s))),
        refresh_token: refresh.map(RefreshToken::new),
        scope: raw.scope.filter(|s| !s.trim().is_empty()),
        owner_id,
        endpoint_id: raw.endpoint_id,
        id_token: nonempty("id_token", raw.id_token)?.map(IdTokenText::new),
    })
}

/// What a token endpoint's answer means: the validated tokens of a 2xx answer, or the error of
/// any other (RFC 6749 §5.2). The app's driver and the simulator's page both read answers here.
// The session's `Event::TokenResponse` carries exactly this `Result`, by value.
#[allow(clippy::result_large_err)]
pub fn read_token_answer(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<TokenSet, ApiError> {
    if (200..300).contains(&status) {
        parse_token_response(body, now).map_err(|e| ApiError::bad_response(status, e.to_string()))
    } else {
        Err(parse_error_response(status, retry_after, body, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_is_tokens_or_the_error_it_carries() {
        let ok = br#"{"access_token":"x","token_type":"bearer","expires_in":60}"#;
        assert_eq!(
            read_token_answer(200, None, ok, NOW)
                .unwrap()
                .access_token
                .expose(),
            "x"
        );
        let bad = read_token_answer(200, None, b"{}", NOW).unwrap_err();
        assert_eq!(bad.kind, crate::error::ErrorKind::BadResponse);
        assert_eq!(bad.status, Some(200));
        let refused = br#"{"error":"invalid_grant","error_description":"gone"}"#;
        assert_eq!(
            read_token_answer(400, None, refused, NOW).unwrap_err(),
            parse_error_response(400, None, refused, NOW)
        );
        assert_eq!(
            read_token_answer(503, Some("7"), b"", NOW).unwrap_err(),
            parse_error_response(503, Some("7"), b"", NOW)
        );
    }
    use crate::url::parse_query;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

    fn verifier() -> CodeVerifier {
        CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap()
    }

    #[test]
    fn code_exchange_body() {
        let r = TokenRequest::AuthorizationCode {
            code: AuthorizationCode::new("U1p/Code+"),
            redirect_uri: "http://localhost:5000/oauth2callback".into(),
            verifier: verifier(),
            client_id: "rc-pkce-demo".into(),
        };
        let body = r.form_body();
        assert_eq!(
            parse_query(body.expose()),
            vec![
                ("grant_type".to_string(), "authorization_code".to_string()),
                ("code".into(), "U1p/Code+".into()),
                (
                    "redirect_uri".into(),
                    "http://localhost:5000/oauth2callback".into()
                ),
                (
                    "code_verifier".into(),
                    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into()
                ),
                ("client_id".into(), "rc-pkce-demo".into()),
            ]
        );
        assert!(!body.expose().contains("secret"));
        assert!(!format!("{body:?}").contains("dBjf"));
        assert!(!format!("{r:?}").contains("dBjf"));
        let shown = r.display_pairs();
        assert!(
            shown
                .iter()
                .any(|(k, _, secret)| k == "code_verifier" && *secret)
        );
        assert!(
            shown
                .iter()
                .any(|(k, _, secret)| k == "client_id" && !*secret)
        );
    }

    #[test]
    fn refresh_and_revoke_bodies() {
        let r = TokenRequest::Refresh {
            refresh_token: RefreshToken::new("R&T"),
            client_id: "c".into(),
        };
        assert_eq!(
            r.form_body().expose(),
            "grant_type=refresh_token&refresh_token=R%26T&client_id=c"
        );
        assert_eq!(r.grant_type(), "refresh_token");
        let v = RevokeRequest::Refresh {
            token: RefreshToken::new("R"),
            client_id: "c".into(),
        };
        assert_eq!(
            v.form_body().expose(),
            "token=R&token_type_hint=refresh_token&client_id=c"
        );
        let a = RevokeRequest::Access {
            token: AccessToken::new("A"),
            client_id: "c".into(),
        };
        assert_eq!(
            a.form_body().expose(),
            "token=A&token_type_hint=access_token&client_id=c"
        );
    }

    #[test]
    fn ringcentral_response() {
        let body = br#"{"access_token":"AT","token_type":"bearer","expires_in":3600,"refresh_token":"RT",
            "refresh_token_expires_in":604800,"scope":"ReadAccounts ReadCallLog","owner_id":"62264425016",
            "endpoint_id":"p7GZlEVHRwKDwbx6UkH0YQ","session_id":"s","unknown_future_field":{"x":1}}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.access_token.expose(), "AT");
        assert_eq!(t.expires_at, Some(NOW.plus_secs(3600)));
        assert_eq!(t.refresh_token.as_ref().unwrap().expose(), "RT");
        assert_eq!(t.refresh_expires_at, Some(NOW.plus_secs(604800)));
        assert_eq!(t.scope.as_deref(), Some("ReadAccounts ReadCallLog"));
        assert_eq!(t.owner_id.as_deref(), Some("62264425016"));
        assert_eq!(t.endpoint_id.as_deref(), Some("p7GZlEVHRwKDwbx6UkH0YQ"));
        assert!(!format!("{t:?}").contains("\"AT\""));
    }

    #[test]
    fn minimal_response_and_tolerated_variants() {
        let t =
            parse_token_response(br#"{"access_token":"x","token_type":"Bearer"}"#, NOW).unwrap();
        assert_eq!(t.expires_at, None);
        assert!(t.refresh_token.is_none());
        let t = parse_token_response(
            br#"{"access_token":"x","token_type":"BEARER","expires_in":"7199","owner_id":123}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(7199));
        assert_eq!(t.owner_id.as_deref(), Some("123"));
        let t = parse_token_response(
            br#"{"access_token":"x","token_type":"bearer","expires_in":3600.0}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(t.expires_in, Some(3600));
    }

    #[test]
    fn refresh_lifetime_without_a_refresh_token_is_ignored() {
        let t = parse_token_response(
            br#"{"access_token":"x","token_type":"bearer","refresh_token_expires_in":5}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(t.refresh_expires_at, None);
    }

    #[test]
    fn bad_responses_say_what_is_wrong() {
        use TokenResponseError::*;
        let cases: &[(&[u8], TokenResponseError)] = &[
            (br#"{"token_type":"bearer"}"#, Missing("access_token")),
            (br#"{"access_token":"","token_type":"bearer"}"#, Invalid { field: "access_token", problem: "it is empty".into() }),
            (br#"{"access_token":"x"}"#, Missing("token_type")),
            (br#"{"access_token":"x","token_type":"mac"}"#, NotBearer("mac".into())),
            (
                br#"{"access_token":"x","token_type":"bearer","expires_in":-5}"#,
                Invalid { field: "expires_in", problem: "-5 seconds is not a positive lifetime".into() },
            ),
            (
                br#"{"access_token":"x","token_type":"bearer","expires_in":0}"#,
                Invalid { field: "expires_in", problem: "0 seconds is not a positive lifetime".into() },
            ),
            (
                br#"{"access_token":"x","token_type":"bearer","expires_in":31536001}"#,
                Invalid { field: "expires_in", problem: "31536001 seconds is more than a year".into() },
            ),
            (
                br#"{"access_token":"x","token_type":"bearer","refresh_token":"r","refresh_token_expires_in":99999999999}"#,
                Invalid { field: "refresh_token_expires_in", problem: "99999999999 seconds is more than a year".into() },
            ),
            (
                br#"{"access_token":"a b","token_type":"bearer"}"#,
                Invalid { field: "access_token", problem: "it contains spaces or non-ASCII characters".into() },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                &parse_token_response(body, NOW).unwrap_err(),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse_token_response(b"<html>", NOW),
            Err(NotJson(_))
        ));
        assert_eq!(
            parse_token_response(
                br#"{"access_token":"x","token_type":"bearer","expires_in":1.5}"#,
                NOW
            )
            .unwrap_err()
            .to_string(),
            "the token response's `expires_in` is not valid: 1.5 is not a whole number of seconds"
        );
        assert_eq!(
            parse_token_response(
                br#"{"access_token":"x","token_type":"bearer","expires_in":"soon"}"#,
                NOW
            )
            .unwrap_err()
            .to_string(),
            "the token response's `expires_in` is not valid: \"soon\" is not a number"
        );
        assert!(matches!(
            parse_token_response(
                br#"{"access_token":"x","token_type":"bearer","expires_in":1e300}"#,
                NOW
            ),
            Err(Invalid {
                field: "expires_in",
                ..
            })
        ));
        assert!(matches!(
            parse_token_response(br#"{"access_token":"x","token_type":"bearer","expires_in":340282366920938463463374607431768211456}"#, NOW),
            Err(Invalid { field: "expires_in", .. })
        ));
        let huge = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
        assert_eq!(parse_token_response(&huge, NOW), Err(TooLarge));
    }

    #[test]
    fn display_fields_mask_tokens() {
        let t = parse_token_response(
            br#"{"access_token":"AAAAAAAAAAAAAAAAAAAAAAAA","token_type":"bearer","refresh_token":"RRRRRRRRRRRRRRRRRRRRRR"}"#,
            NOW,
        )
        .unwrap();
        for (name, shown, secret, full) in t.display_fields() {
            if secret {
                assert_ne!(shown, full, "{name}");
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_token_response(&body, NOW);
        }

        #[test]
        fn never_panics_on_arbitrary_json_values(expires in any::<i64>(), rt in any::<i64>(), tt in ".*") {
            let body = format!(r#"{{"access_token":"x","token_type":{},"expires_in":{expires},"refresh_token":"r","refresh_token_expires_in":{rt}}}"#,
                serde_json::to_string(&tt).unwrap());
            if let Ok(t) = parse_token_response(body.as_bytes(), NOW) {
                prop_assert!(t.expires_at.unwrap() > NOW);
                prop_assert!(t.expires_in.unwrap() <= MAX_LIFETIME_SECS);
            }
        }
    }
}
