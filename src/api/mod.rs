//! The RingCentral REST resources the account page shows: extension, account and call log.
//!
//! The types take only the fields the page displays and default everything else, so a response
//! with more (or fewer optional) fields than documented still renders. Paths and queries are built
//! here, purely, so they are tested on the host.

use rc_pkce_core::Timestamp;
use rc_pkce_core::url::form_encode;
use serde::Deserialize;

pub const EXTENSION_PATH: &str = "/account/~/extension/~";
pub const ACCOUNT_PATH: &str = "/account/~";
/// Rows per call-log page.
pub const CALLS_PER_PAGE: u32 = 25;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Contact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub business_phone: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Extension {
    pub extension_number: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub contact: Contact,
}

impl Extension {
    /// `name`, or the contact's first and last name.
    pub fn display_name(&self) -> String {
        if let Some(n) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            return n.to_string();
        }
        let parts: Vec<&str> = [
            self.contact.first_name.as_deref(),
            self.contact.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "(no name)".to_string()
        } else {
            parts.join(" ")
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Named {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceInfo {
    pub brand: Named,
    pub service_plan: Named,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Account {
    pub main_number: Option<String>,
    pub status: Option<String>,
    pub service_info: ServiceInfo,
    pub company_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Party {
    pub phone_number: Option<String>,
    pub extension_number: Option<String>,
    pub name: Option<String>,
    pub location: Option<String>,
}

impl Party {
    /// Name and number as one line: `Ada (+1 650 555 0100)`.
    pub fn describe(&self) -> String {
        let number = self
            .phone_number
            .as_deref()
            .or(self.extension_number.as_deref());
        match (self.name.as_deref().filter(|n| !n.is_empty()), number) {
            (Some(n), Some(p)) => format!("{n} ({p})"),
            (Some(n), None) => n.to_string(),
            (None, Some(p)) => p.to_string(),
            (None, None) => "unknown".to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CallRecord {
    pub id: Option<String>,
    pub start_time: Option<String>,
    pub duration: Option<u64>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub result: Option<String>,
    pub from: Party,
    pub to: Party,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Paging {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub total_pages: Option<u32>,
    pub total_elements: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Link {
    pub uri: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Navigation {
    pub next_page: Option<Link>,
    pub previous_page: Option<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CallLogPage {
    pub records: Vec<CallRecord>,
    pub paging: Paging,
    pub navigation: Navigation,
}

impl CallLogPage {
    pub fn has_next(&self) -> bool {
        self.navigation
            .next_page
            .as_ref()
            .is_some_and(|l| l.uri.is_some())
            || matches!((self.paging.page, self.paging.total_pages), (Some(p), Some(t)) if p < t)
    }
}

/// The date ranges the user can pick for the call log. RingCentral returns only the last 24 hours
/// unless `dateFrom` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    Day,
    Week,
    Month,
}

impl Range {
    pub const ALL: [Range; 3] = [Self::Day, Self::Week, Self::Month];

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "Last 24 hours",
            Self::Week => "Last 7 days",
            Self::Month => "Last 30 days",
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn days(self) -> u64 {
        match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 30,
        }
    }
}

/// `dateFrom` moves in steps of this size, so the same page keeps the same URL for a while: the
/// browser's CORS preflight cache is keyed by URL, and paging stays stable while the user browses.
pub const DATE_FROM_STEP_MS: u64 = 10 * 60 * 1000;

/// The call-log path for one page of a range ending `now`.
pub fn call_log_path(range: Range, page: u32, now: Timestamp) -> String {
    let start = now.minus_millis(range.days() * 86_400_000).as_millis();
    let date_from = Timestamp::from_millis(start - start % DATE_FROM_STEP_MS).to_rfc3339();
    let page = page.max(1).to_string();
    let per_page = CALLS_PER_PAGE.to_string();
    let query = form_encode([
        ("view", "Simple"),
        ("dateFrom", date_from.as_str()),
        ("page", page.as_str()),
        ("perPage", per_page.as_str()),
    ]);
    format!("{EXTENSION_PATH}/call-log?{query}")
}

/// `125` seconds → `2:05`, `3725` → `1:02:05`.
pub fn format_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rc_pkce_core::url::{parse_query, query_of};

    #[test]
    fn extension_from_ringcentral_json() {
        let e: Extension = serde_json::from_str(
            r#"{"id":62264425016,"uri":"https://x","extensionNumber":"101","name":"Ada Lovelace","type":"User","status":"Enabled",
            "contact":{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com","company":"Analytical Engines"},
            "permissions":{"admin":{"enabled":true}},"serviceFeatures":[{"featureName":"SMS","enabled":true}]}"#,
        )
        .unwrap();
        assert_eq!(e.display_name(), "Ada Lovelace");
        assert_eq!(e.extension_number.as_deref(), Some("101"));
        assert_eq!(e.contact.email.as_deref(), Some("ada@example.com"));
        let unnamed: Extension =
            serde_json::from_str(r#"{"contact":{"firstName":"Grace"}}"#).unwrap();
        assert_eq!(unnamed.display_name(), "Grace");
        assert_eq!(Extension::default().display_name(), "(no name)");
    }

    #[test]
    fn account_and_call_log_tolerate_missing_fields() {
        let a: Account = serde_json::from_str(r#"{"id":"1","mainNumber":"+16505550100","status":"Confirmed","serviceInfo":{"brand":{"id":"1210","name":"RingCentral"}}}"#).unwrap();
        assert_eq!(a.service_info.brand.name.as_deref(), Some("RingCentral"));
        let p: CallLogPage = serde_json::from_str(
            r#"{"records":[{"id":"a","startTime":"2026-11-26T14:03:11.000Z","duration":125,"direction":"Inbound","result":"Missed","from":{"phoneNumber":"+1","name":"Bob"},"to":{"extensionNumber":"101"}}],
               "paging":{"page":1,"perPage":25,"totalPages":2},"navigation":{"nextPage":{"uri":"https://x?page=2"}}}"#,
        )
        .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.records[0].from.describe(), "Bob (+1)");
        assert_eq!(p.records[0].to.describe(), "101");
        assert!(p.has_next());
        let empty: CallLogPage = serde_json::from_str("{}").unwrap();
        assert!(!empty.has_next());
    }

    #[test]
    fn call_log_query_passes_date_from() {
        let now = Timestamp::from_secs(1_800_000_000);
        let path = call_log_path(Range::Week, 2, now);
        assert!(path.starts_with("/account/~/extension/~/call-log?"));
        let q = parse_query(query_of(&path).unwrap());
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            get("dateFrom"),
            now.minus_millis(7 * 86_400_000).to_rfc3339()
        );
        assert_eq!(get("page"), "2");
        assert_eq!(get("perPage"), "25");
        assert_eq!(get("view"), "Simple");
        assert_eq!(
            call_log_path(Range::Day, 0, now),
            call_log_path(Range::Day, 1, now)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0), "0:00");
        assert_eq!(format_duration(125), "2:05");
        assert_eq!(format_duration(3725), "1:02:05");
    }

    #[test]
    fn ranges_round_trip() {
        for r in Range::ALL {
            assert_eq!(Range::from_id(r.id()), Some(r));
        }
    }
}
