//! The PKCE inspector as a picture: turns the recorded steps into a sequence diagram (lanes for
//! this tab, the authorization server and the REST API; an arrow per request, redirect and
//! answer), attaches the measured duration of each request from the browser's Resource Timing
//! entries, lays it out and writes the SVG text the app shows and copies.
//!
//! Pure: the browser side only hands in the entries it read. Secrets are masked unless the caller
//! asks to reveal them, in the drawing and so in the copy. The SVG names no colour: strokes and
//! text are `currentColor` and the rest are classes, so it follows the page's theme (dark mode)
//! and needs no inline style (the CSP allows none).

use std::fmt::Write;

use crate::inspector::{Field, Inspector, Step, StepKind};
use crate::time::Timestamp;

/// An entry is taken for a step only this close (ms) to the step's time: the first-load module
/// sends the token POST some seconds before the app records it, while a read of the same URL
/// minutes later is another request.
pub const MATCH_WINDOW_MS: f64 = 60_000.0;

/// Values longer than this are shortened in the drawing; the step list shows them whole.
const MAX_VALUE_CHARS: usize = 36;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Tab,
    AuthServer,
    Api,
}

impl Lane {
    pub const ALL: [Lane; 3] = [Lane::Tab, Lane::AuthServer, Lane::Api];

    pub fn name(self) -> &'static str {
        match self {
            Lane::Tab => "This tab",
            Lane::AuthServer => "Authorization server",
            Lane::Api => "REST API",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One name=value line under an item's title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub name: String,
    value: String,
    shown_masked: String,
    pub secret: bool,
}

impl Detail {
    fn of(field: &Field) -> Self {
        Self {
            name: field.name.clone(),
            value: shorten(&field.value),
            shown_masked: shorten(&field.masked()),
            secret: field.secret,
        }
    }

    /// The value as drawn.
    pub fn shown(&self, reveal: bool) -> &str {
        if reveal {
            &self.value
        } else {
            &self.shown_masked
        }
    }
}

/// What an item of the diagram draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A message between two lanes; `answer` ones are drawn dashed.
    Arrow { from: Lane, to: Lane, answer: bool },
    /// Work done in one lane (the PKCE derivation).
    Note(Lane),
}

/// One step of the inspector, as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Index of the step in [`Inspector::steps`]: the link between the arrow and the list.
    pub step: usize,
    pub shape: Shape,
    pub title: String,
    pub details: Vec<Detail>,
    /// Where the request went and when it was recorded, to find its timing entry.
    pub url: Option<String>,
    pub at: Option<Timestamp>,
    /// The measured duration of the request, when the browser has an entry for it.
    pub duration_ms: Option<f64>,
}

/// A Resource Timing entry as the browser reported it, with its start as wall-clock time.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceEntry {
    pub url: String,
    /// `timeOrigin + startTime`, milliseconds since the Unix epoch.
    pub start_ms: f64,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagram {
    pub items: Vec<Item>,
}

fn shape_of(kind: StepKind) -> Shape {
    use Lane::*;
    match kind {
        StepKind::Pkce | StepKind::IdToken => Shape::Note(Tab),
        StepKind::Authorize | StepKind::TokenRequest | StepKind::Revoke => Shape::Arrow {
            from: Tab,
            to: AuthServer,
            answer: false,
        },
        StepKind::Callback => Shape::Arrow {
            from: AuthServer,
            to: Tab,
            answer: false,
        },
        StepKind::TokenResponse => Shape::Arrow {
            from: AuthServer,
            to: Tab,
            answer: true,
        },
        StepKind::ApiRead => Shape::Arrow {
            from: Tab,
            to: Api,
            answer: false,
        },
    }
}

/// The fields worth a line in the drawing, by step kind (the step list has them all).
fn wanted(kind: StepKind) -> &'static [&'static str] {
    match kind {
        StepKind::Pkce => &["code_verifier", "code_challenge"],
        StepKind::Authorize => &["client_id", "state", "code_challenge"],
        StepKind::Callback => &["code", "state", "error"],
        StepKind::TokenRequest => &["code", "code_verifier", "refresh_token"],
        StepKind::TokenResponse => &["access_token", "refresh_token", "problem"],
        StepKind::ApiRead => &["Authorization", "status", "problem"],
        StepKind::Revoke => &["token", "status", "problem"],
        StepKind::IdToken => &["sub", "check signature"],
    }
}

