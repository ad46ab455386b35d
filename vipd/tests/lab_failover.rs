//! vipd on real interfaces: three nodes in network namespaces on a bridge, an observer asking
//! who answers ARP for the VIP. Needs root, iproute2 and python3.

mod lab;

use std::time::Duration;

use lab::{Lab, config};

fn three_nodes() -> Lab {
    let mut lab = Lab::new(&[150, 100, 50], |_, p| config(p, ""));
    for i in 0..3 {
        lab.start(i);
    }
    lab.wait_until(Duration::from_secs(10), "node1 (150) holds the VIP", |l| {
        l.holders() == vec![0]
    });
    lab
}

/// Election: the VIP is on the 150 node only, and only it answers ARP for it.
#[test]
fn election_puts_the_vip_on_the_highest_priority_only() {
    let lab = three_nodes();
    // Stays so: no flapping over a few advert intervals.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    // Multicast adverts reach every port, the observer's too: about one a second.
    let frames = lab.observer_vrrp_frames();
    assert!((2..=5).contains(&frames), "{frames} VRRP frames in 3 s");
    let answerers = lab.arp_answerers();
    assert_eq!(
        answerers,
        [lab.nodes[0].mac.clone()].into(),
        "{}",
        lab.logs()
    );
}

/// Crash failover: SIGKILL the master; the next node takes the VIP; the dead node's VIP
/// expires with its lifetime (5 s), after which only the new master answers ARP.
#[test]
fn crash_failover_moves_the_vip_and_the_dead_nodes_copy_expires() {
    let mut lab = three_nodes();
    lab.signal(0, "KILL");
    assert_eq!(
        lab.wait_exit(0, Duration::from_secs(5)),
        None,
        "killed by a signal"
    );
    lab.wait_until(Duration::from_secs(10), "node2 takes the VIP", |l| {
        l.holds_vip(1)
    });
    // The killed node could not remove its VIP; the kernel drops it when its lifetime ends.
    let expired = lab.wait_until(
        Duration::from_secs(10),
        "the killed node's VIP expires",
        |l| !l.holds_vip(0),
    );
    eprintln!("killed node's VIP gone {expired:?} after node2 took over");
    assert_eq!(lab.holders(), vec![1]);
    assert_eq!(
        lab.arp_answerers(),
        [lab.nodes[1].mac.clone()].into(),
        "{}",
        lab.logs()
    );
}

/// Graceful handover: SIGTERM the master; it sends priority 0, keeps the VIP until node2
/// speaks, then releases it and exits 0; some node holds the VIP at every sample.
#[test]
fn sigterm_hands_over_without_a_gap() {
    let mut lab = three_nodes();
    lab.signal(0, "TERM");
    let start = std::time::Instant::now();
    let mut samples = 0;
    // Until node2 holds the VIP and node1 no longer does.
    while !lab.holds_vip(1) || lab.holds_vip(0) {
        assert!(
            !lab.holders().is_empty(),
            "no node held the VIP during the handover\n{}",
            lab.logs()
        );
        samples += 1;
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "handover did not finish\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(samples > 0);
    assert_eq!(
        lab.wait_exit(0, Duration::from_secs(10)),
        Some(0),
        "{}",
        lab.log(0)
    );
    let log = lab.log(0);
    assert!(log.contains("handing over"), "{log}");
    assert!(log.contains("every VIP released"), "{log}");
    assert!(
        lab.log(1).contains("reason=master sent priority 0"),
        "{}",
        lab.log(1)
    );
    assert_eq!(
        lab.arp_answerers(),
        [lab.nodes[1].mac.clone()].into(),
        "{}",
        lab.logs()
    );
}
