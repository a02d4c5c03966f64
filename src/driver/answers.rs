//! Answers that arrived before anyone asked for them, each taken once by the request it answers.
//!
//! The driver starts the account page's first reads as soon as the sign-in is through, before the
//! page exists; the page then takes those answers instead of asking again. An entry is found only
//! by the identity of the request it answers (method, URL, credential), so a read made with other
//! tokens never gets an answer meant for old ones, and it is dropped when it is older than
//! [`MAX_AGE_MS`]: a page opened later asks anew.

use std::collections::HashMap;

use rc_pkce_core::Timestamp;

use crate::platform::RequestKey;

/// An answer older than this is not used.
pub const MAX_AGE_MS: u64 = 30_000;

/// The cache; `V` is whatever stands for the answer (in the driver: a channel it arrives on).
pub struct TakeOnce<V> {
    entries: HashMap<RequestKey, (Timestamp, V)>,
}

impl<V> Default for TakeOnce<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<V> TakeOnce<V> {
    /// Keeps `answer` for the request `key`, replacing an older one.
    pub fn insert(&mut self, key: RequestKey, at: Timestamp, answer: V) {
        self.entries.insert(key, (at, answer));
    }

    /// The answer for `key`, if there is one younger than [`MAX_AGE_MS`]; never twice.
    pub fn take(&mut self, key: &RequestKey, now: Timestamp) -> Option<V> {
        self.entries
            .retain(|_, (at, _)| at.millis_until(now) < MAX_AGE_MS);
        self.entries.remove(key).map(|(_, v)| v)
    }

    /// Drops everything (sign-out: no answer for the old tokens may be used).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_800_000_000);

    fn key(url: &str, token: &str) -> RequestKey {
        RequestKey {
            method: "GET",
            url: url.into(),
            credential: token.into(),
        }
    }

    #[test]
    fn an_answer_is_taken_once_and_only_by_its_own_request() {
        let mut cache = TakeOnce::default();
        cache.insert(key("/ext", "AT1"), T0, 1);
        assert_eq!(cache.take(&key("/ext", "AT2"), T0), None, "other tokens");
        assert_eq!(cache.take(&key("/acct", "AT1"), T0), None, "other URL");
        let post = RequestKey {
            method: "POST",
            ..key("/ext", "AT1")
        };
        assert_eq!(cache.take(&post, T0), None, "other method");
        assert_eq!(cache.take(&key("/ext", "AT1"), T0), Some(1));
        assert_eq!(cache.take(&key("/ext", "AT1"), T0), None, "taken once");
    }

    #[test]
    fn old_answers_are_not_used() {
        let mut cache = TakeOnce::default();
        cache.insert(key("/ext", "AT"), T0, 1);
        cache.insert(key("/acct", "AT"), T0, 2);
        assert_eq!(
            cache.take(&key("/ext", "AT"), T0.plus_millis(MAX_AGE_MS - 1)),
            Some(1)
        );
        assert_eq!(
            cache.take(&key("/acct", "AT"), T0.plus_millis(MAX_AGE_MS)),
            None
        );
        assert!(cache.is_empty());
        cache.insert(key("/ext", "AT"), T0, 3);
        cache.clear();
        assert_eq!(cache.take(&key("/ext", "AT"), T0), None);
    }
}
