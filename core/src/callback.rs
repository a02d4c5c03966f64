//! The authorization callback: from the full URL the browser landed on to one typed outcome, or a
//! typed reason to refuse it.
//!
//! This is where a forged, replayed or mixed-up callback is stopped before any token request is
//! made: the `state` must match a pending authorization of this tab that has not expired, and the
//! `iss` must match the configured issuer when one is configured (RFC 9207).

use thiserror::Error;

use crate::authorize::PendingAuthorization;
use crate::binding::BindingField;
use crate::secret::AuthorizationCode;
use crate::time::Timestamp;
use crate::url::{parse_query, query_of};

/// A callback URL longer than this is refused unread: no honest server sends one.
pub const MAX_CALLBACK_URL_LEN: usize = 8 * 1024;

/// What the authorization server said, once the callback has passed every check.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// The user approved: exchange `code` (with the pending verifier) for tokens.
    Code {
        code: AuthorizationCode,
        state: String,
        iss: Option<String>,
    },
    /// The server reported an error (RFC 6749 §4.1.2.1), e.g. the user chose Deny.
    Error {
        error: String,
        description: Option<String>,
        uri: Option<String>,
        state: Option<String>,
    },
}

/// Why a callback was refused. Each one means: no token request is sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallbackRejection {
    #[error("the sign-in response has no parameters")]
    NoParameters,
    #[error("the sign-in response is too long to be genuine")]
    TooLong,
    #[error("the sign-in response repeats the parameter `{0}`")]
    DuplicateParameter(String),
    #[error("the sign-in response carries both a code and an error")]
    CodeAndError,
    #[error("the sign-in response carries neither a code nor an error")]
    NoCodeOrError,
    #[error("the sign-in response has an empty code")]
    EmptyCode,
    #[error("this tab did not start a sign-in, or its sign-in was already completed")]
    NoPendingAuthorization,
    #[error("the sign-in took longer than 10 minutes and has expired")]
    PendingExpired,
    #[error("the sign-in response has no state parameter")]
    StateMissing,
    #[error("the sign-in response's state does not match the sign-in this tab started")]
    StateMismatch,
    #[error(
        "the sign-in response names no issuer, but this app is configured to require `{expected}`"
    )]
    IssuerMissing { expected: String },
    #[error("the sign-in response comes from issuer `{got}`, not the configured `{expected}`")]
    IssuerMismatch { expected: String, got: String },
    /// The sign-in was started with another configuration (Settings changed in another tab, or
    /// `config.json` was redeployed): its code and verifier are not sent to the new server.
    #[error(
        "this sign-in was started for another server: `{}` has changed in the configuration since",
        .0.config_key()
    )]
    ServerChanged(BindingField),
}

impl CallbackRejection {
    /// What the user should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Self::NoPendingAuthorization | Self::StateMissing | Self::StateMismatch => {
                "Someone may have sent you a sign-in link they started themselves. Start a new sign-in from this app."
            }
            Self::PendingExpired => "Start the sign-in again and finish it within 10 minutes.",
            Self::IssuerMissing { .. } | Self::IssuerMismatch { .. } => {
                "The response may come from a different server than the one configured. Check the `issuer` in config.json, then sign in again."
            }
            Self::ServerChanged(_) => {
                "Nothing was sent to the server configured now. Start a new sign-in from this app."
            }
            _ => "The address may have been altered. Start a new sign-in from this app.",
        }
    }

    /// True when the rejection says the callback was aimed at this tab's pending sign-in, so the
    /// pending record must be dropped (it cannot succeed any more).
    pub fn consumes_pending(&self) -> bool {
        matches!(
            self,
            Self::PendingExpired
                | Self::IssuerMissing { .. }
                | Self::IssuerMismatch { .. }
                | Self::ServerChanged(_)
        )
    }
}

const SINGLE_VALUED: [&str; 6] = [
    "code",
    "state",
    "error",
    "error_description",
    "error_uri",
    "iss",
];

