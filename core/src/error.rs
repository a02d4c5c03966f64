//! Every failure the app can meet at RingCentral's endpoints, as one typed [`ApiError`] with the text
//! the user sees: what went wrong and what to do about it.
//!
//! The parser reads RFC 6749 error bodies (`error`, `error_description`, `error_uri`), RingCentral's
//! own shapes (`errors[{errorCode, message, parameterName}]`, top-level `errorCode`/`message`), the
//! HTTP status and `Retry-After`. User-facing text is built here and nowhere else.

use serde::Deserialize;

use crate::time::Timestamp;

/// Error bodies larger than this are not parsed (the status alone still classifies them).
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// What to wait after a 429 whose `Retry-After` the browser may not read (RingCentral does not
/// expose the header to scripts).
pub const DEFAULT_RATE_LIMIT_WAIT_SECS: u64 = 30;
/// A `Retry-After` beyond this is capped: the app would rather try again than stall for hours.
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// The class of a failure; decides retry and sign-out behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    // RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorize redirect).
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    /// OpenID Connect `prompt=none` outcomes: the user has to interact.
    InteractionRequired,
    /// An OAuth `error` value no specification here defines.
    OtherOAuth(String),
    /// 401 from the REST API (RFC 6750 `invalid_token`): the access token is missing, expired or revoked.
    Unauthorized,
    /// 403 `CMN-401`: the app registration lacks a permission.
    MissingPermission,
    /// Any other 403.
    Forbidden,
    /// 429: a RingCentral rate-limit group is exhausted.
    RateLimited,
    /// 5xx without an OAuth error code.
    ServerUnavailable,
    /// The request never got an HTTP response (offline, DNS, connection refused, reset).
    Network,
    /// No answer came in time and the request was given up: unlike [`ErrorKind::Network`], the
    /// server may have received and carried out the request.
    Timeout,
    /// The server answered but the browser withheld the response: the page's origin is not allowed.
    Cors,
    /// A 2xx whose body is not what the API promises.
    BadResponse,
    /// Any other HTTP status.
    Http,
}

