//! vipd on real interfaces, beyond the basic failover: preemption and nopreempt on restart,
//! link down and up, partition and heal, leftover VIPs of a crashed run, IPv6, unicast.
//! Three vipd processes on a bridge in network namespaces; needs root and iproute2.

mod lab;

use std::time::Duration;

use lab::{Lab, VIP6, config};

const SETTLE: Duration = Duration::from_secs(10);

/// Three nodes (150, 100, 50) with `extra` appended to each instance, all started, node1
/// holding the VIP.
fn three(extra: &str) -> Lab {
    let extra = extra.to_owned();
    let mut lab = Lab::new(&[150, 100, 50], move |_, p| config(p, &extra));
    for i in 0..3 {
        lab.start(i);
    }
    lab.wait_until(SETTLE, "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    lab
}

/// Stops node1 gracefully and waits until node2 has the VIP alone.
fn hand_over_from_node1(lab: &mut Lab) {
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    lab.wait_until(SETTLE, "node2 holds the VIP alone", |l| {
        l.holders() == vec![1]
    });
}

/// Preemption: when the highest node comes back it takes the VIP back, after its
/// Master_Down_Interval, and the interim master releases it.
#[test]
fn restarted_highest_node_preempts_back() {
    let mut lab = three("");
    hand_over_from_node1(&mut lab);
    lab.start(0);
    lab.wait_until(SETTLE, "node1 preempts node2", |l| l.holders() == vec![0]);
    assert!(
        lab.log(0)
            .contains("reason=preempted lower-priority master"),
        "{}",
        lab.log(0)
    );
    assert!(
        lab.log(1).contains("reason=higher-priority advert"),
        "{}",
        lab.log(1)
    );
}

/// nopreempt: the highest node comes back as Backup and stays so; the VIP does not move.
#[test]
fn restarted_highest_node_does_not_preempt_with_nopreempt() {
    let mut lab = three("    preempt: false\n");
    hand_over_from_node1(&mut lab);
    lab.start(0);
    // Twice node1's Master_Down_Interval (3.41 s): had it preempted, it would have by now.
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(lab.holders(), vec![1], "{}", lab.logs());
    let log = lab.log(0);
    assert!(log.contains("to=BACKUP"), "{log}");
    assert_eq!(
        log.matches("to=MASTER").count(),
        1,
        "only its first term as master: {log}"
    );
}

/// The master's link goes down: it goes to Fault and removes the VIP, which moves to node2
/// (after node2's Master_Down_Interval: a node without a link cannot resign). Link up: node1
/// returns to Backup and, with preemption, takes the VIP back.
#[test]
fn link_down_moves_the_vip_and_link_up_brings_it_back_with_preempt() {
    let lab = three("");
    lab.link(0, false);
    lab.wait_until(SETTLE, "node2 takes the VIP from the faulted node1", |l| {
        l.holders() == vec![1]
    });
    assert!(lab.log(0).contains("reason=link down"), "{}", lab.log(0));
    lab.link(0, true);
    lab.wait_until(SETTLE, "node1 takes the VIP back", |l| {
        l.holders() == vec![0]
    });
    assert!(
        lab.log(0).contains("from=FAULT to=BACKUP"),
        "{}",
        lab.log(0)
    );
}

/// The master's bridge port goes down (its carrier drops, as when a switch port or cable
/// fails): the same as a link down on the node itself.
#[test]
fn switch_port_down_is_a_link_down_for_the_node() {
    let lab = three("");
    lab.port(0, false);
    lab.wait_until(SETTLE, "node2 takes the VIP", |l| l.holders() == vec![1]);
    assert!(lab.log(0).contains("reason=link down"), "{}", lab.log(0));
    lab.port(0, true);
    lab.wait_until(SETTLE, "node1 takes the VIP back", |l| {
        l.holders() == vec![0]
    });
}

/// The same with nopreempt: after link up node1 stays Backup.
#[test]
fn link_up_does_not_bring_the_vip_back_with_nopreempt() {
    let lab = three("    preempt: false\n");
    lab.link(0, false);
    lab.wait_until(SETTLE, "node2 takes the VIP", |l| l.holders() == vec![1]);
    lab.link(0, true);
    lab.wait_until(SETTLE, "node1 back to Backup", |l| {
        l.log(0).contains("from=FAULT to=BACKUP")
    });
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(lab.holders(), vec![1], "{}", lab.logs());
}

/// Partition and heal: cut node1 off at the bridge with its link up; both sides are Master
/// meanwhile (node1 keeps it, node2 takes it); after heal exactly one is, and the other has
/// removed the VIP.
#[test]
fn partition_then_heal_leaves_exactly_one_master() {
    let lab = three("");
    lab.isolate(0, true);
    lab.wait_until(SETTLE, "node2 becomes Master on its side", |l| {
        l.holds_vip(1)
    });
    assert!(lab.holds_vip(0), "node1 alone keeps the VIP on its side");
    lab.isolate(0, false);
    lab.wait_until(SETTLE, "exactly one master after heal", |l| {
        l.holders() == vec![0]
    });
    // And it stays so.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    assert!(
        lab.log(1).contains("from=MASTER to=BACKUP"),
        "{}",
        lab.log(1)
    );
}

