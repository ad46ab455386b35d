//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use std::net::IpAddr;

use vrrp_core::{ChecksumMode, Endpoints, Version, internet_checksum, pseudo_header_checksum};

/// Whether `message`, an advert of `version`, carries the right checksum for `at` and
/// `mode`, computed by the real functions (the fuzzing build of `Advertisement::parse`
/// accepts any checksum): summed with its checksum field, it folds to zero. The rule is
/// `parse`'s: VRRPv2 sums the message alone, VRRPv3 adds the pseudo-header, except over IPv4
/// with `ChecksumMode::V3AsV2`.
#[must_use]
pub fn checksum_ok(message: &[u8], version: Version, at: Endpoints, mode: ChecksumMode) -> bool {
    let pseudo = match (version, at.src) {
        (Version::V2, _) => false,
        (Version::V3, IpAddr::V6(_)) => true,
        (Version::V3, IpAddr::V4(_)) => mode == ChecksumMode::PseudoHeader,
    };
    let sum = if pseudo {
        pseudo_header_checksum(at.src, at.dst, message)
    } else {
        internet_checksum(message)
    };
    sum == 0
}
