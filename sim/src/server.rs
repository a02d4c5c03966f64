//! The server model: RingCentral's authorization server and one REST endpoint, as plain data on
//! the simulated clock, written for the simulator from RingCentral's documented behaviour
//! (`shared/ringcentral-oauth.md`) and sharing no code with the client.
//!
//! - an authorization code lives 60 s and is single use: presenting a used code again revokes
//!   the grant it produced;
//! - refresh tokens rotate and are single use: each refresh returns a new pair and kills the old
//!   access token at once; presenting a rotated-out refresh token revokes the whole grant (the
//!   strict reading: no grace window);
//! - a revoke of any token of a grant ends the grant;
//! - at most five live grants per user: a sixth sign-in ends the oldest;
//! - a refresh token past its lifetime ends the grant.
//!
//! Tokens are plain text naming their grant and rotation (`rt-3-2`: grant 3, second rotation),
//! which lets the invariants look them up; nothing here is secret. Besides its answer, every
//! request returns what the server did ([`Processed`]), for the invariants to judge.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Codes live this long (RingCentral: `expires_in=60` on the callback).
pub const CODE_TTL_MS: u64 = 60_000;
/// Live grants per user and app.
pub const MAX_SESSIONS: usize = 5;

/// An HTTP answer as the browser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `Retry-After`, when the browser can read it.
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: String) -> Self {
        Self {
            status,
            retry_after: None,
            body: body.into_bytes(),
        }
    }

    /// A 503 without an OAuth error.
    pub fn unavailable() -> Self {
        Self::json(
            503,
            r#"{"errorCode":"CMN-211","message":"Service temporarily unavailable"}"#.into(),
        )
    }

    /// A 429; `retry_after` is the header when the browser may read it.
    pub fn rate_limited(retry_after: Option<u64>) -> Self {
        Self {
            retry_after: retry_after.map(|s| s.to_string()),
            ..Self::json(
                429,
                r#"{"errorCode":"CMN-301","message":"Request rate exceeded"}"#.into(),
            )
        }
    }

    fn oauth(code: &str, message: &str) -> Self {
        Self::json(
            400,
            format!(
                r#"{{"error":"invalid_grant","error_description":"{message}","errors":[{{"errorCode":"{code}","message":"{message}"}}]}}"#
            ),
        )
    }
}

/// Why a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndReason {
    /// Revoked through the revoke endpoint (a sign-out).
    Revoked,
    /// A rotated-out refresh token was presented.
    RefreshReuse,
    /// Its authorization code was presented again.
    CodeReuse,
    /// A newer sign-in of the user pushed it out (five sessions per user).
    Evicted,
    /// Its refresh token's lifetime ran out.
    Expired,
}

impl EndReason {
    /// The error code the refusal of a refresh of such a grant carries.
    pub fn code(self) -> &'static str {
        match self {
            Self::Revoked => "OAU-211",
            Self::RefreshReuse => "OAU-212",
            Self::CodeReuse => "OAU-106",
            Self::Evicted => "OAU-215",
            Self::Expired => "OAU-210",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Revoked => "Token is revoked",
            Self::RefreshReuse => "Refresh token has already been used; the session is revoked",
            Self::CodeReuse => "Authorization code was used again; the session is revoked",
            Self::Evicted => "Session ended: too many sessions of this user",
            Self::Expired => "Refresh token expired",
        }
    }
}

/// What the server did with a request, for the invariants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Answered with a fault before looking at the request (503, 429).
    NotProcessed,
    CodeExchanged {
        code: String,
        grant: u64,
    },
    /// A code seen before: the grant it made (if any) is revoked.
    CodeReused {
        code: String,
        /// The request that presented it first.
        first_http: u64,
    },
    CodeRefused {
        code: String,
        why: &'static str,
    },
    /// The verifier does not match the challenge: the client sent a code without its record.
    VerifierMismatch {
        code: String,
    },
    Refreshed {
        grant: u64,
        presented: u64,
    },
    /// A rotated-out refresh token: the grant is revoked.
    RefreshReuse {
        grant: u64,
        presented: u64,
        current: u64,
    },
    RefreshRefused {
        grant: Option<u64>,
    },
    Revoked {
        grant: Option<u64>,
    },
    Api {
        ok: bool,
    },
}

