//! `vrrp_net::socket`: adverts built by vrrp-core cross a veth between two namespaces through
//! `VrrpSocket`s, arrive with the source, destination, hop limit and bytes they were sent
//! with, are accepted by a vrrp-core instance on the other side, carry TOS / traffic class
//! 0xc0 and TTL / hop limit 255 on the wire, and do not come back to their sender.

mod capture;
mod common;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use capture::{capture_socket, read_until};
use common::{Netns, veth};
use socket2::{Domain, Protocol, Socket, Type};
use vrrp_core::{
    Action, Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Family, Instance,
    InstanceConfig, Interval, Priority, State, Transmit, Version, Vrid,
};
use vrrp_net::socket::{OwnedReceived, VrrpSocket, interface_index};

const A_V4: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const A_V4_SECONDARY: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 11);
const B_V4: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);
const VIP_V4: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 100);
const VIP_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 0x100);
const B_GLOBAL_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 2);

/// Two namespaces joined by a veth: `vrrp0` in A, `peer0` in B, with their addresses, and
/// the link-local addresses of both ends once duplicate address detection is over.
struct Lab {
    a: Netns,
    b: Netns,
    a_ll: Ipv6Addr,
    b_ll: Ipv6Addr,
}

fn lab() -> Lab {
    let a = Netns::new();
    let b = Netns::new();
    veth(&a, "vrrp0", &b, "peer0");
    a.ip(&["addr", "add", "10.200.0.1/24", "dev", "vrrp0"]);
    a.ip(&["addr", "add", "10.200.0.11/24", "dev", "vrrp0"]);
    b.ip(&["addr", "add", "10.200.0.2/24", "dev", "peer0"]);
    a.ip(&["addr", "add", "fd00:200::1/64", "dev", "vrrp0", "nodad"]);
    b.ip(&["addr", "add", "fd00:200::2/64", "dev", "peer0", "nodad"]);
    let a_ll = link_local(&a, "vrrp0");
    let b_ll = link_local(&b, "peer0");
    Lab { a, b, a_ll, b_ll }
}

