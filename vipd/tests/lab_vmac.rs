//! Virtual MAC (`use_vmac`) on real interfaces: the VIP lives on a macvlan `vrrp.51` with the
//! RFC 5798 MAC 00:00:5e:00:01:33 on whichever node is Master, so a client's neighbour entry
//! for the VIP never changes across a failover; the client's ping loss across it is measured.
//! vipd creates the interface, removes it when it stops, removes what a crash left at its next
//! start, and refuses to touch an interface of that name it did not create; the base
//! interface gets its settings back. The same holds for IPv6 (MAC 00:00:5e:00:02:33), where the
//! interface carries the base interface's link-local address, the adverts' source.
//!
//! Run: `cargo test -p vipd --release --test lab_vmac -- --nocapture` (root) for the figures.

mod lab;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use lab::{Lab, VIP, VIP6};

const VMAC: &str = "vrrp.51";
const VIRTUAL_MAC: &str = "00:00:5e:00:01:33";
const SETTLE: Duration = Duration::from_secs(10);
/// Interval of the client's pings.
const PING_EVERY_MS: u64 = 10;

fn config(priority: u8) -> String {
    format!(
        "instances:\n  - name: VI_VMAC\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n\
         \x20   advert_interval: 100ms\n    use_vmac: true\n    vips: [{VIP}/24]\n"
    )
}

