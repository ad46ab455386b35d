//! The receive path: validating a received advertisement (RFC 5798 section 7.1, RFC 3768
//! section 7.1), counting what is dropped, and applying an accepted one in Backup or Master.

use std::net::IpAddr;
use std::time::Instant;

use super::{Instance, MAX_PEERS, MasterInfo};
use crate::event::{Reason, Received, RxError, State};
use crate::types::{Centis, Family, Priority, Version};
use crate::wire::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, WireError};

impl Instance {
    /// A received VRRP message for this instance.
    ///
    /// Validates it (RFC 5798 section 7.1, RFC 3768 section 7.1): not our own advert, hop
    /// limit, unicast peer, format and checksum, version, authentication (VRRPv2), interval
    /// (VRRPv2), address list; then applies it to the state machine.
    ///
    /// # Errors
    /// Why the message was dropped; it is counted in [`stats`](Self::stats) too. An error is
    /// informational: the instance is unaffected.
    pub fn handle_packet(&mut self, now: Instant, rx: &Received<'_>) -> Result<(), RxError> {
        // The address list of the previous advert is parsed into again (no allocation per
        // advert), and handed back below.
        let reuse = std::mem::replace(&mut self.rx_addresses, Addresses::V4(Vec::new()));
        let (adv, same_addresses) = self
            .validate(rx, reuse)
            .inspect_err(|e| self.count_error(e))?;
        if !same_addresses {
            self.stats.address_list_errors += 1;
        }
        self.stats.rcvd_advertisements += 1;
        self.record_peer(now, rx.src, &adv);
        if adv.priority == 0 {
            self.stats.rcvd_pri_zero_packets += 1;
        }
        match self.state {
            State::Backup => self.backup_receive(now, rx.src, &adv),
            // During a handover the first advert of a new master ends it.
            State::Master if self.release_deadline.is_some() => {
                if adv.priority != 0 {
                    self.handle_shutdown(now);
                }
            }
            State::Master => self.master_receive(now, rx.src, &adv),
            State::Initialize | State::Fault => {}
        }
        self.rx_addresses = adv.addresses;
        Ok(())
    }

    /// The advert (its addresses collected into `reuse`), and whether its address list
    /// matches ours.
    pub(super) fn validate(
        &self,
        rx: &Received<'_>,
        reuse: Addresses,
    ) -> Result<(Advertisement, bool), RxError> {
        // Our own advert, looped back: from the primary address or from `unicast_source`.
        if Some(rx.src) == self.primary || Some(rx.src) == self.config.unicast_source {
            return Err(RxError::OwnAdvert);
        }
        // RFC 5798 section 7.1: "MUST verify that the IPvX TTL/Hop Limit is 255".
        let required = if rx.dst.is_multicast() {
            255
        } else {
            self.config.unicast_min_hop_limit
        };
        if rx.hop_limit < required {
            return Err(RxError::HopLimit {
                got: rx.hop_limit,
                required,
            });
        }
        if self.config.is_unicast() && !self.config.unicast_peers.contains(&rx.src) {
            return Err(RxError::UnknownPeer { src: rx.src });
        }
        let at = Endpoints {
            src: rx.src,
            dst: rx.dst,
        };
        // A VRRPv3 IPv4 advert may carry either checksum form: accept both, so that routers
        // configured with and without `v3_checksum_as_v2` interoperate.
        let configured = self.config.checksum_mode;
        let other = match configured {
            ChecksumMode::PseudoHeader => ChecksumMode::V3AsV2,
            ChecksumMode::V3AsV2 => ChecksumMode::PseudoHeader,
        };
        let both = [configured, other];
        let v3_ipv4 = self.config.version == Version::V3 && self.family == Family::Ipv4;
        let modes = if v3_ipv4 { &both[..] } else { &both[..1] };
        let adv = Advertisement::parse_reusing(rx.payload, at, modes, reuse)?;
        // RFC 5798 section 7.1: "MUST verify that the VRRP version is ..."
        if adv.version != self.config.version {
            return Err(RxError::VersionMismatch {
                got: adv.version.wire(),
                expected: self.config.version.wire(),
            });
        }
        // RFC 3768 section 7.1: the authentication type must match ours, and the password.
        if self.config.version == Version::V2 {
            let ours = self.template.auth;
            match (adv.auth, ours) {
                (Auth::Unsupported { auth_type, .. }, _) => {
                    return Err(RxError::InvalidAuthType { auth_type });
                }
                (theirs, ours) if theirs.wire_type() != ours.wire_type() => {
                    return Err(RxError::AuthTypeMismatch {
                        got: theirs.wire_type(),
                        expected: ours.wire_type(),
                    });
                }
                (Auth::Password(theirs), Auth::Password(ours)) if theirs != ours => {
                    return Err(RxError::AuthFailure);
                }
                _ => {}
            }
            // RFC 3768 section 7.1: "MUST verify that the Adver Interval in the packet is the
            // same as the locally configured for this virtual router".
            if adv.interval != self.config.advert_interval {
                return Err(RxError::IntervalMismatch {
                    got_centis: adv.interval.centis(),
                    expected_centis: self.config.advert_interval.centis(),
                });
            }
        }
        // RFC 3768 section 7.1 (VRRPv2): a differing address list is dropped "If the packet
        // was not generated by the address owner". RFC 5798 section 7.1 (VRRPv3) only logs it,
        // unless `strict_address_list` asks for the VRRPv2 rule.
        if !self.same_addresses(&adv.addresses) {
            let strict = self.config.strict_address_list || self.config.version == Version::V2;
            if strict && adv.priority != Priority::OWNER.get() {
                return Err(RxError::AddressList);
            }
            // Counted by the caller, not dropped (keepalived without vrrp_strict).
            return Ok((adv, false));
        }
        Ok((adv, true))
    }

