//! What the pages say, decided without a browser: the text of every notice, countdowns, and the
//! call-log page cache with its rate-limit cool-down. The components only render these.

use std::collections::HashMap;

use rc_pkce_core::Timestamp;
use rc_pkce_core::error::ApiError;
use rc_pkce_core::id_token::IdTokenError;
use rc_pkce_core::id_token::Refusal;
use rc_pkce_core::session::{Notice, RevokeStatus};

use crate::api::{CallLogPage, Range};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Success,
    Warning,
    Error,
}

impl Tone {
    pub fn class(self) -> &'static str {
        match self {
            Self::Info => "notice notice-info",
            Self::Success => "notice notice-success",
            Self::Warning => "notice notice-warning",
            Self::Error => "notice notice-error",
        }
    }
}

/// A message for the user: what happened, the server's words, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tone: Tone,
    pub title: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// Offer a fresh sign-in ("Try again").
    pub try_again: bool,
}

impl Message {
    pub fn from_error(error: &ApiError) -> Self {
        Self {
            tone: Tone::Error,
            title: error.title(),
            detail: error.detail(),
            hint: Some(error.hint()),
            try_again: false,
        }
    }
}

/// Why the identity card shows no userinfo.
pub fn userinfo_problem_message(problem: &crate::driver::UserInfoProblem) -> Message {
    match problem {
        crate::driver::UserInfoProblem::Api(e) => Message::from_error(e),
        crate::driver::UserInfoProblem::Refused(e) => Message {
            tone: Tone::Error,
            title: "The userinfo answer was not used.".into(),
            detail: Some(e.to_string()),
            hint: Some("Only the verified ID token is shown. If this repeats, the server (or something between it and this browser) mixes up users.".into()),
            try_again: false,
        },
    }
}

/// What to do about a refused ID token.
fn id_token_hint(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::KeysUnreachable { .. } => {
            "The server's key set could not be reached. Check the connection (and `jwks_uri` in config.json), then sign in again."
        }
        Refusal::Token(IdTokenError::WrongIssuer { .. }) => {
            "Check that `issuer` in config.json is exactly the server's issuer, then sign in again."
        }
        Refusal::Token(
            IdTokenError::WrongAudience { .. } | IdTokenError::WrongAuthorizedParty { .. },
        ) => "Check that `client_id` in config.json is this app's, then sign in again.",
        Refusal::Token(IdTokenError::Expired { .. } | IdTokenError::IssuedInTheFuture { .. }) => {
            "Check this device's clock, then sign in again."
        }
        Refusal::CannotVerify(_) => {
            "Open the app over https (or on localhost) in a current browser, then sign in again."
        }
        _ => {
            "Sign in again. If it happens again, the server (or something between it and this browser) sends tokens this app must not trust."
        }
    }
}

