//! Fuzz target: arbitrary sequences of inputs and commands drive a `vrrp_core::Router`, and
//! the always-invariants of DESIGN.md section 5 are checked after every step.
//!
//! The input is decoded with `arbitrary` into [`Input`]: up to four instance
//! configurations (on interfaces 0 and 1, VRIDs 51, 52 and 1, IPv4 or IPv6, VRRPv2 or v3,
//! any priority, interval, preemption, tracks, unicast peers, announcement schedule,
//! password, strictness, hop-limit relaxation and primary address), then up to 256 steps:
//! time passing, timeouts (on time, late, or spurious), received packets (adverts built from
//! fuzzed fields and emitted with a right checksum, optionally with bytes flipped, or raw
//! bytes; on interfaces 0 to 2, from the addresses of the keepalived captures or foreign
//! ones, to the group, a unicast address or the other family, with any hop limit), priority,
//! track, link and primary-address changes, and startup, shutdown and handover of the whole
//! router or of one instance. `fuzz/make-corpus.py` writes seeds in this encoding that replay
//! the keepalived 2.2.7 captures against matching instances.
//!
//! Every action is checked as it is drained (the documented order, and the model below),
//! and after every step:
//!
//! - an instance holds all of its virtual addresses if it is Master and none otherwise; an
//!   address is never added while held nor removed while not held;
//! - `StateChanged.from` is the state the previous actions left, `to` differs from it, and
//!   the instance's `state()` is what its actions said;
//! - addresses are added and announced only as Master and removed only after leaving it;
//!   an advertisement comes from the instance's primary address, to the group or a
//!   configured peer, carries a right checksum (checked with the real functions: the fuzzing
//!   build's `parse` skips it), its VRID and its stated priority; a non-zero priority only
//!   from a Master, priority 0 only from a router that left Master or opened a handover;
//! - actions of one step come in the documented order per instance (`StateChanged`, then
//!   `AddVip`s, `SendAdvertisement`s, `Announce`s, `RemoveVip`s);
//! - a started instance is in Fault exactly when `fault()` says it is ineligible; a Backup
//!   or Master has a timer running;
//! - after `handle_timeout(now)`, no deadline is at or before `now`;
//! - a packet never makes a router Master; it makes a Master a Backup only if it is an
//!   advert that outranks it (higher priority, or equal priority from a higher address,
//!   RFC 5798 section 6.4.3); a dropped packet (an `Err`) and a failed command emit no action
//!   (and so, by the checks above, leave the state as it was);
//! - nothing panics.

#![no_main]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vrrp_core::{
    Action, Addresses, Advertisement, AnnounceSchedule, Auth, Centis, ChecksumMode, Endpoints,
    Family, InstanceConfig, InstanceKey, Interval, Password, Priority, Received, Router, State,
    Track, Version, Vrid,
};
use vrrp_fuzz::checksum_ok;

const MAX_INSTANCES: usize = 4;
const MAX_STEPS: usize = 256;
/// VRIDs instances and adverts choose from: the captures' 51, a neighbour, and 1.
const VRIDS: [u8; 3] = [51, 52, 1];
/// Names of the tracked objects of an instance, by index; `set_track` may also name
/// `TRACKS[3]`, which no instance has.
const TRACKS: [&str; 4] = ["t0", "t1", "t2", "absent"];

/// Address `index` (modulo 5) of a family: the keepalived captures' sender (10.99.0.11,
/// fe80::99:ff:fe00:b) and its peers, then for IPv4 10.99.0.14 and a foreign 10.98.0.1,
/// and for IPv6 the global addresses of the unicast capture (fd00:99::11 to ::12).
fn host(family: Family, index: u8) -> IpAddr {
    let i = index % 5;
    match family {
        Family::Ipv4 if i == 4 => IpAddr::V4(Ipv4Addr::new(10, 98, 0, 1)),
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11 + i)),
        Family::Ipv6 if i >= 3 => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x99,
            0,
            0,
            0,
            0,
            0,
            0x11 + u16::from(i - 3),
        )),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            0x99,
            0xff,
            0xfe00,
            0xb + u16::from(i),
        )),
    }
}

/// Virtual address `index` (0 to 3): the captures' .100 to .102, and one more.
fn vip(family: Family, index: u8) -> IpAddr {
    let i = index % 4;
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100 + i)),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0x99,
            0,
            0,
            0,
            0,
            0,
            0x100 + u16::from(i),
        )),
    }
}