fn details_of(step: &Step) -> Vec<Detail> {
    let names = wanted(step.kind);
    let picked: Vec<Detail> = step
        .fields
        .iter()
        .filter(|f| names.contains(&f.name.as_str()))
        .map(Detail::of)
        .collect();
    if picked.is_empty() {
        step.fields.iter().take(3).map(Detail::of).collect()
    } else {
        picked
    }
}

fn shorten(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= MAX_VALUE_CHARS {
        return value.to_string();
    }
    let head: String = chars[..22].iter().collect();
    let tail: String = chars[chars.len() - 12..].iter().collect();
    format!("{head}…{tail}")
}

impl Diagram {
    /// The diagram of the recorded steps, in their order.
    pub fn of(inspector: &Inspector) -> Self {
        let items = inspector
            .steps
            .iter()
            .enumerate()
            .map(|(step, s)| Item {
                step,
                shape: shape_of(s.kind),
                title: s.title.clone(),
                details: details_of(s),
                url: s.url.clone(),
                at: s.at,
                duration_ms: None,
            })
            .collect();
        Self { items }
    }

    /// Gives each request the duration of its Resource Timing entry: same URL, the nearest in
    /// time within [`MATCH_WINDOW_MS`], each entry used once. A request without one shows no time.
    pub fn with_timings(mut self, entries: &[ResourceEntry]) -> Self {
        let mut used = vec![false; entries.len()];
        for item in &mut self.items {
            let (Some(url), Some(at)) = (&item.url, item.at) else {
                continue;
            };
            let at = at.as_millis() as f64;
            let best = entries
                .iter()
                .enumerate()
                .filter(|(i, e)| !used[*i] && e.url == *url && e.duration_ms.is_finite())
                .map(|(i, e)| (i, distance(at, e)))
                .filter(|(_, d)| *d <= MATCH_WINDOW_MS)
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                used[i] = true;
                item.duration_ms = Some(entries[i].duration_ms.max(0.0));
            }
        }
        self
    }
}

/// How far `at` lies from the entry's span: a step is recorded when its request is sent (token
/// requests) or when its answer came (reads, revoke), both inside or at the ends of the span.
fn distance(at: f64, e: &ResourceEntry) -> f64 {
    let end = e.start_ms + e.duration_ms.max(0.0);
    if at < e.start_ms {
        e.start_ms - at
    } else if at > end {
        at - end
    } else {
        0.0
    }
}

/// The id of the arrow (or note) drawn for step `index`, and of that step in the list.
pub fn arrow_id(index: usize) -> String {
    format!("seq-arrow-{index}")
}

pub fn step_id(index: usize) -> String {
    format!("inspector-step-{index}")
}

/// The id of the SVG's `<title>`.
pub const TITLE_ID: &str = "seq-title";

/// The duration as shown next to a request. Integer arithmetic: float formatting would add its
/// tables (about 15 KB) to the app for two digits.
pub fn format_duration(ms: f64) -> String {
    let ms = ms.max(0.0).round() as u64;
    if ms >= 1000 {
        format!("{}.{:02} s", ms / 1000, ms % 1000 / 10)
    } else {
        format!("{ms} ms")
    }
}

// Layout, in SVG user units (px at 100%).
const LANE_GAP: u32 = 300;
const MARGIN: u32 = 180;
const HEAD_Y: u32 = 12;
const HEAD_H: u32 = 34;
const HEAD_W: u32 = 190;
const FIRST_Y: u32 = 72;
const LINE: u32 = 15;
const ITEM_GAP: u32 = 18;

