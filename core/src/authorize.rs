//! The start of a sign-in: the `state` value, the pending authorization record kept until the
//! callback, and the authorize URL the browser is sent to.
//!
//! Generating values and building the URL are separate from storing and navigating (the browser
//! layer's job), so the whole authorize step is checked here without a browser.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::binding::ServerBinding;
use crate::pkce::{CodeChallenge, CodeVerifier, PkceError};
use crate::random::{Entropy, EntropyError};
use crate::secret::constant_time_eq;
use crate::tab_key::TabKey;
use crate::time::Timestamp;
use crate::url::{append_query, form_encode};

/// Octets of CSPRNG output in a `state`: 256 bits, twice the 128-bit floor.
pub const STATE_BYTES: usize = 32;
/// A pending authorization older than this is refused at the callback.
pub const PENDING_TTL_SECS: u64 = 600;

/// The `state` parameter: binds a callback to the browser tab that started the sign-in (CSRF defence,
/// RFC 6749 §10.12). Compared in constant time.
#[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StateToken(String);

impl StateToken {
    pub fn generate(rng: &mut impl Entropy) -> Result<Self, EntropyError> {
        let mut bytes = [0u8; STATE_BYTES];
        rng.fill(&mut bytes)?;
        let s = URL_SAFE_NO_PAD.encode(bytes);
        bytes.zeroize();
        Ok(Self(s))
    }

    pub fn from_stored(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when `received` is exactly this state.
    pub fn matches(&self, received: &str) -> bool {
        constant_time_eq(self.0.as_bytes(), received.as_bytes())
    }
}

impl std::fmt::Debug for StateToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateToken(<redacted, {} chars>)", self.0.len())
    }
}

/// What the app remembers between leaving for the authorize page and coming back: single use, and
/// only valid for [`PENDING_TTL_SECS`].
#[derive(Debug, PartialEq, Eq)]
pub struct PendingAuthorization {
    pub state: StateToken,
    pub verifier: CodeVerifier,
    pub redirect_uri: String,
    /// The key of the session this sign-in leads to ([`crate::tab_key::TabKey`]), drawn with the
    /// verifier and `state` so that the app needs random numbers at one moment only.
    pub tab_key: TabKey,
    /// Where the code is to be exchanged: a record made for another server is not used
    /// ([`crate::session::accept_callback`]).
    pub binding: ServerBinding,
    pub created_at: Timestamp,
    /// The OpenID Connect `nonce` sent with the request (as random as the `state`), which the ID
    /// token must carry back; `None` for a sign-in without OpenID Connect.
    pub nonce: Option<StateToken>,
}

impl PendingAuthorization {
    pub fn expires_at(&self) -> Timestamp {
        self.created_at.plus_secs(PENDING_TTL_SECS)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at() || now < self.created_at.minus_millis(60_000)
    }
}

/// Everything that goes into the authorize URL besides the per-attempt `state` and challenge.
/// Optional parameters are the ones RingCentral documents; empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub endpoint: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// RingCentral ignores it (permissions come from the app registration) but RFC 6749 allows it.
    pub scope: Option<String>,
    /// `login`, `sso`, `consent`, `none`, space-separated.
    pub prompt: Option<String>,
    /// RFC 5646 language tags.
    pub ui_locales: Option<String>,
    pub brand_id: Option<String>,
    /// `page`, `popup`, `touch` or `mobile`.
    pub display: Option<String>,
    pub login_hint: Option<String>,
    /// OpenID Connect: a fresh `nonce` goes with the request (`scope` already names `openid`).
    pub openid: bool,
}

impl AuthorizeRequest {
    /// The query parameters in the order they are sent, for the URL and for the inspector.
    pub fn parameters(
        &self,
        state: &StateToken,
        challenge: &CodeChallenge,
        nonce: Option<&StateToken>,
    ) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("response_type", "code".to_string()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", state.expose().to_string()),
            ("code_challenge", challenge.as_str().to_string()),
            ("code_challenge_method", challenge.method().to_string()),
        ];
        if let Some(nonce) = nonce {
            p.push(("nonce", nonce.expose().to_string()));
        }
        let optional = [
            ("scope", &self.scope),
            ("prompt", &self.prompt),
            ("ui_locales", &self.ui_locales),
            ("brand_id", &self.brand_id),
            ("display", &self.display),
            ("login_hint", &self.login_hint),
        ];
        for (name, value) in optional {
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                p.push((name, v.to_string()));
            }
        }
        p
    }

    pub fn url(
        &self,
        state: &StateToken,
        challenge: &CodeChallenge,
        nonce: Option<&StateToken>,
    ) -> String {
        let params = self.parameters(state, challenge, nonce);
        let encoded = form_encode(params.iter().map(|(k, v)| (*k, v.as_str())));
        append_query(&self.endpoint, &encoded)
    }
}

