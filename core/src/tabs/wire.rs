//! The wire format of the tab protocol: a [`Message`] to channel text and back, signed with the
//! session's [`TabKey`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{Body, Message, TabKey};
use crate::record::{RecordError, decode_session, encode_session};

/// Channel text larger than this is not parsed: a session record is far smaller, so such text is
/// not from this app.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why channel text was not a message. The browser layer drops such text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// No MAC, or not one made with this session's key: not from a tab of this session.
    #[error("message not signed with this session's key")]
    Unauthenticated,
    #[error("message is not a tab message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("tokens message without a record")]
    MissingRecord,
    #[error("tokens message with a bad record: {0}")]
    BadRecord(RecordError),
}

/// Messages to channel text and back, authenticated with the tab key. This is the one place that
/// sees the wire format: `MAC.JSON`, the MAC being the base64url HMAC-SHA-256 of the JSON text.
/// Text that does not carry a valid MAC is refused before its JSON is even parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    key: TabKey,
}

impl Codec {
    pub fn new(key: &TabKey) -> Self {
        Self { key: key.clone() }
    }

    pub fn encode(&self, m: &Message) -> String {
        let json = serde_json::to_string(&Wire::from_message(m)).unwrap_or_default();
        let tag = URL_SAFE_NO_PAD.encode(self.key.sign(json.as_bytes()));
        format!("{tag}.{json}")
    }

    pub fn decode(&self, text: &str) -> Result<Message, WireError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::TooLarge);
        }
        let (tag, json) = text.split_once('.').ok_or(WireError::Unauthenticated)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| WireError::Unauthenticated)?;
        if !self.key.verify(json.as_bytes(), &tag) {
            return Err(WireError::Unauthenticated);
        }
        let w: Wire =
            serde_json::from_str(json).map_err(|e| WireError::Malformed(e.to_string()))?;
        w.into_message()
    }
}

/// One message on the channel. A flat struct rather than a tagged enum: serde's internally tagged
/// enums cost about 18 KB of wasm, this costs a fraction.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// `hello`, `here`, `bye`, `ask`, `tokens` or `signed_out`.
    t: String,
    grant: String,
    from: String,
    /// For `hello`, `here` and `ask`; zero otherwise.
    #[serde(default)]
    generation: u64,
    /// The encoded session, for `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
}

impl Wire {
    fn from_message(m: &Message) -> Self {
        let (t, generation, record) = match &m.body {
            Body::Hello { generation } => ("hello", *generation, None),
            Body::Here { generation } => ("here", *generation, None),
            Body::Bye => ("bye", 0, None),
            Body::Ask { generation } => ("ask", *generation, None),
            Body::Tokens(s) => ("tokens", 0, Some(encode_session(s))),
            Body::SignedOut => ("signed_out", 0, None),
        };
        Self {
            t: t.into(),
            grant: m.grant.clone(),
            from: m.from.clone(),
            generation,
            record,
        }
    }

