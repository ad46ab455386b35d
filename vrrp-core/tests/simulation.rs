//! Deterministic simulation (`vrrp_core::sim`): thousands of random scenarios from seeds
//! (2 to 6 routers, random priorities, preemption, versions, intervals, tracked objects, and
//! random loss, latency, partitions, crashes, restarts, graceful stops, priority changes,
//! track and link failures), every invariant checked after every step and in quiet windows;
//! same seed => same trace; regression seeds from `tests/data/sim-regressions.txt`; a family
//! of 10 ms scenarios (3 to 6 routers of distinct priorities, jittery latency below the
//! Skew_Time difference, repeated Master crashes) in which only the highest-priority live
//! Backup may take over; and a few scripted scenarios with exact expectations.
//!
//! `VRRP_SIM_CASES=N` changes the number of random scenarios (default 20,000 with
//! `--release`, 5,000 without);
//! `VRRP_SIM_FAST_CASES=N` the number of 10 ms scenarios (default 2,000 with `--release`, 200
//! without), `VRRP_SIM_FAST_SEED=S` runs only the 10 ms scenario S;
//! `VRRP_SIM_SEED=S` runs only scenario S and prints its timeline. Reproduce a failure with
//! `VRRP_SIM_SEED=S cargo test -p vrrp-core --release --test simulation`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vrrp_core::sim::{
    Fault, Invariant, NetConfig, SimConfig, SimError, SimRng, Simulation, TimelineEntry,
    TimelineEvent, format_time, node_address,
};
use vrrp_core::{
    AnnounceSchedule, Centis, ChecksumMode, InstanceConfig, Interval, Micros, Password, Priority,
    Reason, State, Track, Version, Vrid,
};

/// Random scenarios per run: 20,000 in release builds (about a second on two cores), 5,000
/// in debug builds.
const DEFAULT_CASES: u64 = if cfg!(debug_assertions) {
    5_000
} else {
    20_000
};
const REGRESSIONS: &str = include_str!("data/sim-regressions.txt");

/// Reads the wall clock: the origin of virtual time (nothing depends on its value, as every
/// time in a simulation is an offset from it), and the sweep's timing report.
fn origin() -> Instant {
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

fn vip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 200, 0, last))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn us(u: u64) -> Duration {
    Duration::from_micros(u)
}

fn config(priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip(100)]);
    c.priority = Priority::new(priority).unwrap();
    c
}

// ----- random scenarios ------------------------------------------------------------------------

/// One random scenario: the nodes, the network, the faults, and how long to run after the
/// last fault.
struct Scenario {
    seed: u64,
    /// Nodes start at random times (scheduled [`Fault::Start`]) rather than all at zero.
    staggered: bool,
    nodes: Vec<InstanceConfig>,
    net: NetConfig,
    faults: Vec<(Duration, Fault)>,
    /// End of the fault phase: then the network heals and loss stops.
    fault_phase: Duration,
    /// Extra time after the settle time following the fault phase.
    tail: Duration,
}

fn u(v: u64) -> usize {
    usize::try_from(v).unwrap()
}

fn scenario(seed: u64) -> Scenario {
    let mut rng = SimRng::new(seed);
    let n = u(rng.range(2, 6));
    let version = if rng.chance(300) {
        Version::V2
    } else {
        Version::V3
    };
    let base_interval = match version {
        Version::V2 => Interval::from_secs(*rng.pick(&[1, 1, 1, 2]).unwrap()).unwrap(),
        Version::V3 => {
            Interval::from_centis(*rng.pick(&[30, 50, 100, 100, 100, 150, 200]).unwrap()).unwrap()
        }
    };
    let varied_intervals = version == Version::V3 && rng.chance(200);
    let vips = if rng.chance(250) {
        vec![vip(100), vip(101)]
    } else {
        vec![vip(100)]
    };
    let password = (version == Version::V2 && rng.chance(300)).then(|| Password::new(b"s3cret"));
    let unicast = rng.chance(150);
    let owner = rng.chance(150).then(|| rng.index(n));
    let announce_refresh = rng.chance(200);

    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = InstanceConfig::new(Vrid::new(51).unwrap(), vips.clone());
        c.version = version;
        c.password = password.flatten();
        c.priority = if owner == Some(i) {
            Priority::OWNER
        } else {
            Priority::new(*rng.pick(&[1, 50, 100, 100, 150, 200, 254]).unwrap()).unwrap()
        };
        c.preempt = owner == Some(i) || rng.chance(700);
        if c.preempt && rng.chance(100) {
            c.preempt_delay = Centis(u32::try_from(rng.range(50, 300)).unwrap());
        }
        c.advert_interval = if varied_intervals {
            Interval::from_centis(*rng.pick(&[50, 100, 200]).unwrap()).unwrap()
        } else {
            base_interval
        };
        if version == Version::V3 && rng.chance(300) {
            c.checksum_mode = ChecksumMode::V3AsV2;
        }
        if rng.chance(300) {
            c.tracks.push(Track::new("fault", 0));
            if rng.chance(600) {
                c.tracks.push(Track::new(
                    "down-lowers",
                    -i16::try_from(rng.range(10, 120)).unwrap(),
                ));
            }
            if rng.chance(500) {
                c.tracks.push(Track::new(
                    "up-raises",
                    i16::try_from(rng.range(5, 60)).unwrap(),
                ));
            }
        }
        if announce_refresh {
            let mut a = AnnounceSchedule::default();
            a.refresh = Centis::from_secs(7);
            a.delay = Centis::from_secs(2);
            c.announce = a;
        }
        c.strict_address_list = rng.chance(100);
        if unicast {
            c.unicast_peers = (0..n)
                .filter(|&j| j != i)
                .map(|j| node_address(j).unwrap())
                .collect();
        }
        nodes.push(c);
    }

    let mut net = NetConfig::default();
    net.latency_min = rng.duration(Duration::ZERO, ms(1));
    net.latency_max = net.latency_min + rng.duration(Duration::ZERO, ms(4));
    if rng.chance(200) {
        net.duplicate_permille = u16::try_from(rng.range(10, 100)).unwrap();
    }
    net.loopback = rng.chance(300);

    // Staggered starts sometimes; otherwise every node starts at time zero.
    let staggered = rng.chance(250);
    let mut faults = Vec::new();
    if staggered {
        for node in 0..n {
            faults.push((rng.duration(Duration::ZERO, secs(6.0)), Fault::Start(node)));
        }
    }
    // Three shapes of fault schedule: sparse (gaps often longer than the settle time, so
    // quiet windows occur between faults, partitions included), dense (many faults in a
    // short time) and bursts (several faults at one instant).
    let slowest = nodes
        .iter()
        .map(|c| c.advert_interval.as_centis().to_duration())
        .max()
        .unwrap();
    let mut at = Duration::ZERO;
    match rng.below(3) {
        0 => {
            for _ in 0..rng.range(1, 8) {
                at += rng.duration(Duration::ZERO, slowest * 16);
                let fault = random_fault(&mut rng, &nodes);
                faults.push((at, fault));
            }
        }
        1 => {
            let span = rng.duration(secs(5.0), secs(40.0));
            for _ in 0..rng.range(0, 16) {
                let fault = random_fault(&mut rng, &nodes);
                faults.push((rng.duration(Duration::ZERO, span), fault));
            }
            at = span;
        }
        _ => {
            for _ in 0..rng.range(1, 4) {
                at += rng.duration(Duration::ZERO, slowest * 12);
                for _ in 0..rng.range(2, 5) {
                    let fault = random_fault(&mut rng, &nodes);
                    faults.push((at, fault));
                }
            }
        }
    }
    let fault_phase = at.max(secs(5.0)) + rng.duration(Duration::ZERO, slowest * 6);
    // Repairs at the end of the fault phase: the network heals and loss stops; sometimes
    // everything comes back up, so the final quiet window sees the whole cluster.
    faults.push((fault_phase, Fault::Heal));
    faults.push((fault_phase, Fault::Loss(0)));
    if rng.chance(500) {
        for node in 0..n {
            faults.push((fault_phase, Fault::Link { node, up: true }));
            faults.push((fault_phase, Fault::Start(node)));
        }
    }
    let tail = rng.duration(secs(1.0), secs(8.0));
    // In time order, for reading; stable, so faults at one instant keep their order.
    faults.sort_by_key(|(at, _)| *at);
    Scenario {
        seed,
        staggered,
        nodes,
        net,
        faults,
        fault_phase,
        tail,
    }
}