/// A freshly started sign-in: the record to keep and the URL to navigate to.
#[derive(Debug)]
pub struct Started {
    pub pending: PendingAuthorization,
    pub url: String,
    pub challenge: CodeChallenge,
    pub parameters: Vec<(&'static str, String)>,
}

/// Generates a new verifier and `state` and builds the authorize URL. Nothing is stored or sent.
pub fn start(
    request: &AuthorizeRequest,
    binding: &ServerBinding,
    rng: &mut impl Entropy,
    now: Timestamp,
) -> Result<Started, PkceError> {
    let verifier = CodeVerifier::generate(rng)?;
    let state = StateToken::generate(rng)?;
    let tab_key = TabKey::generate(rng)?;
    let nonce = match request.openid {
        true => Some(StateToken::generate(rng)?),
        false => None,
    };
    let challenge = verifier.challenge();
    let parameters = request.parameters(&state, &challenge, nonce.as_ref());
    let url = request.url(&state, &challenge, nonce.as_ref());
    Ok(Started {
        pending: PendingAuthorization {
            state,
            verifier,
            redirect_uri: request.redirect_uri.clone(),
            tab_key,
            binding: binding.clone(),
            created_at: now,
            nonce,
        },
        url,
        challenge,
        parameters,
    })
}

/// A sign-in as the tests of other modules need one.
#[cfg(test)]
pub(crate) mod testing {
    use super::{AuthorizeRequest, Started, start};
    use crate::random::testing::SeededEntropy;
    use crate::time::Timestamp;

    /// Started at the local sandbox's authorize endpoint with entropy from `seed`.
    pub fn started(seed: u64) -> Started {
        let r = AuthorizeRequest {
            endpoint: "http://127.0.0.1:5001/restapi/oauth/authorize".into(),
            client_id: "demo".into(),
            redirect_uri: "http://localhost:5000/oauth2callback".into(),
            ..Default::default()
        };
        start(
            &r,
            &crate::binding::ServerBinding::default(),
            &mut SeededEntropy(seed),
            Timestamp::from_secs(1),
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::s256;
    use crate::random::testing::{BrokenEntropy, SeededEntropy};
    use crate::url::{parse_query, query_of, without_query};
    use proptest::prelude::*;

    fn request() -> AuthorizeRequest {
        AuthorizeRequest {
            endpoint: "https://platform.ringcentral.com/restapi/oauth/authorize".into(),
            client_id: "abc123".into(),
            redirect_uri: "http://localhost:5000/oauth2callback".into(),
            ..Default::default()
        }
    }

    #[test]
    fn url_has_every_required_parameter_once() {
        let s = start(
            &request(),
            &ServerBinding::default(),
            &mut SeededEntropy(3),
            Timestamp::from_secs(1),
        )
        .unwrap();
        assert!(
            s.url
                .starts_with("https://platform.ringcentral.com/restapi/oauth/authorize?")
        );
        let q = parse_query(query_of(&s.url).unwrap());
        let get = |k: &str| {
            let v: Vec<_> = q.iter().filter(|(n, _)| n == k).collect();
            assert_eq!(v.len(), 1, "{k}");
            v[0].1.clone()
        };
        assert_eq!(get("response_type"), "code");
        assert_eq!(get("client_id"), "abc123");
        assert_eq!(get("redirect_uri"), "http://localhost:5000/oauth2callback");
        assert_eq!(get("state"), s.pending.state.expose());
        assert_eq!(get("code_challenge"), s256(s.pending.verifier.expose()));
        assert_eq!(get("code_challenge_method"), "S256");
        assert_eq!(q.len(), 6, "no optional parameter unless configured");
        assert!(
            !s.url.contains(s.pending.verifier.expose()),
            "the verifier never goes in the URL"
        );
    }

    #[test]
    fn optional_parameters_are_encoded_and_blank_ones_skipped() {
        let r = AuthorizeRequest {
            scope: Some("ReadAccounts ReadCallLog".into()),
            prompt: Some("login consent".into()),
            ui_locales: Some("fr-CA".into()),
            brand_id: Some("1210".into()),
            display: Some("  ".into()),
            login_hint: Some("a+b@example.com".into()),
            ..request()
        };
        let s = start(
            &r,
            &ServerBinding::default(),
            &mut SeededEntropy(5),
            Timestamp::from_secs(1),
        )
        .unwrap();
        assert!(s.url.contains("scope=ReadAccounts+ReadCallLog"));
        assert!(s.url.contains("login_hint=a%2Bb%40example.com"));
        assert!(!s.url.contains("display="));
        let names: Vec<_> = s.parameters.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method",
                "scope",
                "prompt",
                "ui_locales",
                "brand_id",
                "login_hint"
            ]
        );
    }