/// One failure, with everything needed to explain it and to decide what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    /// The RFC 6749 `error` value, when the body had one.
    pub oauth_error: Option<String>,
    /// RingCentral's code (`OAU-106`, `CMN-401`, ...), when the body had one.
    pub code: Option<String>,
    /// The server's own explanation, shown as a detail under our text.
    pub server_message: Option<String>,
    /// Seconds to wait before trying again (from `Retry-After`, or the default for a 429).
    pub retry_after_secs: Option<u64>,
    /// The permission named by a `CMN-401`.
    pub permission: Option<String>,
    /// The origin of the server involved, for network and CORS messages.
    pub origin: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            oauth_error: None,
            code: None,
            server_message: None,
            retry_after_secs: None,
            permission: None,
            origin: None,
        }
    }

    /// No HTTP response at all.
    pub fn network(origin: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            origin: Some(origin.into()),
            server_message: Some(detail.into()),
            ..Self::new(ErrorKind::Network)
        }
    }

    /// The request to `origin` got no answer within `secs` seconds and was given up.
    pub fn timeout(origin: impl Into<String>, secs: u64) -> Self {
        Self {
            origin: Some(origin.into()),
            server_message: Some(format!("no answer within {secs} seconds")),
            ..Self::new(ErrorKind::Timeout)
        }
    }

    /// The server is reachable but the browser blocked the cross-origin response.
    pub fn cors(origin: impl Into<String>) -> Self {
        Self {
            origin: Some(origin.into()),
            ..Self::new(ErrorKind::Cors)
        }
    }

    /// A success status with a body that failed validation.
    pub fn bad_response(status: u16, problem: impl Into<String>) -> Self {
        Self {
            status: Some(status),
            server_message: Some(problem.into()),
            ..Self::new(ErrorKind::BadResponse)
        }
    }

    /// Worth trying again later without the user doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Network
                | ErrorKind::Timeout
                | ErrorKind::ServerUnavailable
                | ErrorKind::RateLimited
                | ErrorKind::TemporarilyUnavailable
                | ErrorKind::ServerError
        )
    }

    /// On a refresh, this error means the session cannot be continued.
    pub fn ends_session(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::InvalidGrant
                | ErrorKind::InvalidClient
                | ErrorKind::UnauthorizedClient
                | ErrorKind::UnsupportedGrantType
                | ErrorKind::InvalidRequest
                | ErrorKind::InvalidScope
                | ErrorKind::AccessDenied
                | ErrorKind::InteractionRequired
                | ErrorKind::OtherOAuth(_)
        )
    }

    fn wait_secs(&self) -> u64 {
        self.retry_after_secs
            .unwrap_or(DEFAULT_RATE_LIMIT_WAIT_SECS)
    }

    fn permission_name(&self) -> &str {
        self.permission.as_deref().unwrap_or("required")
    }

    fn origin_name(&self) -> &str {
        self.origin.as_deref().unwrap_or("the server")
    }

    /// What went wrong, in one sentence for the user.
    pub fn title(&self) -> String {
        if let Some(t) = self.title_for_code() {
            return t;
        }
        let status = self
            .status
            .map(|s| format!(" (HTTP {s})"))
            .unwrap_or_default();
        match &self.kind {
            ErrorKind::InvalidRequest => "The server rejected the request as malformed or incomplete.".into(),
            ErrorKind::InvalidClient => "RingCentral does not recognise this app's client ID.".into(),
            ErrorKind::InvalidGrant => "The sign-in grant is no longer valid: the code or refresh token was expired, revoked or already used.".into(),
            ErrorKind::UnauthorizedClient => "This app is not allowed to use this kind of sign-in.".into(),
            ErrorKind::UnsupportedGrantType => "The server does not support this grant type for this app.".into(),
            ErrorKind::InvalidScope => "The requested scope is not valid for this app.".into(),
            ErrorKind::AccessDenied => "Access was denied: the sign-in was cancelled or not approved.".into(),
            ErrorKind::UnsupportedResponseType => "The server does not allow this app to request an authorization code.".into(),
            ErrorKind::ServerError => "RingCentral hit an internal error while signing you in.".into(),
            ErrorKind::TemporarilyUnavailable => "RingCentral's sign-in service is temporarily unavailable.".into(),
            ErrorKind::InteractionRequired => "RingCentral needs you to sign in or approve the app interactively.".into(),
            ErrorKind::OtherOAuth(e) => format!("The server refused the request with the error `{e}`."),
            ErrorKind::Unauthorized => "Your access token was not accepted: it expired or was revoked.".into(),
            ErrorKind::MissingPermission => format!("This app's registration lacks the {} permission.", self.permission_name()),
            ErrorKind::Forbidden => format!("RingCentral refused access to this resource{status}."),
            ErrorKind::RateLimited => "Too many requests: RingCentral's rate limit for this kind of call was reached.".into(),
            ErrorKind::ServerUnavailable => format!("RingCentral is temporarily unavailable{status}."),
            ErrorKind::Network => format!("Could not reach {}: the request got no response.", self.origin_name()),
            ErrorKind::Timeout => format!("{} did not answer in time, so the request was given up.", self.origin_name()),
            ErrorKind::Cors => format!("{} answered, but the browser blocked the response (CORS): it does not allow this page's origin.", self.origin_name()),
            ErrorKind::BadResponse => format!("The server's response could not be understood{status}."),
            ErrorKind::Http => format!("The request failed{status}."),
        }
    }

    fn title_for_code(&self) -> Option<String> {
        let code = self.code.as_deref()?.to_ascii_uppercase();
        Some(
            match code.as_str() {
                "OAU-106" => "The authorization code is invalid or has already been used.",
                "OAU-108" => "The authorization code expired before it could be exchanged (codes live about 60 seconds).",
                "OAU-109" => "The redirect URI in the token request does not match the one used to sign in.",
                "OAU-110" => "The authorization code was issued to a different app.",
                "OAU-111" => "A parameter was sent twice.",
                "OAU-112" => "This app is not allowed to use this grant type.",
                "OAU-113" => "The app registration has no redirect URI.",
                "OAU-123" => "RingCentral requires client authentication for this app, which a browser app cannot do.",
                "OAU-128" => "Your access token has expired.",
                "OAU-146" | "OAU-153" => "RingCentral does not recognise this app's client ID.",
                "OAU-149" => "Your access token is not valid.",
                "OAU-210" => "Your session has expired (the refresh token is no longer valid).",
                "OAU-213" => "Your access token was revoked or replaced by a newer one.",
                "AGW-401" => "The request carried no access token.",
                "AGW-402" => "The request's Authorization header is not valid.",
                "CMN-401" => return Some(format!("This app's registration lacks the {} permission.", self.permission_name())),
                "CMN-301" | "CMN-302" => "Too many requests: RingCentral's rate limit for this kind of call was reached.",
                "CMN-304" => "The same request was already in progress.",
                _ => return None,
            }
            .to_string(),
        )
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        let wait = || format!("Wait {} seconds, then try again.", self.wait_secs());
        if let Some(code) = self.code.as_deref().map(str::to_ascii_uppercase) {
            let hint = match code.as_str() {
                "OAU-106" | "OAU-108" => Some("Sign in again: each code works once, within a minute.".to_string()),
                "OAU-109" => Some("Make `redirect_uri` in config.json exactly equal to a redirect URI registered for the app (scheme, host, port, path), then sign in again.".into()),
                "OAU-110" | "OAU-146" | "OAU-153" => Some("Check `client_id` in config.json (or Settings) against the app's Client ID in the RingCentral Developer Console.".into()),
                "OAU-111" => Some("Sign in again; if it repeats, report it.".into()),
                "OAU-112" | "OAU-123" => Some("Register the app as a \"Client-side web app\" with the Authorization Code + PKCE flow (no client secret), and enable \"Issue refresh tokens\" for refreshes.".into()),
                "OAU-113" => Some("Add this app's redirect URI to the app in the RingCentral Developer Console.".into()),
                "OAU-128" | "OAU-149" | "OAU-213" | "OAU-210" | "AGW-401" | "AGW-402" => Some("Sign in again.".into()),
                "CMN-401" => Some(format!(
                    "In the RingCentral Developer Console, open the app's settings, add the {} permission under Application Scopes, save, then sign out and sign in again.",
                    self.permission_name()
                )),
                "CMN-301" | "CMN-302" | "CMN-304" => Some(wait()),
                _ => None,
            };
            if let Some(h) = hint {
                return h;
            }
        }
        match &self.kind {
            ErrorKind::InvalidRequest => "Sign in again; if it repeats, check the endpoints in config.json.".into(),
            ErrorKind::InvalidClient => "Check `client_id` in config.json (or Settings) against the app's Client ID in the RingCentral Developer Console.".into(),
            ErrorKind::InvalidGrant => "Sign in again.".into(),
            ErrorKind::UnauthorizedClient | ErrorKind::UnsupportedGrantType | ErrorKind::UnsupportedResponseType => {
                "Register the app as a \"Client-side web app\" with the Authorization Code + PKCE flow and no client secret.".into()
            }
            ErrorKind::InvalidScope => "Remove `scope` from config.json; RingCentral grants the permissions of the app registration.".into(),
            ErrorKind::AccessDenied => "Sign in again and choose Allow if you want to use the app.".into(),
            ErrorKind::InteractionRequired => "Sign in again.".into(),
            ErrorKind::OtherOAuth(_) => "Sign in again; if it repeats, report the error shown.".into(),
            ErrorKind::Unauthorized => "The app will try to refresh your session; if that fails, sign in again.".into(),
            ErrorKind::MissingPermission => format!(
                "In the RingCentral Developer Console, open the app's settings, add the {} permission under Application Scopes, save, then sign out and sign in again.",
                self.permission_name()
            ),
            ErrorKind::Forbidden => "Your RingCentral user may not be allowed to see this; ask your account administrator.".into(),
            ErrorKind::RateLimited => wait(),
            ErrorKind::ServerError | ErrorKind::TemporarilyUnavailable | ErrorKind::ServerUnavailable => match self.retry_after_secs {
                Some(s) => format!("Try again in {s} seconds."),
                None => "Try again in a few seconds.".into(),
            },
            ErrorKind::Network => "Check your internet connection (and that the server is running), then try again.".into(),
            ErrorKind::Timeout => "The connection may be slow or the server busy; the app tries again on its own.".into(),
            ErrorKind::Cors => "The server must allow this page's origin. For the local sandbox, start it with --allow-origin set to this page's origin; for RingCentral, serve the app from an https origin.".into(),
            ErrorKind::BadResponse => "Try again; if it repeats, check that the endpoints in config.json point at RingCentral.".into(),
            ErrorKind::Http => "Try again later.".into(),
        }
    }

    /// The server's message and codes, for a "details" line under the title.
    pub fn detail(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(m) = self.server_message.as_deref().filter(|m| !m.is_empty()) {
            parts.push(m.to_string());
        }
        let codes: Vec<&str> = [self.oauth_error.as_deref(), self.code.as_deref(), None]
            .into_iter()
            .flatten()
            .collect();
        if !codes.is_empty() {
            parts.push(format!("[{}]", codes.join(", ")));
        }
        if let Some(s) = self.status {
            parts.push(format!("HTTP {s}"));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title())
    }
}