/// One random fault against one of `nodes`.
fn random_fault(rng: &mut SimRng, nodes: &[InstanceConfig]) -> Fault {
    let n = nodes.len();
    let node = rng.index(n);
    let config = nodes.get(node).unwrap();
    match rng.below(18) {
        0 | 1 => Fault::Crash(node),
        2 | 3 => Fault::Start(node),
        4 => Fault::Restart(node),
        5 => {
            if rng.chance(500) {
                Fault::Stop(node)
            } else {
                Fault::Handover(node)
            }
        }
        16 | 17 => Fault::Resume(node),
        6 | 7 => {
            let choices: &[u8] = if config.preempt {
                &[1, 50, 100, 100, 150, 200, 254, 255]
            } else {
                &[1, 50, 100, 100, 150, 200, 254]
            };
            Fault::SetPriority {
                node,
                priority: Priority::new(*rng.pick(choices).unwrap()).unwrap(),
            }
        }
        8 | 9 => match rng.pick(&config.tracks) {
            Some(t) => Fault::Track {
                node,
                name: t.name.clone(),
                up: rng.chance(400),
            },
            None => Fault::Link {
                node,
                up: rng.chance(500),
            },
        },
        10 => Fault::Link {
            node,
            up: rng.chance(500),
        },
        11 | 12 => {
            let groups = u(rng.range(2, 3));
            let mut parts = vec![Vec::new(); groups];
            for j in 0..n {
                // Some nodes end up in no group: alone.
                let g = rng.index(groups + 1);
                if let Some(part) = parts.get_mut(g) {
                    part.push(j);
                }
            }
            Fault::Partition(parts)
        }
        13 => Fault::Heal,
        14 => {
            if rng.chance(300) {
                Fault::Loss(0)
            } else {
                Fault::Loss(u16::try_from(rng.range(10, 400)).unwrap())
            }
        }
        _ => {
            if rng.chance(300) {
                Fault::Duplicate(u16::try_from(rng.range(0, 200)).unwrap())
            } else {
                let min = rng.duration(Duration::ZERO, ms(2));
                Fault::Latency {
                    min,
                    max: min + rng.duration(Duration::ZERO, ms(8)),
                }
            }
        }
    }
}

impl Scenario {
    fn describe(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.nodes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  node{i}: {} prio {} {}{} interval {} {:?}{}{} tracks {:?}",
                c.version,
                c.priority,
                if c.preempt { "preempt" } else { "nopreempt" },
                if c.preempt_delay > Centis::ZERO {
                    format!(" delay {}", c.preempt_delay)
                } else {
                    String::new()
                },
                c.advert_interval,
                c.checksum_mode,
                if c.unicast_peers.is_empty() {
                    ""
                } else {
                    " unicast"
                },
                if c.password.is_some() { " auth" } else { "" },
                c.tracks
                    .iter()
                    .map(|t| format!("{}:{}", t.name, t.weight))
                    .collect::<Vec<_>>(),
            );
        }
        let _ = writeln!(
            out,
            "  net: latency {:?}..{:?} dup {}‰ loopback {}",
            self.net.latency_min,
            self.net.latency_max,
            self.net.duplicate_permille,
            self.net.loopback
        );
        for (at, fault) in &self.faults {
            let who = fault
                .node()
                .map_or_else(|| "net".to_owned(), |n| format!("node{n}"));
            let _ = writeln!(out, "  {:>9} {who:<6} {fault}", format_time(*at));
        }
        out
    }

    /// Runs the scenario; the simulation comes back with the verdict, for inspection.
    fn run(&self) -> (Simulation, Result<(), String>) {
        let mut config = SimConfig::new(self.seed);
        config.net = self.net.clone();
        config.autostart = !self.staggered;
        let mut sim = Simulation::new(origin(), config, self.nodes.clone())
            .unwrap_or_else(|e| panic!("seed {}: scenario is invalid: {e}", self.seed));
        for (at, fault) in &self.faults {
            sim.schedule(*at, fault.clone()).unwrap();
        }
        let verdict = (|| {
            sim.run_until(self.fault_phase).map_err(|v| v.to_string())?;
            // Quiet from here on: run through the settle time and a bit.
            let end = self.fault_phase + sim.settle_time() + self.tail;
            sim.run_until(end).map_err(|v| v.to_string())?;
            if !sim.is_quiet() {
                return Err("the end of the run is not a quiet window".to_owned());
            }
            if sim.stats().quiet_checks == 0 {
                return Err("no quiet-window check was made".to_owned());
            }
            sim.check_quiet_invariants().map_err(|v| v.to_string())
        })();
        (sim, verdict)
    }
}