    #[test]
    fn endpoint_with_a_query_keeps_it() {
        let r = AuthorizeRequest {
            endpoint: "https://h/authorize?tenant=x".into(),
            ..request()
        };
        let s = start(
            &r,
            &ServerBinding::default(),
            &mut SeededEntropy(9),
            Timestamp::from_secs(1),
        )
        .unwrap();
        assert!(
            s.url
                .starts_with("https://h/authorize?tenant=x&response_type=code&")
        );
    }

    #[test]
    fn state_has_256_bits_and_differs_each_time() {
        let a = StateToken::generate(&mut crate::SystemEntropy).unwrap();
        let b = StateToken::generate(&mut crate::SystemEntropy).unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert!(a.matches(a.expose()) && !a.matches(b.expose()) && !a.matches(""));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn no_randomness_no_sign_in() {
        assert!(
            start(
                &request(),
                &ServerBinding::default(),
                &mut BrokenEntropy,
                Timestamp::from_secs(1)
            )
            .is_err()
        );
    }

    #[test]
    fn pending_record_expires_after_ten_minutes() {
        let t0 = Timestamp::from_secs(1_000_000);
        let s = start(
            &request(),
            &ServerBinding::default(),
            &mut SeededEntropy(11),
            t0,
        )
        .unwrap();
        assert!(!s.pending.is_expired(t0));
        assert!(!s.pending.is_expired(t0.plus_secs(599)));
        assert!(s.pending.is_expired(t0.plus_secs(600)));
        // A clock that jumped far backwards makes the record's age unknowable: refuse it.
        assert!(s.pending.is_expired(t0.minus_millis(3_600_000)));
    }

    proptest! {
        #[test]
        fn states_meet_the_charset_length_and_entropy_rules(seed in any::<u64>()) {
            let s = StateToken::generate(&mut SeededEntropy(seed | 1)).unwrap();
            // 32 octets of CSPRNG output: 256 bits, base64url without padding.
            prop_assert_eq!(s.expose().len(), 43);
            prop_assert!(s.expose().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            prop_assert!(STATE_BYTES * 8 >= 128);
            prop_assert!(s.matches(s.expose()));
        }

        #[test]
        fn a_started_sign_in_accepts_its_own_callback(seed in any::<u64>(), code in "[ -~]{1,64}") {
            // The authorize URL's state and the pending record belong together: the callback the
            // server builds from that URL passes the callback parser and yields the code.
            let s = start(&request(), &ServerBinding::default(), &mut SeededEntropy(seed | 1), Timestamp::from_secs(10)).unwrap();
            let sent = parse_query(query_of(&s.url).unwrap());
            let state = sent.iter().find(|(k, _)| k == "state").map(|(_, v)| v.clone()).unwrap();
            let callback = format!(
                "{}?{}",
                s.pending.redirect_uri,
                crate::url::form_encode([("code", code.as_str()), ("state", state.as_str())])
            );
            let out = crate::callback::parse_callback(&callback, Some(&s.pending), None, Timestamp::from_secs(20));
            match out {
                Ok(crate::callback::CallbackOutcome::Code { code: c, .. }) => prop_assert_eq!(c.expose(), code.as_str()),
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn authorize_urls_round_trip(
            seed in any::<u64>(),
            client_id in "[ -~]{1,40}",
            redirect in "https://[a-z]{1,10}\\.example/[ -~]{0,30}",
            scope in proptest::option::of("[ -~]{0,30}"),
            base_query in proptest::option::of("[a-z]{1,5}=[a-z0-9]{0,5}"),
        ) {
            let endpoint = match &base_query {
                Some(q) => format!("https://auth.example/authorize?{q}"),
                None => "https://auth.example/authorize".to_string(),
            };
            let r = AuthorizeRequest { endpoint, client_id: client_id.clone(), redirect_uri: redirect.clone(), scope: scope.clone(), ..Default::default() };
            let s = start(&r, &ServerBinding::default(), &mut SeededEntropy(seed | 1), Timestamp::from_secs(5)).unwrap();
            prop_assert_eq!(without_query(&s.url), "https://auth.example/authorize");
            let q = parse_query(query_of(&s.url).unwrap());
            let mut expected: Vec<(String, String)> = Vec::new();
            if let Some(bq) = &base_query { expected.extend(parse_query(bq)); }
            expected.extend(s.parameters.iter().map(|(k, v)| (k.to_string(), v.clone())));
            prop_assert_eq!(q, expected);
        }
    }
}
