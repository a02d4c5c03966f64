//! HTTP with `fetch`: form POSTs to the token and revoke endpoints and bearer GETs to the REST API.
//!
//! Requests carry only what they need: the token POST is a CORS "simple request"
//! (`Content-Type: application/x-www-form-urlencoded`, `Accept: application/json`, no
//! credentials), so it needs no preflight; no request sends cookies or a `Referer`; token responses
//! are never cached and bodies over a size limit are refused. A failed `fetch` is told apart as
//! network failure or CORS refusal by a second, opaque probe.
//!
//! Every request is described by an [`Outgoing`] and built by [`Outgoing::to_request`], also for
//! the requests the first-load module sends ahead of the app, so both send exactly the same thing;
//! [`receive`] reads the answer of either.

use rc_pkce_core::error::ApiError;
use rc_pkce_core::token::FormBody;
use rc_pkce_core::url::HttpUrl;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReferrerPolicy, RequestCache, RequestCredentials, RequestInit, RequestMode};

use super::storage::js_error_text;

/// Longest a request may take before it counts as a network failure.
pub const TIMEOUT_MS: u64 = 30_000;
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

/// One request the app sends. `credential` is what makes two requests to one URL different: the
/// form body of a POST, the access token of a bearer GET.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    /// A form POST (token, refresh, revoke).
    Form { url: &'a str, body: &'a str },
    /// A REST GET with a bearer token.
    Bearer { url: &'a str, token: &'a str },
    /// A same-origin file (config.json) that must not come from a cache.
    Fresh { url: &'a str },
    /// A public document of the authorization server (its key set, its discovery metadata),
    /// without credentials or token.
    Public { url: &'a str },
    /// An opaque `no-cors` GET that only tells whether the server answers at all (see
    /// [`classify_failure`]).
    Probe { url: &'a str },
}

impl Outgoing<'_> {
    pub fn url(&self) -> &str {
        match self {
            Self::Form { url, .. }
            | Self::Bearer { url, .. }
            | Self::Fresh { url }
            | Self::Public { url }
            | Self::Probe { url } => url,
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Self::Form { .. } => "POST",
            Self::Bearer { .. } | Self::Fresh { .. } | Self::Public { .. } | Self::Probe { .. } => {
                "GET"
            }
        }
    }

    pub fn credential(&self) -> &str {
        match self {
            Self::Form { body, .. } => body,
            Self::Bearer { token, .. } => token,
            Self::Fresh { .. } | Self::Public { .. } | Self::Probe { .. } => "",
        }
    }

    /// The `fetch` request, with this app's options for its kind.
    pub fn to_request(
        &self,
        signal: Option<&web_sys::AbortSignal>,
    ) -> Result<web_sys::Request, JsValue> {
        let init = RequestInit::new();
        init.set_method(self.method());
        init.set_referrer_policy(ReferrerPolicy::NoReferrer);
        if let Some(s) = signal {
            init.set_signal(Some(s));
        }
        let headers = web_sys::Headers::new()?;
        match self {
            Self::Form { body, .. } => {
                init.set_credentials(RequestCredentials::Omit);
                // Token responses must never be stored by the HTTP cache.
                init.set_cache(RequestCache::NoStore);
                headers.set("Accept", "application/json")?;
                headers.set("Content-Type", "application/x-www-form-urlencoded")?;
                init.set_body(&JsValue::from_str(body));
            }
            Self::Bearer { token, .. } => {
                init.set_credentials(RequestCredentials::Omit);
                // The default cache mode, not `no-store`: Chromium bypasses its CORS preflight
                // cache for `no-store`/`no-cache` requests, which would cost a preflight round
                // trip on every call. Whether a response body may be kept is the API's decision
                // (`Cache-Control`; the sandbox sends `no-store`); the bearer token itself is never
                // cached.
                init.set_cache(RequestCache::Default);
                headers.set("Accept", "application/json")?;
                headers.set("Authorization", &format!("Bearer {token}"))?;
            }
            Self::Fresh { .. } => {
                init.set_credentials(RequestCredentials::SameOrigin);
                init.set_cache(RequestCache::NoCache);
            }
            Self::Public { .. } => {
                init.set_credentials(RequestCredentials::Omit);
                // Revalidated, not trusted blindly from the cache: a rotated key must be seen,
                // and a discovery document that changed.
                init.set_cache(RequestCache::NoCache);
                headers.set("Accept", "application/json")?;
            }
            Self::Probe { .. } => {
                init.set_mode(RequestMode::NoCors);
                init.set_credentials(RequestCredentials::Omit);
                init.set_cache(RequestCache::NoStore);
            }
        }
        init.set_headers(&headers);
        web_sys::Request::new_with_str_and_init(self.url(), &init)
    }
}

fn origin_of(url: &str) -> String {
    HttpUrl::parse(url)
        .map(|u| u.origin())
        .unwrap_or_else(|_| url.to_string())
}

/// POSTs a form body (token, refresh, revoke).
pub async fn post_form(url: &str, body: &FormBody) -> Result<HttpResponse, ApiError> {
    send(Outgoing::Form {
        url,
        body: body.expose(),
    })
    .await
}

/// GETs a REST resource with a bearer token.
pub async fn get_with_bearer(url: &str, access_token: &str) -> Result<HttpResponse, ApiError> {
    send(Outgoing::Bearer {
        url,
        token: access_token,
    })
    .await
}

/// GETs a same-origin file (config.json) that must not come from a cache.
pub async fn get_fresh(url: &str) -> Result<HttpResponse, ApiError> {
    send(Outgoing::Fresh { url }).await
}

/// GETs a public document of another origin, without credentials.
pub async fn get_public(url: &str) -> Result<HttpResponse, ApiError> {
    send(Outgoing::Public { url }).await
}

/// Starts `fetch` for `request` and returns its promise and the controller that aborts it.
pub fn start_fetch(
    request: &Outgoing<'_>,
) -> Result<(js_sys::Promise, Option<web_sys::AbortController>), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let controller = web_sys::AbortController::new().ok();
    let signal = controller.as_ref().map(|c| c.signal());
    let built = request.to_request(signal.as_ref())?;
    Ok((window.fetch_with_request(&built), controller))
}

