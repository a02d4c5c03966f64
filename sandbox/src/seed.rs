//! Seeded data: two users in two companies and a deterministic call log for each.
//!
//! Nothing here is random, so tests can count: every user gets [`CALLS_PER_USER`] records, of which
//! exactly [`CALLS_LAST_24H`] start within the 24 hours before the sandbox started (they are kept at
//! least four hours inside that window so that a test's own run time cannot move one across it) and
//! the rest between 26 hours and 30 days back.

/// Records seeded per user.
pub const CALLS_PER_USER: usize = 48;
/// Records per user that start less than 24 hours before the sandbox's start time.
pub const CALLS_LAST_24H: usize = 12;
/// Of [`CALLS_PER_USER`], how many are `Inbound` (the rest are `Outbound`).
pub const INBOUND_PER_USER: usize = 26;
/// Of [`CALLS_PER_USER`], how many are `Fax` (the rest are `Voice`).
pub const FAX_PER_USER: usize = 8;

/// A user who can sign in, with the extension data the REST API serves for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Sign-in name, compared case-insensitively.
    pub email: String,
    pub password: String,
    /// The extension id: `owner_id` in token responses, `id` of `extension/~`.
    pub extension_id: u64,
    pub extension_number: String,
    pub first_name: String,
    pub last_name: String,
    pub business_phone: String,
    pub mobile_phone: String,
    pub job_title: String,
    pub department: String,
    /// IANA name and RingCentral's description, e.g. `America/Los_Angeles`, `Pacific Time (US & Canada)`.
    pub timezone: (String, String),
    pub account: Account,
}

impl User {
    /// "First Last", as RingCentral's `name` field.
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// The company account a user's extension belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: u64,
    pub company: String,
    pub main_number: String,
    pub operator_extension_id: u64,
    pub operator_extension_number: String,
    pub service_plan: String,
    pub edition: String,
}

/// The seeded users: `demo@example.com` / `demo-password` and `second@example.com` / `second-password`.
pub fn users() -> Vec<User> {
    vec![
        User {
            email: "demo@example.com".into(),
            password: "demo-password".into(),
            extension_id: 62_912_345_008,
            extension_number: "101".into(),
            first_name: "Dana".into(),
            last_name: "Whitfield".into(),
            business_phone: "+16505550101".into(),
            mobile_phone: "+16505550191".into(),
            job_title: "Operations Lead".into(),
            department: "Operations".into(),
            timezone: (
                "America/Los_Angeles".into(),
                "Pacific Time (US & Canada)".into(),
            ),
            account: Account {
                id: 37_439_510_008,
                company: "Northwind Analytics".into(),
                main_number: "+16505550100".into(),
                operator_extension_id: 62_912_345_008,
                operator_extension_number: "101".into(),
                service_plan: "RingEX Advanced".into(),
                edition: "Advanced".into(),
            },
        },
        User {
            email: "second@example.com".into(),
            password: "second-password".into(),
            extension_id: 71_804_552_004,
            extension_number: "201".into(),
            first_name: "Marcus".into(),
            last_name: "Ortega".into(),
            business_phone: "+13125550201".into(),
            mobile_phone: "+13125550291".into(),
            job_title: "Logistics Coordinator".into(),
            department: "Dispatch".into(),
            timezone: (
                "America/Chicago".into(),
                "Central Time (US & Canada)".into(),
            ),
            account: Account {
                id: 41_126_870_004,
                company: "Bluefin Logistics".into(),
                main_number: "+13125550200".into(),
                operator_extension_id: 71_804_550_004,
                operator_extension_number: "100".into(),
                service_plan: "RingEX Standard".into(),
                edition: "Standard".into(),
            },
        },
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "Inbound",
            Self::Outbound => "Outbound",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallType {
    Voice,
    Fax,
}

impl CallType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Voice => "Voice",
            Self::Fax => "Fax",
        }
    }
}

/// One end of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub phone_number: String,
    pub name: Option<String>,
    pub location: Option<String>,
}