fn family(ipv6: bool) -> Family {
    if ipv6 { Family::Ipv6 } else { Family::Ipv4 }
}

/// The captures' password, or another one.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Secret {
    Captured,
    Other,
}

impl Secret {
    fn password(self) -> Password {
        let text: &[u8] = match self {
            Self::Captured => b"secret12",
            Self::Other => b"x",
        };
        Password::new(text).unwrap_or_else(|| unreachable!("1 to 8 bytes"))
    }
}

#[derive(Arbitrary, Debug)]
struct TrackSpec {
    /// -127 to 127, times two: 0 means "fault when down".
    weight: i8,
    initially_up: bool,
}

/// One instance's configuration, mapped into ranges where interesting things happen.
#[derive(Arbitrary, Debug)]
struct Spec {
    interface: bool,
    vrid: u8,
    ipv6: bool,
    v2: bool,
    priority: u8,
    /// VRRPv3: 1 + this % 300 centiseconds; VRRPv2: 1 to 3 s.
    interval: u16,
    preempt: bool,
    /// Tenths of a second, when not zero.
    preempt_delay: u8,
    /// 1 to 4 addresses.
    vips: u8,
    unicast: Option<[u8; 2]>,
    checksum_as_v2: bool,
    strict: bool,
    password: Option<Secret>,
    /// Tenths of a second, 0 for none.
    garp_delay: u8,
    garp_repeat: u8,
    garp_refresh: u8,
    garp_refresh_repeat: u8,
    tracks: [Option<TrackSpec>; 3],
    /// Index of the primary address (see [`host`]), or none.
    primary: Option<u8>,
    relaxed_hop_limit: Option<u8>,
}

impl Spec {
    fn family(&self) -> Family {
        family(self.ipv6)
    }

    fn config(&self) -> Option<InstanceConfig> {
        let f = self.family();
        let vips = (0..=self.vips % 4).map(|i| vip(f, i)).collect();
        let mut c = InstanceConfig::new(Vrid::new(VRIDS[usize::from(self.vrid % 3)])?, vips);
        c.version = if self.v2 { Version::V2 } else { Version::V3 };
        c.priority = Priority::new(self.priority.max(1))?;
        c.advert_interval = if self.v2 {
            Interval::from_secs(1 + (self.interval % 3) as u8)?
        } else {
            Interval::from_centis(1 + self.interval % 300)?
        };
        c.preempt = self.preempt;
        c.preempt_delay = Centis(u32::from(self.preempt_delay % 50) * 10);
        if let Some(peers) = self.unicast {
            c.unicast_peers = peers.iter().map(|p| host(f, *p % 4)).collect();
        }
        if self.checksum_as_v2 {
            c.checksum_mode = ChecksumMode::V3AsV2;
        }
        c.strict_address_list = self.strict;
        c.password = self.password.map(Secret::password);
        let mut announce = AnnounceSchedule::default();
        announce.delay = Centis(u32::from(self.garp_delay % 60) * 10);
        announce.repeat = self.garp_repeat % 6;
        announce.refresh = Centis(u32::from(self.garp_refresh % 60) * 10);
        announce.refresh_repeat = self.garp_refresh_repeat % 3;
        c.announce = announce;
        for (i, t) in self.tracks.iter().enumerate() {
            if let Some(t) = t {
                let mut track = Track::new(TRACKS[i], i16::from(t.weight) * 2);
                track.initially_up = t.initially_up;
                c.tracks.push(track);
            }
        }
        if let Some(h) = self.relaxed_hop_limit {
            c.unicast_min_hop_limit = h;
        }
        Some(c)
    }
}

#[derive(Arbitrary, Debug)]
enum Dst {
    /// The family's VRRP multicast group.
    Group,
    /// A unicast address of the family (see [`host`]).
    Unicast(u8),
    /// The other family's group: a mixed-family packet.
    OtherFamily,
}

