//! Local health checks that decide where a virtual IP may live.
//!
//! So far this crate holds the rise/fall hysteresis every check goes through ([`Threshold`]);
//! the HTTP, TCP, exec and file checks come with the health-check work.

/// Rise/fall hysteresis: a check's state flips only after `rise` consecutive successes (down
/// to up) or `fall` consecutive failures (up to down), like keepalived's `rise` and `fall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    rise: u32,
    fall: u32,
    up: bool,
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
            up: initially_up,
            streak: 0,
        }
    }

    /// Whether the check is up.
    #[must_use]
    pub const fn is_up(&self) -> bool {
        self.up
    }

    /// Records one result; returns the new state if it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        if success == self.up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.up = success;
        self.streak = 0;
        Some(self.up)
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
}
