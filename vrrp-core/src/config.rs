//! Configuration of one virtual router instance, validated once by [`Instance::new`].
//!
//! [`Instance::new`]: crate::Instance::new

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::track::Track;
use crate::types::{Centis, Family, Interval, Priority, Version, Vrid};
use crate::wire::{ChecksumMode, Password};

/// The largest `preempt_delay`, 1000 s, as in keepalived.
pub const MAX_PREEMPT_DELAY: Centis = Centis(100_000);

/// The gratuitous ARP / unsolicited neighbour advertisement schedule of a master, with the
/// meaning of keepalived's `garp_master_*` and `garp_lower_prio_*` knobs.
///
/// On becoming Master, `repeat` announcements of every virtual address are requested at once;
/// if `delay` is not zero, `repeat` more follow `delay` later; and if `refresh` is not zero,
/// `refresh_repeat` more every `refresh` (counted from becoming Master) for as long as the
/// router stays Master.
///
/// When a Master hears an advert of lower priority (or of its own priority from a lower
/// address), or a priority-0 advert, another router believed it was Master: a split brain is
/// healing, and clients may still hold the other router's MAC address. The Master then
/// requests `lower_prio_repeat` announcements of every virtual address at once and, if
/// `lower_prio_delay` is not zero, `lower_prio_repeat` more `lower_prio_delay` later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AnnounceSchedule {
    /// `garp_master_delay`: delay of the second burst after becoming Master; 0 for none.
    /// keepalived's default is 5 s.
    pub delay: Centis,
    /// `garp_master_repeat`: announcements per address in each of the first two bursts.
    /// Default 5.
    pub repeat: u8,
    /// `garp_master_refresh`: period of the refresh bursts while Master; 0 (the default) for
    /// none.
    pub refresh: Centis,
    /// `garp_master_refresh_repeat`: announcements per address in each refresh burst.
    /// Default 1.
    pub refresh_repeat: u8,
    /// `garp_lower_prio_repeat`: announcements per address in each burst a Master sends on
    /// hearing an advert of lower priority (or of priority 0); 0 for none. keepalived's
    /// default is the global `vrrp_garp_master_repeat`, 5 (0 with `vrrp_strict`).
    pub lower_prio_repeat: u8,
    /// `garp_lower_prio_delay`: delay of the second such burst; 0 for none. keepalived's
    /// default is the global `vrrp_garp_master_delay`, 5 s (0 with `vrrp_strict`).
    pub lower_prio_delay: Centis,
}

impl Default for AnnounceSchedule {
    fn default() -> Self {
        Self {
            delay: Centis::from_secs(5),
            repeat: 5,
            refresh: Centis::ZERO,
            refresh_repeat: 1,
            lower_prio_repeat: 5,
            lower_prio_delay: Centis::from_secs(5),
        }
    }
}

