//! Property tests of the wire codec and of the receive path.
//!
//! - every valid [`Advertisement`] survives `emit` then `parse` unchanged, with the layout
//!   and checksum the RFCs define;
//! - `parse` never panics on arbitrary bytes, and whatever it accepts re-emits to its
//!   canonical form;
//! - well-formed messages with a correct checksum parse, and fail with the first check they
//!   break otherwise;
//! - `Router::handle_packet` never panics, and a rejected packet changes no state or timer;
//! - a single flipped bit is always detected (by the checksum, or by the version, type or
//!   VRID check that comes before it).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use vrrp_core::{
    Addresses, Advertisement, Auth, ChecksumMode, EmitError, Endpoints, Family, InstanceConfig,
    InstanceKey, Interval, MasterInfo, Password, Priority, Received, Router, RxError, State,
    VRRP_GROUP_V4, VRRP_GROUP_V6, Version, Vrid, WireError, internet_checksum,
    pseudo_header_checksum,
};

/// The number of cases of a property: as given in release builds (how CI runs the tests,
/// well under a second for the file), an eighth of it in debug builds.
fn cases(release: u32) -> ProptestConfig {
    let cases = if cfg!(debug_assertions) {
        release / 8
    } else {
        release
    };
    ProptestConfig::with_cases(cases)
}

// ----- strategies ------------------------------------------------------------------------

fn v4_any() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6_any() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn v4_unicast() -> impl Strategy<Value = Ipv4Addr> {
    v4_any().prop_filter("unicast source", |a| !a.is_multicast())
}

fn v6_unicast() -> impl Strategy<Value = Ipv6Addr> {
    v6_any().prop_filter("unicast source", |a| !a.is_multicast())
}

fn vrid() -> impl Strategy<Value = Vrid> {
    (1u8..=255).prop_map(|v| Vrid::new(v).expect("1..=255 is a VRID"))
}

fn mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![Just(ChecksumMode::PseudoHeader), Just(ChecksumMode::V3AsV2)]
}

/// A unicast source, and the multicast group or a unicast destination, of `family`.
fn endpoints(family: Family) -> BoxedStrategy<Endpoints> {
    match family {
        Family::Ipv4 => (v4_unicast(), prop_oneof![Just(VRRP_GROUP_V4), v4_unicast()])
            .prop_map(|(s, d)| Endpoints {
                src: IpAddr::V4(s),
                dst: IpAddr::V4(d),
            })
            .boxed(),
        Family::Ipv6 => (v6_unicast(), prop_oneof![Just(VRRP_GROUP_V6), v6_unicast()])
            .prop_map(|(s, d)| Endpoints {
                src: IpAddr::V6(s),
                dst: IpAddr::V6(d),
            })
            .boxed(),
    }
}

/// Any two addresses, of the same family or not.
fn any_endpoints() -> impl Strategy<Value = Endpoints> {
    let addr = || prop_oneof![v4_any().prop_map(IpAddr::V4), v6_any().prop_map(IpAddr::V6)];
    (addr(), addr()).prop_map(|(src, dst)| Endpoints { src, dst })
}

fn v2_auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        Just(Auth::None),
        vec(any::<u8>(), 1..=8)
            .prop_map(|s| Auth::Password(Password::new(&s).expect("1 to 8 bytes"))),
        (2u8..=255, any::<[u8; 8]>())
            .prop_map(|(auth_type, data)| Auth::Unsupported { auth_type, data }),
    ]
}

fn v2_advert() -> impl Strategy<Value = Advertisement> {
    (
        vrid(),
        any::<u8>(),
        1u8..=255,
        v2_auth(),
        vec(v4_any(), 0..=255),
    )
        .prop_map(|(vrid, priority, secs, auth, addrs)| Advertisement {
            version: Version::V2,
            vrid,
            priority,
            interval: Interval::from_secs(secs).expect("1..=255 s"),
            auth,
            addresses: Addresses::V4(addrs),
        })
}

