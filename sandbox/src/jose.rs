//! JOSE for the ID tokens: the sandbox's RSA signing keys, their JWKS, and compact JWS signing
//! (RS256, plus HS256 and `none` for the bad tokens tests ask for).
//!
//! The keys are fixed **test-only** keys embedded from `src/keys/` (made once with `openssl
//! genpkey`, 2048 bits), not generated: generating a 2048-bit key takes seconds in a debug build,
//! and fixed keys make every run alike. They sign tokens for a local test server and nothing else;
//! they are public in this repository and must never sign anything real.
//!
//! A [`KeyRing`] rotates through [`RING`]: generation `n` signs with key `n % 3` under the kid
//! `sandbox-rs256-{n}`, so every rotation gives a new kid. [`stranger`] is a key no JWKS ever
//! lists, for tokens signed with an unknown key.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use sha2::Sha256;

/// The rotation keys (test-only, see the module docs).
const RING_PEMS: [&str; 3] = [
    include_str!("keys/test-key-1.pem"),
    include_str!("keys/test-key-2.pem"),
    include_str!("keys/test-key-3.pem"),
];

/// A key never listed in any JWKS (test-only).
const STRANGER_PEM: &str = include_str!("keys/test-key-stranger.pem");

/// The kid of tokens signed with [`stranger`].
pub const STRANGER_KID: &str = "sandbox-rs256-unknown";

/// The parsed keys: parsed once per process, since parsing checks the key and is not free.
struct Keys {
    ring: Vec<PrivateKey>,
    stranger: PrivateKey,
}

fn parse(pem: &str) -> PrivateKey {
    // The PEMs are constants of this crate, checked by the unit tests below.
    PrivateKey::from_pkcs8_pem(pem).expect("the sandbox's embedded test key parses")
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        ring: RING_PEMS.iter().map(|p| parse(p)).collect(),
        stranger: parse(STRANGER_PEM),
    })
}

/// The key a JWKS never lists.
pub fn stranger() -> &'static PrivateKey {
    &keys().stranger
}

/// One signing key and its kid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    pub generation: u64,
    pub kid: String,
}

impl KeyId {
    fn new(generation: u64) -> Self {
        Self {
            generation,
            kid: format!("sandbox-rs256-{generation}"),
        }
    }

    pub fn key(&self) -> &'static PrivateKey {
        let ring = &keys().ring;
        let len = u64::try_from(ring.len()).unwrap_or(1);
        let index = usize::try_from(self.generation % len).unwrap_or(0);
        &ring[index]
    }
}

/// The current signing key and, until the next rotation, the previous one.
#[derive(Debug, Clone)]
pub struct KeyRing {
    pub current: KeyId,
    pub previous: Option<KeyId>,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self {
            current: KeyId::new(1),
            previous: None,
        }
    }
}

impl KeyRing {
    /// A new current key; the old one stays listed when `keep_previous`.
    pub fn rotate(&mut self, keep_previous: bool) {
        let next = KeyId::new(self.current.generation + 1);
        let old = std::mem::replace(&mut self.current, next);
        self.previous = keep_previous.then_some(old);
    }

    /// The kids listed in the JWKS, current first.
    pub fn kids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.kid.clone())
            .collect()
    }

    /// `{"keys":[...]}` with the current key first.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| jwk(&k.kid, k.key()))
            .collect();
        json!({ "keys": keys })
    }
}

/// The public half of `key` as a JWK (RFC 7517/7518 §6.3.1).
pub fn jwk(kid: &str, key: &PrivateKey) -> Value {
    json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64(&key.n_bytes()),
        "e": b64(&key.e_bytes()),
    })
}

/// base64url without padding, as JOSE requires.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header) . b64(claims)`: the JWS signing input.
pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// RSASSA-PKCS1-v1_5 with SHA-256 over `input` (JWA RS256).
pub fn rs256(key: &PrivateKey, input: &str) -> Vec<u8> {
    SigningKey::<Sha256>::new(key.clone())
        .sign(input.as_bytes())
        .to_vec()
}

/// HMAC-SHA-256 over `input` with `secret` (JWA HS256).
pub fn hs256(secret: &[u8], input: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::VerifyingKey;
    use rsa::signature::Verifier;

    #[test]
    fn embedded_keys_are_distinct_2048_bit_rsa_keys() {
        let all: Vec<&PrivateKey> = keys().ring.iter().chain([stranger()]).collect();
        for (i, k) in all.iter().enumerate() {
            assert_eq!(k.size(), 256, "key {i} is 2048 bits");
            assert_eq!(&*k.e_bytes(), &[1, 0, 1], "e = 65537");
            for other in &all[i + 1..] {
                assert_ne!(k.n_bytes(), other.n_bytes());
            }
        }
    }

    #[test]
    fn rotation_changes_the_kid_and_keeps_the_previous_one() {
        let mut ring = KeyRing::default();
        assert_eq!(ring.kids(), ["sandbox-rs256-1"]);
        ring.rotate(true);
        assert_eq!(ring.kids(), ["sandbox-rs256-2", "sandbox-rs256-1"]);
        ring.rotate(false);
        assert_eq!(ring.kids(), ["sandbox-rs256-3"]);
        assert_ne!(ring.current.key().n_bytes(), KeyId::new(2).key().n_bytes());
        assert!(!ring.kids().iter().any(|k| k == STRANGER_KID));
    }

    #[test]
    fn rs256_verifies_with_the_public_key() {
        let key = KeyId::new(1).key();
        let input = signing_input(&json!({"alg": "RS256"}), &json!({"sub": "1"}));
        let sig = rs256(key, &input);
        assert_eq!(sig.len(), 256);
        let verifier = VerifyingKey::<Sha256>::new(key.to_public_key());
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        assert!(verifier.verify(input.as_bytes(), &sig).is_ok());
        assert!(verifier.verify(b"other", &sig).is_err());
    }

    #[test]
    fn hs256_matches_rfc_4231_case_2() {
        let mac = hs256(b"Jefe", "what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
