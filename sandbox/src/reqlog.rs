//! The request log: one entry per request received (admin calls excepted), for tests to inspect.
//!
//! Entries carry what a test needs to prove behaviour (which grant type, which error code, whether a
//! preflight happened, whether two requests overlapped in real time) and nothing secret: the query
//! string is redacted, bodies are never read, and `authorization` is only the scheme. This is the
//! log itself; `middleware::reqlog` fills it.

use serde::Serialize;

/// Oldest entries are dropped beyond this many, so a long-running sandbox stays small.
pub const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub grant_type: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub grant_id: Option<String>,
    pub origin: Option<String>,
    pub authorization: Option<String>,
    pub fault: bool,
    pub started_us: u64,
    pub finished_us: u64,
}

#[derive(Debug)]
pub struct RequestLog {
    next_seq: u64,
    entries: Vec<LogEntry>,
}

impl Default for RequestLog {
    fn default() -> Self {
        Self {
            next_seq: 1,
            entries: Vec::new(),
        }
    }
}

impl RequestLog {
    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub fn push(&mut self, entry: LogEntry) {
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.remove(0);
        }
        self.entries.push(entry);
    }

    /// Entries in arrival order (requests are added when they finish).
    pub fn entries(&self) -> Vec<LogEntry> {
        let mut out = self.entries.clone();
        out.sort_by_key(|e| e.seq);
        out
    }

    /// Empties the log; numbering starts again at 1.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_restarts_after_clear() {
        let mut log = RequestLog::default();
        assert_eq!(log.next_seq(), 1);
        assert_eq!(log.next_seq(), 2);
        log.clear();
        assert_eq!(log.next_seq(), 1);
    }
}