    fn into_message(self) -> Result<Message, WireError> {
        let generation = self.generation;
        let body = match self.t.as_str() {
            "hello" => Body::Hello { generation },
            "here" => Body::Here { generation },
            "bye" => Body::Bye,
            "ask" => Body::Ask { generation },
            "tokens" => {
                let record = self.record.ok_or(WireError::MissingRecord)?;
                Body::Tokens(Box::new(
                    decode_session(&record).map_err(WireError::BadRecord)?,
                ))
            }
            "signed_out" => Body::SignedOut,
            _ => return Err(WireError::UnknownType(self.t)),
        };
        Ok(Message {
            grant: self.grant,
            from: self.from,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabs::testing::{G, key_of, msg, session};

    /// `json` signed with the key of `G`'s session, as a tab of it would send it.
    fn signed(json: &str) -> String {
        let tag = URL_SAFE_NO_PAD.encode(key_of(G).sign(json.as_bytes()));
        format!("{tag}.{json}")
    }

    #[test]
    fn the_wire_format() {
        let codec = Codec::new(&key_of(G));
        let s = session(G, 2, "at-x");
        let cases = [
            (
                Body::Hello { generation: 3 },
                r#"{"t":"hello","grant":"grant-1","from":"a","generation":3}"#.to_string(),
            ),
            (
                Body::Here { generation: 3 },
                r#"{"t":"here","grant":"grant-1","from":"a","generation":3}"#.to_string(),
            ),
            (
                Body::Bye,
                r#"{"t":"bye","grant":"grant-1","from":"a","generation":0}"#.to_string(),
            ),
            (
                Body::Ask { generation: 7 },
                r#"{"t":"ask","grant":"grant-1","from":"a","generation":7}"#.to_string(),
            ),
            (
                Body::Tokens(Box::new(s.clone())),
                format!(
                    r#"{{"t":"tokens","grant":"grant-1","from":"a","generation":0,"record":{}}}"#,
                    serde_json::to_string(&encode_session(&s)).unwrap()
                ),
            ),
            (
                Body::SignedOut,
                r#"{"t":"signed_out","grant":"grant-1","from":"a","generation":0}"#.to_string(),
            ),
        ];
        for (body, json) in cases {
            let m = msg(G, "a", body);
            let text = codec.encode(&m);
            assert_eq!(text, signed(&json));
            // 43 characters of MAC, a dot, the JSON.
            assert_eq!(text.find('.'), Some(43));
            assert_eq!(codec.decode(&text), Ok(m));
        }
        // `generation` may be missing; unknown fields are ignored.
        assert_eq!(
            codec.decode(&signed(
                r#"{"t":"signed_out","grant":"g","from":"b","extra":1}"#
            )),
            Ok(msg("g", "b", Body::SignedOut))
        );
    }

    /// Issue 16: any page of the origin could post on the tabs' channel, and a tab took what it
    /// said (tokens of another account, a sign-out). Now only text signed with the session's key
    /// is read at all.
    #[test]
    fn only_text_signed_with_the_sessions_key_is_read() {
        let codec = Codec::new(&key_of(G));
        let m = msg(G, "b", Body::Tokens(Box::new(session(G, 9, "at-forged"))));
        let genuine = codec.encode(&m);
        let json = &genuine[44..];
        let other_key = Codec::new(&key_of("grant-other")).encode(&m);
        let tampered = genuine.replace("at-forged", "at-forgeD");
        let truncated_tag = format!("{}{}", &genuine[..42], &genuine[43..]);
        for text in [
            // What the previous build sent: plain JSON on a fixed channel name.
            json.to_string(),
            format!(".{json}"),
            format!("AAAA.{json}"),
            format!("not base64!.{json}"),
            other_key,
            tampered,
            truncated_tag,
            String::new(),
        ] {
            assert_eq!(
                codec.decode(&text),
                Err(WireError::Unauthenticated),
                "{text}"
            );
        }
        assert_eq!(codec.decode(&genuine), Ok(m));
    }

    #[test]
    fn malformed_wire_text_is_rejected() {
        let codec = Codec::new(&key_of(G));
        let bad_record = encode_session(&session("", 1, "at"));
        let tokens_with = |record: &str| {
            format!(
                r#"{{"t":"tokens","grant":"g","from":"b","record":{}}}"#,
                serde_json::to_string(record).unwrap()
            )
        };
        for (json, want) in [
            ("not json".to_string(), "malformed"),
            ("\"hello\"".into(), "malformed"),
            (r#"{"t":"hello","grant":"g"}"#.into(), "malformed"),
            (
                r#"{"t":"hello","grant":"g","from":"b","generation":-1}"#.into(),
                "malformed",
            ),
            (r#"{"t":"hi","grant":"g","from":"b"}"#.into(), "unknown"),
            (r#"{"t":"tokens","grant":"g","from":"b"}"#.into(), "missing"),
            (tokens_with("{}"), "bad"),
            (tokens_with(&bad_record), "bad"),
        ] {
            let got = codec.decode(&signed(&json)).map_err(|e| match e {
                WireError::TooLarge => "too large",
                WireError::Unauthenticated => "unauthenticated",
                WireError::Malformed(_) => "malformed",
                WireError::UnknownType(_) => "unknown",
                WireError::MissingRecord => "missing",
                WireError::BadRecord(_) => "bad",
            });
            assert_eq!(got, Err(want), "{json}");
        }
    }

    #[test]
    fn oversized_wire_text_is_rejected_before_parsing() {
        let codec = Codec::new(&key_of(G));
        let m = msg(G, "b", Body::Bye);
        let json = &codec.encode(&m)[44..];
        // JSON allows trailing whitespace, so padding keeps the message valid.
        let padded = json.to_string() + &" ".repeat(MAX_MESSAGE_BYTES - 44 - json.len());
        let at_limit = signed(&padded);
        assert_eq!(at_limit.len(), MAX_MESSAGE_BYTES);
        assert_eq!(codec.decode(&at_limit), Ok(m));
        let over = signed(&format!("{padded} "));
        assert_eq!(codec.decode(&over), Err(WireError::TooLarge));
    }
}
