//! The PKCE inspector's record: each step of the last sign-in with its real values (verifier,
//! challenge and its derivation, authorize parameters, callback parameters, token request and
//! response), every secret flagged so the view masks it until the user asks to reveal it.
//!
//! The record is data only; it lives in memory and `sessionStorage`, never in a log. The REST reads
//! and the revoke are recorded too (for the sequence diagram), but without their token: a bearer
//! or revoked token is kept only in its masked form, so revealing secrets cannot show it.

use serde::{Deserialize, Serialize};

use crate::authorize::Started;
use crate::error::ApiError;
use crate::id_token::CHECKS;
use crate::id_token::IdToken;
use crate::pkce::sha256;
use crate::secret::mask;
use crate::time::Timestamp;
use crate::token::{FormBody, TokenRequest, TokenSet};

/// Steps kept: one sign-in and a handful of refreshes.
pub const MAX_STEPS: usize = 32;

/// One name/value line of a step.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    pub secret: bool,
    /// The value is already the masked form of a secret the record does not keep (a bearer or
    /// revoked token): shown as it is, revealed or not, and never masked twice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked_only: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, value: impl Into<String>, secret: bool) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            secret,
            masked_only: false,
        }
    }

    /// A secret the record keeps only as [`mask`] of it.
    pub fn masked_only(name: impl Into<String>, secret_value: &str) -> Self {
        Self {
            masked_only: true,
            ..Self::new(name, mask(secret_value), true)
        }
    }

    /// The value as shown while secrets are hidden.
    pub fn masked(&self) -> String {
        if self.secret && !self.masked_only {
            mask(&self.value)
        } else {
            self.value.clone()
        }
    }
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}={}",
            self.name,
            if self.secret {
                "<redacted>".to_string()
            } else {
                self.value.clone()
            }
        )
    }
}

/// What kind of step it is; decides its heading and explanation in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    /// Verifier → SHA-256 → base64url challenge.
    Pkce,
    /// The authorize URL, parameter by parameter.
    Authorize,
    /// What came back on the redirect.
    Callback,
    /// A token endpoint request body.
    TokenRequest,
    /// The token endpoint's answer.
    TokenResponse,
    /// A REST API read with the access token, and its status.
    ApiRead,
    /// The revoke request at sign-out, and its outcome.
    Revoke,
    /// An OpenID Connect ID token: its header and claims, and each check with its result.
    IdToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub kind: StepKind,
    /// A short heading, e.g. `POST /token (grant_type=refresh_token)`.
    pub title: String,
    pub fields: Vec<Field>,
    /// Set by the app when it stores the step.
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// The URL the step's request went to, so its Resource Timing entry can be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Step {
    /// The PKCE derivation of a sign-in that has just been started.
    pub fn pkce(started: &Started) -> Self {
        let verifier = started.pending.verifier.expose();
        let digest: String = sha256(verifier.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            kind: StepKind::Pkce,
            title: "PKCE: verifier and S256 challenge".into(),
            fields: vec![
                Field::new("code_verifier", verifier, true),
                Field::new("SHA-256(code_verifier), hex", digest, true),
                Field::new(
                    "code_challenge = BASE64URL(SHA-256)",
                    started.challenge.as_str(),
                    false,
                ),
                Field::new("code_challenge_method", started.challenge.method(), false),
            ],
            at: None,
            url: None,
        }
    }

    /// The authorize request of a sign-in that has just been started.
    pub fn authorize(started: &Started) -> Self {
        let endpoint = crate::url::without_query(&started.url).to_string();
        let mut fields = vec![Field::new("endpoint", endpoint, false)];
        fields.extend(
            started
                .parameters
                .iter()
                .map(|(k, v)| Field::new(*k, v.clone(), *k == "state")),
        );
        Self {
            kind: StepKind::Authorize,
            title: "GET /authorize (browser redirect)".into(),
            fields,
            at: None,
            url: None,
        }
    }

    pub fn callback(params: &[(String, String)]) -> Self {
        Self {
            kind: StepKind::Callback,
            title: "Callback to the redirect URI".into(),
            fields: params
                .iter()
                .map(|(k, v)| {
                    Field::new(k.clone(), v.clone(), matches!(k.as_str(), "code" | "state"))
                })
                .collect(),
            at: None,
            url: None,
        }
    }

    pub fn token_request(request: &TokenRequest) -> Self {
        Self {
            kind: StepKind::TokenRequest,
            title: format!("POST /token (grant_type={})", request.grant_type()),
            fields: request
                .display_pairs()
                .into_iter()
                .map(|(k, v, secret)| Field::new(k, v, secret))
                .collect(),
            at: None,
            url: None,
        }
    }

    pub fn token_response(result: &Result<TokenSet, ApiError>) -> Self {
        match result {
            Ok(tokens) => Self {
                kind: StepKind::TokenResponse,
                title: "Token response: 200 OK".into(),
                fields: tokens
                    .display_fields()
                    .into_iter()
                    .map(|(k, _, secret, full)| Field::new(k, full, secret))
                    .collect(),
                at: None,
                url: None,
            },
            Err(e) => {
                let mut fields = vec![Field::new("problem", e.title(), false)];
                if let Some(d) = e.detail() {
                    fields.push(Field::new("detail", d, false));
                }
                Self {
                    kind: StepKind::TokenResponse,
                    title: match e.status {
                        Some(s) => format!("Token response: HTTP {s}"),
                        None => "Token response: no response".into(),
                    },
                    fields,
                    at: None,
                    url: None,
                }
            }
        }
    }
}

