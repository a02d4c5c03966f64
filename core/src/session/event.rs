//! What goes into the session machine ([`Event`]), what comes out ([`Effect`]), and the values both
//! carry: the stored session, the messages between tabs, and the notices the user reads.

use serde::{Deserialize, Serialize};

use crate::authorize::PendingAuthorization;
use crate::binding::{BindingField, ServerBinding};
use crate::callback::CallbackRejection;
use crate::error::ApiError;
use crate::id_token::Refusal;
use crate::id_token::{Claims, RsaKey};
use crate::inspector::Step;
use crate::storage::StorageError;
use crate::tab_key::TabKey;
use crate::time::Timestamp;
use crate::token::{FormBody, TokenSet};

/// Identifies one API call in flight so a 401 can be answered with "retry" or "give up".
pub type CallId = u64;

/// The outcome of a sign-out's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeStatus {
    /// The revoke request is on its way.
    Pending,
    /// The server confirmed it: the tokens are dead everywhere.
    Confirmed,
    /// The server could not be told (offline, error): the tokens were only forgotten here.
    LocalOnly(ApiError),
}

/// A message for the user about why the session is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    SignedOut(RevokeStatus),
    /// The server refused a refresh for good (e.g. `invalid_grant`): the session is over.
    SessionEnded(ApiError),
    /// A refresh got no answer in time, and the next one was refused: the server had most likely
    /// carried out the first and replaced the refresh token, whose new value never arrived.
    RefreshLostInTransit(ApiError),
    /// The refresh token's lifetime ran out.
    SessionExpired,
    /// The access token expired and the app registration issues no refresh tokens.
    NoRefreshToken,
    /// Another tab of the same session signed out.
    SignedOutInAnotherTab,
    /// The callback was refused before any token request.
    CallbackRejected(CallbackRejection),
    /// The authorization server redirected back with an error (e.g. the user chose Deny).
    AuthorizationDenied(ApiError),
    /// The code exchange failed.
    ExchangeFailed(ApiError),
    /// A replayed or stale callback arrived while signed in: nothing was sent.
    AlreadySignedIn,
    /// A stored record could not be used and was deleted.
    StoredRecordDiscarded(String),
    /// The stored session belongs to another client or server than the configuration now names
    /// (Settings changed, `config.json` redeployed): it was deleted unused, and revoked where it
    /// came from.
    SessionOfAnotherServer {
        changed: BindingField,
        revoke: RevokeStatus,
    },
    /// The newest tokens could not be stored, so the stored copy was removed: the session goes on
    /// in this tab but does not survive a reload.
    SessionNotSaved(StorageError),
    /// The sign-in's ID token failed a check: nobody was signed in, no API call was made, and the
    /// tokens that came with it were revoked.
    IdTokenRefused(Refusal),
    /// The ID token a refresh brought failed a check: the session was ended and its tokens
    /// revoked.
    RefreshedIdTokenRefused(Refusal),
}

/// What is kept in storage (and passed between tabs) for a signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// Names the grant (one sign-in) across tabs that share it.
    pub grant_id: String,
    /// Increases with every refresh, so tabs can tell newer tokens from older ones.
    pub generation: u64,
    /// Names the channel and lock of the tabs that share the session, and signs their messages.
    /// Born with the sign-in ([`PendingAuthorization::tab_key`]).
    pub tab_key: TabKey,
    /// The client and server the tokens belong to.
    pub binding: ServerBinding,
    pub tokens: TokenSet,
    /// Who signed in, from the ID token whose signature and claims were verified (OpenID Connect
    /// sign-ins only; a newer verified ID token from a refresh replaces it).
    pub identity: Option<Claims>,
}

/// Messages between tabs that share a grant.
// One is made per refresh or sign-out: the size of the larger variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broadcast {
    Tokens(StoredSession),
    SignedOut { grant_id: String },
}

