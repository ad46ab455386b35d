//! vipd and keepalived 2.2.7 on one segment: real vipd processes and real keepalived processes
//! elect one master between them and fail over in both directions, for VRRPv2 with a simple
//! password, VRRPv3 over IPv4 and VRRPv3 over IPv6 (multicast, and unicast). Each test runs
//! three nodes of mixed implementations in the namespace lab and checks, by the addresses on
//! the interfaces, that exactly one node holds the VIP at each settled point.
//!
//! Needs root, iproute2 and keepalived (Debian package `keepalived`, 2.2.7 in CI).

mod lab;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lab::{Lab, Netns, VIP, VIP6, cmdline_names, keepalived_argv, read_pid, require_keepalived};

/// Longest wait for any one step (an election, a handover, a crash failover).
const SETTLE: Duration = Duration::from_secs(10);

/// After a start, how long to wait before judging that the backups accept the master's
/// adverts: beyond the Master_Down_Interval of a priority-100 backup with 1 s adverts
/// (3 s + 156/256 s = 3.61 s), with margin.
const ACCEPT_WINDOW: Duration = Duration::from_millis(4600);

/// The VRRP flavour of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// VRRPv2 (IPv4) with simple-password authentication.
    V2Pass,
    /// VRRPv3 over IPv4.
    V3Ipv4,
    /// VRRPv3 over IPv6.
    V3Ipv6,
    /// VRRPv3 over IPv6, unicast to every other node's link-local address.
    V3Ipv6Unicast,
}

/// The password of the VRRPv2 tests (8 characters, the most VRRPv2 carries).
const PASSWORD: &str = "secret12";

impl Proto {
    fn vip(self) -> &'static str {
        match self {
            Self::V2Pass | Self::V3Ipv4 => VIP,
            Self::V3Ipv6 | Self::V3Ipv6Unicast => VIP6,
        }
    }

    fn cidr(self) -> String {
        match self {
            Self::V2Pass | Self::V3Ipv4 => format!("{VIP}/24"),
            Self::V3Ipv6 | Self::V3Ipv6Unicast => format!("{VIP6}/64"),
        }
    }

    /// The unicast peers of node `i` (0-based) of `n`: every other node's link-local address
    /// (fe80::ff:fe00:N from MAC 02:00:00:00:00:0N). Both programs send IPv6 adverts from
    /// the link-local address, and keepalived binds its unicast socket to it, so global
    /// peer addresses work with neither (vipd drops the adverts as "not a configured
    /// unicast peer"; keepalived never receives those sent to its global address).
    fn peers(self, i: usize, n: usize) -> Vec<String> {
        match self {
            Self::V3Ipv6Unicast => (1..=n)
                .filter(|&j| j != i + 1)
                .map(|j| format!("fe80::ff:fe00:{j}"))
                .collect(),
            Self::V2Pass | Self::V3Ipv4 | Self::V3Ipv6 => Vec::new(),
        }
    }

    /// vipd's configuration of node `i` of `n` for the shared instance, with `extra` lines
    /// appended.
    fn vipd_yaml(self, i: usize, n: usize, priority: u8, extra: &str) -> String {
        let version = match self {
            Self::V2Pass => format!("    version: 2\n    password: {PASSWORD}\n"),
            Self::V3Ipv4 | Self::V3Ipv6 => "    version: 3\n".to_owned(),
            // keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64.
            Self::V3Ipv6Unicast => format!(
                "    version: 3\n    unicast_peers: ['{}']\n    unicast_min_hop_limit: 64\n",
                self.peers(i, n).join("', '")
            ),
        };
        format!(
            "instances:\n  - name: VI_1\n    interface: eth0\n    vrid: 51\n    priority: \
             {priority}\n    advert_interval: 1s\n{version}    vips: ['{}']\n{extra}",
            self.cidr()
        )
    }

    /// keepalived's configuration of node `i` of `n` for the same instance.
    fn keepalived_conf(self, i: usize, n: usize, priority: u8) -> String {
        let node = i + 1;
        let (version, auth) = match self {
            Self::V2Pass => (
                2,
                format!(
                    "    authentication {{\n        auth_type PASS\n        auth_pass {PASSWORD}\n    }}\n"
                ),
            ),
            Self::V3Ipv4 | Self::V3Ipv6 => (3, String::new()),
            Self::V3Ipv6Unicast => (
                3,
                format!(
                    "    unicast_peer {{\n        {}\n    }}\n",
                    self.peers(i, n).join("\n        ")
                ),
            ),
        };
        format!(
            "global_defs {{\n    router_id node{node}\n    enable_script_security\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    \
             virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    \
             version {version}\n{auth}    virtual_ipaddress {{\n        {} dev eth0\n    }}\n}}\n",
            self.cidr()
        )
    }
}

