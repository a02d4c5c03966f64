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
//! Only the tabs of one session can take part: the channel and the lock are named after the
//! session's [`TabKey`] (`crate::tab_key`), which no other page of the origin has, and every message is
//! signed with it ([`Codec`], `wire.rs`). The coordinator says which channel to be on
//! ([`Output::Join`]); messages are typed ([`Message`], [`Body`]) everywhere except on that
//! channel.

mod wire;

use std::collections::HashMap;

pub use crate::tab_key::{TAB_KEY_BYTES, TabKey};
pub use wire::{Codec, MAX_MESSAGE_BYTES, WireError};

use crate::record::{decode_session, encode_session};
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
/// A message claiming a generation more than this many refreshes ahead of this tab's is dropped.
/// Far more refreshes than a refresh token's lifetime allows a tab to fall behind by, and far from
/// the arithmetic's limits.
pub const MAX_GENERATION_JUMP: u64 = 1 << 16;

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

/// What this tab holds, as the session says after every change: the grant, its generation, its
/// key and the encoded session record (to answer asks with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub grant_id: String,
    pub generation: u64,
    pub key: TabKey,
    pub record: String,
}

impl Holding {
    pub fn of(session: &StoredSession) -> Self {
        Self {
            grant_id: session.grant_id.clone(),
            generation: session.generation,
            key: session.tab_key.clone(),
            record: encode_session(session),
        }
    }
}

/// The channel of one session: its name and the codec that signs and checks its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub codec: Codec,
}

