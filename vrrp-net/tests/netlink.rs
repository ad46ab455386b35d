//! `vrrp_net::netlink` against the real kernel, inside network namespaces the tests create
//! (root). Every netlink call runs on a thread that entered the test's namespace first, so no
//! netlink traffic touches the host's namespace. Results are checked both through the API and
//! through `ip -j addr` / `ip -j link` (iproute2), which parses the kernel's answers on its own.

mod common;

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use common::{Netns, veth};
use futures::StreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use serde_json::Value;
use vrrp_core::Family;
use vrrp_net::netlink::{
    AddressInfo, AddressMark, Lifetime, NetEvent, Netlink, NetlinkError, NewVip,
    VIPD_ADDRESS_PROTOCOL,
};

const DEV: &str = "vip0";

/// The mark of the tests that use `IFA_PROTO` (this kernel keeps it: see
/// `tests/ownership.rs`).
const MARK: AddressMark = AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL);

/// A namespace with `vip0` (its end of an up veth pair whose peer lives in a second namespace).
fn lab() -> (Netns, Netns) {
    let ns = Netns::new();
    let peer = Netns::new();
    veth(&ns, DEV, &peer, "peer0");
    (ns, peer)
}

/// Runs `f` on a fresh thread that entered `ns`, on a current-thread tokio runtime there.
fn in_ns<F, Fut, T>(ns: &Netns, f: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    let name = ns.name.clone();
    std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).expect("enter the test namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f())
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `ip -n NS -j addr show dev DEV`: the `addr_info` entries.
fn ip_addrs(ns: &str, dev: &str) -> Vec<Value> {
    let out = common::run("ip", &["-n", ns, "-j", "addr", "show", "dev", dev]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("ip -j output is JSON");
    json[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

/// The `ip -j` entries for `addr`.
fn ip_entries(ns: &str, addr: &str) -> Vec<Value> {
    ip_addrs(ns, DEV)
        .into_iter()
        .filter(|a| a["local"] == addr)
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The `IFA_PROTO` of `addr` on `index`, read with a raw rtnetlink dump (not through the
/// module's own parsing).
async fn raw_protocol(index: u32, addr: IpAddr) -> Option<u8> {
    let (conn, handle, _) = rtnetlink::new_connection().unwrap();
    tokio::spawn(conn);
    let mut dump = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(addr)
        .execute();
    let msg = dump
        .next()
        .await
        .expect("address present")
        .expect("dump works");
    msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Protocol(p) => Some(u8::from(*p)),
        _ => None,
    })
}

async fn find(nl: &Netlink, index: u32, addr: IpAddr) -> Option<AddressInfo> {
    nl.addresses(index, Family::of(&addr))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.addr == addr)
}

/// Polls every 100 ms, up to 10 s, until `addr` is gone from the namespace; true if it went.
async fn disappears(ns: &str, addr: &str) -> bool {
    for _ in 0..100 {
        if ip_entries(ns, addr).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Waits up to 10 s for an event matching `want`, skipping others.
async fn wait_event(
    events: &mut vrrp_net::netlink::NetEvents,
    what: &str,
    want: impl Fn(&NetEvent) -> bool,
) -> NetEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if want(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("event stream ended while waiting for {what}"),
            Err(_) => panic!("no {what} event within 10 s"),
        }
    }
}

#[test]
fn add_and_remove_are_idempotent_and_mark_the_address() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        for (addr, prefix) in [("10.200.1.10", 24), ("fd00:200::10", 64)] {
            nl.add_vip(index, ip(addr), prefix, Lifetime::Forever)
                .await
                .unwrap();
            nl.add_vip(index, ip(addr), prefix, Lifetime::Forever)
                .await
                .expect("adding again succeeds");
            let entries = ip_entries(&name, addr);
            assert_eq!(entries.len(), 1, "one {addr} after two adds: {entries:?}");
            assert_eq!(entries[0]["prefixlen"], prefix);
            assert_eq!(entries[0]["valid_life_time"], u64::from(u32::MAX));
            // IFA_F_NODAD: an IPv6 VIP is never tentative, usable at once.
            assert!(entries[0].get("tentative").is_none(), "{entries:?}");

            let info = find(&nl, index, ip(addr)).await.unwrap();
            assert_eq!(info.protocol, Some(VIPD_ADDRESS_PROTOCOL));
            assert!(info.is_marked(MARK));
            assert_eq!(info.valid_lft, Lifetime::Forever);
            assert_eq!(raw_protocol(index, ip(addr)).await, Some(0x76));
        }
        let ours = nl.marked_addresses().await.unwrap();
        let mut listed: Vec<_> = ours.iter().map(|(i, a)| (*i, a.addr)).collect();
        listed.sort();
        assert_eq!(
            listed,
            vec![(index, ip("10.200.1.10")), (index, ip("fd00:200::10"))]
        );

        for (addr, prefix) in [("10.200.1.10", 24), ("fd00:200::10", 64)] {
            nl.remove_vip(index, ip(addr), prefix).await.unwrap();
            assert!(ip_entries(&name, addr).is_empty(), "{addr} still there");
            nl.remove_vip(index, ip(addr), prefix)
                .await
                .expect("removing again succeeds");
        }
        // Never there at all, and on a link that does not exist.
        nl.remove_vip(index, ip("10.200.1.99"), 24).await.unwrap();
        nl.remove_vip(9999, ip("10.200.1.99"), 24).await.unwrap();
        assert!(nl.marked_addresses().await.unwrap().is_empty());
        // Adding to a missing link names the errno.
        let err = nl
            .add_vip(9999, ip("10.200.1.11"), 24, Lifetime::Forever)
            .await
            .unwrap_err();
        assert_eq!(err.errno(), Some(19), "{err}");
        assert!(err.to_string().contains("10.200.1.11/24"), "{err}");
    });
}