/// One call-log record, independent of the URL it is served under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub id: String,
    pub session_id: String,
    pub telephony_session_id: String,
    /// Epoch milliseconds, whole seconds.
    pub start_ms: i64,
    pub duration_secs: u32,
    pub call_type: CallType,
    pub direction: Direction,
    pub action: &'static str,
    pub result: &'static str,
    pub from: Party,
    pub to: Party,
    pub transport: &'static str,
}

/// The outside parties calls go to and come from.
const CONTACTS: [(Option<&str>, &str, &str); 10] = [
    (Some("Priya Raman"), "+14085550143", "San Jose, CA"),
    (Some("Tom Becker"), "+12125550178", "New York, NY"),
    (Some("Lucia Fernandes"), "+13125550112", "Chicago, IL"),
    (Some("Wei Zhang"), "+12065550167", "Seattle, WA"),
    (Some("Amara Okafor"), "+16175550134", "Boston, MA"),
    (None, "+18005550199", "Toll Free"),
    (Some("Jonas Lindqvist"), "+13035550156", "Denver, CO"),
    (Some("Grace Kim"), "+15035550121", "Portland, OR"),
    (Some("Omar Haddad"), "+17135550187", "Houston, TX"),
    (Some("Sofia Rossi"), "+13055550145", "Miami, FL"),
];

/// (type, direction, action, result, transport, base duration) for each slot of a repeating pattern
/// of 12 (6 inbound, 6 outbound, 2 fax), adjusted per record by [`pattern_for`].
const PATTERN: [(CallType, Direction, &str, &str, &str, u32); 12] = [
    (
        CallType::Voice,
        Direction::Inbound,
        "Phone Call",
        "Accepted",
        "PSTN",
        184,
    ),
    (
        CallType::Voice,
        Direction::Outbound,
        "VoIP Call",
        "Call connected",
        "VoIP",
        412,
    ),
    (
        CallType::Voice,
        Direction::Inbound,
        "Phone Call",
        "Missed",
        "PSTN",
        0,
    ),
    (
        CallType::Voice,
        Direction::Outbound,
        "VoIP Call",
        "No Answer",
        "VoIP",
        32,
    ),
    (
        CallType::Voice,
        Direction::Inbound,
        "Phone Call",
        "Voicemail",
        "PSTN",
        27,
    ),
    (
        CallType::Fax,
        Direction::Inbound,
        "Incoming Fax",
        "Received",
        "PSTN",
        48,
    ),
    (
        CallType::Voice,
        Direction::Outbound,
        "RingOut PC",
        "Call connected",
        "PSTN",
        95,
    ),
    (
        CallType::Voice,
        Direction::Inbound,
        "Phone Call",
        "Rejected",
        "PSTN",
        3,
    ),
    (
        CallType::Voice,
        Direction::Outbound,
        "VoIP Call",
        "Busy",
        "VoIP",
        5,
    ),
    (
        CallType::Fax,
        Direction::Outbound,
        "Outgoing Fax",
        "Sent",
        "PSTN",
        61,
    ),
    (
        CallType::Voice,
        Direction::Inbound,
        "Phone Call",
        "Accepted",
        "VoIP",
        736,
    ),
    (
        CallType::Voice,
        Direction::Outbound,
        "VoIP Call",
        "Call connected",
        "VoIP",
        248,
    ),
];

