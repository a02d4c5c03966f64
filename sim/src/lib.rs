//! A deterministic simulator for rc-pkce's session logic, in the manner of FoundationDB's and
//! TigerBeetle's: the core is sans-I/O, so whole browsers full of tabs, a network that loses
//! and delays, a laptop that sleeps and a server that rotates and revokes can run on one
//! simulated clock, driven by one seed, with every invariant checked after every step.
//!
//! The modules:
//! - [`rng`]: the seeded source of every choice, recordable and replayable;
//! - [`world`]: the clock and the event queue;
//! - [`browser`]: tabs' `sessionStorage`, Web Locks, the broadcast channel's delays;
//! - [`tab`]: one page load, the core's session and tab coordinator wired as the app wires them;
//! - [`server`]: the server model, RingCentral's rules written for the simulator;
//! - [`schedule`]: the user actions and faults, and each seed's settings;
//! - [`sim`]: one run, step by step;
//! - [`invariants`]: the named checks;
//! - [`shrink`]: shrinking a failing schedule;
//! - [`trace`]: the readable trace and the run's hash.

// The core's `ApiError` is what the app passes around by value too (see the app's `lib.rs`).
#![allow(clippy::result_large_err)]

pub mod browser;
pub mod invariants;
pub mod rng;
pub mod schedule;
pub mod server;
pub mod shrink;
pub mod sim;
pub mod tab;
pub mod trace;
pub mod world;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use invariants::{Stats, Violation};
use sim::{Config, Sim};

/// How one seed's run ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub seed: u64,
    pub steps: u64,
    /// Simulated time covered, in ms.
    pub sim_ms: u64,
    pub violation: Option<Violation>,
    pub stats: Stats,
    pub hash: u64,
}

/// Runs one seed.
pub fn run_seed(cfg: Config) -> (Outcome, Sim) {
    let mut sim = Sim::new(cfg);
    let violation = sim.run().err();
    let outcome = Outcome {
        seed: sim.cfg.seed,
        steps: sim.step,
        sim_ms: sim.elapsed(),
        violation,
        stats: sim.checker.stats.clone(),
        hash: sim.trace.hash(),
    };
    (outcome, sim)
}

/// What a batch of seeds did.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub seeds: u64,
    pub steps: u64,
    pub sim_ms: u64,
    pub stats: Stats,
    /// The failing run with the smallest seed, if any.
    pub failure: Option<Outcome>,
    pub wall: Duration,
}

/// Runs seeds `first..` of `steps_per_seed` steps on `jobs` threads until `total_steps` are done
/// or `deadline` passes, stopping at the first violation.
pub fn batch(
    template: &Config,
    first: u64,
    steps_per_seed: u64,
    total_steps: u64,
    jobs: usize,
    deadline: Option<Duration>,
) -> Batch {
    let started = Instant::now();
    let seeds_needed = total_steps.div_ceil(steps_per_seed.max(1)).max(1);
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let result = Mutex::new(Batch::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::Relaxed)
                        || deadline.is_some_and(|d| started.elapsed() > d)
                    {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= seeds_needed {
                        break;
                    }
                    let mut cfg = template.clone();
                    cfg.seed = first + i;
                    cfg.steps = steps_per_seed;
                    let (outcome, _) = run_seed(cfg);
                    let mut b = result.lock().unwrap_or_else(|e| e.into_inner());
                    b.seeds += 1;
                    b.steps += outcome.steps;
                    b.sim_ms += outcome.sim_ms;
                    b.stats.merge(&outcome.stats);
                    if outcome.violation.is_some() {
                        stop.store(true, Ordering::Relaxed);
                        if b.failure.as_ref().is_none_or(|f| f.seed > outcome.seed) {
                            b.failure = Some(outcome);
                        }
                    }
                }
            });
        }
    });
    let mut b = result.into_inner().unwrap_or_else(|e| e.into_inner());
    b.wall = started.elapsed();
    b
}

/// A failure explained: the seed, the shrunk schedule's trace, and the end of the original one.
pub struct Report {
    pub violation: Violation,
    pub seed: u64,
    pub step: u64,
    pub shrunk_draws: Vec<u64>,
    pub shrunk_steps: u64,
    pub shrunk_trace: Vec<String>,
    pub shrunk_state: String,
    pub original_tail: Vec<String>,
    pub replays: usize,
}

/// Replays a failing seed with recording, shrinks its schedule (at most `max_replays` replays,
/// within `budget`) and traces both.
pub fn investigate(cfg: &Config, max_replays: usize, budget: Duration) -> Option<Report> {
    let mut cfg = cfg.clone();
    cfg.record = true;
    cfg.trace = true;
    let (outcome, sim) = run_seed(cfg.clone());
    let violation = outcome.violation?;
    let failing = shrink::Failing {
        draws: sim.src.recorded().unwrap_or_default().to_vec(),
        step_starts: sim.src.step_starts().to_vec(),
        step: sim.step,
    };
    let lines = sim.trace.lines();
    let original_tail = lines[lines.len().saturating_sub(60)..].to_vec();
    let (best, replays) = shrink::shrink(&cfg, failing, violation.name, max_replays, budget);
    let mut shrunk_cfg = cfg.clone();
    shrunk_cfg.steps = best.step;
    shrunk_cfg.record = false;
    let mut replay = Sim::with_source(shrunk_cfg, rng::Source::replay(best.draws.clone(), false));
    let shrunk_violation = replay.run().err().unwrap_or(violation.clone());
    Some(Report {
        violation: shrunk_violation,
        seed: cfg.seed,
        step: outcome.steps,
        shrunk_draws: best.draws,
        shrunk_steps: best.step,
        shrunk_trace: replay.trace.lines().to_vec(),
        shrunk_state: replay.describe(),
        original_tail,
        replays,
    })
}

/// Replays a saved schedule (as written by [`Report::schedule_text`]).
pub fn replay_schedule(cfg: &Config, text: &str) -> (Option<Violation>, Sim) {
    let draws: Vec<u64> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|t| t.parse().ok())
        .collect();
    let mut cfg = cfg.clone();
    cfg.trace = true;
    let mut sim = Sim::with_source(cfg, rng::Source::replay(draws, false));
    let v = sim.run().err();
    (v, sim)
}

impl Report {
    /// The shrunk schedule as text `--replay` reads.
    pub fn schedule_text(&self) -> String {
        let list: Vec<String> = self.shrunk_draws.iter().map(u64::to_string).collect();
        list.join(",")
    }
}