fn repro(seed: u64) -> String {
    format!("VRRP_SIM_SEED={seed:#x} cargo test -p vrrp-core --release --test simulation")
}

fn tail_of_timeline(sim: &Simulation, lines: usize) -> String {
    let timeline = sim.timeline();
    let skip = timeline.len().saturating_sub(lines);
    timeline
        .iter()
        .skip(skip)
        .map(|e| format!("{e}\n"))
        .collect()
}

/// Runs one seed; on failure, a report with everything needed to reproduce it.
fn check_seed(seed: u64) -> Result<Totals, String> {
    let scenario = scenario(seed);
    let outcome = catch_unwind(AssertUnwindSafe(|| scenario.run()));
    match outcome {
        Ok((sim, Ok(()))) => Ok(Totals::of(&sim)),
        Ok((sim, Err(violation))) => Err(format!(
            "seed {seed:#x}: {violation}\nscenario:\n{}timeline (last 40):\n{}reproduce: {}",
            scenario.describe(),
            tail_of_timeline(&sim, 40),
            repro(seed)
        )),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!(
                "seed {seed:#x}: PANIC: {msg}\nscenario:\n{}reproduce: {}",
                scenario.describe(),
                repro(seed)
            ))
        }
    }
}

fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

/// The seed of random scenario `k` of the default sweep.
fn sweep_seed(k: u64) -> u64 {
    SimRng::new(0x5eed_5eed_5eed_5eed ^ k).next_u64()
}

/// What a sweep exercised.
#[derive(Default)]
struct Totals {
    cases: u64,
    steps: u64,
    faults: u64,
    quiet_checks: u64,
    delivered: u64,
    lost: u64,
    partitioned: u64,
    duplicated: u64,
    looped_back: u64,
    /// State changes by (to, reason), e.g. (MASTER, preempted).
    transitions: BTreeMap<(State, String), u64>,
}

impl Totals {
    fn of(sim: &Simulation) -> Self {
        let s = sim.stats();
        let mut transitions = BTreeMap::new();
        for e in sim.timeline() {
            if let TimelineEvent::StateChanged { to, reason, .. } = e.event {
                *transitions.entry((to, reason.to_string())).or_insert(0) += 1;
            }
        }
        Self {
            cases: 1,
            steps: s.steps,
            faults: s.faults,
            quiet_checks: s.quiet_checks,
            delivered: s.delivered,
            lost: s.lost,
            partitioned: s.partitioned,
            duplicated: s.duplicated,
            looped_back: s.looped_back,
            transitions,
        }
    }

    fn merge(&mut self, other: Self) {
        self.cases += other.cases;
        self.steps += other.steps;
        self.faults += other.faults;
        self.quiet_checks += other.quiet_checks;
        self.delivered += other.delivered;
        self.lost += other.lost;
        self.partitioned += other.partitioned;
        self.duplicated += other.duplicated;
        self.looped_back += other.looped_back;
        for (k, v) in other.transitions {
            *self.transitions.entry(k).or_insert(0) += v;
        }
    }

