//! Where a pending sign-in or a stored session belongs: the client and the server endpoints it was
//! made with.
//!
//! Both records outlive the configuration that made them: Settings change in another tab (they
//! live in `localStorage`), `config.json` is redeployed, or the app is pointed at another server.
//! Without this, a reload would send the old refresh token (or a code and its verifier) to whatever
//! the new configuration names. So each record carries its [`ServerBinding`], and the session
//! compares it with the current one before it uses the record ([`ServerBinding::differs_from`]).

use serde::{Deserialize, Serialize};

/// The parts of the configuration a record is only valid with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerBinding {
    pub client_id: String,
    pub token_endpoint: String,
    /// Kept so a record that no longer fits is revoked where it came from.
    pub revoke_endpoint: String,
    pub api_base: String,
    pub issuer: Option<String>,
    /// The callback may come without `iss` (RFC 9207); one that carries it is still held to
    /// `issuer`. Set for an issuer the app only knows for its ID tokens (OpenID Connect without a
    /// configured `issuer`), and by a discovery document that does not promise `iss`. Not part
    /// of [`ServerBinding::differs_from`]: it changes how a callback is read, not where a record
    /// belongs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub iss_optional: bool,
}

/// Which part of a record's [`ServerBinding`] the current configuration does not share. The first
/// difference in this order is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingField {
    ClientId,
    TokenEndpoint,
    RevokeEndpoint,
    ApiBase,
    Issuer,
}

impl BindingField {
    /// The configuration key the user would look for.
    pub fn config_key(self) -> &'static str {
        match self {
            Self::ClientId => "client_id",
            Self::TokenEndpoint => "token_endpoint",
            Self::RevokeEndpoint => "revoke_endpoint",
            Self::ApiBase => "api_base",
            Self::Issuer => "issuer",
        }
    }
}

impl ServerBinding {
    /// `None` when a record bound to `self` may be used with the configuration `current`. Exact
    /// comparison: the configuration parser has already put each URL in its one form.
    pub fn differs_from(&self, current: &ServerBinding) -> Option<BindingField> {
        [
            (self.client_id == current.client_id, BindingField::ClientId),
            (
                self.token_endpoint == current.token_endpoint,
                BindingField::TokenEndpoint,
            ),
            (
                self.revoke_endpoint == current.revoke_endpoint,
                BindingField::RevokeEndpoint,
            ),
            (self.api_base == current.api_base, BindingField::ApiBase),
            (self.issuer == current.issuer, BindingField::Issuer),
        ]
        .into_iter()
        .find_map(|(same, field)| (!same).then_some(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> ServerBinding {
        ServerBinding {
            client_id: "rc-pkce-demo".into(),
            token_endpoint: "http://127.0.0.1:5001/restapi/oauth/token".into(),
            revoke_endpoint: "http://127.0.0.1:5001/restapi/oauth/revoke".into(),
            api_base: "http://127.0.0.1:5001/restapi/v1.0".into(),
            issuer: Some("http://127.0.0.1:5001".into()),
            iss_optional: false,
        }
    }

    #[test]
    fn every_field_counts() {
        assert_eq!(local().differs_from(&local()), None);
        type Change = fn(&mut ServerBinding);
        let changes: [(Change, BindingField); 5] = [
            (|b| b.client_id = "other".into(), BindingField::ClientId),
            (
                |b| b.token_endpoint = "http://127.0.0.1:5002/restapi/oauth/token".into(),
                BindingField::TokenEndpoint,
            ),
            (
                |b| b.revoke_endpoint.push('/'),
                BindingField::RevokeEndpoint,
            ),
            (
                |b| b.api_base = "https://platform.ringcentral.com/restapi/v1.0".into(),
                BindingField::ApiBase,
            ),
            (|b| b.issuer = None, BindingField::Issuer),
        ];
        for (change, field) in changes {
            let mut now = local();
            change(&mut now);
            assert_eq!(local().differs_from(&now), Some(field));
            assert_eq!(now.differs_from(&local()), Some(field));
            assert!(!field.config_key().is_empty());
        }
    }
}