#[test]
fn addresses_added_by_hand_are_never_touched() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        // vipd's address first, so that it comes first in the kernel's list.
        nl.add_vip(index, ip("10.200.3.10"), 24, Lifetime::Forever)
            .await
            .unwrap();
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.2.1/24", "dev", DEV],
        );
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.2.20/24", "dev", DEV],
        );
        common::run(
            "ip",
            &[
                "-n",
                &name,
                "addr",
                "add",
                "fd00:200::20/64",
                "dev",
                DEV,
                "nodad",
            ],
        );
        assert_eq!(
            nl.primary_address(index, Family::Ipv4).await.unwrap(),
            Some(ip("10.200.2.1")),
            "the primary address skips vipd's"
        );
        for (addr, prefix) in [("10.200.2.20", 24), ("fd00:200::20", 64)] {
            assert_eq!(raw_protocol(index, ip(addr)).await, None);
            let err = nl.remove_vip(index, ip(addr), prefix).await.unwrap_err();
            assert!(matches!(err, NetlinkError::NotOurs { .. }), "{err}");
            assert!(err.to_string().contains(addr), "{err}");
            assert!(err.to_string().contains(DEV), "{err}");
            assert_eq!(ip_entries(&name, addr).len(), 1, "{addr} was removed");
            // Adding it as a VIP must not take it over either (a replace would re-mark it).
            let err = nl
                .add_vip(index, ip(addr), prefix, Lifetime::Seconds(5))
                .await
                .unwrap_err();
            assert!(matches!(err, NetlinkError::NotOurs { .. }), "{err}");
            let entries = ip_entries(&name, addr);
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0]["valid_life_time"], u64::from(u32::MAX));
            assert_eq!(
                raw_protocol(index, ip(addr)).await,
                None,
                "{addr} re-marked"
            );
        }

        let removed = nl.remove_marked(|_, _| true).await.unwrap();
        let removed: Vec<_> = removed.iter().map(|(i, a)| (*i, a.addr)).collect();
        assert_eq!(removed, vec![(index, ip("10.200.3.10"))]);
        assert!(ip_entries(&name, "10.200.3.10").is_empty());
        for addr in ["10.200.2.1", "10.200.2.20", "fd00:200::20"] {
            assert_eq!(ip_entries(&name, addr).len(), 1, "{addr} was removed");
        }
        assert_eq!(
            nl.primary_address(index, Family::Ipv4).await.unwrap(),
            Some(ip("10.200.2.1"))
        );
    });
}

