//! Fault injection: queued failures and latency for the next N calls of an endpoint, and a seeded
//! random share of failures for refreshes and REST reads.
//!
//! Queued faults are set through `POST /__sandbox/faults` and consumed in order by matching
//! non-preflight requests, so a test can script "the next token call is a 503, the one after a
//! 429" without restarting anything. A fault with a status answers in RingCentral's error shape for
//! that endpoint; a `reset` fault closes the connection without any answer; a fault with only a
//! delay adds latency.
//!
//! Random faults are armed through `POST /__sandbox/faults/random` ([`RandomFaults`]): every
//! refresh or REST read then draws from a seeded generator whether it fails and how ([`FaultKind`]),
//! so a long run over a flaky "network" is repeatable for a given seed and request order, and
//! [`RandomReport`] counts what was injected.
//!
//! This is the rules; the layer that applies them is `middleware::faults`, so the shared state can
//! hold them without depending on the layer.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::errors::{ApiError, OAuthError};
use crate::form::Params;

/// Longest latency a fault may add, so a mistaken fault cannot hang a test run. Twice the app's
/// 30 s request timeout, so a fault can outlast it.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Default wait of a random `timeout` fault: past the app's 30 s request timeout, with margin.
pub const DEFAULT_TIMEOUT_MS: u64 = 35_000;

/// Default `Retry-After` of a random `rate-limited` fault: RingCentral's penalty.
pub const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

/// Largest `Retry-After` a fault may send.
pub const MAX_RETRY_AFTER_SECS: u64 = 3_600;

/// The status a reset is logged with (nothing is sent): nginx's "closed without a response".
pub const RESET_LOG_STATUS: u16 = 444;

/// The `error` a reset is logged with.
pub const RESET_LOG_ERROR: &str = "connection_reset";

/// Which calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    Token,
    Revoke,
    Authorize,
    Account,
    Extension,
    CallLog,
    /// Any REST API call (`/restapi/v1.0/...`).
    Api,
    /// The OpenID endpoints, one target each, so a test can make the client's discovery, key or
    /// userinfo fetch fail alone. Not REST calls: neither `api` nor random faults reach them.
    Discovery,
    Jwks,
    Userinfo,
}

/// One queued fault, as posted and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub target: Target,
    /// How many more matching calls it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status (400..=599) instead of calling the endpoint.
    #[serde(default)]
    pub status: Option<u16>,
    /// Sent as `Retry-After` with the fault's status.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// Latency added before answering (or before calling the endpoint).
    #[serde(default)]
    pub delay_ms: u64,
    /// Close the connection without any answer (after `delay_ms`) instead of calling the endpoint.
    #[serde(default)]
    pub reset: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if self.status.is_some_and(|s| !(400..=599).contains(&s)) {
            return Err("status must be between 400 and 599".into());
        }
        if self.delay_ms > MAX_DELAY_MS {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        if self.reset && (self.status.is_some() || self.retry_after_secs.is_some()) {
            return Err("a reset sends no answer: it takes no status or retry_after_secs".into());
        }
        if self.status.is_none() && self.delay_ms == 0 && !self.reset {
            return Err("a fault needs a status, a delay_ms, reset, or a combination".into());
        }
        Ok(())
    }

    /// What this fault does to the request it is applied to.
    pub fn injection(&self) -> Injection {
        let action = match (self.reset, self.status) {
            (true, _) => Action::Reset,
            (false, Some(status)) => Action::Status {
                status,
                retry_after_secs: self.retry_after_secs,
            },
            (false, None) => Action::Endpoint,
        };
        Injection {
            delay_ms: self.delay_ms,
            action,
        }
    }
}

/// What the layer does to one faulted request: wait `delay_ms` (the request read whole first),
/// then act. A client that hangs up during the wait never reaches the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injection {
    pub delay_ms: u64,
    pub action: Action,
}

/// The second half of an [`Injection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Call the endpoint (a delay-only fault).
    Endpoint,
    /// Answer with this status in the endpoint's error shape, without calling it.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Close the connection without any answer, without calling the endpoint.
    Reset,
}

