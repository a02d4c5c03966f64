//! The check of one ID token, a step per event: the form and the claims first (they need no
//! key), then the key the header names from the server's key set (kept for the page, fetched
//! again once when the token names a key it does not hold: the server may have rotated), then
//! the signature, which the browser checks (WebCrypto) as [`Effect::CheckSignature`].
//!
//! Used for the ID token of a sign-in (which must come, with this sign-in's `nonce`) and for one a
//! refresh brings (held to the sign-in's: same issuer, subject, audience).

use crate::error::ApiError;
use crate::id_token::{
    self, Claims, Expected, IdToken, IdTokenError, JwksError, RsaKey, key_for, parse_jwks,
};
use crate::secret::IdTokenText;

use super::event::Effect;

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

/// What a check is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// The key set, fetched as request `id`.
    Keys { id: u64 },
    /// The key set's fetch failed transiently; fetched again at this instant.
    KeysRetryAt(crate::time::Timestamp),
    /// The browser's answer to signature check `id`.
    Signature { id: u64 },
}

/// An ID token whose claims passed, on its way through the key and signature steps.
pub(super) struct Check {
    pub token: IdToken,
    pub stage: Stage,
}

/// Where a check goes next.
// One per answer of a sign-in's check: the size of the larger variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next {
    /// Carry out this effect (fetch the keys, check the signature) and wait.
    Wait(Check, Effect),
    /// Every check passed: the token's claims are who signed in.
    Verified(IdToken),
    /// With the token when it could be taken apart, for the inspector.
    Refused(Refusal, Option<IdToken>),
    /// The key set could not be fetched; the failure may pass.
    KeysFailed(Check, ApiError),
}

/// Starts the check of `text` (the claims at once), with the page's key set if it has one.
/// `first` is the sign-in's identity when `text` came with a refresh.
pub(super) fn start(
    text: &IdTokenText,
    expected: &Expected<'_>,
    first: Option<&Claims>,
    keys: Option<&[RsaKey]>,
    jwks_uri: &str,
    id: u64,
) -> Next {
    let token = match id_token::parse(text.expose()) {
        Ok(t) => t,
        Err(e) => return Next::Refused(Refusal::Token(e), None),
    };
    let checked = id_token::check_claims(&token.claims, expected)
        .and_then(|()| first.map_or(Ok(()), |f| id_token::check_refreshed(f, &token.claims)));
    if let Err(e) = checked {
        return Next::Refused(Refusal::Token(e), Some(token));
    }
    match keys.and_then(|k| key_for(k, token.kid.as_deref())) {
        Some(key) => check_signature(token, key.clone(), id),
        None => fetch_keys(token, jwks_uri, id),
    }
}

/// Fetches the key set (again) for `token`.
pub(super) fn fetch_keys(token: IdToken, jwks_uri: &str, id: u64) -> Next {
    Next::Wait(
        Check {
            token,
            stage: Stage::Keys { id },
        },
        Effect::FetchKeys {
            id,
            url: jwks_uri.to_string(),
        },
    )
}

fn check_signature(token: IdToken, key: RsaKey, id: u64) -> Next {
    let effect = Effect::CheckSignature {
        id,
        key,
        signing_input: token.signing_input.clone(),
        signature: token.signature.clone(),
    };
    Next::Wait(
        Check {
            token,
            stage: Stage::Signature { id },
        },
        effect,
    )
}

/// The key set came (or did not). A fresh set replaces the page's; without the token's key in
/// it, the token is refused (the fetch was already the one more try).
pub(super) fn on_keys(
    check: Check,
    result: Result<String, ApiError>,
    cache: &mut Option<Vec<RsaKey>>,
    jwks_uri: &str,
    id: u64,
) -> Next {
    let text = match result {
        Ok(text) => text,
        Err(error) if error.is_transient() => return Next::KeysFailed(check, error),
        Err(error) => {
            let refusal = Refusal::KeysUnreachable {
                url: jwks_uri.to_string(),
                error,
            };
            return Next::Refused(refusal, Some(check.token));
        }
    };
    let keys = match parse_jwks(&text) {
        Ok(keys) => keys,
        Err(problem) => {
            let refusal = Refusal::KeySet {
                url: jwks_uri.to_string(),
                problem,
            };
            return Next::Refused(refusal, Some(check.token));
        }
    };
    let key = key_for(&keys, check.token.kid.as_deref()).cloned();
    *cache = Some(keys);
    match key {
        Some(key) => check_signature(check.token, key, id),
        None => Next::Refused(
            Refusal::UnknownKey(check.token.kid.clone()),
            Some(check.token),
        ),
    }
}

/// The browser's verdict on the signature.
pub(super) fn on_signature(check: Check, result: Result<bool, String>) -> Next {
    match result {
        Ok(true) => Next::Verified(check.token),
        Ok(false) => Next::Refused(Refusal::BadSignature, Some(check.token)),
        Err(why) => Next::Refused(Refusal::CannotVerify(why), Some(check.token)),
    }
}
