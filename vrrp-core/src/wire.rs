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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};

use crate::checksum::{internet_checksum, pseudo_header_checksum};
use crate::types::{Family, Interval, Version, Vrid};

/// Offset of the checksum field in both versions.
const CHECKSUM_OFFSET: usize = 6;
/// Length of the fixed header of both versions.
pub(crate) const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data field.
const V2_AUTH_LEN: usize = 8;
/// The only message type: ADVERTISEMENT.
const TYPE_ADVERTISEMENT: u8 = 1;
/// The VRRPv2 authentication type "no authentication".
const AUTH_TYPE_NONE: u8 = 0;
/// The VRRPv2 authentication type "simple text password".
const AUTH_TYPE_PASS: u8 = 1;

/// A VRRPv2 simple text password (RFC 2338 section 5.3.6.1): 1 to 8 bytes, zero-padded to
/// 8 bytes on the wire.
///
/// Its `Debug` form never shows the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password([u8; 8]);

impl Password {
    /// A password of 1 to 8 bytes, or `None` for an empty or longer one.
    #[must_use]
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.is_empty() || secret.len() > 8 {
            return None;
        }
        let mut padded = [0u8; 8];
        padded.iter_mut().zip(secret).for_each(|(d, s)| *d = *s);
        Some(Self(padded))
    }

    /// The 8 bytes as they appear on the wire.
    #[must_use]
    pub const fn wire_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The authentication carried by an advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication: VRRPv2 type 0 with zeroed data, or any VRRPv3 advertisement.
    None,
    /// VRRPv2 type 1, simple text password.
    Password(Password),
    /// A VRRPv2 authentication type this crate does not implement (2 was IP Authentication
    /// Header), with its raw data. Such adverts are parsed so they can be counted, and
    /// rejected by every instance.
    Unsupported {
        /// The authentication type field.
        auth_type: u8,
        /// The 8 bytes of authentication data.
        data: [u8; 8],
    },
}

impl Auth {
    /// The wire value of the VRRPv2 authentication type field.
    #[must_use]
    pub const fn wire_type(&self) -> u8 {
        match self {
            Self::None => AUTH_TYPE_NONE,
            Self::Password(_) => AUTH_TYPE_PASS,
            Self::Unsupported { auth_type, .. } => *auth_type,
        }
    }
}

/// The virtual addresses of an advertisement, all of one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// IPv4 addresses.
    V4(Vec<Ipv4Addr>),
    /// IPv6 addresses.
    V6(Vec<Ipv6Addr>),
}

impl Addresses {
    /// The family of the addresses.
    #[must_use]
    pub const fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::Ipv4,
            Self::V6(_) => Family::Ipv6,
        }
    }

    /// How many addresses there are.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::V4(v) => v.len(),
            Self::V6(v) => v.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses as [`IpAddr`]s.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6) = match self {
            Self::V4(v) => (v.as_slice(), [].as_slice()),
            Self::V6(v) => ([].as_slice(), v.as_slice()),
        };
        v4.iter()
            .map(|a| IpAddr::V4(*a))
            .chain(v6.iter().map(|a| IpAddr::V6(*a)))
    }

    /// Collects addresses of one family; `None` if `family` does not match one of them.
    pub fn collect(family: Family, addrs: impl IntoIterator<Item = IpAddr>) -> Option<Self> {
        let mut out = match family {
            Family::Ipv4 => Self::V4(Vec::new()),
            Family::Ipv6 => Self::V6(Vec::new()),
        };
        for addr in addrs {
            match (&mut out, addr) {
                (Self::V4(v), IpAddr::V4(a)) => v.push(a),
                (Self::V6(v), IpAddr::V6(a)) => v.push(a),
                _ => return None,
            }
        }
        Some(out)
    }
}

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

/// Why an [`Advertisement`] cannot be emitted.
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

/// Verifies the checksum of `message` by the rule of `version` and any of `modes`.
///
/// On failure, reports the received value and the one the first mode expects.
///
/// Built for fuzzing (`--cfg fuzzing`, which cargo-fuzz sets, and only it), every checksum
/// passes, so that fuzzed messages reach the checks behind this one; the `checksum` fuzz
/// target tests the computation itself. No other build is affected.
// `fuzzing` is not a cfg cargo declares: without the allow, check-cfg would warn.
#[allow(unexpected_cfgs)]
fn verify_checksum(
    message: &[u8],
    version: Version,
    at: Endpoints,
    modes: &[ChecksumMode],
) -> Result<(), WireError> {
    if cfg!(fuzzing) {
        return Ok(());
    }
    // A message summed together with its own (right) checksum folds to zero.
    if modes
        .iter()
        .any(|mode| raw_checksum(message, version, at, *mode) == 0)
    {
        return Ok(());
    }
    let received = match message.get(CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    };
    let mode = modes.first().copied().unwrap_or_default();
    let raw = raw_checksum(message, version, at, mode);
    // raw = !(A + R) in one's-complement arithmetic, where A sums every word but the checksum
    // field R; the right checksum is !A, and A = !raw - R = !raw + !R. No copy is needed.
    let computed = !ones_complement_add(!raw, !received);
    Err(WireError::Checksum { received, computed })
}

