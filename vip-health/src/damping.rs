//! Flap damping, after BGP route-flap damping (RFC 2439): every state transition adds a
//! penalty, the penalty decays exponentially, and while it is above a threshold the check's
//! reported state is held down.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Validated damping parameters.
///
/// * every up/down transition of the rise/fall-filtered state adds `penalty`;
/// * the accumulated penalty halves every `half_life`;
/// * when it rises above `suppress` the check is *suppressed*: its reported state is down,
///   whatever the probes say;
/// * it is released when the penalty has decayed to `reuse` or below;
/// * the penalty is capped so that, once the check stops flapping, it is released at most
///   `max_suppress` after its last transition (the cap is `reuse * 2^(max_suppress/half_life)`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DampingConfig {
    /// Penalty added per transition.
    pub penalty: u32,
    /// Time for the penalty to halve.
    #[serde(serialize_with = "crate::duration::serialize_std_duration")]
    pub half_life: Duration,
    /// Suppress when the penalty is above this.
    pub suppress: u32,
    /// Release when the penalty has decayed to this or below.
    pub reuse: u32,
    /// Longest suppression after the last transition.
    #[serde(serialize_with = "crate::duration::serialize_std_duration")]
    pub max_suppress: Duration,
}

impl DampingConfig {
    /// Parameters, checked: `penalty`, `half_life` and `max_suppress` positive,
    /// `reuse < suppress`, and a penalty cap above `suppress` (else nothing could ever be
    /// suppressed).
    ///
    /// # Errors
    /// A sentence naming the offending parameter (its YAML key) and the fix.
    pub fn new(
        penalty: u32,
        half_life: Duration,
        suppress: u32,
        reuse: u32,
        max_suppress: Duration,
    ) -> Result<Self, (&'static str, String)> {
        if penalty == 0 {
            return Err(("penalty", "must be above 0".to_owned()));
        }
        if half_life.is_zero() {
            return Err(("half_life", "must be above 0".to_owned()));
        }
        if reuse == 0 {
            return Err(("reuse", "must be above 0".to_owned()));
        }
        if reuse >= suppress {
            return Err((
                "reuse",
                format!("must be below suppress ({suppress}); got {reuse}"),
            ));
        }
        if max_suppress.is_zero() {
            return Err(("max_suppress", "must be above 0".to_owned()));
        }
        let config = Self {
            penalty,
            half_life,
            suppress,
            reuse,
            max_suppress,
        };
        if config.ceiling() <= f64::from(suppress) {
            return Err((
                "max_suppress",
                format!(
                    "too short for this half_life: the penalty cap reuse * 2^(max_suppress / \
                     half_life) = {:.0} is not above suppress ({suppress}), so the check could \
                     never be suppressed; raise max_suppress or lower suppress",
                    config.ceiling()
                ),
            ));
        }
        Ok(config)
    }

    /// The penalty cap.
    #[must_use]
    pub fn ceiling(&self) -> f64 {
        let halvings = self.max_suppress.as_secs_f64() / self.half_life.as_secs_f64();
        f64::from(self.reuse) * halvings.exp2()
    }
}

/// Flap-damping state of one check. Pure and clock-free: every method takes `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Damping {
    config: DampingConfig,
    /// Penalty as of `at`.
    penalty: f64,
    at: Option<Instant>,
    suppressed: bool,
}

impl Damping {
    /// No penalty, not suppressed.
    #[must_use]
    pub fn new(config: DampingConfig) -> Self {
        Self {
            config,
            penalty: 0.0,
            at: None,
            suppressed: false,
        }
    }

    /// The parameters.
    #[must_use]
    pub const fn config(&self) -> &DampingConfig {
        &self.config
    }