/// Which requests a random fault mode draws for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RandomTarget {
    /// Token requests (POST) with `grant_type=refresh_token`.
    Refresh,
    /// GETs under `/restapi/v1.0/`, with or without a token.
    ApiRead,
}

impl RandomTarget {
    pub const ALL: [Self; 2] = [Self::Refresh, Self::ApiRead];

    /// Each target draws from its own generator, so the faults one target gets depend only on its
    /// own request order, not on how its requests interleave with the other target's.
    fn stream(self) -> u64 {
        match self {
            Self::Refresh => 0x5246_5348, // "RFSH"
            Self::ApiRead => 0x4150_4952, // "APIR"
        }
    }
}

/// How a randomly faulted request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// The connection is closed without any answer; the endpoint is not called.
    Reset,
    /// No answer for `timeout_ms`, then closed as with `reset`; the endpoint is not called, also
    /// not when the client waits longer.
    Timeout,
    /// 503 in the endpoint's error shape.
    Unavailable,
    /// 429 `CMN-301` with `Retry-After: retry_after_secs`.
    RateLimited,
}

impl FaultKind {
    pub const ALL: [Self; 4] = [
        Self::Reset,
        Self::Timeout,
        Self::Unavailable,
        Self::RateLimited,
    ];
}

/// A random fault mode, as posted to `POST /__sandbox/faults/random` and as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// Seeds the generators: the same seed and request order give the same faults.
    pub seed: u64,
    /// The share of eligible requests that fail, 0.0..=1.0.
    pub probability: f64,
    /// Which requests draw; default both.
    #[serde(default = "all_targets")]
    pub targets: Vec<RandomTarget>,
    /// The kinds a failing request is drawn from, uniformly; default all.
    #[serde(default = "all_kinds")]
    pub kinds: Vec<FaultKind>,
    /// How long a `timeout` leaves the request unanswered (1..=60000 ms).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The `Retry-After` of a `rate-limited` answer.
    #[serde(default = "default_retry_after_secs")]
    pub retry_after_secs: u64,
    /// At most this many faults of a kind (over all targets); a kind that reached its limit is no
    /// longer drawn. Kinds left out are unlimited.
    #[serde(default)]
    pub limits: BTreeMap<FaultKind, u32>,
    /// While armed, every answer that passes the fault layer carries `Connection: close` (default
    /// on), so a browser opens a new connection for each request. With keep-alive, a reset on a
    /// reused connection is resent by the browser itself (Chromium does, for POSTs too), and the
    /// app sees a reset only when the resend fails as well.
    #[serde(default = "yes")]
    pub close_connections: bool,
}

fn yes() -> bool {
    true
}

fn all_targets() -> Vec<RandomTarget> {
    RandomTarget::ALL.to_vec()
}