/// Configuration of one virtual router: one VRID, one family, on one interface.
///
/// Build it with [`InstanceConfig::new`], adjust the public fields, and hand it to
/// [`Instance::new`](crate::Instance::new), which validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceConfig {
    /// Protocol version. Default VRRPv3.
    pub version: Version,
    /// Virtual Router Identifier.
    pub vrid: Vrid,
    /// Base priority; 255 means this router owns the addresses. Default 100.
    pub priority: Priority,
    /// Advertisement interval. Default 1 s.
    pub advert_interval: Interval,
    /// Whether a higher-priority backup takes over from a lower-priority master
    /// (keepalived `nopreempt` is `false`). Default true.
    pub preempt: bool,
    /// keepalived `preempt_delay`: after first seeing a lower-priority master, its adverts are
    /// still accepted for this long before this router preempts it (then after up to
    /// Master_Down_Interval). An advert of equal or higher priority resets it. 0 to 1000 s;
    /// default 0.
    pub preempt_delay: Centis,
    /// VRRPv2 simple password; a configuration error with VRRPv3.
    pub password: Option<Password>,
    /// Checksum of VRRPv3 IPv4 adverts sent (received adverts may carry either form).
    pub checksum_mode: ChecksumMode,
    /// The virtual addresses, all of the instance's family, at least one, at most 255.
    pub virtual_addresses: Vec<IpAddr>,
    /// Unicast peers: when not empty, adverts are sent to each of them instead of the
    /// multicast group, and adverts from any other source are rejected. A peer is matched
    /// against the advert's IP source, whatever it is: the peer's link-local address, or the
    /// global address it sends from with its own `unicast_source` (keepalived
    /// `unicast_src_ip`).
    pub unicast_peers: Vec<IpAddr>,
    /// Unicast even with no peer: adverts go to `unicast_peers` only (none while it is
    /// empty) and only they are accepted, never the multicast group. For peers that come and
    /// go (discovered from an API): a lone router then becomes Master after
    /// Master_Down_Interval, as any lone router does, instead of silently switching to
    /// multicast. `false` (the default): an empty `unicast_peers` means multicast.
    pub unicast: bool,
    /// keepalived `unicast_src_ip`: this router's address to send unicast adverts from
    /// instead of the primary address (it is then the source the VRRPv3 checksum covers, and
    /// the address compared in the equal-priority tie-break, RFC 5798 section 6.4.3, as
    /// keepalived compares its `saddr`). Adverts received from it are our own. Of the
    /// instance's family. Only used with `unicast_peers`: multicast adverts keep the primary
    /// address (link-local for IPv6) as source. Default `None`.
    pub unicast_source: Option<IpAddr>,
    /// The lowest hop limit (TTL) accepted on adverts sent to a unicast address. 255 by
    /// default, as RFC 5798 requires; keepalived 2.2.7 sends IPv6 unicast adverts with hop
    /// limit 64, so unicast interop with it over IPv6 needs 64 or less. Adverts to the
    /// multicast group always need 255.
    pub unicast_min_hop_limit: u8,
    /// The gratuitous ARP / unsolicited NA schedule of a master.
    pub announce: AnnounceSchedule,
    /// Tracked objects.
    pub tracks: Vec<Track>,
    /// VRRPv3: drop adverts whose address list differs from ours unless the owner sent them,
    /// as VRRPv2 must (RFC 3768 section 7.1). Off by default, per RFC 5798 section 7.1: a
    /// mismatch is counted in [`Stats::address_list_errors`](crate::Stats) and the advert
    /// is still processed, which keeps two routers whose lists differ from both becoming
    /// Master. (keepalived drops such adverts in both versions.)
    pub strict_address_list: bool,
    /// keepalived's `lower_prio_no_advert`: a Master that hears an advert of lower priority
    /// (or of its own priority from a lower address) does not answer it with an advert of its
    /// own, as RFC 5798 section 6.4.3 says ("Discard the ADVERTISEMENT"); it still
    /// re-announces its addresses (`garp_lower_prio_repeat`). Off by default, like
    /// keepalived, which answers at once so that the other router steps down without waiting
    /// for the next interval. A priority-0 advert is always answered (RFC 5798).
    pub lower_prio_no_advert: bool,
    /// keepalived's `virtual_ipaddress_excluded`: addresses a Master holds (added, announced
    /// and removed with the virtual addresses) that its adverts do not carry, so that peers do
    /// not compare them. Either family (keepalived's use: IPv6 addresses beside an IPv4
    /// instance's); none may repeat a virtual address or each other.
    pub excluded_addresses: Vec<IpAddr>,
}

impl InstanceConfig {
    /// A VRRPv3 configuration with keepalived's defaults for `vrid` and its virtual addresses.
    #[must_use]
    pub fn new(vrid: Vrid, virtual_addresses: Vec<IpAddr>) -> Self {
        Self {
            version: Version::V3,
            vrid,
            priority: Priority::DEFAULT,
            advert_interval: Interval::ONE_SECOND,
            preempt: true,
            preempt_delay: Centis::ZERO,
            password: None,
            checksum_mode: ChecksumMode::PseudoHeader,
            virtual_addresses,
            unicast_peers: Vec::new(),
            unicast: false,
            unicast_source: None,
            unicast_min_hop_limit: 255,
            announce: AnnounceSchedule::default(),
            tracks: Vec::new(),
            strict_address_list: false,
            lower_prio_no_advert: false,
            excluded_addresses: Vec::new(),
        }
    }

    /// Whether adverts are unicast: `unicast` is set or there are peers.
    #[must_use]
    pub fn is_unicast(&self) -> bool {
        self.unicast || !self.unicast_peers.is_empty()
    }

    /// Every address a Master holds: the virtual addresses, then the excluded ones.
    pub(crate) fn held_addresses(&self) -> impl Iterator<Item = &IpAddr> {
        self.virtual_addresses
            .iter()
            .chain(&self.excluded_addresses)
    }

    /// The family, given by the first virtual address (IPv4 if there is none).
    #[must_use]
    pub fn family(&self) -> Family {
        self.virtual_addresses
            .first()
            .map_or(Family::Ipv4, Family::of)
    }

