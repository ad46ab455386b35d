//! The VIP lifetime renewal: while a Master holds VIPs with a finite lifetime, their
//! lifetime is renewed every quarter of the shortest one, in the wake-up of an advert when one
//! is due first (an idle Master wakes only for its adverts), with no address dump while the
//! address events vouch for the VIPs being vipd's own.

use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use vrrp_core::{InstanceKey, State};
use vrrp_net::netlink::NetEvents;

use super::super::executor::{Managed, VipBatches, VipRequest};
use super::Runner;
use crate::duration::VipLifetime;

/// How close to the engine's next deadline the periodic VIP renewal may start. Measured at
/// 10 ms adverts, a renewal (one replace per VIP, after an address dump when ownership must
/// be checked, with their acknowledgements and the address events they cause) takes about
/// 0.1 ms on an idle machine and several
/// milliseconds when the loop is preempted during it: started within this guard of an
/// advert due, it would delay that advert, so it waits for the deadline and runs just after
/// the advert left, a whole interval ahead of the next. A renewal is postponed by less than
/// the guard, a negligible part of the shortest VIP lifetime (2 s, renewed every 0.5 s).
const RENEW_GUARD: Duration = Duration::from_millis(5);

impl Runner {
    /// Starts the renewal schedule when a Master holds VIPs with a finite lifetime, and stops
    /// it when none does; `restart` starts the period afresh (after a reload).
    pub(super) fn schedule_renewal(&mut self, restart: bool) {
        let renewing = self.instances.iter().any(|(key, m)| self.renews(key, m));
        self.renew_at = match (renewing, self.renew_at) {
            (false, _) => None,
            (true, Some(at)) if !restart => Some(at),
            (true, _) => Some(Instant::now() + self.renew_period()),
        };
        if self.renew_at.is_none() || restart {
            self.renew_postponed = false;
        }
    }

    /// What is due at `now` on the timer: the engine's timeout first, and its actions
    /// performed (an advert due is on the wire before any netlink round trip), then the VIP
    /// renewal, unless the engine's next deadline is too close: the renewal then waits for
    /// that deadline and runs just after it (see [`RENEW_GUARD`]). A renewal due before the
    /// engine's next deadline runs early, in this wake-up, rather than in one of its own: an
    /// idle Master wakes only for its adverts.
    pub(super) async fn timer_fired(
        &mut self,
        now: Instant,
        engine: Option<Instant>,
        events: &mut NetEvents,
    ) {
        if engine.is_some_and(|at| now >= at) {
            self.router.handle_timeout(now);
        }
        let Some(renew_at) = self.renew_at else {
            return;
        };
        let due_before_next_wake = self
            .router
            .poll_timeout()
            .is_some_and(|next| next >= renew_at);
        if now < renew_at && !due_before_next_wake {
            return;
        }
        self.perform_actions().await;
        if self.renew_at.is_none() {
            // No Master holds a renewable VIP any more.
            return;
        }
        let now = Instant::now();
        // Postponed once at most: with many instances a deadline is always near.
        if !self.renew_postponed
            && let Some(next) = self.router.poll_timeout()
            && next > now
            && next - now < RENEW_GUARD
        {
            self.renew_at = Some(next);
            self.renew_postponed = true;
            return;
        }
        self.renew_postponed = false;
        self.renew_at = Some(now + self.renew_period());
        // Every address event so far is read first: a VIP replaced by another program is then
        // known not to be vipd's, and a renewal without a dump cannot overwrite it.
        while let Some(Some(event)) = events.next().now_or_never() {
            self.net_event(event).await;
        }
        self.renew_vips().await;
    }

    /// Whether instance `key` (managed as `m`) has VIPs to renew: it is Master and its VIPs
    /// have a finite lifetime.
    fn renews(&self, key: &InstanceKey, m: &Managed) -> bool {
        matches!(m.plan.vip_lifetime, VipLifetime::After(_))
            && self
                .router
                .instance(key)
                .is_some_and(|i| i.state() == State::Master)
    }

    /// How often VIP lifetimes are renewed: a quarter of the shortest lifetime, at least
    /// 0.5 s, so a VIP survives three missed renewals (the shortest lifetime is 2 s).
    fn renew_period(&self) -> Duration {
        let shortest = self
            .instances
            .values()
            .filter_map(|m| match m.plan.vip_lifetime {
                VipLifetime::After(d) => Some(d.to_duration()),
                VipLifetime::Forever => None,
            })
            .min()
            .unwrap_or(Duration::from_secs(3600));
        (shortest / 4).max(Duration::from_millis(500))
    }

    /// Renews the kernel lifetime of every VIP held as Master: one request batch per interface
    /// and lifetime, however many instances share it, with an address dump only when the
    /// address events cannot be trusted to have shown every change ([`Self::ownership_known`]).
    async fn renew_vips(&mut self) {
        // Held VIPs are renewed without a dump while the events vouch for them; the others
        // (never added, or lost to another program) go through the checking path, which adds
        // them back if they are free.
        let (mut own, mut checked) = (VipBatches::new(), VipBatches::new());
        for (key, m) in &self.instances {
            if !self.renews(key, m) {
                continue;
            }
            for v in &m.plan.vips {
                let held = m.held.get(&v.addr) == Some(&v.prefix_len);
                let batches = if held && self.ownership_known {
                    &mut own
                } else {
                    &mut checked
                };
                batches
                    .entry((m.vip_index_of(v.addr), m.plan.vip_lifetime))
                    .or_default()
                    .push((v.addr, v.prefix_len, *key));
            }
        }
        for (batches, request) in [(own, VipRequest::RenewOwn), (checked, VipRequest::Renew)] {
            if !batches.is_empty() {
                self.executor
                    .add_vips(batches, &mut self.instances, request)
                    .await;
            }
        }
        self.ownership_known = true;
    }
}
