//! Checks a program writes itself: it implements [`Probe`] and wraps it in a
//! [`CheckConfig`] with [`CheckConfig::custom`]. The [`HealthMonitor`](crate::HealthMonitor)
//! runs it like a built-in check: every `interval`, bounded by `timeout` (a probe still
//! running then is dropped and counts as a failure), through the same rise / fall, initial
//! state and flap damping.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{CheckConfig, CheckEffect, CheckKind};
use crate::spec::InitialState;
use crate::validate::{DEFAULT_INTERVAL, DEFAULT_TIMEOUT_CAP, MAX_WEIGHT, MIN_INTERVAL};

/// One probe of a check the embedder writes (a backend pool's health, a database's
/// replication lag, ...), run on the monitor's tokio runtime.
///
/// ```
/// use vip_health::{CheckConfig, Probe};
///
/// #[derive(Debug)]
/// struct Always;
///
/// #[vip_health::async_trait]
/// impl Probe for Always {
///     async fn probe(&self) -> Result<String, String> {
///         Ok("fine".to_owned())
///     }
/// }
///
/// let check = CheckConfig::custom("always", Always);
/// assert!(check.check_timing().is_ok());
/// ```
#[crate::async_trait]
pub trait Probe: fmt::Debug + Send + Sync + 'static {
    /// Probes once: `Ok` with a short description of what was seen when healthy, `Err` with
    /// the reason when not (both appear in events and status). Cancellation-safe: the future
    /// is dropped when the check's timeout passes or the monitor stops.
    async fn probe(&self) -> Result<String, String>;
}

/// A check of the embedder's ([`CheckKind::Custom`]): its [`Probe`].
#[derive(Clone)]
pub struct CustomCheck {
    probe: Arc<dyn Probe>,
}

impl CustomCheck {
    /// Wraps `probe`.
    pub fn new(probe: impl Probe) -> Self {
        Self {
            probe: Arc::new(probe),
        }
    }

    /// The probe.
    #[must_use]
    pub fn probe(&self) -> &dyn Probe {
        self.probe.as_ref()
    }
}

impl fmt::Debug for CustomCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CustomCheck").field(&self.probe).finish()
    }
}

/// Two custom checks are equal when they run the same probe (the same registration).
impl PartialEq for CustomCheck {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.probe, &other.probe)
    }
}

/// A field of a custom [`CheckConfig`] out of range ([`CheckConfig::check_timing`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimingError {
    /// `interval` is below [`MIN_INTERVAL`].
    #[error(
        "interval: {interval:?} is below the shortest accepted, {MIN_INTERVAL:?}: probe less often"
    )]
    Interval {
        /// The interval given.
        interval: Duration,
    },
    /// `timeout` is zero or not below `interval`.
    #[error(
        "timeout: {timeout:?} must be above zero and below the interval {interval:?}: shorten the timeout or lengthen the interval"
    )]
    Timeout {
        /// The timeout given.
        timeout: Duration,
        /// The interval.
        interval: Duration,
    },
    /// `rise` or `fall` is 0.
    #[error("{field}: 0 would never decide: give at least 1")]
    Threshold {
        /// `rise` or `fall`.
        field: &'static str,
    },
    /// A weight beyond [`MAX_WEIGHT`].
    #[error("weight: {weight} is beyond -{MAX_WEIGHT}..={MAX_WEIGHT}: give a smaller weight")]
    Weight {
        /// The weight given.
        weight: i16,
    },
}

impl CheckConfig {
    /// A check named `name` running the embedder's `probe`, with the defaults of a written
    /// check: every [`DEFAULT_INTERVAL`], timeout half of that (at most
    /// [`DEFAULT_TIMEOUT_CAP`]), rise 1, fall 1, Fault while down, state from the first
    /// result, no damping. Change the public fields to tune it, then see
    /// [`check_timing`](Self::check_timing).
    pub fn custom(name: impl Into<String>, probe: impl Probe) -> Self {
        Self {
            name: name.into(),
            builtin: None,
            kind: CheckKind::Custom(CustomCheck::new(probe)),
            interval: DEFAULT_INTERVAL,
            timeout: (DEFAULT_INTERVAL / 2).min(DEFAULT_TIMEOUT_CAP),
            rise: 1,
            fall: 1,
            effect: CheckEffect::Fault,
            initial: InitialState::FirstResult,
            damping: None,
        }
    }

