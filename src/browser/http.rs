//! HTTP with `fetch`: form POSTs to the token and revoke endpoints and bearer GETs to the REST API.
//!
//! Requests carry only what they need: the token POST is a CORS "simple request"
//! (`Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`, no
//! credentials), so it needs no preflight; no request sends cookies or a `Referer`; responses are
//! not cached and bodies over a size limit are refused. A failed `fetch` is told apart as network
//! failure or CORS refusal by a second, opaque probe.

use gloo_net::http::{Request, RequestBuilder};
use rc_pkce_core::error::ApiError;
use rc_pkce_core::token::FormBody;
use rc_pkce_core::url::HttpUrl;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ReferrerPolicy, RequestCache, RequestCredentials};

/// Longest a request may take before it counts as a network failure.
pub const TIMEOUT_MS: i32 = 30_000;
/// Response bodies larger than this are refused (the core's parsers have their own, lower limits).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What came back: status, the headers the app reads, and the body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Only readable cross-origin when the server exposes it (RingCentral does not).
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn origin_of(url: &str) -> String {
    HttpUrl::parse(url)
        .map(|u| u.origin())
        .unwrap_or_else(|_| url.to_string())
}

fn common(
    builder: RequestBuilder,
    cache: RequestCache,
    signal: Option<&web_sys::AbortSignal>,
) -> RequestBuilder {
    builder
        .credentials(RequestCredentials::Omit)
        .cache(cache)
        .referrer_policy(ReferrerPolicy::NoReferrer)
        .header("Accept", "application/json")
        .abort_signal(signal)
}

/// POSTs a form body (token, refresh, revoke).
pub async fn post_form(url: &str, body: &FormBody) -> Result<HttpResponse, ApiError> {
    send(url, |signal| {
        // Token responses must never be stored by the HTTP cache.
        common(Request::post(url), RequestCache::NoStore, signal)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.expose().to_string())
    })
    .await
}

/// GETs a REST resource with a bearer token.
pub async fn get_with_bearer(url: &str, access_token: &str) -> Result<HttpResponse, ApiError> {
    send(url, |signal| {
        // The default cache mode, not `no-store`: Chromium bypasses its CORS preflight cache for
        // `no-store`/`no-cache` requests, which would cost a preflight round trip on every call.
        // Whether a response body may be kept is the API's decision (`Cache-Control`; the sandbox
        // sends `no-store`); the bearer token itself is never cached.
        common(Request::get(url), RequestCache::Default, signal)
            .header("Authorization", &format!("Bearer {access_token}"))
            .build()
    })
    .await
}

/// GETs a same-origin file (config.json) that must not come from a cache.
pub async fn get_fresh(url: &str) -> Result<HttpResponse, ApiError> {
    send(url, |signal| {
        Request::get(url)
            .cache(RequestCache::NoCache)
            .credentials(RequestCredentials::SameOrigin)
            .referrer_policy(ReferrerPolicy::NoReferrer)
            .abort_signal(signal)
            .build()
    })
    .await
}

async fn send(
    url: &str,
    build: impl FnOnce(Option<&web_sys::AbortSignal>) -> Result<Request, gloo_net::Error>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin_of(url);
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(|c| c.signal());
    let request = build(signal.as_ref()).map_err(|e| ApiError::network(&origin, e.to_string()))?;
    let timer = controller.as_ref().and_then(|c| abort_after(c, TIMEOUT_MS));
    let sent = request.send().await;
    if let Some(t) = timer {
        clear_timeout(t);
    }
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            if signal.as_ref().is_some_and(|s| s.aborted()) {
                return Err(ApiError::network(
                    &origin,
                    format!("no answer within {} seconds", TIMEOUT_MS / 1000),
                ));
            }
            return Err(classify_failure(url, &origin, e.to_string()).await);
        }
    };
    let status = response.status();
    let headers = response.headers();
    let retry_after = headers.get("retry-after");
    if let Some(len) = headers
        .get("content-length")
        .and_then(|l| l.parse::<usize>().ok())
        && len > MAX_BODY_BYTES
    {
        return Err(ApiError::bad_response(
            status,
            format!("the response is {len} bytes, more than this app accepts"),
        ));
    }
    let body = response
        .binary()
        .await
        .map_err(|e| ApiError::network(&origin, e.to_string()))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::bad_response(
            status,
            "the response is larger than this app accepts",
        ));
    }
    Ok(HttpResponse {
        status,
        retry_after,
        body,
    })
}

/// After a failed fetch: an opaque `no-cors` request succeeds when the server is reachable, which
/// means the real request was refused by CORS, not lost on the network.
async fn classify_failure(url: &str, origin: &str, detail: String) -> ApiError {
    let probe = Request::get(url)
        .mode(web_sys::RequestMode::NoCors)
        .credentials(RequestCredentials::Omit)
        .cache(RequestCache::NoStore)
        .referrer_policy(ReferrerPolicy::NoReferrer)
        .send()
        .await;
    match probe {
        Ok(_) => ApiError::cors(origin),
        Err(_) => ApiError::network(origin, detail),
    }
}

fn abort_after(controller: &web_sys::AbortController, ms: i32) -> Option<i32> {
    let controller = controller.clone();
    let cb = Closure::once_into_js(move || controller.abort());
    web_sys::window()?
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), ms)
        .ok()
}

fn clear_timeout(handle: i32) {
    if let Some(w) = web_sys::window() {
        w.clear_timeout_with_handle(handle);
    }
}