fn v3_advert(family: Family) -> impl Strategy<Value = Advertisement> {
    let addresses = match family {
        Family::Ipv4 => vec(v4_any(), 0..=255).prop_map(Addresses::V4).boxed(),
        Family::Ipv6 => vec(v6_any(), 0..=255).prop_map(Addresses::V6).boxed(),
    };
    (vrid(), any::<u8>(), 1u16..=4095, addresses).prop_map(|(vrid, priority, centis, addresses)| {
        Advertisement {
            version: Version::V3,
            vrid,
            priority,
            interval: Interval::from_centis(centis).expect("1..=4095 cs"),
            auth: Auth::None,
            addresses,
        }
    })
}

/// Any advertisement `emit` accepts: VRRPv2 over IPv4, VRRPv3 over IPv4 and IPv6.
fn advert() -> impl Strategy<Value = Advertisement> {
    prop_oneof![
        v2_advert(),
        v3_advert(Family::Ipv4),
        v3_advert(Family::Ipv6)
    ]
}

/// A valid advertisement with endpoints of its family and a checksum mode.
fn sendable() -> impl Strategy<Value = (Advertisement, Endpoints, ChecksumMode)> {
    advert().prop_flat_map(|a| {
        let family = a.addresses.family();
        (Just(a), endpoints(family), mode())
    })
}

// ----- helpers ---------------------------------------------------------------------------

/// Whether a message of `version` between `at` is summed with the pseudo-header under `mode`.
fn uses_pseudo_header(version: Version, at: Endpoints, mode: ChecksumMode) -> bool {
    match (version, at.src) {
        (Version::V2, _) => false,
        (Version::V3, IpAddr::V6(_)) => true,
        (Version::V3, IpAddr::V4(_)) => mode == ChecksumMode::PseudoHeader,
    }
}

/// The checksum of `bytes` as they stand (zero when the checksum field is right).
fn residue(bytes: &[u8], version: Version, at: Endpoints, mode: ChecksumMode) -> u16 {
    if uses_pseudo_header(version, at, mode) {
        pseudo_header_checksum(at.src, at.dst, bytes)
    } else {
        internet_checksum(bytes)
    }
}

/// Writes the right checksum into a message of at least 8 bytes.
fn fix_checksum(bytes: &mut [u8], version: Version, at: Endpoints, mode: ChecksumMode) {
    bytes[6..8].fill(0);
    let sum = residue(bytes, version, at, mode);
    bytes[6..8].copy_from_slice(&sum.to_be_bytes());
}

fn other(mode: ChecksumMode) -> ChecksumMode {
    match mode {
        ChecksumMode::PseudoHeader => ChecksumMode::V3AsV2,
        ChecksumMode::V3AsV2 => ChecksumMode::PseudoHeader,
    }
}

/// The canonical form of a message that parsed as `a`: the fields a receiver ignores are
/// cleared (VRRPv3's 4 reserved bits, VRRPv2's authentication data with type 0) and so is
/// the checksum.
fn canonical_without_checksum(message: &[u8], a: &Advertisement) -> Vec<u8> {
    let mut out = message.to_vec();
    out[6..8].fill(0);
    match a.version {
        Version::V3 => out[4] &= 0x0f,
        Version::V2 => {
            if a.auth == Auth::None {
                let end = out.len();
                out[end - 8..].fill(0);
            }
        }
    }
    out
}

/// The oracle for any message `parse` accepted as `a`: emitting `a` gives the canonical
/// bytes, which parse back to `a`; a message already canonical is reproduced byte for byte.
fn check_canonical(
    message: &[u8],
    a: &Advertisement,
    at: Endpoints,
    mode: ChecksumMode,
) -> Result<(), TestCaseError> {
    let emitted = a
        .to_bytes(at, mode)
        .map_err(|e| TestCaseError::fail(format!("a parsed advert must emit: {e}")))?;
    prop_assert_eq!(emitted.len(), a.len());
    prop_assert_eq!(emitted.len(), message.len());
    prop_assert_eq!(Advertisement::parse(&emitted, at, mode), Ok(a.clone()));
    let canonical = canonical_without_checksum(message, a);
    prop_assert_eq!(&canonical_without_checksum(&emitted, a), &canonical);
    let mut received = message.to_vec();
    received[6..8].fill(0);
    if received == canonical {
        // Byte for byte, but for the one's-complement negative zero: a checksum field of
        // 0xffff verifies wherever 0x0000 does, and `emit` writes 0x0000 (see the test
        // `a_negative_zero_checksum_is_accepted_and_emitted_as_zero`).
        let negative_zero = message[6..8] == [0xff, 0xff] && emitted[6..8] == [0, 0];
        if !negative_zero {
            prop_assert_eq!(&emitted[..], message);
        }
    }
    Ok(())
}