    /// Checks every rule; [`Instance::new`](crate::Instance::new) calls this.
    ///
    /// # Errors
    /// The first problem [`problems`](Self::problems) finds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Every rule this configuration breaks, in field order (empty when it is valid): the
    /// one set of rules behind [`validate`](Self::validate). [`ConfigError::field`] names
    /// the field of each.
    ///
    /// A list entry is reported once, for its first problem (an address of the wrong family
    /// is not also reported as a duplicate); a tracked object may have both a bad weight and
    /// a repeated name.
    #[must_use]
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let family = self.family();
        if self.virtual_addresses.is_empty() {
            out.push(ConfigError::NoVirtualAddresses);
        }
        if self.virtual_addresses.len() > usize::from(u8::MAX) {
            out.push(ConfigError::TooManyAddresses {
                count: self.virtual_addresses.len(),
            });
        }
        let mut seen = BTreeSet::new();
        for (index, addr) in self.virtual_addresses.iter().enumerate() {
            if Family::of(addr) != family {
                out.push(ConfigError::MixedFamilies {
                    index,
                    address: *addr,
                    family,
                });
            } else if !seen.insert(addr) {
                out.push(ConfigError::DuplicateAddress {
                    index,
                    address: *addr,
                });
            }
        }
        for (index, addr) in self.excluded_addresses.iter().enumerate() {
            if !seen.insert(addr) {
                out.push(ConfigError::DuplicateExcluded {
                    index,
                    address: *addr,
                });
            }
        }
        for (index, peer) in self.unicast_peers.iter().enumerate() {
            if Family::of(peer) != family {
                out.push(ConfigError::PeerFamily {
                    index,
                    peer: *peer,
                    family,
                });
            }
        }
        if let Some(address) = self.unicast_source {
            if Family::of(&address) != family {
                out.push(ConfigError::UnicastSourceFamily { address, family });
            } else if address.is_unspecified() || address.is_multicast() {
                out.push(ConfigError::UnicastSourceNotUnicast { address });
            }
        }
        if self.version == Version::V2 && family == Family::Ipv6 {
            out.push(ConfigError::V2Ipv6);
        }
        if !self.advert_interval.fits(self.version) {
            out.push(ConfigError::Interval {
                interval: self.advert_interval,
                version: self.version,
            });
        }
        if self.version == Version::V3 && self.password.is_some() {
            out.push(ConfigError::PasswordWithV3);
        }
        if !self.preempt && self.priority.is_owner() {
            out.push(ConfigError::NopreemptOwner);
        }
        if self.preempt_delay > MAX_PREEMPT_DELAY {
            out.push(ConfigError::PreemptDelay {
                delay: self.preempt_delay,
            });
        }
        let mut names = BTreeSet::new();
        for (index, track) in self.tracks.iter().enumerate() {
            if !Track::weight_in_range(track.weight) {
                out.push(ConfigError::TrackWeight {
                    index,
                    name: track.name.clone(),
                    weight: track.weight,
                });
            }
            if !names.insert(track.name.as_str()) {
                out.push(ConfigError::DuplicateTrack {
                    index,
                    name: track.name.clone(),
                });
            }
        }
        out
    }
}