/// Which program a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Vipd,
    Keepalived,
}

/// Per-process counter for unique keepalived directories.
static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// The lab plus the keepalived side: one directory per test holding each keepalived node's
/// configuration and pid files. Dropping it drops the lab (which SIGKILLs every process it
/// started), then makes sure no keepalived process of this test survives.
struct Interop {
    lab: Option<Lab>,
    proto: Proto,
    peers: Vec<Peer>,
    dir: PathBuf,
}

impl Interop {
    /// A lab whose node `i` runs `nodes[i].0` with priority `nodes[i].1`; vipd nodes get
    /// `vipd_extra` appended to their instance. Nothing is started yet.
    fn new(proto: Proto, nodes: &[(Peer, u8)], vipd_extra: &str) -> Self {
        require_keepalived();
        let setup = Instant::now();
        let priorities: Vec<u8> = nodes.iter().map(|(_, p)| *p).collect();
        let extra = vipd_extra.to_owned();
        let n = nodes.len();
        let lab = Lab::new(&priorities, move |i, p| proto.vipd_yaml(i, n, p, &extra));
        let dir = std::env::temp_dir().join(format!(
            "vipd-interop-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (i, (peer, priority)) in nodes.iter().enumerate() {
            let node_dir = dir.join(format!("node{}", i + 1));
            std::fs::create_dir_all(&node_dir).unwrap();
            if *peer == Peer::Keepalived {
                std::fs::write(
                    node_dir.join("keepalived.conf"),
                    proto.keepalived_conf(i, n, *priority),
                )
                .unwrap();
            }
        }
        let this = Self {
            lab: Some(lab),
            proto,
            peers: nodes.iter().map(|(p, _)| *p).collect(),
            dir,
        };
        if matches!(proto, Proto::V3Ipv6 | Proto::V3Ipv6Unicast) {
            this.wait_link_local();
        }
        eprintln!("{proto:?}: lab ready in {:?}", setup.elapsed());
        this
    }

    fn lab(&self) -> &Lab {
        self.lab.as_ref().expect("lab present until the end")
    }

    fn lab_mut(&mut self) -> &mut Lab {
        self.lab.as_mut().expect("lab present until the end")
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{}", i + 1))
    }

    /// Node `i`'s keepalived configuration file: unique to this test, so `pgrep -f` on it
    /// finds exactly this node's keepalived processes (the parent and its forked VRRP child).
    fn conf(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("keepalived.conf")
    }

    /// IPv6 VRRP speaks from the link-local address: wait until every node's has finished
    /// duplicate address detection, so neither implementation starts without one.
    fn wait_link_local(&self) {
        self.lab().wait_until(
            SETTLE,
            "every node has a usable IPv6 link-local address",
            |l| {
                l.nodes.iter().all(|n| {
                    let out =
                        n.ns.ip(&["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]);
                    let text = String::from_utf8_lossy(&out.stdout);
                    text.contains("fe80::") && !text.contains("tentative")
                })
            },
        );
    }

    /// Starts every node's program.
    fn start_all(&mut self) {
        for i in 0..self.peers.len() {
            self.start(i);
        }
    }

    /// Starts (or restarts) node `i`'s program.
    fn start(&mut self, i: usize) {
        match self.peers[i] {
            Peer::Vipd => self.lab_mut().start(i),
            Peer::Keepalived => {
                let argv = keepalived_argv(&self.node_dir(i), &self.conf(i), &[]);
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                self.lab_mut().spawn(i, &argv);
            }
        }
    }

    /// The nodes whose interface holds the test's VIP.
    fn holders(&self) -> Vec<usize> {
        let vip = self.proto.vip();
        (0..self.peers.len())
            .filter(|&i| self.lab().holds(i, vip))
            .collect()
    }

    /// Waits until node `i` alone holds the VIP.
    fn wait_sole_holder(&self, i: usize, what: &str) -> Duration {
        let vip = self.proto.vip();
        let n = self.peers.len();
        self.lab().wait_until(SETTLE, what, |l| {
            (0..n).filter(|&j| l.holds(j, vip)).eq(std::iter::once(i))
        })
    }

    /// Node `i`'s log.
    fn log(&self, i: usize) -> String {
        self.lab().log(i)
    }

    /// Every node's log, for failure messages.
    fn logs(&self) -> String {
        self.lab().logs()
    }

    /// Whether node `i` (of either implementation) ever logged entering Master.
    fn ever_master(&self, i: usize) -> bool {
        let log = self.log(i);
        match self.peers[i] {
            Peer::Vipd => log.contains("to=MASTER"),
            Peer::Keepalived => log.contains("Entering MASTER STATE"),
        }
    }

    /// Whether node `i` logged entering Backup.
    fn was_backup(&self, i: usize) -> bool {
        let log = self.log(i);
        match self.peers[i] {
            Peer::Vipd => log.contains("to=BACKUP"),
            Peer::Keepalived => log.contains("Entering BACKUP STATE"),
        }
    }

    /// Asserts that node `i` is a Backup that never was Master.
    fn assert_backup_only(&self, i: usize) {
        assert!(
            self.was_backup(i) && !self.ever_master(i),
            "node{} ({:?}) should have stayed Backup\n{}",
            i + 1,
            self.peers[i],
            self.logs()
        );
    }

    /// Asserts no vipd node dropped an advert (every advert of either implementation was
    /// understood).
    fn assert_no_vipd_drops(&self) {
        for (i, peer) in self.peers.iter().enumerate() {
            if *peer == Peer::Vipd {
                let log = self.log(i);
                assert!(
                    !log.contains("advert dropped"),
                    "node{} (vipd) dropped adverts\n{}",
                    i + 1,
                    self.logs()
                );
            }
        }
    }

    /// Asserts no keepalived node complained about an advert it received (keepalived logs
    /// every advert it rejects: bad TTL, version, auth type or password, checksum, address
    /// count or list, interval, length).
    fn assert_no_keepalived_complaints(&self) {
        const COMPLAINTS: [&str; 10] = [
            "nvalid",
            "wrong version",
            "auth, expecting",
            "mismatch",
            "unexpected",
            "not present",
            "too short",
            "VIPs but received",
            "discard",
            "not in range",
        ];
        for (i, peer) in self.peers.iter().enumerate() {
            if *peer == Peer::Keepalived {
                let log = self.log(i);
                let bad: Vec<&str> = log
                    .lines()
                    // A preempting backup discards lower-priority adverts by design.
                    .filter(|l| {
                        COMPLAINTS.iter().any(|c| l.contains(c)) && !l.contains("lower priority")
                    })
                    .collect();
                assert!(
                    bad.is_empty(),
                    "node{} (keepalived) rejected adverts: {bad:#?}\n{}",
                    i + 1,
                    self.logs()
                );
            }
        }
    }

    /// The PIDs of node `i`'s keepalived processes still running.
    fn keepalived_pids(&self, i: usize) -> Vec<u32> {
        let conf = self.conf(i);
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(&conf)
            .output()
            .expect("pgrep runs");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Waits until node `i` runs no keepalived process (its parent has been stopped or
    /// killed, and the forked VRRP child must follow).
    fn wait_keepalived_gone(&self, i: usize) {
        let start = Instant::now();
        while !self.keepalived_pids(i).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "node{}'s keepalived processes {:?} outlived their parent\n{}",
                i + 1,
                self.keepalived_pids(i),
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops node `i`'s keepalived with `signal` sent to its parent only, and checks that
    /// the whole of it exits (the parent, reaped by the lab, and the forked VRRP child).
    fn stop_keepalived(&mut self, i: usize, signal: &str) -> Option<i32> {
        assert_eq!(self.peers[i], Peer::Keepalived);
        self.lab_mut().signal(i, signal);
        let code = self.lab_mut().wait_exit(i, SETTLE);
        self.wait_keepalived_gone(i);
        code
    }

    /// Ends the test: drops the lab (every process it started is SIGKILLed, every namespace
    /// deleted) and asserts that no keepalived process of this test survives.
    fn finish(mut self) {
        let start = Instant::now();
        let survivors = self.cleanup();
        eprintln!("{:?}: cleaned up in {:?}", self.proto, start.elapsed());
        assert!(
            survivors.is_empty(),
            "keepalived processes outlived the lab (killed): {survivors:?}"
        );
    }

    /// Drops the lab, waits for every keepalived of this test to exit, SIGKILLs by PID any
    /// that does not (only PIDs from this test's pid files or whose command line names this
    /// test's configuration files), and removes the directory. Returns the survivors.
    fn cleanup(&mut self) -> Vec<u32> {
        let Some(lab) = self.lab.take() else {
            return Vec::new();
        };
        drop(lab);
        let keepalived: Vec<usize> = (0..self.peers.len())
            .filter(|&i| self.peers[i] == Peer::Keepalived)
            .collect();
        let start = Instant::now();
        let mut survivors = Vec::new();
        loop {
            let running: Vec<u32> = keepalived
                .iter()
                .flat_map(|&i| self.keepalived_pids(i))
                .collect();
            if running.is_empty() {
                break;
            }
            if start.elapsed() > Duration::from_secs(3) {
                let mut pids = running;
                for &i in &keepalived {
                    for file in ["keepalived.pid", "vrrp.pid", "checkers.pid"] {
                        if let Some(pid) = read_pid(&self.node_dir(i).join(file))
                            && cmdline_names(pid, &self.conf(i))
                        {
                            pids.push(pid);
                        }
                    }
                }
                pids.sort_unstable();
                pids.dedup();
                for pid in &pids {
                    let _ = Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                }
                survivors = pids;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        survivors
    }
}

impl Drop for Interop {
    fn drop(&mut self) {
        let survivors = self.cleanup();
        if !survivors.is_empty() {
            eprintln!("killed keepalived processes that outlived the lab: {survivors:?}");
        }
    }
}

/// vipd master (250), keepalived (100) and vipd (20) backups that stay so; SIGTERM the vipd
/// master (priority 0 handover) and keepalived takes over; SIGKILL keepalived's parent (its
/// VRRP child resigns with priority 0) and the vipd backup takes over; restart keepalived and
/// it preempts vipd.
fn vipd_master_then_keepalived_then_vipd(proto: Proto) {
    let mut t = Interop::new(
        proto,
        &[(Peer::Vipd, 250), (Peer::Keepalived, 100), (Peer::Vipd, 20)],
        "",
    );
    let started = Instant::now();
    t.start_all();
    t.wait_sole_holder(0, "vipd (250) is the only holder of the VIP");
    // Past the backups' Master_Down_Interval: they hear and accept vipd's adverts.
    std::thread::sleep(ACCEPT_WINDOW.saturating_sub(started.elapsed()));
    assert_eq!(t.holders(), vec![0], "{}", t.logs());
    t.assert_backup_only(1);
    t.assert_backup_only(2);

    // vipd master stops: priority 0; keepalived (shorter Skew_Time than the vipd backup)
    // takes over, and vipd releases its VIP when keepalived's advert arrives.
    let stopped = Instant::now();
    t.lab_mut().signal(0, "TERM");
    t.wait_sole_holder(1, "keepalived (100) takes the VIP from vipd alone");
    let took = stopped.elapsed();
    assert_eq!(t.lab_mut().wait_exit(0, SETTLE), Some(0), "{}", t.log(0));
    eprintln!("{proto:?}: keepalived took over {took:?} after vipd's SIGTERM");
    let log1 = t.log(1);
    assert!(
        log1.contains("Backup received priority 0 advertisement"),
        "{log1}"
    );
    assert!(t.ever_master(1), "{log1}");
    let log0 = t.log(0);
    assert!(log0.contains("every VIP released"), "{log0}");
    assert_eq!(t.holders(), vec![1], "{}", t.logs());
    t.assert_backup_only(2);

    // keepalived master dies (parent SIGKILLed): its VRRP child sends priority 0 and
    // exits; the vipd backup takes over after its Skew_Time.
    let killed = Instant::now();
    t.stop_keepalived(1, "KILL");
    t.wait_sole_holder(2, "vipd (20) takes the VIP from keepalived alone");
    let took = killed.elapsed();
    eprintln!("{proto:?}: vipd took over {took:?} after keepalived's SIGKILL");
    let log2 = t.log(2);
    assert!(log2.contains("reason=master sent priority 0"), "{log2}");

    // keepalived (100) comes back and preempts the lower-priority vipd master.
    let from = t.log(1).len();
    let restarted = Instant::now();
    t.start(1);
    t.wait_sole_holder(1, "restarted keepalived (100) preempts vipd (20)");
    eprintln!(
        "{proto:?}: keepalived preempted vipd {:?} after its restart",
        restarted.elapsed()
    );
    let log1 = t.log(1);
    assert!(log1[from..].contains("Entering MASTER STATE"), "{log1}");
    let log2 = t.log(2);
    assert!(
        log2.contains("from=MASTER to=BACKUP reason=higher-priority advert"),
        "{log2}"
    );
    assert!(log2.contains("VIP removed"), "{log2}");
    t.assert_no_vipd_drops();
    t.assert_no_keepalived_complaints();
    t.finish();
}

/// keepalived master (250), vipd (100) and keepalived (20) backups that stay so; SIGTERM
/// keepalived (a normal stop, priority 0) and vipd takes over; SIGKILL vipd (a crash: no
/// priority 0) and keepalived takes over when its Master_Down_Interval expires, by which time
/// the dead vipd's VIP has expired (2 s kernel lifetime); restart vipd and it preempts
/// keepalived.
fn keepalived_master_then_vipd_then_keepalived(proto: Proto) {
    let mut t = Interop::new(
        proto,
        &[
            (Peer::Keepalived, 250),
            (Peer::Vipd, 100),
            (Peer::Keepalived, 20),
        ],
        "    vip_lifetime: 2s\n",
    );
    let started = Instant::now();
    t.start_all();
    t.wait_sole_holder(0, "keepalived (250) is the only holder of the VIP");
    std::thread::sleep(ACCEPT_WINDOW.saturating_sub(started.elapsed()));
    assert_eq!(t.holders(), vec![0], "{}", t.logs());
    t.assert_backup_only(1);
    t.assert_backup_only(2);

    // keepalived stops normally: priority 0, VIP removed; vipd takes over.
    let stopped = Instant::now();
    assert_eq!(t.stop_keepalived(0, "TERM"), Some(0), "{}", t.log(0));
    t.wait_sole_holder(1, "vipd (100) takes the VIP from keepalived alone");
    let took = stopped.elapsed();
    eprintln!("{proto:?}: vipd took over {took:?} after keepalived's SIGTERM");
    let log1 = t.log(1);
    assert!(log1.contains("reason=master sent priority 0"), "{log1}");
    t.assert_backup_only(2);

    // vipd crashes: no priority 0. keepalived (20) must notice the silence. The dead node's
    // VIP goes with its 2 s lifetime, before keepalived's 3.9 s Master_Down_Interval ends,
    // so at no sample do two nodes hold the VIP.
    let killed = Instant::now();
    t.lab_mut().signal(1, "KILL");
    assert_eq!(t.lab_mut().wait_exit(1, SETTLE), None, "killed by a signal");
    loop {
        let holders = t.holders();
        assert!(holders.len() <= 1, "two holders: {holders:?}\n{}", t.logs());
        if holders == vec![2] {
            break;
        }
        assert!(
            killed.elapsed() < SETTLE,
            "keepalived (20) did not take the VIP after vipd crashed\n{}",
            t.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = killed.elapsed();
    eprintln!("{proto:?}: keepalived took over {took:?} after vipd's SIGKILL");
    // Master_Down_Interval of priority 20 with 1 s adverts: 3 s + 236/256 s = 3.92 s after
    // the last advert, which left at most 1 s before the kill.
    assert!(
        took >= Duration::from_millis(2500),
        "keepalived took over too early ({took:?}): before its Master_Down_Interval\n{}",
        t.logs()
    );
    let log2 = t.log(2);
    assert!(log2.contains("Receive advertisement timeout"), "{log2}");
    assert!(t.ever_master(2), "{log2}");

    // vipd (100) comes back and preempts the lower-priority keepalived master.
    let from = (t.log(1).len(), t.log(2).len());
    let restarted = Instant::now();
    t.start(1);
    t.wait_sole_holder(1, "restarted vipd (100) preempts keepalived (20)");
    eprintln!(
        "{proto:?}: vipd preempted keepalived {:?} after its restart",
        restarted.elapsed()
    );
    let log1 = t.log(1);
    assert!(
        log1[from.0..].contains("to=MASTER reason=preempted lower-priority master"),
        "{log1}"
    );
    let log2 = t.log(2);
    assert!(log2[from.1..].contains("Entering BACKUP STATE"), "{log2}");
    t.assert_no_vipd_drops();
    t.assert_no_keepalived_complaints();
    t.finish();
}

/// VRRPv2 with auth PASS: vipd master -> keepalived (handover) -> vipd (keepalived killed) ->
/// keepalived (preempts).
#[test]
fn v2_pass_vipd_master_fails_over_to_keepalived_and_back() {
    vipd_master_then_keepalived_then_vipd(Proto::V2Pass);
}

/// VRRPv2 with auth PASS: keepalived master -> vipd (keepalived stopped) -> keepalived (vipd
/// crashed) -> vipd (preempts).
#[test]
fn v2_pass_keepalived_master_fails_over_to_vipd_and_back() {
    keepalived_master_then_vipd_then_keepalived(Proto::V2Pass);
}

/// VRRPv3 over IPv4: vipd master -> keepalived (handover) -> vipd (keepalived killed) ->
/// keepalived (preempts).
#[test]
fn v3_ipv4_vipd_master_fails_over_to_keepalived_and_back() {
    vipd_master_then_keepalived_then_vipd(Proto::V3Ipv4);
}

/// VRRPv3 over IPv4: keepalived master -> vipd (keepalived stopped) -> keepalived (vipd
/// crashed) -> vipd (preempts).
#[test]
fn v3_ipv4_keepalived_master_fails_over_to_vipd_and_back() {
    keepalived_master_then_vipd_then_keepalived(Proto::V3Ipv4);
}

/// VRRPv3 over IPv6: vipd master -> keepalived (handover) -> vipd (keepalived killed) ->
/// keepalived (preempts).
#[test]
fn v3_ipv6_vipd_master_fails_over_to_keepalived_and_back() {
    vipd_master_then_keepalived_then_vipd(Proto::V3Ipv6);
}

/// VRRPv3 over IPv6: keepalived master -> vipd (keepalived stopped) -> keepalived (vipd
/// crashed) -> vipd (preempts).
#[test]
fn v3_ipv6_keepalived_master_fails_over_to_vipd_and_back() {
    keepalived_master_then_vipd_then_keepalived(Proto::V3Ipv6);
}

/// The configurations these tests generate are valid for both programs, checked by the
/// programs themselves (`vipd check-config`, `keepalived -t`) in a namespace that has an
/// eth0, so that a typo shows as a clear config error rather than as a failed election.
#[test]
fn generated_configurations_pass_both_config_checkers() {
    require_keepalived();
    let ns = Netns::new();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    let dir = std::env::temp_dir().join(format!(
        "vipd-interop-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for proto in [
        Proto::V2Pass,
        Proto::V3Ipv4,
        Proto::V3Ipv6,
        Proto::V3Ipv6Unicast,
    ] {
        let yaml = dir.join(format!("{proto:?}.yaml"));
        std::fs::write(&yaml, proto.vipd_yaml(0, 3, 100, "    vip_lifetime: 2s\n")).unwrap();
        let conf = dir.join(format!("{proto:?}.conf"));
        std::fs::write(&conf, proto.keepalived_conf(0, 3, 100)).unwrap();
        let (yaml, conf) = (yaml.to_string_lossy(), conf.to_string_lossy());
        for (program, args) in [
            (
                env!("CARGO_BIN_EXE_vipd"),
                vec!["check-config", yaml.as_ref()],
            ),
            ("keepalived", vec!["-t", "-l", "-n", "-f", conf.as_ref()]),
        ] {
            let out = ns.exec(program, &args);
            if !out.status.success() {
                failures.push(format!(
                    "{proto:?}: {program} {args:?}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// VRRPv3 over IPv6 unicast to link-local peers, keepalived master first (its phases show
/// both directions: vipd accepts keepalived's hop-limit-64 unicast adverts with
/// `unicast_min_hop_limit: 64`, keepalived accepts vipd's).
#[test]
fn v3_ipv6_unicast_keepalived_master_fails_over_to_vipd_and_back() {
    keepalived_master_then_vipd_then_keepalived(Proto::V3Ipv6Unicast);
}
