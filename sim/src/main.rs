//! `sim`: runs seeds of the simulator and reports what they covered, or the first violation
//! with its seed, a shrunk schedule and a readable trace. `cargo xtask sim` runs it.

use std::process::ExitCode;
use std::time::Duration;

use sim::sim::Config;
use sim::tab::Plant;

const USAGE: &str = "\
usage: sim [options]
  --seed N              run only seed N (replays it exactly); with --trace, print its trace
  --steps N             steps in all (default 1000000), or of the one seed (default 5000)
  --steps-per-seed N    steps of each seed in a batch (default 5000)
  --first-seed N        the batch's first seed (default 1)
  --seconds S           stop the batch after S seconds of wall time
  --jobs N              threads (default: the machine's cores)
  --plant NAME          break the page wiring on purpose: release-early, skip-ask, drop-long-wake
  --channel-delay-ms N  the longest a message between tabs takes (default 90)
  --replay FILE         replay a shrunk schedule written by a failure (with --seed)
  --trace               print the trace of a single seed
  --quiet               print only the summary line";

struct Args {
    seed: Option<u64>,
    steps: Option<u64>,
    steps_per_seed: u64,
    first_seed: u64,
    seconds: Option<u64>,
    jobs: usize,
    plant: Plant,
    channel_delay: u64,
    replay: Option<String>,
    trace: bool,
    quiet: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        seed: None,
        steps: None,
        steps_per_seed: 5000,
        first_seed: 1,
        seconds: None,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        plant: Plant::None,
        channel_delay: 90,
        replay: None,
        trace: false,
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--seed" => a.seed = Some(number(value()?)?),
            "--steps" => a.steps = Some(number(value()?)?),
            "--steps-per-seed" => a.steps_per_seed = number(value()?)?.max(1),
            "--first-seed" => a.first_seed = number(value()?)?,
            "--seconds" => a.seconds = Some(number(value()?)?),
            "--jobs" => a.jobs = number(value()?)?.max(1) as usize,
            "--channel-delay-ms" => a.channel_delay = number(value()?)?,
            "--plant" => {
                let v = value()?;
                a.plant = Plant::parse(&v).ok_or_else(|| {
                    format!(
                        "unknown plant {v:?}; plants are: {}",
                        Plant::NAMES.join(", ")
                    )
                })?;
            }
            "--replay" => a.replay = Some(value()?),
            "--trace" => a.trace = true,
            "--quiet" => a.quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("sim: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    let mut cfg = Config::new(a.seed.unwrap_or(a.first_seed), 0);
    cfg.plant = a.plant;
    cfg.max_channel_delay_ms = a.channel_delay;
    if let Some(file) = &a.replay {
        return replay(&cfg, file, a.steps.unwrap_or(1_000_000));
    }
    match a.seed {
        Some(seed) => single(&cfg, seed, a.steps.unwrap_or(5000), a.trace),
        None => many(&cfg, &a),
    }
}

fn replay(cfg: &Config, file: &str, steps: u64) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("sim: {file}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = cfg.clone();
    cfg.steps = steps;
    let (violation, sim) = sim::replay_schedule(&cfg, &text);
    for line in sim.trace.lines() {
        println!("{line}");
    }
    match violation {
        Some(v) => {
            println!("violation {}: {}", v.name, v.detail);
            ExitCode::FAILURE
        }
        None => {
            println!("no violation");
            ExitCode::SUCCESS
        }
    }
}

fn single(cfg: &Config, seed: u64, steps: u64, trace: bool) -> ExitCode {
    let mut cfg = cfg.clone();
    cfg.seed = seed;
    cfg.steps = steps;
    cfg.trace = trace;
    let started = std::time::Instant::now();
    let (outcome, sim) = sim::run_seed(cfg.clone());
    if trace {
        for line in sim.trace.lines() {
            println!("{line}");
        }
        print!("{}", sim.describe());
    }
    println!(
        "seed {seed}: {} steps, {} simulated, {:.2} s, trace hash {:016x}",
        outcome.steps,
        sim::trace::clock(outcome.sim_ms),
        started.elapsed().as_secs_f64(),
        outcome.hash
    );
    print_stats(&outcome.stats);
    match outcome.violation {
        None => {
            println!("0 violations");
            ExitCode::SUCCESS
        }
        Some(_) => {
            explain(&cfg);
            ExitCode::FAILURE
        }
    }
}

fn many(cfg: &Config, a: &Args) -> ExitCode {
    let total = a.steps.unwrap_or(1_000_000);
    let deadline = a.seconds.map(Duration::from_secs);
    let b = sim::batch(cfg, a.first_seed, a.steps_per_seed, total, a.jobs, deadline);
    let secs = b.wall.as_secs_f64();
    if !a.quiet {
        print_stats(&b.stats);
    }
    println!(
        "{} steps over {} seeds ({}..{}), {} simulated, in {secs:.1} s on {} threads: {:.0} steps/s",
        b.steps,
        b.seeds,
        a.first_seed,
        a.first_seed + b.seeds.saturating_sub(1),
        sim::trace::clock(b.sim_ms),
        a.jobs,
        b.steps as f64 / secs.max(1e-9)
    );
    match b.failure {
        None => {
            println!("0 violations");
            ExitCode::SUCCESS
        }
        Some(f) => {
            let mut cfg = cfg.clone();
            cfg.seed = f.seed;
            cfg.steps = a.steps_per_seed;
            explain(&cfg);
            ExitCode::FAILURE
        }
    }
}

fn print_stats(stats: &sim::invariants::Stats) {
    for (what, n) in &stats.counts {
        println!("  {n:>10}  {what}");
    }
}

fn explain(cfg: &Config) {
    let Some(r) = sim::investigate(cfg, 5000, Duration::from_secs(120)) else {
        println!("the failure did not replay (a bug in the simulator)");
        return;
    };
    println!();
    println!(
        "VIOLATION {} at step {} of seed {}",
        r.violation.name, r.step, r.seed
    );
    println!("  {}", r.violation.detail);
    println!();
    println!("the last steps of the original run:");
    for line in &r.original_tail {
        println!("  {line}");
    }
    println!();
    println!(
        "shrunk to {} steps ({} draws, {} replays); its trace:",
        r.shrunk_steps,
        r.shrunk_draws.len(),
        r.replays
    );
    for line in &r.shrunk_trace {
        println!("  {line}");
    }
    println!("its end state:");
    for line in r.shrunk_state.lines() {
        println!("  {line}");
    }
    let file = std::env::temp_dir().join(format!("sim-seed-{}-shrunk.txt", r.seed));
    match std::fs::write(&file, r.schedule_text()) {
        Ok(()) => println!(
            "\nreplay: cargo xtask sim --seed {} --replay {}   (the original: cargo xtask sim --seed {} --steps {})",
            r.seed,
            file.display(),
            r.seed,
            cfg.steps
        ),
        Err(e) => println!("could not write the shrunk schedule: {e}"),
    }
}