/// Stale VIP: SIGKILL the master, then start it again at the lowest priority: it removes the
/// VIP its killed run left behind at once, without waiting for the lifetime.
#[test]
fn a_restarted_node_removes_its_leftover_vip() {
    let mut lab = three("    vip_lifetime: forever\n");
    lab.signal(0, "KILL");
    lab.wait_exit(0, SETTLE);
    lab.wait_until(SETTLE, "node2 takes the VIP", |l| l.holds_vip(1));
    // With a lifetime of forever, only vipd's start-up cleanup can remove node1's copy.
    assert!(lab.holds_vip(0), "the killed node still holds its VIP");
    lab.set_config(0, &config(10, "    vip_lifetime: forever\n"));
    lab.start(0);
    lab.wait_until(SETTLE, "the restarted node removes its leftover", |l| {
        !l.holds_vip(0)
    });
    assert!(
        lab.log(0)
            .contains("removed a VIP left over by an earlier run"),
        "{}",
        lab.log(0)
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(), vec![1], "{}", lab.logs());
}

/// An IPv6 VIP with VRRPv3: election and crash failover, end to end.
#[test]
fn ipv6_vip_elects_and_fails_over() {
    let yaml = |p: u8| {
        format!(
            "instances:\n  - {{name: VI6, interface: eth0, vrid: 51, priority: {p}, vips: ['{VIP6}/64']}}\n"
        )
    };
    let mut lab = Lab::new(&[150, 100, 50], move |_, p| yaml(p));
    for i in 0..3 {
        lab.start(i);
    }
    lab.wait_until(SETTLE, "node1 holds the IPv6 VIP", |l| {
        l.holds(0, VIP6) && !l.holds(1, VIP6) && !l.holds(2, VIP6)
    });
    // Answered from the observer: ping6 the VIP and read the neighbour entry's MAC.
    lab.observer
        .exec("ping", &["-6", "-c", "1", "-W", "2", VIP6]);
    let neigh = lab.observer.ip(&["-6", "neigh", "show", VIP6]);
    assert!(
        String::from_utf8_lossy(&neigh.stdout).contains(&lab.nodes[0].mac),
        "observer's neighbour entry: {}",
        String::from_utf8_lossy(&neigh.stdout)
    );
    lab.signal(0, "KILL");
    lab.wait_exit(0, SETTLE);
    lab.wait_until(SETTLE, "node2 takes the IPv6 VIP", |l| l.holds(1, VIP6));
    assert!(!lab.holds(2, VIP6));
}

