//! The VRRP advertisement on the wire: an owned representation with symmetric
//! [`Advertisement::parse`] and [`Advertisement::emit`].
//!
//! Layouts (all fields big-endian):
//!
//! ```text
//! VRRPv2, RFC 3768 section 5.1            VRRPv3, RFC 5798 section 5.1
//! 0      version(4) | type(4)              0      version(4) | type(4)
//! 1      virtual router id                 1      virtual router id
//! 2      priority                          2      priority
//! 3      count ip addrs                    3      count IPvX addrs
//! 4      auth type                         4..6   reserved(4) | max adver int(12), centiseconds
//! 5      adver int, seconds
//! 6..8   checksum                          6..8   checksum
//! 8..    IPv4 addresses, 4 bytes each      8..    IPv4 or IPv6 addresses
//! end-8  authentication data, 8 bytes
//! ```
//!
//! Checksums ([RFC 1071](https://www.rfc-editor.org/rfc/rfc1071)): VRRPv2 sums the VRRP
//! message alone; VRRPv3 prepends the IPv4 or IPv6 pseudo-header (RFC 5798 section 5.2.8), as
//! keepalived does, unless [`ChecksumMode::V3AsV2`] is chosen for peers that sum IPv4 VRRPv3
//! messages like VRRPv2 ones.
//!
//! This module holds [`Advertisement`] with its parse and emit, and the fixed-header layout;
//! its children hold the address list (`addresses`), VRRPv2 authentication (`auth`), the
//! checksum rule (`checksum`), the errors (`error`) and the private nom parsers (`parse`).

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::{Family, Interval, Version, Vrid};

mod addresses;
mod auth;
mod checksum;
mod error;
mod parse;

pub use addresses::Addresses;
pub use auth::{Auth, Password};
pub use error::{EmitError, WireError};

use checksum::{raw_checksum, verify_checksum};

/// Offset of the checksum field in both versions.
const CHECKSUM_OFFSET: usize = 6;
/// Length of the fixed header of both versions.
pub(crate) const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data field.
const V2_AUTH_LEN: usize = 8;
/// The only message type: ADVERTISEMENT.
const TYPE_ADVERTISEMENT: u8 = 1;

/// Which checksum a VRRPv3 IPv4 advertisement carries.
///
/// VRRPv2 always sums the message alone and VRRPv3 over IPv6 always uses the pseudo-header;
/// this only changes VRRPv3 over IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// RFC 5798 section 5.2.8: the IPv4 pseudo-header, then the message (keepalived's default).
    #[default]
    PseudoHeader,
    /// keepalived's `v3_checksum_as_v2`: the message alone, for peers that compute it so.
    V3AsV2,
}

/// Where a message travels: the IP source and destination, which the VRRPv3 checksum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (the multicast group, or a unicast peer).
    pub dst: IpAddr,
}

/// A parsed VRRP advertisement (the only VRRP message type).
///
/// `parse` and `emit` are symmetric: for every `a` that `emit` accepts, `parse(emit(a)) == a`.
/// A message that `parse` accepts is re-emitted in canonical form, byte for byte the same
/// except for what the representation drops: the VRRPv3 reserved bits (emitted as zero), the
/// VRRPv2 authentication data of `Auth::None` (zero, as RFC 3768 requires), and a checksum
/// field of 0xffff, one's-complement negative zero, which verifies like 0x0000 and is emitted
/// as 0x0000.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// Protocol version.
    pub version: Version,
    /// Virtual Router Identifier.
    pub vrid: Vrid,
    /// Sender's priority: 0 means the master stopped (RFC 5798 section 5.2.4), 255 is the
    /// address owner.
    pub priority: u8,
    /// Advertisement interval: VRRPv2 Adver Int (whole seconds) or VRRPv3 Max Adver Int.
    pub interval: Interval,
    /// Authentication (VRRPv2 only; always [`Auth::None`] for VRRPv3).
    pub auth: Auth,
    /// The virtual addresses.
    pub addresses: Addresses,
}

/// The fields of the fixed header, before the checksum is known to be right.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    /// Version field.
    pub(crate) version: u8,
    /// Type field.
    pub(crate) kind: u8,
    /// VRID field.
    pub(crate) vrid: u8,
    /// Count of addresses.
    pub(crate) count: u8,
}