/// Inputs to the [`Coordinator`].
// Made one at a time and handled at once: the size of `Publish` costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Input {
    /// The session now holds this grant, or none. Sent after every session change, so most are
    /// no change at all.
    SetGrant(Option<Holding>),
    /// A message from the joined channel, already checked and decoded by its [`Codec`].
    Received(Message),
    /// The heartbeat interval ([`HEARTBEAT_MS`]) fired.
    Heartbeat,
    /// This tab got the Web Lock of the grant it holds.
    LockGranted,
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
    /// Leave the current channel (if any) for this one: messages are posted and heard there only,
    /// encoded and checked with its codec.
    Join(Channel),
    /// Leave the current channel: this tab holds no session.
    Leave,
    /// Post this on the channel (encoded with the joined channel's codec).
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
            Input::LockGranted => match &self.holding {
                // Always ask, even when no peer is known: a tab restored after sleep or a discard
                // holds the lock before its peers have answered its hello, and refreshing with a
                // rotated-out token would end the session for every tab. 200 ms per refresh is
                // cheap next to that.
                Some(h) => {
                    let grant_id = h.grant_id.clone();
                    self.ask(grant_id, now, &mut out);
                }
                // No session, so no channel and no one to ask; the session gives the lock back.
                None => out.push(Output::LockReady),
            },
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
        match &self.holding {
            Some(h) => {
                out.push(Output::Join(Channel {
                    name: h.key.channel_name(&h.grant_id),
                    codec: Codec::new(&h.key),
                }));
                let generation = h.generation;
                out.push(self.post(h.grant_id.clone(), Body::Hello { generation }));
            }
            None => out.push(Output::Leave),
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
        // Only tabs of this session can sign, but a generation far ahead is still refused: no tab
        // can be that far behind, and no sum below can then overflow.
        let claimed = match &m.body {
            Body::Hello { generation } | Body::Here { generation } | Body::Ask { generation } => {
                *generation
            }
            Body::Tokens(s) => s.generation,
            Body::Bye | Body::SignedOut => 0,
        };
        if generation
            .checked_add(MAX_GENERATION_JUMP)
            .is_none_or(|limit| claimed > limit)
        {
            return;
        }
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

/// Values the tab tests share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::binding::ServerBinding;
    use crate::pkce::sha256;
    use crate::secret::{AccessToken, RefreshToken};
    use crate::token::TokenSet;

    pub const G: &str = "grant-1";
    pub const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    /// The key of a grant's session in these tests: every tab of one grant has it, no other.
    pub fn key_of(grant: &str) -> TabKey {
        let mut bytes = [0u8; TAB_KEY_BYTES];
        bytes.copy_from_slice(&sha256(format!("test key {grant}").as_bytes()));
        TabKey::from_bytes(bytes)
    }

    pub fn session(grant: &str, generation: u64, access: &str) -> StoredSession {
        StoredSession {
            grant_id: grant.into(),
            generation,
            tab_key: key_of(grant),
            binding: ServerBinding {
                client_id: "client".into(),
                token_endpoint: "https://idp.example/token".into(),
                revoke_endpoint: "https://idp.example/revoke".into(),
                api_base: "https://idp.example/api".into(),
                issuer: None,
                iss_optional: false,
            },
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
                id_token: None,
            },
            identity: None,
        }
    }

    pub fn holding(grant: &str, generation: u64) -> Holding {
        Holding::of(&session(
            grant,
            generation,
            &format!("at-{grant}-{generation}"),
        ))
    }

    pub fn msg(grant: &str, from: &str, body: Body) -> Message {
        Message {
            grant: grant.into(),
            from: from.into(),
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    /// Tabs wired together like BroadcastChannels: every post goes, as wire text, to every other
    /// tab on the sender's channel, and their answers are delivered in turn until the bus is quiet.
    /// Everything but posts and channel changes is kept per tab for the test to look at. Time only
    /// moves when the test says so.
    struct Bus {
        tabs: Vec<Coordinator>,
        channels: Vec<Option<Channel>>,
        seen: Vec<Vec<Output>>,
        now: Timestamp,
    }

    impl Bus {
        fn new(n: usize) -> Self {
            Self {
                tabs: (0..n)
                    .map(|i| Coordinator::new(format!("tab-{i}")))
                    .collect(),
                channels: vec![None; n],
                seen: vec![Vec::new(); n],
                now: T0,
            }
        }

        fn advance(&mut self, ms: u64) {
            self.now = self.now.plus_millis(ms);
        }

        /// Feeds `input` to tab `i` and runs the bus until quiet; returns tab `i`'s own outputs.
        fn send(&mut self, i: usize, input: Input) -> Vec<Output> {
            let first = self.tabs[i].handle(input, self.now);
            let mut queue: Vec<(usize, String, String)> = Vec::new();
            self.sort(i, first.clone(), &mut queue);
            while !queue.is_empty() {
                let (from, name, text) = queue.remove(0);
                for j in (0..self.tabs.len()).filter(|&j| j != from) {
                    let Some(ch) = self.channels[j].as_ref().filter(|c| c.name == name) else {
                        continue;
                    };
                    let m = ch.codec.decode(&text).expect("one channel, one key");
                    let out = self.tabs[j].handle(Input::Received(m), self.now);
                    self.sort(j, out, &mut queue);
                }
            }
            first
        }

        fn sort(&mut self, i: usize, out: Vec<Output>, queue: &mut Vec<(usize, String, String)>) {
            for o in out {
                match o {
                    Output::Join(ch) => self.channels[i] = Some(ch),
                    Output::Leave => self.channels[i] = None,
                    Output::Post(m) => {
                        let ch = self.channels[i].as_ref().expect("posts only once joined");
                        queue.push((i, ch.name.clone(), ch.codec.encode(&m)));
                    }
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
        bus.send(0, Input::LockGranted);
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
        let out = bus.send(0, Input::LockGranted);
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
        bus.send(2, Input::LockGranted);
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
        // Without a session there is no channel and nobody to ask.
        assert_eq!(c.handle(Input::LockGranted, T0), [Output::LockReady]);
        c.handle(Input::SetGrant(Some(holding(G, 2))), T0);
        assert_eq!(
            c.handle(Input::LockGranted, T0),
            [
                Output::Post(msg(G, "a", Body::Ask { generation: 2 })),
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
        c.handle(Input::LockGranted, T0);
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
        c.handle(Input::LockGranted, T0);
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

        // A new grant: tab 0 moves to that session's channel and announces itself there; nobody
        // else holds that grant.
        let key = key_of("grant-2");
        assert_eq!(
            bus.hold(0, "grant-2", 1),
            [
                Output::Join(Channel {
                    name: key.channel_name("grant-2"),
                    codec: Codec::new(&key),
                }),
                Output::Post(msg("grant-2", "tab-0", Body::Hello { generation: 1 }))
            ]
        );
        assert_eq!(bus.count(0), 1);
        // Tab 1 sees no bye; it counts tab 0 until its heartbeats stop.
        assert_eq!(bus.count(1), 2);

        // Signing out clears the peers too, and says nothing.
        bus.hold(1, "grant-2", 1);
        assert_eq!(bus.count(0), 2);
        assert_eq!(bus.send(0, Input::SetGrant(None)), [Output::Leave]);
        assert_eq!(bus.count(0), 0);
        bus.hold(0, "grant-2", 1);
        assert_eq!(bus.count(0), 2, "tab 1 answered the new hello");
    }

    /// Issue 16: the channel was one fixed name for the whole origin. Now each session has its
    /// own, named after its key and grant: a tab of another session (or any other page) is not
    /// on it, and hears and says nothing there.
    #[test]
    fn each_session_has_its_own_channel() {
        let mut bus = Bus::new(3);
        bus.hold(0, G, 1);
        bus.hold(1, G, 1);
        // Tab 2 has a session with the same grant name but another key: another sign-in.
        let mut other = holding(G, 5);
        other.key = key_of("someone else");
        bus.send(2, Input::SetGrant(Some(other)));
        assert_eq!((bus.count(0), bus.count(1), bus.count(2)), (2, 2, 1));
        assert_ne!(bus.channels[0], bus.channels[2]);
        assert_eq!(bus.channels[0], bus.channels[1]);
        // Its newer generation is not offered to the others' ask, and its sign-out reaches nobody.
        bus.send(0, Input::LockGranted);
        bus.send(
            2,
            Input::Publish(Broadcast::SignedOut { grant_id: G.into() }),
        );
        assert_eq!(bus.delivered(0), []);
        assert_eq!(bus.delivered(1), []);
        // The channel name gives neither key nor grant away.
        let name = &bus.channels[0].as_ref().unwrap().name;
        assert!(!name.contains(G) && !name.contains(&key_of(G).to_text()));
    }

    #[test]
    fn a_generation_too_far_ahead_is_ignored() {
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, 3))), T0);
        let far = 3 + MAX_GENERATION_JUMP + 1;
        for body in [
            Body::Hello { generation: far },
            Body::Here { generation: far },
            Body::Ask { generation: far },
            Body::Tokens(Box::new(session(G, far, "at-far"))),
            Body::Here {
                generation: u64::MAX,
            },
        ] {
            let out = c.handle(Input::Received(msg(G, "b", body.clone())), T0);
            assert_eq!(out, [], "{body:?}");
        }
        assert_eq!(c.sharing_count(T0), 1, "not even counted as a peer");
        // At the bound it is still a peer, and newer.
        let out = c.handle(
            Input::Received(msg(
                G,
                "b",
                Body::Here {
                    generation: far - 1,
                },
            )),
            T0,
        );
        assert!(out.contains(&Output::PeersChanged), "{out:?}");
        // The bound itself cannot overflow.
        let mut c = Coordinator::new("a");
        c.handle(Input::SetGrant(Some(holding(G, u64::MAX))), T0);
        let out = c.handle(
            Input::Received(msg(G, "b", Body::Here { generation: 1 })),
            T0,
        );
        assert_eq!(out, [], "{out:?}");
    }
}