    fn count(&self, to: State, reason: Reason) -> u64 {
        self.transitions
            .get(&(to, reason.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

#[test]
fn random_scenarios_keep_every_invariant() {
    if let Ok(seed) = std::env::var("VRRP_SIM_SEED") {
        let seed = parse_seed(&seed).expect("VRRP_SIM_SEED is a decimal or 0x-hex u64");
        let scenario = scenario(seed);
        eprintln!("seed {seed:#x}:\n{}", scenario.describe());
        let (sim, verdict) = scenario.run();
        eprintln!("{}", sim.render_timeline());
        eprintln!("{:?}", sim.stats());
        if let Err(e) = verdict {
            panic!("seed {seed:#x}: {e}");
        }
        return;
    }
    let cases = std::env::var("VRRP_SIM_CASES")
        .ok()
        .map_or(DEFAULT_CASES, |v| {
            v.trim().parse().expect("VRRP_SIM_CASES is a number")
        });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let failures = Mutex::new(Vec::new());
    let totals = Mutex::new(Totals::default());
    let started = origin();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Totals::default();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= cases || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    match check_seed(sweep_seed(k)) {
                        Ok(totals) => mine.merge(totals),
                        Err(report) => {
                            failed.store(true, Ordering::Relaxed);
                            failures.lock().unwrap().push(report);
                        }
                    }
                }
                totals.lock().unwrap().merge(mine);
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    if let Some(first) = failures.first() {
        panic!(
            "{} of the random scenarios failed; the first:\n{first}",
            failures.len()
        );
    }
    let t = totals.into_inner().unwrap();
    eprintln!(
        "{} scenarios in {:.1?} on {threads} threads: {} steps, {} faults, {} quiet checks, \
         {} delivered, {} lost, {} partitioned, {} duplicated, {} looped back",
        t.cases,
        started.elapsed(),
        t.steps,
        t.faults,
        t.quiet_checks,
        t.delivered,
        t.lost,
        t.partitioned,
        t.duplicated,
        t.looped_back
    );
    for ((to, reason), n) in &t.transitions {
        eprintln!("  -> {to:<7} ({reason}): {n}");
    }
    // The sweep must actually exercise what it claims to: every way into Master and out of
    // it, every network fault, quiet windows.
    assert_eq!(t.cases, cases);
    if cases >= 1000 {
        for (to, reason) in [
            (State::Master, Reason::MasterDown),
            (State::Master, Reason::PriorityZero),
            (State::Master, Reason::Preempted),
            (State::Master, Reason::Owner),
            (State::Backup, Reason::HigherPriority),
            (State::Backup, Reason::Recovered),
            (State::Fault, Reason::TrackFailed),
            (State::Fault, Reason::LinkDown),
            (State::Initialize, Reason::Shutdown),
        ] {
            assert!(
                t.count(to, reason) >= cases / 100,
                "too few transitions to {to} ({reason}): {}",
                t.count(to, reason)
            );
        }
        assert!(t.faults >= 4 * cases, "too few faults");
        assert!(t.quiet_checks >= 20 * cases, "too few quiet-window checks");
        assert!(t.lost > 0 && t.partitioned > 0 && t.duplicated > 0 && t.looped_back > 0);
    }
}

#[test]
fn regression_seeds_keep_every_invariant() {
    let seeds: Vec<u64> = REGRESSIONS
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(|line| parse_seed(line).unwrap_or_else(|| panic!("bad seed line {line:?}")))
        .collect();
    assert!(!seeds.is_empty(), "sim-regressions.txt lists no seed");
    for seed in seeds {
        if let Err(report) = check_seed(seed) {
            panic!("regression {report}");
        }
    }
}

#[test]
fn same_seed_gives_the_same_trace() {
    let mut hashes = Vec::new();
    for k in 0..40 {
        let seed = sweep_seed(k);
        let s = scenario(seed);
        let (a, ra) = s.run();
        let (b, rb) = scenario(seed).run();
        assert_eq!(ra, rb, "seed {seed:#x}");
        assert_eq!(a.trace_hash(), b.trace_hash(), "seed {seed:#x}");
        assert_eq!(a.render_timeline(), b.render_timeline(), "seed {seed:#x}");
        assert_eq!(a.stats(), b.stats(), "seed {seed:#x}");
        assert_eq!(a.now(), b.now());
        hashes.push(a.trace_hash());
    }
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(
        hashes.len(),
        40,
        "different seeds should give different traces"
    );

    // Same nodes and schedule, another network seed: the trace changes (latencies differ).
    let nodes = vec![config(150), config(100), config(50)];
    let run = |seed| {
        let mut sim = Simulation::new(origin(), SimConfig::new(seed), nodes.clone()).unwrap();
        sim.run_until(secs(20.0)).unwrap();
        sim.trace_hash()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

// ----- 10 ms adverts: only the highest-priority live Backup takes over ------------------------

/// Scenarios of the 10 ms family per run (`VRRP_SIM_FAST_CASES=N` changes it).
const FAST_CASES: u64 = if cfg!(debug_assertions) { 200 } else { 2_000 };

/// Smallest gap between two priorities of the family: 20 priorities are at least 780 µs of
/// Skew_Time apart at 10 ms.
const MIN_GAP: u64 = 20;

/// Master_Down_Interval at 10 ms of `priority`, in µs, as RFC 5798 section 6.1 gives it.
fn mdi_10ms(priority: u8) -> Duration {
    us(30_000 + (256 - u64::from(priority)) * 10_000 / 256)
}

/// One scenario of the family: 3 to 6 VRRPv3 routers at 10 ms adverts with distinct
/// priorities, a jittery network whose worst case (latency plus jitter) is below the
/// Skew_Time difference of any two priorities, and the Master crashed one to n - 1 times in
/// a row, each crash hitting whoever is Master then; maybe the first one restarts.
struct FastFailover {
    priorities: Vec<u8>,
    net: NetConfig,
    /// (time, node): every crash, of the node expected to be Master then.
    crashes: Vec<(Duration, usize)>,
    restart: Option<Duration>,
    end: Duration,
}

fn fast_failover(seed: u64) -> FastFailover {
    let mut rng = SimRng::new(seed);
    let n = u(rng.range(3, 6));
    // n priorities in 1..=254, at least MIN_GAP apart: sorted offsets in the slack, plus the
    // gaps; then shuffled over the nodes so that node order says nothing.
    let slack = 253 - MIN_GAP * (n as u64 - 1);
    let mut offsets: Vec<u64> = (0..n).map(|_| rng.range(0, slack)).collect();
    offsets.sort_unstable();
    let mut priorities: Vec<u8> = offsets
        .iter()
        .enumerate()
        .map(|(k, o)| u8::try_from(1 + o + MIN_GAP * k as u64).unwrap())
        .collect();
    for i in (1..n).rev() {
        let j = rng.index(i + 1);
        priorities.swap(i, j);
    }
    // The smallest Skew_Time difference of two priorities bounds latency + jitter: a Backup's
    // advert must reach every lower one before its timer fires, however unequal the delays
    // with which each heard the crashed master's last advert.
    let mut sorted = priorities.clone();
    sorted.sort_unstable();
    let min_diff = sorted
        .windows(2)
        .map(|w| mdi_10ms(w[0]) - mdi_10ms(w[1]))
        .min()
        .unwrap();
    assert!(min_diff >= us(780), "{min_diff:?}");
    let latency_min = rng.duration(Duration::ZERO, us(300));
    let room = (min_diff - latency_min - us(1)) / 2;
    let jitter = rng.duration(Duration::ZERO, room.min(us(240)));
    let mut net = NetConfig::fixed_latency(latency_min);
    net.latency_max = latency_min + jitter;
    // Crash the current Master (the highest-priority live node) 1 to n - 1 times.
    let mut by_priority: Vec<usize> = (0..n).collect();
    by_priority.sort_by_key(|&i| std::cmp::Reverse(priorities[i]));
    let count = u(rng.range(1, n as u64 - 1));
    let mut at = ms(rng.range(500, 1500));
    let mut crashes = Vec::with_capacity(count);
    for &node in by_priority.iter().take(count) {
        crashes.push((at, node));
        at += ms(rng.range(150, 600));
    }
    let restart = rng.chance(500).then_some(at);
    let end = at + ms(500);
    FastFailover {
        priorities,
        net,
        crashes,
        restart,
        end,
    }
}

/// Runs one scenario of the family and checks its Backup -> Master transitions: at start-up
/// and after every crash, exactly one, by the highest-priority live node, in the window its
/// Master_Down_Interval allows; nobody else ever becomes Master. Returns the takeovers
/// checked.
fn check_fast_failover(seed: u64) -> Result<usize, String> {
    let sc = fast_failover(seed);
    let nodes: Vec<InstanceConfig> = sc
        .priorities
        .iter()
        .map(|&p| {
            let mut c = config(p);
            c.advert_interval = Interval::from_centis(1).unwrap();
            c
        })
        .collect();
    let mut cfg = SimConfig::new(seed);
    cfg.net = sc.net.clone();
    let mut sim = Simulation::new(origin(), cfg, nodes).unwrap();
    for &(at, node) in &sc.crashes {
        sim.schedule(at, Fault::Crash(node)).unwrap();
    }
    let first = sc.crashes[0].1;
    if let Some(at) = sc.restart {
        sim.schedule(at, Fault::Restart(first)).unwrap();
    }
    let describe = || {
        format!(
            "seed {seed:#x}: priorities {:?}, latency {:?}..{:?}, crashes {:?}, restart {:?} \
             (reproduce: VRRP_SIM_FAST_SEED={seed:#x} cargo test -p vrrp-core --release \
             --test simulation at_10_ms)",
            sc.priorities, sc.net.latency_min, sc.net.latency_max, sc.crashes, sc.restart
        )
    };
    sim.run_until(sc.end)
        .map_err(|v| format!("{}: {v}\n{}", describe(), sim.render_timeline()))?;

    let takeovers: Vec<(Duration, usize, Reason)> = sim
        .timeline()
        .iter()
        .filter_map(|e| match e.event {
            TimelineEvent::StateChanged {
                to: State::Master,
                reason,
                ..
            } => Some((e.at, e.node?, reason)),
            _ => None,
        })
        .collect();
    let fail = |what: String| format!("{}: {what}\n{}", describe(), sim.render_timeline());
    // Expected: the highest at start-up, then after each crash the highest still alive.
    let mut live: Vec<usize> = (0..sc.priorities.len()).collect();
    let highest = |live: &[usize]| {
        live.iter()
            .copied()
            .max_by_key(|&i| sc.priorities[i])
            .unwrap()
    };
    let mut expected = vec![(highest(&live), Reason::MasterDown)];
    for &(_, node) in &sc.crashes {
        live.retain(|&i| i != node);
        expected.push((highest(&live), Reason::MasterDown));
    }
    if sc.restart.is_some() {
        expected.push((first, Reason::Preempted));
    }
    let got: Vec<(usize, Reason)> = takeovers.iter().map(|&(_, n, r)| (n, r)).collect();
    if got != expected {
        return Err(fail(format!("takeovers {got:?}, expected {expected:?}")));
    }
    // Start-up: everyone starts at 0, the highest takes over one Master_Down_Interval later.
    let p0 = sc.priorities[expected[0].0];
    if takeovers[0].0 != mdi_10ms(p0) {
        return Err(fail(format!("start-up takeover at {:?}", takeovers[0].0)));
    }
    // After a crash at `tc`: the crashed master's adverts left every 10 ms from its own
    // takeover, the last one at `sent` < tc; the successor heard it latency_min..latency_max
    // later and took over one Master_Down_Interval after that.
    for (k, &(tc, _)) in sc.crashes.iter().enumerate() {
        let master_since = takeovers[k].0;
        let periods = (tc - master_since - us(1)).as_micros() / 10_000;
        let sent = master_since + us(u64::try_from(periods).unwrap() * 10_000);
        let (at, node, _) = takeovers[k + 1];
        let mdi = mdi_10ms(sc.priorities[node]);
        let window = sent + sc.net.latency_min + mdi..=sent + sc.net.latency_max + mdi;
        if !window.contains(&at) {
            return Err(fail(format!(
                "takeover {} at {at:?}, outside {window:?}",
                k + 1
            )));
        }
    }
    // A restarted highest-priority node starts as Backup, discards the lower Master's
    // adverts and preempts it exactly one Master_Down_Interval after its restart.
    if let Some(at) = sc.restart {
        let (preempted_at, _, _) = takeovers[takeovers.len() - 1];
        if preempted_at != at + mdi_10ms(sc.priorities[first]) {
            return Err(fail(format!("preempted at {preempted_at:?}")));
        }
    }
    let last = expected[expected.len() - 1].0;
    if sim.masters() != vec![last] {
        return Err(fail(format!("masters at the end: {:?}", sim.masters())));
    }
    Ok(takeovers.len())
}

/// The 10 ms family across many seeds: after every crash of the Master, only the
/// highest-priority live Backup takes over, never two at once (with whole-centisecond
/// Skew_Time every Backup had the same Master_Down_Interval at 10 ms, and the fastest to
/// hear the last advert won, or several did).
#[test]
fn at_10_ms_only_the_highest_priority_live_backup_takes_over() {
    if let Ok(seed) = std::env::var("VRRP_SIM_FAST_SEED") {
        let seed = parse_seed(&seed).expect("VRRP_SIM_FAST_SEED is a decimal or 0x-hex u64");
        match check_fast_failover(seed) {
            Ok(n) => eprintln!("seed {seed:#x}: {n} takeovers, all as expected"),
            Err(report) => panic!("{report}"),
        }
        return;
    }
    let cases = std::env::var("VRRP_SIM_FAST_CASES")
        .ok()
        .map_or(FAST_CASES, |v| {
            v.trim().parse().expect("VRRP_SIM_FAST_CASES is a number")
        });
    let mut takeovers = 0;
    let mut restarts = 0;
    let mut max_nodes = 0;
    for k in 0..cases {
        let seed = SimRng::new(0x10_0005 ^ k).next_u64();
        let sc = fast_failover(seed);
        restarts += usize::from(sc.restart.is_some());
        max_nodes = max_nodes.max(sc.priorities.len());
        match check_fast_failover(seed) {
            Ok(n) => takeovers += n,
            Err(report) => panic!("{report}"),
        }
    }
    eprintln!("{cases} scenarios at 10 ms: {takeovers} takeovers checked, {restarts} restarts");
    // The family exercises what it claims: several crashes per run, restarts, 6 nodes.
    assert!(takeovers as u64 >= 2 * cases, "{takeovers} takeovers");
    assert!(restarts > 0 && max_nodes == 6);
}

/// The family's bound is tight: with priorities one apart (39 µs of Skew_Time) and 1 ms of
/// jitter, the Backup that heard the last advert first can take over before a higher one,
/// and the quiet-window check sees two Masters or the wrong one. The family keeps latency
/// and jitter below the Skew_Time difference for that reason.
#[test]
fn at_10_ms_jitter_above_the_skew_difference_can_elect_the_wrong_backup() {
    let mut wrong = 0;
    for seed in 0..40 {
        let nodes: Vec<InstanceConfig> = [200, 101, 100]
            .into_iter()
            .map(|p| {
                let mut c = config(p);
                c.advert_interval = Interval::from_centis(1).unwrap();
                c
            })
            .collect();
        let mut cfg = SimConfig::new(seed);
        cfg.net = NetConfig::fixed_latency(us(0));
        cfg.net.latency_max = ms(1);
        cfg.check_quiet = false;
        let mut sim = Simulation::new(origin(), cfg, nodes).unwrap();
        sim.schedule(ms(500), Fault::Crash(0)).unwrap();
        sim.run_until(ms(700)).unwrap();
        let first_after_crash = sim.timeline().iter().find_map(|e| match e.event {
            TimelineEvent::StateChanged {
                to: State::Master, ..
            } if e.at > ms(500) => e.node,
            _ => None,
        });
        if first_after_crash == Some(2) {
            wrong += 1;
        }
    }
    assert!(wrong > 0, "the 100 never beat the 101 with 1 ms of jitter");
}

// ----- scripted scenarios ----------------------------------------------------------------------

/// State changes of one node: (time, from, to, reason).
fn changes(sim: &Simulation, node: usize) -> Vec<(Duration, State, State, Reason)> {
    sim.timeline()
        .iter()
        .filter(|e| e.node == Some(node))
        .filter_map(|e| match e.event {
            TimelineEvent::StateChanged { from, to, reason } => Some((e.at, from, to, reason)),
            _ => None,
        })
        .collect()
}

fn three_nodes(seed: u64) -> Simulation {
    let mut c = SimConfig::new(seed);
    c.net = NetConfig::fixed_latency(ms(1));
    Simulation::new(origin(), c, vec![config(150), config(100), config(50)]).unwrap()
}

#[test]
fn master_crash_fails_over_within_master_down_interval_and_restart_preempts_back() {
    let mut sim = three_nodes(1);
    sim.run_until(secs(9.9)).unwrap();
    // Master_Down_Interval = 3 s + (256 - 150) / 256 s = 3.414062 s: node0 first.
    assert_eq!(
        changes(&sim, 0),
        vec![
            (
                Duration::ZERO,
                State::Initialize,
                State::Backup,
                Reason::Startup
            ),
            (
                us(3_414_062),
                State::Backup,
                State::Master,
                Reason::MasterDown
            ),
        ]
    );
    assert_eq!(sim.masters(), vec![0]);
    assert_eq!(sim.held_vips(0), &[vip(100)]);
    assert!(sim.held_vips(1).is_empty() && sim.held_vips(2).is_empty());
    let mdi1 = sim.instance(1).unwrap().master_down_interval();
    assert_eq!(mdi1, Micros(3_609_375)); // 3 s + (256 - 100) / 256 s

    sim.schedule(secs(10.0), Fault::Crash(0)).unwrap();
    sim.run_until(secs(19.9)).unwrap();
    // node0's last advert left at 9.414062 s and arrived at 9.415062 s: node1 takes over
    // exactly one Master_Down_Interval later, less than that after the crash; node2 stays
    // Backup.
    let takeover = us(9_415_062) + mdi1.to_duration();
    assert_eq!(takeover, us(13_024_437));
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(takeover, State::Backup, State::Master, Reason::MasterDown))
    );
    assert!(takeover - secs(10.0) <= mdi1.to_duration());
    assert_eq!(changes(&sim, 2).len(), 1, "node2 only started");
    assert_eq!(sim.masters(), vec![1]);
    assert_eq!(sim.state(0), None);
    assert!(sim.held_vips(0).is_empty());
    assert_eq!(sim.held_vips(1), &[vip(100)]);

    // node0 comes back: Backup, ignores node1's lower adverts, preempts after 3.414062 s.
    sim.schedule(secs(20.0), Fault::Restart(0)).unwrap();
    sim.run_until(secs(30.0)).unwrap();
    assert_eq!(
        changes(&sim, 0)[2..],
        [
            (
                secs(20.0),
                State::Initialize,
                State::Backup,
                Reason::Startup
            ),
            (
                us(23_414_062),
                State::Backup,
                State::Master,
                Reason::Preempted
            ),
        ]
    );
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(23_415_062),
            State::Master,
            State::Backup,
            Reason::HigherPriority
        ))
    );
    assert_eq!(sim.masters(), vec![0]);
    assert_eq!(sim.stats().transitions, 8);
    assert!(sim.stats().quiet_checks > 0);
    // Without a master: 3.414062 s at startup, then from the crash to node1's takeover.
    assert_eq!(
        sim.stats().time_without_master,
        us(3_414_062) + us(3_024_437)
    );
}