    /// Checks the fields a program sets by hand (a written check is checked when it is
    /// validated): the interval, the timeout below it, rise and fall, the weight.
    ///
    /// # Errors
    /// The first [`TimingError`] found, naming its field.
    pub fn check_timing(&self) -> Result<(), TimingError> {
        if self.interval < MIN_INTERVAL {
            return Err(TimingError::Interval {
                interval: self.interval,
            });
        }
        if self.timeout.is_zero() || self.timeout >= self.interval {
            return Err(TimingError::Timeout {
                timeout: self.timeout,
                interval: self.interval,
            });
        }
        if self.rise == 0 {
            return Err(TimingError::Threshold { field: "rise" });
        }
        if self.fall == 0 {
            return Err(TimingError::Threshold { field: "fall" });
        }
        if let CheckEffect::Weight(weight) = self.effect
            && i32::from(weight).abs() > MAX_WEIGHT
        {
            return Err(TimingError::Weight { weight });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::HealthMonitor;

    /// Fails `fail` times, then succeeds; or sleeps past any timeout when `hang`.
    #[derive(Debug, Default)]
    struct Scripted {
        calls: AtomicU32,
        fail: u32,
        hang: bool,
    }

    #[crate::async_trait]
    impl Probe for Scripted {
        async fn probe(&self) -> Result<String, String> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            if n < self.fail {
                Err(format!("failure {n}"))
            } else {
                Ok(format!("success {n}"))
            }
        }
    }

    fn fast(check: CheckConfig) -> CheckConfig {
        let mut check = check;
        check.interval = Duration::from_millis(20);
        check.timeout = Duration::from_millis(10);
        check
    }

    #[tokio::test]
    async fn a_custom_check_goes_up_after_rise_successes() {
        let mut check = fast(CheckConfig::custom(
            "pool",
            Scripted {
                fail: 2,
                ..Scripted::default()
            },
        ));
        check.rise = 3;
        check.initial = InitialState::Down;
        check.check_timing().unwrap();
        let (monitor, mut events) = HealthMonitor::start([("vi".to_owned(), check)]);
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(event.up, "{event:?}");
        assert_eq!(event.check, "pool");
        let status = monitor.status(&"vi".to_owned(), "pool").unwrap();
        // Two failures, then three successes to rise.
        assert_eq!(status.consecutive_successes, 3, "{status:?}");
        assert!(status.probes >= 5, "{status:?}");
        monitor.stop().await;
    }

    #[tokio::test]
    async fn a_hung_custom_probe_fails_by_its_timeout() {
        let check = fast(CheckConfig::custom(
            "hung",
            Scripted {
                hang: true,
                ..Scripted::default()
            },
        ));
        let (monitor, mut events) = HealthMonitor::start([("vi".to_owned(), check)]);
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(!event.up, "{event:?}");
        assert!(event.reason.contains("timed out"), "{}", event.reason);
        monitor.stop().await;
    }

    #[test]
    fn timing_errors_name_their_field() {
        let mut check = CheckConfig::custom("c", Scripted::default());
        check.timeout = check.interval;
        let e = check.check_timing().unwrap_err();
        assert!(e.to_string().starts_with("timeout:"), "{e}");
        check.timeout = Duration::from_millis(100);
        check.fall = 0;
        assert_eq!(
            check.check_timing(),
            Err(TimingError::Threshold { field: "fall" })
        );
        check.fall = 1;
        check.interval = Duration::from_millis(1);
        assert!(matches!(
            check.check_timing(),
            Err(TimingError::Interval { .. })
        ));
        let same = check.clone();
        assert_eq!(same, check, "a clone runs the same probe");
        assert_ne!(CheckConfig::custom("c", Scripted::default()), check);
    }
}
