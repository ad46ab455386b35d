//! The README's Security section, tested: VRRP has no cryptographic authentication, so a host
//! on the LAN that sends one higher-priority advert moves the VIP; an nftables rule that admits
//! IP protocol 112 only from the peers stops it. Real vipd processes and real nftables in
//! network namespaces; needs root, iproute2 and nft.

mod lab;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use lab::{GROUP, Lab, OBSERVER, VIP, config, inject};
use vrrp_core::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval};
use vrrp_core::{Version, Vrid};

/// The nftables rule of the README, for the two lab nodes.
const RULE: &str = "table inet vipd_guard {
  chain input {
    type filter hook input priority -10; policy accept;
    ip protocol vrrp ip saddr != { 10.200.0.1, 10.200.0.2 } counter drop
  }
}
";

/// One VRRPv3 advert for VRID 51 with priority 254 from the observer (its own address, as
/// any host on the LAN can send).
fn hostile_advert(observer: &str) {
    let adv = Advertisement {
        version: Version::V3,
        vrid: Vrid::new(51).unwrap(),
        priority: 254,
        interval: Interval::from_secs(1).unwrap(),
        auth: Auth::None,
        addresses: Addresses::V4(vec![VIP.parse().unwrap()]),
    };
    let at = Endpoints {
        src: IpAddr::V4(OBSERVER),
        dst: IpAddr::V4(GROUP),
    };
    let payload = adv.to_bytes(at, ChecksumMode::PseudoHeader).unwrap();
    let sent = inject(observer, vec![payload.to_vec()], Duration::ZERO)
        .join()
        .expect("the sender thread");
    assert_eq!(sent, 1);
}

fn nft(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft"])
        .args(args)
        .output()
        .expect("nft runs");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_neighbour_moves_the_vip_unless_nftables_admits_only_the_peers() {
    let mut lab = Lab::new(&[150, 100], |_, p| config(p, ""));
    lab.start(0);
    lab.start(1);
    lab.wait_until(Duration::from_secs(10), "node1 holds the VIP", |l| {
        l.holders() == vec![0]
    });

    // Without the rule: one advert of priority 254 from a third host and the Master steps
    // down (RFC 5798 section 6.4.3): the neighbour has moved the VIP away from node1.
    hostile_advert(&lab.observer.name);
    lab.wait_until(Duration::from_secs(3), "node1 steps down", |l| {
        l.log(0).contains("to=BACKUP reason=higher-priority advert")
    });
    eprintln!(
        "without the rule: node1 left Master on one forged advert; holders now {:?}",
        lab.holders()
    );
    // The forger is silent from now on: node1 takes the VIP back after Master_Down_Interval.
    lab.wait_until(Duration::from_secs(10), "node1 holds the VIP again", |l| {
        l.holders() == vec![0]
    });

    // With the rule on both nodes, the same advert never reaches vipd.
    let rule = std::env::temp_dir().join(format!("vipd-guard-{}.nft", std::process::id()));
    std::fs::write(&rule, RULE).unwrap();
    for node in &lab.nodes {
        nft(&node.ns.name, &["-f", rule.to_str().unwrap()]);
    }
    let _ = std::fs::remove_file(&rule);
    let steps_down = |l: &Lab| {
        l.log(0)
            .matches("to=BACKUP reason=higher-priority advert")
            .count()
    };
    let before = steps_down(&lab);
    hostile_advert(&lab.observer.name);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(steps_down(&lab), before, "{}", lab.log(0));
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    let counted = nft(
        &lab.nodes[0].ns.name,
        &["list", "chain", "inet", "vipd_guard", "input"],
    );
    let dropped: u64 = counted
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    eprintln!("with the rule: node1 stayed Master; nftables dropped {dropped} advert(s) on node1");
    assert!(dropped >= 1, "{counted}");
}
