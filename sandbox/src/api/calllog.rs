//! The call log: query parsing, the date window, filtering, paging, and RingCentral's JSON shape.
//!
//! Pure functions over the seeded records, so the rules are unit-tested without a server. As at
//! RingCentral, `dateTo` defaults to now and `dateFrom` to 24 hours before `dateTo`; both bounds
//! are inclusive. Records are served newest first.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::errors::ApiError;
use crate::form::Params;
use crate::seed::{CallRecord, CallType, Direction, Party};

pub const DEFAULT_PER_PAGE: u64 = 100;
pub const MAX_PER_PAGE: u64 = 1000;
const DAY_MS: i64 = 24 * 3_600_000;

/// A parsed call-log request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub page: u64,
    pub per_page: u64,
    pub date_from_ms: i64,
    pub date_to_ms: i64,
    /// Empty = any.
    pub directions: Vec<Direction>,
    /// Empty = any.
    pub types: Vec<CallType>,
    /// `withRecording=true`: the seed has no recordings, so nothing matches.
    pub with_recording: bool,
}

/// Parses an ISO 8601 date-time: RFC 3339 with an offset or `Z`, a date-time without offset (UTC),
/// or a bare date (midnight UTC). Returns epoch milliseconds.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let to_ms = |dt: OffsetDateTime| i64::try_from(dt.unix_timestamp_nanos() / 1_000_000).ok();
    if let Ok(dt) = OffsetDateTime::parse(text, &Rfc3339) {
        return to_ms(dt);
    }
    let local = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(dt) = PrimitiveDateTime::parse(text, local) {
        return to_ms(dt.assume_utc());
    }
    let date = format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(text, date) {
        return to_ms(d.midnight().assume_utc());
    }
    None
}

/// Epoch milliseconds as RingCentral writes them: `2026-11-26T14:03:11.000Z`.
pub fn format_datetime(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|dt| dt.format(format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_owned())
}

fn single<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, ApiError> {
    params
        .get(name)
        .map_err(|_| ApiError::bad_parameter(name, "(sent more than once)"))
}

fn positive(params: &Params, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match single(params, name)? {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_parameter(name, v)),
        },
    }
}