/// Checks a callback URL against the pending authorization and the expected issuer.
///
/// `pending` is this tab's record (if any); `expected_issuer` is the configured `issuer`.
pub fn parse_callback(
    url: &str,
    pending: Option<&PendingAuthorization>,
    expected_issuer: Option<&str>,
    now: Timestamp,
) -> Result<CallbackOutcome, CallbackRejection> {
    if url.len() > MAX_CALLBACK_URL_LEN {
        return Err(CallbackRejection::TooLong);
    }
    let params = query_of(url).map(parse_query).unwrap_or_default();
    if params.is_empty() {
        return Err(CallbackRejection::NoParameters);
    }
    for name in SINGLE_VALUED {
        if params.iter().filter(|(k, _)| k == name).count() > 1 {
            return Err(CallbackRejection::DuplicateParameter(name.to_string()));
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let code = get("code");
    let error = get("error");
    let state = get("state");
    let iss = get("iss");
    match (&code, &error) {
        (Some(_), Some(_)) => return Err(CallbackRejection::CodeAndError),
        (None, None) => return Err(CallbackRejection::NoCodeOrError),
        _ => {}
    }

    let pending = pending.ok_or(CallbackRejection::NoPendingAuthorization)?;
    let received_state = state.as_deref().ok_or(CallbackRejection::StateMissing)?;
    if !pending.state.matches(received_state) {
        return Err(CallbackRejection::StateMismatch);
    }
    if pending.is_expired(now) {
        return Err(CallbackRejection::PendingExpired);
    }
    if let Some(expected) = expected_issuer {
        match iss.as_deref() {
            None => {
                return Err(CallbackRejection::IssuerMissing {
                    expected: expected.to_string(),
                });
            }
            Some(got) if got != expected => {
                return Err(CallbackRejection::IssuerMismatch {
                    expected: expected.to_string(),
                    got: got.to_string(),
                });
            }
            Some(_) => {}
        }
    }

    match (code, error) {
        (Some(code), None) => {
            if code.is_empty() {
                return Err(CallbackRejection::EmptyCode);
            }
            Ok(CallbackOutcome::Code {
                code: AuthorizationCode::new(code),
                state: received_state.to_string(),
                iss,
            })
        }
        (None, Some(error)) => Ok(CallbackOutcome::Error {
            error,
            description: get("error_description"),
            uri: get("error_uri"),
            state,
        }),
        _ => Err(CallbackRejection::NoCodeOrError),
    }
}

/// Whether the callback URL carries an `iss` parameter (RFC 9207).
pub fn names_issuer(url: &str) -> bool {
    query_of(url)
        .map(parse_query)
        .is_some_and(|params| params.iter().any(|(k, _)| k == "iss"))
}

/// True when the URL carries OAuth response parameters, so the address bar must be cleaned even
/// when the callback is refused.
pub fn carries_response_parameters(url: &str) -> bool {
    query_of(url).map(parse_query).is_some_and(|p| {
        p.iter()
            .any(|(k, _)| matches!(k.as_str(), "code" | "state" | "error" | "iss"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorize::{AuthorizeRequest, start};
    use crate::random::testing::SeededEntropy;
    use crate::url::form_encode;
    use proptest::prelude::*;

    const CB: &str = "http://localhost:5000/oauth2callback";
    const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

    fn pending() -> PendingAuthorization {
        let r = AuthorizeRequest {
            endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
            client_id: "rc-pkce-demo".into(),
            redirect_uri: CB.into(),
            ..Default::default()
        };
        start(
            &r,
            &crate::binding::ServerBinding::default(),
            &mut SeededEntropy(42),
            T0,
        )
        .unwrap()
        .pending
    }

    fn url(pairs: &[(&str, &str)]) -> String {
        format!("{CB}?{}", form_encode(pairs.iter().copied()))
    }

    fn check(
        pairs: &[(&str, &str)],
        issuer: Option<&str>,
    ) -> Result<CallbackOutcome, CallbackRejection> {
        let p = pending();
        parse_callback(&url(pairs), Some(&p), issuer, T0.plus_secs(30))
    }

    #[test]
    fn a_good_code_callback() {
        let p = pending();
        let s = p.state.expose().to_string();
        let out = parse_callback(
            &url(&[
                ("code", "C0DE"),
                ("state", &s),
                ("expires_in", "60"),
                ("iss", "http://127.0.0.1:5001"),
            ]),
            Some(&p),
            Some("http://127.0.0.1:5001"),
            T0.plus_secs(5),
        )
        .unwrap();
        match out {
            CallbackOutcome::Code { code, state, iss } => {
                assert_eq!(code.expose(), "C0DE");
                assert_eq!(state, s);
                assert_eq!(iss.as_deref(), Some("http://127.0.0.1:5001"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_callback_with_the_right_state() {
        let s = pending().state.expose().to_string();
        let out = check(
            &[
                ("error", "access_denied"),
                ("error_description", "The user said no"),
                ("state", &s),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            CallbackOutcome::Error {
                error: "access_denied".into(),
                description: Some("The user said no".into()),
                uri: None,
                state: Some(s),
            }
        );
    }

    #[test]
    fn every_rejection() {
        let s = pending().state.expose().to_string();
        let s = s.as_str();
        use CallbackRejection::*;
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, CallbackRejection);
        let cases: Vec<Case> = vec![
            (vec![], None, NoParameters),
            (
                vec![("code", "a"), ("code", "b"), ("state", s)],
                None,
                DuplicateParameter("code".into()),
            ),
            (
                vec![("code", "a"), ("state", s), ("state", s)],
                None,
                DuplicateParameter("state".into()),
            ),
            (
                vec![("code", "a"), ("error", "x"), ("state", s)],
                None,
                CodeAndError,
            ),
            (vec![("state", s)], None, NoCodeOrError),
            (vec![("code", "a")], None, StateMissing),
            (
                vec![("code", "a"), ("state", "forged")],
                None,
                StateMismatch,
            ),
            (
                vec![("error", "access_denied"), ("state", "forged")],
                None,
                StateMismatch,
            ),
            (vec![("code", ""), ("state", s)], None, EmptyCode),
            (
                vec![("code", "a"), ("state", s)],
                Some("https://idp"),
                IssuerMissing {
                    expected: "https://idp".into(),
                },
            ),
            (
                vec![("code", "a"), ("state", s), ("iss", "https://evil")],
                Some("https://idp"),
                IssuerMismatch {
                    expected: "https://idp".into(),
                    got: "https://evil".into(),
                },
            ),
        ];
        for (pairs, issuer, expected) in cases {
            assert_eq!(check(&pairs, issuer).unwrap_err(), expected, "{pairs:?}");
        }
    }

    #[test]
    fn without_a_pending_record_nothing_is_accepted() {
        let s = pending().state.expose().to_string();
        assert_eq!(
            parse_callback(&url(&[("code", "a"), ("state", &s)]), None, None, T0),
            Err(CallbackRejection::NoPendingAuthorization)
        );
    }

    #[test]
    fn an_expired_pending_record_is_refused() {
        let p = pending();
        let s = p.state.expose().to_string();
        assert_eq!(
            parse_callback(
                &url(&[("code", "a"), ("state", &s)]),
                Some(&p),
                None,
                T0.plus_secs(601)
            ),
            Err(CallbackRejection::PendingExpired)
        );
        assert!(CallbackRejection::PendingExpired.consumes_pending());
        assert!(!CallbackRejection::StateMismatch.consumes_pending());
    }

    /// RFC 9207: the comparison is exact. The configured issuer was put in its one form when the
    /// config was parsed (`config::issuer`), so nothing is forgiven here: not a trailing slash, not
    /// case.
    #[test]
    fn iss_is_compared_exactly() {
        let s = pending().state.expose().to_string();
        let with = |iss: &str| {
            check(
                &[("code", "a"), ("state", &s), ("iss", iss)],
                Some("https://idp"),
            )
        };
        assert!(with("https://idp").is_ok());
        for near in [
            "https://idp/",
            "https://IDP",
            "https://idp:443",
            " https://idp",
            "https://idp#",
        ] {
            assert!(
                matches!(with(near), Err(CallbackRejection::IssuerMismatch { .. })),
                "{near:?}"
            );
        }
    }

    #[test]
    fn iss_is_optional_without_a_configured_issuer() {
        let s = pending().state.expose().to_string();
        assert!(
            check(
                &[("code", "a"), ("state", &s), ("iss", "https://anything")],
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn over_long_urls_are_refused_unread() {
        let long = format!("{CB}?code={}", "a".repeat(MAX_CALLBACK_URL_LEN));
        assert_eq!(
            parse_callback(&long, Some(&pending()), None, T0),
            Err(CallbackRejection::TooLong)
        );
    }

    #[test]
    fn response_parameters_are_detected_for_cleanup() {
        assert!(carries_response_parameters(&url(&[("code", "x")])));
        assert!(carries_response_parameters(&url(&[("error", "x")])));
        assert!(!carries_response_parameters(CB));
        assert!(!carries_response_parameters(&url(&[("foo", "x")])));
    }

    #[test]
    fn every_rejection_has_a_hint() {
        for r in [
            CallbackRejection::NoParameters,
            CallbackRejection::StateMismatch,
            CallbackRejection::PendingExpired,
            CallbackRejection::IssuerMissing {
                expected: "x".into(),
            },
        ] {
            assert!(!r.hint().is_empty());
            assert!(!r.to_string().is_empty());
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in ".*", issuer in proptest::option::of(".*")) {
            let p = pending();
            let _ = parse_callback(&s, Some(&p), issuer.as_deref(), T0);
            let _ = parse_callback(&format!("{CB}?{s}"), Some(&p), issuer.as_deref(), T0);
            let _ = parse_callback(&s, None, None, T0);
        }

        #[test]
        fn a_forged_state_is_always_refused(forged in "[A-Za-z0-9_-]{0,64}", code in "[ -~]{1,40}") {
            let p = pending();
            prop_assume!(forged != p.state.expose());
            let r = parse_callback(&url(&[("code", &code), ("state", &forged)]), Some(&p), None, T0);
            prop_assert_eq!(r, Err(CallbackRejection::StateMismatch));
        }

        #[test]
        fn code_and_state_round_trip(code in "[ -~]{1,100}", extra in "[a-z_]{1,10}") {
            prop_assume!(!SINGLE_VALUED.contains(&extra.as_str()));
            let p = pending();
            let s = p.state.expose().to_string();
            let out = parse_callback(&url(&[(extra.as_str(), "v"), ("code", &code), ("state", &s)]), Some(&p), None, T0).unwrap();
            match out {
                CallbackOutcome::Code { code: c, .. } => prop_assert_eq!(c.expose(), code.as_str()),
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
