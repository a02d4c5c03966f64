//! The simulator's own promises: a seed replays exactly, a fixed batch of seeds breaks no
//! invariant on the real code while it exercises the paths that matter, every planted bug is
//! found in seconds, and a failure shrinks to a shorter schedule that still fails.

use std::time::{Duration, Instant};

use sim::sim::Config;
use sim::tab::Plant;

fn traced(seed: u64, steps: u64) -> (u64, Vec<String>) {
    let mut cfg = Config::new(seed, steps);
    cfg.trace = true;
    let (outcome, sim) = sim::run_seed(cfg);
    assert!(outcome.violation.is_none(), "{:?}", outcome.violation);
    (outcome.hash, sim.trace.lines().to_vec())
}

#[test]
fn a_seed_replays_exactly() {
    let (hash, lines) = traced(7, 3000);
    let (again, lines_again) = traced(7, 3000);
    assert_eq!(hash, again);
    assert_eq!(lines, lines_again);
    assert!(lines.len() > 1000, "the trace says what happened");
    let (other, _) = traced(8, 3000);
    assert_ne!(hash, other, "another seed is another run");
    // The hash is kept without the trace too, and agrees with itself.
    let (quiet, _) = sim::run_seed(Config::new(7, 3000));
    let (quiet_again, _) = sim::run_seed(Config::new(7, 3000));
    assert_eq!(quiet.hash, quiet_again.hash);
}

/// The batch `cargo xtask test` runs: fixed seeds, no violation, and the interesting paths seen.
#[test]
fn a_fixed_batch_of_seeds_breaks_no_invariant() {
    let started = Instant::now();
    let b = sim::batch(&Config::new(1, 0), 1, 3000, 300_000, 2, None);
    if let Some(f) = &b.failure {
        panic!(
            "seed {} broke {:?}; replay with `cargo xtask sim --seed {}`",
            f.seed, f.violation, f.seed
        );
    }
    assert_eq!((b.seeds, b.steps), (100, 300_000));
    for path in [
        "codes exchanged",
        "refreshes carried out",
        "exits: own sign-out",
        "exits: signed out in another tab",
        "exits: refresh lost in transit",
        "exits: refresh token expired",
        "exits: server refused, session limit",
        "exits: server refused, token reuse",
        "justified: ... of which the presenter's own timed-out refresh",
        "justified: code sent again after a failure without any answer",
        "faults: answer later than the timeout",
        "faults: page killed",
        "faults: storage quota full",
        "sleeps",
    ] {
        assert!(b.stats.get(path) > 0, "the batch never saw {path:?}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn every_planted_bug_is_found_in_seconds() {
    for (name, invariant) in [
        ("release-early", "two_refreshes_in_flight"),
        ("skip-ask", "refresh_token_reused"),
        ("drop-long-wake", "lost_wake_up"),
    ] {
        let mut cfg = Config::new(1, 0);
        cfg.plant = Plant::parse(name).unwrap();
        let started = Instant::now();
        let b = sim::batch(&cfg, 1, 5000, 500_000, 1, None);
        let failure = b.failure.unwrap_or_else(|| panic!("{name} went unnoticed"));
        assert_eq!(failure.violation.unwrap().name, invariant, "{name}");
        assert!(b.steps < 50_000, "{name} took {} steps", b.steps);
        assert!(started.elapsed() < Duration::from_secs(10), "{name}");
    }
}

#[test]
fn a_failure_shrinks_to_a_shorter_schedule_that_still_fails_and_replays() {
    let mut cfg = Config::new(3, 5000);
    cfg.plant = Plant::SkipAsk;
    // A replay budget, not a time budget: the result does not depend on the machine's load.
    let report = sim::investigate(&cfg, 1500, Duration::from_secs(600)).expect("seed 3 fails");
    assert_eq!(report.violation.name, "refresh_token_reused");
    assert!(
        report.shrunk_steps * 2 < report.step,
        "{} steps shrunk only to {}",
        report.step,
        report.shrunk_steps
    );
    assert!(
        report
            .shrunk_trace
            .iter()
            .any(|l| l.contains("RefreshReuse"))
    );
    // The saved schedule replays to the same violation.
    let mut replay_cfg = cfg.clone();
    replay_cfg.steps = report.shrunk_steps;
    let (violation, _) = sim::replay_schedule(&replay_cfg, &report.schedule_text());
    assert_eq!(violation.map(|v| v.name), Some("refresh_token_reused"));
}