pub fn notice_message(notice: &Notice) -> Message {
    let plain = |tone, title: &str, hint: Option<&str>, try_again| Message {
        tone,
        title: title.to_string(),
        detail: None,
        hint: hint.map(str::to_string),
        try_again,
    };
    match notice {
        Notice::SignedOut(RevokeStatus::Pending) => plain(Tone::Info, "Signing out: revoking your tokens at RingCentral…", None, false),
        Notice::SignedOut(RevokeStatus::Confirmed) => plain(
            Tone::Success,
            "You are signed out. RingCentral confirmed that the tokens are revoked.",
            None,
            false,
        ),
        Notice::SignedOut(RevokeStatus::LocalOnly(e)) => Message {
            tone: Tone::Warning,
            title: "You are signed out on this device, but RingCentral could not be told: the tokens were only deleted here.".into(),
            detail: Some(e.title()),
            hint: Some("They expire on their own. To end the session at once, sign in again when online and sign out.".into()),
            try_again: false,
        },
        Notice::SessionEnded(e) => Message {
            tone: Tone::Warning,
            title: "Your session ended: RingCentral no longer accepts its refresh token.".into(),
            detail: Some(match e.detail() {
                Some(d) => format!("{} ({d})", e.title()),
                None => e.title(),
            }),
            hint: Some("This happens when the session is revoked, signed out elsewhere, or replaced. Sign in again.".into()),
            try_again: true,
        },
        Notice::RefreshLostInTransit(e) => Message {
            tone: Tone::Warning,
            title: "Your session ended: a refresh got no answer in time, and RingCentral refused the next one.".into(),
            detail: Some(format!(
                "RingCentral most likely carried out the first refresh and replaced the refresh token, but its answer never arrived, so this tab still held the old one. {}",
                e.title()
            )),
            hint: Some("Sign in again. On a slow or unstable connection this can happen again; nothing was leaked.".into()),
            try_again: true,
        },
        Notice::SessionExpired => plain(
            Tone::Warning,
            "Your session expired: the refresh token reached the end of its lifetime.",
            Some("Sign in again."),
            true,
        ),
        Notice::NoRefreshToken => plain(
            Tone::Warning,
            "Your session ended when the access token expired: the app registration issues no refresh tokens.",
            Some("Enable \"Issue refresh tokens\" for the app in the RingCentral Developer Console, then sign in again."),
            true,
        ),
        Notice::SignedOutInAnotherTab => plain(Tone::Info, "You signed out in another tab.", None, false),
        Notice::SessionOfAnotherServer { changed, revoke } => Message {
            tone: Tone::Warning,
            title: format!(
                "You were signed out: the saved session belongs to another server or app (`{}` changed in the configuration since you signed in).",
                changed.config_key()
            ),
            detail: Some(match revoke {
                RevokeStatus::Pending => "Its tokens were not sent to the server configured now. Revoking them at the server they came from…".into(),
                RevokeStatus::Confirmed => "Its tokens were not sent to the server configured now, and the server they came from confirmed that they are revoked.".into(),
                RevokeStatus::LocalOnly(e) => format!(
                    "Its tokens were not sent to the server configured now. The server they came from could not be told ({}), so they were only deleted here and expire on their own.",
                    e.title()
                ),
            }),
            hint: Some("Sign in again with the server configured now.".into()),
            try_again: true,
        },
        Notice::CallbackRejected(r) => Message {
            tone: Tone::Error,
            title: format!("Sign-in refused: {r}."),
            detail: Some("No token request was sent.".into()),
            hint: Some(r.hint().to_string()),
            try_again: true,
        },
        Notice::IdTokenRefused(refusal) => Message {
            tone: Tone::Error,
            title: format!("Sign-in refused: the ID token failed its {} check.", refusal.check()),
            detail: Some(format!(
                "{refusal}. Nobody was signed in and no API call was made; the tokens that came with it were revoked."
            )),
            hint: Some(id_token_hint(refusal).into()),
            try_again: true,
        },
        Notice::RefreshedIdTokenRefused(refusal) => Message {
            tone: Tone::Warning,
            title: format!(
                "Your session ended: the ID token of a refresh failed its {} check.",
                refusal.check()
            ),
            detail: Some(format!(
                "{refusal}. Its tokens were not used and were revoked, here and in your other tabs."
            )),
            hint: Some(id_token_hint(refusal).into()),
            try_again: true,
        },
        Notice::AuthorizationDenied(e) => {
            let mut m = Message::from_error(e);
            m.try_again = true;
            m
        }
        Notice::ExchangeFailed(e) => {
            let mut m = Message::from_error(e);
            m.title = format!("Sign-in failed while exchanging the code: {}", e.title());
            m.try_again = true;
            m
        }
        Notice::AlreadySignedIn => plain(
            Tone::Info,
            "That sign-in link was already used. You are still signed in; nothing was sent.",
            None,
            false,
        ),
        Notice::SessionNotSaved(e) => Message {
            tone: Tone::Warning,
            title: "You are still signed in, but only in this tab's memory: a reload will sign you out.".into(),
            detail: Some(format!(
                "The new tokens could not be saved ({}), so the saved copy, whose refresh token RingCentral has replaced, was removed.",
                e.title().trim_end_matches('.')
            )),
            hint: Some(format!("{} This notice goes once the tokens are saved again.", e.hint())),
            try_again: false,
        },
        Notice::StoredRecordDiscarded(why) => Message {
            tone: Tone::Warning,
            title: format!("Your saved session could not be used: {why}."),
            detail: None,
            hint: Some("Sign in again.".into()),
            try_again: false,
        },
    }
}

