//! Counters named after the VRRP MIB (RFC 6527 `vrrpv3Statistics*` and RFC 2787 for the
//! VRRPv2 authentication counters).

use crate::event::Reason;

/// Counters of one instance. Every kind of rejected input has its own counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `vrrpv3StatisticsMasterTransitions`: times this instance became Master.
    pub master_transitions: u64,
    /// Transitions to Master by their reason (RFC 6527 `vrrpv3StatisticsNewMasterReason`,
    /// refined).
    pub master_reasons: MasterReasons,
    /// `vrrpv3StatisticsRcvdAdvertisements`: valid adverts received.
    pub rcvd_advertisements: u64,
    /// Adverts sent (one per destination).
    pub sent_advertisements: u64,
    /// `vrrpv3StatisticsRcvdPriZeroPackets`.
    pub rcvd_pri_zero_packets: u64,
    /// `vrrpv3StatisticsSentPriZeroPackets`.
    pub sent_pri_zero_packets: u64,
    /// `vrrpv3StatisticsAdvIntervalErrors`: VRRPv2 interval differing from ours, or zero.
    pub adv_interval_errors: u64,
    /// `vrrpv3StatisticsIpTtlErrors`: hop limit / TTL not 255 (or below the unicast minimum).
    pub ip_ttl_errors: u64,
    /// `vrrpv3StatisticsRcvdInvalidTypePackets`.
    pub rcvd_invalid_type_packets: u64,
    /// `vrrpv3StatisticsAddressListErrors`: address list differing from ours.
    pub address_list_errors: u64,
    /// `vrrpv3StatisticsPacketLengthErrors`: too short, or length not matching the count.
    pub packet_length_errors: u64,
    /// `vrrpv3RouterChecksumErrors`, counted per instance.
    pub checksum_errors: u64,
    /// `vrrpv3RouterVersionErrors`, counted per instance: the other version, or an unknown one.
    pub version_errors: u64,
    /// RFC 2787 `vrrpStatsAuthFailures`: wrong password.
    pub auth_failures: u64,
    /// RFC 2787 `vrrpStatsInvalidAuthType`: an authentication type this crate does not know.
    pub invalid_auth_type: u64,
    /// RFC 2787 `vrrpStatsAuthTypeMismatch`: a known type other than ours.
    pub auth_type_mismatch: u64,
    /// Adverts from a source that is not a configured unicast peer.
    pub unknown_peer: u64,
    /// Our own adverts looped back to us (ignored, not an error).
    pub own_adverts: u64,
}

impl Stats {
    /// Adds every counter of `other` to this one.
    pub fn accumulate(&mut self, other: &Self) {
        self.master_transitions += other.master_transitions;
        self.master_reasons.accumulate(&other.master_reasons);
        self.rcvd_advertisements += other.rcvd_advertisements;
        self.sent_advertisements += other.sent_advertisements;
        self.rcvd_pri_zero_packets += other.rcvd_pri_zero_packets;
        self.sent_pri_zero_packets += other.sent_pri_zero_packets;
        self.adv_interval_errors += other.adv_interval_errors;
        self.ip_ttl_errors += other.ip_ttl_errors;
        self.rcvd_invalid_type_packets += other.rcvd_invalid_type_packets;
        self.address_list_errors += other.address_list_errors;
        self.packet_length_errors += other.packet_length_errors;
        self.checksum_errors += other.checksum_errors;
        self.version_errors += other.version_errors;
        self.auth_failures += other.auth_failures;
        self.invalid_auth_type += other.invalid_auth_type;
        self.auth_type_mismatch += other.auth_type_mismatch;
        self.unknown_peer += other.unknown_peer;
        self.own_adverts += other.own_adverts;
    }
}

/// Transitions to Master, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MasterReasons {
    /// The address owner (priority 255) started, or left Fault, straight into Master.
    pub owner: u64,
    /// `masterNoResponse`: the Master_Down_Timer expired with no advert from the master.
    pub master_down: u64,
    /// The master resigned with a priority-0 advert and Skew_Time passed.
    pub priority_zero: u64,
    /// `preempted`: this router's higher priority took over from a lower-priority master.
    pub preempted: u64,
}

impl MasterReasons {
    pub(crate) fn record(&mut self, reason: Reason) {
        match reason {
            Reason::Owner => self.owner += 1,
            Reason::MasterDown => self.master_down += 1,
            Reason::PriorityZero => self.priority_zero += 1,
            Reason::Preempted => self.preempted += 1,
            _ => {}
        }
    }

    fn accumulate(&mut self, other: &Self) {
        self.owner += other.owner;
        self.master_down += other.master_down;
        self.priority_zero += other.priority_zero;
        self.preempted += other.preempted;
    }
}

/// Counters of a [`Router`](crate::Router) for packets no instance could take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// `vrrpv3RouterVrIdErrors`: adverts for a VRID and family not configured here.
    pub vrid_errors: u64,
    /// Messages shorter than the 8-byte header.
    pub packet_length_errors: u64,
}