    /// The decayed penalty at `now`.
    #[must_use]
    pub fn penalty(&self, now: Instant) -> f64 {
        match self.at {
            None => 0.0,
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                self.penalty * (-elapsed / self.config.half_life.as_secs_f64()).exp2()
            }
        }
    }

    /// Whether the check is suppressed (as of the last call that took `now`).
    #[must_use]
    pub const fn is_suppressed(&self) -> bool {
        self.suppressed
    }

    /// Records a transition at `now`; returns whether the check is now suppressed.
    pub fn record_transition(&mut self, now: Instant) -> bool {
        let decayed = self.penalty(now);
        self.penalty = (decayed + f64::from(self.config.penalty)).min(self.config.ceiling());
        self.at = Some(now);
        if self.penalty > f64::from(self.config.suppress) {
            self.suppressed = true;
        }
        self.suppressed
    }

    /// Re-evaluates the suppression at `now` (releasing it once the penalty has decayed to
    /// `reuse`); returns whether the check is still suppressed.
    pub fn update(&mut self, now: Instant) -> bool {
        if self.suppressed && self.release_at().is_some_and(|t| now >= t) {
            self.suppressed = false;
        }
        self.suppressed
    }

    /// While suppressed, the instant the penalty decays to `reuse` (when [`update`] releases
    /// it); `None` when not suppressed.
    ///
    /// [`update`]: Self::update
    #[must_use]
    pub fn release_at(&self) -> Option<Instant> {
        if !self.suppressed {
            return None;
        }
        let at = self.at?;
        let ratio = self.penalty / f64::from(self.config.reuse);
        if ratio <= 1.0 {
            return Some(at);
        }
        let wait = Duration::try_from_secs_f64(self.config.half_life.as_secs_f64() * ratio.log2())
            .unwrap_or(self.config.max_suppress);
        // Round up to the millisecond so that the penalty is at or below `reuse` by then.
        Some(at + wait + Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Damping, DampingConfig};

    fn config() -> DampingConfig {
        DampingConfig::new(
            1000,
            Duration::from_secs(30),
            2000,
            750,
            Duration::from_secs(300),
        )
        .unwrap()
    }

    #[test]
    fn penalty_halves_every_half_life() {
        let t0 = Instant::now();
        let mut d = Damping::new(config());
        assert!(!d.record_transition(t0));
        assert!((d.penalty(t0) - 1000.0).abs() < 1e-6);
        assert!((d.penalty(t0 + Duration::from_secs(30)) - 500.0).abs() < 1e-6);
        assert!((d.penalty(t0 + Duration::from_secs(60)) - 250.0).abs() < 1e-6);
    }

    #[test]
    fn suppresses_above_suppress_and_releases_at_reuse() {
        let t0 = Instant::now();
        let mut d = Damping::new(config());
        assert!(!d.record_transition(t0));
        assert!(
            !d.record_transition(t0 + Duration::from_secs(1)),
            "~1977 is not above 2000"
        );
        assert!(
            d.record_transition(t0 + Duration::from_secs(2)),
            "~2932 is above 2000"
        );
        let release = d.release_at().unwrap();
        // 2932 -> 750 takes log2(2932/750) ≈ 1.97 half-lives ≈ 59 s.
        let wait = release - (t0 + Duration::from_secs(2));
        assert!(
            wait > Duration::from_secs(58) && wait < Duration::from_secs(61),
            "{wait:?}"
        );
        assert!(
            d.update(release - Duration::from_millis(100)),
            "still suppressed"
        );
        assert!(!d.update(release), "released");
        assert!(d.penalty(release) <= 750.0 + 1e-6);
        assert_eq!(d.release_at(), None);
    }

    #[test]
    fn penalty_is_capped_so_release_comes_within_max_suppress() {
        let t0 = Instant::now();
        let mut d = Damping::new(config());
        let mut now = t0;
        for _ in 0..100 {
            d.record_transition(now);
            now += Duration::from_millis(10);
        }
        let last = now - Duration::from_millis(10);
        let ceiling = config().ceiling();
        assert!(d.penalty(last) <= ceiling + 1e-6);
        let release = d.release_at().unwrap();
        assert!(release - last <= Duration::from_secs(300) + Duration::from_millis(2));
    }

    #[test]
    fn rejects_parameters_that_cannot_work() {
        let ok = |p, h, s, r, m| DampingConfig::new(p, h, s, r, m);
        let s = Duration::from_secs;
        assert_eq!(ok(0, s(30), 2000, 750, s(300)).unwrap_err().0, "penalty");
        assert_eq!(
            ok(1000, s(0), 2000, 750, s(300)).unwrap_err().0,
            "half_life"
        );
        assert_eq!(ok(1000, s(30), 2000, 2000, s(300)).unwrap_err().0, "reuse");
        assert_eq!(
            ok(1000, s(30), 2000, 750, s(0)).unwrap_err().0,
            "max_suppress"
        );
        // cap = 750 * 2^(30/30) = 1500 <= 2000
        let (field, message) = ok(1000, s(30), 2000, 750, s(30)).unwrap_err();
        assert_eq!(field, "max_suppress");
        assert!(message.contains("never be suppressed"), "{message}");
    }
}