/// The client's (observer's) neighbour entry for the VIP: its MAC, if it has one.
fn client_neighbour(lab: &Lab) -> Option<String> {
    let out = lab.observer.ip(&["neigh", "show", VIP, "dev", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

/// Node `i`'s virtual MAC interface: (its MAC, its alias), if it exists.
fn vmac_link(lab: &Lab, i: usize) -> Option<(String, String)> {
    let out = lab.nodes[i].ns.try_ip(&["-o", "link", "show", "dev", VMAC]);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // One line, fields separated by backslashes: "... \    link/ether MAC brd ... \    alias TEXT".
    let field = |key: &str| {
        text.split('\\')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or_default()
            .to_owned()
    };
    let mac = field("link/ether ")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    Some((mac, field("alias ")))
}

/// The base interface settings a virtual MAC changes, of `eth0` in `ns`.
fn base_settings(ns: &lab::Netns) -> Vec<String> {
    ["arp_ignore", "arp_filter", "arp_announce"]
        .iter()
        .map(|key| {
            let out = ns.exec("cat", &[&format!("/proc/sys/net/ipv4/conf/eth0/{key}")]);
            format!("{key}={}", String::from_utf8_lossy(&out.stdout).trim())
        })
        .collect()
}

/// A ping from the client to the VIP, every [`PING_EVERY_MS`] ms for `seconds`; killed (by
/// PID) if the test ends first.
struct Ping(lab::ObserverProcess);

impl Ping {
    fn start(lab: &Lab, seconds: u32) -> Self {
        let interval = format!("0.{PING_EVERY_MS:03}");
        let seconds = seconds.to_string();
        Self(lab.spawn_observer("ping", &["-n", "-q", "-i", &interval, "-w", &seconds, VIP]))
    }

    /// (sent, received) from ping's summary.
    fn finish(self) -> (u64, u64) {
        let out = self.0.wait_output();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary: {text}"));
        let numbers: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (numbers[0], numbers[1])
    }
}

#[test]
fn the_clients_neighbour_entry_never_changes_across_a_failover() {
    let mut lab = Lab::new(&[150, 100], |_, p| config(p));
    lab.start(0);
    lab.start(1);
    lab.wait_until(
        SETTLE,
        "node1 holds the VIP on its virtual MAC interface",
        |l| l.holds_on(0, VMAC, VIP) && !l.holds_on(1, VMAC, VIP),
    );
    // Both nodes have the interface, with the virtual router MAC and vipd's mark; only the
    // Master has the VIP on it, and not on its base interface.
    for i in 0..2 {
        let (mac, alias) = vmac_link(&lab, i).expect("the virtual MAC interface exists");
        assert_eq!(mac, VIRTUAL_MAC, "node{}", i + 1);
        assert!(
            alias.starts_with("vipd virtual MAC; base eth0: arp_ignore="),
            "node{}: {alias}",
            i + 1
        );
        assert!(!lab.holds_vip(i), "node{}: the VIP is not on eth0", i + 1);
    }
    let ok = lab
        .observer
        .exec("ping", &["-n", "-c", "1", "-W", "1", VIP]);
    assert!(ok.status.success(), "the client reaches the VIP");
    assert_eq!(client_neighbour(&lab).as_deref(), Some(VIRTUAL_MAC));

    // node1's link fails while the client pings; node2 takes over.
    let ping = Ping::start(&lab, 5);
    std::thread::sleep(Duration::from_millis(1000));
    lab.port(0, false);
    let seen = std::cell::RefCell::new(BTreeSet::new());
    let took_over = lab.wait_until(SETTLE, "node2 holds the VIP", |l| {
        if let Some(mac) = client_neighbour(l) {
            seen.borrow_mut().insert(mac);
        }
        l.holds_on(1, VMAC, VIP)
    });
    let mut seen = seen.into_inner();
    // The client's entry all along the failover and after it.
    for _ in 0..100 {
        if let Some(mac) = client_neighbour(&lab) {
            seen.insert(mac);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (sent, received) = ping.finish();
    let lost = sent - received;
    // ping paces itself (it waits for each reply up to its interval): the real interval.
    let every_ms = 5000 / sent.max(1);
    println!(
        "vmac lab (advert_interval 100ms): node2 held the VIP {} ms after node1's link failed; \
         the client sent {sent} pings in 5 s (one every ~{every_ms} ms, asked {PING_EVERY_MS} ms) \
         and lost {lost} (~{} ms); its neighbour entry for {VIP}: {seen:?}",
        took_over.as_millis(),
        lost * every_ms,
    );
    assert_eq!(
        seen,
        BTreeSet::from([VIRTUAL_MAC.to_owned()]),
        "the client's neighbour entry changed\n{}",
        lab.logs()
    );
    assert!(
        received > 0 && lost < sent / 2,
        "{sent} sent, {received} received"
    );
    let ok = lab
        .observer
        .exec("ping", &["-n", "-c", "1", "-W", "1", VIP]);
    assert!(ok.status.success(), "the client reaches the VIP on node2");

    // node1 returns and preempts: the entry still does not change.
    lab.port(0, true);
    lab.wait_until(SETTLE, "node1 takes the VIP back", |l| {
        l.holds_on(0, VMAC, VIP) && !l.holds_on(1, VMAC, VIP)
    });
    let back = std::time::Instant::now();
    let reached = (0..30).any(|_| {
        lab.observer
            .exec("ping", &["-n", "-c", "1", "-W", "1", VIP])
            .status
            .success()
    });
    let diag = |l: &Lab| {
        let run = |ns: &lab::Netns, args: &[&str]| {
            String::from_utf8_lossy(&ns.try_ip(args).stdout).into_owned()
        };
        format!(
            "fdb:\n{}\nclient neigh:\n{}\nnode1 addr:\n{}\nnode1 route:\n{}\nnode1 neigh:\n{}\n{}",
            String::from_utf8_lossy(
                &Command::new("bridge")
                    .args(["-n", &l.switch.name, "fdb", "show", "br", "br0"])
                    .output()
                    .unwrap()
                    .stdout
            ),
            run(&l.observer, &["neigh"]),
            run(&l.nodes[0].ns, &["-o", "addr"]),
            run(&l.nodes[0].ns, &["route"]),
            run(&l.nodes[0].ns, &["neigh"]),
            l.logs()
        )
    };
    assert!(
        reached,
        "the client reaches the VIP on node1 again\n{}",
        diag(&lab)
    );
    println!(
        "  after node1 preempted, the client reached the VIP within {} ms",
        back.elapsed().as_millis()
    );
    assert_eq!(client_neighbour(&lab).as_deref(), Some(VIRTUAL_MAC));

    // The base interfaces' settings while a virtual MAC is on them; a namespace's start
    // values are the client's (every namespace of the lab is made alike).
    let before = base_settings(&lab.observer);
    let with_vmac = vec!["arp_ignore=1", "arp_filter=1", "arp_announce=2"];
    assert_ne!(
        before, with_vmac,
        "the start values already are the virtual MAC's"
    );
    assert_eq!(base_settings(&lab.nodes[0].ns), with_vmac);

    // A crash leaves node2's interface behind; its next start removes and recreates it.
    lab.signal(1, "KILL");
    lab.wait_exit(1, SETTLE);
    assert!(vmac_link(&lab, 1).is_some(), "a crash leaves the interface");
    lab.start(1);
    lab.wait_until(SETTLE, "node2 removes its leftover", |l| {
        l.log(1)
            .contains("removed a virtual MAC interface left over by an earlier run")
    });
    lab.wait_until(SETTLE, "node2 recreates it", |l| vmac_link(l, 1).is_some());

    // A clean stop removes the interface and gives eth0 its settings back.
    let stop_cleanly = |lab: &mut Lab, i: usize, why: &str| {
        lab.signal(i, "TERM");
        lab.wait_exit(i, SETTLE);
        assert!(vmac_link(lab, i).is_none(), "{}", lab.log(i));
        assert_eq!(
            base_settings(&lab.nodes[i].ns),
            before,
            "node{}'s eth0 has its settings back{why}",
            i + 1
        );
    };
    stop_cleanly(&mut lab, 0, "");
    lab.wait_until(SETTLE, "node2 takes over from the stopped node1", |l| {
        l.holds_on(1, VMAC, VIP)
    });
    // node2's saved settings outlived its crash, in the interface's alias.
    stop_cleanly(&mut lab, 1, " after a crash and a restart");
}

#[test]
fn an_interface_of_that_name_not_created_by_vipd_is_refused() {
    let mut lab = Lab::new(&[100], |_, p| config(p));
    lab.nodes[0].ns.ip(&[
        "link", "add", VMAC, "link", "eth0", "type", "macvlan", "mode", "private",
    ]);
    lab.start(0);
    let code = lab.wait_exit(0, SETTLE);
    assert_ne!(code, Some(0));
    let log = lab.log(0);
    assert!(
        log.contains("\"vrrp.51\" exists and was not created by vipd"),
        "{log}"
    );
    // Left alone.
    assert!(vmac_link(&lab, 0).is_some());
}

/// A reload that is refused after creating its new instance's virtual MAC interface (another
/// address of the instance is on an interface the node does not have) removes that interface
/// again: nothing of the refused configuration stays.
#[test]
fn a_refused_reload_leaves_no_virtual_mac_interface() {
    let mut lab = Lab::new(&[150], |_, p| lab::config(p, ""));
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holds_vip(0));
    // The new instance's second address is on an interface the node lacks: its interfaces
    // are resolved in order, the virtual MAC interface first, then the reload is refused.
    let refused = format!(
        "{}  - name: VI_VMAC\n    interface: eth0\n    vrid: 52\n    use_vmac: true\n    \
         vips: [10.200.0.102/24, 10.200.5.102/24 dev eth7]\n",
        lab::config(150, "")
    );
    lab.set_config(0, &refused);
    lab.signal(0, "HUP");
    lab.wait_until(SETTLE, "the reload is refused", |l| {
        l.log(0).contains("reload refused")
    });
    lab.wait_until(SETTLE, "its virtual MAC interface is removed", |l| {
        l.log(0)
            .contains("virtual MAC interface of the refused reload removed")
    });
    let gone = !lab.nodes[0]
        .ns
        .try_ip(&["link", "show", "dev", "vrrp.52"])
        .status
        .success();
    assert!(gone, "{}", lab.log(0));
    // The running configuration is untouched, and its base settings are back.
    assert!(lab.holds_vip(0));
    assert_eq!(
        base_settings(&lab.nodes[0].ns),
        base_settings(&lab.observer),
        "eth0's settings are its own again"
    );
}

/// How many raw IPv4 sockets process `pid` has open (its descriptors whose socket is in its
/// namespace's `/proc/net/raw`).
fn raw_sockets(pid: u32) -> usize {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/raw")).unwrap_or_default();
    // The inode is the tenth column of each line after the header.
    let inodes: BTreeSet<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(9).map(|i| format!("socket:[{i}]")))
        .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|target| inodes.contains(target.to_string_lossy().as_ref()))
                .count()
        })
        .unwrap_or(0)
}

