//! Fuzz target: the round-trip oracle of `Advertisement::parse`.
//!
//! Input layout: a flags byte, the IP source, the IP destination when it is unicast, then
//! the VRRP message:
//!
//! ```text
//! flags   bit 0: IPv6 (else IPv4)
//!         bit 1: ChecksumMode::V3AsV2 (else PseudoHeader)
//!         bit 2: unicast destination, read after the source (else the VRRP multicast group)
//!         bits 3-7: ignored
//! src     4 or 16 bytes
//! dst     4 or 16 bytes, only with bit 2
//! rest    the message given to parse
//! ```
//!
//! Oracle: `parse` never panics; if it accepts the message as `a`, then `a` emits, the
//! output has `a.len()` bytes, equals the message up to the fields a receiver ignores
//! (VRRPv3's reserved bits, VRRPv2 authentication data with type 0, and so the checksum),
//! reproduces an already canonical message byte for byte (a checksum field of 0xffff, the
//! one's-complement negative zero, is re-emitted as 0x0000), and parses back to `a`.
//!
//! cargo-fuzz builds with `--cfg fuzzing`, under which `parse` accepts any checksum (the
//! bypass in `vrrp_core::wire`), so that the fuzzer explores the fields behind it. The oracle
//! therefore checks the checksum itself with the real functions: the emitted message always
//! carries a right one, and the byte-for-byte comparison applies only to an input whose own
//! checksum was right.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrp_core::{Advertisement, Auth, ChecksumMode, Endpoints, Family, Version};
use vrrp_fuzz::checksum_ok;

const IPV6: u8 = 1 << 0;
const V3_AS_V2: u8 = 1 << 1;
const UNICAST: u8 = 1 << 2;

/// Reads an address of `family` from the front of `data`.
fn take_addr(data: &[u8], family: Family) -> Option<(IpAddr, &[u8])> {
    match family {
        Family::Ipv4 => {
            let (head, rest) = data.split_first_chunk::<4>()?;
            Some((IpAddr::V4(Ipv4Addr::from(*head)), rest))
        }
        Family::Ipv6 => {
            let (head, rest) = data.split_first_chunk::<16>()?;
            Some((IpAddr::V6(Ipv6Addr::from(*head)), rest))
        }
    }
}

/// Splits the input into endpoints, mode and message; `None` if it is too short.
fn split(data: &[u8]) -> Option<(Endpoints, ChecksumMode, &[u8])> {
    let (&flags, rest) = data.split_first()?;
    let family = if flags & IPV6 != 0 {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let mode = if flags & V3_AS_V2 != 0 {
        ChecksumMode::V3AsV2
    } else {
        ChecksumMode::PseudoHeader
    };
    let (src, rest) = take_addr(rest, family)?;
    let (dst, message) = if flags & UNICAST != 0 {
        take_addr(rest, family)?
    } else {
        (family.multicast_group(), rest)
    };
    Some((Endpoints { src, dst }, mode, message))
}

/// The message with the checksum and the fields a receiver ignores cleared.
fn canonical(message: &[u8], a: &Advertisement) -> Vec<u8> {
    let mut out = message.to_vec();
    if let Some(checksum) = out.get_mut(6..8) {
        checksum.fill(0);
    }
    match a.version {
        Version::V3 => {
            if let Some(reserved) = out.get_mut(4) {
                *reserved &= 0x0f;
            }
        }
        Version::V2 => {
            let auth = out.len().saturating_sub(8);
            if a.auth == Auth::None
                && let Some(data) = out.get_mut(auth..)
            {
                data.fill(0);
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((at, mode, message)) = split(data) else {
        return;
    };
    let Ok(a) = Advertisement::parse(message, at, mode) else {
        return;
    };
    let emitted = a
        .to_bytes(at, mode)
        .unwrap_or_else(|e| panic!("{a:?} parsed but does not emit: {e}"));
    assert_eq!(emitted.len(), a.len(), "emit and len disagree for {a:?}");
    assert_eq!(emitted.len(), message.len(), "{a:?} changed length");
    assert!(
        checksum_ok(&emitted, a.version, at, mode),
        "{a:?} is emitted with a wrong checksum"
    );
    let wanted = canonical(message, &a);
    assert_eq!(
        canonical(&emitted, &a),
        wanted,
        "{a:?} is not re-emitted canonically"
    );
    let mut received = message.to_vec();
    received[6..8].fill(0);
    // Byte for byte when the message was canonical and its checksum right (the fuzzing
    // build parses any checksum), but for the one's-complement negative zero: a checksum
    // field of 0xffff verifies wherever 0x0000 does, and emit writes 0x0000.
    let negative_zero = message[6..8] == [0xff, 0xff] && emitted[6..8] == [0, 0];
    if received == wanted && !negative_zero && checksum_ok(message, a.version, at, mode) {
        assert_eq!(
            &emitted[..],
            message,
            "a canonical message is not reproduced"
        );
    }
    assert_eq!(
        Advertisement::parse(&emitted, at, mode),
        Ok(a),
        "the emitted message parses differently"
    );
});