/// Unicast mode: every node lists the others as peers; election, handover and no multicast.
#[test]
fn unicast_peers_elect_and_hand_over() {
    let peers = |me: usize| {
        (1..=3)
            .filter(|n| *n != me + 1)
            .map(|n| format!("10.200.0.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lab = Lab::new(&[150, 100, 50], move |i, p| {
        config(p, &format!("    unicast_peers: [{}]\n", peers(i)))
    });
    for i in 0..3 {
        lab.start(i);
    }
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    hand_over_from_node1(&mut lab);
    assert!(
        lab.log(1).contains("reason=master sent priority 0"),
        "{}",
        lab.log(1)
    );
    // The observer shares the segment but is no peer: in unicast mode it sees no VRRP at all
    // (multicast adverts reach every port of the bridge: see the election test).
    assert_eq!(lab.observer_vrrp_frames(), 0);
    assert_eq!(lab.holders(), vec![1]);
}

/// Many instances in one process, and VIPs on an interface other than the VRRP one (the
/// janeczku chart's vrrpInterfaceName / vipInterfaceName): each node runs an IPv4 and an
/// IPv6 instance on VRID 51 speaking VRRP on eth0, the IPv4 VIP going to vip0. Both fail over
/// together when the master dies.
#[test]
fn two_instances_in_one_process_with_a_separate_vip_interface() {
    let yaml = |p: u8| {
        format!(
            "instances:\n\
             \x20 - {{name: V4, interface: eth0, vip_interface: vip0, vrid: 51, priority: {p}, vips: [10.200.0.100/24]}}\n\
             \x20 - {{name: V6, interface: eth0, vrid: 51, priority: {p}, vips: ['{VIP6}/64']}}\n"
        )
    };
    let mut lab = Lab::new(&[150, 100], move |_, p| yaml(p));
    for node in &lab.nodes {
        // vip0: one end of a veth pair inside the node, up (the peer end too, so it runs).
        node.ns.ip(&[
            "link", "add", "vip0", "type", "veth", "peer", "name", "vip0p",
        ]);
        node.ns.ip(&["link", "set", "vip0", "up"]);
        node.ns.ip(&["link", "set", "vip0p", "up"]);
    }
    lab.start(0);
    lab.start(1);
    let on_vip0 = |l: &Lab, i: usize| {
        let out = l.nodes[i]
            .ns
            .ip(&["-4", "-o", "addr", "show", "dev", "vip0"]);
        String::from_utf8_lossy(&out.stdout).contains(" 10.200.0.100/")
    };
    lab.wait_until(SETTLE, "node1 holds both VIPs", |l| {
        on_vip0(l, 0) && l.holds(0, VIP6) && !on_vip0(l, 1) && !l.holds(1, VIP6)
    });
    assert!(
        !lab.holds_vip(0),
        "the IPv4 VIP belongs on vip0, not on eth0"
    );
    lab.signal(0, "KILL");
    lab.wait_exit(0, SETTLE);
    lab.wait_until(SETTLE, "node2 takes both VIPs", |l| {
        on_vip0(l, 1) && l.holds(1, VIP6)
    });
    // Each instance made its own transition (the IPv6 one may have been Master briefly at
    // start-up too: its link-local address can finish DAD before node1's).
    let log = lab.log(1);
    assert!(log.contains("instance=V4 from=BACKUP to=MASTER"), "{log}");
    assert!(log.contains("instance=V6 from=BACKUP to=MASTER"), "{log}");
}

/// Notify hooks on real transitions, keepalived's arguments included, and the Stop hook runs
/// to completion before vipd exits (here it takes 0.5 s).
#[test]
fn notify_hooks_see_every_transition_and_the_stop_hook_completes() {
    let out = std::env::temp_dir().join(format!("vipd-notify-lab-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let file = out.display().to_string();
    let hooks = format!(
        "    notify:\n      command: [sh, -c, 'echo \"$*\" >> {file}', hook]\n      stop: [sh, -c, 'sleep 0.5; echo stop-done >> {file}']\n"
    );
    let mut lab = Lab::new(&[150], move |_, p| config(p, &hooks));
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holds_vip(0));
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    let lines = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    // The Stop hook runs before the generic one, in order, after BACKUP and MASTER.
    assert_eq!(
        lines,
        "INSTANCE VI_LAB BACKUP 150\nINSTANCE VI_LAB MASTER 150\nstop-done\nINSTANCE VI_LAB STOP 150\n",
        "{}",
        lab.log(0)
    );
}

/// 255 instances on one interface at 0.1 s adverts (2,550 adverts a second from the master):
/// node1 ends up Master of every one, the others of none, and nobody enters Master again
/// during a 5 s quiet window. Before address events of vipd's own VIPs were filtered and VIP
/// additions batched, each renewal re-read the addresses once per event per instance, the
/// event loop fell behind the adverts, and the backups kept taking over.
#[test]
fn two_hundred_fifty_five_instances_at_100ms_converge_and_stay_quiet() {
    const N: usize = 255;
    let mut lab = Lab::new(&[150, 100, 50], |_, p| {
        let mut yaml = String::from("instances:\n");
        for vrid in 1..=N {
            yaml.push_str(&format!(
                "  - name: VI_{vrid}\n    interface: eth0\n    vrid: {vrid}\n    priority: {p}\n    \
                 advert_interval: 100ms\n    vips: [10.201.{}.{}/32]\n",
                vrid / 200,
                vrid % 200 + 1
            ));
        }
        yaml
    });
    for i in 0..3 {
        lab.start(i);
    }
    let count = |l: &Lab, i: usize| {
        let out = l.nodes[i]
            .ns
            .ip(&["-o", "-4", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|line| line.contains(" 10.201."))
            .count()
    };
    lab.wait_until(
        Duration::from_secs(30),
        "node1 holds all 255 VIPs, the others none",
        |l| count(l, 0) == N && count(l, 1) == 0 && count(l, 2) == 0,
    );
    let masters = |l: &Lab| -> Vec<usize> {
        (0..3)
            .map(|i| l.log(i).matches("to=MASTER").count())
            .collect()
    };
    std::thread::sleep(Duration::from_secs(1));
    let before = masters(&lab);
    std::thread::sleep(Duration::from_secs(5));
    let after = masters(&lab);
    assert_eq!(
        before,
        after,
        "Master entries during the quiet window\n{}",
        lab.logs()
    );
    assert_eq!(after[0], N, "node1 entered Master once per instance");
    assert_eq!((count(&lab, 0), count(&lab, 1), count(&lab, 2)), (N, 0, 0));
}