/// What came back for a recorded request: an HTTP status, or why there was none.
fn outcome_field(outcome: &Result<u16, String>) -> Field {
    match outcome {
        Ok(status) => Field::new("status", status.to_string(), false),
        Err(problem) => Field::new("problem", problem.clone(), false),
    }
}

impl Step {
    /// A REST GET sent with `token` and what came back. The token is kept masked only (see the
    /// module comment).
    pub fn api_read(url: &str, path: &str, token: &str, outcome: &Result<u16, String>) -> Self {
        Self {
            kind: StepKind::ApiRead,
            title: format!("GET {path}"),
            fields: vec![
                Field {
                    value: format!("Bearer {}", mask(token)),
                    ..Field::masked_only("Authorization", token)
                },
                outcome_field(outcome),
            ],
            at: None,
            url: Some(url.to_string()),
        }
    }

    /// The revoke POST (at sign-out) with its form body. The revoked token is kept masked only.
    pub fn revoke(url: &str, body: &FormBody, outcome: &Result<u16, String>) -> Self {
        let mut fields: Vec<Field> = crate::url::parse_query(body.expose())
            .into_iter()
            .map(|(k, v)| {
                if k == "token" {
                    Field::masked_only(k, &v)
                } else {
                    Field::new(k, v, false)
                }
            })
            .collect();
        fields.push(outcome_field(outcome));
        Self {
            kind: StepKind::Revoke,
            title: "POST /revoke".into(),
            fields,
            at: None,
            url: Some(url.to_string()),
        }
    }

    /// The step with the URL its request went to.
    /// An ID token (of the sign-in, or `refreshed`: one a refresh brought) and its checks in the
    /// order they are made ([`CHECKS`]): passed up to `failed` (the check and what to show for
    /// it), not reached after it. `token` is `None` when it could not be taken apart.
    pub fn id_token(
        token: Option<&IdToken>,
        failed: Option<(&str, String)>,
        refreshed: bool,
    ) -> Self {
        let mut fields = Vec::new();
        if let Some(t) = token {
            fields.push(Field::new("alg", crate::id_token::ALGORITHM, false));
            if let Some(kid) = &t.kid {
                fields.push(Field::new("kid", kid.clone(), false));
            }
            let c = &t.claims;
            let mut claim = |name: &str, value: Option<String>, secret: bool| {
                if let Some(v) = value {
                    fields.push(Field::new(name, v, secret));
                }
            };
            claim("iss", Some(c.iss.clone()), false);
            claim("sub", Some(c.sub.clone()), false);
            claim("aud", Some(c.aud.as_slice().join(" ")), false);
            claim("azp", c.azp.clone(), false);
            claim("exp", Some(c.exp.to_string()), false);
            claim("iat", Some(c.iat.to_string()), false);
            claim("auth_time", c.auth_time.map(|t| t.to_string()), false);
            claim("nonce", c.nonce.clone(), true);
            claim("email", c.email.clone(), false);
            claim(
                "email_verified",
                c.email_verified.map(|v| v.to_string()),
                false,
            );
            claim("given_name", c.given_name.clone(), false);
            claim("family_name", c.family_name.clone(), false);
            claim(
                "account_id",
                c.account_id.as_ref().map(|v| v.to_string()),
                false,
            );
        }
        let failed_at = failed
            .as_ref()
            .and_then(|(check, _)| CHECKS.iter().position(|c| c == check));
        for (i, check) in CHECKS.iter().enumerate() {
            let applies = match *check {
                "nonce" | "present" => !refreshed,
                "same sign-in" => refreshed,
                _ => true,
            };
            let shown = match (failed_at, &failed) {
                _ if !applies => continue,
                (Some(at), Some((_, why))) if at == i => why.clone(),
                (Some(at), _) if at < i => "not reached".to_string(),
                _ => "passed".to_string(),
            };
            fields.push(Field::new(format!("check {check}"), shown, false));
        }
        let title = match (refreshed, failed.is_some()) {
            (false, false) => "ID token verified (sign-in)",
            (false, true) => "ID token refused (sign-in)",
            (true, false) => "ID token verified (refresh)",
            (true, true) => "ID token not accepted (refresh)",
        };
        Self {
            kind: StepKind::IdToken,
            title: title.into(),
            fields,
            at: None,
            url: None,
        }
    }

    pub fn with_url(mut self, url: &str) -> Self {
        self.url = Some(url.to_string());
        self
    }
}