#[derive(Arbitrary, Debug)]
enum AdvertAddresses {
    /// The virtual addresses an instance with this many (1 to 4) has.
    Like(u8),
    /// Some of the family's virtual addresses, by index, in this order.
    Some(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum AdvertAuth {
    None,
    Password(Secret),
    Unsupported { auth_type: u8, data: [u8; 8] },
}

#[derive(Arbitrary, Debug)]
enum Body {
    /// An advert from these fields, emitted with a right checksum (raw bytes if they do not
    /// emit), then with `flips` applied: (offset modulo the length, xor mask).
    Advert {
        v2: bool,
        vrid: u8,
        priority: u8,
        interval: u16,
        addresses: AdvertAddresses,
        auth: AdvertAuth,
        checksum_as_v2: bool,
        flips: Vec<(u16, u8)>,
    },
    /// These bytes as the VRRP message.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Packet {
    /// 0 to 2; only 0 and 1 have instances.
    interface: u8,
    ipv6: bool,
    /// The source (see [`host`]).
    src: u8,
    dst: Dst,
    /// `None` for 255.
    hop_limit: Option<u8>,
    body: Body,
}

/// Which instance a command reaches: index modulo the instances added.
type Target = u8;

#[derive(Arbitrary, Debug)]
enum Step {
    /// Time passes, in centiseconds, with nothing handled.
    Advance(u16),
    /// The next deadline passes (if any) and `handle_timeout` runs then.
    Timeout,
    /// `handle_timeout` runs this many centiseconds after the next deadline (a late wake-up).
    LateTimeout(u8),
    /// A spurious `handle_timeout` now.
    SpuriousTimeout,
    Packet(Packet),
    SetPriority(Target, u8),
    SetTrack(Target, u8, bool),
    SetLinkUp(Target, bool),
    SetPrimary(Target, Option<u8>),
    Startup,
    Shutdown,
    Handover,
    StartupOne(Target),
    ShutdownOne(Target),
    HandoverOne(Target),
}

#[derive(Arbitrary, Debug)]
struct Input {
    specs: Vec<Spec>,
    steps: Vec<Step>,
}

/// What the actions of one instance said so far.
struct Model {
    key: InstanceKey,
    vips: Vec<IpAddr>,
    peers: Vec<IpAddr>,
    mode: ChecksumMode,
    held: BTreeSet<IpAddr>,
    state: State,
}

/// What caused the actions of a step.
#[derive(Clone, Copy)]
enum Cause {
    /// A packet, for the instance the router routes it to (if any).
    Packet {
        key: Option<InstanceKey>,
    },
    Other,
}

/// The rank of an action in the documented order of one step.
fn rank(action: &Action) -> u8 {
    match action {
        Action::StateChanged { .. } => 0,
        Action::AddVip(_) => 1,
        Action::SendAdvertisement(_) => 2,
        Action::Announce(_) => 3,
        Action::RemoveVip(_) => 4,
        _ => 5,
    }
}

/// Whether `ROUTER_INPUTS_TRACE` is set: then every step and action is printed to stderr
/// (to read a crash or a seed: `ROUTER_INPUTS_TRACE=1 cargo fuzz run -s none router_inputs
/// FILE`).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ROUTER_INPUTS_TRACE").is_some())
}

struct Harness {
    router: Router,
    models: Vec<Model>,
    now: Instant,
}

impl Harness {
    /// Drains the router's actions.
    fn take_actions(&mut self) -> Vec<(InstanceKey, Action)> {
        std::iter::from_fn(|| self.router.poll_action()).collect()
    }