/// One's-complement addition of two 16-bit words.
fn ones_complement_add(a: u16, b: u16) -> u16 {
    let sum = u32::from(a) + u32::from(b);
    let folded = (sum & 0xffff) + (sum >> 16);
    // One fold of two 16-bit words leaves at most 16 bits.
    u16::try_from(folded).unwrap_or(u16::MAX)
}

/// The checksum of `message` as it stands, by the rule of `version` and `mode`.
fn raw_checksum(message: &[u8], version: Version, at: Endpoints, mode: ChecksumMode) -> u16 {
    let v3_pseudo = match (version, at.src) {
        (Version::V2, _) => false,
        (Version::V3, IpAddr::V6(_)) => true,
        (Version::V3, IpAddr::V4(_)) => mode == ChecksumMode::PseudoHeader,
    };
    if v3_pseudo {
        pseudo_header_checksum(at.src, at.dst, message)
    } else {
        internet_checksum(message)
    }
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
        let fields = nom_parse::body(message, version, family)?;
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

/// The nom parsers, private to the crate: callers see only [`Advertisement::parse`].
mod nom_parse {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use nom::IResult;
    use nom::Parser;
    use nom::bytes::complete::take;
    use nom::multi::count;
    use nom::number::complete::{be_u8, be_u16, be_u32, be_u128};

    use super::{Addresses, Auth, Password, V2_AUTH_LEN, WireError};
    use crate::types::{Family, Interval, Version};

    /// The fields after the version, type and VRID.
    pub(super) struct Body {
        pub(super) priority: u8,
        pub(super) interval: Interval,
        pub(super) auth: Auth,
        pub(super) addresses: Addresses,
    }

    fn v4(input: &[u8]) -> IResult<&[u8], Ipv4Addr> {
        be_u32.map(Ipv4Addr::from).parse(input)
    }

    fn v6(input: &[u8]) -> IResult<&[u8], Ipv6Addr> {
        be_u128.map(Ipv6Addr::from).parse(input)
    }

    /// Parses a message whose length matches its address count, of `version` and `family`.
    pub(super) fn body(
        message: &[u8],
        version: Version,
        family: Family,
    ) -> Result<Body, WireError> {
        let (rest, (_vt, _vrid, priority, n, word, _checksum)) =
            (be_u8, be_u8, be_u8, be_u8, be_u16, be_u16)
                .parse(message)
                .map_err(
                    |_: nom::Err<nom::error::Error<&[u8]>>| WireError::TooShort {
                        len: message.len(),
                    },
                )?;
        // `Advertisement::parse` checked the length against the count; the nom parsers below
        // cannot run short, but report a length error rather than panic if they ever did.
        let expected = super::expected_len(version, family, n);
        let n = usize::from(n);
        let length = |_: nom::Err<nom::error::Error<&[u8]>>| WireError::Length {
            expected,
            actual: message.len(),
        };
        let (rest, addresses) = match family {
            Family::Ipv4 => count(v4, n).parse(rest).map(|(r, v)| (r, Addresses::V4(v))),
            Family::Ipv6 => count(v6, n).parse(rest).map(|(r, v)| (r, Addresses::V6(v))),
        }
        .map_err(length)?;
        let [hi, lo] = word.to_be_bytes();
        let (interval, auth) = match version {
            Version::V2 => {
                let (_, data) = take(V2_AUTH_LEN).parse(rest).map_err(length)?;
                let mut raw = [0u8; V2_AUTH_LEN];
                raw.copy_from_slice(data);
                let auth = match hi {
                    super::AUTH_TYPE_NONE => Auth::None,
                    super::AUTH_TYPE_PASS => Auth::Password(Password(raw)),
                    auth_type => Auth::Unsupported {
                        auth_type,
                        data: raw,
                    },
                };
                (Interval::from_secs(lo), auth)
            }
            // The top 4 bits are reserved: ignored on receipt (RFC 5798 section 5.2.6).
            Version::V3 => (Interval::from_centis(word & 0x0fff), Auth::None),
        };
        let interval = interval.ok_or(WireError::ZeroInterval)?;
        Ok(Body {
            priority,
            interval,
            auth,
            addresses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected checksum reported for a bad message is what the message sums to with its
    /// checksum field zeroed.
    #[test]
    fn reported_checksum_is_the_right_one() {
        let at = Endpoints {
            src: IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)),
            dst: IpAddr::V4(crate::VRRP_GROUP_V4),
        };
        let mut seed = 0x2545_f491_u32;
        for _ in 0..2000 {
            let mut msg = vec![0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0, 0, 10, 200, 0, 100];
            for b in msg.iter_mut().skip(2) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                *b = seed.to_be_bytes()[0];
            }
            msg[3] = 1;
            let mut zeroed = msg.clone();
            zeroed[6] = 0;
            zeroed[7] = 0;
            let right = raw_checksum(&zeroed, Version::V3, at, ChecksumMode::PseudoHeader);
            match verify_checksum(&msg, Version::V3, at, &[ChecksumMode::PseudoHeader]) {
                Ok(()) => assert!(
                    u16::from_be_bytes([msg[6], msg[7]]) == right
                        || ones_complement_add(right, 0) == 0
                        || u16::from_be_bytes([msg[6], msg[7]]) == 0xffff
                ),
                Err(WireError::Checksum { computed, .. }) => assert_eq!(computed, right),
                Err(e) => panic!("{e}"),
            }
        }
    }
}