fn lane_x(lane: Lane) -> u32 {
    MARGIN + LANE_GAP * lane.index() as u32
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Diagram {
    /// The SVG text: what the page shows and the copy button copies. With `reveal` false every
    /// secret is masked.
    pub fn svg(&self, reveal: bool) -> String {
        let width = MARGIN * 2 + LANE_GAP * 2;
        let mut body = String::new();
        let mut y = FIRST_Y;
        for item in &self.items {
            y = draw_item(&mut body, item, y, reveal);
        }
        let height = y + 10;
        let mut svg = String::new();
        let _ = write!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence-svg\" role=\"img\" \
             aria-labelledby=\"{TITLE_ID}\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"system-ui, sans-serif\" \
             font-size=\"12\" fill=\"currentColor\" stroke=\"none\">"
        );
        let _ = write!(
            svg,
            "<title id=\"{TITLE_ID}\">Sequence diagram of the sign-in: {} steps between this tab, \
             the authorization server and the REST API{}. The numbered step list is the same in words.</title>",
            self.items.len(),
            if reveal {
                ", secrets shown"
            } else {
                ", secrets masked"
            }
        );
        for lane in Lane::ALL {
            let x = lane_x(lane);
            let _ = write!(
                svg,
                "<g class=\"seq-lane\"><rect x=\"{}\" y=\"{HEAD_Y}\" width=\"{HEAD_W}\" height=\"{HEAD_H}\" \
                 rx=\"6\" fill=\"none\" stroke=\"currentColor\"/>\
                 <text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"600\">{}</text>\
                 <line class=\"seq-lifeline\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{height}\" \
                 stroke=\"currentColor\" stroke-opacity=\"0.4\" stroke-dasharray=\"3 4\"/></g>",
                x - HEAD_W / 2,
                HEAD_Y + HEAD_H / 2 + 4,
                esc(lane.name()),
                HEAD_Y + HEAD_H,
            );
        }
        svg.push_str(&body);
        svg.push_str("</svg>");
        svg
    }
}

