//! One simulated run: tabs and their pages, the browser, the network and the server, driven step
//! by step by choices drawn from one [`Source`].
//!
//! A step is either the next due event (a timer, a message, a request reaching the server, an
//! answer reaching a page) or a user action or fault chosen by [`crate::schedule`]. Requests get
//! a fate when they are sent: delivered, lost before or after the server saw them, answered
//! later than the page's 30 s timeout, a 503 or a 429. The invariants are checked as requests are
//! sent and seen, and after every step.

use std::collections::{BTreeMap, BTreeSet};

use rc_pkce_core::session::Phase;

use crate::browser::{BrowserTab, Channel, Location, Locks, Storage};
use crate::invariants::{Checker, Sent, Violation};
use crate::rng::{SimEntropy, Source, SplitMix};
use crate::schedule::{Action, Params};
use crate::server::{Lifetimes, Processed, Response, Server, parse_token};
use crate::tab::{APP_URL, Ctx, HttpKind, Out, Page, Plant, REDIRECT_URI};
use crate::trace::Trace;
use crate::world::{Ev, Failure, Timer, World};

fn form_value(body: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The page's fetch gives up after this long (`src/browser/http.rs`).
pub const TIMEOUT_MS: u64 = 30_000;
const HEARTBEAT_MS: u64 = rc_pkce_core::tabs::HEARTBEAT_MS;
/// The run's clock starts here (2027-01-15), so timestamps look like real ones.
const EPOCH_MS: u64 = 1_800_000_000_000;
/// The page ID of another page of the origin, which lists the Web Locks and holds what it sees.
const SQUATTER: u64 = u64::MAX;

/// What happens to a request on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// Never reaches the server.
    LostBefore,
    /// The server carries it out; the answer is lost.
    LostAfter,
    /// The server carries it out; the answer comes after the page's timeout.
    Late,
    Unavailable,
    RateLimited(Option<u64>),
}

#[derive(Debug)]
struct Http {
    page: u64,
    kind: HttpKind,
    body: String,
    fate: Fate,
    /// The page got an outcome (answer, failure) or is gone.
    over: bool,
    answered: bool,
    timed_out: bool,
    /// The answer was lost while the laptop slept.
    slept: bool,
    /// For a refresh, as it was sent: when its page last asked the other tabs, and which other
    /// pages held newer tokens of the grant since when.
    asked_at: Option<u64>,
    holders: Vec<(u64, u64)>,
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub steps: u64,
    pub plant: Plant,
    /// The longest a channel message takes (the 200 ms ask wait assumes round trips shorter).
    pub max_channel_delay_ms: u64,
    pub trace: bool,
    /// Record the draws (for shrinking).
    pub record: bool,
}

impl Config {
    pub fn new(seed: u64, steps: u64) -> Self {
        Self {
            seed,
            steps,
            plant: Plant::None,
            max_channel_delay_ms: 90,
            trace: false,
            record: false,
        }
    }
}

pub struct Sim {
    pub cfg: Config,
    pub params: Params,
    pub src: Source,
    world: World,
    server: Server,
    tabs: BTreeMap<u64, BrowserTab>,
    pages: BTreeMap<u64, Page>,
    locks: Locks,
    channel: Channel,
    http: BTreeMap<u64, Http>,
    /// Token requests not over yet (kept apart: `http` keeps every request of the run).
    open_token_requests: BTreeSet<u64>,
    next_http: u64,
    next_page: u64,
    next_tab: u64,
    sign_ins: u64,
    /// Callback URLs issued, with the tab they were issued to and the sign-in's state.
    codes: Vec<(String, u64, String)>,
    pub checker: Checker,
    pub trace: Trace,
    pub step: u64,
}

impl Sim {
    pub fn new(cfg: Config) -> Self {
        let src = Source::seeded(cfg.seed, cfg.record);
        Self::with_source(cfg, src)
    }

    pub fn with_source(cfg: Config, src: Source) -> Self {
        let params = Params::for_seed(cfg.seed);
        let server = Server::new(Lifetimes {
            access_secs: params.access_secs,
            refresh_secs: params.refresh_secs,
        });
        let trace = Trace::new(cfg.trace);
        let mut sim = Self {
            cfg,
            params,
            src,
            world: World::new(EPOCH_MS),
            server,
            tabs: BTreeMap::new(),
            pages: BTreeMap::new(),
            locks: Locks::default(),
            channel: Channel::default(),
            http: BTreeMap::new(),
            open_token_requests: BTreeSet::new(),
            next_http: 1,
            next_page: 1,
            next_tab: 1,
            sign_ins: 0,
            codes: Vec::new(),
            checker: Checker::default(),
            trace,
            step: 0,
        };
        let p = sim.params;
        sim.note(|| format!("run: {p:?}"));
        sim
    }