#[test]
fn partition_gives_one_master_per_side_and_heal_leaves_exactly_one() {
    let mut sim = three_nodes(2);
    sim.schedule(secs(10.0), Fault::Partition(vec![vec![0], vec![1, 2]]))
        .unwrap();
    sim.schedule(secs(20.0), Fault::Heal).unwrap();
    sim.run_until(secs(19.9)).unwrap();
    // Each side has its master; the quiet check ran per component during the partition.
    assert_eq!(sim.masters(), vec![0, 1]);
    assert_eq!(sim.components(), vec![vec![0], vec![1, 2]]);
    assert!(sim.is_quiet());
    let checks_during_partition = sim.stats().quiet_checks;
    assert!(checks_during_partition > 0);
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(13_024_437),
            State::Backup,
            State::Master,
            Reason::MasterDown
        ))
    );

    sim.run_until(secs(40.0)).unwrap();
    // After the heal, node1's advert (sent 20.024437 s) reaches node0 1 ms later, which
    // answers at once; node1 steps down at 20.026437 s.
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(20_026_437),
            State::Master,
            State::Backup,
            Reason::HigherPriority
        ))
    );
    assert_eq!(sim.masters(), vec![0]);
    assert_eq!(sim.components(), vec![vec![0, 1, 2]]);
    assert!(sim.stats().quiet_checks > checks_during_partition);
    assert_eq!(sim.state(2), Some(State::Backup));
    assert!(sim.stats().partitioned > 0);
}

