//! The Internet checksum ([RFC 1071](https://www.rfc-editor.org/rfc/rfc1071)) over a VRRP
//! message, with the IPv4 or IPv6 pseudo-header that VRRPv3 requires.
//!
//! Public (re-exported at the crate root) only with the `checksum` feature; the codec uses it
//! either way.
#![cfg_attr(not(feature = "checksum"), allow(unreachable_pub))]

use std::net::IpAddr;

use crate::IPPROTO_VRRP;

/// A running one's-complement sum of 16-bit big-endian words.
///
/// Bytes may be added in several pieces; a piece of odd length is only allowed last (the
/// pseudo-header pieces are all of even length).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sum(u64);

impl Sum {
    /// Adds `data`, padding a trailing odd byte with zero (RFC 1071 section 4.1).
    pub(crate) fn add(&mut self, data: &[u8]) {
        let mut chunks = data.chunks_exact(2);
        for pair in chunks.by_ref() {
            if let [hi, lo] = pair {
                self.0 += u64::from(u16::from_be_bytes([*hi, *lo]));
            }
        }
        if let [last] = chunks.remainder() {
            self.0 += u64::from(u16::from_be_bytes([*last, 0]));
        }
    }

    /// Folds the carries and returns the one's complement of the sum.
    pub(crate) fn finish(self) -> u16 {
        let mut sum = self.0;
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        // The loop leaves at most 16 significant bits.
        !u16::try_from(sum).unwrap_or(u16::MAX)
    }
}

/// The Internet checksum of `data` alone (what VRRPv2, and VRRPv3 in keepalived's
/// `v3_checksum_as_v2` mode, use).
#[must_use]
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum = Sum::default();
    sum.add(data);
    sum.finish()
}

/// The checksum of a VRRP message preceded by the pseudo-header of RFC 5798 section 5.2.8:
/// the IPv4 pseudo-header of RFC 768, or the IPv6 one of RFC 8200 section 8.1, with
/// protocol 112 and the message's length.
///
/// `src` and `dst` must be of the same family; if they are not, the IPv6 form is used with
/// the IPv4 address mapped, which never matches a real packet's checksum.
#[must_use]
pub fn pseudo_header_checksum(src: IpAddr, dst: IpAddr, message: &[u8]) -> u16 {
    let mut sum = Sum::default();
    // A VRRP message is at most 8 + 255 * 16 + 8 bytes, far below u16::MAX.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum.add(&s.octets());
            sum.add(&d.octets());
            sum.add(&[0, IPPROTO_VRRP]);
            sum.add(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        }
        (s, d) => {
            sum.add(&to_v6(s).octets());
            sum.add(&to_v6(d).octets());
            sum.add(&len.to_be_bytes());
            sum.add(&[0, 0, 0, IPPROTO_VRRP]);
        }
    }
    sum.add(message);
    sum.finish()
}

fn to_v6(addr: IpAddr) -> std::net::Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 1071 section 3: the words 0x0001 0xf203 0xf4f5 0xf6f7 sum to 0xddf2.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(internet_checksum(&[0xab]), internet_checksum(&[0xab, 0x00]));
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn a_message_with_its_checksum_sums_to_zero() {
        let mut msg = [
            0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0, 0, 10, 99, 0, 100, 0, 0, 0, 0,
        ];
        let c = internet_checksum(&msg).to_be_bytes();
        msg[6] = c[0];
        msg[7] = c[1];
        assert_eq!(internet_checksum(&msg), 0);
    }
}