fn all_kinds() -> Vec<FaultKind> {
    FaultKind::ALL.to_vec()
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_retry_after_secs() -> u64 {
    DEFAULT_RETRY_AFTER_SECS
}

fn has_duplicates<T: Ord>(items: &[T]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

impl RandomFaults {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.probability) {
            return Err("probability must be between 0 and 1".into());
        }
        if self.targets.is_empty() || has_duplicates(&self.targets) {
            return Err("targets must name refresh and/or api-read, each once".into());
        }
        if self.kinds.is_empty() || has_duplicates(&self.kinds) {
            return Err("kinds must name at least one kind, each once".into());
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_DELAY_MS {
            return Err(format!("timeout_ms must be between 1 and {MAX_DELAY_MS}"));
        }
        if self.retry_after_secs > MAX_RETRY_AFTER_SECS {
            return Err(format!(
                "retry_after_secs must be at most {MAX_RETRY_AFTER_SECS}"
            ));
        }
        if let Some(kind) = self.limits.keys().find(|k| !self.kinds.contains(k)) {
            return Err(format!("limits names {kind:?}, which is not in kinds"));
        }
        Ok(())
    }

    /// What a request that drew `kind` gets.
    pub fn injection(&self, kind: FaultKind) -> Injection {
        let (delay_ms, action) = match kind {
            FaultKind::Reset => (0, Action::Reset),
            FaultKind::Timeout => (self.timeout_ms, Action::Reset),
            FaultKind::Unavailable => (
                0,
                Action::Status {
                    status: 503,
                    retry_after_secs: None,
                },
            ),
            FaultKind::RateLimited => (
                0,
                Action::Status {
                    status: 429,
                    retry_after_secs: Some(self.retry_after_secs),
                },
            ),
        };
        Injection { delay_ms, action }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough to pick faults; the same
/// seed gives the same sequence on every platform.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a random fault mode did since it was armed, as `GET /__sandbox/faults/random` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RandomReport {
    /// Whether requests still draw.
    pub armed: bool,
    /// The mode as armed (`null` if none was armed since the last reset).
    pub config: Option<RandomFaults>,
    /// Eligible requests seen (each drew once), per target.
    pub seen: BTreeMap<RandomTarget, u64>,
    /// Faults injected per kind, over all targets (every armed kind listed, 0 included).
    pub injected: BTreeMap<FaultKind, u64>,
    /// Faults injected per target and kind.
    pub by_target: BTreeMap<RandomTarget, BTreeMap<FaultKind, u64>>,
}

/// An armed (or disarmed, still reporting) random fault mode.
#[derive(Debug)]
struct RandomMode {
    config: RandomFaults,
    armed: bool,
    generators: BTreeMap<RandomTarget, SplitMix64>,
    report: RandomReport,
}

impl RandomMode {
    fn new(config: RandomFaults) -> Self {
        let generators = config
            .targets
            .iter()
            .map(|&t| (t, SplitMix64(config.seed ^ t.stream().rotate_left(32))))
            .collect();
        let zero: BTreeMap<FaultKind, u64> = config.kinds.iter().map(|&k| (k, 0)).collect();
        let report = RandomReport {
            armed: true,
            config: Some(config.clone()),
            seen: config.targets.iter().map(|&t| (t, 0)).collect(),
            injected: zero.clone(),
            by_target: config.targets.iter().map(|&t| (t, zero.clone())).collect(),
        };
        Self {
            config,
            armed: true,
            generators,
            report,
        }
    }

    fn applies_to(&self, target: RandomTarget) -> bool {
        self.armed && self.generators.contains_key(&target)
    }

    /// One draw for one eligible request: whether it fails, and how. Every draw takes two numbers
    /// from the target's generator, whatever the outcome, so limits never shift later draws.
    fn draw(&mut self, target: RandomTarget) -> Option<FaultKind> {
        if !self.armed {
            return None;
        }
        let generator = self.generators.get_mut(&target)?;
        let fails = generator.next_unit() < self.config.probability;
        let pick = generator.next_u64();
        *self.report.seen.entry(target).or_default() += 1;
        if !fails {
            return None;
        }
        let open: Vec<FaultKind> = self
            .config
            .kinds
            .iter()
            .copied()
            .filter(|k| {
                self.config.limits.get(k).is_none_or(|&limit| {
                    self.report.injected.get(k).copied().unwrap_or(0) < u64::from(limit)
                })
            })
            .collect();
        let len = u64::try_from(open.len()).ok().filter(|&n| n > 0)?;
        let kind = *open.get(usize::try_from(pick % len).ok()?)?;
        *self.report.injected.entry(kind).or_default() += 1;
        *self
            .report
            .by_target
            .entry(target)
            .or_default()
            .entry(kind)
            .or_default() += 1;
        Some(kind)
    }
}

/// Whether a token request's form body asks for a refresh (exactly one `grant_type`, and it is
/// `refresh_token`): what tells a refresh from a code exchange.
pub fn is_refresh(body: &[u8]) -> bool {
    Params::from_body(body)
        .ok()
        .is_some_and(|p| p.get("grant_type") == Ok(Some("refresh_token")))
}

/// The pending faults: the ordered queue and the random mode.
#[derive(Debug, Default)]
pub struct FaultQueue {
    items: Vec<Fault>,
    random: Option<RandomMode>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault) {
        self.items.push(fault);
    }

    pub fn list(&self) -> Vec<Fault> {
        self.items.clone()
    }

    /// Forgets the queue and the random mode, its counts included.
    pub fn clear(&mut self) {
        self.items.clear();
        self.random = None;
    }

    /// Consumes one use of the first fault that matches `endpoint`.
    pub fn take(&mut self, endpoint: Target) -> Option<Fault> {
        let index = self
            .items
            .iter()
            .position(|f| matches(f.target, endpoint))?;
        let fault = self.items.get_mut(index)?;
        fault.count = fault.count.saturating_sub(1);
        let taken = Fault {
            count: 1,
            ..fault.clone()
        };
        if fault.count == 0 {
            self.items.remove(index);
        }
        Some(taken)
    }

    /// Arms a (validated) random mode, replacing any other; its counts start at 0.
    pub fn arm_random(&mut self, config: RandomFaults) {
        self.random = Some(RandomMode::new(config));
    }

    /// Stops the random mode; its report stays readable until the next arm or clear.
    pub fn disarm_random(&mut self) -> RandomReport {
        if let Some(mode) = self.random.as_mut() {
            mode.armed = false;
            mode.report.armed = false;
        }
        self.random_report()
    }

    pub fn random_report(&self) -> RandomReport {
        self.random
            .as_ref()
            .map(|m| m.report.clone())
            .unwrap_or_default()
    }

    /// Whether requests of `target` draw now (so the layer reads a token body only when needed).
    pub fn random_applies_to(&self, target: RandomTarget) -> bool {
        self.random.as_ref().is_some_and(|m| m.applies_to(target))
    }

    /// Whether answers now carry `Connection: close` ([`RandomFaults::close_connections`]).
    pub fn closes_connections(&self) -> bool {
        self.random
            .as_ref()
            .is_some_and(|m| m.armed && m.config.close_connections)
    }

    /// Draws for one request of `target`: the injection it gets, if any.
    pub fn draw_random(&mut self, target: RandomTarget) -> Option<(FaultKind, Injection)> {
        let mode = self.random.as_mut()?;
        let kind = mode.draw(target)?;
        Some((kind, mode.config.injection(kind)))
    }
}

fn matches(target: Target, endpoint: Target) -> bool {
    target == endpoint || (target == Target::Api && endpoint.is_rest())
}

impl Target {
    /// Whether this is a REST API endpoint (`/restapi/v1.0/...`).
    pub fn is_rest(self) -> bool {
        matches!(
            self,
            Self::Account | Self::Extension | Self::CallLog | Self::Api
        )
    }
}

/// The endpoint a path belongs to; `Api` for other REST paths, `None` outside the API.
pub fn classify(path: &str) -> Option<Target> {
    match path {
        "/restapi/oauth/token" => return Some(Target::Token),
        "/restapi/oauth/revoke" => return Some(Target::Revoke),
        "/restapi/oauth/authorize" => return Some(Target::Authorize),
        "/.well-known/openid-configuration" => return Some(Target::Discovery),
        "/restapi/oauth/jwks" => return Some(Target::Jwks),
        "/restapi/oauth/userinfo" => return Some(Target::Userinfo),
        _ => {}
    }
    let rest = path.strip_prefix("/restapi/v1.0/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    Some(match segments.as_slice() {
        ["account", _] => Target::Account,
        ["account", _, "extension", _] => Target::Extension,
        ["account", _, "extension", _, "call-log"] => Target::CallLog,
        _ => Target::Api,
    })
}

