//! Randomness, all of it seeded: a small PRNG ([`SplitMix`]) and the [`Source`] every choice of a
//! run is drawn from, which can record its draws and replay a (shrunk) list of them.
//!
//! A draw is a value below a bound, and 0 is always the most ordinary answer (process the next
//! event, no fault, the shortest delay), so a schedule shrinks towards a boring run by deleting
//! draws or lowering them. Replaying a list clamps each value to the bound asked for then, and
//! answers 0 once the list is used up.

/// SplitMix64: tiny, fast, and good enough for choosing; the same seed gives the same stream on
/// every machine.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` > 0); the tiny modulo bias does not matter here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

/// Where the scheduler's choices come from.
#[derive(Debug, Clone)]
pub struct Source {
    mode: Mode,
    /// The draws made so far, when recording.
    recorded: Option<Vec<u64>>,
    /// Indices in `recorded` (or the replayed list) where each step's draws start.
    step_starts: Vec<usize>,
    drawn: usize,
}

#[derive(Debug, Clone)]
enum Mode {
    Random(SplitMix),
    Replay(Vec<u64>),
}

impl Source {
    pub fn seeded(seed: u64, record: bool) -> Self {
        Self {
            mode: Mode::Random(SplitMix::new(seed ^ 0x005E_ED0F_5151)),
            recorded: record.then(Vec::new),
            step_starts: Vec::new(),
            drawn: 0,
        }
    }

    /// Replays `draws`, recording the values actually used when `record`.
    pub fn replay(draws: Vec<u64>, record: bool) -> Self {
        Self {
            mode: Mode::Replay(draws),
            recorded: record.then(Vec::new),
            step_starts: Vec::new(),
            drawn: 0,
        }
    }

    /// A value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        let bound = bound.max(1);
        let v = match &mut self.mode {
            Mode::Random(rng) => rng.below(bound),
            Mode::Replay(list) => list.get(self.drawn).map_or(0, |v| (*v).min(bound - 1)),
        };
        self.drawn += 1;
        if let Some(r) = &mut self.recorded {
            r.push(v);
        }
        v
    }

    /// True with probability `per_mille`/1000 (0 draws false).
    pub fn chance(&mut self, per_mille: u64) -> bool {
        // Drawn as "not below 1000 - p" so that the value 0 means "no".
        self.below(1000) >= 1000 - per_mille.min(1000)
    }

    /// A value in `lo..=hi`, 0 drawing `lo`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// Marks the start of a scheduler step (for shrinking by whole steps).
    pub fn start_step(&mut self) {
        self.step_starts.push(self.drawn);
    }

    /// Whether a replayed list is used up (a random source never is).
    pub fn exhausted(&self) -> bool {
        match &self.mode {
            Mode::Random(_) => false,
            Mode::Replay(list) => self.drawn >= list.len(),
        }
    }

    pub fn recorded(&self) -> Option<&[u64]> {
        self.recorded.as_deref()
    }

    pub fn step_starts(&self) -> &[usize] {
        &self.step_starts
    }
}

/// Fills byte buffers for the core's PKCE generator ([`rc_pkce_core::Entropy`]) from a stream of
/// its own, so a sign-in's verifier does not use up schedule draws.
pub struct SimEntropy(pub SplitMix);

impl rc_pkce_core::Entropy for SimEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), rc_pkce_core::random::EntropyError> {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_draws_and_a_replay_repeats_them() {
        let mut a = Source::seeded(7, true);
        let mut b = Source::seeded(7, false);
        let xs: Vec<u64> = (0..50).map(|i| a.below(3 + i)).collect();
        let ys: Vec<u64> = (0..50).map(|i| b.below(3 + i)).collect();
        assert_eq!(xs, ys);
        let mut r = Source::replay(a.recorded().unwrap().to_vec(), false);
        let zs: Vec<u64> = (0..50).map(|i| r.below(3 + i)).collect();
        assert_eq!(xs, zs);
        assert!(r.exhausted());
        assert_eq!(r.below(10), 0, "past the end a replay answers 0");
    }

    #[test]
    fn zero_is_the_ordinary_answer() {
        let mut r = Source::replay(vec![0, 0, 0, 999], false);
        assert!(!r.chance(500));
        assert_eq!(r.between(5, 9), 5);
        assert_eq!(r.below(4), 0);
        assert!(r.chance(1), "the largest value is the rarest answer");
    }
}
