//! The check of one ID token, a step per event: the form and the claims first (they need no
//! key), then the key the header names from the server's key set (kept for the page, fetched
//! again once when the token names a key it does not hold: the server may have rotated), then
//! the signature, which the browser checks (WebCrypto) as [`Effect::CheckSignature`].
//!
//! Used for the ID token of a sign-in (which must come, with this sign-in's `nonce`) and for one a
//! refresh brings (held to the sign-in's: same issuer, subject, audience).

use crate::error::ApiError;
use crate::id_token::{self, Claims, Expected, IdToken, Refusal, RsaKey, key_for, parse_jwks};
use crate::secret::IdTokenText;

use super::event::Effect;

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