#[derive(Debug, Clone)]
struct Code {
    challenge: String,
    redirect_uri: String,
    client_id: String,
    expires_at: u64,
    /// The first request that presented it.
    seen_by: Option<u64>,
    grant: Option<u64>,
}

/// One authorization session.
#[derive(Debug, Clone)]
pub struct Grant {
    pub created_at: u64,
    pub ended: Option<(EndReason, u64)>,
    /// The current rotation: `rt-<grant>-<index>` is the live refresh token.
    pub index: u64,
    pub refresh_expires_at: u64,
    pub access_expires_at: u64,
    /// The request that produced each rotation (index 0: the code exchange).
    pub made_by: Vec<u64>,
}

/// What a bearer token is worth now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessState {
    Ok,
    Expired,
    /// A refresh replaced it.
    Superseded,
    Ended(EndReason),
    Unknown,
}

/// Lifetimes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access_secs: u64,
    pub refresh_secs: u64,
}

#[derive(Debug)]
pub struct Server {
    life: Lifetimes,
    codes: BTreeMap<String, Code>,
    /// Grant `n` is `grants[n - 1]`.
    grants: Vec<Grant>,
    next_code: u64,
}

/// `at-3-2` / `rt-3-2` → (kind, grant, index).
pub fn parse_token(token: &str) -> Option<(&str, u64, u64)> {
    let mut parts = token.splitn(3, '-');
    let kind = parts.next()?;
    let grant = parts.next()?.parse().ok()?;
    let index = parts.next()?.parse().ok()?;
    Some((kind, grant, index))
}