/// Draws `item` from `y` down; returns where the next one starts.
fn draw_item(out: &mut String, item: &Item, y: u32, reveal: bool) -> u32 {
    let n = item.step + 1;
    let lines = 1 + item.details.len() as u32;
    let (cx, anchor_x) = match item.shape {
        Shape::Arrow { from, to, .. } => (lane_x(from).midpoint(lane_x(to)), None),
        Shape::Note(lane) => (lane_x(lane), Some(lane_x(lane))),
    };
    let secret_class = if item.details.iter().any(|d| d.secret) {
        if reveal {
            " seq-revealed"
        } else {
            " seq-masked"
        }
    } else {
        ""
    };
    let kind = match item.shape {
        Shape::Arrow { answer: true, .. } => "seq-arrow seq-answer",
        Shape::Arrow { .. } => "seq-arrow",
        Shape::Note(_) => "seq-note",
    };
    let _ = write!(
        out,
        "<g id=\"{}\" class=\"{kind}{secret_class}\" data-step=\"{}\">",
        arrow_id(item.step),
        item.step
    );
    let text_top = if anchor_x.is_some() { y + 8 } else { y };
    let time = item
        .duration_ms
        .map(|ms| {
            format!(
                " <tspan class=\"seq-time\" font-weight=\"400\">· {}</tspan>",
                format_duration(ms)
            )
        })
        .unwrap_or_default();
    let _ = write!(
        out,
        "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"600\">{n}. {}{time}</text>",
        text_top + LINE - 3,
        esc(&item.title)
    );
    for (i, d) in item.details.iter().enumerate() {
        let class = if d.secret {
            "seq-detail seq-secret"
        } else {
            "seq-detail"
        };
        let _ = write!(
            out,
            "<text class=\"{class}\" x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\" \
             font-family=\"ui-monospace, monospace\">{}={}</text>",
            text_top + LINE * (i as u32 + 2) - 3,
            esc(&d.name),
            esc(d.shown(reveal))
        );
    }
    let next = match item.shape {
        Shape::Arrow { from, to, answer } => {
            let line_y = y + LINE * lines + 6;
            let (x1, x2) = (lane_x(from), lane_x(to));
            // Stop short of the lifeline so the head's tip touches it.
            let (tip, back) = if x2 > x1 {
                (x2 - 1, x2 - 10)
            } else {
                (x2 + 1, x2 + 10)
            };
            let dash = if answer {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<line x1=\"{x1}\" y1=\"{line_y}\" x2=\"{back}\" y2=\"{line_y}\" stroke=\"currentColor\" \
                 stroke-width=\"1.5\"{dash}/><polygon points=\"{tip},{line_y} {back},{} {back},{}\" \
                 fill=\"currentColor\"/>",
                line_y - 5,
                line_y + 5
            );
            line_y + ITEM_GAP
        }
        Shape::Note(lane) => {
            let h = LINE * lines + 12;
            let w = 340;
            let _ = write!(
                out,
                "<rect class=\"seq-note-box\" x=\"{}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"4\" \
                 fill=\"none\" stroke=\"currentColor\" stroke-opacity=\"0.6\"/>",
                lane_x(lane) - w / 2
            );
            y + h + ITEM_GAP
        }
    };
    out.push_str("</g>");
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::TokenSet;

    fn started() -> crate::authorize::Started {
        crate::authorize::testing::started(7)
    }

    const TOKEN_URL: &str = "http://127.0.0.1:5001/restapi/oauth/token";
    const READ_URL: &str = "http://127.0.0.1:5001/restapi/v1.0/account/~/extension/~";

    /// A whole sign-in: PKCE, authorize, callback, token request and answer, a read, a refresh,
    /// the revoke.
    fn signed_in() -> (Inspector, String) {
        let s = started();
        let verifier = s.pending.verifier.expose().to_string();
        let mut i = Inspector::start(&s, Timestamp::from_millis(1_000));
        i.push(
            Step::callback(&[
                ("code".into(), "the-one-time-code-0123".into()),
                ("state".into(), "state-value-0123456789".into()),
            ]),
            Timestamp::from_millis(5_000),
        );
        let mut request = Step {
            kind: StepKind::TokenRequest,
            title: "POST /token (grant_type=authorization_code)".into(),
            fields: vec![
                Field::new("grant_type", "authorization_code", false),
                Field::new("code", "the-one-time-code-0123", true),
                Field::new("code_verifier", verifier.clone(), true),
            ],
            at: None,
            url: None,
        };
        request = request.with_url(TOKEN_URL);
        i.push(request, Timestamp::from_millis(5_010));
        let tokens: Result<TokenSet, _> = crate::token::read_token_answer(
            200,
            None,
            br#"{"access_token":"AT-secret-access-token-value-abcdef","token_type":"bearer","expires_in":3600,"refresh_token":"RT-secret-refresh-token-value-abcdef","refresh_token_expires_in":604800,"scope":"ReadAccounts"}"#,
            Timestamp::from_millis(5_200),
        );
        assert!(tokens.is_ok(), "{tokens:?}");
        i.push(Step::token_response(&tokens), Timestamp::from_millis(5_200));
        i.push(
            Step::api_read(
                READ_URL,
                "/restapi/v1.0/account/~/extension/~",
                "AT-secret-access-token-value-abcdef",
                &Ok(200),
            ),
            Timestamp::from_millis(5_400),
        );
        let refresh = Step {
            kind: StepKind::TokenRequest,
            title: "POST /token (grant_type=refresh_token)".into(),
            fields: vec![
                Field::new("grant_type", "refresh_token", false),
                Field::new(
                    "refresh_token",
                    "RT-secret-refresh-token-value-abcdef",
                    true,
                ),
            ],
            at: None,
            url: Some(TOKEN_URL.into()),
        };
        i.push(refresh, Timestamp::from_millis(900_000));
        i.push(
            Step::revoke(
                "http://127.0.0.1:5001/restapi/oauth/revoke",
                &crate::token::RevokeRequest::Refresh {
                    token: crate::secret::RefreshToken::new(
                        "RT-secret-refresh-token-value-abcdef".to_string(),
                    ),
                    client_id: "demo".into(),
                }
                .form_body(),
                &Ok(200),
            ),
            Timestamp::from_millis(1_000_000),
        );
        (i, verifier)
    }

    #[test]
    fn every_step_is_an_item_in_its_lanes() {
        let (i, _) = signed_in();
        let d = Diagram::of(&i);
        assert_eq!(d.items.len(), i.steps.len());
        let shapes: Vec<_> = d.items.iter().map(|it| it.shape).collect();
        use Lane::*;
        let arrow = |from, to, answer| Shape::Arrow { from, to, answer };
        assert_eq!(
            shapes,
            [
                Shape::Note(Tab),
                arrow(Tab, AuthServer, false),
                arrow(AuthServer, Tab, false),
                arrow(Tab, AuthServer, false),
                arrow(AuthServer, Tab, true),
                arrow(Tab, Api, false),
                arrow(Tab, AuthServer, false),
                arrow(Tab, AuthServer, false),
            ]
        );
        let svg = d.svg(false);
        for n in 0..i.steps.len() {
            assert!(svg.contains(&format!("id=\"{}\"", arrow_id(n))), "{n}");
        }
        assert_eq!(svg.matches("<polygon").count(), i.steps.len() - 1);
        assert_eq!(svg.matches("stroke-dasharray=\"6 4\"").count(), 1);
    }

    #[test]
    fn secrets_are_masked_unless_revealed() {
        let (i, verifier) = signed_in();
        let d = Diagram::of(&i);
        let masked = d.svg(false);
        for secret in [
            verifier.as_str(),
            "the-one-time-code-0123",
            "AT-secret-access-token",
            "RT-secret-refresh-token",
        ] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        assert!(masked.contains("seq-masked"));
        let revealed = d.svg(true);
        assert!(revealed.contains("the-one-time-code-0123"));
        assert!(revealed.contains(&verifier[..20]));
        // Reads and the revoke never had their token recorded, revealed or not.
        assert!(!revealed.contains("AT-secret-access-token-value-abcdef\""));
        assert!(
            !revealed.contains("Bearer AT-secret"),
            "the bearer token is kept masked"
        );
    }

    #[test]
    fn timings_match_by_url_and_time_and_missing_ones_show_nothing() {
        let (i, _) = signed_in();
        let entries = [
            // The first-load module sent the code a moment before the app recorded it.
            ResourceEntry {
                url: TOKEN_URL.into(),
                start_ms: 4_000.0,
                duration_ms: 180.4,
            },
            ResourceEntry {
                url: READ_URL.into(),
                start_ms: 5_250.0,
                duration_ms: 150.0,
            },
            // The refresh: same URL, much later.
            ResourceEntry {
                url: TOKEN_URL.into(),
                start_ms: 900_001.0,
                duration_ms: 1_234.0,
            },
            ResourceEntry {
                url: "http://localhost:5000/config.json".into(),
                start_ms: 900_001.0,
                duration_ms: 9.0,
            },
        ];
        let d = Diagram::of(&i).with_timings(&entries);
        let times: Vec<_> = d.items.iter().map(|it| it.duration_ms).collect();
        assert_eq!(
            times,
            [
                None,
                None,
                None,
                Some(180.4),
                None,
                Some(150.0),
                Some(1_234.0),
                None
            ]
        );
        let svg = d.svg(false);
        assert!(svg.contains("· 180 ms"));
        assert!(svg.contains("· 1.23 s"));
        assert_eq!(format_duration(1_005.0), "1.00 s");
        assert_eq!(format_duration(0.4), "0 ms");
        // Too far away in time: no match.
        let far = [ResourceEntry {
            url: TOKEN_URL.into(),
            start_ms: 500_000.0,
            duration_ms: 10.0,
        }];
        assert!(
            Diagram::of(&i)
                .with_timings(&far)
                .items
                .iter()
                .all(|it| it.duration_ms.is_none())
        );
    }

    #[test]
    fn the_svg_names_no_colour_and_has_no_inline_style() {
        let (i, _) = signed_in();
        let svg = Diagram::of(&i).svg(true);
        assert!(!svg.contains("style"));
        assert!(!svg.contains('#'), "no colour literal or fragment: {svg}");
        assert!(svg.contains("class=\"sequence-svg\""));
        assert!(svg.contains(&format!("aria-labelledby=\"{TITLE_ID}\"")));
        assert!(svg.contains("role=\"img\""));
    }

    #[test]
    fn text_is_escaped_and_long_values_shortened() {
        let mut i = Inspector::default();
        i.push(
            Step::callback(&[(
                "error_description".into(),
                "<script>&\"x\"</script> and a very long tail of words".into(),
            )]),
            Timestamp::from_millis(1),
        );
        let svg = Diagram::of(&i).svg(false);
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;x&quot;"));
        assert!(svg.contains('…'));
    }

    #[test]
    fn an_empty_record_is_still_a_drawing() {
        let svg = Diagram::of(&Inspector::default()).svg(false);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("seq-lane").count(), 3);
    }
}