#[test]
fn graceful_stop_hands_over_after_skew_time() {
    let mut sim = three_nodes(3);
    sim.schedule(secs(10.0), Fault::Stop(0)).unwrap();
    sim.run_until(secs(20.0)).unwrap();
    // The priority-0 advert arrives at 10.001 s; node1's Skew_Time is 0.609375 s.
    assert_eq!(
        changes(&sim, 0).last(),
        Some(&(
            secs(10.0),
            State::Master,
            State::Initialize,
            Reason::Shutdown
        ))
    );
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(10_610_375),
            State::Backup,
            State::Master,
            Reason::PriorityZero
        ))
    );
    assert_eq!(sim.masters(), vec![1]);
    assert_eq!(sim.state(0), None);
    assert_eq!(sim.instance(1).unwrap().stats().rcvd_pri_zero_packets, 1);

    // Resumed with the same instance (handle_startup after handle_shutdown): it starts
    // over as Backup and preempts node1 one Master_Down_Interval later.
    sim.schedule(secs(20.0), Fault::Resume(0)).unwrap();
    sim.run_until(secs(30.0)).unwrap();
    assert_eq!(
        changes(&sim, 0)[3..],
        [
            (
                secs(20.0),
                State::Initialize,
                State::Backup,
                Reason::Startup
            ),
            (
                us(23_414_062),
                State::Backup,
                State::Master,
                Reason::Preempted
            ),
        ]
    );
    assert_eq!(sim.masters(), vec![0]);
    // The same instance: its counters survived the stop.
    assert_eq!(sim.instance(0).unwrap().stats().master_transitions, 2);
    assert_eq!(sim.instance(0).unwrap().stats().sent_pri_zero_packets, 1);
}