/// A rule an [`InstanceConfig`] breaks: what is wrong with a value, and the fix.
///
/// [`field`](Self::field) gives the field's path in [`InstanceConfig`] terms, written on each
/// variant below, so that a layer with its own configuration format can map it onto its own
/// field names (vipd shows `instances[0].vips[2]: <message>`); show the two together, as
/// `{field}: {message}`. Variants about one entry of a list carry its `index`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `virtual_addresses` is empty. Field: `virtual_addresses`.
    #[error("virtual_addresses is empty: give at least one virtual address")]
    NoVirtualAddresses,
    /// More than 255 virtual addresses. Field: `virtual_addresses`.
    #[error(
        "virtual_addresses has {count} entries but an advertisement carries at most 255: split them over several VRIDs"
    )]
    TooManyAddresses {
        /// How many were given.
        count: usize,
    },
    /// A virtual address of the other family than the first one. Field:
    /// `virtual_addresses[index]`.
    #[error(
        "{address} is not of the same family as the first virtual address ({family}): use one instance per family (an IPv4 and an IPv6 instance may share a VRID)"
    )]
    MixedFamilies {
        /// Its position in `virtual_addresses`.
        index: usize,
        /// The odd one out.
        address: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// The same virtual address twice. Field: `virtual_addresses[index]`, the second
    /// occurrence.
    #[error("{address} is listed twice: remove the duplicate")]
    DuplicateAddress {
        /// The position of the repeat in `virtual_addresses`.
        index: usize,
        /// The repeated address.
        address: IpAddr,
    },
    /// A unicast peer of the other family. Field: `unicast_peers[index]`.
    #[error(
        "{peer} is not of the instance's family ({family}): list peers of the virtual addresses' family"
    )]
    PeerFamily {
        /// Its position in `unicast_peers`.
        index: usize,
        /// The peer.
        peer: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// `unicast_source` of the other family. Field: `unicast_source`.
    #[error(
        "{address} is not of the instance's family ({family}): give this router's address of the virtual addresses' family"
    )]
    UnicastSourceFamily {
        /// The address given.
        address: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// `unicast_source` is the unspecified address or a multicast address. Field:
    /// `unicast_source`.
    #[error(
        "{address} is not a unicast address: give the address of this router adverts are sent from"
    )]
    UnicastSourceNotUnicast {
        /// The address given.
        address: IpAddr,
    },
    /// VRRPv2 with IPv6 addresses. Field: `version`.
    #[error("VRRPv2 (RFC 3768) is IPv4 only: use version 3 for IPv6 virtual addresses")]
    V2Ipv6,
    /// The advertisement interval does not fit the version. Field: `advert_interval`.
    #[error(
        "{interval} is not valid for {version}: {}", match version { Version::V2 => "whole seconds from 1s to 255s", _ => "10ms to 40.95s in steps of 10ms" }
    )]
    Interval {
        /// The interval.
        interval: Interval,
        /// The version.
        version: Version,
    },
    /// A password with VRRPv3. Field: `password`.
    #[error(
        "VRRPv3 (RFC 5798) has no authentication field, so a password cannot be used: keepalived silently ignores auth_pass with version 3 and runs unauthenticated; remove the password, or use version 2 to keep simple-password authentication"
    )]
    PasswordWithV3,
    /// `preempt` off with priority 255. Field: `preempt`.
    #[error(
        "preempt: false (nopreempt) with priority 255: the address owner always preempts (RFC 5798 section 6.4.1); lower the priority or allow preemption"
    )]
    NopreemptOwner,
    /// `preempt_delay` above 1000 s. Field: `preempt_delay`.
    #[error("{delay} exceeds the 1000s maximum: give 0 to 1000 seconds")]
    PreemptDelay {
        /// The delay.
        delay: Centis,
    },
    /// A track weight outside -254 to 254. Field: `tracks[index]` (its `weight`).
    #[error("track {name:?} has weight {weight}: weights go from -254 to 254 (0 means fault)")]
    TrackWeight {
        /// Its position in `tracks`.
        index: usize,
        /// The track.
        name: String,
        /// Its weight.
        weight: i16,
    },
    /// Two tracks with one name. Field: `tracks[index]` (its `name`), the second occurrence.
    #[error("track name {name:?} is used twice: give each tracked object its own name")]
    DuplicateTrack {
        /// The position of the repeat in `tracks`.
        index: usize,
        /// The name.
        name: String,
    },
    /// An excluded address that is also a virtual address or an earlier excluded one.
    /// Field: `excluded_addresses[index]`.
    #[error("{address} is already a virtual or excluded address: list it once")]
    DuplicateExcluded {
        /// Its position in `excluded_addresses`.
        index: usize,
        /// The repeated address.
        address: IpAddr,
    },
}

