//! What goes into an instance ([`Received`]) and what comes out ([`Action`]).

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

use crate::wire::WireError;

/// The state of a virtual router instance (RFC 5798 section 6.4, plus Fault).
///
/// [`as_str`](Self::as_str) and [`Display`](fmt::Display) give keepalived's upper-case
/// names, `INIT`, `BACKUP`, `MASTER` and `FAULT`, which are also the serialized form with
/// the `serde` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "UPPERCASE")
)]
pub enum State {
    /// Not started, or shut down (RFC 5798 section 6.4.1).
    #[cfg_attr(feature = "serde", serde(rename = "INIT"))]
    Initialize,
    /// Monitoring the master (RFC 5798 section 6.4.2).
    Backup,
    /// Forwarding for the virtual addresses (RFC 5798 section 6.4.3).
    Master,
    /// Not eligible: a tracked object with weight 0 is down, the link is down, or the
    /// interface has no primary address. Holds no addresses and sends nothing.
    Fault,
}

impl State {
    /// Every state, in RFC order.
    pub const ALL: [Self; 4] = [Self::Initialize, Self::Backup, Self::Master, Self::Fault];

    /// The stable name: `INIT`, `BACKUP`, `MASTER` or `FAULT`, as keepalived names the states
    /// in its logs and notify scripts. These names never change (`/status`, metrics labels
    /// and notify hooks depend on them); `Display` prints the same.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Initialize => "INIT",
            Self::Backup => "BACKUP",
            Self::Master => "MASTER",
            Self::Fault => "FAULT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a state changed.
///
/// [`Display`](fmt::Display) gives a phrase for logs; [`as_str`](Self::as_str) gives the
/// stable snake_case name of the variant (`master_down`, `track_failed`, ...) for metrics
/// labels and APIs, which is also the serialized form with the `serde` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Reason {
    /// Startup of a router that does not own the addresses: into Backup.
    Startup,
    /// The address owner (priority 255) started or recovered: straight into Master.
    Owner,
    /// The Master_Down_Timer expired: no advert from the master for Master_Down_Interval.
    MasterDown,
    /// The master sent a priority-0 advert and Skew_Time passed with no new master.
    PriorityZero,
    /// Adverts of a lower-priority master were ignored (preemption) until the
    /// Master_Down_Timer expired.
    Preempted,
    /// A master saw an advert of higher priority, or of equal priority from a higher address.
    HigherPriority,
    /// A tracked object with weight 0 went down.
    TrackFailed,
    /// The link went down.
    LinkDown,
    /// The interface has no primary address of the instance's family.
    NoPrimaryAddress,
    /// The instance left Fault: every condition for it cleared.
    Recovered,
    /// The instance was shut down.
    Shutdown,
    /// A reload restarted an instance that was Master for the same addresses on this node
    /// (make-before-break): the new instance took the role over at once
    /// ([`Instance::handle_startup_master`](crate::Instance::handle_startup_master)).
    Restart,
    /// Its sync group moved it, with the other members (keepalived's `vrrp_sync_group`):
    /// another member went Fault, became Master or went Backup.
    SyncGroup,
}

impl Reason {
    /// The stable snake_case name of the variant: `startup`, `owner`, `master_down`,
    /// `priority_zero`, `preempted`, `higher_priority`, `track_failed`, `link_down`,
    /// `no_primary_address`, `recovered`, `shutdown`, `restart` or `sync_group`. These names never change (metrics
    /// labels depend on them) and are independent of `Display`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Owner => "owner",
            Self::MasterDown => "master_down",
            Self::PriorityZero => "priority_zero",
            Self::Preempted => "preempted",
            Self::HigherPriority => "higher_priority",
            Self::TrackFailed => "track_failed",
            Self::LinkDown => "link_down",
            Self::NoPrimaryAddress => "no_primary_address",
            Self::Recovered => "recovered",
            Self::Shutdown => "shutdown",
            Self::Restart => "restart",
            Self::SyncGroup => "sync_group",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Startup => "startup",
            Self::Owner => "address owner",
            Self::MasterDown => "master down timer expired",
            Self::PriorityZero => "master sent priority 0",
            Self::Preempted => "preempted lower-priority master",
            Self::HigherPriority => "higher-priority advert",
            Self::TrackFailed => "tracked object failed",
            Self::LinkDown => "link down",
            Self::NoPrimaryAddress => "no primary address",
            Self::Recovered => "fault cleared",
            Self::Shutdown => "shutdown",
            Self::Restart => "restart of a master (make-before-break)",
            Self::SyncGroup => "sync group followed a member",
        })
    }
}

