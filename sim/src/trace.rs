//! The readable trace of a run: one line per thing that happened, with the step and the
//! simulated time, kept only when asked for (formatting costs more than simulating); and a
//! running hash of the run that is always kept, for checking that a seed replays exactly.

pub struct Trace {
    lines: Option<Vec<String>>,
    hash: u64,
}

impl Trace {
    pub fn new(keep: bool) -> Self {
        Self {
            lines: keep.then(Vec::new),
            hash: 0xCBF2_9CE4_8422_2325,
        }
    }

    /// Adds a line (built only when lines are kept) at `step`, `ms` after the start.
    pub fn line(&mut self, step: u64, ms: u64, text: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.lines {
            let text = text();
            for b in text.bytes() {
                self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
            }
            lines.push(format!("{step:>6} {} {text}", clock(ms)));
        }
    }

    /// Folds a number into the run's hash.
    pub fn mix(&mut self, x: u64) {
        self.hash = (self.hash ^ x).wrapping_mul(0x100_0000_01B3);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn lines(&self) -> &[String] {
        self.lines.as_deref().unwrap_or(&[])
    }
}

/// `+1d 02:03:04.005`.
pub fn clock(ms: u64) -> String {
    let (s, ms) = (ms / 1000, ms % 1000);
    let (m, s) = (s / 60, s % 60);
    let (h, m) = (m / 60, m % 60);
    let (d, h) = (h / 24, h % 24);
    if d > 0 {
        format!("+{d}d {h:02}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("+{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_clock() {
        assert_eq!(clock(0), "+00:00:00.000");
        assert_eq!(clock(93_784_005), "+1d 02:03:04.005");
    }

    #[test]
    fn lines_are_built_only_when_kept() {
        let mut t = Trace::new(false);
        t.line(1, 0, || unreachable!("not built"));
        assert!(t.lines().is_empty());
        let mut t = Trace::new(true);
        t.line(1, 5, || "hello".into());
        assert_eq!(t.lines(), ["     1 +00:00:00.005 hello"]);
    }
}
