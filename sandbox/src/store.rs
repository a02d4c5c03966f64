//! The authorization state: pending sign-ins, codes, grants and tokens, and every rule about them.
//!
//! This is plain data behind one mutex, with no HTTP in it, so each OAuth rule (single-use codes,
//! reuse detection, rotation, eviction, revocation) lives in exactly one function. Secrets are
//! stored only as SHA-256 hashes; the one exception is the optional refresh grace window (see
//! [`Store::refresh`]), which must be able to answer with the same pair again.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

use crate::errors::{OAuthError, grant_label};
use crate::idtoken::{OidcGrant, OidcRequest};
use crate::pkce::{SecretHash, verify_s256};
use crate::seed::User;

/// How a grant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    /// Revoked through `/restapi/oauth/revoke`.
    Revoked,
    /// A rotated-out refresh token was presented again.
    RefreshTokenReuse,
    /// The grant's authorization code was presented again.
    CodeReuse,
    /// A newer session of the same user and client pushed it out.
    Evicted,
    /// Revoked through the admin API.
    Admin,
    /// Every token of it expired.
    Expired,
}

/// One authorization session: created by a code exchange, carried through every refresh.
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: u64,
    pub client_id: String,
    pub user_index: usize,
    pub created_at_ms: u64,
    pub revoked: Option<RevokeReason>,
    pub refresh_count: u64,
    pub scope: String,
    pub endpoint_id: String,
    pub session_id: String,
    /// Set when the authorize request asked for `openid`: its tokens come with ID tokens.
    pub oidc: Option<OidcGrant>,
    access_tokens: Vec<SecretHash>,
    current_refresh: Option<SecretHash>,
    grace: Option<Grace>,
}

/// A rotated-out refresh token that still answers with the pair that replaced it.
#[derive(Debug, Clone)]
struct Grace {
    old_refresh: SecretHash,
    until_ms: u64,
    response: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Access,
    Refresh,
}

#[derive(Debug, Clone)]
struct TokenRecord {
    grant_id: u64,
    kind: TokenKind,
    expires_at_ms: u64,
    /// Replaced by a rotation (refresh) or killed by it (the old access token).
    superseded: bool,
}

#[derive(Debug, Clone)]
struct CodeRecord {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    user_index: usize,
    expires_at_ms: u64,
    used: bool,
    grant_id: Option<u64>,
    oidc: Option<OidcGrant>,
}

/// A validated authorize request waiting for the user's decision.
#[derive(Debug, Clone)]
pub struct PendingAuth {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub challenge: String,
    pub expires_at_ms: u64,
    /// `Some` when `scope` contained `openid`.
    pub oidc: Option<OidcRequest>,
}

/// Lifetimes and limits that token operations need.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub access_ttl_secs: u64,
    pub refresh_ttl_secs: u64,
    pub grace_secs: u64,
    pub max_sessions: usize,
}

/// A code exchange request, already parsed.
#[derive(Debug)]
pub struct Exchange<'a> {
    pub code: SecretHash,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: &'a str,
    /// The client's permissions, space-separated, reported as `scope` for the grant's lifetime.
    pub scope: &'a str,
}

/// Freshly generated secrets for one issuance; generated outside the lock.
#[derive(Debug)]
pub struct NewTokens {
    pub access: String,
    pub refresh: String,
    pub endpoint_id: String,
    pub session_id: String,
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Issued {
    pub grant_id: u64,
    pub body: Value,
    /// Set when the response needs an ID token added (an `openid` grant's fresh tokens; not a
    /// grace-window replay, whose stored body already has one).
    pub id_token: Option<IdTokenFor>,
}

/// Who and what an ID token is for.
#[derive(Debug, Clone)]
pub struct IdTokenFor {
    pub user_index: usize,
    pub client_id: String,
    pub grant: OidcGrant,
    /// True for the code exchange, false for refreshes.
    pub with_nonce: bool,
}

/// Who an access token belongs to.
#[derive(Debug, Clone)]
pub struct AccessContext {
    pub grant_id: u64,
    pub user_index: usize,
    pub client_id: String,
    pub oidc: Option<OidcGrant>,
}

/// Why an access token was refused (each maps to one RingCentral code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFailure {
    /// Never issued (or issued before a reset), or not an access token: OAU-149.
    Unknown,
    /// Past its lifetime: OAU-128.
    Expired(u64),
    /// Revoked or superseded by a refresh: OAU-213.
    Revoked(u64),
}

