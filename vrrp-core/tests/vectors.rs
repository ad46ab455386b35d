//! Golden vectors: adverts captured from keepalived 2.2.7 (`tests/data/keepalived-vectors.json`,
//! copied from the project's shared captures). Each must parse to the recorded fields, and
//! emitting the parsed value must reproduce the captured bytes exactly.

use std::net::IpAddr;

use serde_json::Value;
use vrrp_core::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Password, Version};

const VECTORS: &str = include_str!("data/keepalived-vectors.json");

fn vectors() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(VECTORS).expect("vectors are JSON")
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or_else(|| panic!("vector has no {key}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    field(v, key)
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn num(v: &Value, key: &str) -> u64 {
    field(v, key)
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number"))
}

fn endpoints(v: &Value) -> Endpoints {
    Endpoints {
        src: text(v, "src").parse().unwrap(),
        dst: text(v, "dst").parse().unwrap(),
    }
}

#[test]
fn there_are_sixteen_vectors_covering_every_kind() {
    let names: Vec<String> = vectors()
        .iter()
        .map(|v| text(v, "name").to_owned())
        .collect();
    assert_eq!(names.len(), 16);
    for needed in [
        "v2-ipv4-noauth",
        "v2-ipv4-auth-pass",
        "v2-ipv4-3vips",
        "v2-ipv4-prio0",
        "v2-ipv4-unicast-to-h2",
        "v3-ipv4",
        "v3-ipv4-3vips",
        "v3-ipv4-prio0",
        "v3-ipv4-unicast-to-h2",
        "v3-ipv6",
        "v3-ipv6-prio0",
        "v3-ipv6-unicast-to-h2",
    ] {
        assert!(names.iter().any(|n| n == needed), "missing vector {needed}");
    }
}

#[test]
fn each_vector_parses_to_its_recorded_fields() {
    for v in vectors() {
        let name = text(&v, "name");
        let payload = hex::decode(text(&v, "hex_vrrp_payload")).unwrap();
        let adv = Advertisement::parse(&payload, endpoints(&v), ChecksumMode::PseudoHeader)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let version = match num(&v, "version") {
            2 => Version::V2,
            3 => Version::V3,
            other => panic!("{name}: version {other}"),
        };
        assert_eq!(adv.version, version, "{name}");
        assert_eq!(u64::from(adv.vrid.get()), num(&v, "vrid"), "{name}");
        assert_eq!(u64::from(adv.priority), num(&v, "priority"), "{name}");
        assert_eq!(adv.addresses.len() as u64, num(&v, "count_ip"), "{name}");
        let interval_cs = match version {
            Version::V2 => num(&v, "advert_int") * 100,
            Version::V3 => num(&v, "advert_int"),
        };
        assert_eq!(u64::from(adv.interval.centis()), interval_cs, "{name}");
        let recorded: Vec<IpAddr> = field(&v, "addresses")
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(adv.addresses.iter().collect::<Vec<_>>(), recorded, "{name}");
        match (text(&v, "family"), &adv.addresses) {
            ("ipv4", Addresses::V4(_)) | ("ipv6", Addresses::V6(_)) => {}
            (family, _) => panic!("{name}: family {family}"),
        }
        let expected_auth = match (
            field(&v, "auth_type").as_u64(),
            field(&v, "auth_string").as_str(),
        ) {
            (None | Some(0), None) => Auth::None,
            (Some(1), Some(secret)) => Auth::Password(Password::new(secret.as_bytes()).unwrap()),
            other => panic!("{name}: unexpected auth {other:?}"),
        };
        assert_eq!(adv.auth, expected_auth, "{name}");
        let checksum =
            u16::from_str_radix(text(&v, "checksum").trim_start_matches("0x"), 16).unwrap();
        assert_eq!(
            u16::from_be_bytes([payload[6], payload[7]]),
            checksum,
            "{name}"
        );
    }
}

#[test]
fn emitting_each_parsed_vector_reproduces_the_captured_bytes() {
    for v in vectors() {
        let name = text(&v, "name");
        let payload = hex::decode(text(&v, "hex_vrrp_payload")).unwrap();
        let at = endpoints(&v);
        let adv = Advertisement::parse(&payload, at, ChecksumMode::PseudoHeader).unwrap();
        let emitted = adv.to_bytes(at, ChecksumMode::PseudoHeader).unwrap();
        assert_eq!(hex::encode(&emitted), hex::encode(&payload), "{name}");
        assert_eq!(adv.len(), payload.len(), "{name}");
    }
}

#[test]
fn the_vrrp_payload_is_the_ip_packet_after_its_header() {
    for v in vectors() {
        let name = text(&v, "name");
        let packet = hex::decode(text(&v, "hex_ip_packet")).unwrap();
        let payload = hex::decode(text(&v, "hex_vrrp_payload")).unwrap();
        let header_len = match text(&v, "family") {
            "ipv4" => usize::from(packet[0] & 0x0f) * 4,
            _ => 40,
        };
        assert_eq!(&packet[header_len..], &payload[..], "{name}");
        let ttl = if header_len == 40 {
            packet[7]
        } else {
            packet[8]
        };
        assert_eq!(u64::from(ttl), num(&v, "ttl"), "{name}");
    }
}

/// keepalived sums VRRPv3 over IPv4 with the pseudo-header: the two unicast adverts to
/// different peers differ only in their checksum, and the message-only checksum fails.
#[test]
fn v3_ipv4_checksum_covers_the_pseudo_header() {
    let all = vectors();
    let find = |n: &str| all.iter().find(|v| text(v, "name") == n).unwrap().clone();
    let (h2, h3) = (find("v3-ipv4-unicast-to-h2"), find("v3-ipv4-unicast-to-h3"));
    let p2 = hex::decode(text(&h2, "hex_vrrp_payload")).unwrap();
    let p3 = hex::decode(text(&h3, "hex_vrrp_payload")).unwrap();
    assert_ne!(p2, p3);
    assert_eq!(p2[..6], p3[..6]);
    assert_eq!(p2[8..], p3[8..]);
    assert!(Advertisement::parse(&p2, endpoints(&h2), ChecksumMode::V3AsV2).is_err());
    assert!(Advertisement::parse(&p2, endpoints(&h3), ChecksumMode::PseudoHeader).is_err());
    // Re-emitted in the compatibility mode, the checksum is the message-only one and verifies
    // whatever the endpoints.
    let adv = Advertisement::parse(&p2, endpoints(&h2), ChecksumMode::PseudoHeader).unwrap();
    let compat = adv.to_bytes(endpoints(&h2), ChecksumMode::V3AsV2).unwrap();
    assert_eq!(vrrp_core::internet_checksum(&compat), 0);
    assert_eq!(
        Advertisement::parse(&compat, endpoints(&h3), ChecksumMode::V3AsV2).unwrap(),
        adv
    );
}

/// VRRPv2 sums the message alone: the unicast advert equals the multicast one byte for byte.
#[test]
fn v2_checksum_ignores_the_endpoints() {
    let all = vectors();
    let find = |n: &str| all.iter().find(|v| text(v, "name") == n).unwrap().clone();
    assert_eq!(
        text(&find("v2-ipv4-noauth"), "hex_vrrp_payload"),
        text(&find("v2-ipv4-unicast-to-h2"), "hex_vrrp_payload")
    );
}