/// The link-local address of `ifname`, waiting until it is no longer tentative.
fn link_local(ns: &Netns, ifname: &str) -> Ipv6Addr {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ns.ip(&["-6", "-o", "addr", "show", "dev", ifname, "scope", "link"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.contains("tentative") {
            let words: Vec<&str> = text.split_whitespace().collect();
            if let Some(i) = words.iter().position(|w| *w == "inet6") {
                let addr = words[i + 1].split('/').next().unwrap();
                return addr.parse().unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no usable link-local address on {ifname}: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs the future made by `f` on a current-thread runtime in a new thread that has entered
/// the namespace `ns`.
fn run_in<T, Fut>(ns: &Netns, f: impl FnOnce() -> Fut + Send + 'static) -> JoinHandle<T>
where
    T: Send + 'static,
    Fut: Future<Output = T>,
{
    let name = ns.name.clone();
    std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
}

/// Which VRRP group membership a test socket gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Multicast,
    Unicast,
}

fn open(ifname: &str, family: Family, mode: Mode) -> VrrpSocket {
    let ifindex = interface_index(ifname).unwrap();
    let s = VrrpSocket::open(ifindex, ifname, family).unwrap();
    assert!(!s.is_multicast(), "a new socket is in no group");
    s.set_multicast(mode == Mode::Multicast).unwrap();
    assert_eq!(
        (s.ifindex(), s.ifname(), s.family(), s.is_multicast()),
        (ifindex, ifname, family, mode == Mode::Multicast)
    );
    s
}

async fn recv(s: &VrrpSocket) -> OwnedReceived {
    tokio::time::timeout(Duration::from_secs(10), s.recv())
        .await
        .expect("no advert within 10 s")
        .unwrap()
}

/// A VRRPv3 advert of VRID 51 from vrrp-core's codec, as the engine would hand it over.
fn advert(src: IpAddr, dst: IpAddr, priority: u8) -> Transmit {
    let addresses = match src {
        IpAddr::V4(_) => Addresses::V4(vec![VIP_V4]),
        IpAddr::V6(_) => Addresses::V6(vec![VIP_V6]),
    };
    let adv = Advertisement {
        version: Version::V3,
        vrid: Vrid::new(51).unwrap(),
        priority,
        interval: Interval::ONE_SECOND,
        auth: Auth::None,
        addresses,
    };
    let payload = adv
        .to_bytes(Endpoints { src, dst }, ChecksumMode::PseudoHeader)
        .unwrap();
    Transmit {
        src,
        dst,
        payload,
        priority,
    }
}

/// A started VRRPv3 backup for VRID 51 whose primary address is `primary`.
fn backup(primary: IpAddr, peers: Vec<IpAddr>) -> Instance {
    let vip = match primary {
        IpAddr::V4(_) => IpAddr::V4(VIP_V4),
        IpAddr::V6(_) => IpAddr::V6(VIP_V6),
    };
    let mut config = InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip]);
    config.priority = Priority::new(100).unwrap();
    config.unicast_peers = peers;
    let mut vr = Instance::new(config).unwrap();
    let now = Instant::now();
    vr.set_primary_address(now, Some(primary));
    vr.handle_startup(now);
    while let Some(action) = vr.poll_action() {
        assert!(
            !matches!(action, Action::SendAdvertisement(_)),
            "a backup sent {action:?}"
        );
    }
    assert_eq!(vr.state(), State::Backup);
    vr
}

/// Asserts that `rx` is `tx` as received, and that a backup accepts it from `tx.src`.
fn assert_received_and_accepted(
    rx: &OwnedReceived,
    tx: &Transmit,
    expected_dst: IpAddr,
    mut vr: Instance,
) {
    assert_eq!(rx.src, tx.src, "source");
    assert_eq!(rx.dst, expected_dst, "destination");
    assert_eq!(rx.hop_limit, 255, "TTL / hop limit");
    assert_eq!(rx.payload, tx.payload.as_ref(), "payload");
    vr.handle_packet(Instant::now(), &rx.as_received())
        .unwrap_or_else(|e| panic!("the instance rejected the advert: {e}"));
    assert_eq!(vr.stats().rcvd_advertisements, 1);
    let master = vr.master().expect("the backup learnt the master");
    assert_eq!(master.address, tx.src);
    assert_eq!(master.priority, 200);
    assert_eq!(vr.state(), State::Backup);
}

#[test]
fn ipv4_multicast_advert_arrives_intact_with_tos_and_ttl_and_is_accepted() {
    let lab = lab();
    let (ready_tx, ready_rx) = mpsc::channel();
    let b = run_in(&lab.b, move || async move {
        let s = open("peer0", Family::Ipv4, Mode::Multicast);
        // A plain raw protocol 112 socket delivers the IPv4 header as it was on the wire.
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
        raw.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        ready_tx.send(()).unwrap();
        let rx = recv(&s).await;
        let header = read_until(&raw, |p| p.len() > 20 && p[12..16] == A_V4.octets())
            .expect("A's advert with its IPv4 header within 10 s");
        (rx, header)
    });
    ready_rx.recv().unwrap();
    let group = IpAddr::V4(vrrp_core::VRRP_GROUP_V4);
    let tx = advert(IpAddr::V4(A_V4), group, 200);
    let sent = tx.clone();
    run_in(&lab.a, move || async move {
        open("vrrp0", Family::Ipv4, Mode::Multicast)
            .send(&sent)
            .await
            .unwrap();
    })
    .join()
    .unwrap();
    let (rx, packet) = b.join().unwrap();
    assert_received_and_accepted(&rx, &tx, group, backup(IpAddr::V4(B_V4), vec![]));
    assert_eq!(packet[0] >> 4, 4);
    assert_eq!(packet[1], 0xc0, "TOS on the wire");
    assert_eq!(packet[8], 255, "TTL on the wire");
    assert_eq!(packet[9], 112, "protocol");
    assert_eq!(&packet[16..20], &[224, 0, 0, 18]);
}

#[test]
fn ipv6_multicast_advert_arrives_from_the_link_local_with_hop_limit_and_tclass() {
    let lab = lab();
    let (a_ll, b_ll) = (lab.a_ll, lab.b_ll);
    let (ready_tx, ready_rx) = mpsc::channel();
    let b = run_in(&lab.b, move || async move {
        let s = open("peer0", Family::Ipv6, Mode::Multicast);
        let cap = capture_socket();
        ready_tx.send(()).unwrap();
        let rx = recv(&s).await;
        // Ethernet + IPv6 header of the advert: next header 112 from A's link-local.
        let frame = read_until(&cap, |f| {
            f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[20] == 112 && f[22..38] == a_ll.octets()
        })
        .expect("A's IPv6 advert on the wire within 10 s");
        (rx, frame)
    });
    ready_rx.recv().unwrap();
    let group = IpAddr::V6(vrrp_core::VRRP_GROUP_V6);
    let tx = advert(IpAddr::V6(a_ll), group, 200);
    let sent = tx.clone();
    run_in(&lab.a, move || async move {
        open("vrrp0", Family::Ipv6, Mode::Multicast)
            .send(&sent)
            .await
            .unwrap();
    })
    .join()
    .unwrap();
    let (rx, frame) = b.join().unwrap();
    assert!(matches!(rx.src, IpAddr::V6(s) if s.is_unicast_link_local()));
    assert_received_and_accepted(&rx, &tx, group, backup(IpAddr::V6(b_ll), vec![]));
    let traffic_class = ((frame[14] & 0x0f) << 4) | (frame[15] >> 4);
    assert_eq!(traffic_class, 0xc0, "traffic class on the wire");
    assert_eq!(frame[21], 255, "hop limit on the wire");
    assert_eq!(
        &frame[..6],
        &[0x33, 0x33, 0, 0, 0, 0x12],
        "Ethernet group of ff02::12"
    );
}

/// A sends one unicast advert from `src` to B's `dst`; B receives it with that source and
/// destination, and a started backup whose primary is `b_primary` and whose only unicast peer
/// is `src` accepts it.
fn unicast_advert_arrives(
    a: &Netns,
    b: &Netns,
    family: Family,
    src: IpAddr,
    dst: IpAddr,
    b_primary: IpAddr,
) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let received = run_in(b, move || async move {
        let s = open("peer0", family, Mode::Unicast);
        ready_tx.send(()).unwrap();
        recv(&s).await
    });
    ready_rx.recv().unwrap();
    let tx = advert(src, dst, 200);
    let sent = tx.clone();
    run_in(a, move || async move {
        open("vrrp0", family, Mode::Unicast)
            .send(&sent)
            .await
            .unwrap();
    })
    .join()
    .unwrap();
    let rx = received.join().unwrap();
    assert_received_and_accepted(&rx, &tx, dst, backup(b_primary, vec![src]));
}

/// From A's secondary address: the kernel would pick 10.200.0.1, so receiving .11 shows that
/// the Transmit's source is honoured.
#[test]
fn ipv4_unicast_advert_arrives_from_the_chosen_source() {
    let lab = lab();
    let (src, dst) = (IpAddr::V4(A_V4_SECONDARY), IpAddr::V4(B_V4));
    unicast_advert_arrives(&lab.a, &lab.b, Family::Ipv4, src, dst, dst);
}

/// To B's global address from A's link-local: the kernel alone would pick fd00:200::1.
#[test]
fn ipv6_unicast_advert_arrives_from_the_link_local() {
    let lab = lab();
    let (src, dst) = (IpAddr::V6(lab.a_ll), IpAddr::V6(B_GLOBAL_V6));
    unicast_advert_arrives(&lab.a, &lab.b, Family::Ipv6, src, dst, IpAddr::V6(lab.b_ll));
}

/// A sends an advert to the group, then B does; the first thing A receives must be B's: had
/// A's own advert looped back, it would have been queued first.
fn own_multicast_is_not_received(family: Family) {
    let lab = lab();
    let (a_src, b_src, group) = match family {
        Family::Ipv4 => (
            IpAddr::V4(A_V4),
            IpAddr::V4(B_V4),
            IpAddr::V4(vrrp_core::VRRP_GROUP_V4),
        ),
        Family::Ipv6 => (
            IpAddr::V6(lab.a_ll),
            IpAddr::V6(lab.b_ll),
            IpAddr::V6(vrrp_core::VRRP_GROUP_V6),
        ),
    };
    let (sent_tx, sent_rx) = mpsc::channel();
    let a = run_in(&lab.a, move || async move {
        let s = open("vrrp0", family, Mode::Multicast);
        s.send(&advert(a_src, group, 200)).await.unwrap();
        sent_tx.send(()).unwrap();
        let first = recv(&s).await;
        (first, s.dropped())
    });
    sent_rx.recv().unwrap();
    let tx = advert(b_src, group, 100);
    let sent = tx.clone();
    run_in(&lab.b, move || async move {
        open("peer0", family, Mode::Multicast)
            .send(&sent)
            .await
            .unwrap();
    })
    .join()
    .unwrap();
    let (first, dropped) = a.join().unwrap();
    assert_eq!(first.src, b_src, "A received its own advert");
    assert_eq!(first.payload, tx.payload.as_ref());
    assert_eq!(dropped, 0);
}

#[test]
fn own_ipv4_multicast_is_not_received() {
    own_multicast_is_not_received(Family::Ipv4);
}

#[test]
fn own_ipv6_multicast_is_not_received() {
    own_multicast_is_not_received(Family::Ipv6);
}

#[test]
fn open_names_the_failing_step_and_send_checks_the_family() {
    let lab = lab();
    run_in(&lab.a, || async {
        let err = VrrpSocket::open(999, "nosuch0", Family::Ipv4).unwrap_err();
        assert_eq!(err.interface, "nosuch0");
        assert!(
            err.to_string()
                .starts_with("binding the socket to the device on nosuch0"),
            "{err}"
        );
        let s = open("vrrp0", Family::Ipv4, Mode::Multicast);
        let v6 = advert(
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(vrrp_core::VRRP_GROUP_V6),
            1,
        );
        let e = s.send(&v6).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    })
    .join()
    .unwrap();
}

/// An IPv4 packet carrying `payload` to the VRRP group, with `options` (a multiple of 4
/// bytes) in its header and the given TTL; the kernel fills in the checksum.
fn ipv4_packet(src: Ipv4Addr, ttl: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let header_len = 20 + options.len();
    let total = u16::try_from(header_len + payload.len()).unwrap();
    let ihl = u8::try_from(header_len / 4).unwrap();
    let mut p = vec![0x40 | ihl, 0xc0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&vrrp_core::VRRP_GROUP_V4.octets());
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

#[test]
fn ipv4_header_length_and_ttl_are_read_from_the_received_header() {
    let lab = lab();
    let group = IpAddr::V4(vrrp_core::VRRP_GROUP_V4);
    let tx = advert(IpAddr::V4(A_V4), group, 200);
    let (ready_tx, ready_rx) = mpsc::channel();
    let b = run_in(&lab.b, move || async move {
        let s = open("peer0", Family::Ipv4, Mode::Multicast);
        ready_tx.send(()).unwrap();
        let first = recv(&s).await;
        let second = recv(&s).await;
        (first, second)
    });
    ready_rx.recv().unwrap();
    let payload = tx.payload.clone();
    run_in(&lab.a, move || async move {
        // A header-including raw socket sends what a plain VRRP socket cannot: a 24-byte
        // header (router alert option, IHL 6), and a TTL of 64.
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
        raw.set_header_included_v4(true).unwrap();
        raw.bind_device(Some(b"vrrp0")).unwrap();
        let to = std::net::SocketAddr::from((vrrp_core::VRRP_GROUP_V4, 0)).into();
        let router_alert = [0x94, 0x04, 0x00, 0x00];
        raw.send_to(&ipv4_packet(A_V4, 255, &router_alert, &payload), &to)
            .unwrap();
        raw.send_to(&ipv4_packet(A_V4, 64, &[], &payload), &to)
            .unwrap();
    })
    .join()
    .unwrap();
    let (with_options, low_ttl) = b.join().unwrap();
    // The 24-byte header was skipped: the payload is the advert, accepted as usual.
    assert_received_and_accepted(&with_options, &tx, group, backup(IpAddr::V4(B_V4), vec![]));
    // The TTL is the one on the wire, and vrrp-core refuses it.
    assert_eq!(low_ttl.hop_limit, 64);
    assert_eq!(low_ttl.payload, tx.payload.as_ref());
    let mut vr = backup(IpAddr::V4(B_V4), vec![]);
    assert_eq!(
        vr.handle_packet(Instant::now(), &low_ttl.as_received()),
        Err(vrrp_core::RxError::HopLimit {
            got: 64,
            required: 255
        })
    );
}

/// Opens a socket on `ifname` in namespace `ns`, registered with the runtime `rt` (any
/// thread may then use it: a socket stays in the namespace it was created in).
fn open_in(
    ns: &Netns,
    rt: &tokio::runtime::Handle,
    ifname: &'static str,
    family: Family,
) -> VrrpSocket {
    let name = ns.name.clone();
    let rt = rt.clone();
    std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).unwrap();
        let _runtime = rt.enter();
        let ifindex = interface_index(ifname).unwrap();
        VrrpSocket::open(ifindex, ifname, family).unwrap()
    })
    .join()
    .unwrap()
}

