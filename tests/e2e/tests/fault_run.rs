//! The fault run of issue 15, "No transient fault ever signs anyone out": a flaky network over
//! several token lifetimes, while the user reloads and moves between pages.
//!
//! The sandbox's random fault mode (`POST /__sandbox/faults/random`) fails a seeded share of the
//! refreshes and REST reads: connections closed without an answer, requests held past the app's
//! 30 s timeout, 503s and 429s. Meanwhile the test reloads the page and navigates between `/`,
//! `/account` and `/settings` (in-app links and full page loads) at seeded random moments, and
//! every 500 ms checks that the user is still signed in (the session record is stored, no
//! "session ended" or "signed out" notice, no lasting sign-in button), that the page is never
//! blank (the main element shows text), and that the sandbox never refused a refresh token (no
//! grant revoked, no refresh refused; a repeat inside its grace window gets the same pair). Once
//! the faults stop, the account page must show the user's name within a bounded time. It prints
//! one line of figures.
//!
//! The seed is fixed so that a failure can be replayed; `RC_PKCE_FAULT_SEED` picks another one and
//! `RC_PKCE_FAULT_LIFETIMES` makes the run longer (e.g. for a soak run on a workstation). The
//! request order depends on timing, so a seed fixes each target's sequence of faults, not the
//! exact run.

use std::time::{Duration, Instant};

use e2e::env::{Env, EnvOptions, USER_NAME, run};
use fantoccini::Locator;
use serde_json::{Value, json};

/// The default seed: its first refresh is reset (the failure of issue 15), and the REST reads
/// get every kind early on.
const DEFAULT_SEED: u64 = 17;
/// Access tokens live 20 s, so the app refreshes about every 10 s.
const ACCESS_TTL: u64 = 20;
/// How many access-token lifetimes the faults last by default.
const DEFAULT_LIFETIMES: u64 = 3;
/// The share of refreshes and REST reads that fail.
const PROBABILITY: f64 = 0.4;
/// A held request outlasts the app's 30 s timeout; each costs 30 s, so only this many.
const MAX_TIMEOUTS: u32 = 2;
const TIMEOUT_MS: u64 = 32_000;
/// `Retry-After` of the injected 429s (exposed to the app, so it honours it).
const RETRY_AFTER_SECS: u64 = 3;
/// How often the page and the sandbox are checked.
const POLL: Duration = Duration::from_millis(500);
/// The seeded pause between two reloads or navigations.
const ACTION_GAP_MS: (u64, u64) = (1_500, 5_000);
/// Once the faults stop, the account page shows the user's name within this.
const RECOVERY: Duration = Duration::from_secs(30);
/// The app's routes the test moves between.
const ROUTES: [&str; 3] = ["/", "/account", "/settings"];
/// Phrases of every notice that means the session is gone.
const SIGNED_OUT_PHRASES: [&str; 5] = [
    "Your session ended",
    "Your session expired",
    "You are signed out",
    "You signed out",
    "Sign-in failed",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// SplitMix64, for the test's own choices (when and where to go): seeded, so they repeat.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// What one look at the page found.
#[derive(Debug)]
struct Look {
    path: String,
    main_text: usize,
    session_stored: bool,
    sign_in_shown: bool,
    signed_out_notice: Option<String>,
    text: String,
}

/// Everything the page shows that matters, read in one script. `None` while a page is being
/// replaced (a reload or full navigation in progress) and the script could not run.
async fn look(env: &Env) -> Option<Look> {
    let script = "
        const main = document.querySelector('main');
        const button = document.querySelector('[data-testid=sign-in]');
        return {
            path: location.pathname,
            main: main ? main.innerText.trim().length : 0,
            session: sessionStorage.getItem('rc-pkce.session') !== null,
            signIn: !!(button && button.getClientRects().length > 0),
            text: document.body ? document.body.innerText : '',
        };";
    let v = env.browser.client.execute(script, vec![]).await.ok()?;
    let text = v["text"].as_str().unwrap_or_default().to_string();
    Some(Look {
        path: v["path"].as_str()?.to_string(),
        main_text: usize::try_from(v["main"].as_u64()?).ok()?,
        session_stored: v["session"].as_bool()?,
        sign_in_shown: v["signIn"].as_bool()?,
        signed_out_notice: SIGNED_OUT_PHRASES
            .iter()
            .find(|p| text.contains(*p))
            .map(|p| (*p).to_string()),
        text,
    })
}

/// The run's figures, printed at the end.
#[derive(Debug, Default)]
struct Figures {
    reloads: u32,
    in_app_navigations: u32,
    page_loads: u32,
    looks: u32,
    /// Looks that could not run because a page was being replaced.
    missed_looks: u32,
}

/// Checks one look and the sandbox's grant; panics naming what broke.
struct Watch {
    /// Consecutive looks that showed the sign-in button.
    sign_in_streak: u32,
    /// Consecutive looks that could not run.
    missed_streak: u32,
}

impl Watch {
    async fn check(&mut self, env: &Env, figures: &mut Figures, when: &str) {
        figures.looks += 1;
        let Some(look) = look(env).await else {
            figures.missed_looks += 1;
            self.missed_streak += 1;
            assert!(
                self.missed_streak < 20,
                "{when}: the page could not be read for 10 s"
            );
            return;
        };
        self.missed_streak = 0;
        assert!(
            look.main_text > 0,
            "{when}: blank page at {}: {:?}",
            look.path,
            look.text
        );
        assert!(
            look.signed_out_notice.is_none(),
            "{when}: signed out ({:?}) at {}:\n{}",
            look.signed_out_notice,
            look.path,
            look.text
        );
        assert!(
            look.session_stored,
            "{when}: the session record is gone at {}:\n{}",
            look.path, look.text
        );
        // `/` may show the sign-in button for a moment before it forwards a signed-in user.
        self.sign_in_streak = if look.sign_in_shown {
            self.sign_in_streak + 1
        } else {
            0
        };
        assert!(
            self.sign_in_streak < 3,
            "{when}: the sign-in button stays on {}:\n{}",
            look.path,
            look.text
        );
        let grants = env.grants().await;
        assert_eq!(grants.len(), 1, "{when}: one grant: {grants:#?}");
        assert_eq!(
            grants[0]["revoked"], false,
            "{when}: the grant was revoked (a refresh token presented twice?): {grants:#?}"
        );
    }
}

/// Reloads, or goes to another route with an in-app link or a full page load, as `choices` say.
async fn act(env: &Env, choices: &mut Choices, figures: &mut Figures) {
    let b = &env.browser;
    let current = url::Url::parse(&b.url().await).map(|u| u.path().to_string());
    let others: Vec<&str> = ROUTES
        .iter()
        .copied()
        .filter(|r| current.as_deref() != Ok(*r))
        .collect();
    let target = others[usize::try_from(choices.next() % others.len() as u64).unwrap_or(0)];
    match choices.next() % 100 {
        0..35 => {
            b.reload().await;
            figures.reloads += 1;
        }
        35..75 => {
            let link = format!("nav a[href=\"{target}\"]");
            let clicked = match b.client.find(Locator::Css(&link)).await {
                Ok(e) => e.click().await.is_ok(),
                Err(_) => false,
            };
            if clicked {
                figures.in_app_navigations += 1;
            } else {
                b.goto(&env.app(target)).await;
                figures.page_loads += 1;
            }
        }
        _ => {
            b.goto(&env.app(target)).await;
            figures.page_loads += 1;
        }
    }
}

/// Token requests the sandbox saw that are not code exchanges, i.e. refreshes (faulted ones are
/// logged with their grant type too).
fn refreshes(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|r| {
            r["path"] == "/restapi/oauth/token"
                && r["method"] == "POST"
                && r["grant_type"] == "refresh_token"
        })
        .collect()
}