    /// Checks the actions of one step against the model, then every instance.
    fn check(&mut self, actions: &[(InstanceKey, Action)], cause: Cause) {
        if trace() {
            for (key, action) in actions {
                eprintln!(
                    "  {}/{}/{}: {action:?}",
                    key.interface, key.vrid, key.family
                );
            }
        }
        let mut last_rank = vec![0u8; self.models.len()];
        for (key, action) in actions {
            let key = *key;
            let i = self
                .models
                .iter()
                .position(|m| m.key == key)
                .unwrap_or_else(|| panic!("an action of unknown instance {key:?}"));
            let r = rank(action);
            assert!(
                r >= last_rank[i],
                "{key:?}: {action:?} after an action of rank {} in one step",
                last_rank[i]
            );
            last_rank[i] = r;
            let instance = self
                .router
                .instance(&key)
                .unwrap_or_else(|| panic!("no instance {key:?}"));
            let primary = instance.primary_address();
            let releasing = instance.is_releasing();
            let vrid = instance.config().vrid;
            let version = instance.config().version;
            let m = &mut self.models[i];
            match action {
                Action::StateChanged { from, to, .. } => {
                    assert_eq!(
                        *from, m.state,
                        "{key:?}: StateChanged from {from} but the state was {}",
                        m.state
                    );
                    assert_ne!(from, to, "{key:?}: StateChanged to the same state");
                    if let Cause::Packet { key: target, .. } = cause {
                        assert_eq!(target, Some(key), "a packet for {target:?} moved {key:?}");
                        assert_ne!(*to, State::Master, "{key:?}: a packet made it Master");
                        assert_eq!(
                            *from,
                            State::Master,
                            "{key:?}: a packet moved it from {from}"
                        );
                    }
                    m.state = *to;
                }
                Action::AddVip(a) => {
                    assert_eq!(
                        m.state,
                        State::Master,
                        "{key:?}: AddVip({a}) as {}",
                        m.state
                    );
                    assert!(m.vips.contains(a), "{key:?}: AddVip({a}) not configured");
                    assert!(m.held.insert(*a), "{key:?}: AddVip({a}) already held");
                }
                Action::RemoveVip(a) => {
                    assert_ne!(m.state, State::Master, "{key:?}: RemoveVip({a}) as Master");
                    assert!(m.held.remove(a), "{key:?}: RemoveVip({a}) not held");
                }
                Action::Announce(a) => {
                    assert_eq!(
                        m.state,
                        State::Master,
                        "{key:?}: Announce({a}) as {}",
                        m.state
                    );
                    assert!(m.vips.contains(a), "{key:?}: Announce({a}) not configured");
                }
                Action::SendAdvertisement(tx) => {
                    assert_eq!(Some(tx.src), primary, "{key:?}: advert from {}", tx.src);
                    if m.peers.is_empty() {
                        let group = key.family.multicast_group();
                        assert_eq!(tx.dst, group, "{key:?}: multicast advert to {}", tx.dst);
                    } else {
                        assert!(m.peers.contains(&tx.dst), "{key:?}: advert to {}", tx.dst);
                    }
                    let at = Endpoints {
                        src: tx.src,
                        dst: tx.dst,
                    };
                    assert!(
                        checksum_ok(&tx.payload, version, at, m.mode),
                        "{key:?}: advert with a wrong checksum"
                    );
                    let adv = Advertisement::parse(&tx.payload, at, m.mode)
                        .unwrap_or_else(|e| panic!("{key:?}: own advert does not parse: {e}"));
                    assert_eq!(adv.vrid, vrid, "{key:?}: advert of another VRID");
                    assert_eq!(adv.priority, tx.priority, "{key:?}: priority misreported");
                    if tx.priority == 0 {
                        assert!(
                            m.state != State::Master || releasing,
                            "{key:?}: priority 0 from a Master not handing over"
                        );
                    } else {
                        assert_eq!(
                            m.state,
                            State::Master,
                            "{key:?}: priority {} advert as {}",
                            tx.priority,
                            m.state
                        );
                    }
                }
                other => panic!("{key:?}: an unknown action {other:?}"),
            }
        }
        self.check_instances();
    }

    /// The invariants of every instance between steps.
    fn check_instances(&self) {
        for m in &self.models {
            let key = m.key;
            let instance = self
                .router
                .instance(&key)
                .unwrap_or_else(|| panic!("no instance {key:?}"));
            assert_eq!(
                instance.state(),
                m.state,
                "{key:?}: state() disagrees with its actions"
            );
            if m.state == State::Master {
                let all: BTreeSet<IpAddr> = m.vips.iter().copied().collect();
                assert_eq!(m.held, all, "{key:?}: Master without all of its addresses");
            } else {
                assert!(m.held.is_empty(), "{key:?}: {} holds {:?}", m.state, m.held);
            }
            // Only Initialize is left by a start, and only a shutdown returns to it.
            if m.state != State::Initialize {
                assert_eq!(
                    m.state == State::Fault,
                    instance.fault().is_some(),
                    "{key:?}: {} while fault() is {:?}",
                    m.state,
                    instance.fault()
                );
            }
            if matches!(m.state, State::Backup | State::Master) {
                assert!(
                    instance.poll_timeout().is_some(),
                    "{key:?}: {} with no timer",
                    m.state
                );
            }
        }
    }

