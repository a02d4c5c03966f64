//! Counting tests: parses libtest's `test result:` summary lines (cargo test, doc-tests and
//! wasm-bindgen-test-runner all print them), adds them up per stage and overall, and renders the
//! stage table and the closing `N passed, N failed` line that CI reads.

use std::fmt::Write as _;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// Drops ANSI escape sequences (CSI `ESC [ ... letter`), so coloured output parses the same.
fn strip_ansi(line: &str) -> String {
    let mut plain = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            plain.push(c);
            continue;
        }
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    plain
}

/// The counts in a libtest summary line such as
/// `test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
pub fn parse_summary(line: &str) -> Option<Counts> {
    let line = strip_ansi(line);
    let rest = &line[line.find("test result: ")? + "test result: ".len()..];
    let (status, rest) = rest.split_once('.')?;
    if status != "ok" && status != "FAILED" {
        return None;
    }
    let (mut passed, mut failed) = (None, None);
    for part in rest.split(';') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(label)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match label {
            "passed" => passed = Some(number),
            "failed" => failed = Some(number),
            _ => {}
        }
    }
    Some(Counts {
        passed: passed?,
        failed: failed?,
    })
}

/// How a stage's tests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// A check (fmt, clippy) is one test that passes or fails.
    Check,
    /// Add up the libtest summaries in the output.
    Libtest,
}

/// The counts a finished stage contributes to the totals.
pub fn stage_counts(counting: Counting, success: bool, summaries: &[Counts]) -> Counts {
    match counting {
        Counting::Check if success => Counts {
            passed: 1,
            failed: 0,
        },
        Counting::Check => Counts {
            passed: 0,
            failed: 1,
        },
        Counting::Libtest => {
            let mut counts = Counts::default();
            for summary in summaries {
                counts += *summary;
            }
            // A stage that failed without a failing test (a compile error, a crashed runner) must
            // still show in the totals, or the closing line would read as all green.
            if !success && counts.failed == 0 {
                counts.failed = 1;
            }
            counts
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Not reached because an earlier stage failed.
    NotRun,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    pub name: &'static str,
    pub outcome: Outcome,
    pub counts: Counts,
    pub seconds: f64,
}

pub fn totals(reports: &[StageReport]) -> Counts {
    let mut total = Counts::default();
    for report in reports {
        total += report.counts;
    }
    total
}

/// The closing line, which CI reads: `N passed, N failed`.
pub fn final_line(total: Counts) -> String {
    format!("{} passed, {} failed", total.passed, total.failed)
}

pub fn table(reports: &[StageReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>7} {:>7} {:>9}",
        "stage", "result", "passed", "failed", "seconds"
    );
    for report in reports {
        let line = match report.outcome {
            Outcome::NotRun => format!(
                "{:<12} {:<8} {:>7} {:>7} {:>9}",
                report.name, "not run", "-", "-", "-"
            ),
            outcome => format!(
                "{:<12} {:<8} {:>7} {:>7} {:>9.1}",
                report.name,
                if outcome == Outcome::Passed {
                    "ok"
                } else {
                    "FAILED"
                },
                report.counts.passed,
                report.counts.failed,
                report.seconds
            ),
        };
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u64, failed: u64) -> Counts {
        Counts { passed, failed }
    }

    #[test]
    fn ok_summary() {
        assert_eq!(
            parse_summary(
                "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.03s\n"
            ),
            Some(counts(12, 0))
        );
    }

    #[test]
    fn failed_summary() {
        assert_eq!(
            parse_summary(
                "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s"
            ),
            Some(counts(3, 1))
        );
    }

    #[test]
    fn wasm_bindgen_test_runner_summary() {
        // The runner leaves out `measured` and may indent its lines.
        assert_eq!(
            parse_summary(
                "  test result: ok. 7 passed; 0 failed; 0 ignored; 0 filtered out; finished in 2.41s"
            ),
            Some(counts(7, 0))
        );
    }

    #[test]
    fn wasm_bindgen_test_runner_failure_as_printed_by_0_2_130() {
        assert_eq!(
            parse_summary(
                "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 filtered out; finished in 0.04s"
            ),
            Some(counts(1, 1))
        );
    }

    #[test]
    fn coloured_summary() {
        assert_eq!(
            parse_summary("test result: \u{1b}[32mok\u{1b}[0m. 2 passed; 0 failed; 0 ignored"),
            Some(counts(2, 0))
        );
    }

    #[test]
    fn lines_without_summaries() {
        for line in [
            "",
            "running 12 tests",
            "test pkce::tests::verifier_length ... ok",
            "failures:",
            "error: test failed, to rerun pass `-p rc-pkce-core --lib`",
            "test result: ok",
            "test result: maybe. 1 passed; 0 failed;",
            "test result: ok. many passed; 0 failed;",
            "test result: ok. 3 passed;",
        ] {
            assert_eq!(parse_summary(line), None, "{line:?}");
        }
    }

    #[test]
    fn several_summaries_in_one_stage_add_up() {
        let output = "\
running 3 tests
test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

running 2 tests
test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

   Doc-tests rc_pkce_core
test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.10s
";
        let summaries: Vec<Counts> = output.lines().filter_map(parse_summary).collect();
        assert_eq!(summaries.len(), 3);
        assert_eq!(
            stage_counts(Counting::Libtest, false, &summaries),
            counts(8, 1)
        );
    }

    #[test]
    fn checks_count_as_one_test() {
        assert_eq!(stage_counts(Counting::Check, true, &[]), counts(1, 0));
        assert_eq!(stage_counts(Counting::Check, false, &[]), counts(0, 1));
        // Stray summaries in a check's output do not change that.
        assert_eq!(
            stage_counts(Counting::Check, true, &[counts(5, 0)]),
            counts(1, 0)
        );
    }

    #[test]
    fn a_failed_stage_without_test_failures_counts_one() {
        assert_eq!(stage_counts(Counting::Libtest, false, &[]), counts(0, 1));
        assert_eq!(
            stage_counts(Counting::Libtest, false, &[counts(9, 0)]),
            counts(9, 1)
        );
        assert_eq!(stage_counts(Counting::Libtest, true, &[]), counts(0, 0));
    }

    fn report(name: &'static str, outcome: Outcome, passed: u64, failed: u64) -> StageReport {
        StageReport {
            name,
            outcome,
            counts: counts(passed, failed),
            seconds: 2.04,
        }
    }

    #[test]
    fn totals_and_final_line() {
        let reports = [
            report("fmt", Outcome::Passed, 1, 0),
            report("unit", Outcome::Passed, 120, 0),
            report("sandbox", Outcome::Failed, 40, 2),
            report("wasm", Outcome::NotRun, 0, 0),
        ];
        assert_eq!(final_line(totals(&reports)), "161 passed, 2 failed");
        assert_eq!(final_line(Counts::default()), "0 passed, 0 failed");
    }

    #[test]
    fn table_rows() {
        let text = table(&[
            report("fmt", Outcome::Passed, 1, 0),
            report("sandbox", Outcome::Failed, 40, 2),
            report("e2e", Outcome::NotRun, 0, 0),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "stage        result    passed  failed   seconds",
                "fmt          ok             1       0       2.0",
                "sandbox      FAILED        40       2       2.0",
                "e2e          not run        -       -         -",
            ]
        );
    }
}