impl std::error::Error for ApiError {}

#[derive(Deserialize, Default)]
struct RawError {
    error: Option<String>,
    error_description: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    message: Option<String>,
    #[serde(default)]
    errors: Vec<RawErrorItem>,
}

#[derive(Deserialize, Default)]
struct RawErrorItem {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    message: Option<String>,
    #[serde(rename = "permissionName")]
    permission_name: Option<String>,
}

/// Maps an RFC 6749 / RFC 6750 / OIDC `error` value to its kind.
pub fn oauth_kind(error: &str) -> ErrorKind {
    match error {
        "invalid_request" => ErrorKind::InvalidRequest,
        "invalid_client" => ErrorKind::InvalidClient,
        "invalid_grant" => ErrorKind::InvalidGrant,
        "unauthorized_client" => ErrorKind::UnauthorizedClient,
        "unsupported_grant_type" => ErrorKind::UnsupportedGrantType,
        "invalid_scope" | "insufficient_scope" => ErrorKind::InvalidScope,
        "access_denied" => ErrorKind::AccessDenied,
        "unsupported_response_type" => ErrorKind::UnsupportedResponseType,
        "server_error" => ErrorKind::ServerError,
        "temporarily_unavailable" => ErrorKind::TemporarilyUnavailable,
        "invalid_token" => ErrorKind::Unauthorized,
        "login_required"
        | "consent_required"
        | "interaction_required"
        | "account_selection_required" => ErrorKind::InteractionRequired,
        other => ErrorKind::OtherOAuth(other.to_string()),
    }
}

