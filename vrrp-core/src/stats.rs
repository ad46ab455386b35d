//! Counters named after the VRRP MIB (RFC 6527 `vrrpv3Statistics*` and RFC 2787 for the
//! VRRPv2 authentication counters).
//!
//! Each counter also has a stable snake_case name, written next to its field and listed by
//! `counters()`, for status pages and metrics: a consumer iterates instead of renaming fields
//! by hand. The names are part of the API: they are only ever added to, never changed.
//!
//! With the `serde` feature, each struct serializes as an object keyed by its Rust field
//! names (`master_reasons` nested); a missing field deserializes as 0.

use crate::event::Reason;

/// Declares a struct of `u64` counters, each with its stable name, plus any nested counter
/// structs declared the same way; and its `counters()` (own counters in declaration order,
/// then each nested struct's) and `accumulate()`. One list, so a field and its name cannot
/// drift apart.
macro_rules! counters {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $( $(#[$fattr:meta])* $field:ident => $label:literal, )*
        }
        $( nested { $( $(#[$nattr:meta])* $nested:ident: $nty:ty, )* } )?
    ) => {
        $(#[$attr])*
        pub struct $name {
            $( $(#[$fattr])* pub $field: u64, )*
            $( $( $(#[$nattr])* pub $nested: $nty, )* )?
        }

        impl $name {
            /// Every counter with its stable snake_case name, in a fixed order (the order of
            /// the fields' docs; names are only ever appended). For `/status` and metrics.
            pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + use<> {
                let own = [$( ($label, self.$field), )*].into_iter();
                $( $( let own = own.chain(self.$nested.counters()); )* )?
                own
            }

            /// Adds every counter of `other` to this one.
            pub fn accumulate(&mut self, other: &Self) {
                $( self.$field += other.$field; )*
                $( $( self.$nested.accumulate(&other.$nested); )* )?
            }
        }
    };
}

counters! {
    /// Counters of one instance. Every kind of rejected input has its own counter.
    ///
    /// The stable name of each counter ([`counters`](Self::counters)) is given in
    /// brackets.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(default)
    )]
    #[non_exhaustive]
    pub struct Stats {
        /// Adverts sent, one per destination \[`adverts_sent`\].
        sent_advertisements => "adverts_sent",
        /// `vrrpv3StatisticsRcvdAdvertisements`: valid adverts received
        /// \[`adverts_received`\].
        rcvd_advertisements => "adverts_received",
        /// `vrrpv3StatisticsSentPriZeroPackets` \[`priority_zero_sent`\].
        sent_pri_zero_packets => "priority_zero_sent",
        /// `vrrpv3StatisticsRcvdPriZeroPackets` \[`priority_zero_received`\].
        rcvd_pri_zero_packets => "priority_zero_received",
        /// `vrrpv3StatisticsMasterTransitions`: times this instance became Master
        /// \[`master_transitions`\].
        master_transitions => "master_transitions",
        /// Our own adverts looped back to us, ignored, not an error \[`own_adverts`\].
        own_adverts => "own_adverts",
        /// `vrrpv3StatisticsIpTtlErrors`: hop limit / TTL not 255 (or below the unicast
        /// minimum) \[`error_ttl`\].
        ip_ttl_errors => "error_ttl",
        /// `vrrpv3RouterVersionErrors`, counted per instance: the other version, or an
        /// unknown one \[`error_version`\].
        version_errors => "error_version",
        /// `vrrpv3StatisticsRcvdInvalidTypePackets` \[`error_type`\].
        rcvd_invalid_type_packets => "error_type",
        /// `vrrpv3StatisticsPacketLengthErrors`: too short, or length not matching the count
        /// \[`error_length`\].
        packet_length_errors => "error_length",
        /// `vrrpv3RouterChecksumErrors`, counted per instance \[`error_checksum`\].
        checksum_errors => "error_checksum",
        /// `vrrpv3StatisticsAdvIntervalErrors`: VRRPv2 interval differing from ours, or zero
        /// \[`error_interval`\].
        adv_interval_errors => "error_interval",
        /// `vrrpv3StatisticsAddressListErrors`: address list differing from ours
        /// \[`error_address_list`\].
        address_list_errors => "error_address_list",
        /// RFC 2787 `vrrpStatsAuthFailures`: wrong password \[`error_auth_failure`\].
        auth_failures => "error_auth_failure",
        /// RFC 2787 `vrrpStatsInvalidAuthType`: an authentication type this crate does not
        /// know \[`error_auth_type_invalid`\].
        invalid_auth_type => "error_auth_type_invalid",
        /// RFC 2787 `vrrpStatsAuthTypeMismatch`: a known type other than ours
        /// \[`error_auth_type_mismatch`\].
        auth_type_mismatch => "error_auth_type_mismatch",
        /// Adverts from a source that is not a configured unicast peer
        /// \[`error_unknown_peer`\].
        unknown_peer => "error_unknown_peer",
        /// Valid adverts of lower priority (or of equal priority from a lower address)
        /// received as Master: another router believed it was Master, a split brain that is
        /// healing (answered with an advert and `garp_lower_prio_repeat` announcements)
        /// \[`lower_priority_received`\].
        rcvd_lower_priority => "lower_priority_received",
    }
    nested {
        /// Transitions to Master by their reason (RFC 6527
        /// `vrrpv3StatisticsNewMasterReason`, refined); their names follow the counters above
        /// \[`master_reason_*`\].
        master_reasons: MasterReasons,
    }
}

counters! {
    /// Transitions to Master, by reason. Stable names in brackets.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(default)
    )]
    #[non_exhaustive]
    pub struct MasterReasons {
        /// The address owner (priority 255) started, or left Fault, straight into Master
        /// \[`master_reason_owner`\].
        owner => "master_reason_owner",
        /// `masterNoResponse`: the Master_Down_Timer expired with no advert from the master
        /// \[`master_reason_master_down`\].
        master_down => "master_reason_master_down",
        /// The master resigned with a priority-0 advert and Skew_Time passed
        /// \[`master_reason_priority_zero`\].
        priority_zero => "master_reason_priority_zero",
        /// `preempted`: this router's higher priority took over from a lower-priority master
        /// \[`master_reason_preempted`\].
        preempted => "master_reason_preempted",
    }
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
}

counters! {
    /// Counters of a [`Router`](crate::Router) for packets no instance could take. Stable
    /// names in brackets.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[cfg_attr(
        feature = "serde",
        derive(serde::Serialize, serde::Deserialize),
        serde(default)
    )]
    #[non_exhaustive]
    pub struct RouterStats {
        /// `vrrpv3RouterVrIdErrors`: adverts for a VRID and family not configured here
        /// \[`vrid`\].
        vrid_errors => "vrid",
        /// Messages shorter than the 8-byte header \[`length`\].
        packet_length_errors => "length",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_names_are_stable_and_in_order() {
        let stats = Stats {
            sent_advertisements: 1,
            unknown_peer: 17,
            master_reasons: MasterReasons {
                preempted: 21,
                ..MasterReasons::default()
            },
            ..Stats::default()
        };
        let names: Vec<&str> = stats.counters().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [
                "adverts_sent",
                "adverts_received",
                "priority_zero_sent",
                "priority_zero_received",
                "master_transitions",
                "own_adverts",
                "error_ttl",
                "error_version",
                "error_type",
                "error_length",
                "error_checksum",
                "error_interval",
                "error_address_list",
                "error_auth_failure",
                "error_auth_type_invalid",
                "error_auth_type_mismatch",
                "error_unknown_peer",
                "lower_priority_received",
                "master_reason_owner",
                "master_reason_master_down",
                "master_reason_priority_zero",
                "master_reason_preempted",
            ]
        );
        let values: Vec<u64> = stats.counters().map(|(_, v)| v).collect();
        assert_eq!(values.first(), Some(&1));
        assert_eq!(values.get(16), Some(&17));
        assert_eq!(values.last(), Some(&21));

        let router = RouterStats {
            vrid_errors: 3,
            packet_length_errors: 4,
        };
        assert_eq!(
            router.counters().collect::<Vec<_>>(),
            [("vrid", 3), ("length", 4)]
        );
    }

    #[test]
    fn accumulate_adds_every_counter() {
        let mut total = Stats::default();
        let one = Stats {
            checksum_errors: 2,
            master_reasons: MasterReasons {
                owner: 1,
                ..MasterReasons::default()
            },
            ..Stats::default()
        };
        total.accumulate(&one);
        total.accumulate(&one);
        assert_eq!(total.checksum_errors, 4);
        assert_eq!(total.master_reasons.owner, 2);
        assert_eq!(total.counters().map(|(_, v)| v).sum::<u64>(), 6);
    }
}