// ----- emit then parse -------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(4096))]

    /// `parse(emit(a)) == a`, with the layout of RFC 3768 / RFC 5798 section 5.1 and a
    /// checksum that verifies by the version's rule.
    #[test]
    fn emit_then_parse_is_identity((a, at, mode) in sendable()) {
        let bytes = a.to_bytes(at, mode).expect("a valid advert emits");
        let family = a.addresses.family();
        let auth_len = if a.version == Version::V2 { 8 } else { 0 };
        prop_assert_eq!(bytes.len(), a.len());
        prop_assert_eq!(a.len(), 8 + a.addresses.len() * family.address_len() + auth_len);

        // emit appends and leaves what was in the buffer alone.
        let mut buf = BytesMut::from(&b"prefix"[..]);
        a.emit(at, mode, &mut buf).expect("a valid advert emits");
        prop_assert_eq!(&buf[..6], b"prefix");
        prop_assert_eq!(&buf[6..], &bytes[..]);

        // The fixed header, field by field.
        prop_assert_eq!(bytes[0], (a.version.wire() << 4) | 1);
        prop_assert_eq!(bytes[1], a.vrid.get());
        prop_assert_eq!(bytes[2], a.priority);
        prop_assert_eq!(usize::from(bytes[3]), a.addresses.len());
        match a.version {
            Version::V2 => {
                prop_assert_eq!(bytes[4], a.auth.wire_type());
                prop_assert_eq!(u16::from(bytes[5]) * 100, a.interval.centis());
                let auth = &bytes[bytes.len() - 8..];
                match a.auth {
                    Auth::None => prop_assert_eq!(auth, &[0u8; 8][..]),
                    Auth::Password(p) => prop_assert_eq!(auth, &p.wire_bytes()[..]),
                    Auth::Unsupported { data, .. } => prop_assert_eq!(auth, &data[..]),
                    _ => prop_assert!(false, "unexpected auth {:?}", a.auth),
                }
            }
            Version::V3 => {
                prop_assert_eq!(u16::from_be_bytes([bytes[4], bytes[5]]), a.interval.centis());
            }
        }
        let listed: Vec<u8> = a
            .addresses
            .iter()
            .flat_map(|addr| match addr {
                IpAddr::V4(v) => v.octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            })
            .collect();
        prop_assert_eq!(&bytes[8..8 + listed.len()], &listed[..]);

        // The checksum verifies by the version's rule.
        if uses_pseudo_header(a.version, at, mode) {
            prop_assert_eq!(pseudo_header_checksum(at.src, at.dst, &bytes), 0);
        } else {
            prop_assert_eq!(internet_checksum(&bytes), 0);
        }

        prop_assert_eq!(Advertisement::parse(&bytes, at, mode), Ok(a.clone()));

        // The mode only matters for VRRPv3 over IPv4.
        let in_other_mode = Advertisement::parse(&bytes, at, other(mode));
        if a.version == Version::V3 && family == Family::Ipv4 {
            if residue(&bytes, a.version, at, other(mode)) == 0 {
                prop_assert_eq!(in_other_mode, Ok(a.clone()));
            } else {
                let is_checksum_error =
                    matches!(in_other_mode, Err(WireError::Checksum { .. }));
                prop_assert!(is_checksum_error, "got {:?}", in_other_mode);
            }
        } else {
            prop_assert_eq!(in_other_mode, Ok(a.clone()));
        }
    }

    /// Emitting with endpoints of the other family is refused and leaves the buffer alone.
    #[test]
    fn emit_refuses_endpoints_of_the_other_family(
        (a, mode) in (advert(), mode()),
        v4 in v4_unicast(),
        v6 in v6_unicast(),
    ) {
        let wrong = match a.addresses.family() {
            Family::Ipv4 => IpAddr::V6(v6),
            Family::Ipv6 => IpAddr::V4(v4),
        };
        let mut buf = BytesMut::new();
        let at = Endpoints { src: wrong, dst: wrong };
        prop_assert_eq!(a.emit(at, mode, &mut buf), Err(EmitError::FamilyMismatch));
        prop_assert!(buf.is_empty());
    }
}

