//! Which checksum rule applies to a message (RFC 5798 section 5.2.8, RFC 3768 section
//! 5.3.8, keepalived's `v3_checksum_as_v2`), and its verification. The arithmetic itself is
//! in the crate's `checksum` module.

use std::net::IpAddr;

use super::{CHECKSUM_OFFSET, ChecksumMode, Endpoints, WireError};
use crate::checksum::{internet_checksum, pseudo_header_checksum};
use crate::types::Version;

/// Verifies the checksum of `message` by the rule of `version` and any of `modes`.
///
/// On failure, reports the received value and the one the first mode expects.
///
/// Built for fuzzing (`--cfg fuzzing`, which cargo-fuzz sets, and only it), every checksum
/// passes, so that fuzzed messages reach the checks behind this one; the `checksum` fuzz
/// target tests the computation itself. No other build is affected.
// `fuzzing` is not a cfg cargo declares: without the allow, check-cfg would warn.
#[allow(unexpected_cfgs)]
pub(super) fn verify_checksum(
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
pub(super) fn ones_complement_add(a: u16, b: u16) -> u16 {
    let sum = u32::from(a) + u32::from(b);
    let folded = (sum & 0xffff) + (sum >> 16);
    // One fold of two 16-bit words leaves at most 16 bits.
    u16::try_from(folded).unwrap_or(u16::MAX)
}

/// The checksum of `message` as it stands, by the rule of `version` and `mode`.
pub(super) fn raw_checksum(
    message: &[u8],
    version: Version,
    at: Endpoints,
    mode: ChecksumMode,
) -> u16 {
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::wire::WireError;

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