/// One socket in B serves unicast and multicast instances: once joined it receives both
/// kinds of advert, after leaving only unicast ones. A's socket never joins the group, yet
/// sends to the group and to B's unicast address alike.
fn one_socket_serves_unicast_and_multicast(family: Family) {
    let lab = lab();
    let (a_src, b_unicast, group) = match family {
        Family::Ipv4 => (
            IpAddr::V4(A_V4),
            IpAddr::V4(B_V4),
            IpAddr::V4(vrrp_core::VRRP_GROUP_V4),
        ),
        Family::Ipv6 => (
            IpAddr::V6(lab.a_ll),
            IpAddr::V6(B_GLOBAL_V6),
            IpAddr::V6(vrrp_core::VRRP_GROUP_V6),
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = open_in(&lab.a, rt.handle(), "vrrp0", family);
    let b = open_in(&lab.b, rt.handle(), "peer0", family);
    rt.block_on(async {
        assert!(!a.is_multicast() && !b.is_multicast());
        b.set_multicast(true).unwrap();
        b.set_multicast(true).expect("joining twice is harmless");
        assert!(b.is_multicast());
        assert_eq!(b.group(), group);

        let (m1, u1) = (advert(a_src, group, 201), advert(a_src, b_unicast, 202));
        a.send(&m1).await.unwrap();
        a.send(&u1).await.unwrap();
        for tx in [&m1, &u1] {
            let rx = recv(&b).await;
            assert_eq!((rx.src, rx.dst), (tx.src, tx.dst));
            assert_eq!(rx.payload, tx.payload.as_ref());
        }

        b.set_multicast(false).unwrap();
        b.set_multicast(false).expect("leaving twice is harmless");
        assert!(!b.is_multicast());
        // Had B still been a member, the multicast advert would have been queued first.
        let (m2, u2) = (advert(a_src, group, 203), advert(a_src, b_unicast, 204));
        a.send(&m2).await.unwrap();
        a.send(&u2).await.unwrap();
        let rx = recv(&b).await;
        assert_eq!(
            rx.dst, b_unicast,
            "a multicast advert arrived after leaving"
        );
        assert_eq!(rx.payload, u2.payload.as_ref());

        // And joining again brings multicast back.
        b.set_multicast(true).unwrap();
        let m3 = advert(a_src, group, 205);
        a.send(&m3).await.unwrap();
        let rx = recv(&b).await;
        assert_eq!((rx.dst, rx.payload), (group, m3.payload.to_vec()));
        assert_eq!(b.dropped(), 0);
    });
}

#[test]
fn one_ipv4_socket_serves_unicast_and_multicast() {
    one_socket_serves_unicast_and_multicast(Family::Ipv4);
}

#[test]
fn one_ipv6_socket_serves_unicast_and_multicast() {
    one_socket_serves_unicast_and_multicast(Family::Ipv6);
}

/// A configured global source (`unicast_src_ip`): fd00:200::1, and fd00:200::11, which the
/// kernel would not pick on its own for fd00:200::2. (vrrp-core takes only link-local IPv6
/// peers, so the advert is checked as received, not fed to an instance.)
#[test]
fn ipv6_unicast_advert_arrives_from_a_chosen_global_source() {
    let lab = lab();
    lab.a
        .ip(&["addr", "add", "fd00:200::11/64", "dev", "vrrp0", "nodad"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let a = open_in(&lab.a, rt.handle(), "vrrp0", Family::Ipv6);
    let b = open_in(&lab.b, rt.handle(), "peer0", Family::Ipv6);
    let dst = IpAddr::V6(B_GLOBAL_V6);
    rt.block_on(async {
        for src in ["fd00:200::1", "fd00:200::11"] {
            let tx = advert(src.parse().unwrap(), dst, 200);
            a.send(&tx).await.unwrap();
            let rx = recv(&b).await;
            assert_eq!((rx.src, rx.dst, rx.hop_limit), (tx.src, dst, 255), "{src}");
            assert_eq!(rx.payload, tx.payload.as_ref());
        }
    });
}