// ----- parse on arbitrary and on near-valid bytes ------------------------------------------

proptest! {
    #![proptest_config(cases(32768))]

    /// `parse` never panics; the cheap checks report the right error; and whatever it
    /// accepts is re-emitted in canonical form and parses back equal.
    #[test]
    fn parse_never_panics_and_accepts_only_canonical_values(
        message in vec(any::<u8>(), 0..600),
        at in any_endpoints(),
        mode in mode(),
    ) {
        let result = Advertisement::parse(&message, at, mode);
        if Family::of(&at.src) != Family::of(&at.dst) {
            prop_assert_eq!(result, Err(WireError::MixedFamilies));
        } else if message.len() < 8 {
            prop_assert_eq!(result, Err(WireError::TooShort { len: message.len() }));
        } else if let Ok(a) = result {
            check_canonical(&message, &a, at, mode)?;
        }
    }
}

/// Near-valid messages: a right header shape, random fields, a length off by -3..=3 bytes
/// sometimes, and a checksum made right for the endpoints.
fn near_valid() -> impl Strategy<Value = (Vec<u8>, Endpoints, ChecksumMode, Version)> {
    let shape = prop_oneof![
        Just((Version::V2, Family::Ipv4)),
        Just((Version::V3, Family::Ipv4)),
        Just((Version::V3, Family::Ipv6)),
    ];
    (
        shape,
        0usize..=20,
        prop_oneof![3 => Just(0i8), 1 => -3i8..=3],
    )
        .prop_flat_map(|((version, family), count, delta)| {
            let auth_len = if version == Version::V2 { 8 } else { 0 };
            let len = 8 + count * family.address_len() + auth_len;
            // At least the fixed header, so that the checksum field exists.
            let len = len.saturating_add_signed(isize::from(delta)).max(8);
            (
                vec(any::<u8>(), len),
                endpoints(family),
                mode(),
                Just((version, count)),
            )
                .prop_map(move |(mut bytes, at, mode, (version, count))| {
                    bytes[0] = (version.wire() << 4) | 1;
                    bytes[3] = u8::try_from(count).expect("at most 20");
                    fix_checksum(&mut bytes, version, at, mode);
                    (bytes, at, mode, version)
                })
        })
}

proptest! {
    #![proptest_config(cases(8192))]

    /// A message of the right shape with a right checksum parses unless the VRID, the length
    /// or the interval is wrong, in that order; what parses has the fields of the bytes and
    /// re-emits canonically.
    #[test]
    fn near_valid_messages_parse_or_fail_with_the_first_broken_rule(
        (bytes, at, mode, version) in near_valid()
    ) {
        let family = Family::of(&at.src);
        let auth_len = if version == Version::V2 { 8 } else { 0 };
        let expected_len = 8 + usize::from(bytes[3]) * family.address_len() + auth_len;
        let interval_field = match version {
            Version::V2 => u16::from(bytes[5]) * 100,
            Version::V3 => u16::from_be_bytes([bytes[4], bytes[5]]) & 0x0fff,
        };
        let result = Advertisement::parse(&bytes, at, mode);
        if bytes[1] == 0 {
            prop_assert_eq!(result, Err(WireError::ZeroVrid));
        } else if bytes.len() != expected_len {
            prop_assert_eq!(
                result,
                Err(WireError::Length { expected: expected_len, actual: bytes.len() })
            );
        } else if interval_field == 0 {
            prop_assert_eq!(result, Err(WireError::ZeroInterval));
        } else {
            let a = result.expect("a well-formed message parses");
            prop_assert_eq!(a.version, version);
            prop_assert_eq!(a.vrid.get(), bytes[1]);
            prop_assert_eq!(a.priority, bytes[2]);
            prop_assert_eq!(a.interval.centis(), interval_field);
            prop_assert_eq!(a.addresses.family(), family);
            prop_assert_eq!(a.addresses.len(), usize::from(bytes[3]));
            if version == Version::V2 {
                prop_assert_eq!(a.auth.wire_type(), bytes[4]);
            } else {
                prop_assert_eq!(a.auth, Auth::None);
            }
            check_canonical(&bytes, &a, at, mode)?;
        }
    }
}