/// Reloads that add an instance with a virtual MAC interface and take it away again: each
/// time the interface is removed and its VRRP socket closed, so a node that a GitOps loop
/// reloads all day keeps the sockets of its current configuration only.
#[test]
fn a_reload_that_drops_a_virtual_mac_instance_closes_its_socket() {
    let plain = lab::config(150, "");
    let with_vmac = format!(
        "{plain}  - name: VI_VMAC\n    interface: eth0\n    vrid: 52\n    use_vmac: true\n    \
         vips: [10.200.0.102/24]\n"
    );
    let mut lab = Lab::new(&[150], |_, p| lab::config(p, ""));
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holds_vip(0));
    let pid = lab.pid(0);
    let before = raw_sockets(pid);
    assert!(before >= 1, "the VRRP socket of eth0 is counted");
    for round in 1..=3 {
        lab.set_config(0, &with_vmac);
        lab.signal(0, "HUP");
        lab.wait_until(SETTLE, "the virtual MAC instance holds its VIP", |l| {
            l.holds_on(0, "vrrp.52", "10.200.0.102")
        });
        assert_eq!(
            raw_sockets(pid),
            before + 1,
            "round {round}\n{}",
            lab.log(0)
        );
        lab.set_config(0, &plain);
        lab.signal(0, "HUP");
        lab.wait_until(SETTLE, "the virtual MAC interface is removed", |l| {
            !l.nodes[0]
                .ns
                .try_ip(&["link", "show", "dev", "vrrp.52"])
                .status
                .success()
        });
        lab.wait_until(SETTLE, "its socket is closed", |_| {
            raw_sockets(pid) == before
        });
    }
    assert!(lab.holds_vip(0), "{}", lab.log(0));
}