fn pairs(text: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Server {
    pub fn new(life: Lifetimes) -> Self {
        Self {
            life,
            codes: BTreeMap::new(),
            grants: Vec::new(),
            next_code: 1,
        }
    }

    pub fn grant(&self, id: u64) -> Option<&Grant> {
        id.checked_sub(1).and_then(|i| self.grants.get(i as usize))
    }

    fn grant_mut(&mut self, id: u64) -> Option<&mut Grant> {
        id.checked_sub(1)
            .and_then(|i| self.grants.get_mut(i as usize))
    }

    pub fn grants(&self) -> impl Iterator<Item = (u64, &Grant)> {
        self.grants
            .iter()
            .enumerate()
            .map(|(i, g)| (i as u64 + 1, g))
    }

    fn end(&mut self, id: u64, reason: EndReason, now: u64) {
        if let Some(g) = self.grant_mut(id)
            && g.ended.is_none()
        {
            g.ended = Some((reason, now));
        }
    }

    /// Ends grants whose refresh token expired (the server's own housekeeping).
    fn expire(&mut self, now: u64) {
        for g in &mut self.grants {
            if g.ended.is_none() && now >= g.refresh_expires_at {
                g.ended = Some((EndReason::Expired, g.refresh_expires_at));
            }
        }
    }

    /// The user approves at the authorize page: the callback URL with a fresh code, or `None`
    /// when the request is not one this server accepts.
    pub fn approve(&mut self, authorize_url: &str, now: u64) -> Option<(String, String)> {
        let q = pairs(authorize_url.split_once('?')?.1);
        if q.get("response_type")? != "code" || q.get("code_challenge_method")? != "S256" {
            return None;
        }
        let code = format!("code-{}", self.next_code);
        self.next_code += 1;
        self.codes.insert(
            code.clone(),
            Code {
                challenge: q.get("code_challenge")?.clone(),
                redirect_uri: q.get("redirect_uri")?.clone(),
                client_id: q.get("client_id")?.clone(),
                expires_at: now + CODE_TTL_MS,
                seen_by: None,
                grant: None,
            },
        );
        let state = q.get("state")?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", state)
            .append_pair("expires_in", "60")
            .finish();
        Some((format!("{}?{query}", q.get("redirect_uri")?), code))
    }

    /// The user chooses Deny: the callback URL with the error.
    pub fn deny(authorize_url: &str) -> Option<String> {
        let q = pairs(authorize_url.split_once('?')?.1);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("error", "access_denied")
            .append_pair("error_description", "The user denied access")
            .append_pair("state", q.get("state")?)
            .finish();
        Some(format!("{}?{query}", q.get("redirect_uri")?))
    }

    /// `POST /restapi/oauth/token`, request `http`.
    pub fn token(&mut self, body: &str, http: u64, now: u64) -> (Response, Processed) {
        self.expire(now);
        let q = pairs(body);
        match q.get("grant_type").map(String::as_str) {
            Some("authorization_code") => self.exchange(&q, http, now),
            Some("refresh_token") => self.refresh(&q, http, now),
            _ => (
                Response::oauth("OAU-112", "Unsupported grant type"),
                Processed::RefreshRefused { grant: None },
            ),
        }
    }

    fn exchange(
        &mut self,
        q: &BTreeMap<String, String>,
        http: u64,
        now: u64,
    ) -> (Response, Processed) {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        let name = get("code").to_string();
        let Some(code) = self.codes.get_mut(&name) else {
            return (
                Response::oauth("OAU-106", "Invalid authorization code"),
                Processed::CodeRefused {
                    code: name,
                    why: "unknown",
                },
            );
        };
        if let Some(first_http) = code.seen_by {
            let grant = code.grant;
            if let Some(g) = grant {
                self.end(g, EndReason::CodeReuse, now);
            }
            return (
                Response::oauth("OAU-106", "Authorization code has already been used"),
                Processed::CodeReused {
                    code: name,
                    first_http,
                },
            );
        }
        code.seen_by = Some(http);
        if now >= code.expires_at {
            return (
                Response::oauth("OAU-108", "Authorization code expired"),
                Processed::CodeRefused {
                    code: name,
                    why: "expired",
                },
            );
        }
        if code.redirect_uri != get("redirect_uri") || code.client_id != get("client_id") {
            return (
                Response::oauth("OAU-109", "Redirect URIs do not match"),
                Processed::CodeRefused {
                    code: name,
                    why: "redirect URI or client",
                },
            );
        }
        if s256(get("code_verifier")) != code.challenge {
            return (
                Response::oauth("OAU-114", "Code verifier does not match code challenge"),
                Processed::VerifierMismatch { code: name },
            );
        }
        // Five sessions per user: the oldest live ones go.
        let live: Vec<u64> = self
            .grants()
            .filter(|(_, g)| g.ended.is_none())
            .map(|(id, _)| id)
            .collect();
        let excess = (live.len() + 1).saturating_sub(MAX_SESSIONS);
        for id in live.into_iter().take(excess) {
            self.end(id, EndReason::Evicted, now);
        }
        let id = self.grants.len() as u64 + 1;
        self.grants.push(Grant {
            created_at: now,
            ended: None,
            index: 0,
            refresh_expires_at: now + self.life.refresh_secs * 1000,
            access_expires_at: now + self.life.access_secs * 1000,
            made_by: vec![http],
        });
        if let Some(c) = self.codes.get_mut(&name) {
            c.grant = Some(id);
        }
        (
            self.tokens(id, 0),
            Processed::CodeExchanged {
                code: name,
                grant: id,
            },
        )
    }

    fn refresh(
        &mut self,
        q: &BTreeMap<String, String>,
        http: u64,
        now: u64,
    ) -> (Response, Processed) {
        let presented = q.get("refresh_token").map(String::as_str).unwrap_or("");
        let parsed = parse_token(presented).filter(|(kind, _, _)| *kind == "rt");
        let Some((_, id, index)) = parsed else {
            return (
                Response::oauth("OAU-211", "Invalid token"),
                Processed::RefreshRefused { grant: None },
            );
        };
        let Some(g) = self.grant(id).cloned() else {
            return (
                Response::oauth("OAU-211", "Invalid token"),
                Processed::RefreshRefused { grant: None },
            );
        };
        if let Some((reason, _)) = g.ended {
            return (
                Response::oauth(reason.code(), reason.message()),
                Processed::RefreshRefused { grant: Some(id) },
            );
        }
        if index < g.index {
            self.end(id, EndReason::RefreshReuse, now);
            let reason = EndReason::RefreshReuse;
            return (
                Response::oauth(reason.code(), reason.message()),
                Processed::RefreshReuse {
                    grant: id,
                    presented: index,
                    current: g.index,
                },
            );
        }
        if index > g.index {
            return (
                Response::oauth("OAU-211", "Invalid token"),
                Processed::RefreshRefused { grant: Some(id) },
            );
        }
        let (access_secs, refresh_secs) = (self.life.access_secs, self.life.refresh_secs);
        let Some(g) = self.grant_mut(id) else {
            unreachable!("looked up above")
        };
        g.index += 1;
        g.access_expires_at = now + access_secs * 1000;
        g.refresh_expires_at = now + refresh_secs * 1000;
        g.made_by.push(http);
        let next = g.index;
        (
            self.tokens(id, next),
            Processed::Refreshed {
                grant: id,
                presented: index,
            },
        )
    }

    fn tokens(&self, grant: u64, index: u64) -> Response {
        let Lifetimes {
            access_secs,
            refresh_secs,
        } = self.life;
        Response::json(
            200,
            format!(
                r#"{{"access_token":"at-{grant}-{index}","token_type":"bearer","expires_in":{access_secs},"refresh_token":"rt-{grant}-{index}","refresh_token_expires_in":{refresh_secs},"scope":"ReadAccounts ReadCallLog","owner_id":"101","endpoint_id":"e{grant}","session_id":"s{grant}"}}"#
            ),
        )
    }

    /// `POST /restapi/oauth/revoke`: any token of a grant ends it; unknown tokens are no error.
    pub fn revoke(&mut self, body: &str, now: u64) -> (Response, Processed) {
        let q = pairs(body);
        let grant = q
            .get("token")
            .and_then(|t| parse_token(t))
            .map(|(_, g, _)| g)
            .filter(|g| self.grant(*g).is_some());
        if let Some(g) = grant {
            self.end(g, EndReason::Revoked, now);
        }
        (
            Response::json(200, String::new()),
            Processed::Revoked { grant },
        )
    }

    /// What `token` is worth as a bearer token at `now`.
    pub fn access(&self, token: &str, now: u64) -> AccessState {
        let Some(("at", id, index)) = parse_token(token) else {
            return AccessState::Unknown;
        };
        let Some(g) = self.grant(id) else {
            return AccessState::Unknown;
        };
        let expired_grant = g.ended.is_none() && now >= g.refresh_expires_at;
        match g.ended {
            Some((reason, _)) => AccessState::Ended(reason),
            None if expired_grant => AccessState::Ended(EndReason::Expired),
            None if index < g.index => AccessState::Superseded,
            None if index > g.index => AccessState::Unknown,
            None if now >= g.access_expires_at => AccessState::Expired,
            None => AccessState::Ok,
        }
    }

    /// `GET /restapi/v1.0/...` with a bearer token.
    pub fn api(&mut self, token: &str, now: u64) -> (Response, Processed) {
        self.expire(now);
        match self.access(token, now) {
            AccessState::Ok => (Response::json(200, "{}".into()), Processed::Api { ok: true }),
            AccessState::Expired => (
                Response::json(
                    401,
                    r#"{"errorCode":"TokenInvalid","message":"Access token expired","errors":[{"errorCode":"OAU-128","message":"Access token expired"}]}"#.into(),
                ),
                Processed::Api { ok: false },
            ),
            _ => (
                Response::json(
                    401,
                    r#"{"errorCode":"TokenInvalid","message":"Token not found","errors":[{"errorCode":"OAU-213","message":"Token not found"}]}"#.into(),
                ),
                Processed::Api { ok: false },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        access_secs: 3600,
        refresh_secs: 604_800,
    };
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn authorize_url() -> String {
        format!(
            "https://rc/authorize?response_type=code&client_id=c&redirect_uri=http%3A%2F%2Fapp%2Fcb&state=S&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )
    }

    fn exchange_body(code: &str, verifier: &str) -> String {
        format!(
            "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Fapp%2Fcb&code_verifier={verifier}&client_id=c"
        )
    }

    fn signed_in(s: &mut Server, now: u64) -> u64 {
        let (_, code) = s.approve(&authorize_url(), now).unwrap();
        match s.token(&exchange_body(&code, VERIFIER), 1, now).1 {
            Processed::CodeExchanged { grant, .. } => grant,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_code_is_single_use_and_its_reuse_revokes_the_grant() {
        let mut s = Server::new(LIFE);
        let (url, code) = s.approve(&authorize_url(), 0).unwrap();
        assert!(url.starts_with("http://app/cb?code=code-1&state=S"));
        let (r, p) = s.token(&exchange_body(&code, VERIFIER), 1, 10);
        assert_eq!(r.status, 200);
        assert_eq!(
            p,
            Processed::CodeExchanged {
                code: code.clone(),
                grant: 1
            }
        );
        let (r, p) = s.token(&exchange_body(&code, VERIFIER), 2, 20);
        assert_eq!(r.status, 400);
        assert!(matches!(p, Processed::CodeReused { first_http: 1, .. }));
        assert_eq!(
            s.access("at-1-0", 20),
            AccessState::Ended(EndReason::CodeReuse)
        );
    }

    #[test]
    fn codes_expire_after_a_minute_and_need_their_verifier() {
        let mut s = Server::new(LIFE);
        let (_, code) = s.approve(&authorize_url(), 0).unwrap();
        let (_, p) = s.token(&exchange_body(&code, VERIFIER), 1, CODE_TTL_MS);
        assert!(matches!(p, Processed::CodeRefused { why: "expired", .. }));
        let (_, code) = s.approve(&authorize_url(), 0).unwrap();
        let wrong = VERIFIER.replace('d', "e");
        let (_, p) = s.token(&exchange_body(&code, &wrong), 2, 1);
        assert!(matches!(p, Processed::VerifierMismatch { .. }));
    }

    #[test]
    fn refresh_tokens_rotate_and_a_reused_one_revokes_the_grant() {
        let mut s = Server::new(LIFE);
        let g = signed_in(&mut s, 0);
        let body = |rt: &str| format!("grant_type=refresh_token&refresh_token={rt}&client_id=c");
        let (r, p) = s.token(&body("rt-1-0"), 2, 1000);
        assert_eq!(r.status, 200);
        assert_eq!(
            p,
            Processed::Refreshed {
                grant: g,
                presented: 0
            }
        );
        assert_eq!(s.access("at-1-0", 1000), AccessState::Superseded);
        assert_eq!(s.access("at-1-1", 1000), AccessState::Ok);
        let (_, p) = s.token(&body("rt-1-0"), 3, 2000);
        assert_eq!(
            p,
            Processed::RefreshReuse {
                grant: g,
                presented: 0,
                current: 1
            }
        );
        let (r, _) = s.token(&body("rt-1-1"), 4, 3000);
        assert_eq!(r.status, 400, "the whole grant is gone");
    }

    #[test]
    fn a_sixth_session_evicts_the_oldest_and_revoke_ends_a_grant() {
        let mut s = Server::new(LIFE);
        for i in 0..6 {
            signed_in(&mut s, i);
        }
        assert_eq!(
            s.access("at-1-0", 10),
            AccessState::Ended(EndReason::Evicted)
        );
        assert_eq!(s.access("at-2-0", 10), AccessState::Ok);
        s.revoke("token=rt-2-0&token_type_hint=refresh_token&client_id=c", 11);
        assert_eq!(
            s.access("at-2-0", 12),
            AccessState::Ended(EndReason::Revoked)
        );
    }

    #[test]
    fn refresh_tokens_and_access_tokens_expire() {
        let mut s = Server::new(Lifetimes {
            access_secs: 600,
            refresh_secs: 3600,
        });
        signed_in(&mut s, 0);
        assert_eq!(s.access("at-1-0", 600_000), AccessState::Expired);
        let (r, _) = s.token(
            "grant_type=refresh_token&refresh_token=rt-1-0&client_id=c",
            2,
            3_600_000,
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            s.access("at-1-0", 3_600_000),
            AccessState::Ended(EndReason::Expired)
        );
    }
}