/// The admin view of a grant (`GET /__sandbox/state`).
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: String,
    pub client_id: String,
    pub user: String,
    pub owner_id: String,
    pub created_at_ms: u64,
    pub revoked: bool,
    pub revoked_reason: Option<RevokeReason>,
    pub live_access_tokens: usize,
    pub live_refresh_token: bool,
    pub refresh_count: u64,
    pub scope: String,
}

#[derive(Debug)]
pub struct Store {
    owner_ids: Vec<u64>,
    next_grant: u64,
    grants: BTreeMap<u64, Grant>,
    tokens: HashMap<SecretHash, TokenRecord>,
    codes: HashMap<SecretHash, CodeRecord>,
    pending: HashMap<SecretHash, PendingAuth>,
}

impl Store {
    pub fn new(users: &[User]) -> Self {
        Self {
            owner_ids: users.iter().map(|u| u.extension_id).collect(),
            next_grant: 1,
            grants: BTreeMap::new(),
            tokens: HashMap::new(),
            codes: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Forgets everything (admin reset); grant ids start again at `g1`.
    pub fn reset(&mut self) {
        let owner_ids = std::mem::take(&mut self.owner_ids);
        *self = Self {
            owner_ids,
            ..Self::new(&[])
        };
    }

    // ---- pending sign-ins -------------------------------------------------------------------

    pub fn insert_pending(&mut self, txn: SecretHash, pending: PendingAuth, now_ms: u64) {
        self.pending.retain(|_, p| p.expires_at_ms > now_ms);
        self.pending.insert(txn, pending);
    }

    pub fn pending(&self, txn: &SecretHash, now_ms: u64) -> Option<&PendingAuth> {
        self.pending.get(txn).filter(|p| p.expires_at_ms > now_ms)
    }

    pub fn take_pending(&mut self, txn: &SecretHash, now_ms: u64) -> Option<PendingAuth> {
        self.pending
            .remove(txn)
            .filter(|p| p.expires_at_ms > now_ms)
    }

    // ---- codes ------------------------------------------------------------------------------

    pub fn insert_code(
        &mut self,
        code: SecretHash,
        pending: &PendingAuth,
        user_index: usize,
        consented_at_ms: u64,
        expires_at_ms: u64,
    ) {
        self.codes.insert(
            code,
            CodeRecord {
                client_id: pending.client_id.clone(),
                redirect_uri: pending.redirect_uri.clone(),
                challenge: pending.challenge.clone(),
                user_index,
                expires_at_ms,
                used: false,
                grant_id: None,
                oidc: pending.oidc.clone().map(|request| OidcGrant {
                    request,
                    auth_time_ms: consented_at_ms,
                }),
            },
        );
    }

    /// The user a code was issued to, for rate limiting before the code is looked at for real.
    pub fn code_owner(&self, code: &SecretHash) -> Option<usize> {
        self.codes.get(code).map(|c| c.user_index)
    }

    /// The user a token belongs to, for rate limiting.
    pub fn token_owner(&self, token: &SecretHash) -> Option<usize> {
        let record = self.tokens.get(token)?;
        self.grants.get(&record.grant_id).map(|g| g.user_index)
    }

    /// The authorization_code grant (RFC 6749 §4.1.3 with RFC 7636 §4.6).
    ///
    /// A code is single-use: presenting a used code again revokes the grant it produced (§4.1.2).
    /// A code presented with the wrong client, redirect URI or verifier is burnt too, so a stolen
    /// code cannot be tried again.
    pub fn exchange_code(
        &mut self,
        req: &Exchange<'_>,
        new: NewTokens,
        policy: Policy,
        now_ms: u64,
    ) -> Result<Issued, OAuthError> {
        let client_id = req.client_id;
        let Some(record) = self.codes.get_mut(&req.code) else {
            return Err(OAuthError::invalid_grant(
                "OAU-106",
                "Invalid authorization code",
            ));
        };
        if record.used {
            let grant = record.grant_id;
            let mut err = OAuthError::invalid_grant(
                "OAU-106",
                "Authorization code has already been used; the tokens issued from it are revoked",
            );
            if let Some(id) = grant {
                self.revoke_grant(id, RevokeReason::CodeReuse);
                err = err.with_grant(id);
            }
            return Err(err);
        }
        if record.client_id != client_id {
            record.used = true;
            return Err(OAuthError::invalid_grant(
                "OAU-110",
                "Authorization code was not issued to this client",
            ));
        }
        if now_ms >= record.expires_at_ms {
            return Err(OAuthError::invalid_grant(
                "OAU-108",
                "Authorization code expired",
            ));
        }
        if record.redirect_uri != req.redirect_uri {
            record.used = true;
            return Err(OAuthError::invalid_grant(
                "OAU-109",
                "Redirect URIs do not match",
            ));
        }
        if !verify_s256(req.verifier, &record.challenge) {
            record.used = true;
            return Err(OAuthError::invalid_grant(
                "OAU-114",
                "Code verifier does not match code challenge",
            ));
        }
        record.used = true;
        let user_index = record.user_index;
        let oidc = record.oidc.clone();
        let id = self.next_grant;
        self.next_grant += 1;
        record.grant_id = Some(id);
        self.evict_sessions(user_index, client_id, policy.max_sessions, now_ms);
        self.grants.insert(
            id,
            Grant {
                id,
                client_id: client_id.to_owned(),
                user_index,
                created_at_ms: now_ms,
                revoked: None,
                refresh_count: 0,
                scope: req.scope.to_owned(),
                endpoint_id: new.endpoint_id.clone(),
                session_id: new.session_id.clone(),
                oidc,
                access_tokens: Vec::new(),
                current_refresh: None,
                grace: None,
            },
        );
        let mut issued = self.issue(id, new, policy, now_ms);
        if let Some(t) = &mut issued.id_token {
            t.with_nonce = true;
        }
        Ok(issued)
    }

    /// The refresh_token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
    ///
    /// The presented token dies and so does the grant's access token. Presenting a rotated-out
    /// token again revokes the whole grant, unless the grace window is on and still open: then the
    /// pair that replaced it is returned again, as RingCentral does for about 10 s.
    pub fn refresh(
        &mut self,
        token: &SecretHash,
        client_id: &str,
        new: NewTokens,
        policy: Policy,
        now_ms: u64,
    ) -> Result<Issued, OAuthError> {
        let invalid = || OAuthError::invalid_grant("OAU-211", "Invalid token");
        let Some(record) = self.tokens.get(token).cloned() else {
            return Err(invalid());
        };
        if record.kind != TokenKind::Refresh {
            return Err(invalid());
        }
        let grant_id = record.grant_id;
        let Some(grant) = self.grants.get(&grant_id) else {
            return Err(invalid());
        };
        if grant.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "OAU-110",
                "Token was not issued to this client",
            )
            .with_grant(grant_id));
        }
        if grant.revoked.is_some() {
            return Err(
                OAuthError::invalid_grant("OAU-211", "Token is revoked").with_grant(grant_id)
            );
        }
        if record.superseded {
            if let Some(grace) = grant
                .grace
                .as_ref()
                .filter(|g| g.old_refresh == *token && now_ms < g.until_ms)
            {
                return Ok(Issued {
                    grant_id,
                    body: grace.response.clone(),
                    id_token: None,
                });
            }
            self.revoke_grant(grant_id, RevokeReason::RefreshTokenReuse);
            return Err(OAuthError::invalid_grant(
                "OAU-211",
                "Refresh token has already been used; the whole session is revoked",
            )
            .with_grant(grant_id));
        }
        if now_ms >= record.expires_at_ms {
            self.revoke_grant(grant_id, RevokeReason::Expired);
            return Err(
                OAuthError::invalid_grant("OAU-210", "Refresh token expired").with_grant(grant_id),
            );
        }
        if let Some(r) = self.tokens.get_mut(token) {
            r.superseded = true;
        }
        let old_access = self
            .grants
            .get(&grant_id)
            .map(|g| g.access_tokens.clone())
            .unwrap_or_default();
        for hash in old_access {
            if let Some(r) = self.tokens.get_mut(&hash) {
                r.superseded = true;
            }
        }
        if let Some(g) = self.grants.get_mut(&grant_id) {
            g.refresh_count += 1;
            g.grace = None;
        }
        let issued = self.issue(grant_id, new, policy, now_ms);
        if policy.grace_secs > 0
            && let Some(g) = self.grants.get_mut(&grant_id)
        {
            g.grace = Some(Grace {
                old_refresh: *token,
                until_ms: now_ms.saturating_add(policy.grace_secs.saturating_mul(1000)),
                response: issued.body.clone(),
            });
        }
        Ok(issued)
    }

    /// Records a new access/refresh pair for a grant and builds RingCentral's token response.
    fn issue(&mut self, grant_id: u64, new: NewTokens, policy: Policy, now_ms: u64) -> Issued {
        let access_hash = crate::pkce::hash_secret(&new.access);
        let refresh_hash = crate::pkce::hash_secret(&new.refresh);
        let ttl_ms = |secs: u64| now_ms.saturating_add(secs.saturating_mul(1000));
        self.tokens.insert(
            access_hash,
            TokenRecord {
                grant_id,
                kind: TokenKind::Access,
                expires_at_ms: ttl_ms(policy.access_ttl_secs),
                superseded: false,
            },
        );
        self.tokens.insert(
            refresh_hash,
            TokenRecord {
                grant_id,
                kind: TokenKind::Refresh,
                expires_at_ms: ttl_ms(policy.refresh_ttl_secs),
                superseded: false,
            },
        );
        let mut id_token = None;
        let (owner_id, scope, endpoint_id, session_id) = match self.grants.get_mut(&grant_id) {
            Some(g) => {
                g.access_tokens.push(access_hash);
                g.current_refresh = Some(refresh_hash);
                let owner = self
                    .owner_ids
                    .get(g.user_index)
                    .copied()
                    .unwrap_or_default();
                id_token = g.oidc.clone().map(|grant| IdTokenFor {
                    user_index: g.user_index,
                    client_id: g.client_id.clone(),
                    grant,
                    with_nonce: false,
                });
                (
                    owner,
                    g.scope.clone(),
                    g.endpoint_id.clone(),
                    g.session_id.clone(),
                )
            }
            None => (
                0,
                String::new(),
                new.endpoint_id.clone(),
                new.session_id.clone(),
            ),
        };
        Issued {
            grant_id,
            body: json!({
                "access_token": new.access,
                "token_type": "bearer",
                "expires_in": policy.access_ttl_secs,
                "refresh_token": new.refresh,
                "refresh_token_expires_in": policy.refresh_ttl_secs,
                "scope": scope,
                "owner_id": owner_id.to_string(),
                "endpoint_id": endpoint_id,
                "session_id": session_id,
            }),
            id_token,
        }
    }

    /// Replaces the grace window's stored answer with `body` (the same pair with its ID token
    /// added), so a repeated refresh inside the window gets exactly what the first one got.
    pub fn update_grace(&mut self, grant_id: u64, body: &Value) {
        if let Some(grace) = self
            .grants
            .get_mut(&grant_id)
            .and_then(|g| g.grace.as_mut())
            .filter(|g| g.response.get("access_token") == body.get("access_token"))
        {
            grace.response = body.clone();
        }
    }

    /// Revokes the oldest live grants of (user, client) until a new one fits under the limit.
    fn evict_sessions(&mut self, user_index: usize, client_id: &str, max: usize, now_ms: u64) {
        if max == 0 {
            return;
        }
        let live: Vec<u64> = self
            .grants
            .values()
            .filter(|g| {
                g.user_index == user_index && g.client_id == client_id && self.is_live(g, now_ms)
            })
            .map(|g| g.id)
            .collect();
        let excess = (live.len() + 1).saturating_sub(max);
        for id in live.into_iter().take(excess) {
            self.revoke_grant(id, RevokeReason::Evicted);
        }
    }

    /// Checks a bearer token for the REST API.
    pub fn check_access(
        &self,
        token: &SecretHash,
        now_ms: u64,
    ) -> Result<AccessContext, AccessFailure> {
        let record = self.tokens.get(token).ok_or(AccessFailure::Unknown)?;
        if record.kind != TokenKind::Access {
            return Err(AccessFailure::Unknown);
        }
        let grant = self
            .grants
            .get(&record.grant_id)
            .ok_or(AccessFailure::Unknown)?;
        if grant.revoked.is_some() || record.superseded {
            return Err(AccessFailure::Revoked(grant.id));
        }
        if now_ms >= record.expires_at_ms {
            return Err(AccessFailure::Expired(grant.id));
        }
        Ok(AccessContext {
            grant_id: grant.id,
            user_index: grant.user_index,
            client_id: grant.client_id.clone(),
            oidc: grant.oidc.clone(),
        })
    }

    /// RFC 7009 revocation: any token of a grant ends the whole grant. Unknown tokens are not an
    /// error (`Ok(None)`); a token of another client is refused.
    pub fn revoke_token(
        &mut self,
        token: &SecretHash,
        client_id: Option<&str>,
    ) -> Result<Option<u64>, OAuthError> {
        let Some(record) = self.tokens.get(token) else {
            return Ok(None);
        };
        let grant_id = record.grant_id;
        let Some(grant) = self.grants.get(&grant_id) else {
            return Ok(None);
        };
        if client_id.is_some_and(|c| c != grant.client_id) {
            return Err(OAuthError::invalid_grant(
                "OAU-110",
                "Token was not issued to this client",
            )
            .with_grant(grant_id));
        }
        self.revoke_grant(grant_id, RevokeReason::Revoked);
        Ok(Some(grant_id))
    }

    /// Ends a grant; the first reason sticks.
    pub fn revoke_grant(&mut self, grant_id: u64, reason: RevokeReason) -> bool {
        match self.grants.get_mut(&grant_id) {
            Some(g) => {
                if g.revoked.is_none() {
                    g.revoked = Some(reason);
                }
                g.grace = None;
                true
            }
            None => false,
        }
    }

    /// Admin: revokes one grant or all live ones; returns how many were revoked now.
    pub fn admin_revoke(&mut self, grant_id: Option<u64>) -> Option<usize> {
        match grant_id {
            Some(id) => {
                let was_live = self.grants.get(&id)?.revoked.is_none();
                self.revoke_grant(id, RevokeReason::Admin);
                Some(usize::from(was_live))
            }
            None => {
                let ids: Vec<u64> = self
                    .grants
                    .values()
                    .filter(|g| g.revoked.is_none())
                    .map(|g| g.id)
                    .collect();
                for id in &ids {
                    self.revoke_grant(*id, RevokeReason::Admin);
                }
                Some(ids.len())
            }
        }
    }

    /// Admin: every live access token expires now; returns how many.
    pub fn expire_access_tokens(&mut self, now_ms: u64) -> usize {
        let mut count = 0;
        for record in self.tokens.values_mut() {
            let live_grant = self
                .grants
                .get(&record.grant_id)
                .is_some_and(|g| g.revoked.is_none());
            if record.kind == TokenKind::Access
                && !record.superseded
                && live_grant
                && record.expires_at_ms > now_ms
            {
                record.expires_at_ms = now_ms;
                count += 1;
            }
        }
        count
    }

    fn live_access_count(&self, grant: &Grant, now_ms: u64) -> usize {
        if grant.revoked.is_some() {
            return 0;
        }
        grant
            .access_tokens
            .iter()
            .filter_map(|h| self.tokens.get(h))
            .filter(|r| !r.superseded && r.expires_at_ms > now_ms)
            .count()
    }

    fn refresh_is_live(&self, grant: &Grant, now_ms: u64) -> bool {
        grant.revoked.is_none()
            && grant
                .current_refresh
                .and_then(|h| self.tokens.get(&h))
                .is_some_and(|r| !r.superseded && r.expires_at_ms > now_ms)
    }

    fn is_live(&self, grant: &Grant, now_ms: u64) -> bool {
        self.refresh_is_live(grant, now_ms) || self.live_access_count(grant, now_ms) > 0
    }

    /// Admin: every grant, oldest first. A grant whose tokens all expired shows as revoked with
    /// reason `expired`.
    pub fn grant_views(&self, users: &[User], now_ms: u64) -> Vec<GrantView> {
        self.grants
            .values()
            .map(|g| {
                let live = self.is_live(g, now_ms);
                let reason = g.revoked.or((!live).then_some(RevokeReason::Expired));
                GrantView {
                    id: grant_label(g.id),
                    client_id: g.client_id.clone(),
                    user: users
                        .get(g.user_index)
                        .map(|u| u.email.clone())
                        .unwrap_or_default(),
                    owner_id: self
                        .owner_ids
                        .get(g.user_index)
                        .map(u64::to_string)
                        .unwrap_or_default(),
                    created_at_ms: g.created_at_ms,
                    revoked: reason.is_some(),
                    revoked_reason: reason,
                    live_access_tokens: self.live_access_count(g, now_ms),
                    live_refresh_token: self.refresh_is_live(g, now_ms),
                    refresh_count: g.refresh_count,
                    scope: g.scope.clone(),
                }
            })
            .collect()
    }

    /// Pending sign-ins and unexpired, unused codes, for the admin state.
    pub fn counts(&self, now_ms: u64) -> (usize, usize) {
        let pending = self
            .pending
            .values()
            .filter(|p| p.expires_at_ms > now_ms)
            .count();
        let codes = self
            .codes
            .values()
            .filter(|c| !c.used && c.expires_at_ms > now_ms)
            .count();
        (pending, codes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkce::{hash_secret, s256_challenge};

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const POLICY: Policy = Policy {
        access_ttl_secs: 3600,
        refresh_ttl_secs: 604_800,
        grace_secs: 0,
        max_sessions: 5,
    };

    fn tokens(n: u32) -> NewTokens {
        NewTokens {
            access: format!("access-{n}"),
            refresh: format!("refresh-{n}"),
            endpoint_id: "e".into(),
            session_id: "s".into(),
        }
    }

    fn exchange(code: &str) -> Exchange<'static> {
        Exchange {
            code: hash_secret(code),
            client_id: "c",
            redirect_uri: "http://x/cb",
            verifier: VERIFIER,
            scope: "ReadAccounts",
        }
    }

    fn store_with_code(code: &str, now: u64) -> Store {
        let mut s = Store::new(&crate::seed::users());
        let pending = PendingAuth {
            client_id: "c".into(),
            redirect_uri: "http://x/cb".into(),
            state: None,
            challenge: s256_challenge(VERIFIER),
            expires_at_ms: now + 600_000,
            oidc: None,
        };
        s.insert_code(hash_secret(code), &pending, 0, now, now + 60_000);
        s
    }

    #[test]
    fn an_openid_grant_asks_for_id_tokens_with_the_nonce_only_at_the_exchange() {
        let mut s = Store::new(&crate::seed::users());
        let request = OidcRequest {
            nonce: Some("n".into()),
            email: true,
            profile: false,
        };
        let pending = PendingAuth {
            client_id: "c".into(),
            redirect_uri: "http://x/cb".into(),
            state: None,
            challenge: s256_challenge(VERIFIER),
            expires_at_ms: 600_000,
            oidc: Some(request.clone()),
        };
        s.insert_code(hash_secret("k"), &pending, 0, 500, 60_000);
        let first = s
            .exchange_code(&exchange("k"), tokens(1), POLICY, 1000)
            .unwrap();
        let wanted = first.id_token.expect("an openid grant wants an ID token");
        assert!(wanted.with_nonce);
        assert_eq!((wanted.user_index, wanted.client_id.as_str()), (0, "c"));
        assert_eq!(
            wanted.grant,
            OidcGrant {
                request,
                auth_time_ms: 500
            }
        );
        let refreshed = s
            .refresh(&hash_secret("refresh-1"), "c", tokens(2), POLICY, 2000)
            .unwrap();
        let wanted = refreshed.id_token.expect("refreshes too");
        assert!(!wanted.with_nonce);
        assert_eq!(wanted.grant.auth_time_ms, 500, "auth_time stays");
        let ctx = s.check_access(&hash_secret("access-2"), 2001).unwrap();
        assert!(ctx.oidc.is_some(), "userinfo can see the grant's scopes");
    }

    #[test]
    fn a_plain_grant_asks_for_no_id_token() {
        let mut s = store_with_code("k", 0);
        let issued = s
            .exchange_code(&exchange("k"), tokens(1), POLICY, 0)
            .unwrap();
        assert!(issued.id_token.is_none());
        let ctx = s.check_access(&hash_secret("access-1"), 1).unwrap();
        assert!(ctx.oidc.is_none());
    }

    #[test]
    fn code_is_single_use_and_reuse_revokes() {
        let mut s = store_with_code("k", 1000);
        let issued = s.exchange_code(&exchange("k"), tokens(1), POLICY, 1000);
        assert!(issued.is_ok());
        assert!(s.check_access(&hash_secret("access-1"), 1001).is_ok());
        let again = s.exchange_code(&exchange("k"), tokens(2), POLICY, 1002);
        assert_eq!(again.map_err(|e| e.code).err(), Some("OAU-106"));
        assert_eq!(
            s.check_access(&hash_secret("access-1"), 1003).err(),
            Some(AccessFailure::Revoked(1))
        );
    }

    #[test]
    fn rotation_and_reuse_detection() {
        let mut s = store_with_code("k", 0);
        s.exchange_code(&exchange("k"), tokens(1), POLICY, 0)
            .unwrap();
        s.refresh(&hash_secret("refresh-1"), "c", tokens(2), POLICY, 10)
            .unwrap();
        assert_eq!(
            s.check_access(&hash_secret("access-1"), 11).err(),
            Some(AccessFailure::Revoked(1))
        );
        assert!(s.check_access(&hash_secret("access-2"), 11).is_ok());
        let reuse = s.refresh(&hash_secret("refresh-1"), "c", tokens(3), POLICY, 12);
        assert_eq!(reuse.map_err(|e| e.code).err(), Some("OAU-211"));
        assert!(s.check_access(&hash_secret("access-2"), 13).is_err());
        let views = s.grant_views(&crate::seed::users(), 14);
        assert_eq!(
            views[0].revoked_reason,
            Some(RevokeReason::RefreshTokenReuse)
        );
    }

    #[test]
    fn grace_window_returns_the_same_pair() {
        let policy = Policy {
            grace_secs: 10,
            ..POLICY
        };
        let mut s = store_with_code("k", 0);
        s.exchange_code(&exchange("k"), tokens(1), policy, 0)
            .unwrap();
        let first = s
            .refresh(&hash_secret("refresh-1"), "c", tokens(2), policy, 100)
            .unwrap();
        let again = s
            .refresh(&hash_secret("refresh-1"), "c", tokens(3), policy, 5_000)
            .unwrap();
        assert_eq!(first.body, again.body);
        let late = s.refresh(&hash_secret("refresh-1"), "c", tokens(4), policy, 10_101);
        assert!(late.is_err());
    }

    #[test]
    fn sixth_session_evicts_the_oldest() {
        let mut s = Store::new(&crate::seed::users());
        let pending = PendingAuth {
            client_id: "c".into(),
            redirect_uri: "http://x/cb".into(),
            state: None,
            challenge: s256_challenge(VERIFIER),
            expires_at_ms: 1_000_000,
            oidc: None,
        };
        for i in 0..6 {
            let code = format!("code-{i}");
            s.insert_code(hash_secret(&code), &pending, 0, 0, 60_000);
            s.exchange_code(&exchange(&code), tokens(i), POLICY, u64::from(i))
                .unwrap();
        }
        let views = s.grant_views(&crate::seed::users(), 10);
        assert_eq!(views[0].revoked_reason, Some(RevokeReason::Evicted));
        assert!(views[1..].iter().all(|v| !v.revoked));
    }
}