impl ConfigError {
    /// The field of [`InstanceConfig`] at fault, with the index of a list entry:
    /// `virtual_addresses`, `virtual_addresses[2]`, `unicast_peers[0]`, `unicast_source`,
    /// `version`,
    /// `advert_interval`, `password`, `preempt`, `preempt_delay` or `tracks[1]` (each
    /// variant's docs say which).
    #[must_use]
    pub fn field(&self) -> String {
        match self {
            Self::NoVirtualAddresses | Self::TooManyAddresses { .. } => {
                "virtual_addresses".to_owned()
            }
            Self::MixedFamilies { index, .. } | Self::DuplicateAddress { index, .. } => {
                format!("virtual_addresses[{index}]")
            }
            Self::DuplicateExcluded { index, .. } => format!("excluded_addresses[{index}]"),
            Self::PeerFamily { index, .. } => format!("unicast_peers[{index}]"),
            Self::UnicastSourceFamily { .. } | Self::UnicastSourceNotUnicast { .. } => {
                "unicast_source".to_owned()
            }
            Self::V2Ipv6 => "version".to_owned(),
            Self::Interval { .. } => "advert_interval".to_owned(),
            Self::PasswordWithV3 => "password".to_owned(),
            Self::NopreemptOwner => "preempt".to_owned(),
            Self::PreemptDelay { .. } => "preempt_delay".to_owned(),
            Self::TrackWeight { index, .. } | Self::DuplicateTrack { index, .. } => {
                format!("tracks[{index}]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Password;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_valid_config_has_no_problems() {
        let c = InstanceConfig::new(Vrid::new(1).unwrap(), vec![v4("10.0.0.1")]);
        assert_eq!(c.problems(), vec![]);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let mut c = InstanceConfig::new(
            Vrid::new(1).unwrap(),
            vec![
                v4("10.0.0.1"),
                v4("fd00::1"),
                v4("10.0.0.1"),
                v4("10.0.0.2"),
            ],
        );
        c.unicast_peers = vec![v4("10.0.0.9"), v4("fe80::1")];
        c.advert_interval = Interval::from_secs(41).unwrap();
        c.password = Password::new(b"secret");
        c.priority = Priority::OWNER;
        c.preempt = false;
        c.preempt_delay = Centis::from_secs(1001);
        c.tracks = vec![
            Track::new("a", 10),
            Track::new("b", 300),
            Track::new("a", -400),
        ];
        let problems = c.problems();
        let fields: Vec<String> = problems.iter().map(ConfigError::field).collect();
        assert_eq!(
            fields,
            [
                "virtual_addresses[1]",
                "virtual_addresses[2]",
                "unicast_peers[1]",
                "advert_interval",
                "password",
                "preempt",
                "preempt_delay",
                "tracks[1]",
                "tracks[2]",
                "tracks[2]",
            ]
        );
        assert!(matches!(
            problems[0],
            ConfigError::MixedFamilies {
                index: 1,
                family: Family::Ipv4,
                ..
            }
        ));
        assert!(matches!(
            problems[1],
            ConfigError::DuplicateAddress { index: 2, .. }
        ));
        assert!(matches!(
            problems[2],
            ConfigError::PeerFamily { index: 1, .. }
        ));
        assert!(matches!(
            problems[7],
            ConfigError::TrackWeight {
                index: 1,
                weight: 300,
                ..
            }
        ));
        assert!(matches!(
            problems[8],
            ConfigError::TrackWeight {
                index: 2,
                weight: -400,
                ..
            }
        ));
        assert!(matches!(
            problems[9],
            ConfigError::DuplicateTrack { index: 2, .. }
        ));
        // validate() is the first problem, as Instance::new reports it.
        assert_eq!(c.validate(), Err(problems[0].clone()));
        // Every message still names the fix.
        for p in &problems {
            assert!(p.to_string().contains(':'), "{p}");
        }
    }

    #[test]
    fn list_and_version_fields() {
        let mut c = InstanceConfig::new(Vrid::new(1).unwrap(), vec![]);
        c.unicast_peers = vec![v4("fd00::2")];
        assert_eq!(
            c.problems()
                .iter()
                .map(ConfigError::field)
                .collect::<Vec<_>>(),
            ["virtual_addresses", "unicast_peers[0]"]
        );
        // Global IPv6 peers are accepted (keepalived, with unicast_src_ip); the source must be
        // of the instance's family and a unicast address.
        let mut c = InstanceConfig::new(Vrid::new(1).unwrap(), vec![v4("fd00::1")]);
        c.version = Version::V2;
        c.unicast_peers = vec![v4("fe80::2"), v4("fd00::2")];
        c.unicast_source = Some(v4("10.0.0.1"));
        let problems = c.problems();
        assert_eq!(
            problems.iter().map(ConfigError::field).collect::<Vec<_>>(),
            ["unicast_source", "version"]
        );
        assert_eq!(
            problems[0],
            ConfigError::UnicastSourceFamily {
                address: v4("10.0.0.1"),
                family: Family::Ipv6
            }
        );
        c.version = Version::V3;
        c.unicast_source = Some(v4("ff02::12"));
        assert_eq!(
            c.problems(),
            [ConfigError::UnicastSourceNotUnicast {
                address: v4("ff02::12")
            }]
        );
        assert_eq!(c.problems()[0].field(), "unicast_source");
        c.unicast_source = Some(v4("fd00::11"));
        assert_eq!(c.problems(), []);
        let many: Vec<IpAddr> = (0..=255u8)
            .map(|i| IpAddr::from([10, 0, 1, i]))
            .chain([v4("10.0.2.0")])
            .collect();
        let c = InstanceConfig::new(Vrid::new(1).unwrap(), many);
        assert_eq!(c.problems(), [ConfigError::TooManyAddresses { count: 257 }]);
    }
}