    /// A step that is not a packet; returns how many actions it had.
    fn step(&mut self, input: impl FnOnce(&mut Router, Instant)) -> usize {
        input(&mut self.router, self.now);
        let actions = self.take_actions();
        self.check(&actions, Cause::Other);
        actions.len()
    }

    fn timeout(&mut self, late: Option<Duration>) {
        if let (Some(late), Some(t)) = (late, self.router.poll_timeout()) {
            self.now = self.now.max(t + late);
        }
        let _ = self.step(|r, now| r.handle_timeout(now));
        if let Some(t) = self.router.poll_timeout() {
            assert!(
                t > self.now,
                "a deadline {:?} before now after handle_timeout",
                self.now.saturating_duration_since(t)
            );
        }
    }

    /// A command on one instance; a failed command must change nothing.
    fn command(&mut self, t: Target, f: impl FnOnce(&mut vrrp_core::Instance, Instant) -> bool) {
        let key = self.models[usize::from(t) % self.models.len()].key;
        let mut ok = true;
        let count = self.step(|r, now| ok = r.instance_mut(&key).is_some_and(|i| f(i, now)));
        assert!(
            ok || count == 0,
            "{key:?}: a failed command had {count} actions"
        );
    }

    fn packet(&mut self, p: &Packet) {
        let fam = family(p.ipv6);
        let src = host(fam, p.src);
        let dst = match p.dst {
            Dst::Group => fam.multicast_group(),
            Dst::Unicast(i) => host(fam, i),
            Dst::OtherFamily => family(!p.ipv6).multicast_group(),
        };
        let payload = match &p.body {
            Body::Raw(bytes) => bytes.clone(),
            Body::Advert { .. } => advert_bytes(&p.body, fam, src, dst),
        };
        let interface = u32::from(p.interface % 3);
        // The instance the router will hand it to, and what it was before.
        let key = payload
            .get(1)
            .and_then(|v| Vrid::new(*v))
            .map(|vrid| InstanceKey {
                interface,
                vrid,
                family: fam,
            })
            .filter(|k| self.router.instance(k).is_some());
        let before = key
            .and_then(|k| self.router.instance(&k))
            .map(|i| (i.state(), i.effective_priority(), i.primary_address()));
        let rx = Received {
            src,
            dst,
            hop_limit: p.hop_limit.unwrap_or(255),
            payload: &payload,
        };
        let result = self.router.handle_packet(self.now, interface, &rx);
        let actions = self.take_actions();
        if result.is_err() {
            assert!(
                actions.is_empty(),
                "a dropped packet ({result:?}) had actions {actions:?}"
            );
        }
        let yielded = actions.iter().any(|(_, a)| {
            matches!(
                a,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Backup,
                    ..
                }
            )
        });
        if let (true, Some((_, ours, mine))) = (yielded, before) {
            let at = Endpoints { src, dst };
            let adv = [ChecksumMode::PseudoHeader, ChecksumMode::V3AsV2]
                .iter()
                .find_map(|m| Advertisement::parse(&payload, at, *m).ok())
                .unwrap_or_else(|| panic!("a Master yielded to a packet that does not parse"));
            assert!(
                adv.priority > ours || (adv.priority == ours && mine.is_some_and(|m| src > m)),
                "a Master of priority {ours} at {mine:?} yielded to priority {} from {src}",
                adv.priority
            );
        }
        self.check(&actions, Cause::Packet { key });
    }
}