// ----- the one's-complement negative zero ------------------------------------------------

proptest! {
    #![proptest_config(cases(2048))]

    /// In one's-complement arithmetic 0xffff and 0x0000 are both zero (RFC 1071 section 2):
    /// where the right checksum is 0x0000, a field of 0xffff verifies too, as it does for
    /// keepalived, which sums the message and tests for zero. `parse` accepts both forms as
    /// the same advertisement; `emit` always writes 0x0000. (The last address word is chosen
    /// to make the checksum come out as 0x0000.)
    #[test]
    fn a_negative_zero_checksum_is_accepted_and_emitted_as_zero(
        (a, at, mode) in sendable().prop_filter("an address to adjust", |(a, _, _)| {
            !a.addresses.is_empty()
        }),
    ) {
        let mut bytes = a.to_bytes(at, mode).expect("a valid advert emits").to_vec();
        let last_word = 8 + a.addresses.len() * a.addresses.family().address_len() - 2;
        bytes[6..8].copy_from_slice(&[0xff, 0xff]);
        bytes[last_word..last_word + 2].fill(0);
        let fill = residue(&bytes, a.version, at, mode);
        bytes[last_word..last_word + 2].copy_from_slice(&fill.to_be_bytes());
        prop_assert_eq!(residue(&bytes, a.version, at, mode), 0);

        let negative = Advertisement::parse(&bytes, at, mode);
        let b = negative.clone().expect("a checksum of 0xffff that sums to zero verifies");
        let mut positive = bytes.clone();
        positive[6..8].fill(0);
        prop_assert_eq!(Advertisement::parse(&positive, at, mode), negative);
        let emitted = b.to_bytes(at, mode).expect("a parsed advert emits");
        prop_assert_eq!(&emitted[..], &positive[..]);
    }
}

// ----- single-bit errors -----------------------------------------------------------------

proptest! {
    #![proptest_config(cases(8192))]

    /// Flipping any one bit of a valid message is detected, by the first check of `parse`
    /// (version, type, VRID, length, checksum) it breaks:
    ///
    /// - byte 3 (count): always the length check, which comes before the checksum;
    /// - bytes 2 and 4 onwards: always the checksum (a one-bit change moves the
    ///   one's-complement sum by 2^k, never a multiple of 0xffff);
    /// - byte 1 (VRID): the zero-VRID check or the checksum;
    /// - byte 0: the version or type check, or for a version bit (2 <-> 3) the length check,
    ///   the checksum, or a message that parses as a different advertisement.
    #[test]
    fn a_flipped_bit_never_goes_unnoticed((a, at, mode) in sendable(), bit in any::<Index>()) {
        let mut bytes = a.to_bytes(at, mode).expect("a valid advert emits").to_vec();
        let bit = bit.index(bytes.len() * 8);
        let (byte, shift) = (bit / 8, bit % 8);
        bytes[byte] ^= 1 << shift;
        let result = Advertisement::parse(&bytes, at, mode);
        match byte {
            0 => match result {
                Ok(b) => prop_assert_ne!(b, a),
                Err(
                    WireError::Version { .. }
                    | WireError::Type { .. }
                    | WireError::Checksum { .. }
                    | WireError::Length { .. },
                ) => {}
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            },
            1 => {
                let expected = if bytes[1] == 0 { "zero VRID" } else { "checksum" };
                let ok = matches!(
                    (&result, bytes[1]),
                    (Err(WireError::ZeroVrid), 0) | (Err(WireError::Checksum { .. }), 1..)
                );
                prop_assert!(ok, "expected a {} error, got {:?}", expected, result);
            }
            3 => {
                let ok = matches!(result, Err(WireError::Length { .. }));
                prop_assert!(ok, "bit {}: expected a length error, got {:?}", shift, result);
            }
            _ => {
                let ok = matches!(result, Err(WireError::Checksum { .. }));
                prop_assert!(ok, "byte {} bit {}: expected a checksum error, got {:?}",
                    byte, shift, result);
            }
        }
    }

    /// The VRRPv3 pseudo-header covers the IP source: a bit flipped there fails the checksum.
    /// The VRRPv2 (and v3-as-v2) checksum does not cover it: the message still parses.
    #[test]
    fn the_pseudo_header_covers_the_source((a, at, mode) in sendable(), bit in any::<Index>()) {
        let bytes = a.to_bytes(at, mode).expect("a valid advert emits");
        let src = match at.src {
            IpAddr::V4(s) => IpAddr::V4(Ipv4Addr::from(s.to_bits() ^ (1 << bit.index(32)))),
            IpAddr::V6(s) => IpAddr::V6(Ipv6Addr::from(s.to_bits() ^ (1 << bit.index(128)))),
        };
        let moved = Endpoints { src, dst: at.dst };
        let result = Advertisement::parse(&bytes, moved, mode);
        if uses_pseudo_header(a.version, at, mode) {
            let is_checksum_error = matches!(result, Err(WireError::Checksum { .. }));
            prop_assert!(is_checksum_error, "got {:?}", result);
        } else {
            prop_assert_eq!(result, Ok(a));
        }
    }
}

