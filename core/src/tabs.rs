//! The tab protocol: who shares this tab's grant, who answers whom, and what reaches the session.
//!
//! A duplicated tab inherits `sessionStorage`, so two tabs can hold one refresh token, and a
//! RingCentral refresh token is single-use: if both refreshed, the second request would end the
//! session for both. So only the holder of the grant's lock refreshes, publishes the new tokens,
//! and the other tabs of that grant adopt them without a request. Sign-out is published the same
//! way, and tabs announce themselves with heartbeats so each can show how many share its session.
//!
//! [`Coordinator`] makes every decision of that protocol and does no I/O: the browser layer
//! (`src/browser/tabs.rs`) feeds it [`Input`]s with the current time and carries out the
//! [`Output`]s (post on the `BroadcastChannel`, hand a [`Broadcast`] to the session, start the
//! ask-wait timer). Taking and releasing the Web Lock itself, and whether the browser has the
//! APIs at all, stay in the browser layer.
//!
//! Messages are typed ([`Message`], [`Body`]) everywhere except on the channel, where [`Codec`]
//! turns them into a flat JSON object and back. That pair is the only place that sees the wire
//! text, so signing each message later changes the codec and nothing else.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::{RecordError, decode_session, encode_session};
use crate::session::{Broadcast, StoredSession};
use crate::time::Timestamp;

/// How often a tab that holds a grant says `here`.
pub const HEARTBEAT_MS: u64 = 15_000;
/// A peer not heard from for this long is no longer counted. Longer than the once-a-minute timer
/// budget Chrome leaves a tab hidden for minutes, so a throttled peer is not counted as gone
/// between its heartbeats.
pub const PEER_TIMEOUT_MS: u64 = 150_000;
/// How long the lock holder waits for peers to offer newer tokens before refreshing itself.
pub const ASK_WAIT_MS: u64 = 200;
/// Channel text larger than this is not parsed: a session record is far smaller, so such text is
/// not from this app.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One message between tabs: which grant it is about, which tab sent it, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub grant: String,
    /// The sender's tab ID.
    pub from: String,
    pub body: Body,
}

/// What a [`Message`] says. `generation` is the sender's session generation (it increases with
/// every refresh), so tabs can tell newer tokens from older ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// "I now hold this grant": every peer answers with [`Body::Here`].
    Hello { generation: u64 },
    /// "I hold this grant too": the answer to a hello, and the heartbeat.
    Here { generation: u64 },
    /// "This tab is going away" (page hide).
    Bye,
    /// "I got the lock; does anyone hold newer tokens than this generation?"
    Ask { generation: u64 },
    /// New tokens for the grant: published after a refresh, or the answer to an ask.
    Tokens(Box<StoredSession>),
    /// The grant was signed out.
    SignedOut,
}

/// What this tab holds, as the session says after every change: the grant, its generation and the
/// encoded session record (to answer asks with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub grant_id: String,
    pub generation: u64,
    pub record: String,
}

/// Inputs to the [`Coordinator`].
#[derive(Debug)]
pub enum Input {
    /// The session now holds this grant, or none. Sent after every session change, so most are
    /// no change at all.
    SetGrant(Option<Holding>),
    /// A message from the channel, already decoded by [`Codec::decode`].
    Received(Message),
    /// The heartbeat interval ([`HEARTBEAT_MS`]) fired.
    Heartbeat,
    /// This tab got the Web Lock of `grant_id`.
    LockGranted { grant_id: String },
    /// The wait started by [`Output::StartAskWait`] is over.
    AskWaitOver,
    /// The page is being hidden or unloaded.
    PageHide,
    /// The session wants this published to the other tabs of its grant.
    Publish(Broadcast),
}

/// Outputs: what the browser layer must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Post this on the channel (encoded with [`Codec::encode`]).
    Post(Message),
    /// Hand this to the session: another tab of this grant published tokens or signed out.
    Deliver(Box<Broadcast>),
    /// The number of tabs sharing the session may have changed; re-read
    /// [`Coordinator::sharing_count`].
    PeersChanged,
    /// Wait `ms`, then send [`Input::AskWaitOver`] (which may answer with another wait: see
    /// [`ASK_WAIT_FROZEN_MS`]).
    StartAskWait { ms: u64 },
    /// The lock holder may refresh now.
    LockReady,
}

