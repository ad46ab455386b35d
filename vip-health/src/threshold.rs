//! Rise/fall hysteresis.

/// Rise/fall hysteresis: a check's state flips only after `rise` consecutive successes (down
/// to up) or `fall` consecutive failures (up to down), like keepalived's `rise` and `fall`.
///
/// A threshold starts either in a known state ([`Threshold::new`]) or undecided
/// ([`Threshold::undecided`]), in which case the first result decides the state at once, as
/// keepalived does for a `vrrp_script` without `init_fail`.
///
/// Pure: no clock, no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    rise: u32,
    fall: u32,
    /// `None` until the first result when undecided.
    up: Option<bool>,
    /// Consecutive results that disagree with `up`.
    streak: u32,
}

impl Threshold {
    /// A threshold in the given initial state. `rise` and `fall` of 0 count as 1.
    #[must_use]
    pub fn new(rise: u32, fall: u32, initially_up: bool) -> Self {
        Self {
            rise: rise.max(1),
            fall: fall.max(1),
            up: Some(initially_up),
            streak: 0,
        }
    }

    /// A threshold with no state until its first result, which decides the state whatever
    /// `rise` and `fall` are. `rise` and `fall` of 0 count as 1.
    #[must_use]
    pub fn undecided(rise: u32, fall: u32) -> Self {
        Self {
            up: None,
            ..Self::new(rise, fall, false)
        }
    }

    /// Whether the check is up (false while undecided).
    #[must_use]
    pub const fn is_up(&self) -> bool {
        matches!(self.up, Some(true))
    }

    /// The state: `None` while undecided.
    #[must_use]
    pub const fn state(&self) -> Option<bool> {
        self.up
    }

    /// Records one result; returns the new state if it changed (or was decided).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let Some(up) = self.up else {
            self.up = Some(success);
            self.streak = 0;
            return Some(success);
        };
        if success == up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = Some(success);
        self.streak = 0;
        Some(success)
    }
}

#[cfg(test)]
mod tests {
    use super::Threshold;

    #[test]
    fn falls_after_fall_failures_and_rises_after_rise_successes() {
        let mut t = Threshold::new(2, 3, true);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(true), None, "a success resets the failure streak");
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(false));
        assert!(!t.is_up());
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(true));
        assert_eq!(t.record(true), None);
    }

    #[test]
    fn zero_counts_as_one() {
        let mut t = Threshold::new(0, 0, false);
        assert_eq!(t.record(true), Some(true));
        assert_eq!(t.record(false), Some(false));
    }

    #[test]
    fn undecided_takes_the_first_result_then_applies_rise_and_fall() {
        let mut t = Threshold::undecided(3, 3);
        assert_eq!(t.state(), None);
        assert!(!t.is_up());
        assert_eq!(
            t.record(true),
            Some(true),
            "first result decides despite rise 3"
        );
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), None);
        assert_eq!(t.record(false), Some(false));

        let mut t = Threshold::undecided(3, 3);
        assert_eq!(
            t.record(false),
            Some(false),
            "a first failure decides down at once"
        );
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(true));
    }

    #[test]
    fn initially_down_needs_rise_successes() {
        let mut t = Threshold::new(2, 1, false);
        assert_eq!(t.record(true), None);
        assert_eq!(t.record(true), Some(true));
    }
}