// ----- the receive path ------------------------------------------------------------------

const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);
const PEER_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
const LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const IFACE: u32 = 7;

/// The instances of the receive-path test, as (config, primary address).
fn router_configs() -> Vec<(InstanceConfig, IpAddr)> {
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(10, 99, 0, d));
    let vrid = |v| Vrid::new(v).expect("non-zero");

    // VRRPv3 IPv4, multicast, 1 s.
    let mut v3 = InstanceConfig::new(vrid(51), vec![v4(100)]);
    v3.priority = Priority::new(100).expect("non-zero");

    // VRRPv2 IPv4 with a password and two addresses.
    let mut v2 = InstanceConfig::new(vrid(52), vec![v4(101), v4(102)]);
    v2.version = Version::V2;
    v2.password = Password::new(b"secret12");

    // VRRPv3 IPv6 on the same VRID as the first: demultiplexed by family.
    let mut v6 = InstanceConfig::new(
        vrid(51),
        vec![IpAddr::V6(Ipv6Addr::new(
            0xfd00, 0x99, 0, 0, 0, 0, 0, 0x100,
        ))],
    );
    v6.advert_interval = Interval::from_centis(50).expect("non-zero");

    // VRRPv3 IPv4 unicast to one peer, strict address list, accepting hop limit 64.
    let mut uni = InstanceConfig::new(vrid(53), vec![v4(103)]);
    uni.unicast_peers = vec![IpAddr::V4(PEER_V4)];
    uni.unicast_min_hop_limit = 64;
    uni.strict_address_list = true;
    uni.checksum_mode = ChecksumMode::V3AsV2;

    vec![
        (v3, IpAddr::V4(LOCAL_V4)),
        (v2, IpAddr::V4(LOCAL_V4)),
        (v6, IpAddr::V6(LOCAL_V6)),
        (uni, IpAddr::V4(LOCAL_V4)),
    ]
}

/// One received packet, `after` the previous one.
#[derive(Debug, Clone)]
struct Packet {
    after: Duration,
    interface: u32,
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    payload: Vec<u8>,
}

/// How a plausible advert differs from what its instance accepts.
#[derive(Debug, Clone, Copy)]
enum Tweak {
    None,
    Interval,
    NoAuth,
    WrongPassword,
    UnsupportedAuth,
    ExtraAddress,
    OtherVersion,
}