/// The protocol state of one tab.
#[derive(Debug)]
pub struct Coordinator {
    tab_id: String,
    holding: Option<Holding>,
    /// Peer tab ID → when it was last heard from. All of them hold `holding`'s grant: the map is
    /// cleared whenever the grant changes and only messages of that grant are recorded.
    peers: HashMap<String, Timestamp>,
    /// When the lock holder last asked its peers, while it waits for their answers.
    asked_at: Option<Timestamp>,
}

/// An ask wait that took this long was not a wait but a freeze (the laptop slept, the tab was
/// discarded): the peers, frozen too, could not answer in it.
pub const ASK_WAIT_FROZEN_MS: u64 = 5 * ASK_WAIT_MS;

impl Coordinator {
    /// `tab_id` only needs to be unique among tabs.
    pub fn new(tab_id: impl Into<String>) -> Self {
        Self {
            tab_id: tab_id.into(),
            holding: None,
            peers: HashMap::new(),
            asked_at: None,
        }
    }

    /// Asks the peers for newer tokens than this tab's, and waits for their answers.
    fn ask(&mut self, grant_id: String, now: Timestamp, out: &mut Vec<Output>) {
        let generation = self.holding.as_ref().map_or(0, |h| h.generation);
        out.push(self.post(grant_id, Body::Ask { generation }));
        out.push(Output::StartAskWait { ms: ASK_WAIT_MS });
        self.asked_at = Some(now);
    }

    /// Tabs (this one included) known to hold the current grant: zero without a grant.
    pub fn sharing_count(&self, now: Timestamp) -> usize {
        if self.holding.is_none() {
            return 0;
        }
        1 + self
            .peers
            .values()
            .filter(|seen| alive(**seen, now))
            .count()
    }

    pub fn handle(&mut self, input: Input, now: Timestamp) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::SetGrant(holding) => self.set_grant(holding, &mut out),
            Input::Received(m) => self.receive(m, now, &mut out),
            Input::Heartbeat => self.heartbeat(now, &mut out),
            Input::LockGranted { grant_id } => {
                // Always ask, even when no peer is known: a tab restored after sleep or a discard
                // holds the lock before its peers have answered its hello, and refreshing with a
                // rotated-out token would end the session for every tab. 200 ms per refresh is
                // cheap next to that.
                self.ask(grant_id, now, &mut out);
            }
            Input::AskWaitOver => match self.asked_at.take() {
                // The wait spanned a freeze, during which no peer could answer: refreshing now
                // could present a token a peer has already replaced, which revokes the grant for
                // every tab. Ask again, now that everyone is awake.
                Some(at)
                    if at.millis_until(now) >= ASK_WAIT_FROZEN_MS
                        && let Some(h) = &self.holding =>
                {
                    let grant_id = h.grant_id.clone();
                    self.ask(grant_id, now, &mut out);
                }
                // Newer tokens that arrived meanwhile were delivered to the session already; it
                // decides whether a refresh is still needed.
                _ => out.push(Output::LockReady),
            },
            Input::PageHide => {
                if let Some(h) = &self.holding {
                    out.push(self.post(h.grant_id.clone(), Body::Bye));
                }
            }
            Input::Publish(Broadcast::Tokens(s)) => {
                out.push(self.post(s.grant_id.clone(), Body::Tokens(Box::new(s))));
            }
            Input::Publish(Broadcast::SignedOut { grant_id }) => {
                out.push(self.post(grant_id, Body::SignedOut));
            }
        }
        out
    }

    fn set_grant(&mut self, holding: Option<Holding>, out: &mut Vec<Output>) {
        let changed =
            self.holding.as_ref().map(|h| &h.grant_id) != holding.as_ref().map(|h| &h.grant_id);
        self.holding = holding;
        // A new generation of the same grant keeps its peers; they learn it from the tokens.
        if !changed {
            return;
        }
        self.peers.clear();
        if let Some(h) = &self.holding {
            let generation = h.generation;
            out.push(self.post(h.grant_id.clone(), Body::Hello { generation }));
        }
        // No PeersChanged: the caller re-reads the count after every grant change anyway.
    }

    fn receive(&mut self, m: Message, now: Timestamp, out: &mut Vec<Output>) {
        let Some(h) = &self.holding else { return };
        // A channel does not echo to its own object, but another object of this tab's ID would.
        if m.grant != h.grant_id || m.from == self.tab_id {
            return;
        }
        let (grant, generation) = (h.grant_id.clone(), h.generation);
        // A peer with newer tokens (this tab was restored from a stale copy of the session):
        // ask for them rather than show dead tokens until the next refresh is due.
        let ask_if_newer = |this: &Self, theirs: u64, out: &mut Vec<Output>| {
            if theirs > generation {
                out.push(this.post(grant.clone(), Body::Ask { generation }));
            }
        };
        match m.body {
            Body::Hello { generation: theirs } => {
                self.peers.insert(m.from, now);
                out.push(self.post(grant.clone(), Body::Here { generation }));
                out.push(Output::PeersChanged);
                ask_if_newer(self, theirs, out);
            }
            Body::Here { generation: theirs } => {
                if self.peers.insert(m.from, now).is_none() {
                    out.push(Output::PeersChanged);
                }
                ask_if_newer(self, theirs, out);
            }
            Body::Bye => {
                self.peers.remove(&m.from);
                out.push(Output::PeersChanged);
            }
            Body::Ask { generation: theirs } => {
                self.peers.insert(m.from, now);
                // Only strictly newer tokens help the asker; equal ones are what it has.
                if generation > theirs {
                    // The record is the session's own encoding, so it decodes; if it did not,
                    // every receiver would drop it anyway.
                    if let Ok(s) = decode_session(&h.record) {
                        out.push(self.post(grant, Body::Tokens(Box::new(s))));
                    }
                }
            }
            Body::Tokens(s) => {
                self.peers.insert(m.from, now);
                out.push(Output::Deliver(Box::new(Broadcast::Tokens(*s))));
            }
            Body::SignedOut => {
                out.push(Output::Deliver(Box::new(Broadcast::SignedOut {
                    grant_id: grant,
                })));
            }
        }
    }

    fn heartbeat(&mut self, now: Timestamp, out: &mut Vec<Output>) {
        let before = self.peers.len();
        self.peers.retain(|_, seen| alive(*seen, now));
        if self.peers.len() != before {
            out.push(Output::PeersChanged);
        }
        if let Some(h) = &self.holding {
            let generation = h.generation;
            out.push(self.post(h.grant_id.clone(), Body::Here { generation }));
        }
    }

    fn post(&self, grant: String, body: Body) -> Output {
        Output::Post(Message {
            grant,
            from: self.tab_id.clone(),
            body,
        })
    }
}

