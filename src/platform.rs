//! The one seam between the effect runner ([`crate::driver`]) and the outside world: everything
//! the driver needs from a browser, as one small trait.
//!
//! [`crate::web::WebPlatform`] implements it with the adapters in [`crate::browser`]; the driver's
//! host tests implement it with a fake that records what was asked and answers when the test says.
//! An implementation reports facts (this write failed, this request got that answer, the lock is
//! held); it decides nothing: what a fact means is the core's business.

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use rc_pkce_core::Timestamp;
use rc_pkce_core::error::ApiError;
use rc_pkce_core::id_token::RsaKey;
use rc_pkce_core::random::EntropyError;
use rc_pkce_core::session::{Broadcast, StoredSession};
use rc_pkce_core::storage::StorageError;
use rc_pkce_core::token::FormBody;

use crate::browser::http::HttpResponse;
use crate::browser::tabs::Support;

/// Which store a record goes to: the tokens' store (sessionStorage or memory, from the
/// configuration; never localStorage), or sessionStorage for the pending sign-in and the reason
/// the last session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    Tokens,
    Pending,
}

/// A request the driver sends.
#[derive(Clone)]
pub enum Request {
    /// A form POST (token, refresh, revoke).
    Form { url: String, body: FormBody },
    /// A REST GET with a bearer token.
    Bearer { url: String, token: String },
    /// A GET of a public document (the server's key set), without credentials.
    Public { url: String },
}

impl Request {
    pub fn url(&self) -> &str {
        match self {
            Self::Form { url, .. } | Self::Bearer { url, .. } | Self::Public { url } => url,
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Self::Form { .. } => "POST",
            Self::Bearer { .. } | Self::Public { .. } => "GET",
        }
    }

    /// What makes two requests to one URL different: the form body, the bearer token.
    pub fn credential(&self) -> &str {
        match self {
            Self::Form { body, .. } => body.expose(),
            Self::Bearer { token, .. } => token,
            Self::Public { .. } => "",
        }
    }

    /// The request's identity, for answers that arrived before it was asked.
    pub fn key(&self) -> RequestKey {
        RequestKey {
            method: self.method(),
            url: self.url().to_string(),
            credential: self.credential().to_string(),
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (credential redacted)", self.method(), self.url())
    }
}

/// Method, URL and credential of a request: two requests with equal keys send the same bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestKey {
    pub method: &'static str,
    pub url: String,
    pub credential: String,
}

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (credential redacted)", self.method, self.url)
    }
}

/// A request's answer, once it comes.
pub type Answer = LocalBoxFuture<'static, Result<HttpResponse, ApiError>>;

/// What the outside world tells the driver without being asked.
#[derive(Debug)]
pub enum Signal {
    /// The wake-up set with [`Platform::wake_after`] is due, or the tab woke up (visible again,
    /// back online).
    Wake,
    /// The page was shown again from the back/forward cache.
    PageRestored,
    /// The Web Lock asked for with [`Platform::acquire_lock`] is this tab's; it asks the other
    /// tabs for newer tokens before [`Signal::LockGranted`].
    LockTaken,
    /// The lock asked for with [`Platform::acquire_lock`] is held and the ask is over.
    LockGranted,
    /// Another tab of this grant published something.
    FromOtherTab(Box<Broadcast>),
    /// The number of tabs sharing the session changed.
    PeersChanged,
}

/// Everything the driver needs from outside.
pub trait Platform {
    // Clock and entropy.
    fn now(&self) -> Timestamp;
    fn fill_random(&self, dest: &mut [u8]) -> Result<(), EntropyError>;

    // Storage.
    fn load(&self, area: Area, key: &str) -> Result<Option<String>, StorageError>;
    fn store(&self, area: Area, key: &str, value: &str) -> Result<(), StorageError>;
    fn remove(&self, area: Area, key: &str);

    // HTTP and tasks.
    fn send(&self, request: &Request) -> Answer;
    /// The answer to exactly this request if someone sent it before the app (the first-load
    /// module). Taken once.
    fn take_early(&self, key: &RequestKey) -> Option<Answer>;
    /// The early answer to `request` if there is one, else a new one.
    fn take_early_or_send(&self, request: &Request) -> Answer {
        self.take_early(&request.key())
            .unwrap_or_else(|| self.send(request))
    }
    /// The pending record a first-load module took out of storage before sending its code.
    fn take_early_pending(&self) -> Option<String>;
    /// Drops every early answer not taken by now.
    fn discard_early(&self);
    /// [`Platform::discard_early`] once the tasks queued now have had their first poll.
    fn discard_early_soon(&self);
    fn spawn(&self, task: LocalBoxFuture<'static, ()>);

    // Timer: one pending wake-up, delivered as [`Signal::Wake`].
    fn wake_after(&self, ms: u64);
    fn cancel_wake(&self);

    // Signatures.
    /// Whether `signature` is a valid RS256 signature of `signing_input` by `key` (the core
    /// chose the key); `Err` says why the check could not be made.
    fn verify_signature(
        &self,
        key: &RsaKey,
        signing_input: &str,
        signature: &[u8],
    ) -> LocalBoxFuture<'static, Result<bool, String>>;

    // Tabs.
    /// Take the Web Lock of this name (the core names it), then send [`Signal::LockTaken`] and
    /// [`Signal::LockGranted`].
    fn acquire_lock(&self, name: &str);
    fn release_lock(&self);
    fn publish(&self, message: &Broadcast);
    /// Which session this tab holds now, for its peers.
    fn share(&self, current: Option<&StoredSession>);
    /// Tabs sharing the session (this one included) and whether sharing works here.
    fn tabs(&self) -> (usize, Support);

    // Location.
    /// The URL this page was loaded at. (At the redirect URI the first-load module may have taken
    /// the callback out of the address bar already; it hands the URL over.)
    fn href(&self) -> String;
    fn at_redirect_uri(&self, url: &str) -> bool;
    /// Replaces the address (and history entry) with the bare redirect URI.
    fn clean_address(&self);
    fn navigate(&self, url: &str) -> Result<(), String>;

    /// Where [`Signal`]s go from now on.
    fn connect(&self, sink: Rc<dyn Fn(Signal)>);
}