/// Reads the version, type, VRID and address count: the fields needed to find the virtual
/// router and to know the message's length.
pub(crate) fn peek_header(message: &[u8]) -> Result<Header, WireError> {
    match message {
        [vt, vrid, _priority, count, ..] if message.len() >= HEADER_LEN => Ok(Header {
            version: vt >> 4,
            kind: vt & 0x0f,
            vrid: *vrid,
            count: *count,
        }),
        _ => Err(WireError::TooShort { len: message.len() }),
    }
}

/// The length of a message of `version` and `family` carrying `count` addresses.
fn expected_len(version: Version, family: Family, count: u8) -> usize {
    let auth_len = if version == Version::V2 {
        V2_AUTH_LEN
    } else {
        0
    };
    HEADER_LEN + usize::from(count) * family.address_len() + auth_len
}

impl Advertisement {
    /// Parses and validates a VRRP message (the IP payload) received from `at.src` to
    /// `at.dst`, verifying its checksum by the rule of its version and `mode`.
    ///
    /// Checks, in order: length of the fixed header, version (and VRRPv2 only over IPv4),
    /// type, VRID, length against the address count, checksum, interval. Never panics.
    ///
    /// # Errors
    /// The first check that fails, as a [`WireError`].
    pub fn parse(message: &[u8], at: Endpoints, mode: ChecksumMode) -> Result<Self, WireError> {
        Self::parse_accepting(message, at, &[mode])
    }

    /// [`Self::parse`], accepting a checksum computed by any of `modes`.
    pub(crate) fn parse_accepting(
        message: &[u8],
        at: Endpoints,
        modes: &[ChecksumMode],
    ) -> Result<Self, WireError> {
        Self::parse_reusing(message, at, modes, Addresses::V4(Vec::new()))
    }

    /// [`Self::parse_accepting`], collecting the addresses into `reuse` (cleared; its
    /// allocation is kept when it is of the message's family): a receiver that hands back
    /// the list of the previous advert parses without allocating.
    pub(crate) fn parse_reusing(
        message: &[u8],
        at: Endpoints,
        modes: &[ChecksumMode],
        reuse: Addresses,
    ) -> Result<Self, WireError> {
        let family = Family::of(&at.src);
        if Family::of(&at.dst) != family {
            return Err(WireError::MixedFamilies);
        }
        let header = peek_header(message)?;
        let version = match (header.version, family) {
            (2, Family::Ipv4) => Version::V2,
            (3, _) => Version::V3,
            (version, family) => return Err(WireError::Version { version, family }),
        };
        if header.kind != TYPE_ADVERTISEMENT {
            return Err(WireError::Type { kind: header.kind });
        }
        let vrid = Vrid::new(header.vrid).ok_or(WireError::ZeroVrid)?;
        // RFC 5798 section 7.1: the packet must be complete before its checksum means anything.
        let expected = expected_len(version, family, header.count);
        if message.len() != expected {
            return Err(WireError::Length {
                expected,
                actual: message.len(),
            });
        }
        verify_checksum(message, version, at, modes)?;
        let fields = parse::body(message, version, family, reuse)?;
        Ok(Self {
            version,
            vrid,
            priority: fields.priority,
            interval: fields.interval,
            auth: fields.auth,
            addresses: fields.addresses,
        })
    }

