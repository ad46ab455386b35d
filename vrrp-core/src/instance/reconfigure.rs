//! Commands that change a running instance's configuration or ask it to repeat itself:
//! [`Instance::reconfigure`] (a reload applied in place) and [`Instance::reannounce`].

use std::net::IpAddr;
use std::time::Instant;

use super::Instance;
use crate::config::{ConfigError, InstanceConfig};
use crate::event::{Action, State};
use crate::router::InstanceKey;
use crate::types::{Centis, Family, Version, Vrid};
use crate::wire::{Addresses, Auth};

/// Why [`Instance::reconfigure`] (or [`Router::reconfigure`](crate::Router::reconfigure))
/// refused a configuration. The instance is unchanged.
///
/// A change of VRID, family or version is another virtual router on the wire: it needs a new
/// instance, started make-before-break next to the old one (or after its
/// [`handle_handover`](Instance::handle_handover)). [`field`](Self::field) names the field,
/// as [`ConfigError::field`] does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReconfigureError {
    /// The new configuration breaks a rule ([`InstanceConfig::problems`]); its field is the
    /// error's.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The VRID changed. Field: `vrid`.
    #[error(
        "{to} differs from the running VRID {from}: a new VRID is another virtual router; restart the instance (make-before-break) to change it"
    )]
    Vrid {
        /// The running VRID.
        from: Vrid,
        /// The VRID asked for.
        to: Vrid,
    },
    /// The family (given by the first virtual address) changed. Field: `virtual_addresses`.
    #[error(
        "{to} differs from the running family {from}: each family is its own virtual router; restart the instance (make-before-break) to change it"
    )]
    Family {
        /// The running family.
        from: Family,
        /// The family asked for.
        to: Family,
    },
    /// The protocol version changed. Field: `version`.
    #[error(
        "{to} differs from the running {from}: the other version's peers drop our adverts and the timers follow other rules; restart the instance (make-before-break) to change it"
    )]
    Version {
        /// The running version.
        from: Version,
        /// The version asked for.
        to: Version,
    },
    /// [`Router::reconfigure`](crate::Router::reconfigure) was given a key it does not hold.
    /// Field: none (an empty string).
    #[error(
        "no instance of VRID {} ({}) on interface {}: add it instead",
        .0.vrid, .0.family, .0.interface
    )]
    UnknownInstance(InstanceKey),
}

impl ReconfigureError {
    /// The field of [`InstanceConfig`] at fault: the [`ConfigError`]'s field, `vrid`,
    /// `virtual_addresses` (the family is that of the first virtual address) or `version`;
    /// empty for [`UnknownInstance`](Self::UnknownInstance).
    #[must_use]
    pub fn field(&self) -> String {
        match self {
            Self::Config(e) => e.field(),
            Self::Vrid { .. } => "vrid".to_owned(),
            Self::Family { .. } => "virtual_addresses".to_owned(),
            Self::Version { .. } => "version".to_owned(),
            Self::UnknownInstance(_) => String::new(),
        }
    }
}