/// Whether a peer last heard from at `seen` still counts at `now`. A clock that went back counts
/// as just heard.
fn alive(seen: Timestamp, now: Timestamp) -> bool {
    seen.millis_until(now) < PEER_TIMEOUT_MS
}

/// Why channel text was not a message. The browser layer drops such text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("message is not a tab message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("tokens message without a record")]
    MissingRecord,
    #[error("tokens message with a bad record: {0}")]
    BadRecord(RecordError),
}

/// Messages to channel text and back. This is the one place that sees the wire format; a future
/// message key (to authenticate every message) belongs here.
#[derive(Debug, Clone, Default)]
pub struct Codec;

impl Codec {
    pub fn encode(&self, m: &Message) -> String {
        serde_json::to_string(&Wire::from_message(m)).unwrap_or_default()
    }

    pub fn decode(&self, text: &str) -> Result<Message, WireError> {
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::TooLarge);
        }
        let w: Wire =
            serde_json::from_str(text).map_err(|e| WireError::Malformed(e.to_string()))?;
        w.into_message()
    }
}

/// One message on the channel. A flat struct rather than a tagged enum: serde's internally tagged
/// enums cost about 18 KB of wasm, this costs a fraction. Its JSON must stay readable by tabs
/// still running an older build of the app.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// `hello`, `here`, `bye`, `ask`, `tokens` or `signed_out`.
    t: String,
    grant: String,
    from: String,
    /// For `hello`, `here` and `ask`; zero otherwise.
    #[serde(default)]
    generation: u64,
    /// The encoded session, for `tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
}