#[test]
fn a_batch_adds_and_renews_each_address_and_refuses_only_foreign_ones() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.4.2/24", "dev", DEV],
        );
        let vip = |addr: &str, prefix_len, label| NewVip {
            addr: ip(addr),
            prefix_len,
            label,
        };
        let batch = [
            vip("10.200.4.1", 24, Some("vip0:front")),
            vip("10.200.4.2", 24, None),
            vip("fd00:200::41", 64, None),
            vip("10.200.4.3", 33, None),
        ];
        let results = nl.add_vips(index, &batch, Lifetime::Seconds(30)).await;
        assert_eq!(results.len(), 4);
        assert!(results[0].is_ok(), "{:?}", results[0]);
        assert!(
            matches!(results[1], Err(NetlinkError::NotOurs { .. })),
            "{:?}",
            results[1]
        );
        assert!(results[2].is_ok(), "{:?}", results[2]);
        assert!(
            matches!(results[3], Err(NetlinkError::InvalidPrefix { .. })),
            "{:?}",
            results[3]
        );
        for addr in ["10.200.4.1", "fd00:200::41"] {
            let entries = ip_entries(&name, addr);
            assert_eq!(entries.len(), 1, "{addr}");
            let valid = entries[0]["valid_life_time"].as_u64().unwrap();
            assert!((25..=30).contains(&valid), "{addr}: valid_lft {valid}");
            assert_eq!(
                raw_protocol(index, ip(addr)).await,
                Some(VIPD_ADDRESS_PROTOCOL)
            );
        }
        // The label is the one asked for; without one the kernel names the interface.
        assert_eq!(ip_entries(&name, "10.200.4.1")[0]["label"], "vip0:front");
        let entries = ip_entries(&name, "10.200.4.2");
        assert_eq!(entries[0]["label"], DEV);
        assert_eq!(
            entries[0]["valid_life_time"],
            u64::from(u32::MAX),
            "hand-added one changed"
        );
        assert_eq!(raw_protocol(index, ip("10.200.4.2")).await, None);
        // The same batch again renews: a longer lifetime replaces the old one.
        let again = nl
            .add_vips(index, &batch[..1], Lifetime::Seconds(300))
            .await;
        assert!(again[0].is_ok(), "{:?}", again[0]);
        let valid = ip_entries(&name, "10.200.4.1")[0]["valid_life_time"]
            .as_u64()
            .unwrap();
        assert!(valid > 30, "not renewed: valid_lft {valid}");
        assert_eq!(ip_entries(&name, "10.200.4.1").len(), 1, "added twice");
    });
}

/// `renew_vips` replaces without a dump: the lifetime grows, the label stays, nothing is
/// added twice; and an own VIP replaced by hand (`ip addr replace`) is reported as not ours,
/// which is what lets a caller renew without reading the addresses first.
#[test]
fn renewal_without_a_dump_and_a_replaced_vip_is_reported_not_ours() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let mut events = nl.subscribe().unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        let vips = [
            NewVip {
                addr: ip("10.200.4.7"),
                prefix_len: 24,
                label: Some("vip0:r"),
            },
            NewVip {
                addr: ip("fd00:200::47"),
                prefix_len: 64,
                label: None,
            },
        ];
        for r in nl.add_vips(index, &vips, Lifetime::Seconds(10)).await {
            r.unwrap();
        }
        for r in nl.renew_vips(index, &vips, Lifetime::Seconds(300)).await {
            r.unwrap();
        }
        for addr in ["10.200.4.7", "fd00:200::47"] {
            let entries = ip_entries(&name, addr);
            assert_eq!(entries.len(), 1, "{addr} added twice");
            let valid = entries[0]["valid_life_time"].as_u64().unwrap();
            assert!(valid > 10, "{addr} not renewed: valid_lft {valid}");
            assert_eq!(
                raw_protocol(index, ip(addr)).await,
                Some(VIPD_ADDRESS_PROTOCOL)
            );
        }
        assert_eq!(ip_entries(&name, "10.200.4.7")[0]["label"], "vip0:r");
        let renewed = NetEvent::AddressAdded {
            index,
            addr: ip("10.200.4.7"),
            prefix_len: 24,
            ours: true,
        };
        wait_event(&mut events, "own VIP renewed", |e| *e == renewed).await;
        let bad = nl
            .renew_vips(
                index,
                &[NewVip {
                    addr: ip("10.200.4.8"),
                    prefix_len: 40,
                    label: None,
                }],
                Lifetime::Seconds(10),
            )
            .await;
        assert!(
            matches!(bad[0], Err(NetlinkError::InvalidPrefix { .. })),
            "{:?}",
            bad[0]
        );

        common::run(
            "ip",
            &["-n", &name, "addr", "replace", "10.200.4.7/24", "dev", DEV],
        );
        let replaced = NetEvent::AddressAdded {
            index,
            addr: ip("10.200.4.7"),
            prefix_len: 24,
            ours: false,
        };
        wait_event(&mut events, "VIP replaced by hand", |e| *e == replaced).await;
    });
}

