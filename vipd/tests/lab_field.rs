//! The field-safety issue, end to end: what went wrong on real nodes, replayed in network
//! namespaces with real vipd processes, real netlink and real ARP.
//!
//! - unicast and multicast instances on one link (the raw socket's multicast membership);
//! - two vipd processes on one node leave each other's VIPs alone (start-up clean-up), with
//!   both address marks (`--address-mark protocol|lifetime`);
//! - a VIP equal to a host address, and the same VIP in two instances, are refused;
//! - SIGHUP changes on a live Master keep the VIP (no removal, no priority 0, no takeover);
//! - a SIGHUP that restarts the Master's instance (new VRID, VRRP interface or VIP prefix)
//!   hands over make-before-break, both nodes reloaded one after the other;
//! - a forged priority-0 advert in the Master's name is repaired within a second by the
//!   Master's re-announcement (gratuitous ARP on hearing a lower priority).
//!
//! Each test prints what it measured (`eprintln!`, shown with `--nocapture` or on failure).
//! Needs root, iproute2, ping and python3 (stdlib only). Only addresses inside the
//! lab's namespaces (10.200.0.0/24) are used; every process started here is stopped by its
//! own PID.

mod lab;
#[path = "lab/probe.rs"]
mod probe;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab::{Lab, Netns, VIP, VIP6, config};
use probe::{ArpProber, ProbeReport};
use vrrp_core::{Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval, Version, Vrid};

const SETTLE: Duration = Duration::from_secs(10);
/// The second process's (or second instance's) VIP.
const VIP_B: &str = "10.200.0.101";
/// The multicast instance's VIP in the mixed test.
const VIP_MC: &str = "10.200.0.102";
/// The observer's address.
const OBSERVER: &str = "10.200.0.9";
/// How often the ARP prober asks.
const PROBE_EVERY: Duration = Duration::from_millis(5);

fn vipd_binary() -> &'static str {
    env!("CARGO_BIN_EXE_vipd")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The first lines of a command's output, for the test output (check-config prints the whole
/// configuration when it accepts it).
fn brief(out: &Output) -> String {
    let all = text(out);
    let lines: Vec<&str> = all.lines().take(4).collect();
    lines.join(" | ")
}

/// Milliseconds, for the output.
fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1000.0)
}

// ----- a second vipd process in a node's namespace ---------------------------------------

static EXTRA: AtomicU32 = AtomicU32::new(0);

/// A vipd process the lab does not know about (the lab runs one per node): its own
/// configuration and log in its own directory, killed by its PID and the directory removed
/// on drop.
struct Extra {
    child: Option<Child>,
    log: PathBuf,
    dir: PathBuf,
    what: String,
}