    pub fn now(&self) -> u64 {
        self.world.now
    }

    /// Simulated time since the start, in ms.
    pub fn elapsed(&self) -> u64 {
        self.world.now - EPOCH_MS
    }

    fn note(&mut self, line: impl FnOnce() -> String) {
        let (step, now) = (self.step, self.world.now - EPOCH_MS);
        self.trace.line(step, now, line);
    }

    /// Runs to the configured number of steps (or until a replayed schedule is used up), stopping
    /// at the first violation.
    pub fn run(&mut self) -> Result<(), Violation> {
        while self.step < self.cfg.steps {
            self.one_step()?;
        }
        Ok(())
    }

    /// One scheduler step: the next event, or an action.
    pub fn one_step(&mut self) -> Result<(), Violation> {
        self.src.start_step();
        self.step += 1;
        let act = self.src.chance(self.params.action_per_mille);
        if act || self.world.is_empty() {
            let action = crate::schedule::choose(&mut self.src);
            self.trace.mix(action as u64 + 1000);
            self.act(action)?;
        } else {
            self.process_next()?;
        }
        self.check()
    }

    fn check(&mut self) -> Result<(), Violation> {
        let in_flight: BTreeSet<u64> = self
            .open_token_requests
            .iter()
            .filter_map(|id| self.http.get(id))
            .map(|h| h.page)
            .collect();
        let locks = &self.locks;
        self.checker
            .after_step(self.world.now, &self.pages, &self.server, &in_flight, |p| {
                locks.involves(p)
            })
    }

    fn process_next(&mut self) -> Result<(), Violation> {
        let Some(ev) = self.world.pop() else {
            return Ok(());
        };
        self.trace.mix(self.world.now);
        self.event(ev)
    }