/// Adverts close to what the configured instances accept: their VRIDs, addresses, auth and
/// interval, or one of them changed.
fn plausible_advert(family: Family) -> BoxedStrategy<Advertisement> {
    let configs = router_configs();
    let templates: Vec<InstanceConfig> = configs
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| c.family() == family)
        .collect();
    let tweak = prop_oneof![
        12 => Just(Tweak::None),
        1 => Just(Tweak::Interval),
        1 => Just(Tweak::NoAuth),
        1 => Just(Tweak::WrongPassword),
        1 => Just(Tweak::UnsupportedAuth),
        1 => Just(Tweak::ExtraAddress),
        1 => Just(Tweak::OtherVersion),
    ];
    (proptest::sample::select(templates), any::<u8>(), tweak)
        .prop_map(move |(c, priority, tweak)| {
            let mut a = Advertisement {
                version: c.version,
                vrid: c.vrid,
                priority,
                interval: c.advert_interval,
                auth: c.password.map_or(Auth::None, Auth::Password),
                addresses: Addresses::collect(family, c.virtual_addresses.iter().copied())
                    .expect("one family"),
            };
            match tweak {
                Tweak::None => {}
                Tweak::Interval => a.interval = Interval::from_secs(2).expect("non-zero"),
                Tweak::NoAuth => a.auth = Auth::None,
                Tweak::WrongPassword if a.version == Version::V2 => {
                    a.auth = Auth::Password(Password::new(b"guessed").expect("7 bytes"));
                }
                Tweak::UnsupportedAuth if a.version == Version::V2 => {
                    a.auth = Auth::Unsupported {
                        auth_type: 2,
                        data: [0; 8],
                    };
                }
                Tweak::ExtraAddress => match &mut a.addresses {
                    Addresses::V4(v) => v.push(Ipv4Addr::new(192, 0, 2, 1)),
                    Addresses::V6(v) => v.push(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                },
                Tweak::OtherVersion if family == Family::Ipv4 => {
                    (a.version, a.auth) = match a.version {
                        Version::V2 => (Version::V3, Auth::None),
                        Version::V3 => (Version::V2, Auth::None),
                    };
                }
                Tweak::WrongPassword | Tweak::UnsupportedAuth | Tweak::OtherVersion => {}
            }
            a
        })
        .boxed()
}

fn packet() -> impl Strategy<Value = Packet> {
    let family = prop_oneof![Just(Family::Ipv4), Just(Family::Ipv6)];
    family
        .prop_flat_map(|family| {
            let (src, dst) = match family {
                Family::Ipv4 => (
                    prop_oneof![
                        3 => Just(IpAddr::V4(PEER_V4)),
                        1 => Just(IpAddr::V4(LOCAL_V4)),
                        1 => v4_unicast().prop_map(IpAddr::V4),
                    ]
                    .boxed(),
                    prop_oneof![
                        3 => Just(IpAddr::V4(VRRP_GROUP_V4)),
                        1 => Just(IpAddr::V4(LOCAL_V4)),
                        1 => v4_any().prop_map(IpAddr::V4),
                    ]
                    .boxed(),
                ),
                Family::Ipv6 => (
                    prop_oneof![
                        3 => Just(IpAddr::V6(PEER_V6)),
                        1 => Just(IpAddr::V6(LOCAL_V6)),
                        1 => v6_unicast().prop_map(IpAddr::V6),
                    ]
                    .boxed(),
                    prop_oneof![
                        3 => Just(IpAddr::V6(VRRP_GROUP_V6)),
                        1 => v6_any().prop_map(IpAddr::V6),
                    ]
                    .boxed(),
                ),
            };
            let advert = prop_oneof![
                3 => plausible_advert(family),
                1 => advert().prop_filter("family", move |a| a.addresses.family() == family),
            ];
            (
                (0u64..2500).prop_map(Duration::from_millis),
                prop_oneof![9 => Just(IFACE), 1 => any::<u32>()],
                src,
                dst,
                prop_oneof![3 => Just(255u8), 1 => any::<u8>()],
                advert,
                mode(),
                // What to do to the advert: 0 nothing, 1 flip a bit, 2 random bytes instead.
                prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
                any::<Index>(),
                vec(any::<u8>(), 0..80),
            )
        })
        .prop_map(
            |(after, interface, src, dst, hop_limit, a, mode, spoil, bit, noise)| {
                let at = Endpoints { src, dst };
                let payload = match a.to_bytes(at, mode) {
                    Ok(b) if spoil == 0 => b.to_vec(),
                    Ok(b) if spoil == 1 => {
                        let mut b = b.to_vec();
                        let bit = bit.index(b.len() * 8);
                        b[bit / 8] ^= 1 << (bit % 8);
                        b
                    }
                    _ => noise,
                };
                Packet {
                    after,
                    interface,
                    src,
                    dst,
                    hop_limit,
                    payload,
                }
            },
        )
}

/// What a rejected packet must not change.
type Snapshot = Vec<(
    InstanceKey,
    State,
    Option<Instant>,
    Option<MasterInfo>,
    Interval,
)>;

