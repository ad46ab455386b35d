//! Why bytes do not parse ([`WireError`]) and why an advertisement cannot be emitted
//! ([`EmitError`]).

use crate::types::{Family, Interval, Version};

/// Why bytes are not a valid advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Shorter than the fixed 8-byte header.
    #[error("message of {len} bytes is shorter than the 8-byte VRRP header")]
    TooShort {
        /// Bytes received.
        len: usize,
    },
    /// The version field is neither 2 nor 3, or 2 with IPv6 (VRRPv2 is IPv4 only).
    #[error("unsupported VRRP version {version} for {family}")]
    Version {
        /// The version field.
        version: u8,
        /// The family of the packet.
        family: Family,
    },
    /// The type field is not 1 (ADVERTISEMENT).
    #[error("message type {kind} is not ADVERTISEMENT (1)")]
    Type {
        /// The type field.
        kind: u8,
    },
    /// The VRID field is 0.
    #[error("virtual router id 0 is invalid")]
    ZeroVrid,
    /// The advertisement interval is 0.
    #[error("advertisement interval 0 is invalid")]
    ZeroInterval,
    /// The length does not match the address count.
    #[error("message is {actual} bytes but its address count needs {expected}")]
    Length {
        /// Length implied by the count field.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// The checksum does not verify.
    #[error("bad checksum {received:#06x}, expected {computed:#06x}")]
    Checksum {
        /// The checksum field.
        received: u16,
        /// What the message sums to.
        computed: u16,
    },
    /// The source and destination are of different families.
    #[error("source and destination addresses are of different families")]
    MixedFamilies,
}

/// Why an [`Advertisement`](super::Advertisement) cannot be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// VRRPv2 over IPv6 does not exist.
    #[error("VRRPv2 carries IPv4 addresses only")]
    V2Ipv6,
    /// The interval does not fit the version's field.
    #[error("interval {interval} does not fit a {version} advertisement")]
    Interval {
        /// The interval.
        interval: Interval,
        /// The version.
        version: Version,
    },
    /// VRRPv3 has no authentication field.
    #[error("VRRPv3 has no authentication; a password cannot be sent")]
    V3Auth,
    /// More than 255 addresses.
    #[error("{count} addresses exceed the 255 an advertisement can carry")]
    TooManyAddresses {
        /// How many.
        count: usize,
    },
    /// The endpoints' family differs from the addresses'.
    #[error("endpoints are not of the addresses' family")]
    FamilyMismatch,
}