/// Starts a form POST that the browser completes even if the page is being unloaded (`keepalive`):
/// a revocation sent from `pagehide` must not die with the page.
pub fn start_keepalive_post(url: &str, body: &str) -> Result<js_sys::Promise, JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let request = Outgoing::Form { url, body }.to_request(None)?;
    let init = RequestInit::new();
    // web-sys has no setter for it; `RequestInit` is a plain object.
    js_sys::Reflect::set(&init, &"keepalive".into(), &JsValue::TRUE)?;
    let kept = web_sys::Request::new_with_request_and_init(&request, &init)?;
    Ok(window.fetch_with_request(&kept))
}

/// Sends `request` and reads its answer.
pub async fn send(request: Outgoing<'_>) -> Result<HttpResponse, ApiError> {
    let (promise, controller) = start_fetch(&request)
        .map_err(|e| ApiError::network(origin_of(request.url()), error_text(&e)))?;
    receive(request.url(), promise, controller).await
}

/// The answer of a `fetch` to `url` already started (by [`start_fetch`], here or in the
/// first-load module): at most [`TIMEOUT_MS`] of waiting, at most [`MAX_BODY_BYTES`] of body.
pub async fn receive(
    url: &str,
    promise: js_sys::Promise,
    controller: Option<web_sys::AbortController>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin_of(url);
    let timer = controller.as_ref().and_then(|c| abort_after(c, TIMEOUT_MS));
    let sent = JsFuture::from(promise).await;
    if let Some(t) = timer {
        clear_timeout(t);
    }
    let response = match sent.and_then(|r| r.dyn_into::<web_sys::Response>()) {
        Ok(r) => r,
        Err(e) => {
            if controller.as_ref().is_some_and(|c| c.signal().aborted()) {
                return Err(ApiError::timeout(&origin, TIMEOUT_MS / 1000));
            }
            return Err(classify_failure(url, &origin, error_text(&e)).await);
        }
    };
    let status = response.status();
    let headers = response.headers();
    let retry_after = headers.get("retry-after").ok().flatten();
    if let Some(len) = headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.parse::<usize>().ok())
        && len > MAX_BODY_BYTES
    {
        return Err(ApiError::bad_response(
            status,
            format!("the response is {len} bytes, more than this app accepts"),
        ));
    }
    let body = match read_body(&response).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            // Stop the download too, not only the reading.
            if let Some(c) = &controller {
                c.abort();
            }
            return Err(ApiError::bad_response(
                status,
                format!(
                    "the response is larger than this app accepts ({} MB at most); reading stopped there",
                    MAX_BODY_BYTES / (1024 * 1024)
                ),
            ));
        }
        Err(BodyError::Failed(e)) => return Err(ApiError::network(&origin, error_text(&e))),
    };
    Ok(HttpResponse {
        status,
        retry_after,
        body,
    })
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// More than [`MAX_BODY_BYTES`] came; the stream was cancelled there.
    TooLarge,
    Failed(JsValue),
}

impl From<JsValue> for BodyError {
    fn from(e: JsValue) -> Self {
        Self::Failed(e)
    }
}

/// The body of `response`, as bytes, read chunk by chunk and given up as soon as it passes
/// [`MAX_BODY_BYTES`]: a body without a length (chunked) or compressed says nothing about its size
/// up front, and reading it whole first would hold all of it in memory.
pub async fn read_body(response: &web_sys::Response) -> Result<Vec<u8>, BodyError> {
    let Some(stream) = response.body() else {
        return Ok(Vec::new());
    };
    // `getReader()` without options returns a default reader (Streams standard), so no runtime
    // check (whose import name would also be a 61-character identifier in the glue).
    let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if js_sys::Reflect::get(&chunk, &"done".into())?.is_truthy() {
            return Ok(body);
        }
        let bytes: js_sys::Uint8Array =
            js_sys::Reflect::get(&chunk, &"value".into())?.dyn_into()?;
        if body.len() + bytes.length() as usize > MAX_BODY_BYTES {
            let _ = reader.cancel();
            return Err(BodyError::TooLarge);
        }
        let start = body.len();
        body.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut body[start..]);
    }
}

/// `TypeError: Failed to fetch`, as the browser names a failure.
fn error_text(e: &JsValue) -> String {
    match e.dyn_ref::<js_sys::Error>() {
        Some(err) => format!(
            "{}: {}",
            String::from(err.name()),
            String::from(err.message())
        ),
        None => js_error_text(e),
    }
}

/// After a failed fetch: an opaque `no-cors` request succeeds when the server is reachable, which
/// means the real request was refused by CORS, not lost on the network.
async fn classify_failure(url: &str, origin: &str, detail: String) -> ApiError {
    let reached = match start_fetch(&Outgoing::Probe { url }) {
        Ok((probe, _)) => JsFuture::from(probe).await.is_ok(),
        Err(_) => false,
    };
    if reached {
        ApiError::cors(origin)
    } else {
        ApiError::network(origin, detail)
    }
}

fn abort_after(controller: &web_sys::AbortController, ms: u64) -> Option<i32> {
    let controller = controller.clone();
    super::timer::set_timeout(ms, move || controller.abort())
}

fn clear_timeout(handle: i32) {
    if let Some(w) = web_sys::window() {
        w.clear_timeout_with_handle(handle);
    }
}
