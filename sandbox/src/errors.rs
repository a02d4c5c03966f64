//! Every error a handler can answer with, as [`AppError`], and what a handler tells the request log
//! about its outcome.
//!
//! OAuth endpoints answer `{"error","error_description","errors":[{"errorCode","message"}]}` with
//! the RFC 6749 `error` and status; the REST API answers `{"errorCode","message","errors":[...]}`;
//! the admin API, which RingCentral does not have, answers a plain `{"error","message"}`. The
//! authorize endpoint also has an error page and error redirects, because before the redirect URI
//! is trusted it must not redirect and after that it must. Every error response carries a
//! [`LogInfo`] extension so the request log can show the codes without ever seeing a body (which
//! may hold tokens).

use axum::Json;
use axum::http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::page;
use crate::pkce::RandomUnavailable;
use crate::ratelimit::Decision;
use crate::redirect::{redirect, redirect_location};

/// Every way a handler can fail, each rendered in the shape of the part of the API it belongs to.
#[derive(Debug)]
pub enum AppError {
    OAuth(OAuthError),
    Api(ApiError),
    Admin(AdminError),
    Page(ErrorPage),
    Redirect(ErrorRedirect),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(e) => e.into_response(),
            Self::Api(e) => e.into_response(),
            Self::Admin(e) => e.into_response(),
            Self::Page(e) => e.into_response(),
            Self::Redirect(e) => e.into_response(),
        }
    }
}

impl From<OAuthError> for AppError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> Self {
        Self::Admin(e)
    }
}

impl From<ErrorPage> for AppError {
    fn from(e: ErrorPage) -> Self {
        Self::Page(e)
    }
}

impl From<ErrorRedirect> for AppError {
    fn from(e: ErrorRedirect) -> Self {
        Self::Redirect(e)
    }
}

/// Only the OAuth endpoints generate secrets, so a failing random generator is an OAuth error.
impl From<RandomUnavailable> for AppError {
    fn from(_: RandomUnavailable) -> Self {
        Self::OAuth(OAuthError::server_error())
    }
}

/// What a response tells the request log, carried in the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct LogInfo {
    pub grant_type: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub grant_id: Option<String>,
    /// Whether an injected fault produced or delayed the response.
    pub fault: bool,
}

/// The `g1`-style id of a grant.
pub fn grant_label(id: u64) -> String {
    format!("g{id}")
}

/// Merges `update` into the response's [`LogInfo`], keeping fields `update` leaves empty.
pub fn annotate(response: &mut Response, update: impl FnOnce(&mut LogInfo)) {
    let ext = response.extensions_mut();
    if ext.get::<LogInfo>().is_none() {
        ext.insert(LogInfo::default());
    }
    if let Some(info) = ext.get_mut::<LogInfo>() {
        update(info);
    }
}

/// An error of the OAuth endpoints (authorize as JSON, token, revoke).
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: &'static str,
    pub description: String,
    pub grant_id: Option<u64>,
    pub retry_after_secs: Option<u64>,
}

impl OAuthError {
    pub fn new(
        status: StatusCode,
        error: &'static str,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
            grant_id: None,
            retry_after_secs: None,
        }
    }

    pub fn invalid_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            code,
            description,
        )
    }

    pub fn invalid_client(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            description,
        )
    }

    pub fn invalid_grant(code: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
    }

    pub fn missing(param: &str) -> Self {
        Self::invalid_request("OAU-101", format!("Parameter [{param}] is missing"))
    }

    pub fn duplicated(param: &str) -> Self {
        Self::invalid_request("OAU-111", format!("Duplicated parameter [{param}]"))
    }

    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "OAU-500",
            "Internal server error",
        )
    }

    pub fn with_grant(mut self, grant_id: u64) -> Self {
        self.grant_id = Some(grant_id);
        self
    }

    pub fn body(&self) -> Value {
        json!({
            "error": self.error,
            "error_description": self.description,
            "errors": [{ "errorCode": self.code, "message": self.description }],
        })
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        annotate(&mut response, |info| {
            info.error = Some(self.error.to_owned());
            info.error_code = Some(self.code.to_owned());
            info.grant_id = self.grant_id.map(grant_label).or(info.grant_id.take());
        });
        response
    }
}

/// An error of the REST API (and of routing outside the OAuth paths).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Top-level `errorCode` (e.g. `TokenInvalid`, `InsufficientPermissions`, `CMN-101`).
    pub error_code: &'static str,
    pub message: String,
    /// The single entry of `errors`.
    pub item: Map<String, Value>,
    pub www_authenticate: bool,
    pub grant_id: Option<u64>,
    /// The caller's rate-limit count, sent as `X-Rate-Limit-*` like on a success.
    pub rate: Option<Decision>,
}

impl ApiError {
    /// An error whose top-level code and entry code are the same.
    pub fn simple(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::with_top(status, code, code, message)
    }

    pub fn with_top(
        status: StatusCode,
        top: &'static str,
        code: &str,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        let mut item = Map::new();
        item.insert("errorCode".into(), Value::from(code));
        item.insert("message".into(), Value::from(message.clone()));
        Self {
            status,
            error_code: top,
            message,
            item,
            www_authenticate: false,
            grant_id: None,
            rate: None,
        }
    }

    /// 401 with `WWW-Authenticate: Bearer realm="RingCentral REST API"`.
    pub fn unauthorized(code: &str, message: &str) -> Self {
        let mut e = Self::with_top(StatusCode::UNAUTHORIZED, "TokenInvalid", code, message);
        e.www_authenticate = true;
        e
    }