    pub(super) fn same_addresses(&self, theirs: &Addresses) -> bool {
        if theirs.len() != self.sorted_vips.len() {
            return false;
        }
        // Sorted on the stack when short (every advert of a steady Master is checked here):
        // no allocation for up to 16 addresses.
        const ON_STACK: usize = 16;
        let mut buf = [IpAddr::from([0u8; 4]); ON_STACK];
        if let Some(sorted) = buf.get_mut(..theirs.len()) {
            for (slot, addr) in sorted.iter_mut().zip(theirs.iter()) {
                *slot = addr;
            }
            sorted.sort_unstable();
            return *sorted == *self.sorted_vips;
        }
        let mut sorted: Vec<IpAddr> = theirs.iter().collect();
        sorted.sort_unstable();
        sorted == self.sorted_vips
    }

    pub(super) fn count_error(&mut self, e: &RxError) {
        let s = &mut self.stats;
        let counter = match e {
            RxError::Wire(WireError::TooShort { .. } | WireError::Length { .. }) => {
                &mut s.packet_length_errors
            }
            RxError::Wire(WireError::Version { .. }) | RxError::VersionMismatch { .. } => {
                &mut s.version_errors
            }
            RxError::Wire(WireError::Type { .. }) => &mut s.rcvd_invalid_type_packets,
            RxError::Wire(WireError::Checksum { .. } | WireError::MixedFamilies) => {
                &mut s.checksum_errors
            }
            RxError::Wire(WireError::ZeroInterval) | RxError::IntervalMismatch { .. } => {
                &mut s.adv_interval_errors
            }
            RxError::HopLimit { .. } => &mut s.ip_ttl_errors,
            RxError::InvalidAuthType { .. } => &mut s.invalid_auth_type,
            RxError::AuthTypeMismatch { .. } => &mut s.auth_type_mismatch,
            RxError::AuthFailure => &mut s.auth_failures,
            RxError::AddressList => &mut s.address_list_errors,
            RxError::UnknownPeer { .. } => &mut s.unknown_peer,
            RxError::OwnAdvert => &mut s.own_adverts,
            // An unknown VRID, or a VRID of 0, is the router's to count.
            RxError::UnknownVrid { .. } | RxError::Wire(_) => return,
        };
        *counter += 1;
    }

    /// Remembers the sender of a valid advert.
    pub(super) fn record_peer(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        if let Some(i) = self.peers.iter().position(|p| p.address == src) {
            self.peers.remove(i);
        } else if self.peers.len() == MAX_PEERS {
            self.peers.remove(0);
        }
        self.peers.push(MasterInfo {
            address: src,
            priority: adv.priority,
            interval: adv.interval,
            seen: now,
        });
    }