/// Inputs to the machine.
#[derive(Debug)]
pub enum Event {
    /// App start: what storage held (already decoded), or why it was discarded.
    Restored {
        stored: Option<StoredSession>,
        discarded: Option<String>,
    },
    /// The user started a sign-in; `pending` and `url` come from [`crate::authorize::start`].
    SignInStarted {
        pending: PendingAuthorization,
        url: String,
    },
    /// The pending record of [`Effect::StorePending`] was written, or could not be.
    PendingStored(Result<(), StorageError>),
    /// The session record of [`Effect::StoreSession`] was written, or could not be.
    SessionStored(Result<(), StorageError>),
    /// Storage refused to keep (or give back) something else the session wrote or read.
    StorageFailed(StorageError),
    /// Why the previous session in this tab ended, as stored by [`Effect::StoreEnded`] (read at
    /// start, before [`Event::Restored`]).
    EndedBefore(Notice),
    /// The user dismissed the notice.
    NoticeDismissed,
    /// The browser refused something a sign-in cannot do without (random numbers, opening the
    /// sign-in page); the text says what.
    BrowserFailed(String),
    /// The page was loaded at the redirect URI. `pending` is this tab's record (taken from storage).
    CallbackReceived {
        url: String,
        pending: Option<PendingAuthorization>,
    },
    /// The token endpoint answered request `id`.
    TokenResponse {
        id: u64,
        result: Result<TokenSet, ApiError>,
    },
    /// A timer fired (or the tab became visible again).
    Tick,
    /// The browser showed this page again from its back/forward cache (e.g. Back from the
    /// authorize page): the page resumes in the state it was left in instead of loading anew.
    PageRestored,
    /// The user pressed "Refresh now".
    RefreshRequested,
    /// The Web Lock asked for with [`Effect::AcquireRefreshLock`] is this tab's; it now asks the
    /// other tabs for newer tokens before [`Event::RefreshLockGranted`].
    RefreshLockTaken,
    /// The lock asked for with [`Effect::AcquireRefreshLock`] is held and no other tab had newer
    /// tokens (or locks are unavailable): refresh.
    RefreshLockGranted,
    /// API call `call`, made with the tokens of `generation`, got a 401. `retried` says it was
    /// already the retry.
    ApiUnauthorized {
        call: CallId,
        generation: u64,
        retried: bool,
        error: ApiError,
    },
    SignOutRequested,
    RevokeFinished {
        result: Result<(), ApiError>,
    },
    /// Another tab published something for a grant.
    FromOtherTab(Broadcast),
    /// The key set asked for with [`Effect::FetchKeys`] `id` came (its text), or did not.
    KeysFetched {
        id: u64,
        result: Result<String, ApiError>,
    },
    /// The browser's verdict on [`Effect::CheckSignature`] `id`: valid or not, or why it could
    /// not check.
    SignatureChecked {
        id: u64,
        result: Result<bool, String>,
    },
}

/// Outputs: what the browser layer must do, in order.
#[derive(Debug)]
pub enum Effect {
    /// Write the pending record and answer with [`Event::PendingStored`].
    StorePending(PendingAuthorization),
    ClearPending,
    /// Leave the page for this URL (the authorize endpoint); a refusal is
    /// [`Event::BrowserFailed`].
    Navigate(String),
    /// POST `body` to the token endpoint and answer with [`Event::TokenResponse`] carrying `id`.
    PostToken {
        id: u64,
        body: FormBody,
    },
    /// POST `body` to `endpoint` (a revoke endpoint: the configured one, or that of the server
    /// a discarded record came from) and answer with [`Event::RevokeFinished`].
    PostRevoke {
        endpoint: String,
        body: FormBody,
    },
    /// Take the Web Lock of this name (the grant's, [`TabKey::lock_name`]), then answer with
    /// [`Event::RefreshLockTaken`] and, after the ask, [`Event::RefreshLockGranted`].
    AcquireRefreshLock {
        name: String,
    },
    ReleaseRefreshLock,
    /// Write the session record and answer with [`Event::SessionStored`].
    StoreSession(StoredSession),
    ClearSession,
    /// Remove the stored session record only (it is older than the tokens in memory).
    ForgetStoredSession,
    /// Keep why the session ended (a reason the user did not choose) so a reload still says it.
    StoreEnded(Notice),
    /// Forget the stored end reason (a new sign-in, or the user dismissed it).
    ClearEnded,
    Publish(Broadcast),
    /// Deliver [`Event::Tick`] at this instant (replaces any earlier wake-up).
    WakeAt(Timestamp),
    /// Cancel the pending wake-up.
    CancelWake,
    RetryCall(CallId),
    FailCall(CallId, ApiError),
    /// A step for the PKCE inspector.
    Record(Step),
    /// Sign-in finished: show the account.
    ShowAccount,
    /// GET the server's key set (JWKS) at `url`, without credentials, and answer with
    /// [`Event::KeysFetched`] carrying `id`.
    FetchKeys {
        id: u64,
        url: String,
    },
    /// Check an RS256 signature of `signing_input` with `key` (WebCrypto) and answer with
    /// [`Event::SignatureChecked`] carrying `id`.
    CheckSignature {
        id: u64,
        key: RsaKey,
        signing_input: String,
        signature: Vec<u8>,
    },
}

/// The non-secret facts about a stored session the app may show (session panel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFacts {
    pub scope: Option<String>,
    pub owner_id: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub refresh_expires_at: Option<Timestamp>,
    pub has_refresh_token: bool,
    pub generation: u64,
}

impl From<&StoredSession> for SessionFacts {
    fn from(s: &StoredSession) -> Self {
        Self {
            scope: s.tokens.scope.clone(),
            owner_id: s.tokens.owner_id.clone(),
            expires_at: s.tokens.expires_at,
            refresh_expires_at: s.tokens.refresh_expires_at,
            has_refresh_token: s.tokens.refresh_token.is_some(),
            generation: s.generation,
        }
    }
}
