//! The invariants, each with the name a failure reports, checked as things happen (a request
//! sent, a request seen by the server) and after every step (what each page says and holds):
//!
//! - `refresh_token_reused`: no refresh token is presented after the server rotated it, unless
//!   the tab could not know (the rotation's answer never reached a page, or no live page held the
//!   newer tokens when the presenter asked); those are counted, by reason;
//! - `two_refreshes_in_flight`: at most one refresh per grant is in flight from the pages (a
//!   refresh whose page signed out meanwhile is an orphan the session will revoke: counted);
//! - `code_sent_twice`: the server sees a code once, unless the first request failed without
//!   any answer (a network error: the tab cannot tell whether the server saw it; after a timeout
//!   it must assume so and not send it again);
//! - `token_request_without_pending`: a code is sent only by a tab whose own sign-in (or the one
//!   of the tab it was duplicated from) it answers;
//! - `signed_in_with_dead_tokens`: a page that says "signed in" holds an access token the server
//!   accepts, or the server ended its grant in a way it cannot see yet, or a newer generation
//!   exists that no live page could tell it about (a stale page is allowed
//!   [`STALE_GRACE_MS`] to catch up);
//! - `signed_out_without_cause` and `told_the_wrong_reason`: a page leaves "signed in" only by
//!   its own sign-out, another tab's sign-out, the server ending the grant or the refresh token's
//!   expiry, and its notice names which (after a timed-out refresh whose rotation was lost, the
//!   notice must say the answer was lost in transit);
//! - `lost_wake_up`: whatever a page waits for (its next refresh, a retry, the lock, an answer) is
//!   on its way: a timer set early enough, a lock request queued, a request in flight; and a
//!   page holding a grant's lock is using it (`lock_leaked` otherwise); a page waiting for the
//!   lock has a wake-up at the end of the wait's limit (`lock_wait_unbounded` otherwise: another
//!   page of the origin, the `Squat` fault, may hold it forever).

use std::collections::{BTreeMap, BTreeSet};

use rc_pkce_core::session::{Notice, Phase};

use crate::server::{AccessState, Server, parse_token};
use crate::tab::Page;

/// How long a page may show signed in with superseded tokens that a live peer could give it.
pub const STALE_GRACE_MS: u64 = 30_000;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub name: &'static str,
    pub detail: String,
}

fn violation(name: &'static str, detail: String) -> Violation {
    Violation { name, detail }
}

/// Counts of what happened, and of every excused exception by its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub counts: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub fn add(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    pub fn get(&self, what: &str) -> u64 {
        self.counts.get(what).copied().unwrap_or(0)
    }

    pub fn merge(&mut self, other: &Stats) {
        for (k, v) in &other.counts {
            *self.counts.entry(k).or_default() += v;
        }
    }
}

/// What a page held at the end of the last step.
#[derive(Debug, Clone, Copy)]
struct Held {
    grant: u64,
    index: u64,
    refresh_expires_at: Option<u64>,
}

#[derive(Debug, Default)]
struct PageFacts {
    held: Option<Held>,
    stale_since: Option<u64>,
    /// The user pressed "Sign out" on this page during the step.
    own_sign_out: bool,
    /// The server detected the reuse of a token whose rotation this page lost to a timeout.
    expect_lost_in_transit: bool,
    /// Counted once per episode.
    excused: bool,
}

/// Facts about a request, for judging what the server saw.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub page: u64,
    /// Its answer reached the live page that sent it.
    pub answered: bool,
    /// The page got a timeout for it.
    pub timed_out: bool,
}

/// The invariants' memory between steps.
#[derive(Debug, Default)]
pub struct Checker {
    pub stats: Stats,
    /// Grant → (page, request) of the refresh in flight from the pages.
    refresh_in_flight: BTreeMap<u64, (u64, u64)>,
    /// State of each pending sign-in → the tab that started it.
    pending_states: BTreeMap<String, u64>,
    /// Code → the state it answers.
    code_states: BTreeMap<String, String>,
    /// Grants a user signed out of (in any tab).
    signed_out: BTreeSet<u64>,
    pages: BTreeMap<u64, PageFacts>,
    /// When the laptop slept.
    sleeps: Vec<(u64, u64)>,
}