    /// The length of the emitted message in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        let auth = if self.version == Version::V2 {
            V2_AUTH_LEN
        } else {
            0
        };
        HEADER_LEN + self.addresses.len() * self.addresses.family().address_len() + auth
    }

    /// Always false: a message has at least its 8-byte header.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Checks that this advertisement can be emitted.
    ///
    /// # Errors
    /// Why it cannot.
    pub fn check(&self) -> Result<(), EmitError> {
        if self.version == Version::V2 && self.addresses.family() == Family::Ipv6 {
            return Err(EmitError::V2Ipv6);
        }
        if !self.interval.fits(self.version) {
            return Err(EmitError::Interval {
                interval: self.interval,
                version: self.version,
            });
        }
        if self.version == Version::V3 && self.auth != Auth::None {
            return Err(EmitError::V3Auth);
        }
        if self.addresses.len() > usize::from(u8::MAX) {
            return Err(EmitError::TooManyAddresses {
                count: self.addresses.len(),
            });
        }
        Ok(())
    }

    /// Appends the message, checksum included, to `buf`.
    ///
    /// # Errors
    /// [`EmitError`] if the advertisement cannot be represented (see [`Self::check`]) or the
    /// endpoints are not of the addresses' family; `buf` is then unchanged.
    pub fn emit(
        &self,
        at: Endpoints,
        mode: ChecksumMode,
        buf: &mut BytesMut,
    ) -> Result<(), EmitError> {
        self.check()?;
        let family = self.addresses.family();
        if Family::of(&at.src) != family || Family::of(&at.dst) != family {
            return Err(EmitError::FamilyMismatch);
        }
        let start = buf.len();
        buf.reserve(self.len());
        buf.put_u8((self.version.wire() << 4) | TYPE_ADVERTISEMENT);
        buf.put_u8(self.vrid.get());
        buf.put_u8(self.priority);
        // check() bounded the count to 255.
        buf.put_u8(u8::try_from(self.addresses.len()).unwrap_or(u8::MAX));
        match self.version {
            Version::V2 => {
                buf.put_u8(self.auth.wire_type());
                // check() made the interval a whole number of seconds up to 255.
                buf.put_u8(u8::try_from(self.interval.centis() / 100).unwrap_or(u8::MAX));
            }
            // The 4 reserved bits are zero; check() bounded the interval to 12 bits.
            Version::V3 => buf.put_u16(self.interval.centis() & 0x0fff),
        }
        buf.put_u16(0);
        match &self.addresses {
            Addresses::V4(v) => v.iter().for_each(|a| buf.put_slice(&a.octets())),
            Addresses::V6(v) => v.iter().for_each(|a| buf.put_slice(&a.octets())),
        }
        if self.version == Version::V2 {
            match &self.auth {
                Auth::None => buf.put_bytes(0, V2_AUTH_LEN),
                Auth::Password(p) => buf.put_slice(p.wire_bytes()),
                Auth::Unsupported { data, .. } => buf.put_slice(data),
            }
        }
        let message = buf.get_mut(start..).unwrap_or_default();
        let sum = raw_checksum(message, self.version, at, mode).to_be_bytes();
        if let Some(field) = message.get_mut(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2) {
            field.copy_from_slice(&sum);
        }
        Ok(())
    }

    /// The message as [`Bytes`]; see [`Self::emit`].
    ///
    /// # Errors
    /// As [`Self::emit`].
    pub fn to_bytes(&self, at: Endpoints, mode: ChecksumMode) -> Result<Bytes, EmitError> {
        let mut buf = BytesMut::with_capacity(self.len());
        self.emit(at, mode, &mut buf)?;
        Ok(buf.freeze())
    }
}

#[cfg(test)]
mod reuse_tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use bytes::BytesMut;

    use super::*;
    use crate::types::{Interval, Version, Vrid};

    fn message(addresses: &[Ipv4Addr], at: Endpoints) -> BytesMut {
        let adv = Advertisement {
            version: Version::V3,
            vrid: Vrid::new(51).expect("a VRID"),
            priority: 100,
            interval: Interval::from_centis(1).expect("an interval"),
            auth: Auth::None,
            addresses: Addresses::V4(addresses.to_vec()),
        };
        let mut buf = BytesMut::new();
        adv.emit(at, ChecksumMode::PseudoHeader, &mut buf)
            .expect("emitted");
        buf
    }

    /// Parsing into a reused list gives the message's addresses whatever the list held
    /// before (longer, shorter, or of the other family), and keeps its allocation when the
    /// family matches.
    #[test]
    fn a_reused_address_list_holds_exactly_the_message_addresses() {
        let at = Endpoints {
            src: Ipv4Addr::new(10, 200, 0, 1).into(),
            dst: Ipv4Addr::new(224, 0, 0, 18).into(),
        };
        let modes = [ChecksumMode::PseudoHeader];
        let three = [
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
        ];
        let one = [Ipv4Addr::new(10, 9, 9, 9)];

        let other_family = Addresses::V6(vec![Ipv6Addr::LOCALHOST; 4]);
        let adv = Advertisement::parse_reusing(&message(&three, at), at, &modes, other_family)
            .expect("parsed");
        assert_eq!(adv.addresses, Addresses::V4(three.to_vec()));

        let Addresses::V4(ref list) = adv.addresses else {
            unreachable!("checked above")
        };
        let kept = list.as_ptr();
        let adv = Advertisement::parse_reusing(&message(&one, at), at, &modes, adv.addresses)
            .expect("parsed");
        assert_eq!(adv.addresses, Addresses::V4(one.to_vec()));
        let Addresses::V4(ref list) = adv.addresses else {
            unreachable!("checked above")
        };
        assert_eq!(list.as_ptr(), kept, "the allocation is reused");

        let adv = Advertisement::parse_reusing(&message(&three, at), at, &modes, adv.addresses)
            .expect("parsed");
        assert_eq!(adv.addresses, Addresses::V4(three.to_vec()));
    }
}