/// Make-before-break: the old master keeps the VIP until the new master's advert reaches it,
/// so some node holds the VIP at every instant of the handover.
#[test]
fn handover_keeps_the_vip_until_the_successor_speaks() {
    let mut sim = three_nodes(3);
    sim.schedule(secs(10.0), Fault::Handover(0)).unwrap();
    let mut holders_seen = Vec::new();
    while sim.now() < secs(13.0) {
        let step = sim.next_step_at().unwrap();
        sim.run_until(step).unwrap();
        if sim.now() >= secs(10.0) {
            let holders: Vec<usize> = (0..3).filter(|&i| !sim.held_vips(i).is_empty()).collect();
            assert!(
                !holders.is_empty(),
                "nobody held the VIP at {:?}",
                sim.now()
            );
            holders_seen.push(holders);
        }
    }
    // node1 takes over after its Skew_Time (priority 0 arrives at 10.001 s, + 0.609375 s);
    // its advert reaches node0 1 ms later, which then releases.
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(10_610_375),
            State::Backup,
            State::Master,
            Reason::PriorityZero
        ))
    );
    assert_eq!(
        changes(&sim, 0).last(),
        Some(&(
            us(10_611_375),
            State::Master,
            State::Initialize,
            Reason::Shutdown
        ))
    );
    assert!(
        holders_seen.iter().any(|h| h == &vec![0, 1]),
        "no overlap: {holders_seen:?}"
    );
    assert_eq!(sim.masters(), vec![1]);
    assert_eq!(sim.state(0), None, "node0 is down after its handover");
    assert_eq!(sim.instance(1).unwrap().stats().rcvd_pri_zero_packets, 1);
}

#[test]
fn tracked_objects_fault_and_lower_priority() {
    // node0 has a fault track (weight 0) and a -60 track.
    let mut c0 = config(150);
    c0.tracks = vec![Track::new("kubelet", 0), Track::new("api", -60)];
    let mut sc = SimConfig::new(4);
    sc.net = NetConfig::fixed_latency(ms(1));
    let mut sim = Simulation::new(origin(), sc, vec![c0, config(100), config(50)]).unwrap();
    let track = |name: &str, up| Fault::Track {
        node: 0,
        name: name.to_owned(),
        up,
    };
    sim.schedule(secs(10.0), track("kubelet", false)).unwrap();
    sim.schedule(secs(15.0), track("kubelet", true)).unwrap();
    sim.run_until(secs(25.0)).unwrap();
    assert_eq!(
        changes(&sim, 0)[2..],
        [
            (secs(10.0), State::Master, State::Fault, Reason::TrackFailed),
            (secs(15.0), State::Fault, State::Backup, Reason::Recovered),
            (
                us(18_414_062),
                State::Backup,
                State::Master,
                Reason::Preempted
            ),
        ]
    );
    // node0 resigned with priority 0, so node1 took over after its Skew_Time.
    assert_eq!(
        changes(&sim, 1)[1..],
        [
            (
                us(10_610_375),
                State::Backup,
                State::Master,
                Reason::PriorityZero
            ),
            (
                us(18_415_062),
                State::Master,
                State::Backup,
                Reason::HigherPriority
            ),
        ]
    );

    // The -60 track: node0's effective priority 90 is below node1's 100; node0 advertises it
    // at once, node1 discards it and preempts when its Master_Down_Timer (last reset by the
    // advert of 24.414062 s, arriving 24.415062 s) fires, 3.609375 s later.
    sim.schedule(secs(25.0), track("api", false)).unwrap();
    sim.run_until(secs(40.0)).unwrap();
    assert_eq!(sim.instance(0).unwrap().effective_priority(), 90);
    assert_eq!(
        changes(&sim, 1).last(),
        Some(&(
            us(28_024_437),
            State::Backup,
            State::Master,
            Reason::Preempted
        ))
    );
    assert_eq!(
        changes(&sim, 0).last(),
        Some(&(
            us(28_025_437),
            State::Master,
            State::Backup,
            Reason::HigherPriority
        ))
    );
    assert_eq!(sim.masters(), vec![1]);

    // A crash and restart keep the environment: the track is still down.
    sim.schedule(secs(40.0), Fault::Restart(0)).unwrap();
    sim.run_until(secs(50.0)).unwrap();
    assert_eq!(sim.instance(0).unwrap().effective_priority(), 90);
    assert_eq!(sim.masters(), vec![1]);
}