/// A reload that restarts a Backup with a virtual MAC interface (a VIP's prefix length
/// changed): the restarted instance keeps its interface, and takes over on it when the
/// Master goes.
#[test]
fn a_backup_restarted_by_a_reload_keeps_its_virtual_mac_interface() {
    let mut lab = Lab::new(&[150, 100], |_, p| config(p));
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| {
        l.holds_on(0, VMAC, VIP) && vmac_link(l, 1).is_some()
    });
    lab.set_config(
        1,
        &config(100).replace(&format!("{VIP}/24"), &format!("{VIP}/25")),
    );
    lab.signal(1, "HUP");
    lab.wait_until(SETTLE, "node2 restarts the instance", |l| {
        l.log(1).contains("restarted=1")
    });
    let (mac, _) = vmac_link(&lab, 1).expect("node2 keeps its virtual MAC interface");
    assert_eq!(mac, VIRTUAL_MAC);
    lab.signal(0, "TERM");
    lab.wait_until(
        SETTLE,
        "node2 takes over on its virtual MAC interface",
        |l| l.holds_on(1, VMAC, VIP),
    );
    assert!(
        !lab.log(1).contains("adding the VIP failed"),
        "{}",
        lab.log(1)
    );
}

/// A reload that turns `use_vmac` off on a Master: the VIP moves to the base interface
/// (make-before-break), and the virtual MAC interface, now unused, is removed.
#[test]
fn a_master_reloaded_without_use_vmac_removes_its_interface() {
    let mut lab = Lab::new(&[150], |_, p| config(p));
    lab.start(0);
    lab.wait_until(
        SETTLE,
        "node1 holds the VIP on its virtual MAC interface",
        |l| l.holds_on(0, VMAC, VIP),
    );
    let pid = lab.pid(0);
    let sockets = raw_sockets(pid);
    lab.set_config(0, &config(150).replace("    use_vmac: true\n", ""));
    lab.signal(0, "HUP");
    lab.wait_until(
        SETTLE,
        "the VIP is on eth0 and the interface is gone",
        |l| l.holds_vip(0) && vmac_link(l, 0).is_none(),
    );
    lab.wait_until(SETTLE, "its socket is closed", |_| {
        raw_sockets(pid) == sockets - 1
    });
    assert_eq!(
        base_settings(&lab.nodes[0].ns),
        base_settings(&lab.observer),
        "eth0's settings are its own again"
    );
}