#[test]
fn remove_marked_removes_only_what_it_is_told_to() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        for addr in ["10.200.5.1", "10.200.5.2"] {
            nl.add_vip(index, ip(addr), 32, Lifetime::Forever)
                .await
                .unwrap();
        }
        let keep = ip("10.200.5.1");
        let removed = nl
            .remove_marked(|i, a| !(i == index && a.addr == keep))
            .await
            .unwrap();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].1.addr, ip("10.200.5.2"));
        assert_eq!(ip_entries(&name, "10.200.5.1").len(), 1);
        assert!(ip_entries(&name, "10.200.5.2").is_empty());
    });
}

/// Lifetimes for one address: short lifetime expires, renewal keeps it.
async fn check_lifetimes(nl: &Netlink, ns: &str, index: u32, addr: &str, prefix: u8) {
    nl.add_vip(index, ip(addr), prefix, Lifetime::Seconds(2))
        .await
        .unwrap();
    let entries = ip_entries(ns, addr);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let valid = entries[0]["valid_life_time"].as_u64().unwrap();
    let preferred = entries[0]["preferred_life_time"].as_u64().unwrap();
    assert!(valid <= 2 && preferred <= 2, "{entries:?}");
    let info = find(nl, index, ip(addr)).await.unwrap();
    assert!(
        matches!(info.valid_lft, Lifetime::Seconds(s) if s <= 2),
        "{info:?}"
    );
    assert!(disappears(ns, addr).await, "{addr} outlived its lifetime");
    assert!(find(nl, index, ip(addr)).await.is_none());

    // Renewed every 500 ms for 4 s, twice the lifetime: still there at the end.
    nl.add_vip(index, ip(addr), prefix, Lifetime::Seconds(2))
        .await
        .unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        nl.add_vip(index, ip(addr), prefix, Lifetime::Seconds(2))
            .await
            .unwrap();
        assert_eq!(
            ip_entries(ns, addr).len(),
            1,
            "{addr} expired while renewed"
        );
    }
    // Renewing to forever makes it permanent; then a short lifetime again, left to expire.
    nl.add_vip(index, ip(addr), prefix, Lifetime::Forever)
        .await
        .unwrap();
    assert_eq!(
        ip_entries(ns, addr)[0]["valid_life_time"],
        u64::from(u32::MAX)
    );
    nl.add_vip(index, ip(addr), prefix, Lifetime::Seconds(1))
        .await
        .unwrap();
    assert!(
        disappears(ns, addr).await,
        "{addr} outlived its renewed lifetime"
    );
}

#[test]
fn lifetimes_expire_unless_renewed() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        check_lifetimes(&nl, &name, index, "10.200.6.10", 24).await;
        check_lifetimes(&nl, &name, index, "fd00:200::60", 64).await;
    });
}