/// The call log of the `user_index`-th user, newest first, relative to `start_ms` (the sandbox's
/// start time). Deterministic: the same inputs always give the same records.
pub fn call_log(user_index: usize, user: &User, start_ms: i64) -> Vec<CallRecord> {
    let start_s = start_ms.div_euclid(1000);
    let me = Party {
        phone_number: user.business_phone.clone(),
        name: Some(user.full_name()),
        location: None,
    };
    let salt = user_index as i64 + 1;
    (0..CALLS_PER_USER)
        .map(|i| {
            let n = i as i64;
            // The newest CALLS_LAST_24H are 10 min .. ~17.6 h old; the rest 26 h .. ~29.6 days.
            let age_s = if i < CALLS_LAST_24H {
                600 + n * 5_700 + salt * 37
            } else {
                26 * 3_600 + (n - CALLS_LAST_24H as i64) * 68_400 + salt * 911 + (n * 7_919) % 3_600
            };
            let (call_type, direction, action, result, transport, base) = pattern_for(i);
            let duration = if base == 0 {
                0
            } else {
                base + ((i as u32 * 13) % 40)
            };
            let (name, number, location) = CONTACTS[(i * 7 + user_index * 3) % CONTACTS.len()];
            let other = Party {
                phone_number: number.to_owned(),
                name: name.map(str::to_owned),
                location: Some(location.to_owned()),
            };
            let (from, to) = match direction {
                Direction::Inbound => (other, me.clone()),
                Direction::Outbound => (me.clone(), other),
            };
            let serial = (user_index as u64 + 1) * 1_000_000 + i as u64;
            CallRecord {
                id: format!("Y3WlQ{serial:010}Ab"),
                session_id: format!("{}", 40_215_000_000u64 + serial * 17),
                telephony_session_id: format!("s-a0d7c{serial:012x}Z"),
                start_ms: (start_s - age_s) * 1000,
                duration_secs: duration,
                call_type,
                direction,
                action,
                result,
                from,
                to,
                transport,
            }
        })
        .collect()
}

/// The pattern slot for record `i`, with a few swaps so that the per-user totals are exactly
/// [`INBOUND_PER_USER`] inbound and [`FAX_PER_USER`] fax records.
fn pattern_for(
    i: usize,
) -> (
    CallType,
    Direction,
    &'static str,
    &'static str,
    &'static str,
    u32,
) {
    // 48 records = 4 rounds of the 12-slot pattern: 6 inbound and 2 fax per round gives 24 / 8.
    // Two extra inbound voice calls (slots 11 of the first two rounds) bring inbound to 26.
    if i % 12 == 11 && i < 24 {
        return (
            CallType::Voice,
            Direction::Inbound,
            "Phone Call",
            "Accepted",
            "PSTN",
            141,
        );
    }
    PATTERN[i % 12]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_log_is_deterministic_and_counts_hold() {
        let users = users();
        let start = 1_790_000_000_123;
        for (i, u) in users.iter().enumerate() {
            let a = call_log(i, u, start);
            assert_eq!(a, call_log(i, u, start));
            assert_eq!(a.len(), CALLS_PER_USER);
            let day = 24 * 3_600_000;
            let recent = a.iter().filter(|r| r.start_ms > start - day).count();
            assert_eq!(recent, CALLS_LAST_24H);
            // Kept well inside or outside the window.
            let hour = 3_600_000;
            assert!(a.iter().all(
                |r| start - r.start_ms < day - 4 * hour || start - r.start_ms >= day + 2 * hour
            ));
            assert!(
                a.iter()
                    .all(|r| r.start_ms > start - 30 * day && r.start_ms < start)
            );
            assert!(
                a.windows(2).all(|w| w[0].start_ms > w[1].start_ms),
                "newest first"
            );
            let inbound = a
                .iter()
                .filter(|r| r.direction == Direction::Inbound)
                .count();
            assert_eq!(inbound, INBOUND_PER_USER);
            let fax = a.iter().filter(|r| r.call_type == CallType::Fax).count();
            assert_eq!(fax, FAX_PER_USER);
            assert!(a.iter().all(|r| r.start_ms % 1000 == 0));
            let results: std::collections::BTreeSet<_> = a.iter().map(|r| r.result).collect();
            assert!(results.len() >= 7, "mixed results: {results:?}");
        }
        let ids_a: Vec<_> = call_log(0, &users[0], start)
            .into_iter()
            .map(|r| r.id)
            .collect();
        let ids_b: Vec<_> = call_log(1, &users[1], start)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert!(ids_a.iter().all(|id| !ids_b.contains(id)));
    }
}
