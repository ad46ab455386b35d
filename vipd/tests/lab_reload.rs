//! SIGHUP reloads vipd's configuration on real interfaces: unchanged instances keep their state
//! and VIPs, a priority change applies without a restart, a bad file is refused and the
//! running configuration kept, added instances start and removed ones release their VIPs, a
//! change of what the instance's link state counts for applies at once.

mod lab;

use std::time::Duration;

use lab::{Lab, config};

const SETTLE: Duration = Duration::from_secs(10);
const VIP2: &str = "10.200.0.101";

fn two() -> Lab {
    let mut lab = Lab::new(&[150, 100], |_, p| config(p, ""));
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    lab
}

fn reload(lab: &mut Lab, i: usize, yaml: &str) {
    lab.set_config(i, yaml);
    let before = lab.log(i).matches("SIGHUP").count();
    lab.signal(i, "HUP");
    lab.wait_until(SETTLE, "the reload is logged", |l| {
        l.log(i).matches("SIGHUP").count() > before
    });
}

#[test]
fn an_unchanged_file_keeps_state_and_vips() {
    let mut lab = two();
    let transitions = lab.log(0).matches("state changed").count();
    reload(&mut lab, 0, &config(150, ""));
    lab.wait_until(SETTLE, "reload applied", |l| {
        l.log(0).contains("configuration reloaded")
    });
    let log = lab.log(0);
    assert!(
        log.contains("kept=1") && log.contains("restarted=0"),
        "{log}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        lab.log(0).matches("state changed").count(),
        transitions,
        "{}",
        lab.log(0)
    );
    assert_eq!(lab.holders(), vec![0]);
}

#[test]
fn a_priority_change_applies_in_place() {
    let mut lab = two();
    reload(&mut lab, 0, &config(50, ""));
    // node1 advertises 50 at once; node2 (100) preempts it after its Master_Down_Interval.
    lab.wait_until(SETTLE, "node2 takes the VIP", |l| l.holders() == vec![1]);
    let log = lab.log(0);
    assert!(log.contains("updated=1"), "{log}");
    assert!(
        log.contains("from=MASTER to=BACKUP reason=higher-priority advert"),
        "{log}"
    );
    assert!(
        !log.contains("to=INIT"),
        "the instance was restarted: {log}"
    );
}

#[test]
fn a_bad_file_is_refused_and_the_running_config_kept() {
    let mut lab = two();
    reload(
        &mut lab,
        0,
        "instances: [{interface: eth0, vrid: 0, vips: [nonsense]}]\n",
    );
    lab.wait_until(SETTLE, "refusal logged", |l| {
        l.log(0).contains("the running one is kept")
    });
    assert!(lab.log(0).contains("instances[0].vrid"), "{}", lab.log(0));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    // An interface that does not exist is refused as a whole too.
    reload(
        &mut lab,
        0,
        &config(
            150,
            "  - {interface: nosuch0, vrid: 52, vips: [10.200.0.101/24]}\n",
        ),
    );
    lab.wait_until(SETTLE, "refusal logged", |l| {
        l.log(0).contains("reload refused")
    });
    assert_eq!(lab.holders(), vec![0]);
}

#[test]
fn instances_added_start_and_removed_release_their_vips() {
    let mut lab = two();
    let second = format!("  - {{name: VI_TWO, interface: eth0, vrid: 52, vips: [{VIP2}/24]}}\n");
    reload(&mut lab, 0, &(config(150, "") + &second));
    // Alone on VRID 52, node1 takes VIP2 after its Master_Down_Interval.
    lab.wait_until(SETTLE, "the added instance holds its VIP", |l| {
        l.holds(0, VIP2)
    });
    assert!(lab.log(0).contains("added=1"), "{}", lab.log(0));
    assert_eq!(lab.holders(), vec![0], "the first instance is untouched");
    reload(&mut lab, 0, &config(150, ""));
    lab.wait_until(SETTLE, "the removed instance released its VIP", |l| {
        !l.holds(0, VIP2)
    });
    assert!(lab.log(0).contains("removed=1"), "{}", lab.log(0));
    assert_eq!(lab.holders(), vec![0]);
}

#[test]
fn dont_track_primary_turned_on_in_place_lifts_a_link_fault() {
    let mut lab = two();
    // node1's port goes down: its link is down, it goes to Fault and node2 takes over.
    lab.port(0, false);
    lab.wait_until(SETTLE, "node1 is in Fault", |l| {
        l.log(0).contains("to=FAULT reason=link down")
    });
    lab.wait_until(SETTLE, "node2 holds the VIP", |l| l.holds_vip(1));
    // Told not to track its interface, node1 leaves Fault at once (alone on its side of the
    // dead link, it becomes Master after Master_Down_Interval), without a restart.
    reload(&mut lab, 0, &config(150, "    dont_track_primary: true\n"));
    lab.wait_until(SETTLE, "node1 holds the VIP again", |l| l.holds_vip(0));
    let log = lab.log(0);
    assert!(log.contains("updated=1"), "{log}");
    assert!(log.contains("from=FAULT to=BACKUP"), "{log}");
    assert_eq!(log.matches("to=INIT").count(), 0, "restarted: {log}");
}
