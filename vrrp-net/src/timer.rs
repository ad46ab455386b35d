//! A one-shot deadline timer with nanosecond resolution, for the tokio event loop.
//!
//! tokio's own timer rounds every deadline up to its 1 ms wheel and sleeps in `epoll_wait`,
//! whose timeout is in milliseconds too: at 10 ms adverts a deadline fires up to about 2 ms
//! late. [`DeadlineTimer`] is a Linux `timerfd` on `CLOCK_MONOTONIC`, armed at the absolute
//! deadline, and registered with the tokio reactor like a socket: it fires within the
//! kernel's high-resolution timer slack (tens of microseconds), and waiting for it costs no
//! more than waiting for a socket.
//!
//! Deadlines are [`std::time::Instant`]s. On Linux `Instant` reads `CLOCK_MONOTONIC`, but its
//! value is opaque, so each arming converts the deadline through a fresh pair of readings
//! (`Instant::now()` and `clock_gettime(CLOCK_MONOTONIC)`, both in the vDSO, no system call):
//! the conversion is exact up to the few nanoseconds between the two readings, whatever the
//! clock behind `Instant`.
//!
//! The timer re-arms the kernel only when the deadline changes (one `timerfd_settime` per
//! new deadline) and never reads the descriptor: a new arming resets the expiration count,
//! and tokio's edge-triggered readiness is cleared by hand once the deadline has passed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use nix::time::{ClockId as Clock, clock_gettime};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::sys;

/// The `timerfd`, as tokio's `AsyncFd` wants it (`AsRawFd`).
pub(crate) struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// A one-shot timer at an absolute [`Instant`], with nanosecond resolution (a `timerfd` on
/// `CLOCK_MONOTONIC`), awaited in a tokio runtime.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use std::time::{Duration, Instant};
/// let mut timer = vrrp_net::timer::DeadlineTimer::new()?;
/// timer.arm(Some(Instant::now() + Duration::from_millis(10)))?;
/// timer.fired().await?;
/// # Ok(())
/// # }
/// ```
pub struct DeadlineTimer {
    fd: AsyncFd<Fd>,
    /// The deadline the kernel timer is armed at, if any.
    armed: Option<Instant>,
}

impl std::fmt::Debug for DeadlineTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineTimer")
            .field("fd", &self.fd.as_raw_fd())
            .field("armed", &self.armed)
            .finish()
    }
}

impl DeadlineTimer {
    /// Creates a disarmed timer, registered with the current tokio runtime.
    ///
    /// # Errors
    /// `timerfd_create` failed (out of descriptors), or there is no tokio runtime with I/O
    /// enabled to register with.
    pub fn new() -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let fd = sys::register_timer(Fd(timer), Interest::READABLE)?;
        Ok(Self { fd, armed: None })
    }

    /// The deadline the timer is armed at, if any.
    #[must_use]
    pub const fn deadline(&self) -> Option<Instant> {
        self.armed
    }

    /// Arms the timer at `deadline` (a deadline already past fires at once), or disarms it
    /// with `None`. Costs a system call only when the deadline changes.
    ///
    /// # Errors
    /// The system error of `timerfd_settime` or `clock_gettime`.
    pub fn arm(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if deadline == self.armed {
            return Ok(());
        }
        match deadline {
            Some(at) => self.set(at)?,
            None => self.fd.get_ref().0.unset()?,
        }
        self.armed = deadline;
        Ok(())
    }

    /// Sets the kernel timer to `at` (which resets its expiration count).
    fn set(&self, at: Instant) -> io::Result<()> {
        let spec = monotonic_of(at)?;
        self.fd.get_ref().0.set(
            Expiration::OneShot(spec),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        Ok(())
    }

    /// Waits until the armed deadline has passed, then leaves the timer disarmed. Never
    /// returns while the timer is disarmed.
    ///
    /// Cancel-safe: dropping the future loses nothing (the deadline stays armed, and a
    /// readiness left over from an earlier deadline is ignored until the current one passes).
    ///
    /// # Errors
    /// The reactor's error for the descriptor.
    pub async fn fired(&mut self) -> io::Result<()> {
        loop {
            let Some(deadline) = self.armed else {
                std::future::pending::<()>().await;
                continue;
            };
            let mut ready = self.fd.readable().await?;
            // The expiration count is not read: the next `arm` resets it. Readiness is
            // cleared here so that tokio waits for the next expiry's edge.
            ready.clear_ready();
            if Instant::now() >= deadline {
                self.armed = None;
                return Ok(());
            }
            // Readiness left from an earlier deadline, or an expiry a few nanoseconds ahead
            // of `Instant` (were the clocks ever to differ): setting the timer again makes
            // sure that an expiry edge is still to come.
            self.set(deadline)?;
        }
    }
}

/// `at` on the `CLOCK_MONOTONIC` time line, as a `timespec` (never the all-zero value,
/// which would disarm the timer).
fn monotonic_of(at: Instant) -> io::Result<TimeSpec> {
    let now = Instant::now();
    let mono = Duration::from(clock_gettime(Clock::CLOCK_MONOTONIC)?);
    let target = match at.checked_duration_since(now) {
        Some(ahead) => mono.saturating_add(ahead),
        None => mono.saturating_sub(now.duration_since(at)),
    };
    Ok(TimeSpec::from_duration(target.max(Duration::from_nanos(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    /// `std::time::Instant` and `CLOCK_MONOTONIC` advance together (the conversion relies on
    /// both being the same clock, or at least the same rate): over 50 ms they agree within
    /// 1 ms.
    #[test]
    fn instant_runs_with_clock_monotonic() {
        let read = || {
            let mono = Duration::from(clock_gettime(Clock::CLOCK_MONOTONIC).expect("clock"));
            (Instant::now(), mono)
        };
        let (i0, m0) = read();
        std::thread::sleep(Duration::from_millis(50));
        let (i1, m1) = read();
        let by_instant = i1.duration_since(i0).as_secs_f64();
        let by_mono = (m1 - m0).as_secs_f64();
        assert!(
            (by_instant - by_mono).abs() < 1e-3,
            "Instant advanced {by_instant} s, CLOCK_MONOTONIC {by_mono} s"
        );
    }

    /// The timer fires at its deadline, not before; re-arming to a later deadline moves it,
    /// disarming keeps it silent, and a deadline in the past fires at once.
    #[test]
    fn fires_at_the_deadline_and_follows_re_arming() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().expect("timer");
            let start = Instant::now();
            timer
                .arm(Some(start + Duration::from_millis(5)))
                .expect("arm");
            timer
                .arm(Some(start + Duration::from_millis(20)))
                .expect("re-arm");
            assert_eq!(timer.deadline(), Some(start + Duration::from_millis(20)));
            timer.fired().await.expect("fired");
            assert!(start.elapsed() >= Duration::from_millis(20), "fired early");
            assert_eq!(timer.deadline(), None, "disarmed once fired");

            timer
                .arm(Some(Instant::now() + Duration::from_millis(5)))
                .expect("arm");
            timer.arm(None).expect("disarm");
            let silent = tokio::time::timeout(Duration::from_millis(30), timer.fired()).await;
            assert!(silent.is_err(), "a disarmed timer fired");

            let past = Instant::now().checked_sub(Duration::from_millis(1));
            timer.arm(past).expect("arm in the past");
            tokio::time::timeout(Duration::from_millis(500), timer.fired())
                .await
                .expect("a past deadline fires at once")
                .expect("fired");
        });
    }
}
