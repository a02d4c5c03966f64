//! Sign-in in a popup (issue 20), sans I/O: where the popup goes on the screen, and the hand-over
//! of the callback from the popup to the tab that opened it. Groundwork: the app does not open
//! popups yet.
//!
//! The popup returns to the redirect URI, and that page does nothing with the code but hand the
//! callback URL to its opener: by `postMessage` when `window.opener` is there, and otherwise (the
//! sign-in page's `Cross-Origin-Opener-Policy` cut it) on a `BroadcastChannel`. Any page of the
//! origin can open a channel, so the channel is named after the pending sign-in's tab key and
//! `state` ([`handover_channel`]), which only the opener and the popup's copy of its
//! `sessionStorage` hold, and the message carries an HMAC made with the same key ([`seal`],
//! [`open`]). What the opener then does with the URL is what a redirect sign-in does: the
//! session's own callback checks (state, issuer, age, single use).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::tab_key::TabKey;

/// The popup's size in CSS pixels: RingCentral's sign-in page fits, with its `display=popup`
/// layout.
pub const POPUP_WIDTH: i32 = 500;
pub const POPUP_HEIGHT: i32 = 650;
/// What a hand-over message starts with, and its version.
const PREFIX: &str = "rc-pkce.handover.1.";
/// The longest hand-over accepted: a callback URL is short (see `callback::MAX_CALLBACK_URL_LEN`).
pub const MAX_HANDOVER_BYTES: usize = 16 * 1024;

/// A window's place on the screen (`screenX`, `screenY`, `outerWidth`, `outerHeight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
}

/// The `window.open` features of a popup of [`POPUP_WIDTH`] × [`POPUP_HEIGHT`] centred on the
/// opener's window (and kept on the screen's positive side, where browsers place it anyway).
pub fn features(opener: Frame) -> String {
    let left = (opener.left + (opener.width - POPUP_WIDTH) / 2).max(0);
    let top = (opener.top + (opener.height - POPUP_HEIGHT) / 2).max(0);
    format!("popup=yes,width={POPUP_WIDTH},height={POPUP_HEIGHT},left={left},top={top}")
}

/// The channel the popup hands the callback over on when its opener is cut: named after the
/// sign-in's key and `state`, so no other page of the origin can name it, and no other sign-in
/// of this tab shares it.
pub fn handover_channel(key: &TabKey, state: &str) -> String {
    format!("rc-pkce.handover.{}", key.popup_channel_tag(state))
}

/// The hand-over of `callback_url` (the URL the popup was sent back to), sealed with the
/// sign-in's key.
pub fn seal(key: &TabKey, callback_url: &str) -> String {
    let tag = URL_SAFE_NO_PAD.encode(key.sign_handover(callback_url.as_bytes()));
    format!("{PREFIX}{tag}.{callback_url}")
}

/// Why a hand-over message is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverRefusal {
    /// Not a hand-over message at all (another page's, or another version's).
    NotHandover,
    TooLarge,
    /// Not sealed with this sign-in's key: forged, or another sign-in's.
    BadSeal,
}

/// The callback URL a hand-over message carries, if it was sealed with `key`. The seal is checked
/// in constant time before anything else is read.
pub fn open(key: &TabKey, message: &str) -> Result<String, HandoverRefusal> {
    if message.len() > MAX_HANDOVER_BYTES {
        return Err(HandoverRefusal::TooLarge);
    }
    let rest = message
        .strip_prefix(PREFIX)
        .ok_or(HandoverRefusal::NotHandover)?;
    let (tag, url) = rest.split_once('.').ok_or(HandoverRefusal::NotHandover)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| HandoverRefusal::BadSeal)?;
    if !key.verify_handover(url.as_bytes(), &tag) {
        return Err(HandoverRefusal::BadSeal);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const URL: &str = "http://localhost:5000/oauth2callback?code=C&state=S";

    #[test]
    fn the_popup_is_centred_on_the_opener_and_stays_on_the_screen() {
        let opener = Frame {
            left: 100,
            top: 50,
            width: 1300,
            height: 850,
        };
        assert_eq!(
            features(opener),
            "popup=yes,width=500,height=650,left=500,top=150"
        );
        let small = Frame {
            left: 0,
            top: 0,
            width: 300,
            height: 300,
        };
        assert_eq!(
            features(small),
            "popup=yes,width=500,height=650,left=0,top=0"
        );
        // A second screen to the left has negative coordinates: centred there too.
        let left_screen = Frame {
            left: -1600,
            ..opener
        };
        assert!(features(left_screen).ends_with("left=0,top=150"));
    }

    #[test]
    fn only_the_sign_ins_key_opens_its_hand_over() {
        let key = TabKey::from_bytes([3; 32]);
        let other = TabKey::from_bytes([4; 32]);
        let sealed = seal(&key, URL);
        assert_eq!(open(&key, &sealed).as_deref(), Ok(URL));
        assert_eq!(open(&other, &sealed), Err(HandoverRefusal::BadSeal));
        let changed = sealed.replace("code=C", "code=D");
        assert_eq!(open(&key, &changed), Err(HandoverRefusal::BadSeal));
        assert_eq!(open(&key, URL), Err(HandoverRefusal::NotHandover));
        assert_eq!(
            open(&key, "rc-pkce.handover.1.no-dot"),
            Err(HandoverRefusal::NotHandover)
        );
        assert_eq!(
            open(&key, &"x".repeat(MAX_HANDOVER_BYTES + 1)),
            Err(HandoverRefusal::TooLarge)
        );
    }

    #[test]
    fn the_channel_is_the_sign_ins_own() {
        let key = TabKey::from_bytes([3; 32]);
        let channel = handover_channel(&key, "state-1");
        assert!(channel.starts_with("rc-pkce.handover."));
        assert_eq!(channel, handover_channel(&key, "state-1"));
        assert_ne!(channel, handover_channel(&key, "state-2"));
        assert_ne!(
            channel,
            handover_channel(&TabKey::from_bytes([4; 32]), "state-1")
        );
        assert!(!channel.contains("state-1"));
        // Not the session's tab channel, which the same key names.
        assert_ne!(
            channel["rc-pkce.handover.".len()..],
            key.channel_name("state-1")["rc-pkce.tabs.".len()..]
        );
    }

    proptest! {
        #[test]
        fn nothing_but_a_sealed_message_opens(text in ".{0,300}") {
            let key = TabKey::from_bytes([3; 32]);
            prop_assert!(open(&key, &text).is_err());
            prop_assert_eq!(open(&key, &seal(&key, &text)), Ok(text));
        }
    }
}
