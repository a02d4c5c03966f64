//! The tab key: a random 256-bit secret born with a sign-in and kept with its session.
//!
//! Every page of the origin can open a `BroadcastChannel`, list Web Locks
//! (`navigator.locks.query()`) and read `localStorage`, and on hosts such as `USER.github.io/` that
//! origin holds other people's apps. `sessionStorage`, though, is this tab's alone, and a
//! duplicated tab inherits a copy. So the key lives in the session record: the tabs that share a
//! session share the key, and no other page has it. The channel and lock names are derived from it
//! (so nothing about the session is announced on a name another page can guess), and every message
//! carries an HMAC-SHA-256 made with it ([`crate::tabs::Codec`]). Its own module, not part of
//! [`crate::tabs`], because the sign-in that draws it ([`crate::authorize`]) comes before any tab.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::random::{Entropy, EntropyError};

/// Bytes of the key (and of each MAC).
pub const TAB_KEY_BYTES: usize = 32;

/// What each derived name and MAC is for: one key, never two uses of the same input.
const CHANNEL_LABEL: &[u8] = b"rc-pkce channel";
const LOCK_LABEL: &[u8] = b"rc-pkce refresh lock";
const MESSAGE_LABEL: &[u8] = b"rc-pkce tab message";
const HANDOVER_CHANNEL_LABEL: &[u8] = b"rc-pkce popup hand-over channel";
const HANDOVER_LABEL: &[u8] = b"rc-pkce popup hand-over";

/// Names are cut to this many MAC bytes: 128 bits, beyond guessing and short in the lock list.
const NAME_BYTES: usize = 16;

#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct TabKey([u8; TAB_KEY_BYTES]);

impl std::fmt::Debug for TabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TabKey(<redacted>)")
    }
}

impl TabKey {
    pub fn generate(rng: &mut impl Entropy) -> Result<Self, EntropyError> {
        let mut bytes = [0u8; TAB_KEY_BYTES];
        rng.fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: [u8; TAB_KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// The key as stored in the session record (base64url).
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The key read back from a record; `None` unless it is exactly [`TAB_KEY_BYTES`] bytes.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let key = <[u8; TAB_KEY_BYTES]>::try_from(bytes.as_slice())
            .ok()
            .map(Self);
        bytes.zeroize();
        key
    }

    /// The `BroadcastChannel` of the tabs sharing `grant`.
    pub fn channel_name(&self, grant: &str) -> String {
        format!(
            "rc-pkce.tabs.{}",
            self.name(CHANNEL_LABEL, grant.as_bytes())
        )
    }

    /// The Web Lock the tab that refreshes `grant` from `generation` holds. Other pages can list
    /// it, but learn nothing from it: not the key, not the channel. A new name for every
    /// generation, so another page cannot take the next refresh's lock before the tabs ask for it:
    /// it sees a name only once a tab of the session has asked, and then waits behind that tab
    /// (SECURITY.md).
    pub fn lock_name(&self, grant: &str, generation: u64) -> String {
        let mut data = grant.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(&generation.to_be_bytes());
        format!("rc-pkce.refresh.{}", self.name(LOCK_LABEL, &data))
    }

    fn name(&self, label: &[u8], data: &[u8]) -> String {
        let mac = self.mac(label, data);
        URL_SAFE_NO_PAD.encode(&mac[..NAME_BYTES])
    }

    fn hmac(&self, label: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        // The label and a separator first, so no input for one use is an input for another.
        mac.update(label);
        mac.update(&[0]);
        mac
    }

    fn mac(&self, label: &[u8], data: &[u8]) -> [u8; TAB_KEY_BYTES] {
        let mut mac = self.hmac(label);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The name part of a popup sign-in's hand-over channel ([`crate::popup::handover_channel`]).
    pub(crate) fn popup_channel_tag(&self, state: &str) -> String {
        self.name(HANDOVER_CHANNEL_LABEL, state.as_bytes())
    }

    /// The MAC of a popup's hand-over ([`crate::popup::seal`]).
    pub(crate) fn sign_handover(&self, message: &[u8]) -> [u8; TAB_KEY_BYTES] {
        self.mac(HANDOVER_LABEL, message)
    }

    /// Whether `tag` is the hand-over MAC of `message`, compared in constant time.
    pub(crate) fn verify_handover(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.hmac(HANDOVER_LABEL);
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }

    /// The MAC of one channel message.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; TAB_KEY_BYTES] {
        self.mac(MESSAGE_LABEL, message)
    }

    /// Whether `tag` is the MAC of `message`, compared in constant time.
    pub(crate) fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.hmac(MESSAGE_LABEL);
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::testing::{BrokenEntropy, SeededEntropy};

    #[test]
    fn keys_are_random_and_survive_their_text_form() {
        let a = TabKey::generate(&mut SeededEntropy(1)).unwrap();
        let b = TabKey::generate(&mut SeededEntropy(2)).unwrap();
        assert_ne!(a, b);
        assert_eq!(TabKey::from_text(&a.to_text()), Some(a.clone()));
        assert_eq!(a.to_text().len(), 43);
        for bad in [
            "",
            "not base64!",
            &a.to_text()[..42],
            &format!("{}AA", a.to_text()),
        ] {
            assert_eq!(TabKey::from_text(bad), None, "{bad:?}");
        }
        assert!(TabKey::generate(&mut BrokenEntropy).is_err());
        assert_eq!(format!("{a:?}"), "TabKey(<redacted>)");
    }

    #[test]
    fn names_depend_on_key_and_grant_and_reveal_neither() {
        let key = TabKey::from_bytes([7; 32]);
        let other = TabKey::from_bytes([8; 32]);
        let channel = key.channel_name("grant-1");
        let lock = key.lock_name("grant-1", 0);
        assert!(channel.starts_with("rc-pkce.tabs.") && lock.starts_with("rc-pkce.refresh."));
        // The lock, which other pages can list, does not give the channel away.
        assert_ne!(
            channel["rc-pkce.tabs.".len()..],
            lock["rc-pkce.refresh.".len()..]
        );
        assert_ne!(channel, key.channel_name("grant-2"));
        assert_ne!(channel, other.channel_name("grant-1"));
        assert_ne!(lock, other.lock_name("grant-1", 0));
        assert_ne!(lock, key.lock_name("grant-1", 1), "a name per generation");
        assert_ne!(lock, key.lock_name("grant-2", 0));
        assert_eq!(channel, key.channel_name("grant-1"), "deterministic");
        assert!(!channel.contains("grant") && !lock.contains(&key.to_text()));
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231 test case 2, through the same construction the names and messages use, minus
        // the label: checks that the crate is wired as HMAC-SHA-256.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_message_verifies_only_with_its_key_and_text() {
        let key = TabKey::from_bytes([7; 32]);
        let tag = key.sign(b"hello");
        assert!(key.verify(b"hello", &tag));
        assert!(!key.verify(b"hellO", &tag));
        assert!(!TabKey::from_bytes([8; 32]).verify(b"hello", &tag));
        assert!(!key.verify(b"hello", &tag[..31]));
        assert!(!key.verify(b"hello", &[]));
    }
}