/// The response an injected status gets, in the endpoint's own error shape.
pub fn fault_response(endpoint: Target, status: u16, retry_after_secs: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let oauth = matches!(endpoint, Target::Token | Target::Revoke | Target::Authorize);
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        // Rate limiting happens in RingCentral's gateway, before OAuth: same shape everywhere.
        ApiError::rate_limited().into_response()
    } else if oauth {
        let (error, code, text) = match status.as_u16() {
            401 => ("invalid_client", "OAU-153", "Invalid client"),
            400..=499 => ("invalid_request", "OAU-101", "Injected client error"),
            502..=504 => (
                "temporarily_unavailable",
                "CMN-211",
                "Service temporarily unavailable",
            ),
            _ => ("server_error", "CMN-201", "Internal server error"),
        };
        OAuthError::new(status, error, code, text).into_response()
    } else {
        match status.as_u16() {
            401 => ApiError::unauthorized("OAU-149", "Invalid token").into_response(),
            403 => ApiError::simple(status, "CMN-408", "Access denied").into_response(),
            404 => ApiError::simple(status, "CMN-102", "Resource not found").into_response(),
            400..=499 => ApiError::simple(status, "CMN-101", "Bad request").into_response(),
            502..=504 => ApiError::simple(status, "CMN-211", "Service temporarily unavailable")
                .into_response(),
            _ => ApiError::simple(status, "CMN-201", "Internal server error").into_response(),
        }
    };
    *response.status_mut() = status;
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A response that makes the server close the connection without sending a byte: its body fails
/// when first polled, and hyper then aborts the connection before the status line it buffered is
/// written. The client sees a connection closed without an answer (a browser's `fetch` fails with
/// a network error). The status is what the request log shows; it is never sent.
pub fn connection_reset() -> Response {
    // `Limited` with room for no bytes fails on the first chunk it is asked for. It is wrapped as
    // a stream so that the response has no known length: with its exact length of 0, hyper would
    // send an empty answer without ever reading the body.
    let failing = Body::new(http_body_util::Limited::new(Body::from("reset"), 0));
    let mut response = Response::new(Body::from_stream(failing.into_data_stream()));
    *response.status_mut() =
        StatusCode::from_u16(RESET_LOG_STATUS).unwrap_or(StatusCode::BAD_GATEWAY);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(target: Target, count: u32, status: u16) -> Fault {
        Fault {
            target,
            count,
            status: Some(status),
            retry_after_secs: None,
            delay_ms: 0,
            reset: false,
        }
    }

    fn random(seed: u64, probability: f64) -> RandomFaults {
        serde_json::from_value(serde_json::json!({"seed": seed, "probability": probability}))
            .expect("defaults fill the rest")
    }

    /// The kinds drawn by `n` requests of `target`, `None` for unfaulted ones.
    fn draws(queue: &mut FaultQueue, target: RandomTarget, n: usize) -> Vec<Option<FaultKind>> {
        (0..n)
            .map(|_| queue.draw_random(target).map(|(k, _)| k))
            .collect()
    }

    #[test]
    fn classifies_paths() {
        assert_eq!(classify("/restapi/oauth/token"), Some(Target::Token));
        assert_eq!(classify("/restapi/v1.0/account/~"), Some(Target::Account));
        assert_eq!(
            classify("/restapi/v1.0/account/~/extension/~"),
            Some(Target::Extension)
        );
        assert_eq!(
            classify("/restapi/v1.0/account/~/extension/~/call-log"),
            Some(Target::CallLog)
        );
        assert_eq!(classify("/restapi/v1.0/other"), Some(Target::Api));
        assert_eq!(classify("/__sandbox/state"), None);
        assert_eq!(
            classify("/.well-known/openid-configuration"),
            Some(Target::Discovery)
        );
        assert_eq!(classify("/restapi/oauth/jwks"), Some(Target::Jwks));
        assert_eq!(classify("/restapi/oauth/userinfo"), Some(Target::Userinfo));
        assert!(!matches(Target::Api, Target::Userinfo), "not a REST call");
    }

    #[test]
    fn queue_consumes_in_order() {
        let mut q = FaultQueue::default();
        q.push(fault(Target::Token, 1, 503));
        q.push(fault(Target::Api, 2, 500));
        q.push(fault(Target::Token, 1, 429));
        assert_eq!(q.take(Target::Token).and_then(|f| f.status), Some(503));
        assert_eq!(q.take(Target::CallLog).and_then(|f| f.status), Some(500));
        assert_eq!(q.take(Target::Token).and_then(|f| f.status), Some(429));
        assert_eq!(q.take(Target::Token), None);
        assert_eq!(q.list().len(), 1);
        assert_eq!(q.list()[0].count, 1);
        assert_eq!(q.take(Target::Revoke), None);
    }

    #[test]
    fn validation() {
        assert!(fault(Target::Token, 0, 503).validate().is_err());
        assert!(fault(Target::Token, 1, 200).validate().is_err());
        assert!(fault(Target::Token, 1, 503).validate().is_ok());
        let reset = Fault {
            status: None,
            reset: true,
            ..fault(Target::Token, 1, 503)
        };
        assert!(reset.validate().is_ok());
        assert_eq!(reset.injection().action, Action::Reset);
        let reset_with_status = Fault {
            reset: true,
            ..fault(Target::Token, 1, 503)
        };
        assert!(reset_with_status.validate().is_err());
    }

    #[test]
    fn injections_of_queued_faults() {
        let delayed = Fault {
            status: None,
            delay_ms: 40_000,
            ..fault(Target::Token, 1, 503)
        };
        assert!(
            delayed.validate().is_ok(),
            "a delay may outlast the app's 30 s"
        );
        assert_eq!(
            delayed.injection(),
            Injection {
                delay_ms: 40_000,
                action: Action::Endpoint
            }
        );
        assert_eq!(
            fault(Target::Api, 1, 429).injection().action,
            Action::Status {
                status: 429,
                retry_after_secs: None
            }
        );
    }

    #[test]
    fn random_defaults_and_validation() {
        let r = random(7, 0.5);
        assert_eq!(r.targets, RandomTarget::ALL);
        assert_eq!(r.kinds, FaultKind::ALL);
        assert_eq!(r.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(r.retry_after_secs, DEFAULT_RETRY_AFTER_SECS);
        assert!(r.close_connections);
        assert!(r.limits.is_empty());
        assert!(r.validate().is_ok());
        let bad = [
            RandomFaults {
                probability: 1.5,
                ..random(7, 0.5)
            },
            RandomFaults {
                probability: f64::NAN,
                ..random(7, 0.5)
            },
            RandomFaults {
                targets: vec![],
                ..random(7, 0.5)
            },
            RandomFaults {
                targets: vec![RandomTarget::Refresh, RandomTarget::Refresh],
                ..random(7, 0.5)
            },
            RandomFaults {
                kinds: vec![],
                ..random(7, 0.5)
            },
            RandomFaults {
                timeout_ms: 0,
                ..random(7, 0.5)
            },
            RandomFaults {
                timeout_ms: MAX_DELAY_MS + 1,
                ..random(7, 0.5)
            },
            RandomFaults {
                kinds: vec![FaultKind::Reset],
                limits: BTreeMap::from([(FaultKind::Timeout, 1)]),
                ..random(7, 0.5)
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }

    #[test]
    fn random_kinds_become_injections() {
        let r = RandomFaults {
            timeout_ms: 31_000,
            retry_after_secs: 2,
            ..random(1, 1.0)
        };
        assert_eq!(
            r.injection(FaultKind::Reset),
            Injection {
                delay_ms: 0,
                action: Action::Reset
            }
        );
        assert_eq!(
            r.injection(FaultKind::Timeout),
            Injection {
                delay_ms: 31_000,
                action: Action::Reset
            },
            "a timeout never reaches the endpoint"
        );
        assert_eq!(
            r.injection(FaultKind::Unavailable).action,
            Action::Status {
                status: 503,
                retry_after_secs: None
            }
        );
        assert_eq!(
            r.injection(FaultKind::RateLimited).action,
            Action::Status {
                status: 429,
                retry_after_secs: Some(2)
            }
        );
    }

    #[test]
    fn random_draws_are_deterministic_per_seed_and_target() {
        let run = |seed, order: &[RandomTarget]| {
            let mut q = FaultQueue::default();
            q.arm_random(random(seed, 0.4));
            let mut refresh = Vec::new();
            let mut api = Vec::new();
            for &t in order {
                let k = q.draw_random(t).map(|(k, _)| k);
                match t {
                    RandomTarget::Refresh => refresh.push(k),
                    RandomTarget::ApiRead => api.push(k),
                }
            }
            (refresh, api)
        };
        use RandomTarget::{ApiRead as A, Refresh as R};
        let order = [R, A, A, R, A, R, R, A, A, A, R, R, A, R, A, A, R, R, R, A];
        let interleaved = [A, A, A, A, A, A, A, A, A, A, R, R, R, R, R, R, R, R, R, R];
        assert_eq!(run(42, &order), run(42, &order));
        // Each target's faults depend on its own order only.
        assert_eq!(run(42, &order), run(42, &interleaved));
        assert_ne!(run(42, &order), run(43, &order));
    }

    #[test]
    fn random_share_and_counts() {
        let mut q = FaultQueue::default();
        assert!(!q.random_applies_to(RandomTarget::Refresh));
        assert_eq!(q.random_report(), RandomReport::default());
        q.arm_random(RandomFaults {
            targets: vec![RandomTarget::ApiRead],
            ..random(2024, 0.3)
        });
        assert!(q.random_applies_to(RandomTarget::ApiRead));
        assert!(!q.random_applies_to(RandomTarget::Refresh));
        assert_eq!(q.draw_random(RandomTarget::Refresh), None);
        let drawn = draws(&mut q, RandomTarget::ApiRead, 2000);
        let faulted = drawn.iter().flatten().count();
        assert!((500..700).contains(&faulted), "{faulted} of 2000 at 0.3");
        let report = q.random_report();
        assert!(report.armed);
        assert_eq!(report.seen.get(&RandomTarget::ApiRead), Some(&2000));
        assert!(!report.seen.contains_key(&RandomTarget::Refresh));
        assert_eq!(report.injected.values().sum::<u64>(), faulted as u64);
        for kind in FaultKind::ALL {
            let n = drawn.iter().filter(|d| **d == Some(kind)).count() as u64;
            assert_eq!(report.injected.get(&kind), Some(&n));
            assert!(n > 100, "{kind:?} drawn {n} times: kinds are uniform");
            assert_eq!(
                report.by_target[&RandomTarget::ApiRead].get(&kind),
                Some(&n)
            );
        }
        let last = q.disarm_random();
        assert!(!last.armed);
        assert_eq!(last.injected, report.injected);
        assert_eq!(q.draw_random(RandomTarget::ApiRead), None);
        assert_eq!(
            q.random_report().seen,
            report.seen,
            "disarmed: no more draws"
        );
        q.clear();
        assert_eq!(q.random_report(), RandomReport::default());
    }

    #[test]
    fn random_probability_bounds_and_limits() {
        let mut q = FaultQueue::default();
        q.arm_random(random(5, 0.0));
        assert!(
            draws(&mut q, RandomTarget::Refresh, 500)
                .iter()
                .all(Option::is_none)
        );
        q.arm_random(RandomFaults {
            limits: BTreeMap::from([(FaultKind::Timeout, 2), (FaultKind::Reset, 0)]),
            ..random(5, 1.0)
        });
        let drawn = draws(&mut q, RandomTarget::Refresh, 300);
        assert!(
            drawn.iter().all(Option::is_some),
            "probability 1 faults all"
        );
        let count = |k| drawn.iter().filter(|d| **d == Some(k)).count();
        assert_eq!(count(FaultKind::Timeout), 2);
        assert_eq!(count(FaultKind::Reset), 0);
        assert_eq!(
            count(FaultKind::Unavailable) + count(FaultKind::RateLimited),
            298
        );
        // Every kind limited and used up: no more faults, but requests still count as seen.
        q.arm_random(RandomFaults {
            kinds: vec![FaultKind::Timeout],
            limits: BTreeMap::from([(FaultKind::Timeout, 1)]),
            ..random(5, 1.0)
        });
        let drawn = draws(&mut q, RandomTarget::Refresh, 10);
        assert_eq!(drawn.iter().flatten().count(), 1);
        assert_eq!(q.random_report().seen[&RandomTarget::Refresh], 10);
    }

    #[test]
    fn refreshes_are_told_by_their_grant_type() {
        assert!(is_refresh(
            b"grant_type=refresh_token&refresh_token=x&client_id=c"
        ));
        assert!(!is_refresh(b"grant_type=authorization_code&code=x"));
        assert!(!is_refresh(
            b"grant_type=refresh_token&grant_type=refresh_token"
        ));
        assert!(!is_refresh(b"refresh_token=x"));
        assert!(!is_refresh(&[0xff, 0xfe]));
    }

    #[test]
    fn the_generator_is_splitmix64() {
        // The first outputs for seed 0, as published with the algorithm.
        let mut g = SplitMix64(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