#[test]
fn link_and_address_changes_are_reported() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let mut events = nl.subscribe().unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;

        common::run("ip", &["-n", &name, "link", "set", DEV, "down"]);
        wait_event(&mut events, "link down", |e| {
            *e == NetEvent::Link { index, up: false }
        })
        .await;
        let link = nl.link_by_name(DEV).await.unwrap();
        assert!(!link.up && !link.admin_up, "{link:?}");

        common::run("ip", &["-n", &name, "link", "set", DEV, "up"]);
        wait_event(&mut events, "link up", |e| {
            *e == NetEvent::Link { index, up: true }
        })
        .await;
        assert!(nl.link_by_name(DEV).await.unwrap().up);

        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.4.5/24", "dev", DEV],
        );
        let added = NetEvent::AddressAdded {
            index,
            addr: ip("10.200.4.5"),
            prefix_len: 24,
            ours: false,
        };
        wait_event(&mut events, "address added", |e| *e == added).await;
        common::run(
            "ip",
            &["-n", &name, "addr", "del", "10.200.4.5/24", "dev", DEV],
        );
        let removed = NetEvent::AddressRemoved {
            index,
            addr: ip("10.200.4.5"),
            prefix_len: 24,
        };
        wait_event(&mut events, "address removed", |e| *e == removed).await;

        nl.add_vip(index, ip("fd00:200::45"), 64, Lifetime::Forever)
            .await
            .unwrap();
        let added = NetEvent::AddressAdded {
            index,
            addr: ip("fd00:200::45"),
            prefix_len: 64,
            ours: true,
        };
        wait_event(&mut events, "IPv6 address added", |e| *e == added).await;
        nl.remove_vip(index, ip("fd00:200::45"), 64).await.unwrap();
        let removed = NetEvent::AddressRemoved {
            index,
            addr: ip("fd00:200::45"),
            prefix_len: 64,
        };
        wait_event(&mut events, "IPv6 address removed", |e| *e == removed).await;
    });
}

#[test]
fn links_are_found_by_name_and_index_and_missing_ones_are_named() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let err = nl.link_by_name("nosuch0").await.unwrap_err();
        assert!(
            matches!(&err, NetlinkError::NoSuchInterface { name } if name == "nosuch0"),
            "{err:?}"
        );
        assert!(err.to_string().contains("nosuch0"), "{err}");
        let err = nl.link_by_index(9999).await.unwrap_err();
        assert!(
            matches!(err, NetlinkError::NoSuchIndex { index: 9999 }),
            "{err:?}"
        );

        let out = common::run("ip", &["-n", &name, "-j", "link", "show", "dev", DEV]);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        let link = nl.link_by_name(DEV).await.unwrap();
        assert_eq!(u64::from(link.index), json[0]["ifindex"].as_u64().unwrap());
        assert_eq!(link.name, DEV);
        assert_eq!(u64::from(link.mtu), json[0]["mtu"].as_u64().unwrap());
        let mac = link.mac.expect("a veth has a MAC");
        let mac_text = mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(json[0]["address"], mac_text.as_str());
        assert!(link.up && link.admin_up);
        assert_eq!(nl.link_by_index(link.index).await.unwrap(), link);
        assert!(nl.links().await.unwrap().iter().any(|l| l.name == "lo"));
    });
}

#[test]
fn the_ipv6_primary_address_is_the_kernels_link_local() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(MARK).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        // A link-local VIP of vipd's (VRRPv3's first IPv6 VIP is link-local) is never the
        // primary, even though it skips DAD and so is usable before the kernel's own.
        nl.add_vip(index, ip("fe80::1:10"), 64, Lifetime::Forever)
            .await
            .unwrap();
        assert_eq!(nl.primary_address(index, Family::Ipv4).await.unwrap(), None);
        let mut primary = None;
        for _ in 0..100 {
            primary = nl.primary_address(index, Family::Ipv6).await.unwrap();
            if primary.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let primary = primary.expect("a usable link-local address within 10 s");
        let kernel_ll: Vec<String> = ip_addrs(&name, DEV)
            .into_iter()
            .filter(|a| a["family"] == "inet6" && a["scope"] == "link")
            .filter(|a| a.get("tentative").is_none())
            .map(|a| a["local"].as_str().unwrap().to_owned())
            .filter(|a| a != "fe80::1:10")
            .collect();
        assert_eq!(kernel_ll, vec![primary.to_string()]);
        assert!(primary.to_string().starts_with("fe80::"));
    });
}

