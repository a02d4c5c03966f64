//! The pure core of rc-pkce: everything that decides what the app sends to RingCentral and what it
//! accepts back.
//!
//! Nothing in this crate touches a browser API, the network, storage or the system clock. Time comes
//! in as a [`Timestamp`] argument, randomness through the [`Entropy`] trait, and I/O goes out as
//! [`session::Effect`] values that the browser layer carries out. That is what lets every rule below
//! be tested on the host in microseconds.
//!
//! - [`pkce`]: code verifier and S256 challenge (RFC 7636).
//! - [`authorize`]: the `state` value, the pending authorization record, the authorize URL.
//! - [`callback`]: the callback URL to one typed outcome or a typed rejection.
//! - [`binding`]: the client and server a pending sign-in or a session belongs to.
//! - [`token`]: token, refresh and revoke request bodies; the token response.
//! - [`error`]: RFC 6749 and RingCentral error shapes to one typed error with user-facing text.
//! - [`discovery`]: an OpenID provider's metadata document, read and held to this client's needs.
//! - [`id_token`]: the OpenID Connect ID token taken apart and its claims checked (the RSA
//!   signature is the browser's to verify).
//! - [`handoff`]: how a sign-in the app never took over (its first-load answer unclaimed) is ended.
//! - [`session`]: the session state machine.
//! - [`tabs`]: the protocol between tabs that share a grant, and its wire format; [`tab_key`]: the
//!   key that names their channel and lock and signs their messages.
//! - [`config`]: the runtime configuration schema and its validation.
//! - [`record`]: versioned serialisation of what is kept in storage; [`storage`]: what a failed
//!   store means for the user.
//! - [`inspector`]: the step-by-step record of the last sign-in shown by the PKCE inspector;
//!   [`sequence`]: the same steps as a sequence diagram (layout and SVG text).

pub mod authorize;
pub mod binding;
pub mod callback;
pub mod config;
pub mod discovery;
pub mod error;
pub mod handoff;
pub mod id_token;
pub mod inspector;
pub mod pkce;
pub mod popup;
pub mod random;
pub mod record;
pub mod secret;
pub mod sequence;
pub mod session;
pub mod storage;
pub mod tab_key;
pub mod tabs;
pub mod time;
pub mod token;
pub mod url;

pub use random::{Entropy, SystemEntropy};
pub use time::Timestamp;
