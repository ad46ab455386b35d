//! Fuzz target: vrrp-core's Internet checksum (RFC 1071) against a naive reference.
//!
//! Input layout:
//!
//! ```text
//! flags   bit 0: the source is IPv6 (else IPv4)
//!         bit 1: the destination is IPv6 (else IPv4); a mixed pair is allowed
//!         bits 2-7: ignored
//! src     4 or 16 bytes
//! dst     4 or 16 bytes
//! rest    the message
//! ```
//!
//! Oracle:
//!
//! - `internet_checksum(m)` equals the reference: 16-bit big-endian words summed one at a
//!   time with the end-around carry folded in at every step, a trailing odd byte padded with
//!   zero, then complemented;
//! - `pseudo_header_checksum(src, dst, m)` equals the reference over the pseudo-header bytes
//!   written out by hand (RFC 768 for IPv4: src, dst, zero, protocol 112, 16-bit length;
//!   RFC 8200 section 8.1 for IPv6: src, dst, 32-bit length, three zero bytes, protocol 112;
//!   a mixed pair uses the IPv6 form with the IPv4 address mapped) followed by `m`;
//! - writing a message's checksum into a 16-bit field of it (the VRRP checksum sits at byte
//!   6, which keeps the words aligned) makes the sum over the result verify: the checksum of
//!   a message carrying its own right checksum is zero.
//!
//! The `cfg(fuzzing)` bypass in `vrrp_core::wire` only skips the verification inside
//! `Advertisement::parse`; the two functions tested here are the real ones.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vrrp_core::{IPPROTO_VRRP, internet_checksum, pseudo_header_checksum};

/// RFC 1071 the slow way: one word at a time, end-around carry at every addition.
fn reference(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = u32::from(data[i]);
        let lo = if i + 1 < data.len() {
            u32::from(data[i + 1])
        } else {
            0
        };
        sum += (hi << 8) | lo;
        if sum > 0xffff {
            sum -= 0xffff;
        }
        i += 2;
    }
    !(sum as u16)
}

/// The pseudo-header of `pseudo_header_checksum`'s documentation, as bytes.
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            out.push(0);
            out.push(IPPROTO_VRRP);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (s, d) => {
            for a in [s, d] {
                let v6 = match a {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                    IpAddr::V6(v6) => v6,
                };
                out.extend_from_slice(&v6.octets());
            }
            out.extend_from_slice(&(len as u32).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
        }
    }
    out
}

fn take_addr(data: &[u8], v6: bool) -> Option<(IpAddr, &[u8])> {
    if v6 {
        let (head, rest) = data.split_first_chunk::<16>()?;
        Some((IpAddr::V6(Ipv6Addr::from(*head)), rest))
    } else {
        let (head, rest) = data.split_first_chunk::<4>()?;
        Some((IpAddr::V4(Ipv4Addr::from(*head)), rest))
    }
}

fuzz_target!(|data: &[u8]| {
    // The plain checksum over the whole input, whatever its length.
    assert_eq!(
        internet_checksum(data),
        reference(data),
        "internet_checksum of {data:02x?}"
    );
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((src, rest)) = take_addr(rest, flags & 1 != 0) else {
        return;
    };
    let Some((dst, message)) = take_addr(rest, flags & 2 != 0) else {
        return;
    };
    // A VRRP message is at most a few kilobytes: keep the 16-bit length of the IPv4
    // pseudo-header exact.
    if message.len() > usize::from(u16::MAX) {
        return;
    }
    let mut whole = pseudo_header(src, dst, message.len());
    whole.extend_from_slice(message);
    let computed = pseudo_header_checksum(src, dst, message);
    assert_eq!(
        computed,
        reference(&whole),
        "pseudo_header_checksum({src}, {dst}, {message:02x?})"
    );

    // Fill the checksum field (bytes 6..8) with the right value: the message then verifies.
    if message.len() >= 8 {
        let mut m = message.to_vec();
        m[6..8].fill(0);
        let plain = internet_checksum(&m).to_be_bytes();
        let pseudo = pseudo_header_checksum(src, dst, &m).to_be_bytes();
        m[6..8].copy_from_slice(&plain);
        assert_eq!(internet_checksum(&m), 0, "plain checksum does not verify");
        m[6..8].copy_from_slice(&pseudo);
        assert_eq!(
            pseudo_header_checksum(src, dst, &m),
            0,
            "pseudo-header checksum does not verify"
        );
    }
});