pub fn parse_query(params: &Params, now_ms: i64) -> Result<Query, ApiError> {
    let page = positive(params, "page", 1, u64::from(u32::MAX))?;
    let per_page = positive(params, "perPage", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let date = |name| -> Result<Option<i64>, ApiError> {
        match single(params, name)? {
            None => Ok(None),
            Some(v) => parse_datetime(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad_parameter(name, v)),
        }
    };
    let date_to_ms = date("dateTo")?.unwrap_or(now_ms);
    let date_from_ms = date("dateFrom")?.unwrap_or(date_to_ms - DAY_MS);
    if date_from_ms > date_to_ms {
        let shown = single(params, "dateFrom")?.unwrap_or_default();
        return Err(ApiError::bad_parameter("dateFrom", shown));
    }
    let directions = params
        .all("direction")
        .into_iter()
        .map(|v| match v {
            "Inbound" => Ok(Direction::Inbound),
            "Outbound" => Ok(Direction::Outbound),
            _ => Err(ApiError::bad_parameter("direction", v)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types = params
        .all("type")
        .into_iter()
        .map(|v| match v {
            "Voice" => Ok(CallType::Voice),
            "Fax" => Ok(CallType::Fax),
            _ => Err(ApiError::bad_parameter("type", v)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    match single(params, "view")? {
        None | Some("Simple" | "Detailed") => {}
        Some(v) => return Err(ApiError::bad_parameter("view", v)),
    }
    let with_recording = match single(params, "withRecording")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => return Err(ApiError::bad_parameter("withRecording", v)),
    };
    Ok(Query {
        page,
        per_page,
        date_from_ms,
        date_to_ms,
        directions,
        types,
        with_recording,
    })
}

/// One page of matching records and the total number of matches.
#[derive(Debug)]
pub struct Page<'a> {
    pub records: Vec<&'a CallRecord>,
    pub total: u64,
}

pub fn select<'a>(records: &'a [CallRecord], q: &Query) -> Page<'a> {
    let matching: Vec<&CallRecord> = records
        .iter()
        .filter(|r| r.start_ms >= q.date_from_ms && r.start_ms <= q.date_to_ms)
        .filter(|r| q.directions.is_empty() || q.directions.contains(&r.direction))
        .filter(|r| q.types.is_empty() || q.types.contains(&r.call_type))
        .filter(|_| !q.with_recording)
        .collect();
    let total = matching.len() as u64;
    let skip =
        usize::try_from(q.page.saturating_sub(1).saturating_mul(q.per_page)).unwrap_or(usize::MAX);
    let take = usize::try_from(q.per_page).unwrap_or(usize::MAX);
    Page {
        records: matching.into_iter().skip(skip).take(take).collect(),
        total,
    }
}

fn party(p: &Party) -> Value {
    let mut v = json!({ "phoneNumber": p.phone_number });
    if let Some(name) = &p.name {
        v["name"] = Value::from(name.as_str());
    }
    if let Some(location) = &p.location {
        v["location"] = Value::from(location.as_str());
    }
    v
}

/// The JSON of one record; `base` is the extension's call-log URL.
pub fn record_json(r: &CallRecord, base: &str) -> Value {
    json!({
        "uri": format!("{base}/{}?view=Simple", r.id),
        "id": r.id,
        "sessionId": r.session_id,
        "telephonySessionId": r.telephony_session_id,
        "startTime": format_datetime(r.start_ms),
        "duration": r.duration_secs,
        "type": r.call_type.as_str(),
        "internalType": if r.call_type == CallType::Fax { "Fax" } else { "Local" },
        "direction": r.direction.as_str(),
        "action": r.action,
        "result": r.result,
        "to": party(&r.to),
        "from": party(&r.from),
        "transport": r.transport,
        "lastModifiedTime": format_datetime(r.start_ms + i64::from(r.duration_secs) * 1000 + 4_000),
    })
}

/// The full response: `uri`, `records`, `paging` and `navigation`, with absolute URIs that keep
/// the request's other parameters.
pub fn page_json(page: &Page<'_>, q: &Query, base: &str, params: &Params) -> Value {
    let page_uri = |n: u64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params
            .pairs()
            .iter()
            .filter(|(k, _)| k != "page" && k != "perPage")
        {
            query.append_pair(k, v);
        }
        query.append_pair("page", &n.to_string());
        query.append_pair("perPage", &q.per_page.to_string());
        json!({ "uri": format!("{base}?{}", query.finish()) })
    };
    let total_pages = page.total.div_ceil(q.per_page);
    let mut paging = json!({
        "page": q.page,
        "totalPages": total_pages,
        "perPage": q.per_page,
        "totalElements": page.total,
    });
    if !page.records.is_empty() {
        let start = (q.page - 1) * q.per_page;
        paging["pageStart"] = Value::from(start);
        paging["pageEnd"] = Value::from(start + page.records.len() as u64 - 1);
    }
    let mut navigation = json!({ "firstPage": page_uri(1) });
    if q.page < total_pages {
        navigation["nextPage"] = page_uri(q.page + 1);
    }
    if q.page > 1 {
        navigation["previousPage"] = page_uri((q.page - 1).min(total_pages.max(1)));
    }
    if total_pages > 0 {
        navigation["lastPage"] = page_uri(total_pages);
    }
    json!({
        "uri": page_uri(q.page)["uri"],
        "records": page.records.iter().map(|r| record_json(r, base)).collect::<Vec<_>>(),
        "paging": paging,
        "navigation": navigation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::{
        CALLS_LAST_24H, CALLS_PER_USER, FAX_PER_USER, INBOUND_PER_USER, call_log, users,
    };

    const NOW: i64 = 1_795_000_000_000;

    fn query(q: &str) -> Result<Query, ApiError> {
        parse_query(&Params::from_query(q), NOW)
    }

    fn log() -> Vec<CallRecord> {
        call_log(0, &users()[0], NOW)
    }

    #[test]
    fn datetime_formats() {
        assert_eq!(
            parse_datetime("2026-11-26T14:03:11.000Z"),
            Some(1_795_701_791_000)
        );
        assert_eq!(
            parse_datetime("2026-11-26T15:03:11+01:00"),
            Some(1_795_701_791_000)
        );
        assert_eq!(
            parse_datetime("2026-11-26T14:03:11"),
            Some(1_795_701_791_000)
        );
        assert_eq!(parse_datetime("2026-11-26"), Some(1_795_651_200_000));
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2026-13-01"), None);
        assert_eq!(
            format_datetime(1_795_701_791_000),
            "2026-11-26T14:03:11.000Z"
        );
    }

    #[test]
    fn defaults_are_last_24_hours_first_page_of_100() {
        let q = query("").unwrap();
        assert_eq!(
            (q.page, q.per_page, q.date_to_ms, q.date_from_ms),
            (1, 100, NOW, NOW - DAY_MS)
        );
        let records = log();
        let page = select(&records, &q);
        assert_eq!(page.total, CALLS_LAST_24H as u64);
    }

    #[test]
    fn filters() {
        let records = log();
        let month = format!("dateFrom={}", format_datetime(NOW - 31 * DAY_MS));
        let all = select(&records, &query(&month).unwrap());
        assert_eq!(all.total, CALLS_PER_USER as u64);
        let inbound = select(
            &records,
            &query(&format!("{month}&direction=Inbound")).unwrap(),
        );
        assert_eq!(inbound.total, INBOUND_PER_USER as u64);
        let both = select(
            &records,
            &query(&format!("{month}&direction=Inbound&direction=Outbound")).unwrap(),
        );
        assert_eq!(both.total, CALLS_PER_USER as u64);
        let fax = select(&records, &query(&format!("{month}&type=Fax")).unwrap());
        assert_eq!(fax.total, FAX_PER_USER as u64);
        let recorded = select(
            &records,
            &query(&format!("{month}&withRecording=true")).unwrap(),
        );
        assert_eq!(recorded.total, 0);
    }

    #[test]
    fn paging_and_navigation() {
        let records = log();
        let q = query(&format!(
            "dateFrom={}&perPage=20&page=2",
            format_datetime(NOW - 31 * DAY_MS)
        ))
        .unwrap();
        let page = select(&records, &q);
        assert_eq!(page.records.len(), 20);
        assert_eq!(page.records[0].id, records[20].id);
        let v = page_json(
            &page,
            &q,
            "http://h/cl",
            &Params::from_query("perPage=20&page=2&dateFrom=x"),
        );
        assert_eq!(v["paging"]["totalPages"], 3);
        assert_eq!(v["paging"]["pageStart"], 20);
        assert_eq!(v["paging"]["pageEnd"], 39);
        assert_eq!(v["paging"]["totalElements"], 48);
        assert_eq!(
            v["navigation"]["nextPage"]["uri"],
            "http://h/cl?dateFrom=x&page=3&perPage=20"
        );
        assert_eq!(
            v["navigation"]["previousPage"]["uri"],
            "http://h/cl?dateFrom=x&page=1&perPage=20"
        );
        assert_eq!(
            v["navigation"]["lastPage"]["uri"],
            "http://h/cl?dateFrom=x&page=3&perPage=20"
        );
        let last = Query {
            page: 3,
            ..q.clone()
        };
        assert_eq!(select(&records, &last).records.len(), 8);
        let beyond = Query { page: 9, ..q };
        let empty = select(&records, &beyond);
        assert!(empty.records.is_empty());
        let v = page_json(&empty, &beyond, "http://h/cl", &Params::default());
        assert!(v["paging"].get("pageStart").is_none());
        assert!(v["navigation"].get("nextPage").is_none());
    }

    #[test]
    fn bad_parameters_are_named() {
        for (q, name) in [
            ("dateFrom=yesterday", "dateFrom"),
            ("dateTo=2026-02-30", "dateTo"),
            ("page=0", "page"),
            ("page=abc", "page"),
            ("perPage=1001", "perPage"),
            ("direction=Sideways", "direction"),
            ("type=Sms", "type"),
            ("view=Full", "view"),
            ("page=1&page=2", "page"),
            ("dateFrom=2026-11-27&dateTo=2026-11-26", "dateFrom"),
        ] {
            let err = query(q).err().map(|e| e.body());
            assert_eq!(
                err.as_ref()
                    .map(|b| b["errors"][0]["parameterName"].clone()),
                Some(Value::from(name)),
                "{q}"
            );
            assert_eq!(
                err.map(|b| b["errors"][0]["errorCode"].clone()),
                Some(Value::from("CMN-101"))
            );
        }
    }
}