/// The steps of the last sign-in and the refreshes since.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspector {
    pub steps: Vec<Step>,
    /// The session these steps are about has ended ([`Inspector::forget_secrets`]); such a record
    /// is shown, never stored.
    #[serde(skip)]
    pub ended: bool,
}

impl Inspector {
    /// A new sign-in starts a new record.
    pub fn start(started: &Started, now: Timestamp) -> Self {
        let mut i = Self::default();
        i.push(Step::pkce(started), now);
        i.push(Step::authorize(started), now);
        i
    }

    /// Keeps every step but no secret: each one only masked, as the bearer token already is. For
    /// the record of a session that has ended, which the page still shows (its sign-out's revoke
    /// included) but no longer stores.
    pub fn forget_secrets(&mut self) {
        self.ended = true;
        for field in self.steps.iter_mut().flat_map(|s| s.fields.iter_mut()) {
            if field.secret && !field.masked_only {
                *field = Field::masked_only(std::mem::take(&mut field.name), &field.value);
            }
        }
    }

    pub fn push(&mut self, mut step: Step, now: Timestamp) {
        step.at = Some(now);
        self.steps.push(step);
        if self.steps.len() > MAX_STEPS {
            // Keep the sign-in's own steps (the first five) and the most recent refreshes.
            let keep_head = 5.min(self.steps.len());
            let excess = self.steps.len() - MAX_STEPS;
            self.steps.drain(keep_head..keep_head + excess);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> crate::authorize::Started {
        crate::authorize::testing::started(1)
    }

    #[test]
    fn pkce_step_shows_the_derivation() {
        let s = started();
        let step = Step::pkce(&s);
        let v = &step.fields[0];
        assert_eq!(v.value, s.pending.verifier.expose());
        assert!(v.secret);
        assert_ne!(v.masked(), v.value);
        let hex = &step.fields[1].value;
        assert_eq!(hex.len(), 64);
        assert_eq!(step.fields[2].value, s.challenge.as_str());
        assert!(!step.fields[2].secret);
        assert!(!format!("{step:?}").contains(s.pending.verifier.expose()));
    }

    #[test]
    fn authorize_step_lists_every_parameter() {
        let s = started();
        let step = Step::authorize(&s);
        let names: Vec<_> = step.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "endpoint",
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "code_challenge",
                "code_challenge_method"
            ]
        );
        assert_eq!(
            step.fields[0].value,
            "http://127.0.0.1:5001/restapi/oauth/authorize"
        );
    }

    #[test]
    fn record_is_bounded_and_keeps_the_sign_in() {
        let s = started();
        let mut i = Inspector::start(&s, Timestamp::from_secs(1));
        for n in 0..40 {
            i.push(
                Step::callback(&[("n".into(), n.to_string())]),
                Timestamp::from_secs(n),
            );
        }
        assert_eq!(i.steps.len(), MAX_STEPS);
        assert_eq!(i.steps[0].kind, StepKind::Pkce);
        assert_eq!(i.steps.last().unwrap().fields[0].value, "39");
    }

    #[test]
    fn reads_and_revokes_keep_no_token() {
        let token = "access-token-value-that-must-not-be-kept";
        let read = Step::api_read(
            "https://x/restapi/v1.0/a",
            "/restapi/v1.0/a",
            token,
            &Ok(200),
        );
        let body = crate::token::RevokeRequest::Access {
            token: crate::secret::AccessToken::new(token.to_string()),
            client_id: "demo".into(),
        }
        .form_body();
        let revoke = Step::revoke("https://x/revoke", &body, &Err("offline".into()));
        for step in [&read, &revoke] {
            let record = serde_json::to_string(step).unwrap();
            assert!(!record.contains(token), "{record}");
            assert!(step.fields[0].secret);
        }
        assert_eq!(read.fields[1].value, "200");
        let bearer = &read.fields[0];
        assert_eq!(bearer.masked(), bearer.value, "masked once");
        assert!(bearer.value.starts_with("Bearer acce…") && bearer.value.ends_with("chars)"));
        assert_eq!(revoke.fields[0].name, "token");
        assert_eq!(revoke.fields.last().unwrap().name, "problem");
    }

    #[test]
    fn an_ended_record_keeps_its_steps_and_no_secret() {
        let mut i = Inspector::start(&started(), Timestamp::from_millis(0));
        let verifier = i.steps[0].fields[0].value.clone();
        assert!(verifier.len() >= 43);
        assert!(!i.ended);
        i.forget_secrets();
        assert!(i.ended);
        let record = serde_json::to_string(&i).unwrap();
        assert!(!record.contains(&verifier), "{record}");
        assert_eq!(i.steps.len(), 2);
        let f = &i.steps[0].fields[0];
        assert_eq!(f.name, "code_verifier");
        assert!(f.secret && f.masked_only);
        assert_eq!(f.masked(), f.value, "shown masked even when revealed");
        // Public values stay as they were.
        assert!(
            i.steps[0]
                .fields
                .iter()
                .any(|f| !f.secret && f.value.len() == 43)
        );
    }
}
