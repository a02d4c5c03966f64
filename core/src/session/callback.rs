//! The one decision about a callback: what a tab holding `pending` does with the URL it was sent
//! back to. The session machine and the first-load module both ask [`accept_callback`], so the
//! token request the first-load module sends early is the one the session would send.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::authorize::{PendingAuthorization, StateToken};
use crate::binding::ServerBinding;
use crate::callback::{CallbackOutcome, CallbackRejection, parse_callback};
use crate::error::{ApiError, from_authorize_redirect};
use crate::pkce::{CodeVerifier, sha256};
use crate::secret::AuthorizationCode;
use crate::tab_key::TabKey;
use crate::time::Timestamp;
use crate::token::TokenRequest;

/// What to do with a callback.
pub enum CallbackVerdict {
    /// Exchange the code: everything the token request needs.
    Exchange(Exchange),
    /// The authorization server sent an error back (e.g. the user chose Deny).
    Denied(ApiError),
    /// Refused before any request: forged, stale, replayed or malformed.
    Rejected(CallbackRejection),
}

/// The code and verifier of an exchange, kept for a retry after a transient failure and zeroized
/// when dropped.
pub struct Exchange {
    code: AuthorizationCode,
    verifier: CodeVerifier,
    redirect_uri: String,
    tab_key: TabKey,
    binding: ServerBinding,
    /// The sign-in's `state`, which names the grant with the code once tokens come (see
    /// [`grant_id_for`]). Kept rather than hashed up front: the first-load module that sends the exchange early never
    /// needs the name, and so carries no SHA-256 code for it.
    state: StateToken,
    /// The OpenID Connect `nonce` the sign-in sent: its ID token must carry it back.
    nonce: Option<StateToken>,
}

impl Exchange {
    /// The token request for this exchange (the same one on every attempt).
    pub fn request(&self) -> TokenRequest {
        TokenRequest::AuthorizationCode {
            code: AuthorizationCode::new(self.code.expose()),
            redirect_uri: self.redirect_uri.clone(),
            verifier: self.verifier.duplicate(),
            client_id: self.binding.client_id.clone(),
        }
    }

    /// The key of the session the exchange leads to.
    pub fn tab_key(&self) -> &TabKey {
        &self.tab_key
    }

    /// Where the session the exchange leads to belongs.
    pub fn binding(&self) -> &ServerBinding {
        &self.binding
    }

    /// The `nonce` the ID token must carry (an OpenID Connect sign-in: an ID token must come).
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_ref().map(StateToken::expose)
    }

    /// The grant the exchange leads to (see [`grant_id_for`]).
    pub fn grant_id(&self) -> String {
        grant_id_of(&self.state, self.code.expose())
    }
}

/// Checks `url` against this tab's pending record (state in constant time, age, issuer) and the
/// record against the configuration now in force (`current`), and says what to do with it.
pub fn accept_callback(
    url: &str,
    pending: Option<&PendingAuthorization>,
    current: &ServerBinding,
    now: Timestamp,
) -> CallbackVerdict {
    // RFC 9207: an issuer the callback need not name is still held to when it does.
    let expected_issuer = current
        .issuer
        .as_deref()
        .filter(|_| !current.iss_optional || crate::callback::names_issuer(url));
    let outcome = parse_callback(url, pending, expected_issuer, now);
    // Checked once the state matched (a forged callback must not cancel the sign-in): the code
    // and verifier go to no token endpoint but the one the sign-in started with.
    if outcome.is_ok()
        && let Some(changed) = pending.and_then(|p| p.binding.differs_from(current))
    {
        return CallbackVerdict::Rejected(CallbackRejection::ServerChanged(changed));
    }
    match outcome {
        Err(rejection) => CallbackVerdict::Rejected(rejection),
        Ok(CallbackOutcome::Error {
            error, description, ..
        }) => CallbackVerdict::Denied(from_authorize_redirect(&error, description.as_deref())),
        Ok(CallbackOutcome::Code { code, .. }) => match pending {
            Some(p) => CallbackVerdict::Exchange(Exchange {
                code,
                verifier: p.verifier.duplicate(),
                redirect_uri: p.redirect_uri.clone(),
                tab_key: p.tab_key.clone(),
                binding: p.binding.clone(),
                state: StateToken::from_stored(p.state.expose()),
                nonce: p
                    .nonce
                    .as_ref()
                    .map(|n| StateToken::from_stored(n.expose())),
            }),
            // parse_callback accepts no code without a record; this keeps it so if that changes.
            None => CallbackVerdict::Rejected(CallbackRejection::NoPendingAuthorization),
        },
    }
}

/// A stable, non-secret name for the grant that `code` (answering `pending`) leads to: a hash of
/// the `state` and the code (which stay secret: the hash cannot be reversed). The code is part of
/// it because one pending record can be answered twice: a tab duplicated on the authorize page
/// carries a copy, and approving in both tabs makes two grants, which must not share a name.
pub fn grant_id_for(pending: &PendingAuthorization, code: &str) -> String {
    grant_id_of(&pending.state, code)
}

fn grant_id_of(state: &StateToken, code: &str) -> String {
    let digest = sha256(format!("rc-pkce grant {} {code}", state.expose()).as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// Whether a page load at `url` is a callback this tab handles: at the redirect URI with response
/// parameters always (a replay is refused with a reason), and a bare load of the redirect URI only
/// while signed out (it says why nothing happened). A signed-in tab reloaded at a bare redirect
/// URI just carries on.
pub fn handles_callback(at_redirect_uri: bool, url: &str, signed_in: bool) -> bool {
    at_redirect_uri && (crate::callback::carries_response_parameters(url) || !signed_in)
}