#[test]
fn nopreempt_keeps_the_master_and_link_down_isolates() {
    // node1 (100) is nopreempt and comes up first; node0 (150) nopreempt too.
    let mut c0 = config(150);
    c0.preempt = false;
    let mut c1 = config(100);
    c1.preempt = false;
    let mut sc = SimConfig::new(5);
    sc.net = NetConfig::fixed_latency(ms(1));
    sc.autostart = false;
    let mut sim = Simulation::new(origin(), sc, vec![c0, c1]).unwrap();
    sim.schedule(Duration::ZERO, Fault::Start(1)).unwrap();
    sim.schedule(secs(10.0), Fault::Start(0)).unwrap();
    sim.run_until(secs(30.0)).unwrap();
    assert_eq!(sim.masters(), vec![1], "nopreempt: the first master stays");
    assert_eq!(changes(&sim, 0).len(), 1);

    // node1's link goes down: Fault, isolated; node0 takes over.
    sim.schedule(secs(30.0), Fault::Link { node: 1, up: false })
        .unwrap();
    sim.run_until(secs(40.0)).unwrap();
    assert_eq!(sim.state(1), Some(State::Fault));
    assert_eq!(sim.masters(), vec![0]);
    assert_eq!(sim.components(), vec![vec![0], vec![1]]);
    assert!(sim.held_vips(1).is_empty());
}

#[test]
fn the_checker_catches_split_brain_and_rejected_adverts() {
    // A VRRPv3 and a VRRPv2 router drop each other's adverts: both become Master.
    let mut v2 = config(100);
    v2.version = Version::V2;
    let nodes = vec![config(150), v2];

    let mut lenient = SimConfig::new(6);
    lenient.strict_rx = false;
    let mut sim = Simulation::new(origin(), lenient, nodes.clone()).unwrap();
    let settle = sim.settle_time();
    let v = sim.run_until(secs(30.0)).unwrap_err();
    assert_eq!(v.invariant, Invariant::MultipleMasters);
    // Caught at the first step of the first quiet window (the next advert).
    assert!(v.at >= settle && v.at < settle + secs(1.0), "{v}");
    assert_eq!(v.seed, 6);
    assert!(sim.stats().rejected > 0);
    let text = v.to_string();
    assert!(text.starts_with("[multiple-masters] at "), "{text}");
    assert!(text.contains("(seed 0x6)"), "{text}");

    let mut sim = Simulation::new(origin(), SimConfig::new(6), nodes).unwrap();
    let v = sim.run_until(secs(30.0)).unwrap_err();
    assert_eq!(v.invariant, Invariant::RejectedAdvert);
    assert_eq!(v.node, Some(1));
    assert!(
        v.detail.contains("VRRPv3 advert for a VRRPv2 instance"),
        "{v}"
    );
}

#[test]
fn lossy_network_needs_no_quiet_check_and_recovers() {
    let mut sc = SimConfig::new(7);
    sc.net.loss_permille = 500;
    let mut sim = Simulation::new(origin(), sc, vec![config(150), config(100)]).unwrap();
    sim.run_until(secs(60.0)).unwrap();
    assert!(!sim.is_quiet());
    assert_eq!(sim.stats().quiet_checks, 0);
    assert!(sim.stats().lost > 10);
    sim.schedule(secs(60.0), Fault::Loss(0)).unwrap();
    sim.run_until(secs(80.0)).unwrap();
    assert!(sim.is_quiet());
    assert_eq!(sim.masters(), vec![0]);
}

#[test]
fn invalid_setups_are_refused() {
    let v6 = InstanceConfig::new(Vrid::new(1).unwrap(), vec!["fd00::1".parse().unwrap()]);
    assert_eq!(
        Simulation::new(origin(), SimConfig::new(0), vec![config(100), v6]).unwrap_err(),
        SimError::Family { node: 1 }
    );
    let other = InstanceConfig::new(Vrid::new(52).unwrap(), vec![vip(100)]);
    assert!(matches!(
        Simulation::new(origin(), SimConfig::new(0), vec![config(100), other]),
        Err(SimError::Vrid { node: 1, .. })
    ));
    assert!(matches!(
        Simulation::new(origin(), SimConfig::new(0), Vec::new()),
        Err(SimError::NodeCount { count: 0 })
    ));
    let mut sim = three_nodes(0);
    assert_eq!(
        sim.schedule(secs(1.0), Fault::Crash(3)),
        Err(SimError::NoSuchNode { node: 3 })
    );
    assert_eq!(
        sim.schedule(secs(1.0), Fault::Partition(vec![vec![0, 9]])),
        Err(SimError::NoSuchNode { node: 9 })
    );
}

#[test]
fn timeline_reads_well() {
    let mut sim = three_nodes(1);
    sim.schedule(secs(5.0), Fault::Crash(0)).unwrap();
    sim.run_until(secs(10.0)).unwrap();
    let text = sim.render_timeline();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"   3.414s  node0  BACKUP -> MASTER  (master down timer expired)"),
        "{text}"
    );
    assert!(lines.contains(&"   5.000s  node0  ** crash"), "{text}");
    let entry = TimelineEntry {
        at: ms(20_013),
        node: None,
        event: TimelineEvent::Fault(Fault::Partition(vec![vec![0], vec![1, 2]])),
    };
    assert_eq!(
        entry.to_string(),
        "  20.013s  net    ** partition {0} {1 2}"
    );
}