    /// RFC 5798 section 6.4.2, "If an ADVERTISEMENT is received" in Backup.
    pub(super) fn backup_receive(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        if adv.priority == 0 {
            // "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer
            // to Skew_Time".
            self.master_down_timer = Some(now + self.skew_time().to_duration());
            self.takeover_reason = Reason::PriorityZero;
            return;
        }
        let ours = self.effective_priority();
        let lower = adv.priority < ours;
        // keepalived preempt_delay: adverts of a lower-priority master are still accepted
        // until the delay, started on first seeing such a master, has passed; an advert of
        // equal or higher priority stops it.
        let delaying = lower
            && self.config.preempt_delay > Centis::ZERO
            && match self.preempt_until {
                None => {
                    self.preempt_until = self.preempt_deadline(now);
                    true
                }
                Some(until) => until > now,
            };
        if !lower {
            self.preempt_until = None;
        }
        // "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater than or
        // equal to the local Priority, then: ... Reset the Master_Down_Timer".
        if !self.config.preempt || !lower || delaying {
            self.heard_master(now, src, adv);
            self.master_down_timer = Some(now + self.master_down_interval().to_duration());
            self.takeover_reason = Reason::MasterDown;
        } else {
            // "Otherwise: Discard the ADVERTISEMENT": the Master_Down_Timer will preempt.
            self.takeover_reason = Reason::Preempted;
        }
    }

    /// Remembers `src` as the master heard, and learns its interval (RFC 5798 section 6.4.2).
    fn heard_master(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        self.learn_interval(adv);
        self.master = Some(MasterInfo {
            address: src,
            priority: adv.priority,
            interval: adv.interval,
            seen: now,
        });
    }

    /// RFC 5798 section 6.4.3, "If an ADVERTISEMENT is received" in Master.
    ///
    /// Actions, in order: for an advert that wins, `StateChanged` to Backup then `RemoveVip`s;
    /// otherwise `SendAdvertisement` (our priority, Adver_Timer reset; not for a lower
    /// priority with `lower_prio_no_advert`) then `lower_prio_repeat` rounds of `Announce` of
    /// every address.
    pub(super) fn master_receive(&mut self, now: Instant, src: IpAddr, adv: &Advertisement) {
        let ours = self.effective_priority();
        // "If the Priority in the ADVERTISEMENT is greater than the local Priority, or the
        // Priority is equal and the primary IPvX Address of the sender is greater than the
        // local primary IPvX Address, then: ... Transition to the Backup state". Our address
        // is the one we send from (keepalived compares with its `saddr`, which is
        // `unicast_src_ip` when set): peers with `unicast_source` send from theirs.
        let higher = adv.priority != 0
            && (adv.priority > ours
                || (adv.priority == ours && self.source_address().is_some_and(|mine| src > mine)));
        if higher {
            self.heard_master(now, src, adv);
            self.leave_state(now, State::Backup, Reason::HigherPriority, false);
            return;
        }
        // Priority 0 (RFC 5798 section 6.4.3): "Send an ADVERTISEMENT, Reset the
        // Adver_Timer". A lower priority: "Otherwise: Discard the ADVERTISEMENT"; like
        // keepalived (unless `lower_prio_no_advert`), answer at once so that a lower-priority
        // router that believes it is Master, after a partition heals, steps down without
        // waiting for our next interval.
        if adv.priority == 0 || !self.config.lower_prio_no_advert {
            self.send_advert(ours);
            self.adver_timer = Some(now + self.config.advert_interval.as_centis().to_duration());
        }
        if adv.priority != 0 {
            self.stats.rcvd_lower_priority += 1;
        }
        // Either way another router believed it was Master, and the clients it answered may
        // still hold its MAC address: re-announce every address (keepalived
        // `garp_lower_prio_repeat`, then again after `garp_lower_prio_delay`). keepalived
        // does this for a lower priority only; a priority-0 advert from another master is the
        // same split brain ending (the resigning router drops the addresses its clients still
        // point at), so it is re-announced too.
        let schedule = self.config.announce;
        if schedule.lower_prio_repeat > 0 {
            self.announce_burst(schedule.lower_prio_repeat);
            // One pending second burst: a later lower-priority advert moves it later.
            self.announce_lower_prio = (schedule.lower_prio_delay > Centis::ZERO)
                .then(|| now + schedule.lower_prio_delay.to_duration());
        }
    }
}