/// The error an authorize redirect carried (`?error=access_denied&error_description=...`).
pub fn from_authorize_redirect(error: &str, description: Option<&str>) -> ApiError {
    ApiError {
        oauth_error: Some(error.to_string()),
        server_message: description.map(str::to_string),
        ..ApiError::new(oauth_kind(error))
    }
}

/// Classifies a non-2xx response. `retry_after` is the header's value when the browser could read
/// it; `now` turns an HTTP-date into seconds.
pub fn parse_error_response(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> ApiError {
    let raw: RawError = if body.len() <= MAX_ERROR_BODY_BYTES {
        serde_json::from_slice(body).unwrap_or_default()
    } else {
        RawError::default()
    };
    let first_code = raw.errors.iter().find_map(|e| e.error_code.clone());
    let code = first_code.or_else(|| raw.error_code.clone().filter(|c| looks_like_code(c)));
    let message = raw
        .error_description
        .clone()
        .or_else(|| raw.errors.iter().find_map(|e| e.message.clone()))
        .or_else(|| raw.message.clone())
        .map(|m| truncate(&m, 300));
    let permission = raw
        .errors
        .iter()
        .find_map(|e| e.permission_name.clone())
        .or_else(|| {
            raw.errors
                .iter()
                .filter_map(|e| e.message.as_deref())
                .find_map(bracketed)
        })
        .or_else(|| raw.message.as_deref().and_then(bracketed));
    let code_upper = code.as_deref().map(str::to_ascii_uppercase);

    let kind = if status == 429
        || matches!(
            code_upper.as_deref(),
            Some("CMN-301" | "CMN-302" | "CMN-304")
        ) {
        ErrorKind::RateLimited
    } else if code_upper.as_deref() == Some("CMN-401") {
        ErrorKind::MissingPermission
    } else if let Some(e) = raw.error.as_deref() {
        oauth_kind(e)
    } else {
        match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            500..=599 => ErrorKind::ServerUnavailable,
            _ => ErrorKind::Http,
        }
    };
    let mut retry_after_secs = retry_after.and_then(|v| parse_retry_after(v, now));
    if kind == ErrorKind::RateLimited && retry_after_secs.is_none() {
        retry_after_secs = Some(DEFAULT_RATE_LIMIT_WAIT_SECS);
    }
    ApiError {
        kind: kind.clone(),
        status: Some(status),
        oauth_error: raw.error,
        code,
        server_message: message,
        retry_after_secs,
        permission: if kind == ErrorKind::MissingPermission {
            permission
        } else {
            None
        },
        origin: None,
    }
}