impl Extra {
    /// Starts `vipd run --log-level debug ARGS -c CONFIG` in `ns` with `yaml` as its
    /// configuration.
    fn start(ns: &Netns, what: &str, yaml: &str, args: &[&str]) -> Self {
        let n = EXTRA.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("vipd-field-{}-{n}", ns.name));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        let log = dir.join("vipd.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, vipd_binary(), "run"])
            .args(["--log-level", "debug"])
            .args(args)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            log,
            dir,
            what: what.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` to this process (its own PID: `ip netns exec` execs vipd in place).
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits for the process to exit; its exit code (None: killed by a signal).
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {within:?}\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Extra {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- helpers on the lab ----------------------------------------------------------------

/// Starts node `i`'s vipd with extra arguments to `vipd run` (e.g. an address mark).
fn start_with(lab: &mut Lab, i: usize, args: &[&str]) {
    let config = lab.nodes[i].config.to_string_lossy().into_owned();
    let mut argv = vec![vipd_binary(), "run", "--log-level", "debug"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["-c", &config]);
    lab.spawn(i, &argv);
}

/// The `ip -o addr` line of `vip` on `ns`'s eth0, if it holds it.
fn addr_line(ns: &str, vip: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains(&format!(" {vip}/")))
        .map(str::to_owned)
}

/// The valid lifetime of an `ip -o addr` line: `Some(seconds)`, or None for `forever`.
fn valid_lft(line: &str) -> Option<u64> {
    let rest = line.split("valid_lft ").nth(1)?;
    let word = rest.split_whitespace().next()?;
    word.strip_suffix("sec")?.parse().ok()
}

/// The nodes holding `vip`.
fn holders_of(lab: &Lab, vip: &str) -> Vec<usize> {
    (0..lab.nodes.len())
        .filter(|&i| lab.holds(i, vip))
        .collect()
}

/// Writes node `i`'s configuration and reloads it with SIGHUP; returns once vipd logged the
/// reload as applied (panics, with the log, if it refused it).
fn reload(lab: &mut Lab, i: usize, yaml: &str) {
    lab.set_config(i, yaml);
    let applied = |l: &Lab| l.log(i).matches("configuration reloaded").count();
    let refused = |l: &Lab| {
        l.log(i).matches("reload refused").count()
            + l.log(i).matches("the running one is kept").count()
    };
    let (before, refused_before) = (applied(lab), refused(lab));
    lab.signal(i, "HUP");
    lab.wait_until(SETTLE, "the reload is applied", |l| {
        assert_eq!(
            refused(l),
            refused_before,
            "node{} refused the reload\n{}",
            i + 1,
            l.log(i)
        );
        applied(l) > before
    });
}

/// Lines of `log` that contain every one of `words`.
fn lines_with<'a>(log: &'a str, words: &[&str]) -> Vec<&'a str> {
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .collect()
}

/// A log field as vipd writes it (`vip=10.200.0.100`), followed by a space or the end of the
/// line so that .10 does not match .100.
fn has_field(line: &str, field: &str, value: &str) -> bool {
    let needle = format!("{field}={value}");
    line.split_whitespace().any(|w| w == needle)
}

fn start_prober(lab: &Lab, target: &str) -> ArpProber {
    let prober = ArpProber::start(&lab.observer.name, "eth0", OBSERVER, target, PROBE_EVERY);
    // A baseline of answered probes before anything happens.
    std::thread::sleep(Duration::from_millis(300));
    prober
}

/// Starts node1 and waits until it holds the VIP, then node2 until it is Backup, and lets
/// them settle for a second.
fn master_then_backup(lab: &mut Lab) {
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    lab.start(1);
    lab.wait_until(SETTLE, "node2 is Backup", |l| {
        l.log(1).contains("to=BACKUP")
    });
    std::thread::sleep(Duration::from_secs(1));
}

/// A client on the observer pinging the VIP every `every` seconds until `deadline` seconds
/// have passed (ping stops itself then), its output read by [`parse_ping`].
fn start_ping(lab: &Lab, every: &str, deadline: &str) -> KillOnDrop {
    let ping = Command::new("ip")
        .args(["netns", "exec", &lab.observer.name])
        .args(["ping", "-n", "-D", "-O", "-i", every, "-w", deadline, VIP])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    KillOnDrop(Some(ping))
}

/// Every answered-or-not probe report must show a real probe rate (at least 60% of the
/// nominal one: the prober shares two CPUs with the daemons) and some replies.
fn assert_probe_rate(report: &ProbeReport) {
    let span = report.sent.last().copied().unwrap_or_default();
    let nominal = span / PROBE_EVERY.as_secs_f64();
    assert!(
        f64::from(u32::try_from(report.probes()).unwrap()) > 0.6 * nominal,
        "the prober fell behind: {}",
        report.summary()
    );
    assert!(report.replies.len() > 20, "{}", report.summary());
}

/// How many probes went unanswered.
fn lost(report: &ProbeReport) -> usize {
    report.answered().iter().filter(|ok| !**ok).count()
}

// ----- sampling the VIP holders in the background ----------------------------------------

/// A thread that samples, every 20 ms, which nodes hold each watched VIP and records every
/// sample where that is not the expected set.
struct HolderWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<WatchReport>>,
}

#[derive(Debug, Default)]
struct WatchReport {
    samples: usize,
    /// (seconds since the start, VIP, holders) of each sample that differed.
    wrong: Vec<(f64, String, Vec<usize>)>,
}

impl WatchReport {
    fn summary(&self) -> String {
        let first: Vec<String> = self
            .wrong
            .iter()
            .take(10)
            .map(|(t, vip, h)| {
                let nodes: Vec<String> = h.iter().map(|i| format!("node{}", i + 1)).collect();
                format!("t={t:.3}s {vip} on [{}]", nodes.join(","))
            })
            .collect();
        format!(
            "{} holder samples, {} wrong{}{}",
            self.samples,
            self.wrong.len(),
            if first.is_empty() { "" } else { ": " },
            first.join("; ")
        )
    }
}

impl HolderWatch {
    /// Watches `expect`: each VIP with the node indices that must hold it.
    fn start(lab: &Lab, expect: &[(&str, &[usize])]) -> Self {
        let names: Vec<String> = lab.nodes.iter().map(|n| n.ns.name.clone()).collect();
        let expect: Vec<(String, Vec<usize>)> = expect
            .iter()
            .map(|(v, h)| ((*v).to_owned(), h.to_vec()))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut report = WatchReport::default();
            while !flag.load(Ordering::SeqCst) {
                let listings: Vec<String> = names
                    .iter()
                    .map(|ns| {
                        let out = Command::new("ip")
                            .args(["-n", ns, "-o", "addr", "show", "dev", "eth0"])
                            .output()
                            .unwrap();
                        String::from_utf8_lossy(&out.stdout).into_owned()
                    })
                    .collect();
                let t = start.elapsed().as_secs_f64();
                for (vip, want) in &expect {
                    let got: Vec<usize> = (0..listings.len())
                        .filter(|&i| listings[i].contains(&format!(" {vip}/")))
                        .collect();
                    if &got != want {
                        report.wrong.push((t, vip.clone(), got));
                    }
                }
                report.samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            report
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(mut self) -> WatchReport {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap()
    }
}

impl Drop for HolderWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ----- 1. unicast and multicast instances on one link ------------------------------------

/// Node `i` of two: VRID 51 unicast to the other node (listed first), VRID 52 for
/// [`VIP_MC`], multicast unless `vrid52_unicast`.
fn mixed(i: usize, priority: u8, vrid52_unicast: bool) -> String {
    let other = if i == 0 { 2 } else { 1 };
    let peers52 = if vrid52_unicast {
        format!("    unicast_peers: [10.200.0.{other}]\n")
    } else {
        String::new()
    };
    format!(
        "instances:\n  - name: VI_UNI\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         vips: [{VIP}/24]\n    unicast_peers: [10.200.0.{other}]\n  - name: VI_MC\n    \
         interface: eth0\n    vrid: 52\n    priority: {priority}\n    vips: [{VIP_MC}/24]\n{peers52}"
    )
}

/// Issue: a node with a unicast instance listed first and a multicast one on the same
/// interface never joined the VRRP group, so the multicast instance heard nobody and both
/// nodes held its VIP. Two nodes (150, 100), each VRID 51 unicast first and VRID 52
/// multicast: exactly one node holds each VIP, and over about 3 s exactly one MAC answers
/// ARP for the multicast VIP. Then VRID 52 is switched to unicast on both nodes by SIGHUP
/// and back, one node at a time, with exactly one holder of each VIP at every sample.
#[test]
fn mixed_unicast_and_multicast_instances_share_a_link() {
    let mut lab = Lab::new(&[150, 100], |i, p| mixed(i, p, false));
    lab.start(0);
    lab.start(1);
    let took = lab.wait_until(SETTLE, "node1 alone holds both VIPs", |l| {
        holders_of(l, VIP) == vec![0] && holders_of(l, VIP_MC) == vec![0]
    });
    let watch = HolderWatch::start(&lab, &[(VIP, &[0]), (VIP_MC, &[0])]);
    let mc = start_prober(&lab, VIP_MC);
    let uni = start_prober(&lab, VIP);
    std::thread::sleep(Duration::from_secs(3));
    let (mc, uni) = (mc.stop(), uni.stop());
    let steady = watch.stop();
    let n1 = lab.nodes[0].mac.clone();
    eprintln!(
        "mixed link: both VIPs on node1 {took:?} after start; {}; ARP for {VIP_MC}: {}; \
         ARP for {VIP}: {}",
        steady.summary(),
        mc.summary(),
        uni.summary()
    );
    assert!(
        steady.wrong.is_empty(),
        "{}\n{}",
        steady.summary(),
        lab.logs()
    );
    assert_probe_rate(&mc);
    assert_probe_rate(&uni);
    assert_eq!(
        mc.macs(),
        [n1.clone()].into(),
        "{}\n{}",
        mc.summary(),
        lab.logs()
    );
    assert_eq!(uni.macs(), [n1.clone()].into(), "{}", uni.summary());

    // VRID 52 to unicast: the Master first (the Backup, still multicast, accepts unicast
    // adverts), then the Backup. Back to multicast: the Backup first (it joins the group and
    // still hears the Master's unicast adverts), then the Master. In this order every
    // advert of the Master reaches the Backup at every moment.
    let watch = HolderWatch::start(&lab, &[(VIP, &[0]), (VIP_MC, &[0])]);
    let mc = start_prober(&lab, VIP_MC);
    let steps = [(0, true), (1, true), (1, false), (0, false)];
    for (i, unicast) in steps {
        let yaml = mixed(i, if i == 0 { 150 } else { 100 }, unicast);
        reload(&mut lab, i, &yaml);
        std::thread::sleep(Duration::from_secs(1));
    }
    std::thread::sleep(Duration::from_secs(1));
    let mc = mc.stop();
    let switched = watch.stop();
    eprintln!(
        "VRID 52 switched to unicast and back by SIGHUP: {}; ARP for {VIP_MC}: {}, {} lost",
        switched.summary(),
        mc.summary(),
        lost(&mc)
    );
    assert!(
        switched.wrong.is_empty(),
        "{}\n{}",
        switched.summary(),
        lab.logs()
    );
    assert_probe_rate(&mc);
    assert_eq!(mc.macs(), [n1].into(), "{}", mc.summary());
    for i in 0..2 {
        let log = lab.log(i);
        assert_eq!(
            lines_with(&log, &["VI_MC", "to=MASTER"]).len(),
            usize::from(i == 0),
            "node{}\n{log}",
            i + 1
        );
    }
}

// ----- 2. two vipd processes on one node -------------------------------------------------

/// Process B's configuration: VRID 52 holding [`VIP_B`] with an infinite lifetime (so that
/// only a start-up clean-up can remove what a killed B leaves), its API off (A has the
/// default port in the same namespace).
fn process_b() -> String {
    format!(
        "api: {{listen: \"off\"}}\ninstances:\n  - name: VI_B\n    interface: eth0\n    vrid: 52\n    \
         vips: [{VIP_B}/24]\n    vip_lifetime: forever\n"
    )
}

/// On node1 (whose process A, the lab's, holds [`VIP`]): starts process B, kills it with
/// SIGKILL while it is Master and starts it again, probing ARP for A's VIP all along. A's VIP
/// never goes (no more than 2 probes in a row unanswered, only node1's MAC); B's leftover is
/// removed by B's second run before it is Master again (or kept and renewed), and neither
/// run of B touches A's VIP. Returns B's second run, still running.
fn second_process_on_node1(lab: &Lab, args: &[&str], label: &str) -> Extra {
    let ns = &lab.nodes[0].ns;
    let n1 = lab.nodes[0].mac.clone();
    let mut prober = start_prober(lab, VIP);
    prober.mark();
    let mut b = Extra::start(ns, "process B", &process_b(), args);
    let t = Instant::now();
    lab.wait_until(SETTLE, "process B holds its VIP", |l| {
        assert!(l.holds_vip(0), "A's VIP went when B started\n{}", b.log());
        l.holds(0, VIP_B)
    });
    let b_master = t.elapsed();
    // Past one renewal of A's VIP: a VIP B had removed would have been added back by now.
    std::thread::sleep(Duration::from_millis(1500));
    let b_line = addr_line(&ns.name, VIP_B).unwrap_or_default();
    prober.mark();
    b.signal("KILL");
    assert_eq!(b.wait_exit(SETTLE), None, "killed by a signal");
    let leftover = lab.holds(0, VIP_B);
    let first_log = b.log();
    let b2 = Extra::start(ns, "process B (second run)", &process_b(), args);
    // Sample B's VIP until B is Master again: was the leftover removed in between?
    let t = Instant::now();
    let mut gone_at = None;
    loop {
        assert!(
            lab.holds_vip(0),
            "A's VIP went when B restarted\n{}",
            b2.log()
        );
        let held = lab.holds(0, VIP_B);
        if !held && gone_at.is_none() {
            gone_at = Some(t.elapsed());
        }
        let log = b2.log();
        if held && log.contains("to=MASTER") {
            break;
        }
        assert!(
            t.elapsed() < SETTLE,
            "B's second run is not Master with its VIP\n{log}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let b2_master = t.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    let report = prober.stop();
    let (gap, at) = report.longest_gap();
    let second_log = b2.log();
    let cleanup = lines_with(&second_log, &["left over"]);
    eprintln!(
        "{label}: B Master {b_master:?} after its start ({b_line:?}); B killed, leftover \
         {VIP_B} present: {leftover}; B's second run: leftover gone after {gone_at:?}, Master \
         after {b2_master:?}, clean-up lines {cleanup:?}; ARP for A's {VIP}: {}, {} lost, \
         longest gap {gap}{}",
        report.summary(),
        lost(&report),
        at.map(|t| format!(
            " at t={t:.3}s (B started at {:.3}s, killed at {:.3}s)",
            report.marks[0], report.marks[1]
        ))
        .unwrap_or_default()
    );
    assert_probe_rate(&report);
    assert!(
        gap <= 2,
        "A's VIP unanswered: {}\n{}",
        report.summary(),
        lab.log(0)
    );
    assert_eq!(report.macs(), [n1].into(), "{}", report.summary());
    assert!(leftover, "a killed B leaves {VIP_B} (lifetime forever)");
    for log in [&first_log, &second_log] {
        for line in lines_with(log, &["left over"])
            .into_iter()
            .chain(lines_with(log, &["VIP removed"]))
        {
            assert!(
                !has_field(line, "address", VIP) && !has_field(line, "vip", VIP),
                "B removed A's VIP: {line}\n{log}"
            );
        }
    }
    // The leftover is B's own: its second run removes it before being Master (the clean-up
    // line comes first), or keeps it without a gap.
    if let Some(gone) = gone_at {
        assert!(
            cleanup.iter().any(|l| has_field(l, "address", VIP_B)),
            "{VIP_B} went after {gone:?} but not by the clean-up\n{second_log}"
        );
        let cleaned = second_log.find("left over").unwrap();
        let master = second_log.find("to=MASTER").unwrap();
        assert!(cleaned < master, "{second_log}");
    }
    let a_log = lab.log(0);
    assert!(
        lines_with(&a_log, &["VIP removed"]).is_empty(),
        "A removed a VIP\n{a_log}"
    );
    assert_eq!(
        lines_with(&a_log, &["VIP added"]).len(),
        1,
        "A had to add its VIP again\n{a_log}"
    );
    b2
}

/// Issue: a second vipd on the same node (another configuration, e.g. another chart) removed
/// the first one's VIPs at start-up, as "left over by an earlier run". Node1 runs A (VRID 51,
/// [`VIP`]); once A holds it, B (VRID 52, [`VIP_B`]) starts in the same namespace, is killed
/// while Master and starts again. A's VIP is answered throughout (gap of at most 2 probes of
/// 5 ms), only B's own leftover is cleaned up.
#[test]
fn two_vipd_processes_on_one_node_keep_each_others_vips() {
    let mut lab = Lab::new(&[150], |_, p| config(p, ""));
    lab.start(0);
    lab.wait_until(SETTLE, "A holds its VIP", |l| l.holds_vip(0));
    let mut b = second_process_on_node1(&lab, &[], "two processes (auto mark)");
    b.signal("TERM");
    assert_eq!(b.wait_exit(SETTLE), Some(0), "{}", b.log());
    assert!(!lab.holds(0, VIP_B), "B released its VIP on SIGTERM");
    assert!(lab.holds_vip(0), "A's VIP stays when B stops\n{}", b.log());
}

// ----- 3. ownership with both address marks ----------------------------------------------

/// Renewal, handover, crash clean-up and two processes, with `--address-mark MARK`.
fn ownership(mark: &str) {
    let started = Instant::now();
    let args = ["--address-mark", mark];
    let mut lab = Lab::new(&[150, 100], |_, p| config(p, "    vip_lifetime: 3s\n"));
    start_with(&mut lab, 0, &args);
    lab.wait_until(SETTLE, "node1 holds the VIP", |l| l.holders() == vec![0]);
    start_with(&mut lab, 1, &args);
    let ns1 = lab.nodes[0].ns.name.clone();
    let mark_lines: Vec<String> = lines_with(&lab.log(0), &["address mark"])
        .into_iter()
        .map(str::to_owned)
        .collect();
    let line = addr_line(&ns1, VIP).unwrap();
    eprintln!("{mark}: {mark_lines:?}; {line}");
    let shown = if mark == "protocol" {
        "IFA_PROTO"
    } else {
        "lifetime"
    };
    assert!(
        mark_lines.iter().any(|l| l.contains(shown)),
        "the log names the mark {mark}\n{}",
        lab.log(0)
    );
    let lifetime = valid_lft(&line);
    assert!(
        matches!(lifetime, Some(1..=3)),
        "a VIP of lifetime 3s has 1 to 3 s left: {line}"
    );

    // Renewal: held for more than three lifetimes, never missing from a sample.
    let watch = HolderWatch::start(&lab, &[(VIP, &[0])]);
    let t = Instant::now();
    let mut min_left = u64::MAX;
    while t.elapsed() < Duration::from_secs(10) {
        if let Some(left) = addr_line(&ns1, VIP).as_deref().and_then(valid_lft) {
            min_left = min_left.min(left);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let renewal = watch.stop();
    eprintln!(
        "{mark}: renewal over 10 s (lifetime 3s): {}; lowest valid_lft seen {min_left} s",
        renewal.summary()
    );
    assert!(
        renewal.wrong.is_empty(),
        "{}\n{}",
        renewal.summary(),
        lab.logs()
    );
    assert!(renewal.samples > 100, "{}", renewal.summary());

    // Two processes, and B's crash clean-up, with this mark.
    let mut b = second_process_on_node1(&lab, &args, &format!("{mark}: two processes"));
    let b_line = addr_line(&ns1, VIP_B).unwrap();
    eprintln!("{mark}: B's VIP (lifetime forever): {b_line}");
    if mark == "lifetime" {
        // Without IFA_PROTO, vipd's VIPs are the configured ones with a finite lifetime:
        // `forever` is sent as 4294967294 s.
        assert!(
            valid_lft(&b_line).is_some_and(|s| s > 4_000_000_000),
            "forever in lifetime mode is a finite lifetime: {b_line}"
        );
    }

    // Handover of A on SIGTERM: its VIP removed, B's kept.
    lab.signal(0, "TERM");
    assert_eq!(lab.wait_exit(0, SETTLE), Some(0), "{}", lab.log(0));
    lab.wait_until(SETTLE, "node2 alone holds the VIP", |l| {
        l.holders() == vec![1]
    });
    assert!(
        lab.holds(0, VIP_B),
        "A's handover removed B's VIP\n{}\n{}",
        lab.log(0),
        b.log()
    );
    let a_log = lab.log(0);
    assert!(a_log.contains("every VIP released"), "{a_log}");
    b.signal("TERM");
    assert_eq!(b.wait_exit(SETTLE), Some(0), "{}", b.log());
    assert!(!lab.holds(0, VIP_B), "B released its VIP\n{}", b.log());

    // Crash clean-up of the lab's own process: node1 comes back at priority 150, is killed
    // while Master with lifetime forever, and its next run removes the leftover at start.
    lab.set_config(0, &config(150, "    vip_lifetime: forever\n"));
    start_with(&mut lab, 0, &args);
    lab.wait_until(SETTLE, "node1 preempts back", |l| l.holders() == vec![0]);
    lab.signal(0, "KILL");
    assert_eq!(lab.wait_exit(0, SETTLE), None);
    lab.wait_until(SETTLE, "node2 takes over", |l| l.holds_vip(1));
    let leftover = addr_line(&ns1, VIP);
    assert!(leftover.is_some(), "the killed node1 keeps its VIP");
    lab.set_config(0, &config(10, "    vip_lifetime: forever\n"));
    let before = lab.log(0).matches("left over").count();
    start_with(&mut lab, 0, &args);
    let cleaned = lab.wait_until(SETTLE, "node1's restart removes its leftover", |l| {
        !l.holds_vip(0)
    });
    let log = lab.log(0);
    let lines = lines_with(&log, &["left over"]);
    eprintln!(
        "{mark}: crash leftover {leftover:?} removed {cleaned:?} after the restart: {:?}; \
         test took {:?}",
        &lines[before..],
        started.elapsed()
    );
    assert!(
        lines[before..].iter().any(|l| has_field(l, "address", VIP)),
        "{log}"
    );
    assert_eq!(lab.holders(), vec![1], "{}", lab.logs());

    // Renewals read no addresses: they trust the address events. node2's VIP replaced by hand
    // (`ip addr replace`, no mark, lifetime forever) is seen in those events: node2 stops
    // renewing it (which would give it back vipd's mark and a 3 s lifetime), says so once
    // (not at each of the renewals that keep failing on it), takes it back once it is free
    // again, and its stop leaves a replaced VIP alone.
    let ns2 = lab.nodes[1].ns.name.clone();
    let cidr = format!("{VIP}/24");
    let taken = "replaced by an address without vipd's mark";
    let failed = "renewing the VIP failed;";
    let failed_before = lab.log(1).matches(failed).count();
    lab.nodes[1]
        .ns
        .ip(&["addr", "replace", &cidr, "dev", "eth0"]);
    lab.wait_until(SETTLE, "node2 logs the VIP as taken", |l| {
        l.log(1).contains(taken)
    });
    // More than five renewal periods (0.75 s with a 3 s lifetime).
    std::thread::sleep(Duration::from_secs(4));
    let line = addr_line(&ns2, VIP).expect("the replaced VIP is still on node2");
    assert_eq!(
        valid_lft(&line),
        None,
        "node2 renewed an address it no longer owns: {line}\n{}",
        lab.log(1)
    );
    let log = lab.log(1);
    assert_eq!(
        (log.matches(taken).count(), log.matches(failed).count()),
        (1, failed_before),
        "the taken VIP is reported once, not at each renewal\n{log}"
    );
    // The other program lets go of it: the next renewal adds it back, with vipd's mark.
    lab.nodes[1].ns.ip(&["addr", "del", &cidr, "dev", "eth0"]);
    lab.wait_until(SETTLE, "node2 holds its VIP again", |_| {
        addr_line(&ns2, VIP)
            .as_deref()
            .and_then(valid_lft)
            .is_some()
    });
    lab.wait_until(SETTLE, "node2 logs the VIP as held again", |l| {
        l.log(1).contains("VIP held again")
    });
    // Taken a second time: reported again.
    lab.nodes[1]
        .ns
        .ip(&["addr", "replace", &cidr, "dev", "eth0"]);
    lab.wait_until(SETTLE, "node2 logs the VIP as taken again", |l| {
        l.log(1).matches(taken).count() == 2
    });
    std::thread::sleep(Duration::from_secs(1));
    let line = addr_line(&ns2, VIP).expect("the replaced VIP is still on node2");
    assert_eq!(valid_lft(&line), None, "{line}\n{}", lab.log(1));
    lab.signal(1, "TERM");
    assert_eq!(lab.wait_exit(1, SETTLE), Some(0), "{}", lab.log(1));
    assert!(
        addr_line(&ns2, VIP).is_some(),
        "node2's stop removed an address it no longer owns\n{}",
        lab.log(1)
    );
    eprintln!("{mark}: a VIP replaced by hand: {line}");
}

/// Ownership with IFA_PROTO (`--address-mark protocol`): renewal, handover, crash clean-up,
/// two processes.
#[test]
fn ownership_with_the_protocol_mark() {
    ownership("protocol");
}

/// Ownership without IFA_PROTO (`--address-mark lifetime`, the fallback of kernels before
/// 5.18): the same, and every VIP vipd adds has a finite lifetime.
#[test]
fn ownership_with_the_lifetime_mark() {
    ownership("lifetime");
}

// ----- 4. and 5. configurations that are refused -----------------------------------------

/// Runs `vipd run ARGS` with `yaml` on node1 of a one-node lab, after `setup`; returns the
/// lab, the exit code if vipd exited within 5 s (`Some(None)`: killed by a signal) and how
/// long it ran.
fn run_briefly(
    yaml: &str,
    setup: impl Fn(&Lab),
    args: &[&str],
) -> (Lab, Option<Option<i32>>, Duration) {
    let yaml = yaml.to_owned();
    let mut lab = Lab::new(&[100], move |_, _| yaml.clone());
    setup(&lab);
    start_with(&mut lab, 0, args);
    let t = Instant::now();
    let code = loop {
        if let Some(code) = lab.try_wait(0) {
            break Some(code);
        }
        if t.elapsed() > Duration::from_secs(5) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (lab, code, t.elapsed())
}

/// `vipd check-config FILE` inside `ns` (so that the interfaces exist), or on the host.
fn check_config(ns: Option<&Netns>, yaml: &str) -> Output {
    let n = EXTRA.fetch_add(1, Ordering::SeqCst);
    let path =
        std::env::temp_dir().join(format!("vipd-field-check-{}-{n}.yaml", std::process::id()));
    std::fs::write(&path, yaml).unwrap();
    let path_str = path.to_string_lossy().into_owned();
    let out = match ns {
        Some(ns) => ns.exec(vipd_binary(), &["check-config", &path_str]),
        None => Command::new(vipd_binary())
            .args(["check-config", &path_str])
            .output()
            .unwrap(),
    };
    let _ = std::fs::remove_file(&path);
    out
}

/// `vipd run` and `vipd check-config` with `addr/24` (an address already on node1's eth0,
/// after `setup`) as the VIP: both must exit 2 naming the field and the address, and the
/// address must still be there afterwards, unchanged.
fn host_address_refused(what: &str, addr: &str, setup: impl Fn(&Lab), args: &[&str]) {
    let yaml = format!(
        "instances:\n  - name: VI_SELF\n    interface: eth0\n    vrid: 51\n    vips: [{addr}/24]\n"
    );
    let (mut lab, code, took) = run_briefly(&yaml, setup, args);
    let ns = lab.nodes[0].ns.name.clone();
    let checked = check_config(Some(&lab.nodes[0].ns), &yaml);
    let log = lab.log(0);
    let after = addr_line(&ns, addr);
    eprintln!(
        "{what}: vipd run {args:?} exit {code:?} after {took:?}; check-config exit {:?}: {}; \
         the address after: {after:?}",
        checked.status.code(),
        brief(&checked)
    );
    if code.is_none() {
        lab.signal(0, "TERM");
        let _ = lab.wait_exit(0, SETTLE);
        let gone = addr_line(&ns, addr);
        eprintln!("{what}: after SIGTERM to the still-running vipd, the address: {gone:?}");
    }
    assert_eq!(
        code,
        Some(Some(2)),
        "{what}: vipd run must exit 2 at once\n{log}"
    );
    assert!(
        log.contains(addr),
        "{what}: the refusal names {addr}\n{log}"
    );
    assert_eq!(checked.status.code(), Some(2), "{what}: {}", text(&checked));
    let shown = text(&checked);
    assert!(shown.contains("instances[0].vips[0]"), "{what}: {shown}");
    assert!(shown.contains(addr), "{what}: {shown}");
    assert!(after.is_some(), "{what}: the host keeps its address");
}

/// Issue: a VIP equal to the node's own address (10.200.0.1/24 on eth0) was "held" by vipd
/// and could be removed on a handover, taking the node off the network. `vipd run` refuses it
/// (exit 2 within a few seconds, naming the address) and leaves the address alone;
/// `vipd check-config` refuses it too when the interface exists.
#[test]
fn a_vip_equal_to_a_host_address_is_refused() {
    host_address_refused("VIP = host address", "10.200.0.1", |_| {}, &[]);
}

/// The same with a host address that has a finite lifetime, as DHCP clients add them
/// (`valid_lft 3600`): with IFA_PROTO (`--address-mark protocol`) vipd can tell it is not its
/// own (no protocol 0x76), so it must refuse it like a permanent one. (With
/// `--address-mark lifetime` a configured VIP with a finite lifetime is vipd's by definition;
/// that mode cannot tell.)
#[test]
fn a_vip_equal_to_a_dhcp_host_address_is_refused_with_the_protocol_mark() {
    host_address_refused(
        "VIP = DHCP-like host address",
        "10.200.0.21",
        |lab| {
            lab.nodes[0].ns.ip(&[
                "addr",
                "add",
                "10.200.0.21/24",
                "dev",
                "eth0",
                "valid_lft",
                "3600",
                "preferred_lft",
                "3600",
            ]);
        },
        &["--address-mark", "protocol"],
    );
}

/// Issue: the same VIP in two instances made them fight over it (each removing it when it
/// left Master). `vipd check-config` exits 2 naming both fields; `vipd run` exits 2 too. The
/// same address with another prefix length is the same VIP for the kernel.
#[test]
fn the_same_vip_in_two_instances_is_refused() {
    for (second, what) in [
        (format!("{VIP}/24"), "the same VIP"),
        (format!("{VIP}/32"), "the same address with another prefix"),
    ] {
        let yaml = format!(
            "instances:\n  - {{name: VI_ONE, interface: lo, vrid: 51, vips: [{VIP}/24]}}\n  \
             - {{name: VI_TWO, interface: lo, vrid: 52, vips: ['{VIP_B}/24', '{second}']}}\n"
        );
        let out = check_config(None, &yaml);
        let shown = text(&out);
        eprintln!(
            "{what}: check-config exit {:?}: {}",
            out.status.code(),
            brief(&out)
        );
        assert_eq!(out.status.code(), Some(2), "{what}\n{shown}");
        assert!(shown.contains("instances[1].vips[1]"), "{what}\n{shown}");
        assert!(shown.contains("instances[0]"), "{what}\n{shown}");
    }
    // `vipd run` refuses it as well (in a namespace: it must not touch the host).
    let yaml = format!(
        "instances:\n  - {{name: VI_ONE, interface: eth0, vrid: 51, vips: [{VIP}/24]}}\n  \
         - {{name: VI_TWO, interface: eth0, vrid: 52, vips: [{VIP}/24]}}\n"
    );
    let (lab, code, took) = run_briefly(&yaml, |_| {}, &[]);
    let log = lab.log(0);
    eprintln!("the same VIP twice: vipd run exit {code:?} after {took:?}");
    assert_eq!(code, Some(Some(2)), "{log}");
    assert!(log.contains("instances[1].vips[0]"), "{log}");
    assert!(lab.holders().is_empty(), "{log}");
}

/// Issue: a VIP lifetime of 1 s runs out after a single missed renewal on a loaded node.
/// The issue asked for a minimum of 3 s; vipd settled on 2 s, renewed every quarter of the
/// lifetime (at most every 0.5 s), which survives three missed renewals. 1s (and 1.5s, not
/// whole seconds) are refused naming the field; 2s and 3s are accepted.
#[test]
fn a_vip_lifetime_below_2s_is_refused() {
    let yaml = |lifetime: &str| {
        format!(
            "instances:\n  - {{interface: lo, vrid: 51, vips: [{VIP}/24], vip_lifetime: {lifetime}}}\n"
        )
    };
    for (lifetime, refused) in [("1s", true), ("1500ms", true), ("2s", false), ("3s", false)] {
        let out = check_config(None, &yaml(lifetime));
        eprintln!(
            "vip_lifetime {lifetime}: exit {:?}: {}",
            out.status.code(),
            brief(&out)
        );
        if refused {
            assert_eq!(out.status.code(), Some(2), "{lifetime}: {}", text(&out));
            assert!(
                text(&out).contains("instances[0].vip_lifetime"),
                "{lifetime}: {}",
                text(&out)
            );
        } else {
            assert_eq!(out.status.code(), Some(0), "{lifetime}: {}", text(&out));
        }
    }
}

// ----- 6. SIGHUP on a live Master --------------------------------------------------------

/// A node of the reload test: advert 100 ms, `peers` (empty: multicast), `vips`.
fn live(priority: u32, peers: &[&str], vips: &[&str]) -> String {
    let peers = if peers.is_empty() {
        String::new()
    } else {
        format!("    unicast_peers: [{}]\n", peers.join(", "))
    };
    let vips: Vec<String> = vips.iter().map(|v| format!("{v}/24")).collect();
    format!(
        "instances:\n  - name: VI_LAB\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         advert_interval: 100ms\n    vips: [{}]\n{peers}",
        vips.join(", ")
    )
}

/// Issue: any SIGHUP that touched an instance beyond its priority restarted it: the Master
/// sent priority 0, removed its VIPs and had to win them back. Two nodes (150 Master, 100
/// Backup), unicast, adverts every 100 ms; on the Master, one SIGHUP about every second: add
/// a third (absent) unicast peer, remove it, switch to multicast (both nodes), back to
/// unicast, add a second VIP, priority 150 to 160. An observer asks for the VIP every 5 ms:
/// never two probes in a row unanswered, only node1's MAC; node2 never becomes Master;
/// node1 never removes the VIP; the added VIP is held.
#[test]
fn sighup_changes_on_a_live_master_keep_the_vip() {
    let (n1, n2, absent) = ("10.200.0.1", "10.200.0.2", "10.200.0.7");
    let mut lab = Lab::new(&[150, 100], |i, p| {
        let peer = if i == 0 { n2 } else { n1 };
        live(u32::from(p), &[peer], &[VIP])
    });
    master_then_backup(&mut lab);
    let masters_before = lab.log(0).matches("to=MASTER").count();
    let watch = HolderWatch::start(&lab, &[(VIP, &[0])]);
    let mut prober = start_prober(&lab, VIP);
    type Step<'a> = (&'a str, Vec<(usize, String)>);
    let steps: Vec<Step<'_>> = vec![
        (
            "add a third unicast peer",
            vec![(0, live(150, &[n2, absent], &[VIP]))],
        ),
        ("remove it", vec![(0, live(150, &[n2], &[VIP]))]),
        // The Backup first: it joins the group and still hears the Master's unicast adverts.
        (
            "switch to multicast",
            vec![(1, live(100, &[], &[VIP])), (0, live(150, &[], &[VIP]))],
        ),
        // The Master first: the Backup, multicast, accepts its unicast adverts.
        (
            "switch back to unicast",
            vec![(0, live(150, &[n2], &[VIP])), (1, live(100, &[n1], &[VIP]))],
        ),
        (
            "add a second VIP",
            vec![
                (0, live(150, &[n2], &[VIP, VIP_B])),
                (1, live(100, &[n1], &[VIP, VIP_B])),
            ],
        ),
        (
            "priority 150 to 160",
            vec![(0, live(160, &[n2], &[VIP, VIP_B]))],
        ),
    ];
    let t = Instant::now();
    let mut at = Vec::new();
    for (what, reloads) in &steps {
        for (i, yaml) in reloads {
            prober.mark();
            reload(&mut lab, *i, yaml);
            at.push(format!(
                "{what} (node{}) {:.3}s",
                i + 1,
                t.elapsed().as_secs_f64()
            ));
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let added = lab.wait_until(Duration::from_secs(5), "the added VIP is held", |l| {
        l.holds(0, VIP_B)
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = prober.stop();
    let holders = watch.stop();
    let (gap, gap_at) = report.longest_gap();
    let log1 = lab.log(0);
    let log2 = lab.log(1);
    let removed = lines_with(&log1, &["VIP removed"]);
    let zero_heard = lines_with(&log2, &["priority 0"]).len();
    eprintln!(
        "SIGHUP on a live master: {}; {} lost, longest gap {gap} probe(s){}; {}; node2 \
         to=MASTER {} time(s); node1 'VIP removed' lines {removed:?}; node1 transitions \
         during the reloads {}; node2 log lines naming priority 0: {zero_heard}; added VIP \
         held {added:?} after the last reload; reloads at {at:?}",
        report.summary(),
        lost(&report),
        gap_at.map(|t| format!(" at t={t:.3}s")).unwrap_or_default(),
        holders.summary(),
        log2.matches("to=MASTER").count(),
        log1.matches("to=MASTER").count() - masters_before,
    );
    assert_probe_rate(&report);
    assert!(gap <= 1, "{}\n{}", report.summary(), lab.logs());
    assert_eq!(
        report.macs(),
        [lab.nodes[0].mac.clone()].into(),
        "{}",
        report.summary()
    );
    assert!(
        holders.wrong.is_empty(),
        "{}\n{}",
        holders.summary(),
        lab.logs()
    );
    assert_eq!(log2.matches("to=MASTER").count(), 0, "{log2}");
    assert!(
        !removed.iter().any(|l| has_field(l, "vip", VIP)),
        "node1 removed the VIP\n{log1}"
    );
    assert_eq!(log1.matches("to=MASTER").count(), masters_before, "{log1}");
    assert!(!log1.contains("to=BACKUP reason=priority"), "{log1}");
    assert_eq!(zero_heard, 0, "node2 heard a priority 0\n{log2}");
    assert!(
        lab.holds(0, VIP_B) && !lab.holds(1, VIP_B),
        "{}",
        lab.logs()
    );
}

// ----- 7. a forged priority 0 in the Master's name ---------------------------------------

/// A VRRPv3 priority-0 advert for VRID 51 in the name of `src`, to the group.
fn resign_in_the_name_of(src: Ipv4Addr) -> Vec<u8> {
    let adv = Advertisement {
        version: Version::V3,
        vrid: Vrid::new(51).unwrap(),
        priority: 0,
        interval: Interval::from_secs(1).unwrap(),
        auth: Auth::None,
        addresses: Addresses::V4(vec![VIP.parse().unwrap()]),
    };
    let at = Endpoints {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
    };
    adv.to_bytes(at, ChecksumMode::PseudoHeader)
        .unwrap()
        .to_vec()
}

/// Starts sending `payload` to 224.0.0.18 from the observer's eth0 with a source address of
/// our choosing and TTL 255: a python3 raw socket writing its own IP header. It prints the
/// wall-clock time right after the send (python's start-up, a few hundred ms on a loaded
/// machine, is not counted).
fn send_spoofed(observer: &str, src: Ipv4Addr, payload: &[u8]) -> KillOnDrop {
    let script = r#"
import socket, struct, sys, time
src, payload = sys.argv[1], bytes.fromhex(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
dst = "224.0.0.18"
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xc0, 20 + len(payload), 0, 0, 255, 112, 0,
                  socket.inet_aton(src), socket.inet_aton(dst))
s.sendto(hdr + payload, (dst, 0))
print("%.6f" % time.time(), flush=True)
"#;
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let child = Command::new("ip")
        .args(["netns", "exec", observer, "python3", "-c", script])
        .args([&src.to_string(), &hex])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    KillOnDrop(Some(child))
}

/// Seconds since the epoch, to compare with the times python and ping print.
fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The MAC of the observer's neighbour entry for the VIP, if any.
fn neighbour_mac(lab: &Lab) -> Option<String> {
    let out = lab.observer.ip(&["neigh", "show", VIP, "dev", "eth0"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = shown.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

/// What a `ping -D -O` run saw.
struct Pings {
    /// Sequence numbers answered, with the reply's wall-clock time.
    replies: Vec<(u32, f64)>,
    transmitted: u32,
}

impl Pings {
    /// The longest run of unanswered pings, and its first sequence number.
    fn longest_loss(&self) -> (u32, Option<u32>) {
        let answered: std::collections::BTreeSet<u32> =
            self.replies.iter().map(|(s, _)| *s).collect();
        let (mut best, mut best_start, mut run) = (0, None, 0);
        for seq in 1..=self.transmitted {
            if answered.contains(&seq) {
                run = 0;
                continue;
            }
            run += 1;
            if run > best {
                best = run;
                best_start = Some(seq + 1 - run);
            }
        }
        (best, best_start)
    }

    fn lost(&self) -> u32 {
        self.transmitted - u32::try_from(self.replies.len()).unwrap()
    }
}

fn parse_ping(out: &str) -> Pings {
    let mut replies = Vec::new();
    let mut transmitted = 0;
    for line in out.lines() {
        if line.contains("bytes from") {
            let t = line
                .strip_prefix('[')
                .and_then(|l| l.split(']').next())
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN);
            if let Some(seq) = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))
                .and_then(|s| s.parse().ok())
            {
                replies.push((seq, t));
            }
        } else if line.contains("packets transmitted") {
            transmitted = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    Pings {
        replies,
        transmitted,
    }
}

/// Issue: a forged (or stale) priority-0 advert in the Master's name made the Backup take
/// over and send gratuitous ARP; the Master, which never stopped, answered the Backup's
/// lower-priority advert with an advert only, the Backup stepped down, and clients kept
/// sending to the Backup's MAC. With keepalived's re-announcement (`garp_lower_prio_repeat`,
/// `garp_lower_prio_delay`) the Master answers with gratuitous ARP too.
///
/// RFC 5798 here: the Backup (100) hears priority 0 and becomes Master after Skew_Time
/// (0.61 s), announcing itself; node1 (150), still Master, hears a lower priority: it stays
/// Master (section 6.4.3 discards the advert; keepalived answers it) and re-announces; node2
/// hears node1's advert of 150 and returns to Backup (section 6.4.3: a higher priority). So
/// node1 ends as Master, and the observer must be sent to node1's MAC again: within 1 s of
/// the forged packet, and a client pinging every 50 ms loses less than 1 s.
#[test]
fn a_forged_priority_zero_advert_is_answered_with_gratuitous_arp() {
    let garp = "    garp: {lower_prio_repeat: 3, lower_prio_delay: 100ms}\n";
    let mut lab = Lab::new(&[150, 100], |_, p| config(p, garp));
    master_then_backup(&mut lab);
    let (mac1, mac2) = (lab.nodes[0].mac.clone(), lab.nodes[1].mac.clone());
    // A client pinging the VIP every 50 ms for 6 s.
    let ping = start_ping(&lab, "0.05", "6");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        neighbour_mac(&lab),
        Some(mac1.clone()),
        "the client reaches node1"
    );

    let forged = resign_in_the_name_of(Ipv4Addr::new(10, 200, 0, 1));
    let spawned = wall();
    let mut sender = send_spoofed(&lab.observer.name, Ipv4Addr::new(10, 200, 0, 1), &forged);
    // The observer's neighbour entry, every 10 ms, until 3.5 s after the forged packet left.
    let mut seen: Vec<(f64, Option<String>)> = Vec::new();
    let mut wall0 = None;
    while wall0.is_none_or(|t0| wall() < t0 + 3.5) {
        let mac = neighbour_mac(&lab);
        let t = wall();
        if seen.last().is_none_or(|(_, m)| *m != mac) {
            seen.push((t, mac.clone()));
        }
        if wall0.is_none() && sender.0.as_mut().unwrap().try_wait().unwrap().is_some() {
            let out = sender.0.take().unwrap().wait_with_output().unwrap();
            assert!(out.status.success(), "spoofed sender: {}", text(&out));
            wall0 = Some(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap());
        }
        assert!(wall() < spawned + 10.0, "the spoofed sender did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
    let wall0: f64 = wall0.unwrap();
    let sent_after = wall0 - spawned;
    // Times relative to the forged packet.
    let seen: Vec<(f64, Option<String>)> = seen.into_iter().map(|(t, m)| (t - wall0, m)).collect();
    let last_change = seen.last().map(|(t, _)| *t).unwrap_or_default();
    let final_mac = seen.last().and_then(|(_, m)| m.clone());
    let pings = {
        let mut ping = ping;
        let child = ping.0.take().unwrap();
        let out = child.wait_with_output().unwrap();
        parse_ping(&String::from_utf8_lossy(&out.stdout))
    };
    let (loss_run, loss_from) = pings.longest_loss();
    let loss_ms = loss_run * 50;
    let loss_at = loss_from
        .and_then(|seq| pings.replies.iter().find(|(s, _)| *s + 1 == seq))
        .map(|(_, t)| t - wall0);
    let node2_master = lab.log(1).contains("to=MASTER");
    let entries: Vec<String> = seen
        .iter()
        .map(|(t, m)| {
            let who = match m.as_deref() {
                Some(m) if m == mac1 => "node1",
                Some(m) if m == mac2 => "node2",
                Some(_) => "other",
                None => "none",
            };
            format!("{} {who}", ms(*t))
        })
        .collect();
    eprintln!(
        "forged priority 0 as node1 (sent {} after the sender started): node2 became Master: \
         {node2_master}; observer's neighbour entry for the VIP: [{}]; last change {} after \
         the forged packet; ping every 50 ms: {} sent, {} lost, longest loss {loss_run} \
         ping(s) (~{loss_ms} ms){}; holders at the end {:?}",
        ms(sent_after),
        entries.join(", "),
        ms(last_change),
        pings.transmitted,
        pings.lost(),
        loss_at
            .map(|t| format!(" starting about {} after the forged packet", ms(t)))
            .unwrap_or_default(),
        lab.holders()
    );
    assert!(pings.transmitted > 80, "ping ran: {}", pings.transmitted);
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    assert_eq!(final_mac, Some(mac1), "{entries:?}\n{}", lab.logs());
    assert!(
        last_change < 1.0,
        "the neighbour entry points at node1 again only {} after the forged packet: \
         {entries:?}\n{}",
        ms(last_change),
        lab.logs()
    );
    assert!(
        loss_ms < 1000,
        "{loss_run} pings lost in a row\n{}",
        lab.logs()
    );
}

/// A child process killed (by its own PID) if the test ends before it does.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ----- 8. unicast_src_ip and global IPv6 unicast peers -----------------------------------

/// Node `i` of two: an IPv4 instance (VRID 51) whose node1 speaks from its second address
/// 10.200.0.11 (`unicast_src_ip`), and an IPv6 instance (VRID 52) with global unicast peers,
/// each node speaking from its global address.
fn sourced(i: usize, priority: u8) -> String {
    let (src4, peer4) = if i == 0 {
        ("    unicast_src_ip: 10.200.0.11\n", "10.200.0.2")
    } else {
        ("", "10.200.0.11")
    };
    let (me6, peer6) = if i == 0 { (1, 2) } else { (2, 1) };
    format!(
        "instances:\n  - name: VI_SRC4\n    interface: eth0\n    vrid: 51\n    priority: {priority}\n    \
         vips: [{VIP}/24]\n    unicast_peers: [{peer4}]\n{src4}  - name: VI_SRC6\n    \
         interface: eth0\n    vrid: 52\n    priority: {priority}\n    vips: ['{VIP6}/64']\n    \
         unicast_src_ip: 'fd00:200::{me6}'\n    unicast_peers: ['fd00:200::{peer6}']\n"
    )
}

/// Issue: adverts could only leave from the interface's primary address, and IPv6 unicast
/// peers had to be link-local. Node1 (150) speaks IPv4 from its second address 10.200.0.11,
/// the only source node2 accepts; both speak IPv6 between their global addresses. Node1 holds
/// both VIPs alone for 3 s and node2 never becomes Master.
#[test]
fn unicast_src_ip_and_global_ipv6_peers_elect_one_master() {
    let mut lab = Lab::new(&[150, 100], sourced);
    lab.nodes[0]
        .ns
        .ip(&["addr", "add", "10.200.0.11/24", "dev", "eth0"]);
    lab.start(0);
    lab.wait_until(SETTLE, "node1 holds both VIPs", |l| {
        l.holds(0, VIP) && l.holds(0, VIP6)
    });
    lab.start(1);
    lab.wait_until(SETTLE, "node2 is Backup in both", |l| {
        l.log(1).matches("to=BACKUP").count() >= 2
    });
    let watch = HolderWatch::start(&lab, &[(VIP, &[0]), (VIP6, &[0])]);
    std::thread::sleep(Duration::from_secs(5));
    let report = watch.stop();
    let log2 = lab.log(1);
    let dropped = lines_with(&log2, &["advert dropped"]).len();
    eprintln!(
        "unicast_src_ip / global IPv6 peers: {}; node2 to=MASTER {} time(s), {dropped} \
         advert(s) dropped",
        report.summary(),
        log2.matches("to=MASTER").count()
    );
    assert!(
        report.wrong.is_empty(),
        "{}\n{}",
        report.summary(),
        lab.logs()
    );
    assert_eq!(log2.matches("to=MASTER").count(), 0, "{log2}");
}

// ----- 8. a reload that restarts the Master's instance -----------------------------------

/// A node of the restart test: VRID `vrid` over `interface` (VIP on eth0), the VIP with
/// `prefix`, adverts every 100 ms, multicast; the Master re-announces when it hears a lower
/// priority (a node still on the old configuration, or one that claimed the VIP meanwhile). A
/// fault check that passes, every 500 ms: a new instance is in Fault until its first result,
/// unless it keeps the state of the check it replaces.
fn restartable(priority: u8, vrid: u8, interface: &str, prefix: u8) -> String {
    format!(
        "instances:\n  - name: VI_LAB\n    interface: {interface}\n    vip_interface: eth0\n    \
         vrid: {vrid}\n    priority: {priority}\n    advert_interval: 100ms\n    \
         vips: [{VIP}/{prefix}]\n    garp: {{lower_prio_repeat: 3, lower_prio_delay: 100ms}}\n    \
         checks:\n      - {{name: ready, exec: {{command: [/bin/true]}}, interval: 500ms, \
         timeout: 400ms}}\n"
    )
}

/// What the observer saw during one step of a test, between two prober marks.
#[derive(Debug)]
struct StepSeen {
    what: String,
    probes: usize,
    /// Probes no node answered, and the longest run of them.
    lost: usize,
    gap: usize,
    /// The longest run of probes node1 did not answer.
    gap_node1: usize,
    /// When node2's MAC answered, first and last, seconds after the step began.
    node2: Option<(f64, f64)>,
}

impl std::fmt::Display for StepSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} probes, {} lost (longest run {}, ~{} ms), node1 silent for at most {} \
             probe(s), node2 answered {}",
            self.what,
            self.probes,
            self.lost,
            self.gap,
            self.gap * 5,
            self.gap_node1,
            self.node2.map_or("never".to_owned(), |(a, b)| format!(
                "from {} to {}",
                ms(a),
                ms(b)
            ))
        )
    }
}

/// The longest run of `false` in `flags`.
fn longest_false_run(flags: &[bool]) -> usize {
    let (mut best, mut run) = (0, 0);
    for ok in flags {
        run = if *ok { 0 } else { run + 1 };
        best = best.max(run);
    }
    best
}

/// Splits `report` at its marks (one mark per step, in order) and tells what each step saw.
fn per_step(report: &ProbeReport, steps: &[&str], mac1: &str, mac2: &str) -> Vec<StepSeen> {
    let any = report.answered();
    let by1 = report.answered_by(Some(mac1));
    let mut seen = Vec::new();
    for (k, what) in steps.iter().enumerate() {
        let from = report.marks.get(k).copied().unwrap_or(f64::INFINITY);
        let to = report.marks.get(k + 1).copied().unwrap_or(f64::INFINITY);
        let range: Vec<usize> = (0..report.sent.len())
            .filter(|&i| report.sent[i] >= from && report.sent[i] < to)
            .collect();
        let pick = |flags: &[bool]| -> Vec<bool> { range.iter().map(|&i| flags[i]).collect() };
        let node2: Vec<f64> = report
            .replies
            .iter()
            .filter(|(t, m)| m == mac2 && *t >= from && *t < to)
            .map(|(t, _)| t - from)
            .collect();
        seen.push(StepSeen {
            what: (*what).to_owned(),
            probes: range.len(),
            lost: pick(&any).iter().filter(|ok| !**ok).count(),
            gap: longest_false_run(&pick(&any)),
            gap_node1: longest_false_run(&pick(&by1)),
            node2: node2.first().zip(node2.last()).map(|(a, b)| (*a, *b)),
        });
    }
    seen
}

/// Issue 11: a SIGHUP that must restart the Master's instance (a new VRID, another VRRP
/// interface, a VIP's new prefix length) sent priority 0, removed the VIP and started the new
/// instance as Backup: the VIP had no owner until an election ended. Now the new instance
/// takes over as Master before the old one leaves, and the VIP stays on the interface.
///
/// Two nodes (150 Master, 100 Backup), adverts every 100 ms, reloaded one after the other as
/// a roll-out does. Steps: VRID 51 to 52 (node2 reloaded right after node1); VRID 52 to 53
/// with node2 reloaded 1.5 s after node1 (the mixed period: node2, still on VRID 52, hears
/// no master and claims the VIP after its Master_Down_Interval, until its own reload); the
/// VIP's prefix /24 to /32 (the same key: the old instance leaves the router first); VRRP
/// over eth1 instead of eth0 (the VIP stays on eth0). An observer asks for the VIP every
/// 5 ms and a client pings it every 20 ms: never two probes in a row unanswered, node1
/// answers throughout; node2 holds the VIP only in the mixed period, and gives it up within
/// 1 s of its reload.
#[test]
fn sighup_restarts_on_a_live_master_hand_over_make_before_break() {
    let mut lab = Lab::new(&[150, 100], |_, p| restartable(p, 51, "eth0", 24));
    lab.add_second_segment();
    master_then_backup(&mut lab);
    let (mac1, mac2) = (lab.nodes[0].mac.clone(), lab.nodes[1].mac.clone());
    // A client pinging the VIP every 20 ms, stopped (SIGINT) at the end.
    let mut ping = start_ping(&lab, "0.02", "60");
    let watch_t0 = Instant::now();
    let watch = HolderWatch::start(&lab, &[(VIP, &[0])]);
    let mut prober = start_prober(&lab, VIP);
    // (step, VRID, VRRP interface, VIP prefix, how long node2's reload waits after node1's).
    let steps: [(&str, u8, &str, u8, u64); 4] = [
        ("VRID 51 to 52, node2 right after node1", 52, "eth0", 24, 0),
        (
            "VRID 52 to 53, node2 1.5 s after node1",
            53,
            "eth0",
            24,
            1500,
        ),
        ("VIP prefix /24 to /32", 53, "eth0", 32, 0),
        ("VRRP over eth1 instead of eth0", 53, "eth1", 32, 0),
    ];
    // Per step: (node1 reloaded, node2 reloaded), seconds on the holder watch's clock.
    let mut at = Vec::new();
    let masters2_before = lab.log(1).matches("to=MASTER").count();
    for (_, vrid, interface, prefix, wait_ms) in steps {
        prober.mark();
        let t1 = watch_t0.elapsed().as_secs_f64();
        reload(&mut lab, 0, &restartable(150, vrid, interface, prefix));
        std::thread::sleep(Duration::from_millis(wait_ms));
        let t2 = watch_t0.elapsed().as_secs_f64();
        reload(&mut lab, 1, &restartable(100, vrid, interface, prefix));
        at.push((t1, t2));
        std::thread::sleep(Duration::from_millis(1500));
    }
    let report = prober.stop();
    let holders = watch.stop();
    let pings = {
        let child = ping.0.take().unwrap();
        let pid = child.id().to_string();
        // SIGINT (to our own ping, by its PID) makes it print its summary.
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let out = child.wait_with_output().unwrap();
        parse_ping(&String::from_utf8_lossy(&out.stdout))
    };
    let names: Vec<&str> = steps.iter().map(|s| s.0).collect();
    let seen = per_step(&report, &names, &mac1, &mac2);
    let log1 = lab.log(0);
    let log2 = lab.log(1);
    let removed1: Vec<&str> = lines_with(&log1, &["VIP removed"])
        .into_iter()
        .filter(|l| has_field(l, "vip", VIP))
        .collect();
    // A takeover after a priority-0 advert (the RFC shutdown) on either node.
    let zero_heard = lines_with(&format!("{log1}{log2}"), &["reason=master sent priority 0"]).len();
    let masters2 = log2.matches("to=MASTER").count() - masters2_before;
    let (loss_run, _) = pings.longest_loss();
    let steps_seen: Vec<String> = seen.iter().map(ToString::to_string).collect();
    eprintln!(
        "restart reloads on a live master: {}\n  {}\n  holders: {}\n  reloads (node1, node2) \
         at {at:?} s on the holder clock\n  node2 to=MASTER {masters2} time(s); node1 'VIP \
         removed' lines for the VIP: {removed1:?}; takeovers after a priority 0: \
         {zero_heard}\n  ping every 20 ms: {} sent, {} lost, longest loss {loss_run}",
        report.summary(),
        steps_seen.join("\n  "),
        holders.summary(),
        pings.transmitted,
        pings.lost(),
    );
    assert_probe_rate(&report);
    assert!(pings.transmitted > 200, "ping ran: {}", pings.transmitted);
    for step in &seen {
        assert!(step.gap <= 1, "{step}\n{}", lab.logs());
        assert!(step.gap_node1 <= 1, "{step}\n{}", lab.logs());
    }
    // The mixed period is the only time node2 answers or holds the VIP, and it ends within
    // 1 s of node2's reload; the VIP never leaves node1.
    for (k, step) in seen.iter().enumerate() {
        if k != 1 {
            assert!(step.node2.is_none(), "{step}\n{}", lab.logs());
        }
    }
    let (mixed_from, mixed_to) = (at[1].0, at[1].1 + 1.0);
    for (t, _, h) in &holders.wrong {
        assert!(
            h.contains(&0),
            "the VIP left node1 at t={t:.3}s: {}\n{}",
            holders.summary(),
            lab.logs()
        );
        assert!(
            (mixed_from..mixed_to).contains(t),
            "two holders outside the mixed period: {}\n{}",
            holders.summary(),
            lab.logs()
        );
    }
    assert!(masters2 <= 2, "node2 to=MASTER {masters2} times\n{log2}");
    assert_eq!(zero_heard, 0, "a priority 0 was sent\n{}", lab.logs());
    // Each of node1's four restarts handed over, without a state change to Initialize (no
    // stop hook) and without the old address's removal looking like the VIP vanishing.
    assert_eq!(lines_with(&log1, &["handed over"]).len(), 4, "{log1}");
    // The fault check ran (a new instance in Fault before its first result could not have
    // taken over).
    assert!(log1.contains("starting health checks"), "{log1}");
    assert!(!log1.contains("to=INIT"), "{log1}");
    assert!(!log1.contains("disappeared"), "{log1}");
    // Only the /24 address, replaced by the /32 one, was ever removed from node1.
    assert!(removed1.len() <= 1, "{removed1:?}\n{log1}");
    assert!(
        loss_run <= 2,
        "{loss_run} pings lost in a row\n{}",
        lab.logs()
    );
    assert_eq!(lab.holders(), vec![0], "{}", lab.logs());
    let line = addr_line(&lab.nodes[0].ns.name, VIP).unwrap_or_default();
    assert!(line.contains(&format!("{VIP}/32")), "{line}");
}
