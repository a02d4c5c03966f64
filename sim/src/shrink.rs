//! Shrinking a failing run: its schedule is the list of draws it made; shorter and smaller lists
//! are replayed, and kept while the same invariant still breaks. First runs of steps are made
//! ordinary (all their draws 0: the next event, no fault, the shortest delay), then whole steps
//! are deleted (halves, quarters ... single steps), then single draws are lowered to 0 or
//! halved. Every kept candidate is replaced by the draws its replay really used, so later
//! passes work on a clean schedule.

use std::time::{Duration, Instant};

use crate::rng::Source;
use crate::sim::{Config, Sim};

/// A schedule and the step at which it broke the invariant.
#[derive(Debug, Clone)]
pub struct Failing {
    pub draws: Vec<u64>,
    pub step_starts: Vec<usize>,
    pub step: u64,
}

/// Replays `draws` for at most `max_steps` steps; `Some` when invariant `name` breaks.
pub fn replay(cfg: &Config, draws: Vec<u64>, max_steps: u64, name: &str) -> Option<Failing> {
    let mut cfg = cfg.clone();
    cfg.steps = max_steps;
    cfg.trace = false;
    let mut sim = Sim::with_source(cfg, Source::replay(draws, true));
    match sim.run() {
        Err(v) if v.name == name => Some(Failing {
            draws: sim.src.recorded().unwrap_or_default().to_vec(),
            step_starts: sim.src.step_starts().to_vec(),
            step: sim.step,
        }),
        _ => None,
    }
}

/// Shrinks `failing` (which breaks `name`) with at most `max_replays` replays and within
/// `budget` of wall time; returns the smallest schedule found and how many replays it took. With
/// a budget that is not reached, the result depends on the schedule alone.
pub fn shrink(
    cfg: &Config,
    failing: Failing,
    name: &str,
    max_replays: usize,
    budget: Duration,
) -> (Failing, usize) {
    let started = Instant::now();
    let mut best = failing;
    let mut tries = 0;
    let out_of_time = |tries: usize| started.elapsed() > budget || tries >= max_replays;
    // Rounds of the passes below, while a round makes the schedule smaller.
    loop {
        let before = (best.draws.len(), best.draws.iter().sum::<u64>());
        best = round(cfg, best, name, &mut tries, &out_of_time);
        let after = (best.draws.len(), best.draws.iter().sum::<u64>());
        if after >= before || out_of_time(tries) {
            return (best, tries);
        }
    }
}

/// One round: make runs of steps ordinary, delete runs of steps, lower single draws.
fn round(
    cfg: &Config,
    failing: Failing,
    name: &str,
    tries: &mut usize,
    out_of_time: &impl Fn(usize) -> bool,
) -> Failing {
    let mut best = failing;
    let out_of_time = |tries: &mut usize| out_of_time(*tries);
    // Make runs of steps ordinary (every draw 0: the next event, no fault, the shortest delay);
    // this keeps the draws after them where they were.
    let mut size = best.step_starts.len().div_ceil(2).max(1);
    while !out_of_time(tries) {
        let mut i = 0;
        while i < best.step_starts.len() && !out_of_time(tries) {
            let from = best.step_starts[i];
            let to = best
                .step_starts
                .get(i + size)
                .copied()
                .unwrap_or(best.draws.len())
                .min(best.draws.len());
            if best.draws[from..to].iter().all(|v| *v == 0) {
                i += size;
                continue;
            }
            let mut candidate = best.draws.clone();
            candidate[from..to].iter_mut().for_each(|v| *v = 0);
            *tries += 1;
            match replay(cfg, candidate, best.step + 50, name) {
                Some(f) => best = f,
                None => i += size,
            }
        }
        if size == 1 {
            break;
        }
        size /= 2;
    }
    // Delete runs of whole steps.
    let mut size = best.step_starts.len().div_ceil(2).max(1);
    while size >= 1 && !out_of_time(tries) {
        let mut i = 0;
        let mut progressed = false;
        while i < best.step_starts.len() && !out_of_time(tries) {
            let starts = &best.step_starts;
            let from = starts[i];
            let to = starts.get(i + size).copied().unwrap_or(best.draws.len());
            let mut candidate = best.draws[..from].to_vec();
            candidate.extend_from_slice(&best.draws[to.min(best.draws.len())..]);
            *tries += 1;
            match replay(cfg, candidate, best.step + 50, name) {
                Some(f) if f.draws.len() < best.draws.len() => {
                    best = f;
                    progressed = true;
                }
                _ => i += size,
            }
        }
        if !progressed {
            if size == 1 {
                break;
            }
            size /= 2;
        }
    }
    // Lower single draws.
    let mut i = 0;
    while i < best.draws.len() && !out_of_time(tries) {
        let v = best.draws[i];
        let mut kept = false;
        for lower in [0, v / 2] {
            if lower >= v {
                continue;
            }
            let mut candidate = best.draws.clone();
            candidate[i] = lower;
            *tries += 1;
            if let Some(f) = replay(cfg, candidate, best.step + 50, name) {
                best = f;
                kept = true;
                break;
            }
        }
        if !kept {
            i += 1;
        }
    }
    best
}