/// A remaining time as the session panel shows it: `59 min 12 s`, `45 s`, `2 d 3 h`, `expired`.
pub fn countdown(now: Timestamp, until: Timestamp) -> String {
    let ms = now.millis_until(until);
    if ms == 0 {
        return "expired".into();
    }
    let s = ms.div_ceil(1000);
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {sec} s")
    } else {
        format!("{sec} s")
    }
}

/// Call-log pages already fetched, and when the Heavy rate-limit group allows the next request.
///
/// The call log is in RingCentral's Heavy group (10 requests a minute per user): pages are cached
/// for the page's lifetime, never polled, and after a 429 no request is sent before the server's
/// `Retry-After` (or 30 s) has passed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CallLogCache {
    pages: HashMap<(Range, u32), CallLogPage>,
    blocked_until: Option<Timestamp>,
}

impl CallLogCache {
    pub fn get(&self, range: Range, page: u32) -> Option<&CallLogPage> {
        self.pages.get(&(range, page))
    }

    pub fn put(&mut self, range: Range, page: u32, data: CallLogPage) {
        self.pages.insert((range, page), data);
    }

    /// Forgets cached pages (the user asked for fresh data).
    pub fn clear_pages(&mut self) {
        self.pages.clear();
    }

    /// Records a failure; a rate limit blocks requests until its wait is over.
    pub fn failed(&mut self, error: &ApiError, now: Timestamp) {
        if error.kind == rc_pkce_core::error::ErrorKind::RateLimited {
            let secs = error
                .retry_after_secs
                .unwrap_or(rc_pkce_core::error::DEFAULT_RATE_LIMIT_WAIT_SECS);
            self.blocked_until = Some(now.plus_secs(secs));
        }
    }

    /// When requests may be sent again, if they may not now.
    pub fn blocked_until(&self, now: Timestamp) -> Option<Timestamp> {
        self.blocked_until.filter(|t| *t > now)
    }
}

/// The app's pages, one per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Home,
    Callback,
    Account,
    Settings,
    NotFound,
}

impl Page {
    /// The page at `path`, a path below the app's base (`/`, `/account`, …). One trailing slash is
    /// ignored; anything unknown is [`Page::NotFound`].
    pub fn at(path: &str) -> Self {
        let path = match path.strip_suffix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => path,
        };
        match path {
            "" | "/" => Self::Home,
            "/oauth2callback" => Self::Callback,
            "/account" => Self::Account,
            "/settings" => Self::Settings,
            _ => Self::NotFound,
        }
    }
}

