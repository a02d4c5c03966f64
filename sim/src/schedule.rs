//! The seeded scheduler's vocabulary: the user actions and faults a step may be, how often each
//! is chosen, and the settings of a run (lifetimes, fault rate, number of tabs), which vary from
//! seed to seed so that a batch covers calm and stormy runs, short and long token lifetimes.

use crate::rng::{Source, SplitMix};

/// What a step does when it is not the next due event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Time passes (up to ten minutes), with whatever falls due meanwhile.
    Wait,
    OpenTab,
    SignIn,
    /// The user answers RingCentral's page in a tab that is there: approve, deny or go back.
    Authorize,
    /// Duplicate a tab: the copy inherits its `sessionStorage`.
    Duplicate,
    Close,
    Reload,
    SignOut,
    RefreshNow,
    /// Open a page that reads the API (and may meet a 401).
    Read,
    Dismiss,
    /// Sleep the laptop for an hour (sometimes a night).
    Sleep,
    /// Fault: a page crashes, most often the one refreshing behind the lock.
    Kill,
    /// Fault: a tab's storage quota fills up (or frees again).
    Quota,
    /// A callback link of another tab's sign-in opened here (a copied or forged link).
    ForeignCallback,
    /// Fault: another page of the origin holds a Web Lock it saw in `navigator.locks.query()`
    /// (or lets go of the ones it holds).
    Squat,
}

/// Each action with its weight; the first is what a shrunk (zero) draw picks.
const WEIGHTS: [(Action, u64); 16] = [
    (Action::Wait, 20),
    (Action::OpenTab, 3),
    (Action::SignIn, 8),
    (Action::Authorize, 12),
    (Action::Duplicate, 4),
    (Action::Close, 2),
    (Action::Reload, 4),
    (Action::SignOut, 2),
    (Action::RefreshNow, 3),
    (Action::Read, 8),
    (Action::Dismiss, 1),
    (Action::Sleep, 1),
    (Action::Kill, 2),
    (Action::Quota, 1),
    (Action::ForeignCallback, 1),
    (Action::Squat, 1),
];

pub fn choose(src: &mut Source) -> Action {
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut x = src.below(total);
    for (action, w) in WEIGHTS {
        if x < w {
            return action;
        }
        x -= w;
    }
    Action::Wait
}

/// The settings of one run, drawn from its seed (not from the schedule, so shrinking keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub access_secs: u64,
    pub refresh_secs: u64,
    /// Requests that meet a fault, per thousand.
    pub fault_per_mille: u64,
    /// Steps that are actions rather than the next event, per thousand.
    pub action_per_mille: u64,
    pub max_tabs: usize,
}

impl Params {
    pub fn for_seed(seed: u64) -> Self {
        let mut r = SplitMix::new(seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0x51);
        let pick = |r: &mut SplitMix, xs: &[u64]| xs[r.below(xs.len() as u64) as usize];
        Self {
            access_secs: pick(&mut r, &[600, 1800, 3600, 3600]),
            refresh_secs: pick(&mut r, &[3 * 3600, 8 * 3600, 604_800, 604_800]),
            fault_per_mille: pick(&mut r, &[0, 20, 50, 100, 250]),
            action_per_mille: pick(&mut r, &[100, 200, 300]),
            max_tabs: pick(&mut r, &[2, 3, 4, 6]) as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_draw_waits_and_every_action_can_be_drawn() {
        assert_eq!(choose(&mut Source::replay(vec![0], false)), Action::Wait);
        let mut src = Source::seeded(1, false);
        let mut seen: Vec<Action> = (0..5000).map(|_| choose(&mut src)).collect();
        seen.sort_by_key(|a| *a as u8);
        seen.dedup();
        assert_eq!(seen.len(), WEIGHTS.len());
    }
}
