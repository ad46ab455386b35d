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
/// meaning of keepalived's four `garp_master_*` knobs.
///
/// On becoming Master, `repeat` announcements of every virtual address are requested at once;
/// if `delay` is not zero, `repeat` more follow `delay` later; and if `refresh` is not zero,
/// `refresh_repeat` more every `refresh` (counted from becoming Master) for as long as the
/// router stays Master.
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
}

impl Default for AnnounceSchedule {
    fn default() -> Self {
        Self {
            delay: Centis::from_secs(5),
            repeat: 5,
            refresh: Centis::ZERO,
            refresh_repeat: 1,
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
    /// multicast group, and adverts from any other source are rejected.
    pub unicast_peers: Vec<IpAddr>,
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
            unicast_min_hop_limit: 255,
            announce: AnnounceSchedule::default(),
            tracks: Vec::new(),
            strict_address_list: false,
        }
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
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let family = self.family();
        if self.virtual_addresses.is_empty() {
            return Err(ConfigError::NoVirtualAddresses);
        }
        if self.virtual_addresses.len() > usize::from(u8::MAX) {
            return Err(ConfigError::TooManyAddresses {
                count: self.virtual_addresses.len(),
            });
        }
        let mut seen = BTreeSet::new();
        for addr in &self.virtual_addresses {
            if Family::of(addr) != family {
                return Err(ConfigError::MixedFamilies {
                    address: *addr,
                    family,
                });
            }
            if !seen.insert(addr) {
                return Err(ConfigError::DuplicateAddress { address: *addr });
            }
        }
        for peer in &self.unicast_peers {
            if Family::of(peer) != family {
                return Err(ConfigError::PeerFamily {
                    peer: *peer,
                    family,
                });
            }
            // RFC 5798 section 5.1.2.1: an IPv6 advert's source is the sender's link-local
            // address, so only such addresses can ever match a peer.
            if let IpAddr::V6(v6) = peer
                && !v6.is_unicast_link_local()
            {
                return Err(ConfigError::PeerNotLinkLocal { peer: *peer });
            }
        }
        if self.version == Version::V2 && family == Family::Ipv6 {
            return Err(ConfigError::V2Ipv6);
        }
        if !self.advert_interval.fits(self.version) {
            return Err(ConfigError::Interval {
                interval: self.advert_interval,
                version: self.version,
            });
        }
        if self.version == Version::V3 && self.password.is_some() {
            return Err(ConfigError::PasswordWithV3);
        }
        if !self.preempt && self.priority.is_owner() {
            return Err(ConfigError::NopreemptOwner);
        }
        if self.preempt_delay > MAX_PREEMPT_DELAY {
            return Err(ConfigError::PreemptDelay {
                delay: self.preempt_delay,
            });
        }
        let mut names = BTreeSet::new();
        for track in &self.tracks {
            if !Track::weight_in_range(track.weight) {
                return Err(ConfigError::TrackWeight {
                    name: track.name.clone(),
                    weight: track.weight,
                });
            }
            if !names.insert(track.name.as_str()) {
                return Err(ConfigError::DuplicateTrack {
                    name: track.name.clone(),
                });
            }
        }
        Ok(())
    }
}

/// A rule an [`InstanceConfig`] breaks. Each message names the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `virtual_addresses` is empty.
    #[error("virtual_addresses is empty: give at least one virtual address")]
    NoVirtualAddresses,
    /// More than 255 virtual addresses.
    #[error(
        "virtual_addresses has {count} entries but an advertisement carries at most 255: split them over several VRIDs"
    )]
    TooManyAddresses {
        /// How many were given.
        count: usize,
    },
    /// Virtual addresses of both families in one instance.
    #[error(
        "virtual address {address} is not {family} like the first one: use one instance per family"
    )]
    MixedFamilies {
        /// The odd one out.
        address: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// The same virtual address twice.
    #[error("virtual address {address} is listed twice: remove the duplicate")]
    DuplicateAddress {
        /// The repeated address.
        address: IpAddr,
    },
    /// A unicast peer of the other family.
    #[error("unicast peer {peer} is not {family} like the virtual addresses")]
    PeerFamily {
        /// The peer.
        peer: IpAddr,
        /// The instance's family.
        family: Family,
    },
    /// An IPv6 unicast peer that is not a link-local address.
    #[error(
        "unicast peer {peer} is not a link-local address: IPv6 adverts are sent from the sender's link-local address (RFC 5798 section 5.1.2.1), so list each peer's fe80:: address"
    )]
    PeerNotLinkLocal {
        /// The peer.
        peer: IpAddr,
    },
    /// VRRPv2 with IPv6 addresses.
    #[error("VRRPv2 (RFC 3768) is IPv4 only: use version 3 for IPv6 virtual addresses")]
    V2Ipv6,
    /// The advertisement interval does not fit the version.
    #[error(
        "advert_interval {interval} is not valid for {version}: VRRPv2 takes whole seconds from 1 to 255, VRRPv3 0.01 to 40.95 seconds"
    )]
    Interval {
        /// The interval.
        interval: Interval,
        /// The version.
        version: Version,
    },
    /// A password with VRRPv3.
    #[error(
        "password is set but VRRPv3 (RFC 5798) has no authentication field: keepalived silently ignores auth_pass with version 3 and runs unauthenticated; remove the password, or use version 2 to keep simple-password authentication"
    )]
    PasswordWithV3,
    /// `preempt` off with priority 255.
    #[error(
        "nopreempt is set with priority 255, but the address owner always preempts (RFC 5798 section 6.4.1): lower the priority or allow preemption"
    )]
    NopreemptOwner,
    /// `preempt_delay` above 1000 s.
    #[error("preempt_delay {delay} exceeds the 1000 s maximum")]
    PreemptDelay {
        /// The delay.
        delay: Centis,
    },
    /// A track weight outside -254 to 254.
    #[error("track {name:?} has weight {weight}: weights go from -254 to 254 (0 means fault)")]
    TrackWeight {
        /// The track.
        name: String,
        /// Its weight.
        weight: i16,
    },
    /// Two tracks with one name.
    #[error("track name {name:?} is used twice: give each tracked object its own name")]
    DuplicateTrack {
        /// The name.
        name: String,
    },
}