/// The message of a `Body::Advert`: emitted with a right checksum, then flipped.
fn advert_bytes(body: &Body, fam: Family, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let Body::Advert {
        v2,
        vrid,
        priority,
        interval,
        addresses,
        auth,
        checksum_as_v2,
        flips,
    } = body
    else {
        return Vec::new();
    };
    let version = if *v2 { Version::V2 } else { Version::V3 };
    let vrid = Vrid::new(if *vrid >= 0xf0 {
        *vrid
    } else {
        VRIDS[usize::from(*vrid % 3)]
    });
    let interval = Interval::from_centis(if *v2 {
        100 * (1 + interval % 3)
    } else {
        1 + interval % 4095
    });
    let addrs: Vec<IpAddr> = match addresses {
        AdvertAddresses::Like(n) => (0..=n % 4).map(|i| vip(fam, i)).collect(),
        AdvertAddresses::Some(list) => list.iter().take(8).map(|i| vip(fam, *i)).collect(),
    };
    let auth = match auth {
        AdvertAuth::None => Auth::None,
        AdvertAuth::Password(s) => Auth::Password(s.password()),
        AdvertAuth::Unsupported { auth_type, data } => Auth::Unsupported {
            auth_type: *auth_type,
            data: *data,
        },
    };
    let mode = if *checksum_as_v2 {
        ChecksumMode::V3AsV2
    } else {
        ChecksumMode::PseudoHeader
    };
    let mut bytes = match (vrid, interval, Addresses::collect(fam, addrs)) {
        (Some(vrid), Some(interval), Some(addresses)) => Advertisement {
            version,
            vrid,
            priority: *priority,
            interval,
            auth,
            addresses,
        }
        .to_bytes(Endpoints { src, dst }, mode)
        .map(|b| b.to_vec())
        .unwrap_or_default(),
        _ => Vec::new(),
    };
    let len = bytes.len();
    if len > 0 {
        for (at, mask) in flips.iter().take(8) {
            bytes[usize::from(*at) % len] ^= mask;
        }
    }
    bytes
}

fuzz_target!(|input: Input| {
    let start = Instant::now();
    let mut router = Router::new();
    let mut models = Vec::new();
    let mut primaries = Vec::new();
    for spec in input.specs.iter().take(MAX_INSTANCES) {
        let Some(config) = spec.config() else {
            continue;
        };
        let vips = config.virtual_addresses.clone();
        let peers = config.unicast_peers.clone();
        let mode = config.checksum_mode;
        let Ok(key) = router.add_instance(u32::from(spec.interface), config) else {
            continue;
        };
        models.push(Model {
            key,
            vips,
            peers,
            mode,
            held: BTreeSet::new(),
            state: State::Initialize,
        });
        primaries.push((key, spec.primary.map(|i| host(spec.family(), i))));
    }
    if models.is_empty() {
        return;
    }
    let mut h = Harness {
        router,
        models,
        now: start,
    };
    // The interfaces' primary addresses, as an embedder reports them before startup.
    for (key, addr) in primaries {
        let _ = h.step(|r, now| {
            if let Some(i) = r.instance_mut(&key) {
                i.set_primary_address(now, addr);
            }
        });
    }
    for step in input.steps.iter().take(MAX_STEPS) {
        if trace() {
            let at = h.now.duration_since(start);
            let states: Vec<State> = h.models.iter().map(|m| m.state).collect();
            eprintln!("{at:?} {states:?} {step:?}");
        }
        match step {
            Step::Advance(cs) => h.now += Centis(u32::from(*cs)).to_duration(),
            Step::Timeout => h.timeout(Some(Duration::ZERO)),
            Step::LateTimeout(cs) => h.timeout(Some(Centis(u32::from(*cs)).to_duration())),
            Step::SpuriousTimeout => h.timeout(None),
            Step::Packet(p) => h.packet(p),
            Step::SetPriority(t, p) => h.command(*t, |i, now| {
                Priority::new(*p).is_some_and(|p| i.set_priority(now, p).is_ok())
            }),
            Step::SetTrack(t, track, up) => h.command(*t, |i, now| {
                i.set_track(now, TRACKS[usize::from(*track % 4)], *up)
                    .is_ok()
            }),
            Step::SetLinkUp(t, up) => h.command(*t, |i, now| {
                i.set_link_up(now, *up);
                true
            }),
            Step::SetPrimary(t, addr) => h.command(*t, |i, now| {
                let fam = i.family();
                i.set_primary_address(now, addr.map(|a| host(fam, a)));
                true
            }),
            Step::Startup => _ = h.step(Router::handle_startup),
            Step::Shutdown => _ = h.step(Router::handle_shutdown),
            Step::Handover => _ = h.step(Router::handle_handover),
            Step::StartupOne(t) => h.command(*t, |i, now| {
                i.handle_startup(now);
                true
            }),
            Step::ShutdownOne(t) => h.command(*t, |i, now| {
                i.handle_shutdown(now);
                true
            }),
            Step::HandoverOne(t) => h.command(*t, |i, now| {
                i.handle_handover(now);
                true
            }),
        }
    }
});
