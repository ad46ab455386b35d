//! `vrrp_net::announce`: the frames are keepalived's byte for byte, and an `Announcer` puts
//! exactly those frames on the wire of a veth between two namespaces.

mod capture;
mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;

use capture::{capture_socket, read_until};
use common::{Netns, veth};
use vrrp_net::announce::{
    Announcer, ETHERTYPE_ARP, ETHERTYPE_IPV6, GARP_FRAME_LEN, NA_FRAME_LEN, garp_frame,
    unsolicited_na_frame,
};
use vrrp_net::netlink::{AddressMark, Netlink};

/// The keepalived captures, copied from the shared vectors.
const VECTORS: &str = include_str!("data/keepalived-l2-vectors.json");

fn vector(name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .clone()
}

fn mac(text: &str) -> [u8; 6] {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    bytes.try_into().unwrap()
}

#[test]
fn garp_frame_is_keepalived_s_byte_for_byte() {
    let v = vector("garp-ipv4");
    let expected = hex::decode(v["hex_frame"].as_str().unwrap()).unwrap();
    let src_mac = mac(v["eth_src"].as_str().unwrap());
    let vip: Ipv4Addr = v["arp"]["sender_ip"].as_str().unwrap().parse().unwrap();
    let frame = garp_frame(src_mac, vip);
    assert_eq!(frame.len(), GARP_FRAME_LEN);
    assert_eq!(hex::encode(frame), hex::encode(&expected));
}

#[test]
fn unsolicited_na_frame_is_keepalived_s_byte_for_byte() {
    let v = vector("na-ipv6");
    let expected = hex::decode(v["hex_frame"].as_str().unwrap()).unwrap();
    let src_mac = mac(v["eth_src"].as_str().unwrap());
    let vip: Ipv6Addr = v["icmpv6"]["target"].as_str().unwrap().parse().unwrap();
    let frame = unsolicited_na_frame(src_mac, vip);
    assert_eq!(frame.len(), NA_FRAME_LEN);
    assert_eq!(hex::encode(&frame), hex::encode(&expected));
}

#[test]
fn frames_follow_the_mac_and_address() {
    // A different MAC and address change exactly the fields that carry them (and the
    // checksum), so nothing of the vector is hard-coded.
    let m = [0x02, 0, 0, 0, 0x02, 0x01];
    let f = garp_frame(m, Ipv4Addr::new(10, 200, 0, 100));
    assert_eq!(&f[..6], &[0xff; 6]);
    assert_eq!(&f[6..12], &m);
    assert_eq!(&f[12..14], &[0x08, 0x06]);
    assert_eq!(&f[20..22], &[0, 1], "ARP request");
    assert_eq!(&f[22..28], &m);
    assert_eq!(&f[28..32], &[10, 200, 0, 100]);
    assert_eq!(&f[32..38], &[0xff; 6]);
    assert_eq!(&f[38..42], &[10, 200, 0, 100]);

    let vip: Ipv6Addr = "fd00:200::100".parse().unwrap();
    let n = unsolicited_na_frame(m, vip);
    assert_eq!(&n[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(&n[6..12], &m);
    assert_eq!(&n[20..22], &[58, 255], "ICMPv6, hop limit 255");
    assert_eq!(&n[22..38], &vip.octets());
    assert_eq!(n[54], 136);
    assert_eq!(&n[58..62], &[0x20, 0, 0, 0], "only the Override flag");
    assert_eq!(&n[62..78], &vip.octets());
    assert_eq!(&n[78..80], &[2, 1], "Target Link-Layer Address option");
    assert_eq!(&n[80..86], &m);
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];

/// Two namespaces on a veth; A's end has the MAC [`MAC_A`]. Returns (a, b).
fn lab() -> (Netns, Netns) {
    let a = Netns::new();
    let b = Netns::new();
    veth(&a, "vrrp0", &b, "peer0");
    a.ip(&["link", "set", "vrrp0", "address", "02:00:00:00:02:01"]);
    a.ip(&["addr", "add", "10.200.0.1/24", "dev", "vrrp0"]);
    b.ip(&["addr", "add", "10.200.0.2/24", "dev", "peer0"]);
    (a, b)
}

/// In namespace `b`, starts capturing the first frame from [`MAC_A`] that `want` accepts;
/// returns once the capture socket is open.
fn start_capture(
    b: &Netns,
    want: impl Fn(&[u8]) -> bool + Send + 'static,
) -> std::thread::JoinHandle<Option<Vec<u8>>> {
    let name = b.name.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).unwrap();
        let s = capture_socket();
        ready_tx.send(()).unwrap();
        read_until(&s, |f| f.get(6..12) == Some(&MAC_A[..]) && want(f))
    });
    ready_rx.recv().unwrap();
    handle
}

/// In namespace `a`, reads the MAC of vrrp0 from netlink (`LinkInfo::mac`) and runs `f`
/// with an announcer on vrrp0.
fn announce_from(a: &Netns, f: impl FnOnce(&Announcer) + Send + 'static) -> [u8; 6] {
    let name = a.name.clone();
    std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).unwrap();
        let ifindex = vrrp_net::socket::interface_index("vrrp0").unwrap();
        let mac = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let nl = Netlink::new(AddressMark::Lifetime).unwrap();
                nl.link_by_name("vrrp0").await.unwrap().mac
            })
            .expect("a veth has an Ethernet address");
        let announcer = Announcer::new(ifindex, mac).unwrap();
        assert_eq!(announcer.ifindex(), ifindex);
        f(&announcer);
        mac
    })
    .join()
    .unwrap()
}

#[test]
fn a_garp_arrives_on_the_peer_as_built() {
    let (a, b) = lab();
    let vip = Ipv4Addr::new(10, 200, 0, 100);
    let capture = start_capture(&b, |f| {
        f.get(12..14) == Some(&ETHERTYPE_ARP.to_be_bytes()[..])
    });
    let mac = announce_from(&a, move |an| an.announce(vip.into()).unwrap());
    // Netlink read the MAC set with `ip link` inside the namespace.
    assert_eq!(mac, MAC_A);
    let frame = capture
        .join()
        .unwrap()
        .expect("no ARP frame from A reached B");
    assert_eq!(hex::encode(&frame), hex::encode(garp_frame(MAC_A, vip)));
}

#[test]
fn an_unsolicited_na_arrives_on_the_peer_as_built() {
    let (a, b) = lab();
    let vip: Ipv6Addr = "fd00:200::100".parse().unwrap();
    let capture = start_capture(&b, |f| {
        f.get(12..14) == Some(&ETHERTYPE_IPV6.to_be_bytes()[..])
            && f.get(20) == Some(&58)
            && f.get(54) == Some(&136)
    });
    announce_from(&a, move |an| an.send_na(vip).unwrap());
    let frame = capture.join().unwrap().expect("no NA from A reached B");
    assert_eq!(
        hex::encode(&frame),
        hex::encode(unsolicited_na_frame(MAC_A, vip))
    );
    // What B's capture shows: all-nodes, ICMPv6 136 for the VIP with the override flag.
    assert_eq!(&frame[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(
        &frame[38..54],
        &"ff02::1".parse::<Ipv6Addr>().unwrap().octets()
    );
    assert_eq!(&frame[62..78], &vip.octets());
    assert_eq!(frame[58] & 0x20, 0x20);
}