/// An advertisement to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Source address (covered by the VRRPv3 checksum): the interface's primary address, or
    /// the configured `unicast_source` for unicast adverts
    /// ([`Instance::source_address`](crate::Instance::source_address)).
    pub src: IpAddr,
    /// Destination: the multicast group or one unicast peer.
    pub dst: IpAddr,
    /// The VRRP message, checksum included. Send it with TTL / hop limit 255 and
    /// TOS / traffic class 0xc0.
    pub payload: Bytes,
    /// The priority carried (0 when resigning).
    pub priority: u8,
}

/// Something the caller must do, drained with `poll_action`. Actions of one input come in
/// this order: `StateChanged`, then `AddVip`s, `SendAdvertisement`s, `Announce`s, and on
/// leaving Master, `SendAdvertisement` (priority 0) before `RemoveVip`s. A Master's
/// [`reconfigure`](crate::Instance::reconfigure) starts with the `RemoveVip`s of the
/// addresses that left the list, then follows the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// The state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// Configure this virtual address on the interface.
    AddVip(IpAddr),
    /// Remove this virtual address from the interface.
    RemoveVip(IpAddr),
    /// Send this advertisement.
    SendAdvertisement(Transmit),
    /// Announce this virtual address once: a gratuitous ARP (IPv4) or an unsolicited
    /// neighbour advertisement with the override flag (IPv6).
    Announce(IpAddr),
}

/// A received VRRP message with what the IP layer knows of it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6) from the IP header.
    pub hop_limit: u8,
    /// The VRRP message: the IP payload, after the IPv4 header of whatever length.
    pub payload: &'a [u8],
}

/// Why a received message was dropped. Each kind is also counted in [`Stats`](crate::Stats).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RxError {
    /// The message is malformed (see [`WireError`]).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The hop limit (TTL) is not 255 (or below the unicast minimum).
    #[error("hop limit {got} below the required {required}")]
    HopLimit {
        /// Hop limit received.
        got: u8,
        /// Lowest accepted.
        required: u8,
    },
    /// No instance for this VRID and family here.
    #[error("no virtual router {vrid} for this family here")]
    UnknownVrid {
        /// The VRID field.
        vrid: u8,
    },
    /// The version is not the instance's.
    #[error("VRRPv{got} advert for a VRRPv{expected} instance")]
    VersionMismatch {
        /// Version received.
        got: u8,
        /// Version configured.
        expected: u8,
    },
    /// The VRRPv2 authentication type is unknown.
    #[error("unsupported VRRPv2 authentication type {auth_type}")]
    InvalidAuthType {
        /// The field.
        auth_type: u8,
    },
    /// The VRRPv2 authentication type differs from ours.
    #[error("VRRPv2 authentication type {got} differs from the configured {expected}")]
    AuthTypeMismatch {
        /// Type received.
        got: u8,
        /// Type configured.
        expected: u8,
    },
    /// The VRRPv2 password is wrong.
    #[error("VRRPv2 password mismatch")]
    AuthFailure,
    /// The VRRPv2 interval differs from ours (RFC 3768 section 7.1).
    #[error("advert interval {got_centis} cs differs from the configured {expected_centis} cs")]
    IntervalMismatch {
        /// Interval received, centiseconds.
        got_centis: u16,
        /// Interval configured, centiseconds.
        expected_centis: u16,
    },
    /// The address list differs from ours and strict checking is on.
    #[error("advert address list differs from the configured virtual addresses")]
    AddressList,
    /// The source is not a configured unicast peer.
    #[error("advert from {src}, which is not a configured unicast peer")]
    UnknownPeer {
        /// The source.
        src: IpAddr,
    },
    /// Our own advert, looped back.
    #[error("own advert looped back")]
    OwnAdvert,
}