/// The IPv6 virtual router MAC of VRID 51.
const VIRTUAL_MAC6: &str = "00:00:5e:00:02:33";

/// The client's neighbour entry for the IPv6 VIP: its MAC, if it has one.
fn client_neighbour6(lab: &Lab) -> Option<String> {
    let out = lab
        .observer
        .ip(&["-6", "neigh", "show", VIP6, "dev", "eth0"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

#[test]
fn an_ipv6_virtual_mac_keeps_the_clients_neighbour_entry_across_a_failover() {
    let config6 = |priority: u8| {
        format!(
            "instances:\n  - name: VI_VMAC6\n    interface: eth0\n    vrid: 51\n    \
             priority: {priority}\n    version: 3\n    advert_interval: 100ms\n    \
             use_vmac: true\n    vips: [{VIP6}/64]\n"
        )
    };
    let mut lab = Lab::new(&[150, 100], |_, p| config6(p));
    lab.start(0);
    lab.start(1);
    lab.wait_until(SETTLE, "node1 holds the IPv6 VIP on its virtual MAC", |l| {
        l.holds_on(0, VMAC, VIP6) && !l.holds_on(1, VMAC, VIP6)
    });
    for i in 0..2 {
        let (mac, _) = vmac_link(&lab, i).expect("the virtual MAC interface exists");
        assert_eq!(mac, VIRTUAL_MAC6, "node{}", i + 1);
    }
    let ping6 = |l: &Lab| {
        (0..20).any(|_| {
            l.observer
                .exec("ping", &["-6", "-n", "-c", "1", "-W", "1", VIP6])
                .status
                .success()
        })
    };
    assert!(ping6(&lab), "the client reaches the VIP\n{}", lab.logs());
    assert_eq!(client_neighbour6(&lab).as_deref(), Some(VIRTUAL_MAC6));

    let before = lab.log(1).matches("to=MASTER").count();
    lab.port(0, false);
    lab.wait_until(SETTLE, "node2 holds the IPv6 VIP", |l| {
        l.holds_on(1, VMAC, VIP6)
    });
    assert!(
        ping6(&lab),
        "the client reaches the VIP on node2\n{}",
        lab.logs()
    );
    assert_eq!(
        client_neighbour6(&lab).as_deref(),
        Some(VIRTUAL_MAC6),
        "the client's entry changed"
    );
    let to_master = lab.log(1).matches("to=MASTER").count() - before;
    assert_eq!(to_master, 1, "node2 became Master once\n{}", lab.logs());
    assert!(
        !lab.logs().contains("sending the advert failed"),
        "{}",
        lab.logs()
    );
}
