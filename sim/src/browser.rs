//! The simulated browser around the pages: each tab's `sessionStorage` (copied when the tab is
//! duplicated, refused while its quota is full), a lock manager with Web Locks semantics, and
//! the bookkeeping of a `BroadcastChannel` that delays messages (each sender's messages reach a
//! receiver in the order sent; messages of different senders interleave in any order).

use std::collections::{BTreeMap, VecDeque};

use rc_pkce_core::storage::{StorageError, StoreKind};

/// The keys the app uses (as in `src/browser/storage.rs`).
pub mod keys {
    pub const SESSION: &str = "rc-pkce.session";
    pub const PENDING: &str = "rc-pkce.pending";
    pub const ENDED: &str = "rc-pkce.ended";
    pub const INSPECTOR: &str = "rc-pkce.inspector";
}

/// One tab's `sessionStorage`.
#[derive(Debug, Clone, Default)]
pub struct Storage {
    map: BTreeMap<&'static str, String>,
    /// Every write is refused with `QuotaExceededError` while set.
    pub quota_full: bool,
}

impl Storage {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &'static str, value: String) -> Result<(), StorageError> {
        if self.quota_full {
            return Err(StorageError::QuotaExceeded {
                kind: StoreKind::Session,
            });
        }
        self.map.insert(key, value);
        Ok(())
    }

    pub fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }
}

/// Where a tab is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A page of the app at this URL.
    App(String),
    /// At RingCentral's authorize page (not our origin: no page of ours runs).
    Authorize(String),
    /// The page crashed ("Aw, Snap!"); a reload brings it back.
    Crashed(String),
}

/// One browser tab.
#[derive(Debug, Clone)]
pub struct BrowserTab {
    pub storage: Storage,
    pub location: Location,
    /// The page running in it, if any.
    pub page: Option<u64>,
    /// This tab and the tabs it was duplicated from.
    pub lineage: Vec<u64>,
}

/// Exclusive Web Locks by name: one holder, a FIFO of waiters; a page that goes away lets go of
/// what it held and its requests are dropped.
#[derive(Debug, Default)]
pub struct Locks {
    names: BTreeMap<String, Lock>,
}

/// A request: the page and its own number for it.
pub type Request = (u64, u64);

#[derive(Debug, Default)]
struct Lock {
    holder: Option<Request>,
    waiting: VecDeque<Request>,
}

impl Locks {
    /// Asks for `name`; returns the requests granted now (at most this one).
    pub fn request(&mut self, name: &str, req: Request) -> Vec<Request> {
        let lock = self.names.entry(name.to_string()).or_default();
        lock.waiting.push_back(req);
        Self::grant(lock)
    }

    fn grant(lock: &mut Lock) -> Vec<Request> {
        if lock.holder.is_none()
            && let Some(next) = lock.waiting.pop_front()
        {
            lock.holder = Some(next);
            return vec![next];
        }
        Vec::new()
    }

    /// The holder lets go; returns the request granted next.
    pub fn release(&mut self, req: Request) -> Vec<Request> {
        let mut granted = Vec::new();
        for lock in self.names.values_mut() {
            if lock.holder == Some(req) {
                lock.holder = None;
                granted.extend(Self::grant(lock));
            }
        }
        granted
    }

    /// Page `page` is gone; returns the requests granted because of it.
    pub fn drop_page(&mut self, page: u64) -> Vec<Request> {
        let mut granted = Vec::new();
        for lock in self.names.values_mut() {
            lock.waiting.retain(|(p, _)| *p != page);
            if lock.holder.is_some_and(|(p, _)| p == page) {
                lock.holder = None;
                granted.extend(Self::grant(lock));
            }
        }
        granted
    }

    /// Whether `page` holds or waits for a lock.
    pub fn involves(&self, page: u64) -> (bool, bool) {
        let held = self
            .names
            .values()
            .any(|l| l.holder.is_some_and(|(p, _)| p == page));
        let waits = self
            .names
            .values()
            .any(|l| l.waiting.iter().any(|(p, _)| *p == page));
        (held, waits)
    }

    /// Takes request `req` out of the queue it waits in (its request was aborted).
    pub fn withdraw(&mut self, req: Request) {
        for lock in self.names.values_mut() {
            lock.waiting.retain(|r| *r != req);
        }
    }

    /// The names held or waited for: what `navigator.locks.query()` lists to every page.
    pub fn listed(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|(_, l)| l.holder.is_some() || !l.waiting.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The page holding `name`.
    pub fn holder(&self, name: &str) -> Option<u64> {
        self.names.get(name)?.holder.map(|(p, _)| p)
    }
}

/// Per sender and receiver, when the last message is delivered: a later one never overtakes it.
#[derive(Debug, Default)]
pub struct Channel {
    last: BTreeMap<(u64, u64), u64>,
}

impl Channel {
    /// When a message from `from` posted now with `delay` reaches `to`.
    pub fn arrival(&mut self, from: u64, to: u64, now: u64, delay: u64) -> u64 {
        let last = self.last.entry((from, to)).or_insert(0);
        *last = (*last).max(now + delay);
        *last
    }

    pub fn forget(&mut self, page: u64) {
        self.last.retain(|(a, b), _| *a != page && *b != page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_has_one_holder_and_passes_in_order() {
        let mut l = Locks::default();
        assert_eq!(l.request("g", (1, 1)), [(1, 1)]);
        assert_eq!(l.request("g", (2, 1)), []);
        assert_eq!(l.request("g", (3, 1)), []);
        assert_eq!(
            l.request("h", (2, 2)),
            [(2, 2)],
            "another name is another lock"
        );
        assert_eq!(l.release((1, 1)), [(2, 1)]);
        assert_eq!(
            l.drop_page(2),
            [(3, 1)],
            "a closed page lets go of all it held"
        );
        assert_eq!(l.holder("g"), Some(3));
        assert_eq!(l.holder("h"), None);
    }

    #[test]
    fn messages_of_one_sender_keep_their_order() {
        let mut c = Channel::default();
        assert_eq!(c.arrival(1, 2, 100, 50), 150);
        assert_eq!(c.arrival(1, 2, 110, 5), 150, "not before the earlier one");
        assert_eq!(c.arrival(3, 2, 110, 5), 115, "another sender may overtake");
    }

    #[test]
    fn a_full_storage_refuses_writes_but_not_removals() {
        let mut s = Storage::default();
        s.set(keys::SESSION, "a".into()).unwrap();
        s.quota_full = true;
        assert!(s.set(keys::SESSION, "b".into()).is_err());
        assert_eq!(s.get(keys::SESSION), Some("a"));
        s.remove(keys::SESSION);
        assert_eq!(s.get(keys::SESSION), None);
    }
}