/// The grant and rotation of a refresh token or access token text.
fn grant_and_index(token: &str) -> Option<(u64, u64)> {
    parse_token(token).map(|(_, g, i)| (g, i))
}

fn form_value(body: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl Checker {
    // Hooks called as things happen.

    pub fn sign_in_started(&mut self, state: String, tab: u64) {
        self.stats.add("sign-ins started");
        self.pending_states.insert(state, tab);
    }

    /// The tab that started the sign-in `state` answers.
    pub fn issuer_of(&self, state: &str) -> Option<u64> {
        self.pending_states.get(state).copied()
    }

    pub fn code_issued(&mut self, code: String, state: String) {
        self.code_states.insert(code, state);
    }

    pub fn user_signs_out(&mut self, page: u64, grant: Option<u64>) {
        self.pages.entry(page).or_default().own_sign_out = true;
        if let Some(g) = grant {
            self.signed_out.insert(g);
        }
    }

    /// A page sends a token request; `lineage` is its tab and the tabs it was duplicated from.
    pub fn token_request(
        &mut self,
        page: u64,
        http: u64,
        body: &str,
        lineage: &[u64],
    ) -> Result<(), Violation> {
        match form_value(body, "grant_type").as_deref() {
            Some("refresh_token") => {
                self.stats.add("refreshes sent");
                let rt = form_value(body, "refresh_token").unwrap_or_default();
                let Some((grant, index)) = grant_and_index(&rt) else {
                    return Err(violation(
                        "refresh_token_reused",
                        format!("page {page} sent a refresh token the server never issued: {rt}"),
                    ));
                };
                if let Some((other, h)) = self.refresh_in_flight.get(&grant) {
                    return Err(violation(
                        "two_refreshes_in_flight",
                        format!(
                            "page {page} sent a refresh of grant {grant} (rt-{grant}-{index}, request {http}) while request {h} of page {other} for it was still in flight"
                        ),
                    ));
                }
                self.refresh_in_flight.insert(grant, (page, http));
            }
            Some("authorization_code") => {
                self.stats.add("code exchanges sent");
                let code = form_value(body, "code").unwrap_or_default();
                let issuer = self
                    .code_states
                    .get(&code)
                    .and_then(|state| self.pending_states.get(state));
                match issuer {
                    Some(tab) if lineage.contains(tab) => {}
                    Some(tab) => {
                        return Err(violation(
                            "token_request_without_pending",
                            format!(
                                "page {page} (tabs {lineage:?}) sent {code}, which answers the sign-in tab {tab} started"
                            ),
                        ));
                    }
                    None => {
                        return Err(violation(
                            "token_request_without_pending",
                            format!("page {page} sent {code}, which answers no sign-in of ours"),
                        ));
                    }
                }
            }
            other => {
                return Err(violation(
                    "token_request_without_pending",
                    format!("page {page} sent a token request of grant type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The page that sent request `http` is done with it (an answer, a failure, or it is gone).
    pub fn request_over(&mut self, http: u64) {
        self.refresh_in_flight.retain(|_, (_, h)| *h != http);
    }

    pub fn page_gone(&mut self, page: u64) {
        self.refresh_in_flight.retain(|_, (p, _)| *p != page);
        self.pages.remove(&page);
    }

    /// The server saw a code again; `first` is the request that presented it first.
    pub fn code_reused(&mut self, code: &str, first: Sent, page: u64) -> Result<(), Violation> {
        if first.answered {
            return Err(violation(
                "code_sent_twice",
                format!(
                    "page {page} sent {code} again although page {} had the server's answer to it",
                    first.page
                ),
            ));
        }
        if first.timed_out {
            return Err(violation(
                "code_sent_twice",
                format!(
                    "page {page} sent {code} again after its first request timed out: the server may have redeemed it"
                ),
            ));
        }
        self.stats
            .add("justified: code sent again after a failure without any answer");
        Ok(())
    }

    /// The server saw rotated-out refresh token `rt-<grant>-<presented>` from `presenter`;
    /// `rotation` is the request that rotated it, `holders` the live pages other than the
    /// presenter holding a newer token of the grant, with since when.
    pub fn refresh_reused(
        &mut self,
        grant: u64,
        presented: u64,
        presenter: u64,
        presenter_asked_at: Option<u64>,
        rotation: Option<Sent>,
        holders: &[(u64, u64)],
    ) -> Result<(), Violation> {
        let Some(rotation) = rotation else {
            return Err(violation(
                "refresh_token_reused",
                format!("rt-{grant}-{presented}: no request rotated it"),
            ));
        };
        if !rotation.answered {
            self.stats
                .add("justified: refresh token reused, the rotation's answer never arrived");
            if rotation.page == presenter && rotation.timed_out {
                self.pages
                    .entry(presenter)
                    .or_default()
                    .expect_lost_in_transit = true;
                self.stats
                    .add("justified: ... of which the presenter's own timed-out refresh");
            }
            return Ok(());
        }
        if rotation.page == presenter {
            return Err(violation(
                "refresh_token_reused",
                format!(
                    "page {presenter} presented rt-{grant}-{presented} after it got the tokens that replaced it"
                ),
            ));
        }
        let asked = presenter_asked_at.unwrap_or(u64::MAX);
        if let Some((p, since)) = holders.iter().find(|(_, since)| *since <= asked) {
            return Err(violation(
                "refresh_token_reused",
                format!(
                    "page {presenter} presented rt-{grant}-{presented} although page {p} held newer tokens of the grant since t={since} ms, before it asked (t={})",
                    presenter_asked_at.map_or("never".into(), |t| t.to_string())
                ),
            ));
        }
        self.stats.add(
            "justified: refresh token reused, no live page held the newer tokens when it asked",
        );
        Ok(())
    }

    /// After every step: what each page says and holds. `in_flight` are the pages with a token
    /// request in flight; `lock` says whether a page holds or waits for a lock.
    pub fn after_step(
        &mut self,
        now: u64,
        pages: &BTreeMap<u64, Page>,
        server: &Server,
        in_flight: &BTreeSet<u64>,
        lock: impl Fn(u64) -> (bool, bool),
    ) -> Result<(), Violation> {
        // Who holds what, for the staleness check.
        let mut newest: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
        for (id, page) in pages {
            if let Some((g, i)) = page
                .session()
                .current()
                .and_then(|c| grant_and_index(c.tokens.access_token.expose()))
            {
                newest.entry(g).or_default().push((*id, i));
            }
        }
        for (&id, page) in pages {
            let facts = self.pages.entry(id).or_default();
            let s = page.session();
            let now_held = s.current().and_then(|c| {
                let (grant, index) = grant_and_index(c.tokens.access_token.expose())?;
                Some((
                    grant,
                    index,
                    c.tokens.refresh_expires_at.map(|t| t.as_millis()),
                ))
            });
            // Leaving "signed in".
            if let Some(held) = facts.held
                && now_held.is_none()
            {
                let outcome = exit(held, s.notice(), facts, &self.signed_out, server, now);
                // A sign-out gives the grant up for every tab: its refresh still on the way is
                // an orphan (the session revokes what it brings), no longer the grant's refresh.
                if matches!(
                    s.notice(),
                    Some(Notice::SignedOut(_) | Notice::SignedOutInAnotherTab)
                ) {
                    let before = self.refresh_in_flight.len();
                    self.refresh_in_flight.retain(|_, (p, _)| *p != id);
                    if self.refresh_in_flight.len() < before {
                        self.stats
                            .add("justified: refresh in flight given up by a sign-out");
                    }
                }
                match outcome {
                    Ok(what) => self.stats.add(what),
                    Err(v) => {
                        return Err(violation(v.name, format!("page {id}: {}", v.detail)));
                    }
                }
                facts.expect_lost_in_transit = false;
            }
            facts.own_sign_out = false;
            facts.held = match (now_held, facts.held) {
                (Some((g, i, _)), Some(h)) if h.grant == g && h.index == i => Some(h),
                (Some((grant, index, refresh_expires_at)), _) => Some(Held {
                    grant,
                    index,
                    refresh_expires_at,
                }),
                (None, _) => None,
            };
            // Saying "signed in".
            if s.phase() == Phase::SignedIn
                && let Some(held) = facts.held
            {
                let token = s
                    .current()
                    .map(|c| c.tokens.access_token.expose().to_string())
                    .unwrap_or_default();
                let (_, lock_waits) = lock(id);
                // Waiting for the lock, or its wake-up is due this very instant.
                let awaiting_lock =
                    lock_waits || page.ask_waits > 0 || page.wake_at.is_some_and(|t| t <= now);
                match server.access(&token, now) {
                    // Tokens adopted from a peer while this page waits for the lock (the core
                    // then says SignedIn): the peer is refreshing them, or this page will.
                    AccessState::Expired | AccessState::Superseded if awaiting_lock => {
                        if !facts.excused {
                            facts.excused = true;
                            self.stats.add(
                                "excused: signed in with dead tokens adopted while waiting for the lock or a due wake-up",
                            );
                        }
                    }
                    AccessState::Ok => {
                        facts.stale_since = None;
                        facts.excused = false;
                    }
                    AccessState::Superseded => {
                        let could_know = newest
                            .get(&held.grant)
                            .is_some_and(|v| v.iter().any(|(p, i)| *p != id && *i > held.index));
                        if could_know {
                            let since = *facts.stale_since.get_or_insert(now);
                            if now - since > STALE_GRACE_MS {
                                return Err(violation(
                                    "signed_in_with_dead_tokens",
                                    format!(
                                        "page {id} has shown signed in with superseded {token} for {} s while another page held newer tokens of the grant",
                                        (now - since) / 1000
                                    ),
                                ));
                            }
                        } else {
                            facts.stale_since = None;
                            if !facts.excused {
                                facts.excused = true;
                                self.stats.add(
                                    "excused: signed in with superseded tokens no live page could replace",
                                );
                            }
                        }
                    }
                    AccessState::Ended(_) => {
                        facts.stale_since = None;
                        if !facts.excused {
                            facts.excused = true;
                            self.stats.add(
                                "excused: signed in on a grant the server ended, not told yet",
                            );
                        }
                    }
                    other => {
                        return Err(violation(
                            "signed_in_with_dead_tokens",
                            format!("page {id} shows signed in with {token}, which is {other:?}"),
                        ));
                    }
                }
            } else {
                facts.stale_since = None;
            }
            // Waiting for something that will come.
            // A wait that spanned a sleep starts again at the wake-up (see the core's rule).
            let lock_wait_since = page.lock_asked_at.map(|since| {
                self.sleeps
                    .iter()
                    .filter(|(start, _)| *start >= since)
                    .map(|(_, end)| *end)
                    .fold(since, u64::max)
            });
            wake_ups(
                id,
                page,
                now,
                in_flight.contains(&id),
                lock(id),
                lock_wait_since,
            )?;
        }
        Ok(())
    }

    /// The laptop slept from `start` to `end`: staleness clocks start again at the wake-up.
    pub fn slept(&mut self, start: u64, end: u64) {
        self.sleeps.push((start, end));
        for f in self.pages.values_mut() {
            f.stale_since = None;
        }
    }
}

/// Whether a page that held `held` may have left "signed in" with `notice`; the count to add.
fn exit(
    held: Held,
    notice: Option<&Notice>,
    facts: &PageFacts,
    signed_out: &BTreeSet<u64>,
    server: &Server,
    now: u64,
) -> Result<&'static str, Violation> {
    let grant_ended = server.grant(held.grant).and_then(|g| g.ended);
    let without_cause = |why: String| Err(violation("signed_out_without_cause", why));
    match notice {
        Some(Notice::SignedOut(_)) if facts.own_sign_out => Ok("exits: own sign-out"),
        Some(Notice::SignedOut(_)) => {
            without_cause("it says it signed out, but the user did not ask it to".into())
        }
        Some(Notice::SignedOutInAnotherTab) if signed_out.contains(&held.grant) => {
            Ok("exits: signed out in another tab")
        }
        Some(Notice::SignedOutInAnotherTab) => without_cause(format!(
            "it says another tab signed out, but nobody signed out of grant {}",
            held.grant
        )),
        Some(Notice::SessionExpired) => match held.refresh_expires_at {
            Some(t) if t <= now => Ok("exits: refresh token expired"),
            _ => without_cause(format!(
                "it says the session expired, but its refresh token lives until {:?}",
                held.refresh_expires_at
            )),
        },
        Some(Notice::SessionEnded(e)) => match grant_ended {
            None => without_cause(format!(
                "it says the server ended the session ({e:?}), but grant {} is alive",
                held.grant
            )),
            Some(_) if facts.expect_lost_in_transit => Err(violation(
                "told_the_wrong_reason",
                format!(
                    "its refresh timed out after the server rotated the token, and the retry was refused; it says {:?} instead of RefreshLostInTransit",
                    e.code
                ),
            )),
            Some((reason, _)) => Ok(match reason {
                crate::server::EndReason::Revoked => "exits: server refused, grant revoked",
                crate::server::EndReason::RefreshReuse => "exits: server refused, token reuse",
                crate::server::EndReason::CodeReuse => "exits: server refused, code reuse",
                crate::server::EndReason::Evicted => "exits: server refused, session limit",
                crate::server::EndReason::Expired => "exits: server refused, expired",
            }),
        },
        Some(Notice::RefreshLostInTransit(e)) => match grant_ended {
            None => without_cause(format!(
                "it says a refresh was lost in transit ({e:?}), but grant {} is alive",
                held.grant
            )),
            Some(_) => Ok("exits: refresh lost in transit"),
        },
        other => without_cause(format!("it left signed in saying {other:?}")),
    }
}

/// The page waits for nothing that will not come.
fn wake_ups(
    id: u64,
    page: &Page,
    now: u64,
    request_in_flight: bool,
    (held, waits): (bool, bool),
    lock_wait_since: Option<u64>,
) -> Result<(), Violation> {
    let s = page.session();
    let lost = |why: String| Err(violation("lost_wake_up", format!("page {id}: {why}")));
    let wake = page.wake_at.unwrap_or(u64::MAX);
    let lock_on_its_way = waits || page.ask_waits > 0;
    if held && !(page.ask_waits > 0 || request_in_flight) {
        return Err(violation(
            "lock_leaked",
            format!(
                "page {id} holds its grant's lock with no refresh in flight or ask under way (phase {:?})",
                s.phase()
            ),
        ));
    }
    // The wait for the lock has a deadline: another page of the origin may hold it forever.
    if let Some(since) = lock_wait_since
        && matches!(s.phase(), Phase::SignedIn | Phase::Refreshing)
    {
        let limit = since + rc_pkce_core::session::LOCK_WAIT_LIMIT_MS;
        if wake > limit.max(now) {
            return Err(violation(
                "lock_wait_unbounded",
                format!(
                    "page {id} waits for the lock since {since}, but its wake-up is at {:?}",
                    page.wake_at
                ),
            ));
        }
    }
    match s.phase() {
        Phase::SignedIn => {
            let due = s.refresh_due_at().map(|t| t.as_millis());
            let expires = s
                .current()
                .and_then(|c| c.tokens.refresh_expires_at)
                .map(|t| t.as_millis());
            let need = match (due, expires) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(need) = need
                && wake > need.max(now)
                && !lock_on_its_way
            {
                return lost(format!(
                    "signed in, next refresh due at {need}, but its wake-up is at {:?} and no lock is coming",
                    page.wake_at
                ));
            }
        }
        Phase::Refreshing => match s.retry_at() {
            Some(at) => {
                if wake > at.as_millis().max(now) {
                    return lost(format!(
                        "refresh retry due at {}, but its wake-up is at {:?}",
                        at.as_millis(),
                        page.wake_at
                    ));
                }
            }
            None => {
                if !(lock_on_its_way || request_in_flight) {
                    return lost(
                        "refreshing, but no lock is coming and no request is in flight".into(),
                    );
                }
            }
        },
        Phase::Exchanging => match s.retry_at() {
            Some(at) => {
                if wake > at.as_millis().max(now) {
                    return lost(format!(
                        "code exchange retry due at {}, but its wake-up is at {:?}",
                        at.as_millis(),
                        page.wake_at
                    ));
                }
            }
            None => {
                if !request_in_flight {
                    return lost("exchanging, but no request is in flight".into());
                }
            }
        },
        Phase::SignedOut | Phase::Authorizing => {}
    }
    Ok(())
}