    /// 403 CMN-401 naming the permission the client lacks.
    pub fn missing_permission(permission: &str) -> Self {
        let message = format!("[{permission}] permission required");
        let mut e = Self::with_top(
            StatusCode::FORBIDDEN,
            "InsufficientPermissions",
            "CMN-401",
            message,
        );
        e.message = format!(
            "In order to call this API endpoint, application needs to have [{permission}] permission. \
             Add it to the app's registration (sandbox: --client ID=URI;{permission})"
        );
        e.item
            .insert("permissionName".into(), Value::from(permission));
        e
    }

    /// 400 CMN-101 naming the parameter.
    pub fn bad_parameter(name: &str, value: &str) -> Self {
        let mut e = Self::simple(
            StatusCode::BAD_REQUEST,
            "CMN-101",
            format!("Parameter [{name}] value is invalid"),
        );
        e.item.insert("parameterName".into(), Value::from(name));
        e.item.insert("parameterValue".into(), Value::from(value));
        e
    }

    /// 429 CMN-301. `Retry-After` comes from the rate-limit decision ([`Self::with_rate`]) or, for
    /// an injected fault, from the fault.
    pub fn rate_limited() -> Self {
        Self::simple(
            StatusCode::TOO_MANY_REQUESTS,
            "CMN-301",
            "Request rate exceeded",
        )
    }

    pub fn with_grant(mut self, grant_id: u64) -> Self {
        self.grant_id = Some(grant_id);
        self
    }

    pub fn with_rate(mut self, rate: Option<Decision>) -> Self {
        self.rate = rate;
        self
    }

    pub fn body(&self) -> Value {
        json!({
            "errorCode": self.error_code,
            "message": self.message,
            "errors": [Value::Object(self.item.clone())],
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.www_authenticate {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"RingCentral REST API\""),
            );
        }
        let entry_code = self
            .item
            .get("errorCode")
            .and_then(Value::as_str)
            .map(str::to_owned);
        annotate(&mut response, |info| {
            info.error = Some(self.error_code.to_owned());
            info.error_code = entry_code;
            info.grant_id = self.grant_id.map(grant_label).or(info.grant_id.take());
        });
        if let Some(decision) = self.rate {
            decision.apply(response.headers_mut());
        }
        response
    }
}

/// An error of the admin API's own validation (its routing errors use the REST shape).
#[derive(Debug, Clone)]
pub struct AdminError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl AdminError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// An authorize error shown instead of redirected: an HTML page for browsers (`html`), the OAuth
/// JSON otherwise, so API clients and tests can read it.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub error: OAuthError,
    pub html: bool,
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let Self { error, html } = self;
        if !html {
            return error.into_response();
        }
        let mut response = page::error(error.status, error.error, &error.description);
        annotate(&mut response, |info| {
            info.error = Some(error.error.to_owned());
            info.error_code = Some(error.code.to_owned());
        });
        response
    }
}

/// An authorize error sent back to the client's redirect URI with `error`, `error_description`,
/// `state` and `iss` (RFC 9207), which has no RingCentral `errorCode`.
#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    pub status: StatusCode,
    /// The request's redirect URI, already matched against the client's registration.
    pub redirect_uri: String,
    /// The client's `state`, echoed when it could be read.
    pub state: Option<String>,
    /// The sandbox's base URL.
    pub iss: String,
    pub error: &'static str,
    pub description: String,
}

impl IntoResponse for ErrorRedirect {
    fn into_response(self) -> Response {
        let mut params = vec![
            ("error", self.error),
            ("error_description", self.description.as_str()),
        ];
        if let Some(s) = self.state.as_deref() {
            params.push(("state", s));
        }
        params.push(("iss", self.iss.as_str()));
        let location = redirect_location(&self.redirect_uri, &params);
        let mut response = redirect(self.status, &location)
            .unwrap_or_else(|_| OAuthError::server_error().into_response());
        annotate(&mut response, |info| {
            info.error = Some(self.error.to_owned())
        });
        response
    }
}

/// Whether `path` belongs to the OAuth endpoints (which use the OAuth error shape).
pub fn is_oauth_path(path: &str) -> bool {
    path.starts_with("/restapi/oauth/") || path == "/restapi/oauth"
}

/// A protocol-level error (unknown path, wrong method, body too large) in the shape of the part of
/// the API that `path` belongs to.
pub fn routing_error(
    path: &str,
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> Response {
    if is_oauth_path(path) {
        OAuthError::new(status, "invalid_request", code, message).into_response()
    } else {
        ApiError::simple(status, code, message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_shape() {
        let e = OAuthError::invalid_grant("OAU-109", "Redirect URIs do not match");
        assert_eq!(
            e.body(),
            json!({"error":"invalid_grant","error_description":"Redirect URIs do not match",
                   "errors":[{"errorCode":"OAU-109","message":"Redirect URIs do not match"}]})
        );
    }

    #[test]
    fn api_shapes() {
        let e = ApiError::missing_permission("ReadCallLog");
        let b = e.body();
        assert_eq!(b["errorCode"], "InsufficientPermissions");
        assert_eq!(b["errors"][0]["errorCode"], "CMN-401");
        assert_eq!(b["errors"][0]["permissionName"], "ReadCallLog");
        assert!(
            b["message"]
                .as_str()
                .is_some_and(|m| m.contains("ReadCallLog"))
        );
        let e = ApiError::bad_parameter("dateFrom", "yesterday");
        assert_eq!(e.body()["errors"][0]["parameterName"], "dateFrom");
    }
}