/// Whether a navigation link to `href` marks the current page (`aria-current="page"`) at `path`:
/// the same path, or (unless `exact`) a path below it.
pub fn link_is_current(path: &str, href: &str, exact: bool) -> bool {
    let path = path.trim_end_matches('/');
    let href = href.trim_end_matches('/');
    path == href
        || (!exact
            && path
                .strip_prefix(href)
                .is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_path() {
        assert_eq!(Page::at("/"), Page::Home);
        assert_eq!(Page::at(""), Page::Home);
        assert_eq!(Page::at("/account"), Page::Account);
        assert_eq!(Page::at("/account/"), Page::Account);
        assert_eq!(Page::at("/settings"), Page::Settings);
        assert_eq!(Page::at("/oauth2callback"), Page::Callback);
        assert_eq!(Page::at("/accounts"), Page::NotFound);
        assert_eq!(Page::at("/account/x"), Page::NotFound);
    }

    #[test]
    fn current_link() {
        assert!(link_is_current("/", "/", true));
        assert!(!link_is_current("/account", "/", true));
        assert!(link_is_current("/account", "/account", false));
        assert!(link_is_current("/account/", "/account", false));
        assert!(link_is_current("/account/x", "/account", false));
        assert!(!link_is_current("/accounts", "/account", false));
        assert!(!link_is_current("/settings", "/account", false));
    }
    use rc_pkce_core::callback::CallbackRejection;
    use rc_pkce_core::error::{ErrorKind, parse_error_response};

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn every_notice_has_a_title() {
        let e = ApiError::network("http://x", "down");
        let all = [
            Notice::SignedOut(RevokeStatus::Pending),
            Notice::SignedOut(RevokeStatus::Confirmed),
            Notice::SignedOut(RevokeStatus::LocalOnly(e.clone())),
            Notice::SessionEnded(e.clone()),
            Notice::SessionExpired,
            Notice::NoRefreshToken,
            Notice::SignedOutInAnotherTab,
            Notice::CallbackRejected(CallbackRejection::StateMismatch),
            Notice::AuthorizationDenied(e.clone()),
            Notice::ExchangeFailed(e.clone()),
            Notice::AlreadySignedIn,
            Notice::StoredRecordDiscarded("x".into()),
            Notice::SessionNotSaved(rc_pkce_core::storage::StorageError::QuotaExceeded {
                kind: rc_pkce_core::storage::StoreKind::Session,
            }),
        ];
        let titles: std::collections::BTreeSet<_> =
            all.iter().map(|n| notice_message(n).title).collect();
        assert_eq!(titles.len(), all.len());
    }

    #[test]
    fn sign_out_says_whether_the_revoke_was_confirmed() {
        assert!(
            notice_message(&Notice::SignedOut(RevokeStatus::Confirmed))
                .title
                .contains("confirmed")
        );
        let offline = notice_message(&Notice::SignedOut(RevokeStatus::LocalOnly(
            ApiError::network("x", "y"),
        )));
        assert!(offline.title.contains("only deleted here"));
        assert_eq!(offline.tone, Tone::Warning);
    }

    #[test]
    fn rejections_offer_try_again_and_say_nothing_was_sent() {
        let m = notice_message(&Notice::CallbackRejected(CallbackRejection::StateMismatch));
        assert!(m.try_again);
        assert_eq!(m.detail.as_deref(), Some("No token request was sent."));
        assert!(m.title.contains("state does not match"));
    }

    #[test]
    fn session_end_keeps_the_server_reason() {
        let e = parse_error_response(
            400,
            None,
            br#"{"error":"invalid_grant","error_description":"Token is revoked"}"#,
            T0,
        );
        let m = notice_message(&Notice::SessionEnded(e));
        assert!(m.detail.unwrap().contains("Token is revoked"));
    }

    #[test]
    fn identity_texts_say_what_was_verified_and_what_was_not_used() {
        let claims: rc_pkce_core::id_token::Claims = serde_json::from_str(
            r#"{"iss":"https://i","sub":"101","aud":"a","exp":2,"iat":1,"auth_time":1,"email":"j@e","email_verified":false,"given_name":"Jane","family_name":"Doe","account_id":37}"#,
        )
        .unwrap();
        let rows = text::identity_rows(&claims, |t| format!("t{t}"));
        let value = |id: &str| rows.iter().find(|r| r.2 == id).unwrap().1.clone();
        assert_eq!(value("id-name").as_deref(), Some("Jane Doe"));
        assert_eq!(value("id-email").as_deref(), Some("j@e (not verified)"));
        assert_eq!(value("id-account").as_deref(), Some("37"));
        assert_eq!(value("id-auth-time").as_deref(), Some("t1"));
        let other = rc_pkce_core::id_token::check_userinfo(&claims, r#"{"sub":"9"}"#).unwrap_err();
        let m = userinfo_problem_message(&crate::driver::UserInfoProblem::Refused(other));
        assert_eq!(m.tone, Tone::Error);
        assert!(m.detail.unwrap().contains("another user"));
        let info =
            rc_pkce_core::id_token::check_userinfo(&claims, r#"{"sub":"101","email":"j@e"}"#)
                .unwrap();
        assert_eq!(
            text::userinfo_summary(&info),
            "Userinfo confirms the same subject, with email."
        );
    }

    #[test]
    fn countdowns() {
        assert_eq!(countdown(T0, T0), "expired");
        assert_eq!(countdown(T0, T0.plus_millis(400)), "1 s");
        assert_eq!(countdown(T0, T0.plus_secs(45)), "45 s");
        assert_eq!(countdown(T0, T0.plus_secs(3552)), "59 min 12 s");
        assert_eq!(countdown(T0, T0.plus_secs(7200)), "2 h 0 min");
        assert_eq!(countdown(T0, T0.plus_secs(604_800)), "7 d 0 h");
        assert_eq!(countdown(T0.plus_secs(5), T0), "expired");
    }

    #[test]
    fn call_log_cache_and_cool_down() {
        let mut c = CallLogCache::default();
        assert!(c.get(Range::Day, 1).is_none());
        c.put(Range::Day, 1, CallLogPage::default());
        assert!(c.get(Range::Day, 1).is_some());
        assert!(c.get(Range::Week, 1).is_none());
        let limited = parse_error_response(429, Some("12"), b"", T0);
        c.failed(&limited, T0);
        assert_eq!(c.blocked_until(T0), Some(T0.plus_secs(12)));
        assert_eq!(c.blocked_until(T0.plus_secs(12)), None);
        let mut c = CallLogCache::default();
        c.failed(&parse_error_response(429, None, b"", T0), T0);
        assert_eq!(c.blocked_until(T0), Some(T0.plus_secs(30)));
        let mut c = CallLogCache::default();
        c.failed(&ApiError::new(ErrorKind::ServerUnavailable), T0);
        assert_eq!(c.blocked_until(T0), None);
        c.clear_pages();
    }
}

/// Text that both the app's components and the first-load module ([`crate::first_load`]) draw,
/// kept in one place so the page does not change when the app takes over.
pub mod text {
    pub const SKIP_TO_CONTENT: &str = "Skip to content";
    pub const BRAND_MARK: &str = "⬡";
    pub const BRAND_NAME: &str = "rc-pkce";
    pub const NAV_LABEL: &str = "Main";
    pub const NAV_HOME: &str = "Home";
    pub const NAV_ACCOUNT: &str = "Account";
    pub const NAV_SETTINGS: &str = "Settings";
    pub const BRAND_TAG: &str = "RingCentral sign-in with PKCE";
    pub const TARGET_HEADING: &str = "Signing in to";
    pub const FACT_SERVER: &str = "Server";
    pub const FACT_CLIENT_ID: &str = "Client ID";
    pub const FACT_REDIRECT_URI: &str = "Redirect URI";
    pub const YOU_HEADING: &str = "You";
    pub const ACCOUNT_HEADING: &str = "Your account";
    pub const FOOTER: &str = "A public OAuth 2.0 client: no client secret, tokens only in this tab. Authorization Code + PKCE (RFC 7636), revocation (RFC 7009).";
    pub const HOME_TITLE: &str = "Sign in to RingCentral — safely, from the browser";
    pub const HOME_LEAD: &str = "This page signs you in with OAuth 2.0 Authorization Code + PKCE: no client secret, a one-time verifier that never leaves this tab, tokens kept in this tab's sessionStorage only and refreshed before they expire. Then it shows who you are and your recent calls.";
    pub const SIGN_IN: &str = "Sign in with RingCentral";
    pub const SIGNING_IN: &str = "Opening RingCentral…";
    /// Before the browser's reason, when it refused to open the authorize page.
    pub const NAVIGATION_REFUSED: &str = "The browser did not open the sign-in page:";
    /// After the app failed to start at the redirect URI, and the sign-in's tokens were revoked.
    pub const SIGN_IN_UNDONE: &str = "The sign-in was undone: with no app to keep its tokens, they \
        were revoked at the server. Sign in again once the app loads.";
    /// After the app failed to start at the redirect URI, and revoking the tokens failed.
    pub const SIGN_IN_NOT_UNDONE: &str = "The sign-in could not be undone: revoking its tokens \
        failed, so they stay valid at the server until they expire, though nothing on this page \
        keeps them. Sign in again once the app loads.";
    pub const OWN_CLIENT: &str = "Use your own client ID or server";
    pub const ACCOUNT_TITLE: &str = "Your RingCentral account";
    pub const LOADING_EXTENSION: &str = "Loading your extension…";
    pub const LOADING_ACCOUNT: &str = "Loading your account…";

    /// A row of a card's fact list: label, value (shown as "—" when missing) and test id.
    pub type Row = (&'static str, Option<String>, &'static str);

    /// The facts of the "You" card.
    pub fn extension_rows(ext: &crate::api::Extension) -> [Row; 5] {
        [
            (
                "Extension number",
                ext.extension_number.clone(),
                "extension-number",
            ),
            ("Email", ext.contact.email.clone(), "email"),
            ("Type", ext.kind.clone(), "extension-type"),
            ("Status", ext.status.clone(), "extension-status"),
            ("Job title", ext.contact.job_title.clone(), "job-title"),
        ]
    }

    /// The facts of the account card; the company comes from the user's contact record when the
    /// account has none, which is where RingCentral keeps it.
    pub fn account_rows(
        acct: &crate::api::Account,
        ext: Option<&crate::api::Extension>,
    ) -> [Row; 5] {
        let company = acct
            .company_name
            .clone()
            .or_else(|| ext.and_then(|e| e.contact.company.clone()));
        [
            ("Company", company, "company"),
            ("Main number", acct.main_number.clone(), "main-number"),
            ("Brand", acct.service_info.brand.name.clone(), "brand"),
            (
                "Service plan",
                acct.service_info.service_plan.name.clone(),
                "plan",
            ),
            ("Status", acct.status.clone(), "account-status"),
        ]
    }

    pub const IDENTITY_HEADING: &str = "Verified identity";
    pub const IDENTITY_VERIFIED: &str = "From the OpenID Connect ID token, verified by signature: RS256 with the server's published key, issuer, audience, lifetime and nonce checked before you were signed in.";
    pub const LOADING_USERINFO: &str = "Asking the userinfo endpoint…";

    /// The facts of the "Verified identity" card; `when` formats `auth_time` (Unix seconds).
    pub fn identity_rows(
        id: &rc_pkce_core::id_token::Claims,
        when: impl Fn(u64) -> String,
    ) -> [Row; 6] {
        let name = [id.given_name.as_deref(), id.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let email = id.email.as_ref().map(|e| match id.email_verified {
            Some(true) => format!("{e} (verified)"),
            Some(false) => format!("{e} (not verified)"),
            None => e.clone(),
        });
        let account = id.account_id.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        [
            ("Subject (sub)", Some(id.sub.clone()), "id-sub"),
            ("Name", Some(name), "id-name"),
            ("Email", email, "id-email"),
            ("Account", account, "id-account"),
            ("Signed in at", id.auth_time.map(&when), "id-auth-time"),
            ("Issuer", Some(id.iss.clone()), "id-iss"),
        ]
    }

    /// What the userinfo endpoint said, for the identity card.
    pub fn userinfo_summary(info: &serde_json::Map<String, serde_json::Value>) -> String {
        let fields: Vec<&str> = info
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "sub")
            .collect();
        match fields.is_empty() {
            true => "Userinfo confirms the same subject.".into(),
            false => format!(
                "Userinfo confirms the same subject, with {}.",
                fields.join(", ")
            ),
        }
    }

    /// What a fact list shows for a value.
    pub fn shown(value: Option<String>) -> String {
        value
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "—".into())
    }

    /// "Production — https://platform.ringcentral.com".
    pub fn server(preset_label: Option<&str>, server: &str) -> String {
        format!("{} — {server}", preset_label.unwrap_or("Custom server"))
    }
}