fn looks_like_code(c: &str) -> bool {
    let mut parts = c.splitn(2, '-');
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if !a.is_empty() && a.chars().all(|x| x.is_ascii_alphabetic()) && !b.is_empty() && b.chars().all(|x| x.is_ascii_digit()))
}

/// `"... needs to have [ReadCallLog] permission"` → `ReadCallLog`.
fn bracketed(message: &str) -> Option<String> {
    let start = message.find('[')? + 1;
    let len = message[start..].find(']')?;
    let name = &message[start..start + len];
    (!name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then(|| name.to_string())
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars).collect();
        t.push('…');
        t
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), capped at
/// [`MAX_RETRY_AFTER_SECS`]. `None` when unreadable.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
        return Some(
            v.parse::<u64>()
                .unwrap_or(u64::MAX)
                .min(MAX_RETRY_AFTER_SECS),
        );
    }
    let at = parse_http_date(v)?;
    Some(now.secs_until_ceil(at).min(MAX_RETRY_AFTER_SECS))
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<Timestamp> {
    let rest = s.split_once(", ")?.1;
    let f: Vec<&str> = rest.split(' ').collect();
    if f.len() != 5 || f[4] != "GMT" {
        return None;
    }
    let day: u32 = f[0].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == f[1])? as u32
        + 1;
    let year: i64 = f[2].parse().ok()?;
    let hms: Vec<u32> = f[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3
        || hms[0] > 23
        || hms[1] > 59
        || hms[2] > 60
        || !(1..=31).contains(&day)
        || year < 1970
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + i64::from(hms[0] * 3600 + hms[1] * 60 + hms[2]);
    u64::try_from(secs).ok().map(Timestamp::from_secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT

    fn parse(status: u16, body: &str) -> ApiError {
        parse_error_response(status, None, body.as_bytes(), NOW)
    }

    #[test]
    fn ringcentral_token_error() {
        let e = parse(
            400,
            r#"{"error":"invalid_grant","error_description":"Redirect URIs do not match","errors":[{"errorCode":"OAU-109","message":"Redirect URIs do not match"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::InvalidGrant);
        assert_eq!(e.code.as_deref(), Some("OAU-109"));
        assert_eq!(
            e.server_message.as_deref(),
            Some("Redirect URIs do not match")
        );
        assert!(e.title().contains("redirect URI"));
        assert!(e.hint().contains("redirect_uri"));
        assert!(e.ends_session());
        assert!(!e.is_transient());
        assert_eq!(
            e.detail().unwrap(),
            "Redirect URIs do not match · [invalid_grant, OAU-109] · HTTP 400"
        );
    }

    #[test]
    fn ringcentral_api_401() {
        let e = parse(
            401,
            r#"{"errorCode":"TokenInvalid","message":"OAuth token is invalid","errors":[{"errorCode":"OAU-149","message":"Invalid token"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        assert_eq!(e.code.as_deref(), Some("OAU-149"));
    }

    #[test]
    fn missing_permission_names_it() {
        let e = parse(
            403,
            r#"{"errorCode":"InsufficientPermissions","message":"In order to call this API endpoint, application needs to have [ReadCallLog] permission","errors":[{"errorCode":"CMN-401","message":"In order to call this API endpoint, application needs to have [ReadCallLog] permission"}]}"#,
        );
        assert_eq!(e.kind, ErrorKind::MissingPermission);
        assert_eq!(e.permission.as_deref(), Some("ReadCallLog"));
        assert!(e.title().contains("ReadCallLog"));
        assert!(e.hint().contains("add the ReadCallLog permission"));
        let e = parse(
            403,
            r#"{"errors":[{"errorCode":"CMN-401","message":"x","permissionName":"ReadAccounts"}]}"#,
        );
        assert_eq!(e.permission.as_deref(), Some("ReadAccounts"));
    }

    #[test]
    fn rate_limits_wait_for_retry_after_or_30_seconds() {
        let e = parse_error_response(
            429,
            Some("7"),
            br#"{"errors":[{"errorCode":"CMN-301","message":"Request rate exceeded"}]}"#,
            NOW,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.retry_after_secs, Some(7));
        assert!(e.is_transient());
        assert_eq!(e.hint(), "Wait 7 seconds, then try again.");
        let e = parse(429, "");
        assert_eq!(e.retry_after_secs, Some(30));
        assert_eq!(e.hint(), "Wait 30 seconds, then try again.");
    }

    #[test]
    fn server_errors_are_transient() {
        let e = parse_error_response(503, Some("2"), b"<html>Service Unavailable</html>", NOW);
        assert_eq!(e.kind, ErrorKind::ServerUnavailable);
        assert!(e.is_transient() && !e.ends_session());
        assert_eq!(e.hint(), "Try again in 2 seconds.");
        assert!(e.title().contains("HTTP 503"));
        let e = parse(503, r#"{"error":"temporarily_unavailable"}"#);
        assert_eq!(e.kind, ErrorKind::TemporarilyUnavailable);
        assert!(e.is_transient());
    }

    #[test]
    fn network_and_cors_name_the_server() {
        let e = ApiError::network("http://127.0.0.1:5001", "Failed to fetch");
        assert!(e.title().contains("http://127.0.0.1:5001"));
        assert!(e.is_transient());
        let e = ApiError::cors("https://platform.ringcentral.com");
        assert!(e.title().contains("CORS"));
        assert!(!e.is_transient());
    }

    #[test]
    fn every_code_has_its_own_message_and_a_hint() {
        let codes = [
            "OAU-106", "OAU-108", "OAU-109", "OAU-110", "OAU-113", "OAU-123", "OAU-128", "OAU-149",
            "OAU-213", "AGW-401", "AGW-402", "CMN-401", "CMN-301", "CMN-302", "CMN-304", "OAU-210",
            "OAU-153",
        ];
        let generic = parse(400, "{}").title();
        let mut titles = std::collections::BTreeSet::new();
        for code in codes {
            let e = parse(
                400,
                &format!(r#"{{"errors":[{{"errorCode":"{code}","message":"m"}}]}}"#),
            );
            assert_eq!(e.code.as_deref(), Some(code));
            assert_ne!(e.title(), generic, "{code}");
            assert!(!e.hint().is_empty(), "{code}");
            titles.insert(e.title());
        }
        assert!(
            titles.len() >= 14,
            "codes share too few distinct messages: {titles:?}"
        );
    }

    #[test]
    fn every_rfc6749_error_has_a_message_and_a_hint() {
        let all = [
            ("invalid_request", ErrorKind::InvalidRequest),
            ("invalid_client", ErrorKind::InvalidClient),
            ("invalid_grant", ErrorKind::InvalidGrant),
            ("unauthorized_client", ErrorKind::UnauthorizedClient),
            ("unsupported_grant_type", ErrorKind::UnsupportedGrantType),
            ("invalid_scope", ErrorKind::InvalidScope),
            ("access_denied", ErrorKind::AccessDenied),
            (
                "unsupported_response_type",
                ErrorKind::UnsupportedResponseType,
            ),
            ("server_error", ErrorKind::ServerError),
            ("temporarily_unavailable", ErrorKind::TemporarilyUnavailable),
        ];
        let mut titles = std::collections::BTreeSet::new();
        for (error, kind) in all.clone() {
            let e = parse(400, &format!(r#"{{"error":"{error}"}}"#));
            assert_eq!(e.kind, kind, "{error}");
            assert!(!e.hint().is_empty(), "{error}");
            titles.insert(e.title());
            let redirect = from_authorize_redirect(error, Some("d"));
            assert_eq!(redirect.kind, e.kind);
        }
        assert_eq!(
            titles.len(),
            all.len(),
            "each RFC 6749 error gets its own message"
        );
        let e = parse(400, r#"{"error":"weird_new_error"}"#);
        assert_eq!(e.kind, ErrorKind::OtherOAuth("weird_new_error".into()));
        assert!(e.title().contains("weird_new_error"));
    }

    #[test]
    fn unparseable_bodies_fall_back_to_the_status() {
        assert_eq!(parse(401, "not json").kind, ErrorKind::Unauthorized);
        assert_eq!(parse(403, "").kind, ErrorKind::Forbidden);
        assert_eq!(parse(502, "[1,2]").kind, ErrorKind::ServerUnavailable);
        assert_eq!(parse(404, "{}").kind, ErrorKind::Http);
        let huge = format!(
            r#"{{"error":"invalid_grant","pad":"{}"}}"#,
            "x".repeat(MAX_ERROR_BODY_BYTES)
        );
        assert_eq!(parse(400, &huge).kind, ErrorKind::Http);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120", NOW), Some(120));
        assert_eq!(parse_retry_after(" 0 ", NOW), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", NOW),
            Some(MAX_RETRY_AFTER_SECS)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", NOW),
            Some(60)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", NOW),
            Some(0)
        );
        assert_eq!(parse_retry_after("-5", NOW), None);
        assert_eq!(parse_retry_after("soon", NOW), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 25:00:00 GMT", NOW),
            None
        );
    }

    #[test]
    fn http_date_epoch_arithmetic() {
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(Timestamp::from_secs(0))
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(NOW));
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(Timestamp::from_secs(1_582_977_600))
        );
    }

    proptest! {
        #[test]
        fn never_panics(status in 0u16..1000, retry in proptest::option::of(".*"), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let e = parse_error_response(status, retry.as_deref(), &body, NOW);
            prop_assert!(!e.title().is_empty());
            prop_assert!(!e.hint().is_empty());
        }

        #[test]
        fn never_panics_on_shaped_json(error in ".*", code in ".*", msg in ".*", status in 400u16..600) {
            let body = serde_json::json!({"error": error, "errorCode": code, "message": msg, "errors": [{"errorCode": code, "message": msg}]});
            let e = parse_error_response(status, None, body.to_string().as_bytes(), NOW);
            prop_assert!(!e.title().is_empty());
        }
    }
}