    fn event(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::Timer { page, timer } => {
                if !self.pages.contains_key(&page) {
                    return Ok(());
                }
                match timer {
                    Timer::Wake { generation } => {
                        self.note(|| format!("page {page}: wake-up"));
                        self.with_page(page, |p, ctx| p.on_wake_timer(generation, ctx))?;
                    }
                    Timer::AskWait { acquisition } => {
                        self.note(|| format!("page {page}: ask wait over"));
                        self.with_page(page, |p, ctx| p.on_ask_wait_over(acquisition, ctx))?;
                    }
                    Timer::Heartbeat => {
                        self.world.after(
                            HEARTBEAT_MS,
                            Ev::Timer {
                                page,
                                timer: Timer::Heartbeat,
                            },
                        );
                        self.with_page(page, |p, ctx| p.on_heartbeat(ctx))?;
                    }
                    Timer::Abort { http } => {
                        if let Some(h) = self.http.get(&http).filter(|h| !h.over) {
                            if h.slept {
                                self.checker
                                    .stats
                                    .add("faults: answer lost while the laptop slept");
                            }
                            self.note(|| format!("page {page}: request {http} timed out"));
                            self.answer(http, Err(Failure::TimedOut))?;
                        }
                    }
                }
            }
            Ev::ServerGets { http } => self.server_gets(http)?,
            Ev::ClientGets { http, result } => {
                if self.http.get(&http).is_some_and(|h| !h.over) {
                    self.answer(http, result)?;
                }
            }
            Ev::Deliver {
                to,
                from,
                channel,
                text,
            } => {
                if self.pages.contains_key(&to) {
                    let short: String = text.chars().take(60).collect();
                    self.note(|| format!("page {to}: message from page {from}: {short}"));
                    self.with_page(to, |p, ctx| p.on_message(&channel, &text, ctx))?;
                }
            }
        }
        Ok(())
    }

    /// The outcome of request `http` reaches its page.
    fn answer(&mut self, http: u64, result: Result<Response, Failure>) -> Result<(), Violation> {
        let Some(h) = self.http.get_mut(&http) else {
            return Ok(());
        };
        h.over = true;
        self.open_token_requests.remove(&http);
        let (page, kind) = (h.page, h.kind);
        if !self.pages.contains_key(&page) {
            return Ok(());
        }
        h.answered = result.is_ok();
        h.timed_out = result == Err(Failure::TimedOut);
        self.checker.request_over(http);
        let shown = match &result {
            Ok(r) => format!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(f) => format!("{f:?}"),
        };
        self.note(|| format!("page {page}: answer to request {http}: {shown}"));
        match kind {
            HttpKind::Token { id } => {
                self.with_page(page, |p, ctx| p.on_token_response(id, result, ctx))
            }
            HttpKind::Revoke => self.with_page(page, |p, ctx| p.on_revoke_response(result, ctx)),
            HttpKind::Api { call } => {
                self.with_page(page, |p, ctx| p.on_api_response(call, result, ctx))
            }
        }
    }

    fn server_gets(&mut self, http: u64) -> Result<(), Violation> {
        let now = self.world.now;
        let Some(h) = self.http.get(&http) else {
            return Ok(());
        };
        let (kind, fate, page) = (h.kind, h.fate, h.page);
        let (response, processed) = match fate {
            Fate::Unavailable => (Response::unavailable(), Processed::NotProcessed),
            Fate::RateLimited(after) => (Response::rate_limited(after), Processed::NotProcessed),
            _ => {
                let body = h.body.clone();
                match kind {
                    HttpKind::Token { .. } => self.server.token(&body, http, now),
                    HttpKind::Revoke => self.server.revoke(&body, now),
                    HttpKind::Api { .. } => self.server.api(&body, now),
                }
            }
        };
        self.note(|| format!("server: request {http} from page {page} ({fate:?}): {processed:?}"));
        self.judge(http, page, &processed)?;
        match processed {
            Processed::Refreshed { .. } => self.checker.stats.add("refreshes carried out"),
            Processed::CodeExchanged { .. } => self.checker.stats.add("codes exchanged"),
            Processed::Revoked { .. } => self.checker.stats.add("revocations"),
            _ => {}
        }
        let delay = self.src.between(5, 300);
        match fate {
            Fate::LostAfter => self.world.after(
                delay,
                Ev::ClientGets {
                    http,
                    result: Err(Failure::Lost),
                },
            ),
            // The page's abort timer answers it.
            Fate::Late => {}
            _ => self.world.after(
                delay,
                Ev::ClientGets {
                    http,
                    result: Ok(response),
                },
            ),
        }
        Ok(())
    }

    /// What the server did, against the invariants.
    fn judge(&mut self, http: u64, page: u64, processed: &Processed) -> Result<(), Violation> {
        let sent = |sim: &Self, h: u64| {
            sim.http.get(&h).map(|r| Sent {
                page: r.page,
                answered: r.answered,
                timed_out: r.timed_out,
            })
        };
        match processed {
            Processed::CodeReused { code, first_http } => {
                let first = sent(self, *first_http).unwrap_or(Sent {
                    page: 0,
                    answered: false,
                    timed_out: false,
                });
                self.checker.code_reused(code, first, page)
            }
            Processed::VerifierMismatch { code } => Err(Violation {
                name: "token_request_without_pending",
                detail: format!(
                    "page {page} sent {code} with a verifier that is not its sign-in's (request {http})"
                ),
            }),
            Processed::RefreshReuse {
                grant, presented, ..
            } => {
                let rotation = self
                    .server
                    .grant(*grant)
                    .and_then(|g| g.made_by.get(*presented as usize + 1).copied())
                    .and_then(|h| sent(self, h));
                let (asked, holders) = self
                    .http
                    .get(&http)
                    .map(|h| (h.asked_at, h.holders.clone()))
                    .unwrap_or_default();
                self.checker
                    .refresh_reused(*grant, *presented, page, asked, rotation, &holders)
            }
            _ => Ok(()),
        }
    }

    /// Live pages other than `except` holding a token of `grant` newer than `index`, with since
    /// when they hold it.
    fn holders(&self, grant: u64, index: u64, except: u64) -> Vec<(u64, u64)> {
        self.pages
            .iter()
            .filter(|(id, _)| **id != except)
            .filter_map(|(id, p)| {
                let c = p.session().current()?;
                let (_, g, i) = parse_token(c.tokens.access_token.expose())?;
                (g == grant && i > index).then_some((*id, p.held_since))
            })
            .collect()
    }

    /// Calls `f` on page `id` with its tab's storage, then carries out what it asked for.
    fn with_page(
        &mut self,
        id: u64,
        f: impl FnOnce(&mut Page, &mut Ctx<'_>),
    ) -> Result<(), Violation> {
        let mut out = Vec::new();
        {
            let Some(page) = self.pages.get_mut(&id) else {
                return Ok(());
            };
            let Some(tab) = self.tabs.get_mut(&page.tab) else {
                return Ok(());
            };
            let mut ctx = Ctx {
                now: self.world.now,
                storage: &mut tab.storage,
                out: &mut out,
            };
            f(page, &mut ctx);
            page.note_held(self.world.now);
        }
        self.apply(id, out)
    }

    /// Carries out a page's requests, and what they lead to (a lock granted at once).
    fn apply(&mut self, page: u64, out: Vec<Out>) -> Result<(), Violation> {
        for o in out {
            match o {
                Out::Http { kind, body } => self.send(page, kind, body)?,
                Out::Post { channel, text } => self.post(page, channel, text),
                Out::SetWake { at, generation } => self.world.at(
                    at,
                    Ev::Timer {
                        page,
                        timer: Timer::Wake { generation },
                    },
                ),
                Out::AskWait { acquisition, ms } => self.world.after(
                    ms,
                    Ev::Timer {
                        page,
                        timer: Timer::AskWait { acquisition },
                    },
                ),
                Out::LockRequest { name, acquisition } => {
                    self.note(|| format!("page {page}: asks for lock {name}"));
                    let granted = self.locks.request(&name, (page, acquisition));
                    self.grant_locks(granted)?;
                }
                Out::LockRelease { acquisition } => {
                    self.note(|| format!("page {page}: lets the lock go"));
                    let granted = self.locks.release((page, acquisition));
                    self.grant_locks(granted)?;
                }
                Out::LockWithdraw { acquisition } => {
                    self.note(|| format!("page {page}: withdraws its lock request"));
                    self.locks.withdraw((page, acquisition));
                }
                Out::Navigate(url) => self.navigate(page, url)?,
                Out::CleanAddress => {
                    if let Some(tab) = self
                        .pages
                        .get(&page)
                        .and_then(|p| self.tabs.get_mut(&p.tab))
                    {
                        tab.location = Location::App(REDIRECT_URI.into());
                    }
                }
            }
        }
        Ok(())
    }

    fn grant_locks(&mut self, granted: Vec<(u64, u64)>) -> Result<(), Violation> {
        for (page, acquisition) in granted {
            if page == SQUATTER {
                self.note(|| "the squatting page gets a lock".to_string());
                continue;
            }
            self.note(|| format!("page {page}: gets the lock"));
            self.checker.stats.add("locks granted");
            self.with_page(page, |p, ctx| p.on_lock(acquisition, ctx))?;
        }
        Ok(())
    }

    fn send(&mut self, page: u64, kind: HttpKind, body: String) -> Result<(), Violation> {
        let http = self.next_http;
        self.next_http += 1;
        if let HttpKind::Token { .. } = kind {
            self.open_token_requests.insert(http);
            let lineage = self
                .pages
                .get(&page)
                .and_then(|p| self.tabs.get(&p.tab))
                .map(|t| t.lineage.clone())
                .unwrap_or_default();
            self.checker.token_request(page, http, &body, &lineage)?;
        }
        if matches!(kind, HttpKind::Token { .. })
            && form_value(&body, "refresh_token").is_some()
            && !self.locks.involves(page).0
        {
            self.checker
                .stats
                .add("refreshes sent without the lock (its wait ran out)");
        }
        let (asked_at, holders) = match (kind, form_value(&body, "refresh_token")) {
            (HttpKind::Token { .. }, Some(rt)) => match parse_token(&rt) {
                Some((_, grant, index)) => (
                    self.pages.get(&page).and_then(|p| p.asked_at),
                    self.holders(grant, index, page),
                ),
                None => (None, Vec::new()),
            },
            _ => (None, Vec::new()),
        };
        let fate = self.fate();
        if fate != Fate::Delivered {
            self.checker.stats.add(match fate {
                Fate::LostBefore => "faults: request lost before the server",
                Fate::LostAfter => "faults: answer lost after the server",
                Fate::Late => "faults: answer later than the timeout",
                Fate::Unavailable => "faults: 503",
                Fate::RateLimited(_) => "faults: 429",
                Fate::Delivered => "",
            });
        }
        let what = match kind {
            HttpKind::Token { id } => format!("token request (session id {id})"),
            HttpKind::Revoke => "revoke".into(),
            HttpKind::Api { call } => format!("API read (call {call})"),
        };
        let shown = if matches!(kind, HttpKind::Api { .. }) {
            format!("Bearer {body}")
        } else {
            body.clone()
        };
        self.note(|| format!("page {page}: sends request {http}: {what}: {shown} → {fate:?}"));
        self.http.insert(
            http,
            Http {
                page,
                kind,
                body,
                fate,
                over: false,
                answered: false,
                timed_out: false,
                slept: false,
                asked_at,
                holders,
            },
        );
        self.world.after(
            TIMEOUT_MS,
            Ev::Timer {
                page,
                timer: Timer::Abort { http },
            },
        );
        let delay = self.src.between(5, 300);
        if fate == Fate::LostBefore {
            self.world.after(
                delay,
                Ev::ClientGets {
                    http,
                    result: Err(Failure::Lost),
                },
            );
        } else {
            self.world.after(delay, Ev::ServerGets { http });
        }
        Ok(())
    }

    fn fate(&mut self) -> Fate {
        if !self.src.chance(self.params.fault_per_mille) {
            return Fate::Delivered;
        }
        match self.src.below(6) {
            0 => Fate::LostBefore,
            1 => Fate::LostAfter,
            2 => Fate::Late,
            3 => Fate::Unavailable,
            4 => Fate::RateLimited(None),
            _ => Fate::RateLimited(Some(self.src.between(1, 90))),
        }
    }

    /// Channel text from `from` to every other page of the app.
    /// Delivers `text` to every other page; each hears it only if it is on `channel` then.
    fn post(&mut self, from: u64, channel: String, text: String) {
        let to: Vec<u64> = self.pages.keys().copied().filter(|p| *p != from).collect();
        for page in to {
            let delay = if self.src.chance(100) {
                self.src.between(0, self.cfg.max_channel_delay_ms)
            } else {
                self.src.between(0, 20)
            };
            let at = self.channel.arrival(from, page, self.world.now, delay);
            self.world.at(
                at,
                Ev::Deliver {
                    to: page,
                    from,
                    channel: channel.clone(),
                    text: text.clone(),
                },
            );
        }
    }

    /// A page load in tab `tab` at `href`.
    fn load(&mut self, tab: u64, href: String) -> Result<(), Violation> {
        let id = self.next_page;
        self.next_page += 1;
        let plant = self.cfg.plant;
        let mut out = Vec::new();
        let page = {
            let Some(t) = self.tabs.get_mut(&tab) else {
                return Ok(());
            };
            t.location = Location::App(href.clone());
            t.page = Some(id);
            let mut ctx = Ctx {
                now: self.world.now,
                storage: &mut t.storage,
                out: &mut out,
            };
            Page::load(id, tab, &href, plant, &mut ctx)
        };
        self.note(|| format!("tab {tab}: page {id} loads {href}"));
        self.pages.insert(id, page);
        if let Some(p) = self.pages.get_mut(&id) {
            p.note_held(self.world.now);
        }
        self.world.after(
            HEARTBEAT_MS,
            Ev::Timer {
                page: id,
                timer: Timer::Heartbeat,
            },
        );
        self.apply(id, out)
    }

    /// Page `page` goes away; `graceful` pages say bye first (a crash does not).
    fn unload(&mut self, page: u64, graceful: bool) -> Result<(), Violation> {
        if !self.pages.contains_key(&page) {
            return Ok(());
        }
        if graceful {
            self.with_page(page, |p, ctx| p.page_hide(ctx))?;
        }
        let Some(p) = self.pages.remove(&page) else {
            return Ok(());
        };
        if let Some(t) = self.tabs.get_mut(&p.tab)
            && t.page == Some(page)
        {
            t.page = None;
        }
        self.note(|| format!("page {page} is gone"));
        let open: Vec<u64> = self.open_token_requests.iter().copied().collect();
        for id in open {
            if let Some(h) = self.http.get_mut(&id)
                && h.page == page
            {
                h.over = true;
                self.open_token_requests.remove(&id);
            }
        }
        self.checker.page_gone(page);
        self.channel.forget(page);
        let granted = self.locks.drop_page(page);
        self.grant_locks(granted)
    }

    fn navigate(&mut self, page: u64, url: String) -> Result<(), Violation> {
        let Some(tab) = self.pages.get(&page).map(|p| p.tab) else {
            return Ok(());
        };
        if let Some(state) = rc_pkce_core::url::query_of(&url).and_then(|q| {
            rc_pkce_core::url::parse_query(q)
                .into_iter()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v)
        }) {
            self.checker.sign_in_started(state, tab);
        }
        self.note(|| format!("page {page}: leaves for the authorize page"));
        self.unload(page, true)?;
        if let Some(t) = self.tabs.get_mut(&tab) {
            t.location = Location::Authorize(url);
        }
        Ok(())
    }

    // Actions.

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        let i = self.src.below(items.len() as u64) as usize;
        Some(items[i])
    }

    fn pages_where(&self, f: impl Fn(&Page) -> bool) -> Vec<u64> {
        self.pages
            .iter()
            .filter(|(_, p)| f(p))
            .map(|(id, _)| *id)
            .collect()
    }

    fn tabs_where(&self, f: impl Fn(&BrowserTab) -> bool) -> Vec<u64> {
        self.tabs
            .iter()
            .filter(|(_, t)| f(t))
            .map(|(id, _)| *id)
            .collect()
    }

    fn open_tab(&mut self, storage: Storage, lineage: Vec<u64>) -> u64 {
        let id = self.next_tab;
        self.next_tab += 1;
        let mut lineage = lineage;
        lineage.push(id);
        self.tabs.insert(
            id,
            BrowserTab {
                storage,
                location: Location::App(APP_URL.into()),
                page: None,
                lineage,
            },
        );
        id
    }

    fn act(&mut self, action: Action) -> Result<(), Violation> {
        if self.tabs.is_empty() && action != Action::Sleep {
            let tab = self.open_tab(Storage::default(), Vec::new());
            self.note(|| format!("user opens tab {tab}"));
            return self.load(tab, APP_URL.into());
        }
        match action {
            Action::Wait => {
                let target = self.world.now + self.src.between(1, 600_000);
                self.note(|| format!("time passes, until +{} ms", target - EPOCH_MS));
                while self.world.next_at().is_some_and(|t| t <= target) {
                    self.process_next()?;
                    self.check()?;
                }
                self.world.now = target;
            }
            Action::OpenTab => {
                if self.tabs.len() < self.params.max_tabs {
                    let tab = self.open_tab(Storage::default(), Vec::new());
                    self.note(|| format!("user opens tab {tab}"));
                    self.load(tab, APP_URL.into())?;
                }
            }
            Action::SignIn => {
                let candidates = self.pages_where(|p| p.session().phase() == Phase::SignedOut);
                if let Some(page) = self.pick(&candidates) {
                    self.sign_ins += 1;
                    let mut entropy = SimEntropy(SplitMix::new(
                        self.cfg.seed.rotate_left(17) ^ self.sign_ins.wrapping_mul(0x9E37),
                    ));
                    self.note(|| format!("user signs in on page {page}"));
                    self.with_page(page, |p, ctx| p.sign_in(&mut entropy, ctx))?;
                }
            }
            Action::Authorize => {
                let candidates = self.tabs_where(|t| matches!(t.location, Location::Authorize(_)));
                if let Some(tab) = self.pick(&candidates) {
                    let Some(Location::Authorize(url)) =
                        self.tabs.get(&tab).map(|t| t.location.clone())
                    else {
                        return Ok(());
                    };
                    let choice = self.src.below(100);
                    let now = self.world.now;
                    let href = if choice < 90 {
                        match self.server.approve(&url, now) {
                            Some((callback, code)) => {
                                let state = rc_pkce_core::url::query_of(&url)
                                    .map(rc_pkce_core::url::parse_query)
                                    .and_then(|q| {
                                        q.into_iter().find(|(k, _)| k == "state").map(|(_, v)| v)
                                    })
                                    .unwrap_or_default();
                                self.checker.code_issued(code, state.clone());
                                self.codes.push((callback.clone(), tab, state));
                                self.note(|| format!("user approves in tab {tab}"));
                                callback
                            }
                            None => APP_URL.into(),
                        }
                    } else if choice < 95 {
                        self.note(|| format!("user denies in tab {tab}"));
                        Server::deny(&url).unwrap_or_else(|| APP_URL.into())
                    } else {
                        self.note(|| {
                            format!("user goes back from the authorize page in tab {tab}")
                        });
                        APP_URL.into()
                    };
                    self.load(tab, href)?;
                }
            }
            Action::Duplicate => {
                let candidates = self.tabs_where(|_| true);
                if self.tabs.len() < self.params.max_tabs
                    && let Some(tab) = self.pick(&candidates)
                {
                    let Some(source) = self.tabs.get(&tab).cloned() else {
                        return Ok(());
                    };
                    let mut storage = source.storage.clone();
                    storage.quota_full = false;
                    let new = self.open_tab(storage, source.lineage.clone());
                    self.note(|| format!("user duplicates tab {tab} as tab {new}"));
                    match source.location {
                        Location::App(url) | Location::Crashed(url) => self.load(new, url)?,
                        Location::Authorize(url) => {
                            if let Some(t) = self.tabs.get_mut(&new) {
                                t.location = Location::Authorize(url);
                            }
                        }
                    }
                }
            }
            Action::Close => {
                let candidates = self.tabs_where(|_| true);
                if let Some(tab) = self.pick(&candidates) {
                    self.note(|| format!("user closes tab {tab}"));
                    if let Some(page) = self.tabs.get(&tab).and_then(|t| t.page) {
                        self.unload(page, true)?;
                    }
                    self.tabs.remove(&tab);
                }
            }
            Action::Reload => {
                let candidates = self.tabs_where(|t| !matches!(t.location, Location::Authorize(_)));
                if let Some(tab) = self.pick(&candidates) {
                    let url = match self.tabs.get(&tab).map(|t| t.location.clone()) {
                        Some(Location::App(url) | Location::Crashed(url)) => url,
                        _ => return Ok(()),
                    };
                    self.note(|| format!("user reloads tab {tab}"));
                    if let Some(page) = self.tabs.get(&tab).and_then(|t| t.page) {
                        self.unload(page, true)?;
                    }
                    self.load(tab, url)?;
                }
            }
            Action::SignOut => {
                let candidates = self.pages_where(|p| p.session().is_signed_in());
                if let Some(page) = self.pick(&candidates) {
                    let grant = self
                        .pages
                        .get(&page)
                        .and_then(|p| p.session().current())
                        .and_then(|c| parse_token(c.tokens.access_token.expose()))
                        .map(|(_, g, _)| g);
                    self.checker.user_signs_out(page, grant);
                    self.note(|| format!("user signs out on page {page}"));
                    self.with_page(page, |p, ctx| p.sign_out(ctx))?;
                }
            }
            Action::RefreshNow => {
                let candidates = self.pages_where(|p| p.session().is_signed_in());
                if let Some(page) = self.pick(&candidates) {
                    self.note(|| format!("user presses Refresh now on page {page}"));
                    self.with_page(page, |p, ctx| p.refresh_now(ctx))?;
                }
            }
            Action::Read => {
                let candidates = self.pages_where(|p| p.session().is_signed_in());
                if let Some(page) = self.pick(&candidates) {
                    self.note(|| format!("user opens an API page on page {page}"));
                    self.with_page(page, |p, ctx| p.read(ctx))?;
                }
            }
            Action::Dismiss => {
                let candidates = self.pages_where(|p| p.session().notice().is_some());
                if let Some(page) = self.pick(&candidates) {
                    self.note(|| format!("user dismisses the notice on page {page}"));
                    self.with_page(page, |p, ctx| p.dismiss_notice(ctx))?;
                }
            }
            Action::Sleep => self.sleep()?,
            Action::Kill => {
                // Mostly the page in the middle of a refresh, holding the lock.
                let refreshing: Vec<u64> = self
                    .open_token_requests
                    .iter()
                    .filter_map(|id| self.http.get(id))
                    .map(|h| h.page)
                    .collect();
                let all = self.pages_where(|_| true);
                let page = if !refreshing.is_empty() && !self.src.chance(300) {
                    self.pick(&refreshing)
                } else {
                    self.pick(&all)
                };
                if let Some(page) = page {
                    let tab = self.pages.get(&page).map(|p| p.tab);
                    self.note(|| format!("page {page} crashes"));
                    self.checker.stats.add("faults: page killed");
                    self.unload(page, false)?;
                    if let Some(t) = tab.and_then(|t| self.tabs.get_mut(&t))
                        && let Location::App(url) = t.location.clone()
                    {
                        t.location = Location::Crashed(url);
                    }
                }
            }
            Action::Quota => {
                let candidates = self.tabs_where(|_| true);
                if let Some(tab) = self.pick(&candidates)
                    && let Some(t) = self.tabs.get_mut(&tab)
                {
                    t.storage.quota_full = !t.storage.quota_full;
                    let full = t.storage.quota_full;
                    if full {
                        self.checker.stats.add("faults: storage quota full");
                    }
                    self.note(|| format!("tab {tab}: storage quota full: {full}"));
                }
            }
            Action::Squat => {
                // Fault: another page of the origin holds a lock it saw listed, until the next
                // squat step lets it go.
                let (held, waits) = self.locks.involves(SQUATTER);
                if held || waits {
                    self.note(|| "the squatting page lets its locks go".to_string());
                    let granted = self.locks.drop_page(SQUATTER);
                    self.grant_locks(granted)?;
                } else {
                    let listed = self.locks.listed();
                    let indices: Vec<usize> = (0..listed.len()).collect();
                    if let Some(i) = self.pick(&indices) {
                        let name = listed[i].clone();
                        self.note(|| format!("another page of the origin takes lock {name}"));
                        self.checker.stats.add("faults: lock squatted");
                        let granted = self.locks.request(&name, (SQUATTER, 0));
                        self.grant_locks(granted)?;
                    }
                }
            }
            Action::ForeignCallback => {
                // A link answering another tab's sign-in (a copied or forged link): the state
                // check must refuse it. (A used link of the tab's own sign-in, pasted by hand
                // into a duplicate, is not simulated: the app clears it from the address bar and
                // the history at once, and the server's reuse rule would rightly end its grant.)
                let candidates = self.tabs_where(|t| matches!(t.location, Location::App(_)));
                if let Some(tab) = self.pick(&candidates) {
                    let lineage = self
                        .tabs
                        .get(&tab)
                        .map(|t| t.lineage.clone())
                        .unwrap_or_default();
                    let foreign: Vec<usize> = (0..self.codes.len())
                        .filter(|i| {
                            self.checker
                                .issuer_of(&self.codes[*i].2)
                                .is_none_or(|issuer| !lineage.contains(&issuer))
                        })
                        .collect();
                    let Some(i) = self.pick(&foreign) else {
                        return Ok(());
                    };
                    let (url, issued_to, _) = self.codes[i].clone();
                    self.note(|| {
                        format!("tab {tab} opens a callback link issued to tab {issued_to}")
                    });
                    if let Some(page) = self.tabs.get(&tab).and_then(|t| t.page) {
                        self.unload(page, true)?;
                    }
                    self.load(tab, url)?;
                }
            }
        }
        Ok(())
    }

    /// The laptop sleeps (an hour, sometimes a night): nothing on it runs, the server goes on,
    /// answers in flight are lost; at the wake-up the overdue timers fire and every page hears
    /// that it is visible again.
    fn sleep(&mut self) -> Result<(), Violation> {
        let hours = if self.src.chance(100) { 9 } else { 1 };
        let start = self.world.now;
        let wake = start + hours * 3_600_000;
        self.note(|| format!("the laptop sleeps for {hours} h"));
        self.checker.stats.add("sleeps");
        let mut deferred = Vec::new();
        loop {
            let due = self.world.take_before(wake);
            if due.is_empty() {
                break;
            }
            for (at, ev) in due {
                match ev {
                    Ev::ServerGets { http } => {
                        self.world.now = at;
                        self.server_gets(http)?;
                    }
                    Ev::ClientGets { http, .. } => {
                        if let Some(h) = self.http.get_mut(&http) {
                            h.slept = true;
                        }
                    }
                    other if other.on_laptop() => deferred.push(other),
                    _ => {}
                }
            }
        }
        self.world.now = wake;
        self.checker.slept(start, wake);
        for ev in deferred {
            self.world.at(wake, ev);
        }
        let pages: Vec<u64> = self.pages.keys().copied().collect();
        for page in pages {
            self.with_page(page, |p, ctx| p.on_visible(ctx))?;
        }
        Ok(())
    }

    /// A summary of the end state, for the trace.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (id, t) in &self.tabs {
            s += &format!("tab {id}: {:?}, page {:?}\n", t.location, t.page);
        }
        for (id, p) in &self.pages {
            let sess = p.session();
            s += &format!(
                "page {id}: {:?}, tokens {:?}, notice {:?}, wake {:?}\n",
                sess.phase(),
                sess.current()
                    .map(|c| c.tokens.access_token.expose().to_string()),
                sess.notice(),
                p.wake_at.map(|t| t.saturating_sub(EPOCH_MS)),
            );
        }
        s
    }
}