impl Instance {
    /// Command: applies a new configuration to the running instance in place (a reload):
    /// no state transition of its own, no priority-0 advert, and no address removed but those
    /// that left the list.
    ///
    /// `config` is checked by the rules of [`Instance::new`]; its `vrid`, family and
    /// `version` must be the running ones ([`ReconfigureError`]: those need a restart). Then:
    ///
    /// - **priority, preempt, preempt_delay**: as [`set_priority`](Self::set_priority): the
    ///   priority is re-evaluated, and a Master whose effective priority changed advertises
    ///   it at once. A running `preempt_delay` keeps its deadline (and ends if the delay
    ///   became 0).
    /// - **advert_interval**: a Master advertises at once with the new interval (so that
    ///   VRRPv3 backups learn it now, RFC 5798 section 6.4.2, rather than time out on a
    ///   longer one) and re-arms its Adver_Timer at the new interval. A VRRPv3 Backup keeps
    ///   the Master_Adver_Interval it learned from the master's adverts (the configured
    ///   interval is only its own, until it has heard one); a VRRPv2 Backup uses the new
    ///   interval (RFC 3768 section 6.1), and drops adverts of the old one as
    ///   `IntervalMismatch` until the master is reloaded too (RFC 3768 section 7.1). A
    ///   running Master_Down_Timer keeps its deadline; the new Master_Down_Interval applies
    ///   from its next reset.
    /// - **virtual_addresses, excluded_addresses**: a Master removes each address that left
    ///   the lists and adds and announces (`announce.repeat` times) each new one; if addresses
    ///   were added and
    ///   `announce.delay` is not zero, a second burst of every address follows `delay` later
    ///   (keepalived's reload, `clear_diff_vrrp`). The next adverts carry the new list. In
    ///   other states only the list changes.
    /// - **unicast_peers, unicast_source**: the destinations, the source and the receive
    ///   filter change at once (the next advert goes to the new peers; the current master's
    ///   adverts are dropped if it is no longer a peer).
    /// - **password, checksum_mode, unicast_min_hop_limit, strict_address_list,
    ///   lower_prio_no_advert**: apply to the next advert sent or received.
    /// - **announce**: applies to the next bursts; a pending second burst is dropped if its
    ///   delay became 0, and a Master re-arms its refresh at the new period from now (or
    ///   stops it).
    /// - **tracks**: a tracked object whose name is still present keeps its current state
    ///   (up or down); a new one starts from `initially_up`; a removed one stops counting.
    ///   The weight is the new configuration's (re-report a varying weight with
    ///   [`set_track_weighted`](Self::set_track_weighted)). Then the instance is
    ///   re-evaluated: a new tracked object of weight 0 that starts down legitimately sends a
    ///   Backup or a Master to Fault (a Master resigning with priority 0), and removing the
    ///   one that held it in Fault lets it recover.
    ///
    /// Actions, in order, for a Master that stays Master: `RemoveVip` of each address that
    /// left, `AddVip` of each new one, `SendAdvertisement` (if the effective priority or the
    /// interval changed), `Announce` of each new address (`announce.repeat` rounds). For a
    /// Master that the new tracks send to Fault: `StateChanged`, `SendAdvertisement`
    /// (priority 0, still with the address list it held), `RemoveVip` of every address it
    /// held (the old list). In other states: the actions of a transition the new tracks
    /// cause, if any (a recovering owner adds the new list). An unchanged configuration
    /// yields no action.
    ///
    /// # Errors
    /// [`ReconfigureError`]; the instance is then unchanged.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        config: InstanceConfig,
    ) -> Result<(), ReconfigureError> {
        config.validate()?;
        let old = &self.config;
        if config.vrid != old.vrid {
            return Err(ReconfigureError::Vrid {
                from: old.vrid,
                to: config.vrid,
            });
        }
        if config.family() != self.family {
            return Err(ReconfigureError::Family {
                from: self.family,
                to: config.family(),
            });
        }
        if config.version != old.version {
            return Err(ReconfigureError::Version {
                from: old.version,
                to: config.version,
            });
        }
        let addresses = Addresses::collect(self.family, config.virtual_addresses.iter().copied())
            .ok_or(ConfigError::NoVirtualAddresses)?;

        // What changes, measured against the running configuration.
        let left: Vec<IpAddr> = old
            .held_addresses()
            .filter(|a| !config.held_addresses().any(|b| b == *a))
            .copied()
            .collect();
        let added: Vec<IpAddr> = config
            .held_addresses()
            .filter(|a| !old.held_addresses().any(|b| b == *a))
            .copied()
            .collect();
        let interval_changed = config.advert_interval != old.advert_interval;
        let old_schedule = old.announce;
        let track_up: Vec<bool> = config
            .tracks
            .iter()
            .map(|t| {
                old.tracks
                    .iter()
                    .position(|o| o.name == t.name)
                    .and_then(|i| self.track_up.get(i).copied())
                    .unwrap_or(t.initially_up)
            })
            .collect();

        // Apply everything but the address list, which a Master that must now leave for
        // Fault still holds (and resigns with).
        let mut config = config;
        let new_vips = std::mem::replace(
            &mut config.virtual_addresses,
            self.config.virtual_addresses.clone(),
        );
        let new_excluded = std::mem::replace(
            &mut config.excluded_addresses,
            self.config.excluded_addresses.clone(),
        );
        self.template.interval = config.advert_interval;
        self.template.auth = config.password.map_or(Auth::None, Auth::Password);
        self.track_up = track_up;
        self.config = config;
        let schedule = self.config.announce;

        // RFC 5798 section 6.4.2: a VRRPv3 backup's Master_Adver_Interval is the master's,
        // once heard; otherwise (VRRPv2, RFC 3768 section 6.1, or no master heard yet, or not
        // Backup) it is the configured one.
        let learned = self.state == State::Backup
            && self.config.version == Version::V3
            && self.master.is_some();
        if !learned {
            self.master_adver_interval = self.config.advert_interval;
        }

        // The announcement schedule's pending bursts.
        if schedule.delay == Centis::ZERO {
            self.announce_second = None;
        }
        if schedule.lower_prio_delay == Centis::ZERO || schedule.lower_prio_repeat == 0 {
            self.announce_lower_prio = None;
        }
        let serving = self.state == State::Master && self.release_deadline.is_none();
        if schedule.refresh != old_schedule.refresh && serving {
            self.announce_refresh =
                (schedule.refresh > Centis::ZERO).then(|| now + schedule.refresh.to_duration());
        }

        if self.state == State::Master && self.fault().is_some() {
            // The new tracks make this Master ineligible: it leaves for Fault (or ends its
            // handover) as from any command, removing the addresses it holds.
            self.reevaluate(now);
            self.set_addresses(new_vips, new_excluded, addresses);
            return Ok(());
        }
        self.set_addresses(new_vips, new_excluded, addresses);
        if self.state != State::Master {
            self.reevaluate(now);
            return Ok(());
        }
        for addr in &left {
            self.actions.push_back(Action::RemoveVip(*addr));
        }
        for addr in &added {
            self.actions.push_back(Action::AddVip(*addr));
        }
        self.reevaluate_advertising(now, interval_changed);
        for _ in 0..schedule.repeat {
            for addr in &added {
                self.actions.push_back(Action::Announce(*addr));
            }
        }
        if !added.is_empty() && serving && schedule.delay > Centis::ZERO {
            self.announce_second = Some(now + schedule.delay.to_duration());
        }
        Ok(())
    }

    /// The virtual addresses, in the configuration, the advert template and the sorted copy,
    /// and the excluded addresses.
    fn set_addresses(&mut self, vips: Vec<IpAddr>, excluded: Vec<IpAddr>, addresses: Addresses) {
        let mut sorted = vips.clone();
        sorted.sort_unstable();
        self.sorted_vips = sorted;
        self.template.addresses = addresses;
        self.config.virtual_addresses = vips;
        self.config.excluded_addresses = excluded;
    }

    /// Command: a Master requests `announce.repeat` announcements of every virtual address at
    /// once (`Announce` actions, address by address, round after round), for a caller that
    /// has just re-added an address it found missing. Any other state: nothing.
    pub fn reannounce(&mut self, now: Instant) {
        // Commands take the time like every other; announcing needs none.
        let _ = now;
        if self.state == State::Master {
            self.announce_burst(self.config.announce.repeat);
        }
    }
}