impl Wire {
    fn from_message(m: &Message) -> Self {
        let (t, generation, record) = match &m.body {
            Body::Hello { generation } => ("hello", *generation, None),
            Body::Here { generation } => ("here", *generation, None),
            Body::Bye => ("bye", 0, None),
            Body::Ask { generation } => ("ask", *generation, None),
            Body::Tokens(s) => ("tokens", 0, Some(encode_session(s))),
            Body::SignedOut => ("signed_out", 0, None),
        };
        Self {
            t: t.into(),
            grant: m.grant.clone(),
            from: m.from.clone(),
            generation,
            record,
        }
    }

    fn into_message(self) -> Result<Message, WireError> {
        let generation = self.generation;
        let body = match self.t.as_str() {
            "hello" => Body::Hello { generation },
            "here" => Body::Here { generation },
            "bye" => Body::Bye,
            "ask" => Body::Ask { generation },
            "tokens" => {
                let record = self.record.ok_or(WireError::MissingRecord)?;
                Body::Tokens(Box::new(
                    decode_session(&record).map_err(WireError::BadRecord)?,
                ))
            }
            "signed_out" => Body::SignedOut,
            _ => return Err(WireError::UnknownType(self.t)),
        };
        Ok(Message {
            grant: self.grant,
            from: self.from,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::token::TokenSet;

    const G: &str = "grant-1";
    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn session(grant: &str, generation: u64, access: &str) -> StoredSession {
        StoredSession {
            grant_id: grant.into(),
            generation,
            tokens: TokenSet {
                access_token: AccessToken::new(access),
                issued_at: T0,
                expires_in: Some(3600),
                expires_at: Some(T0.plus_secs(3600)),
                refresh_token: Some(RefreshToken::new(format!("rt-{access}"))),
                refresh_expires_in: None,
                refresh_expires_at: None,
                scope: None,
                owner_id: None,
                endpoint_id: None,
            },
        }
    }

    fn holding(grant: &str, generation: u64) -> Holding {
        let s = session(grant, generation, &format!("at-{grant}-{generation}"));
        Holding {
            grant_id: grant.into(),
            generation,
            record: encode_session(&s),
        }
    }

    fn msg(grant: &str, from: &str, body: Body) -> Message {
        Message {
            grant: grant.into(),
            from: from.into(),
            body,
        }
    }

    /// Tabs wired together like a BroadcastChannel: every post goes, as wire text, to every other
    /// tab, and their answers are delivered in turn until the bus is quiet. Everything but posts is
    /// kept per tab for the test to look at. Time only moves when the test says so.
    struct Bus {
        tabs: Vec<Coordinator>,
        seen: Vec<Vec<Output>>,
        now: Timestamp,
        codec: Codec,
    }

    impl Bus {
        fn new(n: usize) -> Self {
            Self {
                tabs: (0..n)
                    .map(|i| Coordinator::new(format!("tab-{i}")))
                    .collect(),
                seen: vec![Vec::new(); n],
                now: T0,
                codec: Codec,
            }
        }

        fn advance(&mut self, ms: u64) {
            self.now = self.now.plus_millis(ms);
        }

        /// Feeds `input` to tab `i` and runs the bus until quiet; returns tab `i`'s own outputs.
        fn send(&mut self, i: usize, input: Input) -> Vec<Output> {
            let first = self.tabs[i].handle(input, self.now);
            let mut queue: Vec<(usize, String)> = Vec::new();
            self.sort(i, first.clone(), &mut queue);
            while !queue.is_empty() {
                let (from, text) = queue.remove(0);
                for j in (0..self.tabs.len()).filter(|&j| j != from) {
                    let m = self.codec.decode(&text).expect("own encoding decodes");
                    let out = self.tabs[j].handle(Input::Received(m), self.now);
                    self.sort(j, out, &mut queue);
                }
            }
            first
        }

        fn sort(&mut self, i: usize, out: Vec<Output>, queue: &mut Vec<(usize, String)>) {
            for o in out {
                match o {
                    Output::Post(m) => queue.push((i, self.codec.encode(&m))),
                    other => self.seen[i].push(other),
                }
            }
        }

        fn hold(&mut self, i: usize, grant: &str, generation: u64) -> Vec<Output> {
            self.send(i, Input::SetGrant(Some(holding(grant, generation))))
        }

        fn count(&self, i: usize) -> usize {
            self.tabs[i].sharing_count(self.now)
        }

        /// Takes what tab `i` was told so far.
        fn take(&mut self, i: usize) -> Vec<Output> {
            std::mem::take(&mut self.seen[i])
        }

        fn delivered(&mut self, i: usize) -> Vec<Broadcast> {
            self.take(i)
                .into_iter()
                .filter_map(|o| match o {
                    Output::Deliver(b) => Some(*b),
                    _ => None,
                })
                .collect()
        }
    }

    #[test]
    fn two_tabs_of_one_grant_find_each_other() {
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        assert_eq!(bus.count(0), 1);
        // Tab 1's hello is answered by tab 0's here.
        bus.hold(1, G, 1);
        assert_eq!((bus.count(0), bus.count(1)), (2, 2));
        assert_eq!(bus.take(0), [Output::PeersChanged], "hello from a new peer");
        assert_eq!(bus.take(1), [Output::PeersChanged], "here from a new peer");

        // A heartbeat from a known peer is no change.
        bus.send(0, Input::Heartbeat);
        assert_eq!(bus.take(1), []);
        assert_eq!(bus.count(1), 2);
    }

    #[test]
    fn sharing_count_is_zero_without_a_grant_and_counts_every_peer() {
        let mut bus = Bus::new(3);
        assert_eq!(bus.count(0), 0);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.hold(2, G, 1);
        assert_eq!((bus.count(0), bus.count(1), bus.count(2)), (3, 3, 3));
        bus.send(0, Input::SetGrant(None));
        assert_eq!(bus.count(0), 0);
    }

    #[test]
    fn a_silent_peer_expires_after_the_peer_timeout() {
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.take(0);
        bus.advance(PEER_TIMEOUT_MS - 1);
        assert_eq!(bus.count(0), 2);
        bus.send(0, Input::Heartbeat);
        assert_eq!(bus.take(0), [], "not expired yet");

        bus.advance(1);
        // Counted out at once, removed (and reported) at the next heartbeat.
        assert_eq!(bus.count(0), 1);
        bus.send(0, Input::Heartbeat);
        assert_eq!(bus.take(0), [Output::PeersChanged]);
        assert_eq!(bus.count(0), 1);
    }

    #[test]
    fn heartbeats_keep_peers_alive() {
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        for _ in 0..40 {
            bus.advance(HEARTBEAT_MS);
            bus.send(0, Input::Heartbeat);
            bus.send(1, Input::Heartbeat);
        }
        assert_eq!((bus.count(0), bus.count(1)), (2, 2));
    }

    #[test]
    fn heartbeat_says_here_only_with_a_grant() {
        let mut c = Coordinator::new("a");
        assert_eq!(c.handle(Input::Heartbeat, T0), []);
        c.handle(Input::SetGrant(Some(holding(G, 4))), T0);
        assert_eq!(
            c.handle(Input::Heartbeat, T0),
            [Output::Post(msg(G, "a", Body::Here { generation: 4 }))]
        );
    }

    #[test]
    fn bye_removes_the_peer_at_once() {
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.take(0);
        let out = bus.send(1, Input::PageHide);
        assert_eq!(out, [Output::Post(msg(G, "tab-1", Body::Bye))]);
        assert_eq!(bus.count(0), 1);
        assert_eq!(bus.take(0), [Output::PeersChanged]);
    }

    #[test]
    fn page_hide_without_a_grant_says_nothing() {
        let mut c = Coordinator::new("a");
        assert_eq!(c.handle(Input::PageHide, T0), []);
    }

    #[test]
    fn own_messages_are_ignored() {
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, 1))), T0);
        for body in [
            Body::Hello { generation: 0 },
            Body::Here { generation: 0 },
            Body::Ask { generation: 0 },
            Body::Tokens(Box::new(session(G, 2, "at-own"))),
            Body::SignedOut,
            Body::Bye,
        ] {
            let out = c.handle(Input::Received(msg(G, "a", body.clone())), T0);
            assert_eq!(out, [], "{body:?}");
        }
        assert_eq!(c.sharing_count(T0), 1);
    }

    #[test]
    fn messages_of_another_grant_are_ignored() {
        let mut bus = Bus::new(3);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.hold(2, "grant-other", 5);
        assert_eq!((bus.count(0), bus.count(1), bus.count(2)), (2, 2, 1));

        // Tab 2 (newer generation, other grant) does not answer tab 0's ask.
        bus.send(0, Input::LockGranted { grant_id: G.into() });
        bus.send(
            2,
            Input::Publish(Broadcast::SignedOut {
                grant_id: "grant-other".into(),
            }),
        );
        assert_eq!(bus.delivered(0), []);
        assert_eq!(bus.delivered(1), []);
    }

    #[test]
    fn an_ask_is_answered_only_by_a_newer_generation() {
        let mut bus = Bus::new(3);
        bus.hold(0, G, 3);
        bus.hold(1, G, 3);
        bus.hold(2, G, 4);
        bus.take(0);
        bus.take(1);

        // Tab 0 asks at generation 3: tab 1 (equal) stays quiet, tab 2 (newer) answers.
        let out = bus.send(0, Input::LockGranted { grant_id: G.into() });
        assert_eq!(
            out,
            [
                Output::Post(msg(G, "tab-0", Body::Ask { generation: 3 })),
                Output::StartAskWait { ms: ASK_WAIT_MS },
            ]
        );
        // Tab 1 hears tab 2's answer as well: it is published to the whole grant.
        let fresh = session(G, 4, "at-grant-1-4");
        assert_eq!(bus.delivered(0), [Broadcast::Tokens(fresh.clone())]);
        assert_eq!(bus.delivered(1), [Broadcast::Tokens(fresh)]);

        // Tab 2, the newest, asks: nobody answers.
        bus.send(2, Input::LockGranted { grant_id: G.into() });
        assert_eq!(bus.delivered(0), []);
        assert_eq!(bus.delivered(1), []);
        assert_eq!(bus.delivered(2), []);
    }

    /// Found by the simulator (issue 15): a tab restored from a stale copy of the session (its
    /// `sessionStorage` missed the newer tokens, e.g. it was reloaded while they were on their
    /// way) hears a newer generation in a peer's hello or here, and asks for it, instead of
    /// showing dead tokens until its own refresh is due.
    #[test]
    fn a_tab_that_hears_of_a_newer_generation_asks_for_it() {
        // Tab 1 holds generation 2; tab 0 comes back with generation 1 and says hello: tab 1's
        // here tells it of generation 2, so it asks, and tab 1 answers with its tokens.
        let mut bus = Bus::new(2);
        bus.hold(1, G, 2);
        bus.hold(0, G, 1);
        let newer = session(G, 2, "at-grant-1-2");
        assert_eq!(bus.delivered(0), [Broadcast::Tokens(newer.clone())]);
        assert_eq!(bus.delivered(1), []);
        // A heartbeat carries the generation too.
        bus.send(1, Input::Heartbeat);
        assert_eq!(bus.delivered(0), [Broadcast::Tokens(newer)]);

        // The other way round: the hello of a newer tab makes the older one ask.
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        bus.hold(1, G, 3);
        assert_eq!(
            bus.delivered(0),
            [Broadcast::Tokens(session(G, 3, "at-grant-1-3"))]
        );

        // Equal generations ask nothing.
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, 2))), T0);
        for body in [Body::Hello { generation: 2 }, Body::Here { generation: 1 }] {
            let out = c.handle(Input::Received(msg(G, "b", body.clone())), T0);
            assert!(
                !out.iter().any(|o| matches!(
                    o,
                    Output::Post(Message {
                        body: Body::Ask { .. },
                        ..
                    })
                )),
                "{body:?}: {out:?}"
            );
        }
    }

    #[test]
    fn only_an_ask_of_an_older_generation_gets_tokens() {
        // The answer is this tab's own session record, sent to the whole grant.
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, 2))), T0);
        let ask = |generation| Input::Received(msg(G, "b", Body::Ask { generation }));
        assert_eq!(c.handle(ask(2), T0), []);
        assert_eq!(c.handle(ask(3), T0), []);
        assert_eq!(
            c.handle(ask(1), T0),
            [Output::Post(msg(
                G,
                "a",
                Body::Tokens(Box::new(session(G, 2, "at-grant-1-2")))
            ))]
        );
        // An ask makes the asker a peer, without a PeersChanged: its hello already raised one.
        assert_eq!(c.sharing_count(T0), 2);
    }

    #[test]
    fn the_lock_holder_asks_then_waits_then_goes_ahead() {
        let mut c = Coordinator::new("a");
        // Without a grant the ask carries generation zero: any peer's tokens are newer.
        assert_eq!(
            c.handle(Input::LockGranted { grant_id: G.into() }, T0),
            [
                Output::Post(msg(G, "a", Body::Ask { generation: 0 })),
                Output::StartAskWait { ms: 200 },
            ]
        );
        assert_eq!(c.handle(Input::AskWaitOver, T0), [Output::LockReady]);
    }

    #[test]
    fn an_ask_wait_that_spanned_a_freeze_asks_again() {
        // Found by the simulator: the laptop slept during the holder's ask wait; on waking its
        // timer fired before the peers (asleep too) could answer, and it refreshed with a token a
        // peer had replaced, which revoked the grant for every tab.
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, 1))), T0);
        c.handle(Input::LockGranted { grant_id: G.into() }, T0);
        let woke = T0.plus_secs(3600);
        assert_eq!(
            c.handle(Input::AskWaitOver, woke),
            [
                Output::Post(msg(G, "a", Body::Ask { generation: 1 })),
                Output::StartAskWait { ms: ASK_WAIT_MS },
            ]
        );
        // The second wait, not frozen, goes ahead; so does one just under the limit.
        assert_eq!(
            c.handle(Input::AskWaitOver, woke.plus_millis(ASK_WAIT_MS)),
            [Output::LockReady]
        );
        c.handle(Input::LockGranted { grant_id: G.into() }, T0);
        assert_eq!(
            c.handle(Input::AskWaitOver, T0.plus_millis(ASK_WAIT_FROZEN_MS - 1)),
            [Output::LockReady]
        );
    }

    #[test]
    fn published_tokens_reach_only_tabs_of_the_same_grant() {
        let mut bus = Bus::new(3);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.hold(2, "grant-other", 1);
        let other = session("grant-other-2", 9, "at-other");
        let fresh = session(G, 2, "at-fresh");
        bus.send(0, Input::Publish(Broadcast::Tokens(other)));
        bus.send(0, Input::Publish(Broadcast::Tokens(fresh.clone())));
        assert_eq!(bus.delivered(1), [Broadcast::Tokens(fresh)]);
        assert_eq!(bus.delivered(2), []);
        assert_eq!(bus.delivered(0), [], "the sender does not hear itself");
    }

    #[test]
    fn a_sign_out_reaches_only_tabs_of_the_same_grant() {
        let mut bus = Bus::new(3);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        bus.hold(2, "grant-other", 1);
        bus.send(
            0,
            Input::Publish(Broadcast::SignedOut {
                grant_id: "grant-elsewhere".into(),
            }),
        );
        bus.send(
            0,
            Input::Publish(Broadcast::SignedOut { grant_id: G.into() }),
        );
        assert_eq!(
            bus.delivered(1),
            [Broadcast::SignedOut { grant_id: G.into() }]
        );
        assert_eq!(bus.delivered(2), []);
        assert_eq!(bus.delivered(0), []);
    }

    #[test]
    fn a_tab_without_a_grant_ignores_everything() {
        let mut c = Coordinator::new("a");
        for body in [
            Body::Hello { generation: 1 },
            Body::Here { generation: 1 },
            Body::Ask { generation: 0 },
            Body::Tokens(Box::new(session(G, 2, "at"))),
            Body::SignedOut,
            Body::Bye,
        ] {
            let out = c.handle(Input::Received(msg(G, "b", body.clone())), T0);
            assert_eq!(out, [], "{body:?}");
        }
        assert_eq!(c.sharing_count(T0), 0);
        assert_eq!(c.handle(Input::Heartbeat, T0), []);
        // It did not even remember the sender as a peer.
        c.handle(Input::SetGrant(Some(holding(G, 1))), T0);
        assert_eq!(c.sharing_count(T0), 1);
    }

    #[test]
    fn a_grant_change_clears_peers_and_says_hello() {
        let mut bus = Bus::new(2);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        assert_eq!(bus.count(0), 2);

        // A refresh (new generation, same grant) keeps the peers and says nothing.
        assert_eq!(bus.hold(0, G, 2), []);
        assert_eq!(bus.count(0), 2);

        // A new grant: tab 0 starts over and announces itself; nobody holds that grant.
        assert_eq!(
            bus.hold(0, "grant-2", 1),
            [Output::Post(msg(
                "grant-2",
                "tab-0",
                Body::Hello { generation: 1 }
            ))]
        );
        assert_eq!(bus.count(0), 1);
        // Tab 1 sees no bye; it counts tab 0 until its heartbeats stop.
        assert_eq!(bus.count(1), 2);

        // Signing out clears the peers too, and says nothing.
        bus.hold(1, "grant-2", 1);
        assert_eq!(bus.count(0), 2);
        assert_eq!(bus.send(0, Input::SetGrant(None)), []);
        assert_eq!(bus.count(0), 0);
        bus.hold(0, "grant-2", 1);
        assert_eq!(bus.count(0), 2, "tab 1 answered the new hello");
    }

    #[test]
    fn the_wire_format_is_unchanged() {
        // Tabs still running the previous build must understand these, and we theirs.
        let codec = Codec;
        let s = session(G, 2, "at-x");
        let cases = [
            (
                Body::Hello { generation: 3 },
                r#"{"t":"hello","grant":"grant-1","from":"a","generation":3}"#.to_string(),
            ),
            (
                Body::Here { generation: 3 },
                r#"{"t":"here","grant":"grant-1","from":"a","generation":3}"#.to_string(),
            ),
            (
                Body::Bye,
                r#"{"t":"bye","grant":"grant-1","from":"a","generation":0}"#.to_string(),
            ),
            (
                Body::Ask { generation: 7 },
                r#"{"t":"ask","grant":"grant-1","from":"a","generation":7}"#.to_string(),
            ),
            (
                Body::Tokens(Box::new(s.clone())),
                format!(
                    r#"{{"t":"tokens","grant":"grant-1","from":"a","generation":0,"record":{}}}"#,
                    serde_json::to_string(&encode_session(&s)).unwrap()
                ),
            ),
            (
                Body::SignedOut,
                r#"{"t":"signed_out","grant":"grant-1","from":"a","generation":0}"#.to_string(),
            ),
        ];
        for (body, text) in cases {
            let m = msg(G, "a", body);
            assert_eq!(codec.encode(&m), text);
            assert_eq!(codec.decode(&text), Ok(m));
        }
        // `generation` may be missing; unknown fields are ignored.
        assert_eq!(
            codec.decode(r#"{"t":"signed_out","grant":"g","from":"b","extra":1}"#),
            Ok(msg("g", "b", Body::SignedOut))
        );
    }

    #[test]
    fn malformed_wire_text_is_rejected() {
        let codec = Codec;
        let bad_record = encode_session(&session("", 1, "at"));
        let tokens_with = |record: &str| {
            format!(
                r#"{{"t":"tokens","grant":"g","from":"b","record":{}}}"#,
                serde_json::to_string(record).unwrap()
            )
        };
        for (text, want) in [
            ("not json".to_string(), "malformed"),
            ("\"hello\"".into(), "malformed"),
            (r#"{"t":"hello","grant":"g"}"#.into(), "malformed"),
            (
                r#"{"t":"hello","grant":"g","from":"b","generation":-1}"#.into(),
                "malformed",
            ),
            (r#"{"t":"hi","grant":"g","from":"b"}"#.into(), "unknown"),
            (r#"{"t":"tokens","grant":"g","from":"b"}"#.into(), "missing"),
            (tokens_with("{}"), "bad"),
            (tokens_with(&bad_record), "bad"),
        ] {
            let got = codec.decode(&text).map_err(|e| match e {
                WireError::TooLarge => "too large",
                WireError::Malformed(_) => "malformed",
                WireError::UnknownType(_) => "unknown",
                WireError::MissingRecord => "missing",
                WireError::BadRecord(_) => "bad",
            });
            assert_eq!(got, Err(want), "{text}");
        }
    }

    #[test]
    fn oversized_wire_text_is_rejected_before_parsing() {
        let codec = Codec;
        let m = msg(G, "b", Body::Bye);
        let text = codec.encode(&m);
        // JSON allows trailing whitespace, so padding keeps the message valid.
        let at_limit = text.clone() + &" ".repeat(MAX_MESSAGE_BYTES - text.len());
        assert_eq!(at_limit.len(), MAX_MESSAGE_BYTES);
        assert_eq!(codec.decode(&at_limit), Ok(m));
        let over = format!("{at_limit} ");
        assert_eq!(codec.decode(&over), Err(WireError::TooLarge));
    }
}