/// The running kernel's (major, minor) version, from `uname -r`.
fn kernel_version() -> (u32, u32) {
    let out = common::run("uname", &["-r"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The 127.255.118.x addresses on `lo` of namespace `ns`.
fn probe_addresses(ns: &str) -> Vec<String> {
    let out = common::run("ip", &["-n", ns, "-j", "addr", "show", "dev", "lo"]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("ip -j output is JSON");
    json[0]["addr_info"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|a| a["local"].as_str().map(str::to_owned))
        .filter(|a| a.starts_with("127.255.118."))
        .collect()
}

#[test]
fn the_protocol_probe_finds_ifa_proto_and_leaves_nothing_on_lo() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    // An address of the probe's range that is already there is neither used nor touched.
    ns.ip(&["addr", "add", "127.255.118.1/32", "dev", "lo"]);
    let kernel = kernel_version();
    in_ns(&ns, move || async move {
        // The probe works whatever the connection's own mark.
        let nl = Netlink::new(AddressMark::Lifetime).unwrap();
        let kept = nl.probe_protocol_mark(VIPD_ADDRESS_PROTOCOL).await.unwrap();
        if kernel >= (5, 18) {
            assert!(kept, "Linux {kernel:?} keeps IFA_PROTO, the probe says not");
        }
        assert_eq!(probe_addresses(&name), vec!["127.255.118.1".to_owned()]);
        // Again, with the range free: 127.255.118.1 itself, then gone.
        common::run(
            "ip",
            &["-n", &name, "addr", "del", "127.255.118.1/32", "dev", "lo"],
        );
        assert_eq!(nl.probe_protocol_mark(0x77).await.unwrap(), kept);
        assert!(
            probe_addresses(&name).is_empty(),
            "the probe left an address"
        );

        for p in [0, 1, 2, 3] {
            let err = nl.probe_protocol_mark(p).await.unwrap_err();
            assert!(matches!(err, NetlinkError::InvalidMark { protocol } if protocol == p));
            assert!(matches!(
                Netlink::new(AddressMark::Protocol(p)),
                Err(NetlinkError::InvalidMark { .. })
            ));
        }
    });
}

/// `ip -j` lifetime of `addr` in namespace `ns`.
fn ip_valid_lft(ns: &str, addr: &str) -> u64 {
    let entries = ip_entries(ns, addr);
    assert_eq!(entries.len(), 1, "{addr}: {entries:?}");
    entries[0]["valid_life_time"].as_u64().unwrap()
}

#[test]
fn lifetime_marks_own_only_addresses_that_are_not_permanent() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let mark = AddressMark::Lifetime;
        let nl = Netlink::new(mark).unwrap();
        assert_eq!(nl.mark(), mark);
        let index = nl.link_by_name(DEV).await.unwrap().index;
        // Configured by hand, permanent: never ours.
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.7.20/24", "dev", DEV],
        );
        common::run(
            "ip",
            &[
                "-n",
                &name,
                "addr",
                "add",
                "fd00:200::20/64",
                "dev",
                DEV,
                "nodad",
            ],
        );

        for (addr, prefix) in [("10.200.7.10", 24), ("fd00:200::70", 64)] {
            nl.add_vip(index, ip(addr), prefix, Lifetime::Seconds(30))
                .await
                .unwrap();
            let valid = ip_valid_lft(&name, addr);
            assert!((25..=30).contains(&valid), "{addr}: valid_lft {valid}");
            assert_eq!(raw_protocol(index, ip(addr)).await, None, "IFA_PROTO sent");
            let info = find(&nl, index, ip(addr)).await.unwrap();
            assert!(info.is_marked(mark) && !info.is_permanent(), "{info:?}");
        }
        for (addr, prefix) in [("10.200.7.11", 24), ("fd00:200::71", 64)] {
            // Forever is stored as the longest finite lifetime, and renewing keeps one copy.
            for _ in 0..2 {
                nl.add_vip(index, ip(addr), prefix, Lifetime::Forever)
                    .await
                    .unwrap();
                let valid = ip_valid_lft(&name, addr);
                assert!(
                    (4_294_967_290..=4_294_967_294).contains(&valid),
                    "{addr}: valid_lft {valid}"
                );
            }
            let entries = ip_entries(&name, addr);
            assert_eq!(entries[0]["dynamic"], true, "{entries:?}");
            assert_eq!(raw_protocol(index, ip(addr)).await, None);
            let info = find(&nl, index, ip(addr)).await.unwrap();
            assert!(info.is_marked(mark), "{info:?}");
            assert!(
                matches!(info.valid_lft, Lifetime::Seconds(s) if s > 4_294_967_000),
                "{info:?}"
            );
        }
        // The hand-added ones are refused by add and remove, and stay as they were.
        for (addr, prefix) in [("10.200.7.20", 24), ("fd00:200::20", 64)] {
            let err = nl
                .add_vip(index, ip(addr), prefix, Lifetime::Forever)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    NetlinkError::NotOurs {
                        permanent: true,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains("a finite lifetime"), "{err}");
            let err = nl.remove_vip(index, ip(addr), prefix).await.unwrap_err();
            assert!(matches!(err, NetlinkError::NotOurs { .. }), "{err:?}");
            assert_eq!(ip_valid_lft(&name, addr), u64::from(u32::MAX), "{addr}");
        }

        let mut marked: Vec<_> = nl
            .marked_addresses()
            .await
            .unwrap()
            .into_iter()
            .map(|(i, a)| (i, a.addr))
            .collect();
        marked.sort();
        let mut expected = vec![
            (index, ip("10.200.7.10")),
            (index, ip("10.200.7.11")),
            (index, ip("fd00:200::70")),
            (index, ip("fd00:200::71")),
        ];
        expected.sort();
        assert_eq!(marked, expected, "the kernel's own addresses are permanent");

        // remove_marked removes only the marked addresses it is told are ours.
        let removed = nl
            .remove_marked(|_, a| a.addr == ip("10.200.7.10") || a.addr == ip("10.200.7.20"))
            .await
            .unwrap();
        let removed: Vec<_> = removed.iter().map(|(_, a)| a.addr).collect();
        assert_eq!(removed, vec![ip("10.200.7.10")]);
        assert!(ip_entries(&name, "10.200.7.10").is_empty());
        let removed = nl.remove_marked(|_, _| true).await.unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        for addr in ["10.200.7.20", "fd00:200::20"] {
            assert_eq!(ip_entries(&name, addr).len(), 1, "{addr} was removed");
        }
        assert!(nl.marked_addresses().await.unwrap().is_empty());

        // remove_vip takes a marked address away, and is idempotent.
        nl.add_vip(index, ip("10.200.7.12"), 24, Lifetime::Seconds(60))
            .await
            .unwrap();
        nl.remove_vip(index, ip("10.200.7.12"), 24).await.unwrap();
        assert!(ip_entries(&name, "10.200.7.12").is_empty());
        nl.remove_vip(index, ip("10.200.7.12"), 24).await.unwrap();
    });
}

#[test]
fn under_lifetime_marks_a_dhcp_like_lease_is_still_the_primary_address() {
    let (ns, _peer) = lab();
    let name = ns.name.clone();
    in_ns(&ns, move || async move {
        let nl = Netlink::new(AddressMark::Lifetime).unwrap();
        let index = nl.link_by_name(DEV).await.unwrap().index;
        // What a DHCP client configures: an address with a finite lifetime.
        common::run(
            "ip",
            &[
                "-n",
                &name,
                "addr",
                "add",
                "10.200.8.5/24",
                "dev",
                DEV,
                "valid_lft",
                "600",
                "preferred_lft",
                "600",
            ],
        );
        nl.add_vip(index, ip("10.200.9.10"), 32, Lifetime::Forever)
            .await
            .unwrap();
        assert_eq!(
            nl.primary_address(index, Family::Ipv4).await.unwrap(),
            Some(ip("10.200.8.5"))
        );
        // A permanent address, once there, is preferred.
        common::run(
            "ip",
            &["-n", &name, "addr", "add", "10.200.8.1/24", "dev", DEV],
        );
        assert_eq!(
            nl.primary_address(index, Family::Ipv4).await.unwrap(),
            Some(ip("10.200.8.1"))
        );
    });
}
