//! The state a check reports: probe results through rise/fall, then flap damping.

use std::time::Instant;

use crate::damping::{Damping, DampingConfig};
use crate::spec::InitialState;
use crate::threshold::Threshold;

/// Turns probe results into the state a check reports: the results go through the rise/fall
/// [`Threshold`], and each up/down transition of that filtered state goes through the optional
/// [`Damping`]; while damping suppresses the check its reported state is down.
///
/// The first decision of an undecided threshold ([`InitialState::FirstResult`]) is not a
/// transition and adds no damping penalty.
///
/// Pure and clock-free; [`HealthMonitor`](crate::HealthMonitor) drives one per check.
#[derive(Debug, Clone, PartialEq)]
pub struct StateFilter {
    threshold: Threshold,
    damping: Option<Damping>,
    reported: Option<bool>,
    transitions: u64,
}

impl StateFilter {
    /// A filter for the given rise/fall counts, initial state and damping.
    #[must_use]
    pub fn new(
        rise: u32,
        fall: u32,
        initial: InitialState,
        damping: Option<DampingConfig>,
    ) -> Self {
        let threshold = match initial {
            InitialState::FirstResult => Threshold::undecided(rise, fall),
            InitialState::Up => Threshold::new(rise, fall, true),
            InitialState::Down => Threshold::new(rise, fall, false),
        };
        Self {
            reported: threshold.state(),
            threshold,
            damping: damping.map(Damping::new),
            transitions: 0,
        }
    }

    /// The reported state: `None` before the first result of an undecided check.
    #[must_use]
    pub const fn reported(&self) -> Option<bool> {
        self.reported
    }

    /// The rise/fall-filtered state before damping.
    #[must_use]
    pub const fn filtered(&self) -> Option<bool> {
        self.threshold.state()
    }

    /// The damping state, if damping is configured.
    #[must_use]
    pub const fn damping(&self) -> Option<&Damping> {
        self.damping.as_ref()
    }

    /// Transitions of the reported state so far (the first decision does not count).
    #[must_use]
    pub const fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Records a probe result at `now`; returns the new reported state if it changed.
    pub fn record(&mut self, now: Instant, success: bool) -> Option<bool> {
        let was_decided = self.threshold.state().is_some();
        if self.threshold.record(success).is_some()
            && was_decided
            && let Some(d) = &mut self.damping
        {
            d.record_transition(now);
        }
        self.refresh(now)
    }

    /// Re-evaluates damping at `now` (call at [`next_deadline`](Self::next_deadline));
    /// returns the new reported state if it changed.
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        self.refresh(now)
    }

    /// When damping will release a suppressed check, if it is suppressed.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.damping.as_ref().and_then(Damping::release_at)
    }

    fn refresh(&mut self, now: Instant) -> Option<bool> {
        let suppressed = self.damping.as_mut().is_some_and(|d| d.update(now));
        let filtered = self.threshold.state();
        let reported = if suppressed && filtered.is_some() {
            Some(false)
        } else {
            filtered
        };
        if reported == self.reported {
            return None;
        }
        if self.reported.is_some() {
            self.transitions += 1;
        }
        self.reported = reported;
        reported
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::StateFilter;
    use crate::damping::DampingConfig;
    use crate::spec::InitialState;

    fn damping() -> DampingConfig {
        DampingConfig::new(
            1000,
            Duration::from_secs(10),
            1500,
            500,
            Duration::from_secs(60),
        )
        .unwrap()
    }

    #[test]
    fn without_damping_it_is_the_threshold() {
        let now = Instant::now();
        let mut f = StateFilter::new(2, 2, InitialState::Down, None);
        assert_eq!(f.reported(), Some(false));
        assert_eq!(f.record(now, true), None);
        assert_eq!(f.record(now, true), Some(true));
        assert_eq!(f.record(now, false), None);
        assert_eq!(f.record(now, false), Some(false));
        assert_eq!(f.transitions(), 2);
    }

    #[test]
    fn first_result_is_reported_but_is_not_a_transition() {
        let now = Instant::now();
        let mut f = StateFilter::new(3, 3, InitialState::FirstResult, Some(damping()));
        assert_eq!(f.reported(), None);
        assert_eq!(f.record(now, true), Some(true));
        assert_eq!(f.transitions(), 0);
        assert_eq!(f.damping().unwrap().penalty(now), 0.0);
    }

    #[test]
    fn a_flapping_check_is_held_down_until_the_penalty_decays() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut f = StateFilter::new(1, 1, InitialState::Up, Some(damping()));
        assert_eq!(f.record(t0, false), Some(false), "first flap: 1000");
        assert_eq!(
            f.record(t0 + s(1), true),
            None,
            "second flap: ~1933 > 1500, held down"
        );
        assert!(f.damping().unwrap().is_suppressed());
        assert_eq!(f.filtered(), Some(true));
        assert_eq!(f.reported(), Some(false));
        assert_eq!(f.record(t0 + s(2), true), None, "still suppressed");
        let release = f.next_deadline().expect("a release time");
        // ~1933 -> 500 takes log2(3.87) ≈ 1.95 half-lives ≈ 19.5 s.
        assert!(
            release > t0 + s(19) && release < t0 + s(22),
            "{:?}",
            release - t0
        );
        assert_eq!(f.poll(release - Duration::from_millis(50)), None);
        assert_eq!(
            f.poll(release),
            Some(true),
            "released to the filtered state"
        );
        assert_eq!(f.next_deadline(), None);
        assert_eq!(f.transitions(), 2);
    }

    #[test]
    fn release_while_filtered_down_reports_nothing() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut f = StateFilter::new(1, 1, InitialState::Up, Some(damping()));
        f.record(t0, false);
        f.record(t0 + s(1), true);
        assert_eq!(
            f.record(t0 + s(2), false),
            None,
            "third flap, already reported down"
        );
        let release = f.next_deadline().unwrap();
        assert_eq!(
            f.poll(release),
            None,
            "filtered state is down: nothing changes"
        );
        assert!(!f.damping().unwrap().is_suppressed());
        assert_eq!(f.record(release + s(1), true), Some(true));
    }
}