fn snapshot(router: &Router) -> Snapshot {
    router
        .instances()
        .map(|(k, i)| {
            (
                *k,
                i.state(),
                i.poll_timeout(),
                i.master(),
                i.master_adver_interval(),
            )
        })
        .collect()
}

/// The base of a test's virtual time. Only the tests read the clock, once, for an origin;
/// every later instant is computed from it.
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn drain(router: &mut Router) -> usize {
    std::iter::from_fn(|| router.poll_action()).count()
}

fn started_router(t0: Instant) -> Router {
    let mut router = Router::new();
    for (config, primary) in router_configs() {
        let key = router.add_instance(IFACE, config).expect("valid config");
        router
            .instance_mut(&key)
            .expect("just added")
            .set_primary_address(t0, Some(primary));
    }
    router.handle_startup(t0);
    drain(&mut router);
    router
}

proptest! {
    #![proptest_config(cases(1024))]

    /// `Router::handle_packet` never panics, and a rejected packet leaves every instance's
    /// state, timers and view of the master unchanged and queues no action. Timers fire in
    /// between, so packets arrive in Backup and in Master.
    #[test]
    fn rejected_packets_change_nothing(packets in vec(packet(), 1..24)) {
        let t0 = epoch();
        let mut router = started_router(t0);
        prop_assert!(router.instances().all(|(_, i)| i.state() == State::Backup));
        let mut now = t0;
        let (mut accepted, mut rejected) = (0u32, 0u32);
        for p in &packets {
            now += p.after;
            if router.poll_timeout().is_some_and(|t| t <= now) {
                router.handle_timeout(now);
                drain(&mut router);
            }
            let before = snapshot(&router);
            let rx = Received {
                src: p.src,
                dst: p.dst,
                hop_limit: p.hop_limit,
                payload: &p.payload,
            };
            match router.handle_packet(now, p.interface, &rx) {
                Ok(()) => {
                    accepted += 1;
                    drain(&mut router);
                }
                Err(e) => {
                    rejected += 1;
                    prop_assert_eq!(snapshot(&router), before, "rejected with {}", e);
                    prop_assert_eq!(drain(&mut router), 0, "rejected with {} but acted", e);
                    // The router's own verdicts.
                    let known = p.payload.len() >= 8
                        && router.instances().any(|(k, _)| {
                            k.interface == p.interface
                                && k.vrid.get() == p.payload[1]
                                && k.family == Family::of(&p.src)
                        });
                    if p.payload.len() < 8 {
                        let too_short = matches!(e, RxError::Wire(WireError::TooShort { .. }));
                        prop_assert!(too_short, "got {}", e);
                    } else if !known {
                        let unknown = matches!(
                            e,
                            RxError::UnknownVrid { .. } | RxError::Wire(WireError::ZeroVrid)
                        );
                        prop_assert!(unknown, "got {}", e);
                    }
                }
            }
        }
        prop_assert_eq!(accepted + rejected, u32::try_from(packets.len()).unwrap());
    }
}

/// The receive-path property above is only meaningful if its packets reach every branch: a
/// fixed sample must contain both accepted and rejected packets, and instances in Master.
#[test]
fn the_packet_strategy_reaches_acceptance_and_rejection() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = vec(packet(), 24);
    let (mut accepted, mut rejected, mut saw_master) = (0, 0, false);
    for _ in 0..64 {
        let packets = strategy.new_tree(&mut runner).expect("a value").current();
        let t0 = epoch();
        let mut router = started_router(t0);
        let mut now = t0;
        for p in &packets {
            now += p.after;
            if router.poll_timeout().is_some_and(|t| t <= now) {
                router.handle_timeout(now);
                drain(&mut router);
            }
            saw_master |= router.instances().any(|(_, i)| i.state() == State::Master);
            let rx = Received {
                src: p.src,
                dst: p.dst,
                hop_limit: p.hop_limit,
                payload: &p.payload,
            };
            match router.handle_packet(now, p.interface, &rx) {
                Ok(()) => accepted += 1,
                Err(_) => rejected += 1,
            }
            drain(&mut router);
        }
    }
    assert!(accepted >= 100, "only {accepted} packets accepted");
    assert!(rejected >= 100, "only {rejected} packets rejected");
    assert!(saw_master, "no instance ever became Master");
}