/// Fails if the sandbox ever refused a refresh: with strict rotation that means a refresh token
/// was presented after it had been used (or the grant died for another reason).
fn assert_no_refused_refresh(log: &[Value], when: &str) {
    let refused: Vec<&Value> = refreshes(log)
        .into_iter()
        .filter(|r| r["error"] == "invalid_grant" || r["error_code"] == "OAU-211")
        .collect();
    assert!(
        refused.is_empty(),
        "{when}: refused refreshes: {refused:#?}"
    );
}

/// Arms (POST), reads (GET) or stops (DELETE, answering the final report) the random faults.
async fn random_faults(env: &Env, method: reqwest::Method, body: Option<Value>) -> Value {
    e2e::env::sandbox_admin(
        &env.http,
        env.sandbox.base_url(),
        method,
        "faults/random",
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transient_fault_ever_signs_anyone_out() {
    let seed = env_u64("RC_PKCE_FAULT_SEED", DEFAULT_SEED);
    let lifetimes = env_u64("RC_PKCE_FAULT_LIFETIMES", DEFAULT_LIFETIMES).max(1);
    let options = EnvOptions {
        access_ttl: ACCESS_TTL,
        expose_rate_limit_headers: true,
        // The test reloads at random moments, and a reload while a refresh's answer is on its way
        // loses that answer: no page can get it back, so the next page presents the refresh token
        // the server has just rotated out. RingCentral keeps it valid until about 10 s after the
        // new access token is first used (a repeat gets the same pair); the sandbox's window,
        // counted from the rotation, is stricter still. Without one (a CI run on 2026-12-03) the
        // run measured that collision, not the app's handling of faults.
        refresh_grace_secs: 10,
        ..Default::default()
    };
    run("fault_run", options, move |env| {
        Box::pin(async move {
            let b = &env.browser;
            let started = Instant::now();
            env.sign_in().await;
            random_faults(
                env,
                reqwest::Method::POST,
                Some(json!({
                    "seed": seed,
                    "probability": PROBABILITY,
                    "targets": ["refresh", "api-read"],
                    "kinds": ["reset", "timeout", "unavailable", "rate-limited"],
                    "timeout_ms": TIMEOUT_MS,
                    "retry_after_secs": RETRY_AFTER_SECS,
                    "limits": {"timeout": MAX_TIMEOUTS},
                    // No keep-alive (the default, spelt out): Chromium resends a request whose
                    // reused connection closed without an answer by itself, which would hide most
                    // resets from the app (the old sign-out rule then passes this run).
                    "close_connections": true,
                })),
            )
            .await;

            let mut choices = Choices(seed ^ 0x00E2_E000);
            let mut figures = Figures::default();
            let mut watch = Watch {
                sign_in_streak: 0,
                missed_streak: 0,
            };
            let faulty = Duration::from_secs(lifetimes * ACCESS_TTL);
            let faults_from = Instant::now();
            let mut next_action = faults_from
                + Duration::from_millis(choices.between(ACTION_GAP_MS.0, ACTION_GAP_MS.1));
            let mut polls: u64 = 0;
            while faults_from.elapsed() < faulty {
                if Instant::now() >= next_action {
                    act(env, &mut choices, &mut figures).await;
                    next_action = Instant::now()
                        + Duration::from_millis(choices.between(ACTION_GAP_MS.0, ACTION_GAP_MS.1));
                }
                watch.check(env, &mut figures, "with faults").await;
                polls += 1;
                if polls.is_multiple_of(8) {
                    assert_no_refused_refresh(&env.requests().await, "with faults");
                }
                tokio::time::sleep(POLL).await;
            }

            let report = random_faults(env, reqwest::Method::DELETE, None).await;
            assert_eq!(report["armed"], false, "{report}");
            // Like a user who saw errors and reloads: the account page, fresh.
            let recovering = Instant::now();
            b.goto(&env.app("/account")).await;
            figures.page_loads += 1;
            loop {
                watch.check(env, &mut figures, "after the faults").await;
                let name = b.client.find(Locator::Css("[data-testid=user-name]")).await;
                let shown = match name {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                if shown.contains(USER_NAME) {
                    break;
                }
                assert!(
                    recovering.elapsed() < RECOVERY,
                    "the account page did not show {USER_NAME:?} within {RECOVERY:?} of the \
                     faults stopping:\n{}",
                    b.page_text().await
                );
                tokio::time::sleep(POLL).await;
            }
            let recovered_in = recovering.elapsed();

            let log = env.requests().await;
            assert_no_refused_refresh(&log, "at the end");
            let grants = env.grants().await;
            assert_eq!(grants.len(), 1, "{grants:#?}");
            assert_eq!(grants[0]["revoked"], false, "{grants:#?}");
            assert_eq!(grants[0]["revoked_reason"], Value::Null, "{grants:#?}");
            let refresh_log = refreshes(&log);
            let answered = refresh_log.iter().filter(|r| r["status"] == 200).count();
            let faulted = refresh_log.iter().filter(|r| r["fault"] == true).count();
            // Every rotation the sandbox made was answered, and the app used each new token.
            assert_eq!(
                grants[0]["refresh_count"].as_u64(),
                Some(answered as u64),
                "{grants:#?}"
            );
            // The run did what it is for: refreshes over every lifetime, and faults on both.
            assert!(
                answered as u64 >= lifetimes,
                "only {answered} refreshes succeeded in {lifetimes} lifetimes"
            );
            let injected = |kind: &str| report["injected"][kind].as_u64().unwrap_or(0);
            let by_target = |target: &str| {
                report["by_target"][target]
                    .as_object()
                    .map_or(0, |o| o.values().filter_map(Value::as_u64).sum::<u64>())
            };
            assert!(by_target("refresh") > 0, "no refresh was faulted: {report}");
            assert!(by_target("api-read") > 0, "no read was faulted: {report}");
            assert!(figures.reloads + figures.page_loads + figures.in_app_navigations > 0);

            eprintln!(
                "fault run: seed {seed}, {lifetimes} lifetimes of {ACCESS_TTL} s, p {PROBABILITY}; \
                 faults injected: reset {}, timeout {}, 503 {}, 429 {} (refreshes {}, reads {}); \
                 refreshes seen by the sandbox {} ({} answered 200, {} faulted; drawn {}), \
                 reads drawn {}; reloads {}, in-app navigations {}, page loads {}; \
                 looks {} ({} during a page change); recovered in {:.1} s; total {:.1} s",
                injected("reset"),
                injected("timeout"),
                injected("unavailable"),
                injected("rate-limited"),
                by_target("refresh"),
                by_target("api-read"),
                refresh_log.len(),
                answered,
                faulted,
                report["seen"]["refresh"],
                report["seen"]["api-read"],
                figures.reloads,
                figures.in_app_navigations,
                figures.page_loads,
                figures.looks,
                figures.missed_looks,
                recovered_in.as_secs_f64(),
                started.elapsed().as_secs_f64(),
            );
        })
    })
    .await;
}
