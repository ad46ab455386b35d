//! Conformance: one test per rule of RFC 5798 section 6 (RFC 3768 for VRRPv2) and per
//! keepalived knob, each asserting the exact actions and the times of the timers.
//!
//! Actions are rendered as short strings (`state BACKUP->MASTER (master down timer expired)`,
//! `add 10.200.0.100`, `send p150 -> 224.0.0.18`, `announce 10.200.0.100`, `remove ...`) so
//! that every assertion shows the whole trace.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use vrrp_core::{
    Action, Addresses, Advertisement, AnnounceSchedule, Auth, Centis, ChecksumMode, ConfigError,
    Endpoints, Family, Instance, InstanceConfig, InstanceKey, Interval, Micros, Password, Priority,
    Reason, Received, ReconfigureError, Router, RxError, State, Track, TrackEffect, Transmit,
    Version, Vrid, WireError,
};

use common::Clock;

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2));
const LOWER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1));
const HIGHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 3));
const GROUP: IpAddr = IpAddr::V4(vrrp_core::VRRP_GROUP_V4);

fn vrid() -> Vrid {
    Vrid::new(51).unwrap()
}

fn config(priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(vrid(), vec![VIP]);
    c.priority = Priority::new(priority).unwrap();
    c
}

fn render(action: &Action) -> String {
    match action {
        Action::StateChanged { from, to, reason } => format!("state {from}->{to} ({reason})"),
        Action::AddVip(a) => format!("add {a}"),
        Action::RemoveVip(a) => format!("remove {a}"),
        Action::SendAdvertisement(tx) => format!("send p{} -> {}", tx.priority, tx.dst),
        Action::Announce(a) => format!("announce {a}"),
        other => format!("{other:?}"),
    }
}

fn drain(vr: &mut Instance) -> Vec<String> {
    std::iter::from_fn(|| vr.poll_action())
        .map(|a| render(&a))
        .collect()
}

/// How many announcements are queued (drains every action).
fn announcements(vr: &mut Instance) -> usize {
    drain(vr)
        .iter()
        .filter(|a| a.starts_with("announce"))
        .count()
}

fn drain_raw(vr: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| vr.poll_action()).collect()
}

/// `n` copies of `s`.
fn times(n: usize, s: &str) -> Vec<String> {
    vec![s.to_owned(); n]
}

fn trace(parts: &[&[String]]) -> Vec<String> {
    parts.concat()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A started instance with primary address `ME`.
fn started(config: InstanceConfig, clock: &Clock) -> Instance {
    let mut vr = Instance::new(config).unwrap();
    vr.set_primary_address(clock.at(0), Some(ME));
    vr.handle_startup(clock.at(0));
    vr
}

/// A started instance that has become Master after its Master_Down_Interval, at 3.609375 s
/// with priority 100 and no peer, with its start-up actions drained.
fn master(config: InstanceConfig, clock: &Clock) -> Instance {
    let mut vr = started(config, clock);
    let down = vr.poll_timeout().unwrap();
    vr.handle_timeout(down);
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    vr
}

/// The bytes of an advert another router would send.
struct Peer {
    version: Version,
    priority: u8,
    interval_cs: u16,
    auth: Auth,
    addresses: Vec<IpAddr>,
    src: IpAddr,
    dst: IpAddr,
}

impl Peer {
    fn v3(src: IpAddr, priority: u8) -> Self {
        Self {
            version: Version::V3,
            priority,
            interval_cs: 100,
            auth: Auth::None,
            addresses: vec![VIP],
            src,
            dst: GROUP,
        }
    }

    fn v2(src: IpAddr, priority: u8) -> Self {
        Self {
            version: Version::V2,
            ..Self::v3(src, priority)
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let family = vrrp_core::Family::of(&self.src);
        let adv = Advertisement {
            version: self.version,
            vrid: vrid(),
            priority: self.priority,
            interval: Interval::from_centis(self.interval_cs).unwrap(),
            auth: self.auth,
            addresses: Addresses::collect(family, self.addresses.iter().copied()).unwrap(),
        };
        adv.to_bytes(
            Endpoints {
                src: self.src,
                dst: self.dst,
            },
            ChecksumMode::PseudoHeader,
        )
        .unwrap()
        .to_vec()
    }

    fn deliver(&self, vr: &mut Instance, now: Instant) -> Result<(), RxError> {
        self.deliver_with_hop_limit(vr, now, 255)
    }

    fn deliver_with_hop_limit(
        &self,
        vr: &mut Instance,
        now: Instant,
        hop_limit: u8,
    ) -> Result<(), RxError> {
        let payload = self.bytes();
        vr.handle_packet(
            now,
            &Received {
                src: self.src,
                dst: self.dst,
                hop_limit,
                payload: &payload,
            },
        )
    }
}

// ----- RFC 5798 section 6.1: timer formulas ---------------------------------------------------

/// RFC 5798 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 and
/// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time, in microseconds (keepalived's
/// figures), never truncated to whole centiseconds.
#[test]
fn rfc5798_6_1_v3_skew_and_master_down_interval() {
    let clock = Clock::new();
    let vr = started(config(100), &clock);
    // 156 * 1 s / 256 = 0.609375 s exactly.
    assert_eq!(vr.skew_time(), Micros(609_375));
    assert_eq!(vr.master_down_interval(), Micros(3_609_375));
    assert_eq!(vr.master_down_interval().to_string(), "3.609375s");
    let mut c = config(254);
    c.advert_interval = Interval::from_centis(10).unwrap();
    let fast = started(c, &clock);
    // (2 * 100 ms) / 256 = 781.25 µs, truncated to 781 µs (whole centiseconds would give 0).
    assert_eq!(fast.skew_time(), Micros(781));
    assert_eq!(fast.master_down_interval(), Micros(300_781));
}

/// RFC 3768 6.1: Skew_Time = (256 - Priority) / 256 seconds, whatever the interval.
#[test]
fn rfc3768_6_1_v2_skew_is_independent_of_the_interval() {
    let clock = Clock::new();
    let mut c = config(100);
    c.version = Version::V2;
    c.advert_interval = Interval::from_secs(3).unwrap();
    let vr = started(c, &clock);
    assert_eq!(vr.skew_time(), Micros(609_375));
    assert_eq!(vr.master_down_interval(), Micros(9_609_375));
}

// ----- Exact timers: Skew_Time and Master_Down_Interval in microseconds -----------------------

/// The exact takeover instants asserted below: (interval in centiseconds, [(priority,
/// Master_Down_Interval in µs)]). `3 * I + ((256 - p) * I) / 256` µs, truncated to the
/// microsecond as keepalived does; none is a whole number of centiseconds.
const V3_TAKEOVER_US: [(u16, [(u8, u64); 6]); 3] = [
    (
        1,
        [
            (254, 30_078),
            (200, 32_187),
            (150, 34_140),
            (100, 36_093),
            (50, 38_046),
            (1, 39_960),
        ],
    ),
    (
        2,
        [
            (254, 60_156),
            (200, 64_375),
            (150, 68_281),
            (100, 72_187),
            (50, 76_093),
            (1, 79_921),
        ],
    ),
    (
        3,
        [
            (254, 90_234),
            (200, 96_562),
            (150, 102_421),
            (100, 108_281),
            (50, 114_140),
            (1, 119_882),
        ],
    ),
];

/// A started Backup of `version`, `priority` and an advert interval of `cs` centiseconds,
/// with its start-up action drained.
fn backup_at(version: Version, priority: u8, cs: u16, clock: &Clock) -> Instance {
    let mut c = config(priority);
    c.version = version;
    c.advert_interval = Interval::from_centis(cs).unwrap();
    let mut vr = started(c, clock);
    drain(&mut vr);
    vr
}

/// Runs a lone Backup's Master_Down_Timer to the microsecond: nothing happens one
/// microsecond before its deadline, and it becomes Master at the deadline. Returns the
/// deadline in µs from startup.
fn lone_takeover_us(mut vr: Instance, clock: &Clock) -> u64 {
    let deadline = vr.poll_timeout().unwrap();
    vr.handle_timeout(deadline - Duration::from_micros(1));
    assert_eq!(drain(&mut vr), Vec::<String>::new(), "1 µs early");
    vr.handle_timeout(deadline);
    assert_eq!(
        drain(&mut vr)[0],
        "state BACKUP->MASTER (master down timer expired)"
    );
    clock.us(deadline)
}

/// keepalived's arithmetic (`VRRP_TIMER_SKEW` in vrrp.h, µs): the VRRPv3 skew reduced to
/// `(256 - p) * (interval / 10000 µs) * 625 / 16` to fit 32 bits, VRRPv2 `(256 - p) * 1 s /
/// 256`. An independent oracle for the engine's `((256 - p) * interval) / 256`.
fn keepalived_skew_us(version: Version, priority: u8, cs: u16) -> u64 {
    let weight = 256 - u64::from(priority);
    match version {
        Version::V3 => weight * u64::from(cs) * 625 / 16,
        Version::V2 => weight * 1_000_000 / 256,
    }
}

/// RFC 5798 6.1 at every legal VRRPv3 interval (10 ms to 40.95 s): a Backup that learns the
/// master's interval from its advert (6.4.2) arms its Master_Down_Timer at exactly
/// `3 * Master_Adver_Interval + Skew_Time` µs after the advert, keepalived's figure, and the
/// takeover instants of priorities 1 to 254 are in strict priority order, at least 39 µs
/// apart. (Whole centiseconds would give every priority the same instant at 10 ms.)
#[test]
fn rfc5798_6_1_takeover_order_of_every_priority_at_every_v3_interval() {
    let clock = Clock::new();
    let mut backups: Vec<Instance> = (1..=254)
        .map(|p| backup_at(Version::V3, p, 100, &clock))
        .collect();
    // Every interval in release builds (as CI runs), every 7th and the ends in debug builds.
    let step = if cfg!(debug_assertions) { 7 } else { 1 };
    let intervals: Vec<u16> = (1..=4095u16).step_by(step).chain([2, 3, 4095]).collect();
    let rx = clock.at(100);
    let mut checked = 0;
    for &cs in &intervals {
        let owner = Peer {
            interval_cs: cs,
            ..Peer::v3(HIGHER_PEER, 255)
        };
        let payload = owner.bytes();
        let received = Received {
            src: HIGHER_PEER,
            dst: GROUP,
            hop_limit: 255,
            payload: &payload,
        };
        let mut previous: Option<u64> = None;
        for (p, vr) in (1..=254u8).zip(backups.iter_mut()) {
            vr.handle_packet(rx, &received).unwrap();
            let skew = keepalived_skew_us(Version::V3, p, cs);
            assert_eq!(vr.skew_time(), Micros(skew), "priority {p} at {cs} cs");
            let mdi = clock.us(vr.poll_timeout().unwrap()) - 1_000_000;
            assert_eq!(
                mdi,
                3 * u64::from(cs) * 10_000 + skew,
                "priority {p} at {cs} cs"
            );
            assert_eq!(vr.master_down_interval(), Micros(mdi));
            if let Some(lower) = previous {
                assert!(
                    lower >= mdi + 39,
                    "priority {p} at {cs} cs: {mdi} µs, priority {} {lower} µs",
                    p - 1
                );
            }
            previous = Some(mdi);
            checked += 1;
        }
    }
    assert_eq!(checked, intervals.len() * 254);
    assert!(backups.iter().all(|vr| vr.state() == State::Backup));
}

/// RFC 3768 6.1 for every priority at 1, 2 and 255 s: Skew_Time is `(256 - p) / 256` s in µs
/// whatever the interval (keepalived's figure), and the takeover order is strict.
#[test]
fn rfc3768_6_1_takeover_order_of_every_priority_v2() {
    let clock = Clock::new();
    for secs in [1u16, 2, 255] {
        let mut previous: Option<u64> = None;
        for p in 1..=254u8 {
            let mut c = config(p);
            c.version = Version::V2;
            c.advert_interval = Interval::from_centis(secs * 100).unwrap();
            let vr = started(c, &clock);
            let skew = keepalived_skew_us(Version::V2, p, secs * 100);
            assert_eq!(vr.skew_time(), Micros(skew));
            let mdi = vr.master_down_interval().get();
            assert_eq!(mdi, 3 * u64::from(secs) * 1_000_000 + skew);
            assert_eq!(clock.us(vr.poll_timeout().unwrap()), mdi);
            if let Some(lower) = previous {
                assert!(lower >= mdi + 3_906, "priority {p} at {secs} s");
            }
            previous = Some(mdi);
        }
    }
}

/// RFC 5798 6.4.1 and 6.4.2 at 10, 20 and 30 ms: a lone Backup takes over exactly
/// Master_Down_Interval after startup, to the microsecond (table `V3_TAKEOVER_US`).
#[test]
fn rfc5798_6_4_2_takeover_instants_per_priority_at_10_20_30_ms() {
    let clock = Clock::new();
    for (cs, table) in V3_TAKEOVER_US {
        for (p, mdi) in table {
            let vr = backup_at(Version::V3, p, cs, &clock);
            assert_eq!(vr.master_down_interval(), Micros(mdi), "{p} at {cs} cs");
            assert_eq!(lone_takeover_us(vr, &clock), mdi, "{p} at {cs} cs");
        }
    }
}

/// RFC 3768 6.4.2 with VRRPv2 at 1 s: the takeover instants per priority, in µs.
#[test]
fn rfc3768_6_4_2_takeover_instants_per_priority_at_1_s() {
    let clock = Clock::new();
    for (p, mdi) in [
        (254, 3_007_812),
        (200, 3_218_750),
        (150, 3_414_062),
        (100, 3_609_375),
        (50, 3_804_687),
        (1, 3_996_093),
    ] {
        let vr = backup_at(Version::V2, p, 100, &clock);
        assert_eq!(lone_takeover_us(vr, &clock), mdi, "priority {p}");
    }
}

/// RFC 5798 6.4.2 at 10 ms: three Backups (200, 100, 50) hear a master at 10 ms until it
/// crashes; the 200 takes over exactly Master_Down_Interval (32.187 ms) after the last advert
/// and its advert, heard before the others' timers (36.093 and 38.046 ms), resets them.
#[test]
fn rfc5798_6_4_2_only_the_highest_backup_takes_over_at_10_ms() {
    let clock = Clock::new();
    let sources = [
        IpAddr::V4(Ipv4Addr::new(10, 200, 0, 11)),
        IpAddr::V4(Ipv4Addr::new(10, 200, 0, 12)),
        IpAddr::V4(Ipv4Addr::new(10, 200, 0, 13)),
    ];
    let mut backups: Vec<Instance> = [200, 100, 50]
        .into_iter()
        .zip(sources)
        .map(|(p, src)| {
            let mut c = config(p);
            c.advert_interval = Interval::from_centis(1).unwrap();
            let mut vr = Instance::new(c).unwrap();
            vr.set_primary_address(clock.at(0), Some(src));
            vr.handle_startup(clock.at(0));
            drain(&mut vr);
            vr
        })
        .collect();
    let master = Peer {
        interval_cs: 1,
        ..Peer::v3(HIGHER_PEER, 254)
    };
    // The master advertises every 10 ms from 1 ms on, the last one at 991 ms.
    for k in 0..100 {
        let at = clock.at_us(1_000 + k * 10_000);
        for vr in &mut backups {
            master.deliver(vr, at).unwrap();
        }
    }
    let last = 991_000;
    let deadlines: Vec<u64> = backups
        .iter()
        .map(|vr| clock.us(vr.poll_timeout().unwrap()) - last)
        .collect();
    assert_eq!(deadlines, vec![32_187, 36_093, 38_046]);
    let takeover = clock.at_us(last + 32_187);
    for vr in &mut backups {
        vr.handle_timeout(takeover);
    }
    let first = drain_raw(&mut backups[0]);
    assert_eq!(
        first.iter().take(3).map(render).collect::<Vec<_>>(),
        strs(&[
            "state BACKUP->MASTER (master down timer expired)",
            "add 10.200.0.100",
            "send p200 -> 224.0.0.18",
        ])
    );
    let advert = sends(first).remove(0);
    // Delivered 100 µs later: before the 100's and the 50's timers.
    let heard = clock.at_us(last + 32_287);
    for vr in &mut backups[1..] {
        vr.handle_packet(
            heard,
            &Received {
                src: advert.src,
                dst: advert.dst,
                hop_limit: 255,
                payload: &advert.payload,
            },
        )
        .unwrap();
        vr.handle_timeout(clock.at_us(last + 38_046));
        assert_eq!(drain(vr), Vec::<String>::new());
        assert_eq!(vr.state(), State::Backup);
    }
    // They now wait for the new master, from its advert.
    assert_eq!(
        backups[1..]
            .iter()
            .map(|vr| clock.us(vr.poll_timeout().unwrap()) - (last + 32_287))
            .collect::<Vec<_>>(),
        vec![36_093, 38_046]
    );
}

/// RFC 5798 6.4.2 at 10 ms: after a priority-0 advert each Backup waits its Skew_Time, in
/// µs: 2.187 ms for 200, 6.093 ms for 100, 8.046 ms for 50 (all 0 in whole centiseconds).
#[test]
fn rfc5798_6_4_2_priority_zero_takeover_after_skew_time_at_10_ms() {
    let clock = Clock::new();
    let resign = Peer {
        interval_cs: 1,
        ..Peer::v3(HIGHER_PEER, 0)
    };
    for (p, skew) in [(200, 2_187), (100, 6_093), (50, 8_046)] {
        let mut vr = backup_at(Version::V3, p, 1, &clock);
        resign.deliver(&mut vr, clock.at(10)).unwrap();
        assert_eq!(vr.skew_time(), Micros(skew));
        let deadline = vr.poll_timeout().unwrap();
        assert_eq!(clock.us(deadline), 100_000 + skew);
        vr.handle_timeout(deadline - Duration::from_micros(1));
        assert_eq!(vr.state(), State::Backup);
        vr.handle_timeout(deadline);
        assert_eq!(
            drain(&mut vr)[0],
            "state BACKUP->MASTER (master sent priority 0)"
        );
    }
}

/// A Master at 10 ms whose start-up second announcement burst is off, so that only the
/// Adver_Timer runs. Master at 36.093 ms.
fn master_at_10_ms(clock: &Clock) -> Instance {
    let mut c = config(100);
    c.advert_interval = Interval::from_centis(1).unwrap();
    c.announce.delay = Centis::ZERO;
    let vr = master(c, clock);
    assert_eq!(vr.state_since(), Some(clock.at_us(36_093)));
    vr
}

/// RFC 5798 6.4.3 ("Reset the Adver_Timer to Advertisement_Interval") with a loop that wakes
/// up late (0 to 0.95 ms, varying): each advert is scheduled from the previous deadline, so
/// 1000 adverts at 10 ms take exactly 10 s of deadlines, with no cumulative drift (re-armed
/// from the late wake-up, as keepalived does, they would end about 0.47 s late).
#[test]
fn rfc5798_6_4_3_adverts_keep_their_deadlines_with_a_late_loop() {
    let clock = Clock::new();
    let mut vr = master_at_10_ms(&clock);
    let start = 36_093;
    let mut deadlines = Vec::new();
    let mut total_lateness = 0;
    for k in 0..1000u64 {
        let due = vr.poll_timeout().unwrap();
        let late = (k * 7_919) % 950;
        total_lateness += late;
        vr.handle_timeout(due + Duration::from_micros(late));
        assert_eq!(
            drain(&mut vr),
            strs(&["send p100 -> 224.0.0.18"]),
            "advert {k}"
        );
        deadlines.push(clock.us(due));
    }
    let expected: Vec<u64> = (1..=1000).map(|k| start + k * 10_000).collect();
    assert_eq!(deadlines, expected);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), start + 1001 * 10_000);
    assert!(
        total_lateness > 400_000,
        "the loop was late by {total_lateness} µs in all"
    );
    assert_eq!(vr.stats().sent_advertisements, 1001);
}

/// The catch-up rule: a loop late by less than an interval keeps the grid of deadlines (the
/// next advert comes sooner); a loop that missed whole intervals sends one advert, not one
/// per missed deadline, and the next is one interval after it (keepalived's rule).
#[test]
fn rfc5798_6_4_3_a_loop_late_by_whole_intervals_sends_once_and_rearms_from_now() {
    let clock = Clock::new();
    let mut vr = master_at_10_ms(&clock);
    let send = strs(&["send p100 -> 224.0.0.18"]);
    // Due at 46.093 ms, run 6 ms late: the next stays due at 56.093 ms.
    vr.handle_timeout(clock.at_us(52_093));
    assert_eq!(drain(&mut vr), send);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 56_093);
    // Due at 56.093 ms, run exactly one interval late: 66.093 ms is now, not later.
    vr.handle_timeout(clock.at_us(66_093));
    assert_eq!(drain(&mut vr), send);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 76_093);
    // Due at 76.093 ms, run 25 ms late (two deadlines missed): one advert, next at now + 10 ms.
    vr.handle_timeout(clock.at_us(101_093));
    assert_eq!(drain(&mut vr), send);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 111_093);
    // A second call at the same instant is spurious: no second advert.
    vr.handle_timeout(clock.at_us(101_093));
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    // Back on time, the new grid holds.
    vr.handle_timeout(clock.at_us(111_500));
    assert_eq!(drain(&mut vr), send);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 121_093);
}

/// keepalived `garp_master_refresh` with a late loop: the refresh bursts stay on their
/// deadlines too (every 1 s from becoming Master), however late each wake-up.
#[test]
fn keepalived_garp_master_refresh_keeps_its_deadlines_with_a_late_loop() {
    let clock = Clock::new();
    let mut c = config(100);
    c.announce.delay = Centis::ZERO;
    c.announce.refresh = Centis::from_secs(1);
    c.announce.refresh_repeat = 1;
    c.advert_interval = Interval::from_centis(30).unwrap();
    let mut vr = master(c, &clock);
    // Priority 100 at 0.3 s: 0.9 s + 0.182812 s.
    let start = 1_082_812;
    assert_eq!(vr.state_since(), Some(clock.at_us(start)));
    let mut refreshes = Vec::new();
    for k in 0..200u64 {
        let due = vr.poll_timeout().unwrap();
        vr.handle_timeout(due + Duration::from_micros(300 + k % 7 * 100));
        if announcements(&mut vr) > 0 {
            refreshes.push(clock.us(due));
        }
    }
    assert!(refreshes.len() >= 40, "{refreshes:?}");
    let expected: Vec<u64> = (1..=refreshes.len() as u64)
        .map(|k| start + k * 1_000_000)
        .collect();
    assert_eq!(refreshes, expected);
}

// ----- RFC 5798 section 6.4.1: Initialize -----------------------------------------------------

/// 6.4.1: a non-owner sets Master_Down_Timer to Master_Down_Interval and goes to Backup.
#[test]
fn rfc5798_6_4_1_startup_enters_backup_with_master_down_timer() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    assert_eq!(drain(&mut vr), strs(&["state INIT->BACKUP (startup)"]));
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 360);
    assert_eq!(vr.master_adver_interval(), Interval::ONE_SECOND);
}

/// 6.4.1: the owner (priority 255) sends an advert, announces and becomes Master at once.
#[test]
fn rfc5798_6_4_1_owner_goes_master_at_startup() {
    let clock = Clock::new();
    let mut vr = started(config(255), &clock);
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&[
                "state INIT->MASTER (address owner)",
                "add 10.200.0.100",
                "send p255 -> 224.0.0.18"
            ]),
            &times(5, "announce 10.200.0.100"),
        ])
    );
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        100,
        "Adver_Timer = Advertisement_Interval"
    );
    assert_eq!(vr.stats().master_reasons.owner, 1);
}

/// An instance without a primary address cannot run: it starts in Fault, and so does the
/// restart of a master ([`Instance::handle_startup_master`]), which then claims nothing; both
/// recover into Backup.
#[test]
fn startup_without_primary_address_is_fault() {
    for restart in [false, true] {
        let clock = Clock::new();
        let mut vr = Instance::new(config(100)).unwrap();
        if restart {
            vr.handle_startup_master(clock.at(0));
        } else {
            vr.handle_startup(clock.at(0));
        }
        assert_eq!(
            drain(&mut vr),
            strs(&["state INIT->FAULT (no primary address)"])
        );
        assert_eq!(vr.poll_timeout(), None);
        assert_eq!(vr.stats().master_transitions, 0);
        vr.set_primary_address(clock.at(50), Some(ME));
        assert_eq!(
            drain(&mut vr),
            strs(&["state FAULT->BACKUP (fault cleared)"])
        );
        assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 50 + 360);
    }
}

// ----- RFC 5798 section 6.4.2: Backup ---------------------------------------------------------

/// 6.4.2: when the Master_Down_Timer fires, send an advert, announce, become Master.
#[test]
fn rfc5798_6_4_2_master_down_timer_fires() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    // Master_Down_Interval of priority 100: 3 s + 0.609375 s.
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 3_609_375);
    vr.handle_timeout(clock.at_us(3_609_374));
    assert_eq!(
        drain(&mut vr),
        Vec::<String>::new(),
        "an early timeout is a no-op"
    );
    assert_eq!(vr.state(), State::Backup);
    vr.handle_timeout(clock.at_us(3_609_375));
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&[
                "state BACKUP->MASTER (master down timer expired)",
                "add 10.200.0.100",
                "send p100 -> 224.0.0.18",
            ]),
            &times(5, "announce 10.200.0.100"),
        ])
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 460);
    assert_eq!(vr.stats().master_transitions, 1);
    assert_eq!(vr.stats().master_reasons.master_down, 1);
}

/// 6.4.2: an advert of higher or equal priority resets the Master_Down_Timer.
#[test]
fn rfc5798_6_4_2_backup_accepts_higher_or_equal_priority() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    Peer::v3(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(300))
        .unwrap();
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 300 + 360);
    Peer::v3(LOWER_PEER, 100)
        .deliver(&mut vr, clock.at(500))
        .unwrap();
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        500 + 360,
        "equal priority is accepted"
    );
    assert_eq!(vr.master().unwrap().address, LOWER_PEER);
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(vr.stats().rcvd_advertisements, 2);
}

/// 6.4.2: "If the Priority in the ADVERTISEMENT is zero, then: Set the Master_Down_Timer to
/// Skew_Time".
#[test]
fn rfc5798_6_4_2_priority_zero_uses_skew_time() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    Peer::v3(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(100))
        .unwrap();
    Peer::v3(HIGHER_PEER, 0)
        .deliver(&mut vr, clock.at(200))
        .unwrap();
    assert_eq!(
        clock.us(vr.poll_timeout().unwrap()),
        2_000_000 + 609_375,
        "Skew_Time of priority 100"
    );
    vr.handle_timeout(clock.at_us(2_609_375));
    assert_eq!(
        drain(&mut vr)[0],
        "state BACKUP->MASTER (master sent priority 0)"
    );
    assert_eq!(vr.stats().rcvd_pri_zero_packets, 1);
    assert_eq!(vr.stats().master_reasons.priority_zero, 1);
}

/// 6.4.2: with preemption, adverts of a lower priority are discarded, so the
/// Master_Down_Timer preempts the lower master.
#[test]
fn rfc5798_6_4_2_backup_preempts_lower_priority_master() {
    let clock = Clock::new();
    let mut vr = started(config(200), &clock);
    drain(&mut vr);
    // 200 - Skew_Time: (56 * 1 s) / 256 = 0.21875 s; Master_Down_Interval 3.21875 s.
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(100))
        .unwrap();
    assert_eq!(
        clock.us(vr.poll_timeout().unwrap()),
        3_218_750,
        "discarded: the timer still runs from startup"
    );
    vr.handle_timeout(clock.at_us(3_218_750));
    assert_eq!(
        drain(&mut vr)[0],
        "state BACKUP->MASTER (preempted lower-priority master)"
    );
    assert_eq!(vr.stats().master_reasons.preempted, 1);
}

/// 6.4.2: with Preempt_Mode false (keepalived `nopreempt`) every advert resets the timer.
#[test]
fn rfc5798_6_4_2_nopreempt_keeps_backup() {
    let clock = Clock::new();
    let mut c = config(200);
    c.preempt = false;
    let mut vr = started(c, &clock);
    drain(&mut vr);
    for second in 1..=30 {
        Peer::v3(HIGHER_PEER, 100)
            .deliver(&mut vr, clock.at(second * 100))
            .unwrap();
        vr.handle_timeout(clock.at(second * 100 + 50));
    }
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 30_000_000 + 3_218_750);
}

/// keepalived `preempt_delay`: adverts of a lower-priority master are accepted until the delay
/// from first seeing it has passed; then they are discarded and the timer preempts.
#[test]
fn keepalived_preempt_delay_postpones_preemption() {
    let clock = Clock::new();
    let mut c = config(200);
    c.preempt_delay = Centis::from_secs(5);
    let mut vr = started(c, &clock);
    drain(&mut vr);
    let lower = Peer::v3(HIGHER_PEER, 100);
    for second in 1..=8 {
        let now = clock.at(second * 100);
        vr.handle_timeout(now);
        lower.deliver(&mut vr, now).unwrap();
    }
    // First seen at 1 s, so accepted up to (not including) 6 s; the last accepted advert,
    // at 5 s, armed the timer for 5 s + 3.21875 s.
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 5_000_000 + 3_218_750);
    vr.handle_timeout(clock.at_us(8_218_750));
    assert_eq!(
        drain(&mut vr)[0],
        "state BACKUP->MASTER (preempted lower-priority master)"
    );
}

/// 6.4.2: a VRRPv3 backup sets Master_Adver_Interval from the master's advert.
#[test]
fn rfc5798_6_4_2_v3_backup_learns_the_interval() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    let fast = Peer {
        interval_cs: 50,
        ..Peer::v3(HIGHER_PEER, 150)
    };
    fast.deliver(&mut vr, clock.at(100)).unwrap();
    assert_eq!(
        vr.master_adver_interval(),
        Interval::from_centis(50).unwrap()
    );
    // 3 * 0.5 s + (156 * 0.5 s) / 256 = 1.5 s + 0.3046875 s (304687 µs).
    assert_eq!(vr.master_down_interval(), Micros(1_804_687));
    assert_eq!(
        vr.poll_timeout().unwrap(),
        clock.at(100) + Duration::from_micros(1_804_687)
    );
}

// ----- RFC 5798 section 6.4.3: Master ---------------------------------------------------------

/// 6.4.3: the Adver_Timer fires every Advertisement_Interval.
#[test]
fn rfc5798_6_4_3_master_advertises_every_interval() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    let mut sends = Vec::new();
    while let Some(t) = vr.poll_timeout() {
        if clock.cs(t) > 1000 {
            break;
        }
        vr.handle_timeout(t);
        for a in drain(&mut vr) {
            if a.starts_with("send") {
                sends.push(clock.cs(t));
            }
        }
    }
    assert_eq!(sends, vec![460, 560, 660, 760, 860, 960]);
    assert_eq!(vr.stats().sent_advertisements, 7);
}

/// 6.4.3: a higher priority advert makes the master a backup and removes its addresses.
#[test]
fn rfc5798_6_4_3_master_yields_to_higher_priority() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    Peer::v3(LOWER_PEER, 200)
        .deliver(&mut vr, clock.at(400))
        .unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "state MASTER->BACKUP (higher-priority advert)",
            "remove 10.200.0.100"
        ])
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 400 + 360);
    assert_eq!(vr.master().unwrap().priority, 200);
}

/// 6.4.3: at equal priority the higher primary address wins.
#[test]
fn rfc5798_6_4_3_equal_priority_tie_break_by_address() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    Peer::v3(LOWER_PEER, 100)
        .deliver(&mut vr, clock.at(400))
        .unwrap();
    assert_eq!(
        vr.state(),
        State::Master,
        "10.200.0.1 < 10.200.0.2: we stay"
    );
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&["send p100 -> 224.0.0.18"]),
            &times(5, "announce 10.200.0.100")
        ]),
        "and assert ourselves at once, to the other router and to the clients"
    );
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(420))
        .unwrap();
    assert_eq!(
        vr.state(),
        State::Backup,
        "10.200.0.3 > 10.200.0.2: we yield"
    );
}

/// 6.4.3: a lower-priority advert is discarded; like keepalived, the master answers at once
/// (and re-announces its addresses, `garp_lower_prio_repeat`).
#[test]
fn rfc5798_6_4_3_master_discards_lower_priority_and_answers() {
    let clock = Clock::new();
    let mut vr = master(config(150), &clock);
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(400))
        .unwrap();
    assert_eq!(vr.state(), State::Master);
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&["send p150 -> 224.0.0.18"]),
            &times(5, "announce 10.200.0.100")
        ])
    );
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        500,
        "Adver_Timer reset"
    );
}

/// 6.4.3 to the letter with keepalived's `lower_prio_no_advert`: a lower-priority advert is
/// discarded without an answer and the Adver_Timer keeps its deadline; the addresses are
/// still re-announced. A priority-0 advert is still answered.
#[test]
fn lower_prio_no_advert_discards_without_answering() {
    let clock = Clock::new();
    let mut c = config(150);
    c.lower_prio_no_advert = true;
    let mut vr = master(c, &clock);
    let before = clock.cs(vr.poll_timeout().unwrap());
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(420))
        .unwrap();
    assert_eq!(vr.state(), State::Master);
    assert_eq!(drain(&mut vr), times(5, "announce 10.200.0.100"));
    assert_eq!(vr.stats().rcvd_lower_priority, 1);
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        before,
        "Adver_Timer not reset"
    );
    Peer::v3(HIGHER_PEER, 0)
        .deliver(&mut vr, clock.at(430))
        .unwrap();
    let answer = drain(&mut vr);
    assert_eq!(
        answer.first().map(String::as_str),
        Some("send p150 -> 224.0.0.18")
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 530);
}

/// keepalived's `virtual_ipaddress_excluded`: a Master adds, announces and removes the
/// excluded addresses (here an IPv6 one beside an IPv4 instance) with its virtual addresses,
/// but its adverts carry only the virtual addresses; a reload that drops one removes it.
#[test]
fn excluded_addresses_are_held_but_not_advertised() {
    let clock = Clock::new();
    let v6: IpAddr = "fd00:200::100".parse().unwrap();
    let mut c = config(150);
    c.excluded_addresses = vec![v6];
    c.announce.repeat = 1;
    c.announce.delay = Centis::ZERO;
    let mut vr = started(c.clone(), &clock);
    let down = vr.poll_timeout().unwrap();
    vr.handle_timeout(down);
    let actions = drain_raw(&mut vr);
    let rendered: Vec<String> = actions.iter().map(render).collect();
    assert_eq!(
        rendered,
        strs(&[
            "state INIT->BACKUP (startup)",
            "state BACKUP->MASTER (master down timer expired)",
            "add 10.200.0.100",
            "add fd00:200::100",
            "send p150 -> 224.0.0.18",
            "announce 10.200.0.100",
            "announce fd00:200::100",
        ])
    );
    let tx = actions
        .iter()
        .find_map(|a| match a {
            Action::SendAdvertisement(tx) => Some(tx),
            _ => None,
        })
        .unwrap();
    let at = Endpoints {
        src: tx.src,
        dst: tx.dst,
    };
    let adv = Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(
        adv.addresses,
        Addresses::V4(vec![Ipv4Addr::new(10, 200, 0, 100)])
    );
    // A reload without it: removed, and nothing else changes.
    let mut fewer = c.clone();
    fewer.excluded_addresses.clear();
    vr.reconfigure(clock.at(10), fewer).unwrap();
    assert_eq!(drain(&mut vr), strs(&["remove fd00:200::100"]));
    // Repeating a virtual address is refused, naming the field.
    let mut twice = c;
    twice.excluded_addresses = vec![VIP];
    let problems = twice.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field(), "excluded_addresses[0]");
}

/// 6.4.3: a priority-0 advert makes the master send an advert and reset the Adver_Timer.
#[test]
fn rfc5798_6_4_3_master_answers_priority_zero() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    Peer::v3(HIGHER_PEER, 0)
        .deliver(&mut vr, clock.at(410))
        .unwrap();
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&["send p100 -> 224.0.0.18"]),
            &times(5, "announce 10.200.0.100")
        ])
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 510);
    assert_eq!(vr.state(), State::Master);
}

/// 6.4.3: Shutdown: cancel the Adver_Timer, send priority 0, go to Initialize.
#[test]
fn rfc5798_6_4_3_shutdown_sends_priority_zero() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    vr.handle_shutdown(clock.at(500));
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "state MASTER->INIT (shutdown)",
            "send p0 -> 224.0.0.18",
            "remove 10.200.0.100"
        ])
    );
    assert_eq!(vr.poll_timeout(), None);
    assert_eq!(vr.stats().sent_pri_zero_packets, 1);
    vr.handle_shutdown(clock.at(600));
    assert_eq!(
        drain(&mut vr),
        Vec::<String>::new(),
        "a second shutdown is a no-op"
    );
}

/// 6.4.2: Shutdown of a backup sends nothing.
#[test]
fn rfc5798_6_4_2_backup_shutdown_sends_nothing() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    vr.handle_shutdown(clock.at(100));
    assert_eq!(drain(&mut vr), strs(&["state BACKUP->INIT (shutdown)"]));
    assert_eq!(vr.poll_timeout(), None);
}

// ----- restart on reload (make-before-break) -------------------------------------------------

/// An instance with primary address `ME` started at `at` in place of a master of this node.
fn restarted(config: InstanceConfig, at: Instant) -> Instance {
    let mut vr = Instance::new(config).unwrap();
    vr.set_primary_address(at, Some(ME));
    vr.handle_startup_master(at);
    vr
}

/// A restart of an instance that was Master (a reload that changed its VRID, interface,
/// version or a prefix): the new instance becomes Master at once, adding the addresses the node
/// still holds and advertising, instead of waiting Master_Down_Interval as Backup. It does
/// not announce (the neighbours reach this node already) unless asked to with `reannounce`
/// (the addresses moved to another interface).
#[test]
fn restart_of_a_master_starts_as_master_at_once() {
    let clock = Clock::new();
    let mut vr = restarted(config(100), clock.at(7));
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "state INIT->MASTER (restart of a master (make-before-break))",
            "add 10.200.0.100",
            "send p100 -> 224.0.0.18"
        ])
    );
    assert_eq!(vr.last_reason(), Some(Reason::Restart));
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        7 + 100,
        "Adver_Timer = Advertisement_Interval"
    );
    assert_eq!(vr.stats().master_transitions, 1);
    vr.handle_startup_master(clock.at(20));
    vr.handle_startup(clock.at(20));
    assert_eq!(drain(&mut vr), Vec::<String>::new(), "already started");
    vr.handle_timeout(clock.at(107));
    assert_eq!(drain(&mut vr), strs(&["send p100 -> 224.0.0.18"]));
    vr.reannounce(clock.at(110));
    assert_eq!(drain(&mut vr), times(5, "announce 10.200.0.100"));
}

/// The restarted master meets another master (a node that claimed the addresses while the
/// two ran different configurations): section 6.4.3 settles it with the first advert. A
/// lower priority is discarded (and answered); a higher one makes the restarted instance
/// step down and release the addresses.
#[test]
fn restart_of_a_master_meeting_another_master_settles_by_6_4_3() {
    let clock = Clock::new();
    let mut vr = restarted(config(150), clock.at(0));
    drain(&mut vr);
    Peer::v3(LOWER_PEER, 100)
        .deliver(&mut vr, clock.at(30))
        .unwrap();
    assert_eq!(vr.state(), State::Master);
    assert!(
        !drain(&mut vr).iter().any(|a| a.starts_with("remove")),
        "a lower priority does not take the addresses"
    );
    Peer::v3(HIGHER_PEER, 200)
        .deliver(&mut vr, clock.at(40))
        .unwrap();
    assert_eq!(vr.state(), State::Backup);
    assert!(drain(&mut vr).contains(&"remove 10.200.0.100".to_owned()));
}

// ----- RFC 5798 section 7.1 / RFC 3768 section 7.1: receive validation ------------------------

fn backup_with_timer(c: InstanceConfig, clock: &Clock) -> (Instance, Option<Instant>) {
    let mut vr = started(c, clock);
    drain(&mut vr);
    let timer = vr.poll_timeout();
    (vr, timer)
}

/// 7.1: "MUST verify that the IPvX TTL/Hop Limit is 255".
#[test]
fn rfc5798_7_1_hop_limit_other_than_255_dropped() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    let err = Peer::v3(HIGHER_PEER, 150).deliver_with_hop_limit(&mut vr, clock.at(100), 254);
    assert_eq!(
        err,
        Err(RxError::HopLimit {
            got: 254,
            required: 255
        })
    );
    assert_eq!(vr.stats().ip_ttl_errors, 1);
    assert_eq!(vr.stats().rcvd_advertisements, 0);
    assert_eq!(vr.poll_timeout(), timer, "a dropped advert changes nothing");
}

/// keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64: `unicast_min_hop_limit`
/// relaxes the check for unicast only; multicast still needs 255.
#[test]
fn unicast_hop_limit_relaxation_applies_to_unicast_only() {
    let clock = Clock::new();
    // IPv6 adverts come from link-local addresses (RFC 5798 section 5.1.2.1).
    let me6: IpAddr = "fe80::2".parse().unwrap();
    let peer6: IpAddr = "fe80::1".parse().unwrap();
    let vip6: IpAddr = "fd00:200::100".parse().unwrap();
    let mut c = InstanceConfig::new(vrid(), vec![vip6]);
    c.unicast_peers = vec![peer6];
    c.unicast_min_hop_limit = 64;
    let mut vr = Instance::new(c).unwrap();
    vr.set_primary_address(clock.at(0), Some(me6));
    vr.handle_startup(clock.at(0));
    let unicast = Peer {
        addresses: vec![vip6],
        dst: me6,
        ..Peer::v3(peer6, 150)
    };
    unicast
        .deliver_with_hop_limit(&mut vr, clock.at(100), 64)
        .unwrap();
    assert_eq!(
        unicast.deliver_with_hop_limit(&mut vr, clock.at(100), 63),
        Err(RxError::HopLimit {
            got: 63,
            required: 64
        })
    );
    let multicast = Peer {
        dst: IpAddr::V6(vrrp_core::VRRP_GROUP_V6),
        ..unicast
    };
    assert_eq!(
        multicast.deliver_with_hop_limit(&mut vr, clock.at(100), 64),
        Err(RxError::HopLimit {
            got: 64,
            required: 255
        })
    );
}

/// RFC 3768 7.1: "MUST verify that the Adver Interval in the packet is the same as the locally
/// configured for this virtual router".
#[test]
fn rfc3768_7_1_v2_interval_mismatch_dropped() {
    let clock = Clock::new();
    let mut c = config(100);
    c.version = Version::V2;
    let (mut vr, timer) = backup_with_timer(c, &clock);
    let slow = Peer {
        interval_cs: 200,
        ..Peer::v2(HIGHER_PEER, 150)
    };
    assert_eq!(
        slow.deliver(&mut vr, clock.at(100)),
        Err(RxError::IntervalMismatch {
            got_centis: 200,
            expected_centis: 100
        })
    );
    assert_eq!(vr.stats().adv_interval_errors, 1);
    assert_eq!(vr.poll_timeout(), timer);
    assert_eq!(
        vr.master_adver_interval(),
        Interval::ONE_SECOND,
        "VRRPv2 never learns"
    );
    Peer::v2(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(150))
        .unwrap();
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 150 + 360);
}

/// 7.1: "MUST verify that the VRRP version is 3" (or 2 for a VRRPv2 router).
#[test]
fn rfc5798_7_1_version_mismatch_dropped() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    assert_eq!(
        Peer::v2(HIGHER_PEER, 150).deliver(&mut vr, clock.at(100)),
        Err(RxError::VersionMismatch {
            got: 2,
            expected: 3
        })
    );
    assert_eq!(vr.stats().version_errors, 1);
    assert_eq!(vr.poll_timeout(), timer);
}

/// 7.1: "MUST verify that the VRRP checksum is correct".
#[test]
fn rfc5798_7_1_bad_checksum_dropped() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    let mut bytes = Peer::v3(HIGHER_PEER, 150).bytes();
    bytes[7] ^= 0x01;
    let err = vr.handle_packet(
        clock.at(100),
        &Received {
            src: HIGHER_PEER,
            dst: GROUP,
            hop_limit: 255,
            payload: &bytes,
        },
    );
    assert!(
        matches!(err, Err(RxError::Wire(WireError::Checksum { .. }))),
        "{err:?}"
    );
    assert_eq!(vr.stats().checksum_errors, 1);
    assert_eq!(vr.poll_timeout(), timer);
}

/// A VRRPv3 IPv4 advert checksummed without the pseudo-header (keepalived's
/// `v3_checksum_as_v2` peers) is accepted too.
#[test]
fn v3_ipv4_accepts_the_checksum_as_v2_form() {
    let clock = Clock::new();
    let (mut vr, _) = backup_with_timer(config(100), &clock);
    let peer = Peer::v3(HIGHER_PEER, 150);
    let adv = Advertisement::parse(
        &peer.bytes(),
        Endpoints {
            src: peer.src,
            dst: peer.dst,
        },
        ChecksumMode::PseudoHeader,
    )
    .unwrap();
    let compat = adv
        .to_bytes(
            Endpoints {
                src: peer.src,
                dst: peer.dst,
            },
            ChecksumMode::V3AsV2,
        )
        .unwrap();
    vr.handle_packet(
        clock.at(100),
        &Received {
            src: peer.src,
            dst: GROUP,
            hop_limit: 255,
            payload: &compat,
        },
    )
    .unwrap();
    assert_eq!(vr.stats().rcvd_advertisements, 1);
}

/// 7.1: a message whose length does not match its address count is dropped.
#[test]
fn rfc5798_7_1_length_against_count_dropped() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    let bytes = Peer::v3(HIGHER_PEER, 150).bytes();
    let err = vr.handle_packet(
        clock.at(100),
        &Received {
            src: HIGHER_PEER,
            dst: GROUP,
            hop_limit: 255,
            payload: &bytes[..10],
        },
    );
    assert!(matches!(
        err,
        Err(RxError::Wire(WireError::Length {
            expected: 12,
            actual: 10
        }))
    ));
    assert_eq!(vr.stats().packet_length_errors, 1);
    assert_eq!(vr.poll_timeout(), timer);
}

/// 7.1: only type 1 (ADVERTISEMENT) exists.
#[test]
fn rfc5798_7_1_invalid_type_dropped() {
    let clock = Clock::new();
    let (mut vr, _) = backup_with_timer(config(100), &clock);
    let mut bytes = Peer::v3(HIGHER_PEER, 150).bytes();
    bytes[0] = 0x32;
    let err = vr.handle_packet(
        clock.at(100),
        &Received {
            src: HIGHER_PEER,
            dst: GROUP,
            hop_limit: 255,
            payload: &bytes,
        },
    );
    assert_eq!(err, Err(RxError::Wire(WireError::Type { kind: 2 })));
    assert_eq!(vr.stats().rcvd_invalid_type_packets, 1);
}

/// RFC 3768 7.1: the authentication type must match, and the password.
#[test]
fn rfc3768_7_1_v2_authentication() {
    let clock = Clock::new();
    let mut c = config(100);
    c.version = Version::V2;
    c.password = Password::new(b"secret12");
    let (mut vr, timer) = backup_with_timer(c, &clock);
    let right = Peer {
        auth: Auth::Password(Password::new(b"secret12").unwrap()),
        ..Peer::v2(HIGHER_PEER, 150)
    };
    let wrong = Peer {
        auth: Auth::Password(Password::new(b"secret13").unwrap()),
        ..Peer::v2(HIGHER_PEER, 150)
    };
    let none = Peer::v2(HIGHER_PEER, 150);
    let ah = Peer {
        auth: Auth::Unsupported {
            auth_type: 2,
            data: [0; 8],
        },
        ..Peer::v2(HIGHER_PEER, 150)
    };
    assert_eq!(
        wrong.deliver(&mut vr, clock.at(100)),
        Err(RxError::AuthFailure)
    );
    assert_eq!(
        none.deliver(&mut vr, clock.at(100)),
        Err(RxError::AuthTypeMismatch {
            got: 0,
            expected: 1
        })
    );
    assert_eq!(
        ah.deliver(&mut vr, clock.at(100)),
        Err(RxError::InvalidAuthType { auth_type: 2 })
    );
    assert_eq!(vr.poll_timeout(), timer);
    let s = vr.stats();
    assert_eq!(
        (s.auth_failures, s.auth_type_mismatch, s.invalid_auth_type),
        (1, 1, 1)
    );
    right.deliver(&mut vr, clock.at(100)).unwrap();
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 100 + 360);
}

/// RFC 3768 7.1: a differing address list is dropped unless the owner (255) sent it.
#[test]
fn rfc3768_7_1_v2_address_list_mismatch_dropped_unless_owner() {
    let clock = Clock::new();
    let mut c = config(100);
    c.version = Version::V2;
    let (mut vr, timer) = backup_with_timer(c, &clock);
    let other: IpAddr = "10.200.0.101".parse().unwrap();
    let odd = Peer {
        addresses: vec![other],
        ..Peer::v2(HIGHER_PEER, 150)
    };
    assert_eq!(
        odd.deliver(&mut vr, clock.at(100)),
        Err(RxError::AddressList)
    );
    assert_eq!(vr.poll_timeout(), timer);
    let owner = Peer {
        addresses: vec![other],
        ..Peer::v2(HIGHER_PEER, 255)
    };
    owner.deliver(&mut vr, clock.at(100)).unwrap();
    assert_eq!(vr.stats().address_list_errors, 2);
}

/// RFC 5798 7.1: a differing address list is logged (counted) and the advert processed.
#[test]
fn rfc5798_7_1_v3_address_list_mismatch_counted_not_dropped() {
    let clock = Clock::new();
    let (mut vr, _) = backup_with_timer(config(100), &clock);
    let odd = Peer {
        addresses: vec![VIP, "10.200.0.101".parse().unwrap()],
        ..Peer::v3(HIGHER_PEER, 150)
    };
    odd.deliver(&mut vr, clock.at(100)).unwrap();
    assert_eq!(vr.stats().address_list_errors, 1);
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 100 + 360);
    let mut strict = config(100);
    strict.strict_address_list = true;
    let (mut vr, _) = backup_with_timer(strict, &clock);
    assert_eq!(
        odd.deliver(&mut vr, clock.at(100)),
        Err(RxError::AddressList)
    );
}

/// Our own advert looped back by the kernel is ignored.
#[test]
fn own_advert_looped_back_is_ignored() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    assert_eq!(
        Peer::v3(ME, 150).deliver(&mut vr, clock.at(100)),
        Err(RxError::OwnAdvert)
    );
    assert_eq!(vr.poll_timeout(), timer);
    assert_eq!(vr.stats().own_adverts, 1);
}

// ----- unicast -------------------------------------------------------------------------------

/// keepalived `unicast_peer`: one advert per peer, each checksummed for its destination;
/// adverts from any other source are rejected and counted.
#[test]
fn unicast_peers_get_one_advert_each_and_strangers_are_rejected() {
    let clock = Clock::new();
    let mut c = config(255);
    c.unicast_peers = vec![LOWER_PEER, HIGHER_PEER];
    let mut vr = started(c, &clock);
    let sends: Vec<_> = drain_raw(&mut vr)
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvertisement(tx) => Some(tx),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends.iter().map(|t| t.dst).collect::<Vec<_>>(),
        vec![LOWER_PEER, HIGHER_PEER]
    );
    assert_ne!(
        sends[0].payload, sends[1].payload,
        "the VRRPv3 checksum covers the destination"
    );
    for tx in &sends {
        let at = Endpoints {
            src: tx.src,
            dst: tx.dst,
        };
        assert_eq!(
            Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader)
                .unwrap()
                .priority,
            255
        );
    }
    let stranger: IpAddr = "10.200.0.9".parse().unwrap();
    let from_stranger = Peer {
        dst: ME,
        ..Peer::v3(stranger, 100)
    };
    assert_eq!(
        from_stranger.deliver(&mut vr, clock.at(50)),
        Err(RxError::UnknownPeer { src: stranger })
    );
    assert_eq!(vr.stats().unknown_peer, 1);
}

/// `unicast` with no peer (peers discovered at run time, none yet): no advert goes to the
/// multicast group, every advert is from an unknown peer, and a reconfiguration that brings
/// a peer sends it the next advert.
#[test]
fn unicast_without_peers_stays_unicast() {
    let clock = Clock::new();
    let mut c = config(255);
    c.unicast = true;
    let mut vr = started(c.clone(), &clock);
    let sends = drain_raw(&mut vr)
        .into_iter()
        .filter(|a| matches!(a, Action::SendAdvertisement(_)))
        .count();
    assert_eq!(sends, 0, "no advert to the multicast group");
    assert_eq!(vr.state(), State::Master, "alone, the owner is Master");
    let from_group = Peer::v3(LOWER_PEER, 100);
    assert_eq!(
        from_group.deliver(&mut vr, clock.at(50)),
        Err(RxError::UnknownPeer { src: LOWER_PEER })
    );
    c.unicast_peers = vec![LOWER_PEER];
    vr.reconfigure(clock.at(60), c).unwrap();
    drain_raw(&mut vr);
    vr.handle_timeout(clock.at(200));
    let dsts: Vec<IpAddr> = drain_raw(&mut vr)
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvertisement(tx) => Some(tx.dst),
            _ => None,
        })
        .collect();
    assert_eq!(
        dsts,
        vec![LOWER_PEER],
        "the next advert goes to the new peer only"
    );
}

// ----- tracking, priority and Fault ---------------------------------------------------------

/// keepalived weights: positive while up, negative while down; clamped to 1..=254; the owner's
/// 255 is never adjusted.
#[test]
fn effective_priority_adds_weights_and_clamps() {
    let clock = Clock::new();
    let mut c = config(250);
    c.tracks = vec![Track::new("bonus", 20), Track::new("api", -40)];
    let mut vr = started(c, &clock);
    assert_eq!(vr.effective_priority(), 254, "250 + 20 clamps to 254");
    vr.set_track(clock.at(1), "api", false).unwrap();
    assert_eq!(vr.effective_priority(), 230);
    vr.set_track(clock.at(2), "bonus", false).unwrap();
    assert_eq!(vr.effective_priority(), 210);
    let mut low = config(10);
    low.tracks = vec![Track::new("api", -40)];
    let mut vr = started(low, &clock);
    vr.set_track(clock.at(1), "api", false).unwrap();
    assert_eq!(vr.effective_priority(), 1, "10 - 40 clamps to 1");
    let mut owner = config(255);
    owner.tracks = vec![Track::new("api", -40)];
    let mut vr = started(owner, &clock);
    vr.set_track(clock.at(1), "api", false).unwrap();
    assert_eq!(vr.effective_priority(), 255, "the owner is never adjusted");
    assert_eq!(
        vr.set_track(clock.at(1), "nope", false),
        Err(vrrp_core::UnknownTrack {
            name: "nope".into()
        })
    );
}

/// `tracks()` reports each tracked object with its effect by the one weight rule
/// (`Track::effect`), so that callers never recompute it.
#[test]
fn tracks_report_their_effect() {
    let clock = Clock::new();
    let mut c = config(100);
    c.tracks = vec![
        Track::new("bonus", 20),
        Track::new("api", -40),
        Track::new("kubelet", 0),
    ];
    let mut vr = started(c, &clock);
    let effects = |vr: &Instance| -> Vec<(String, i16, bool, TrackEffect)> {
        vr.tracks()
            .map(|t| (t.name.to_owned(), t.weight, t.up, t.effect))
            .collect()
    };
    assert_eq!(
        effects(&vr),
        [
            ("bonus".into(), 20, true, TrackEffect::Adjust(20)),
            ("api".into(), -40, true, TrackEffect::None),
            ("kubelet".into(), 0, true, TrackEffect::None),
        ]
    );
    vr.set_track(clock.at(1), "bonus", false).unwrap();
    vr.set_track(clock.at(1), "api", false).unwrap();
    vr.set_track(clock.at(1), "kubelet", false).unwrap();
    assert_eq!(
        effects(&vr),
        [
            ("bonus".into(), 20, false, TrackEffect::None),
            ("api".into(), -40, false, TrackEffect::Adjust(-40)),
            ("kubelet".into(), 0, false, TrackEffect::Fault),
        ]
    );
    let adjust: i32 = vr.tracks().map(|t| t.effect.adjustment()).sum();
    assert_eq!(adjust, -40);
    assert_eq!(vr.state(), State::Fault);
    assert_eq!(vr.fault(), Some(Reason::TrackFailed));
}

/// A tracked object with a varying weight (keepalived `track_file`): each report sets its
/// state and weight at once; a master advertises the new priority at once; weight 0 while
/// down is Fault.
#[test]
fn a_varying_track_weight_moves_the_priority_and_weight_zero_down_is_fault() {
    let clock = Clock::new();
    let mut c = config(100);
    let mut file = Track::new("file", 0);
    file.initially_up = false;
    c.tracks = vec![file];
    let mut vr = Instance::new(c).unwrap();
    vr.set_primary_address(clock.at(0), Some(ME));
    vr.handle_startup(clock.at(0));
    assert_eq!(vr.state(), State::Fault, "weight 0 and down: not eligible");
    drain(&mut vr);
    vr.set_track_weighted(clock.at(10), "file", true, 10)
        .unwrap();
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(vr.effective_priority(), 110);
    let down = vr.poll_timeout().unwrap();
    vr.handle_timeout(down);
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    vr.set_track_weighted(clock.at(500), "file", false, -30)
        .unwrap();
    assert_eq!(vr.effective_priority(), 70);
    assert_eq!(
        drain(&mut vr),
        strs(&["send p70 -> 224.0.0.18"]),
        "advertised at once"
    );
    vr.set_track_weighted(clock.at(600), "file", true, 900)
        .unwrap();
    assert_eq!(vr.effective_priority(), 254, "clamped to 254");
    vr.set_track_weighted(clock.at(700), "file", false, 0)
        .unwrap();
    assert_eq!(vr.state(), State::Fault);
    assert_eq!(vr.last_reason(), Some(Reason::TrackFailed));
    assert!(
        vr.set_track_weighted(clock.at(800), "nope", true, 1)
            .is_err()
    );
}

/// A failed weighted track lowers the master's priority, which it advertises at once; the
/// higher backup then preempts it, and the old master yields on the next advert.
#[test]
fn failed_weighted_track_lowers_priority_and_causes_failover() {
    let clock = Clock::new();
    let mut ca = config(150);
    ca.tracks = vec![Track::new("kube-api", -60)];
    let mut a = Instance::new(ca).unwrap();
    a.set_primary_address(clock.at(0), Some(HIGHER_PEER));
    a.handle_startup(clock.at(0));
    let mut b = started(config(100), &clock);
    let mut nodes = [&mut a, &mut b];
    let mut now = clock.at(0);
    let mut log = Vec::new();
    let mut failed = false;
    // Pump both instances through time until 20 s, delivering each advert to the other.
    while clock.cs(now) < 2000 {
        if !failed && clock.cs(now) >= 1000 {
            nodes[0].set_track(now, "kube-api", false).unwrap();
            failed = true;
            log.push(format!("{} a: kube-api down", clock.cs(now)));
        }
        // Drain both until neither has anything left: a delivered advert may make the other
        // node act at the same instant.
        let mut pending = true;
        while pending {
            pending = false;
            for i in 0..2 {
                let actions = drain_raw(nodes[i]);
                pending |= !actions.is_empty();
                for action in actions {
                    if let Action::StateChanged { to, reason, .. } = &action {
                        log.push(format!(
                            "{} {}: {to} ({reason})",
                            clock.cs(now),
                            ["a", "b"][i]
                        ));
                    }
                    if let Action::SendAdvertisement(tx) = action {
                        let rx = Received {
                            src: tx.src,
                            dst: tx.dst,
                            hop_limit: 255,
                            payload: &tx.payload,
                        };
                        nodes[1 - i].handle_packet(now, &rx).unwrap();
                    }
                }
            }
        }
        now = nodes.iter().filter_map(|n| n.poll_timeout()).min().unwrap();
        for n in nodes.iter_mut() {
            n.handle_timeout(now);
        }
    }
    // a (150) wins at startup after its Master_Down_Interval of 3.414062 s and advertises
    // every second. Its track fails at the first event after 10 s, its advert of 10.414062 s:
    // b accepts that advert (150) but discards the 90 that a sends at once, and preempts a
    // Master_Down_Interval (3.609375 s) after the last advert it accepted, at 14.023437 s; a
    // yields to b's advert. (Times in whole centiseconds, truncated.)
    assert_eq!(
        log,
        strs(&[
            "0 a: BACKUP (startup)",
            "0 b: BACKUP (startup)",
            "341 a: MASTER (master down timer expired)",
            "1041 a: kube-api down",
            "1402 b: MASTER (preempted lower-priority master)",
            "1402 a: BACKUP (higher-priority advert)",
        ])
    );
    assert_eq!(a.effective_priority(), 90);
}

/// A tracked object with weight 0 puts the instance in Fault: a master resigns with priority 0
/// and removes its addresses; recovery returns it to Backup.
#[test]
fn fault_removes_the_vips_and_recovery_returns_to_backup() {
    let clock = Clock::new();
    let mut c = config(100);
    c.tracks = vec![Track::new("kubelet", 0)];
    let mut vr = master(c, &clock);
    vr.set_track(clock.at(400), "kubelet", false).unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "state MASTER->FAULT (tracked object failed)",
            "send p0 -> 224.0.0.18",
            "remove 10.200.0.100"
        ])
    );
    assert_eq!(vr.poll_timeout(), None, "Fault runs no timer");
    Peer::v3(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(450))
        .unwrap();
    assert_eq!(
        vr.state(),
        State::Fault,
        "adverts do not move a faulted instance"
    );
    vr.set_track(clock.at(500), "kubelet", true).unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&["state FAULT->BACKUP (fault cleared)"])
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 500 + 360);
}

/// Link down is a Fault too; there is nothing to send it from, so no priority-0 advert.
#[test]
fn link_down_is_fault_without_resigning() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    vr.set_link_up(clock.at(400), false);
    assert_eq!(
        drain(&mut vr),
        strs(&["state MASTER->FAULT (link down)", "remove 10.200.0.100"])
    );
    vr.set_link_up(clock.at(500), true);
    assert_eq!(
        drain(&mut vr),
        strs(&["state FAULT->BACKUP (fault cleared)"])
    );
    vr.set_primary_address(clock.at(600), None);
    assert_eq!(
        drain(&mut vr),
        strs(&["state BACKUP->FAULT (no primary address)"])
    );
}

/// An owner leaving Fault goes straight back to Master.
#[test]
fn owner_recovers_straight_to_master() {
    let clock = Clock::new();
    let mut vr = started(config(255), &clock);
    drain(&mut vr);
    vr.set_link_up(clock.at(100), false);
    drain(&mut vr);
    vr.set_link_up(clock.at(200), true);
    assert_eq!(drain(&mut vr)[0], "state FAULT->MASTER (address owner)");
}

// ----- announcements (keepalived garp_master_*) ------------------------------------------------

/// On becoming Master: `repeat` announcements at once, `repeat` more after `delay`, then
/// `refresh_repeat` every `refresh` counted from becoming Master.
#[test]
fn garp_burst_and_refresh_timing() {
    let clock = Clock::new();
    let mut c = config(255);
    let second: IpAddr = "10.200.0.101".parse().unwrap();
    c.virtual_addresses.push(second);
    let mut schedule = AnnounceSchedule::default();
    schedule.delay = Centis::from_secs(2);
    schedule.repeat = 3;
    schedule.refresh = Centis::from_secs(5);
    schedule.refresh_repeat = 2;
    c.announce = schedule;
    let mut vr = started(c, &clock);
    let mut bursts: Vec<(u64, usize)> = Vec::new();
    let mut now = clock.at(0);
    loop {
        let count = announcements(&mut vr);
        if count > 0 {
            bursts.push((clock.cs(now), count));
        }
        now = vr.poll_timeout().unwrap();
        if clock.cs(now) > 1600 {
            break;
        }
        vr.handle_timeout(now);
    }
    // Two addresses: 3 x 2 at 0 s and 2 s, then 2 x 2 at 5, 10 and 15 s.
    assert_eq!(
        bursts,
        vec![(0, 6), (200, 6), (500, 4), (1000, 4), (1500, 4)]
    );
}

/// keepalived's defaults: 5 at once and 5 more 5 s later (as captured from keepalived 2.2.7),
/// no refresh.
#[test]
fn garp_defaults_match_keepalived() {
    let clock = Clock::new();
    let mut vr = started(config(255), &clock);
    assert_eq!(announcements(&mut vr), 5);
    for t in (100..=500).step_by(100) {
        vr.handle_timeout(clock.at(t));
    }
    assert_eq!(announcements(&mut vr), 5);
    for t in (600..=2000).step_by(100) {
        vr.handle_timeout(clock.at(t));
    }
    assert_eq!(announcements(&mut vr), 0);
}

/// Leaving Master cancels the schedule: a master that yields before its second burst never
/// sends it.
#[test]
fn leaving_master_cancels_the_announcements() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    Peer::v3(HIGHER_PEER, 200)
        .deliver(&mut vr, clock.at(500))
        .unwrap();
    drain(&mut vr);
    // Becoming Master at 3.60 s scheduled the second burst for 8.60 s. The new master keeps
    // advertising every second, so this router stays Backup throughout. A stale
    // announcement deadline would also show in poll_timeout (spurious wake-ups, a busy loop
    // once past): the only timer must be the Master_Down_Timer.
    let mut last_advert = 500;
    for t in (510..=1500).step_by(10) {
        if t % 100 == 0 {
            Peer::v3(HIGHER_PEER, 200)
                .deliver(&mut vr, clock.at(t))
                .unwrap();
            last_advert = t;
        }
        vr.handle_timeout(clock.at(t));
        assert_eq!(announcements(&mut vr), 0, "at {t} cs");
        assert_eq!(
            clock.cs(vr.poll_timeout().unwrap()),
            last_advert + 360,
            "at {t} cs"
        );
    }
    assert_eq!(vr.state(), State::Backup);
}

// ----- configuration ---------------------------------------------------------------------------

/// VRRPv3 has no authentication: a password is refused with a message that says why.
#[test]
fn v3_with_password_is_a_configuration_error() {
    let mut c = config(100);
    c.password = Password::new(b"k8s_vip");
    let err = Instance::new(c).unwrap_err();
    assert_eq!(err, ConfigError::PasswordWithV3);
    let msg = err.to_string();
    assert!(
        msg.contains("no authentication") && msg.contains("keepalived silently ignores"),
        "{msg}"
    );
}

#[test]
fn invalid_configurations_name_the_field_and_the_fix() {
    let cases: Vec<(InstanceConfig, &str)> = vec![
        (
            InstanceConfig::new(vrid(), vec![]),
            "virtual_addresses is empty",
        ),
        (
            InstanceConfig::new(vrid(), vec![VIP, IpAddr::V6(Ipv6Addr::LOCALHOST)]),
            "use one instance per family",
        ),
        (InstanceConfig::new(vrid(), vec![VIP, VIP]), "listed twice"),
        (
            {
                let mut c = config(100);
                c.version = Version::V2;
                c.advert_interval = Interval::from_centis(150).unwrap();
                c
            },
            "whole seconds",
        ),
        (
            {
                let mut c = config(100);
                c.advert_interval = Interval::from_secs(41).unwrap();
                c
            },
            "10ms to 40.95s",
        ),
        (
            {
                let mut c = InstanceConfig::new(vrid(), vec!["fd00:200::100".parse().unwrap()]);
                c.version = Version::V2;
                c
            },
            "IPv4 only",
        ),
        (
            {
                let mut c = config(255);
                c.preempt = false;
                c
            },
            "address owner always preempts",
        ),
        (
            {
                let mut c = config(100);
                c.tracks = vec![Track::new("a", 255)];
                c
            },
            "weights go from -254 to 254",
        ),
        (
            {
                let mut c = config(100);
                c.tracks = vec![Track::new("a", 1), Track::new("a", 2)];
                c
            },
            "used twice",
        ),
        (
            {
                let mut c = config(100);
                c.unicast_peers = vec!["fd00:200::1".parse().unwrap()];
                c
            },
            "is not of the instance's family",
        ),
        (
            {
                let mut c = InstanceConfig::new(vrid(), vec!["fd00:200::100".parse().unwrap()]);
                c.unicast_peers = vec!["fd00:200::1".parse().unwrap()];
                c.unicast_source = Some(ME);
                c
            },
            "is not of the instance's family (IPv6)",
        ),
        (
            {
                let mut c = config(100);
                c.unicast_peers = vec![LOWER_PEER];
                c.unicast_source = Some(GROUP);
                c
            },
            "224.0.0.18 is not a unicast address",
        ),
    ];
    for (c, needle) in cases {
        let err = Instance::new(c).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
        assert!(!err.field().is_empty(), "{msg:?} names no field");
    }
}

// ----- Router ---------------------------------------------------------------------------------

/// The Router routes by interface, VRID and family, and counts what no instance takes.
#[test]
fn router_demultiplexes_by_interface_vrid_and_family() {
    let clock = Clock::new();
    let mut router = Router::new();
    let k51 = router.add_instance(1, config(100)).unwrap();
    let mut c52 = InstanceConfig::new(
        Vrid::new(52).unwrap(),
        vec!["10.200.0.101".parse().unwrap()],
    );
    c52.priority = Priority::new(100).unwrap();
    let k52 = router.add_instance(1, c52).unwrap();
    let dup = router.add_instance(1, config(90)).unwrap_err();
    assert!(dup.to_string().contains("configured twice"), "{dup}");
    let other_if = router.add_instance(2, config(100)).unwrap();
    for key in [k51, k52, other_if] {
        router
            .instance_mut(&key)
            .unwrap()
            .set_primary_address(clock.at(0), Some(ME));
    }
    router.handle_startup(clock.at(0));
    let started: Vec<_> = std::iter::from_fn(|| router.poll_action()).collect();
    assert_eq!(started.len(), 3);
    let adv = Peer::v3(HIGHER_PEER, 150).bytes();
    let rx = Received {
        src: HIGHER_PEER,
        dst: GROUP,
        hop_limit: 255,
        payload: &adv,
    };
    router.handle_packet(clock.at(100), 1, &rx).unwrap();
    assert_eq!(
        router.instance(&k51).unwrap().stats().rcvd_advertisements,
        1
    );
    assert_eq!(
        router.instance(&k52).unwrap().stats().rcvd_advertisements,
        0
    );
    assert_eq!(
        router
            .instance(&other_if)
            .unwrap()
            .stats()
            .rcvd_advertisements,
        0
    );
    assert_eq!(
        router.handle_packet(clock.at(100), 3, &rx),
        Err(RxError::UnknownVrid { vrid: 51 })
    );
    assert_eq!(
        router.handle_packet(
            clock.at(100),
            1,
            &Received {
                payload: &adv[..4],
                ..rx
            }
        ),
        Err(RxError::Wire(WireError::TooShort { len: 4 }))
    );
    assert_eq!(router.stats().vrid_errors, 1);
    assert_eq!(router.stats().packet_length_errors, 1);
    // The timers: k51 was reset at 1 s, the others run from 0.
    assert_eq!(clock.us(router.poll_timeout().unwrap()), 3_609_375);
    router.handle_timeout(clock.at_us(3_609_375));
    let became: Vec<_> = std::iter::from_fn(|| router.poll_action())
        .filter_map(|(k, a)| {
            matches!(
                a,
                Action::StateChanged {
                    to: State::Master,
                    ..
                }
            )
            .then_some(k)
        })
        .collect();
    assert_eq!(became, vec![k52, other_if]);
    assert_eq!(router.instance(&k51).unwrap().state(), State::Backup);
    let _ = Reason::Startup;
}

// ----- make-before-break handover (vipd's planned shutdown) ------------------------------------

/// A handover sends priority 0 at once but keeps the addresses until the new master speaks.
#[test]
fn handover_keeps_the_vips_until_the_new_master_speaks() {
    let clock = Clock::new();
    let mut vr = master(config(150), &clock);
    vr.handle_handover(clock.at(400));
    assert_eq!(drain(&mut vr), strs(&["send p0 -> 224.0.0.18"]));
    assert_eq!(vr.state(), State::Master, "still answering for the VIP");
    assert!(vr.is_releasing());
    // Bounded by Master_Down_Interval: 3 * 100 + (106 * 100) / 256 = 341 cs.
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 400 + 341);
    // The backup (priority 100) takes over after its Skew_Time, 0.60 s, and advertises.
    Peer::v3(LOWER_PEER, 100)
        .deliver(&mut vr, clock.at(460))
        .unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&["state MASTER->INIT (shutdown)", "remove 10.200.0.100"])
    );
    assert!(!vr.is_releasing());
    assert_eq!(vr.poll_timeout(), None);
    assert_eq!(vr.stats().sent_pri_zero_packets, 1);
}

/// With no successor, the handover releases the addresses after Master_Down_Interval, and
/// nothing (a lower advert, a priority 0, a track change) makes it advertise again.
#[test]
fn handover_without_successor_releases_after_master_down_interval() {
    let clock = Clock::new();
    let mut c = config(150);
    c.tracks = vec![Track::new("api", -40)];
    let mut vr = master(c, &clock);
    vr.handle_handover(clock.at(400));
    drain(&mut vr);
    Peer::v3(LOWER_PEER, 0)
        .deliver(&mut vr, clock.at(450))
        .unwrap();
    vr.set_track(clock.at(500), "api", false).unwrap();
    vr.handle_timeout(clock.at(700));
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    // 4 s + Master_Down_Interval of priority 150 (3.414062 s).
    assert_eq!(clock.us(vr.poll_timeout().unwrap()), 7_414_062);
    vr.handle_timeout(clock.at_us(7_414_062));
    assert_eq!(
        drain(&mut vr),
        strs(&["state MASTER->INIT (shutdown)", "remove 10.200.0.100"])
    );
    assert_eq!(
        vr.stats().sent_pri_zero_packets,
        1,
        "one priority-0 advert in all"
    );
}

/// A backup's handover is a plain shutdown; a shutdown during a handover releases at once
/// without a second priority-0 advert.
#[test]
fn handover_of_a_backup_or_interrupted_by_shutdown() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    vr.handle_handover(clock.at(100));
    assert_eq!(drain(&mut vr), strs(&["state BACKUP->INIT (shutdown)"]));
    let mut vr = master(config(100), &clock);
    vr.handle_handover(clock.at(400));
    vr.handle_handover(clock.at(410));
    vr.handle_shutdown(clock.at(420));
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "send p0 -> 224.0.0.18",
            "state MASTER->INIT (shutdown)",
            "remove 10.200.0.100"
        ])
    );
}

/// A master that can no longer serve its addresses (here its link went down) ends its
/// handover at once instead of holding them until the deadline.
#[test]
fn a_fault_during_handover_releases_at_once() {
    let clock = Clock::new();
    let mut vr = master(config(150), &clock);
    vr.handle_handover(clock.at(400));
    drain(&mut vr);
    vr.set_link_up(clock.at(450), false);
    assert_eq!(
        drain(&mut vr),
        strs(&["state MASTER->INIT (shutdown)", "remove 10.200.0.100"])
    );
    assert_eq!(vr.poll_timeout(), None);
}

// ----- status: the peers heard --------------------------------------------------------------

/// `peers()` lists every router a valid advert came from with what it last advertised (a
/// resigned master shows priority 0); invalid adverts add nobody; the table is bounded and
/// forgets the least recently heard first.
#[test]
fn peers_lists_each_sender_with_its_last_advert_bounded() {
    let clock = Clock::new();
    let mut vr = started(config(100), &clock);
    drain(&mut vr);
    Peer::v3(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(100))
        .unwrap();
    Peer::v3(LOWER_PEER, 100)
        .deliver(&mut vr, clock.at(150))
        .unwrap();
    Peer::v3(HIGHER_PEER, 0)
        .deliver(&mut vr, clock.at(200))
        .unwrap();
    let bad = Peer::v3(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 7)), 200);
    assert!(
        bad.deliver_with_hop_limit(&mut vr, clock.at(210), 64)
            .is_err()
    );
    let seen: Vec<(IpAddr, u8, u64)> = vr
        .peers()
        .iter()
        .map(|p| (p.address, p.priority, clock.cs(p.seen)))
        .collect();
    assert_eq!(seen, vec![(LOWER_PEER, 100, 150), (HIGHER_PEER, 0, 200)]);
    assert_eq!(vr.peers()[1].interval.as_centis().get(), 100);
    for i in 0..u8::try_from(vrrp_core::MAX_PEERS).unwrap() {
        Peer::v3(IpAddr::V4(Ipv4Addr::new(10, 200, 1, i)), 120)
            .deliver(&mut vr, clock.at(300 + u64::from(i)))
            .unwrap();
    }
    assert_eq!(vr.peers().len(), vrrp_core::MAX_PEERS);
    assert!(
        vr.peers()
            .iter()
            .all(|p| p.address != LOWER_PEER && p.address != HIGHER_PEER),
        "the oldest peers were not dropped first"
    );
}

// ----- unicast_src_ip and global IPv6 peers ----------------------------------------------------

/// The adverts among some actions.
fn sends(actions: Vec<Action>) -> Vec<Transmit> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::SendAdvertisement(tx) => Some(tx),
            _ => None,
        })
        .collect()
}

const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 0x100));
const LL6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2));
const SRC6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 2));
const PEER6_LOW: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 1));
const PEER6_HIGH: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x200, 0, 0, 0, 0, 0, 3));

/// keepalived's IPv6 unicast setup: global peers with `unicast_src_ip`.
fn v6_unicast(priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(vrid(), vec![VIP6]);
    c.priority = Priority::new(priority).unwrap();
    c.unicast_peers = vec![PEER6_LOW, PEER6_HIGH];
    c.unicast_source = Some(SRC6);
    c
}

fn v6_peer(src: IpAddr, priority: u8) -> Peer {
    Peer {
        addresses: vec![VIP6],
        dst: SRC6,
        ..Peer::v3(src, priority)
    }
}

/// A started IPv6 instance with link-local primary address `LL6`.
fn started_v6(c: InstanceConfig, clock: &Clock) -> Instance {
    let mut vr = Instance::new(c).unwrap();
    vr.set_primary_address(clock.at(0), Some(LL6));
    vr.handle_startup(clock.at(0));
    vr
}

/// Global IPv6 unicast peers are accepted, and their adverts (from their global source) are
/// processed.
#[test]
fn global_ipv6_unicast_peers_are_accepted() {
    let clock = Clock::new();
    let mut c = v6_unicast(100);
    c.unicast_source = None;
    assert_eq!(c.problems(), vec![]);
    let mut vr = started_v6(v6_unicast(100), &clock);
    drain(&mut vr);
    v6_peer(PEER6_HIGH, 150)
        .deliver(&mut vr, clock.at(100))
        .unwrap();
    assert_eq!(vr.master().unwrap().address, PEER6_HIGH);
    // Master_Down_Interval from the advert: 3 * 100 + 156 * 100 / 256.
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 100 + 360);
}

/// With `unicast_source`, unicast adverts are sent from it and checksummed over it.
#[test]
fn unicast_source_is_the_advert_source_and_checksum() {
    let clock = Clock::new();
    let mut vr = started_v6(v6_unicast(255), &clock);
    assert_eq!(vr.source_address(), Some(SRC6));
    let txs = sends(drain_raw(&mut vr));
    assert_eq!(
        txs.iter().map(|t| (t.src, t.dst)).collect::<Vec<_>>(),
        vec![(SRC6, PEER6_LOW), (SRC6, PEER6_HIGH)]
    );
    for tx in &txs {
        let at = Endpoints {
            src: SRC6,
            dst: tx.dst,
        };
        assert_eq!(
            Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader)
                .unwrap()
                .priority,
            255
        );
        let from_primary = Endpoints { src: LL6, ..at };
        assert!(matches!(
            Advertisement::parse(&tx.payload, from_primary, ChecksumMode::PseudoHeader),
            Err(WireError::Checksum { .. })
        ));
    }
}

/// Multicast adverts keep the primary (link-local) address as source.
#[test]
fn multicast_keeps_the_primary_address_as_source() {
    let clock = Clock::new();
    let mut c = v6_unicast(255);
    c.unicast_peers = vec![];
    let mut vr = started_v6(c, &clock);
    assert_eq!(vr.source_address(), Some(LL6));
    let tx = sends(drain_raw(&mut vr)).remove(0);
    assert_eq!(
        (tx.src, tx.dst),
        (LL6, IpAddr::V6(vrrp_core::VRRP_GROUP_V6))
    );
}

/// An advert from our own `unicast_source` is our own, looped back: ignored and counted.
#[test]
fn adverts_from_the_unicast_source_are_our_own() {
    let clock = Clock::new();
    let mut vr = started_v6(v6_unicast(100), &clock);
    drain(&mut vr);
    let timer = vr.poll_timeout();
    let mut own = v6_peer(SRC6, 100);
    own.dst = PEER6_LOW;
    assert_eq!(own.deliver(&mut vr, clock.at(100)), Err(RxError::OwnAdvert));
    assert_eq!(vr.stats().own_adverts, 1);
    assert_eq!(vr.poll_timeout(), timer);
}

/// RFC 5798 6.4.3 tie-break at equal priority: our address is the one we send from, the
/// `unicast_source` (keepalived compares with its `saddr`): fd00:200::1 < fd00:200::2 stays,
/// fd00:200::3 > fd00:200::2 wins, though both are above our link-local primary.
#[test]
fn tie_break_compares_the_unicast_source() {
    let clock = Clock::new();
    let mut c = v6_unicast(100);
    c.announce.lower_prio_repeat = 1;
    let mut vr = started_v6(c, &clock);
    let down = vr.poll_timeout().unwrap();
    vr.handle_timeout(down);
    assert_eq!(vr.state(), State::Master);
    drain(&mut vr);
    v6_peer(PEER6_LOW, 100)
        .deliver(&mut vr, clock.at(400))
        .unwrap();
    assert_eq!(vr.state(), State::Master);
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "send p100 -> fd00:200::1",
            "send p100 -> fd00:200::3",
            "announce fd00:200::100"
        ])
    );
    v6_peer(PEER6_HIGH, 100)
        .deliver(&mut vr, clock.at(420))
        .unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "state MASTER->BACKUP (higher-priority advert)",
            "remove fd00:200::100"
        ])
    );
}

// ----- split brain healing: garp_lower_prio_repeat / garp_lower_prio_delay ---------------------

const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 101));

/// `n` rounds of `items`, in order.
fn rounds(n: usize, items: &[&str]) -> Vec<String> {
    (0..n).flat_map(|_| strs(items)).collect()
}

/// keepalived `vrrp_state_master_rx`: a Master hearing a lower priority answers with an advert
/// (Adver_Timer reset), requests `garp_lower_prio_repeat` announcements of every address at
/// once and as many again `garp_lower_prio_delay` later.
#[test]
fn keepalived_garp_lower_prio_repeat_and_delay() {
    let clock = Clock::new();
    let mut c = config(150);
    c.virtual_addresses = vec![VIP, VIP2];
    c.announce.repeat = 1;
    c.announce.delay = Centis::ZERO;
    c.announce.lower_prio_repeat = 2;
    c.announce.lower_prio_delay = Centis::from_secs(3);
    let mut vr = master(c, &clock);
    Peer {
        addresses: vec![VIP, VIP2],
        ..Peer::v3(HIGHER_PEER, 100)
    }
    .deliver(&mut vr, clock.at(400))
    .unwrap();
    let both = rounds(2, &["announce 10.200.0.100", "announce 10.200.0.101"]);
    assert_eq!(
        drain(&mut vr),
        trace(&[&strs(&["send p150 -> 224.0.0.18"]), &both])
    );
    assert_eq!(vr.stats().rcvd_lower_priority, 1);
    let mut seen = Vec::new();
    while let Some(t) = vr.poll_timeout() {
        if clock.cs(t) > 800 {
            break;
        }
        vr.handle_timeout(t);
        seen.push((clock.cs(t), drain(&mut vr)));
    }
    let send = strs(&["send p150 -> 224.0.0.18"]);
    assert_eq!(
        seen,
        vec![
            (500, send.clone()),
            (600, send.clone()),
            (700, trace(&[&send, &both])),
            (800, send.clone()),
        ]
    );
}

/// A priority-0 advert from another router: RFC 5798 6.4.3's advert at once, and (unlike
/// keepalived, which only advertises) the lower-priority re-announcement too: the resigning
/// router was a master whose clients must learn our MAC address.
#[test]
fn priority_zero_from_another_master_is_re_announced() {
    let clock = Clock::new();
    let mut c = config(100);
    c.announce.lower_prio_repeat = 1;
    c.announce.lower_prio_delay = Centis::ZERO;
    let mut vr = master(c, &clock);
    Peer::v3(HIGHER_PEER, 0)
        .deliver(&mut vr, clock.at(410))
        .unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&["send p100 -> 224.0.0.18", "announce 10.200.0.100"])
    );
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 510);
    assert_eq!(vr.stats().rcvd_lower_priority, 0);
    assert_eq!(vr.stats().rcvd_pri_zero_packets, 1);
}

/// `garp_lower_prio_repeat 0` (keepalived's `vrrp_strict` value): the advert only.
#[test]
fn lower_prio_repeat_zero_answers_with_the_advert_only() {
    let clock = Clock::new();
    let mut c = config(255);
    c.announce.lower_prio_repeat = 0;
    let mut vr = started(c, &clock);
    drain(&mut vr);
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(50))
        .unwrap();
    assert_eq!(drain(&mut vr), strs(&["send p255 -> 224.0.0.18"]));
    // The Adver_Timer reset; no lower-priority burst pending (only the start-up one at 5 s).
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 150);
    for t in (60..=490).step_by(10) {
        vr.handle_timeout(clock.at(t));
        assert_eq!(announcements(&mut vr), 0, "at {t}");
    }
}

/// Leaving Master drops a pending lower-priority burst, and a later lower advert moves it.
#[test]
fn lower_prio_second_burst_is_cancelled_on_leaving_master() {
    let clock = Clock::new();
    let mut c = config(150);
    c.announce.delay = Centis::ZERO;
    c.announce.lower_prio_delay = Centis::from_secs(2);
    let mut vr = master(c, &clock);
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(400))
        .unwrap();
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(450))
        .unwrap();
    drain(&mut vr);
    vr.handle_timeout(clock.at(600));
    assert_eq!(announcements(&mut vr), 0, "moved to 6.50 s");
    vr.handle_timeout(clock.at(650));
    assert_eq!(announcements(&mut vr), 5);
    Peer::v3(HIGHER_PEER, 100)
        .deliver(&mut vr, clock.at(700))
        .unwrap();
    drain(&mut vr);
    Peer::v3(HIGHER_PEER, 200)
        .deliver(&mut vr, clock.at(710))
        .unwrap();
    drain(&mut vr);
    assert_eq!(vr.state(), State::Backup);
    assert_eq!(
        clock.cs(vr.poll_timeout().unwrap()),
        710 + 3 * 100 + 106 * 100 / 256
    );
    for t in (720..=1000).step_by(10) {
        vr.handle_timeout(clock.at(t));
        assert_eq!(announcements(&mut vr), 0, "at {t}");
    }
}

/// `reannounce`: a Master requests `garp_master_repeat` announcements of every address at
/// once; any other state, nothing.
#[test]
fn reannounce_bursts_every_address_as_master_only() {
    let clock = Clock::new();
    let mut c = config(100);
    c.virtual_addresses = vec![VIP, VIP2];
    c.announce.repeat = 2;
    let (mut backup, timer) = backup_with_timer(c.clone(), &clock);
    backup.reannounce(clock.at(100));
    assert_eq!(drain(&mut backup), Vec::<String>::new());
    assert_eq!(backup.poll_timeout(), timer);
    let mut vr = master(c, &clock);
    let timeout = vr.poll_timeout();
    vr.reannounce(clock.at(400));
    assert_eq!(
        drain(&mut vr),
        strs(&[
            "announce 10.200.0.100",
            "announce 10.200.0.101",
            "announce 10.200.0.100",
            "announce 10.200.0.101",
        ])
    );
    assert_eq!(vr.poll_timeout(), timeout);
}

// ----- reconfigure in place (a reload of a live instance) --------------------------------------

const VIP3: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 102));

/// A reload with an unchanged configuration does nothing at all.
#[test]
fn reconfigure_unchanged_is_silent() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    let timeout = vr.poll_timeout();
    vr.reconfigure(clock.at(400), config(100)).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(vr.poll_timeout(), timeout);
    assert_eq!(vr.state_since(), Some(clock.at_us(3_609_375)));
}

/// Every kind of change on a Master: no `StateChanged`, no priority-0 advert, and exactly the
/// trace each change calls for.
#[test]
fn reconfigure_each_kind_of_change_on_a_master_keeps_it_master() {
    type Change = fn(&mut InstanceConfig);
    let cases: Vec<(&str, Change, Vec<String>)> = vec![
        (
            "priority",
            |c| c.priority = Priority::new(150).unwrap(),
            strs(&["send p150 -> 224.0.0.18"]),
        ),
        ("preempt", |c| c.preempt = false, vec![]),
        (
            "preempt_delay",
            |c| c.preempt_delay = Centis::from_secs(30),
            vec![],
        ),
        (
            "advert_interval",
            |c| c.advert_interval = Interval::from_centis(200).unwrap(),
            strs(&["send p100 -> 224.0.0.18"]),
        ),
        (
            "checksum_mode",
            |c| c.checksum_mode = ChecksumMode::V3AsV2,
            vec![],
        ),
        (
            "unicast_peers",
            |c| c.unicast_peers = vec![LOWER_PEER],
            vec![],
        ),
        (
            "unicast_source",
            |c| {
                c.unicast_peers = vec![LOWER_PEER];
                c.unicast_source = Some("10.200.1.2".parse().unwrap());
            },
            vec![],
        ),
        (
            "unicast_min_hop_limit",
            |c| c.unicast_min_hop_limit = 64,
            vec![],
        ),
        (
            "announce",
            |c| {
                c.announce.refresh = Centis::from_secs(10);
                c.announce.lower_prio_repeat = 1;
            },
            vec![],
        ),
        (
            "strict_address_list",
            |c| c.strict_address_list = true,
            vec![],
        ),
        (
            "tracks (new, up, weight +20)",
            |c| c.tracks = vec![Track::new("ingress", 20)],
            strs(&["send p120 -> 224.0.0.18"]),
        ),
        (
            "virtual_addresses",
            |c| c.virtual_addresses = vec![VIP, VIP2],
            trace(&[
                &strs(&["add 10.200.0.101"]),
                &times(5, "announce 10.200.0.101"),
            ]),
        ),
    ];
    for (name, change, expected) in cases {
        let clock = Clock::new();
        let mut vr = master(config(100), &clock);
        let mut c = config(100);
        change(&mut c);
        vr.reconfigure(clock.at(400), c.clone()).unwrap();
        let got = drain(&mut vr);
        assert_eq!(got, expected, "{name}");
        assert!(
            got.iter()
                .all(|a| !a.starts_with("state") && !a.starts_with("send p0")),
            "{name}"
        );
        assert_eq!(vr.state(), State::Master, "{name}");
        assert_eq!(vr.config(), &c, "{name}");
        assert_eq!(vr.stats().master_transitions, 1, "{name}");
    }
}

/// VRRPv2: a new password applies to the next advert, with no other action.
#[test]
fn reconfigure_v2_password_applies_to_the_next_advert() {
    let clock = Clock::new();
    let mut c = config(100);
    c.version = Version::V2;
    c.password = Password::new(b"old");
    let mut vr = master(c.clone(), &clock);
    c.password = Password::new(b"new");
    vr.reconfigure(clock.at(400), c).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    vr.handle_timeout(clock.at_us(4_609_375));
    let tx = sends(drain_raw(&mut vr)).remove(0);
    let at = Endpoints {
        src: tx.src,
        dst: tx.dst,
    };
    let adv = Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(adv.auth, Auth::Password(Password::new(b"new").unwrap()));
}

/// A new priority on a Master is advertised at once and the Adver_Timer restarts, as with
/// `set_priority`.
#[test]
fn reconfigure_priority_on_a_master_advertises_at_once() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    vr.reconfigure(clock.at(400), config(150)).unwrap();
    assert_eq!(drain(&mut vr), strs(&["send p150 -> 224.0.0.18"]));
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 500);
    assert_eq!(vr.effective_priority(), 150);
}

/// A new interval on a Master: an advert at once carrying it (VRRPv3 backups learn it now),
/// then adverts every new interval.
#[test]
fn reconfigure_interval_on_a_master_rearms_the_adver_timer() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    let mut c = config(100);
    c.advert_interval = Interval::from_centis(200).unwrap();
    vr.reconfigure(clock.at(400), c).unwrap();
    let tx = sends(drain_raw(&mut vr)).remove(0);
    let at = Endpoints {
        src: tx.src,
        dst: tx.dst,
    };
    let adv = Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(adv.interval, Interval::from_centis(200).unwrap());
    assert_eq!(
        vr.master_adver_interval(),
        Interval::from_centis(200).unwrap()
    );
    let mut sent_at = Vec::new();
    while let Some(t) = vr.poll_timeout() {
        if clock.cs(t) > 1100 {
            break;
        }
        vr.handle_timeout(t);
        if drain(&mut vr).iter().any(|a| a.starts_with("send")) {
            sent_at.push(clock.cs(t));
        }
    }
    assert_eq!(sent_at, vec![600, 800, 1000]);
}

/// A VRRPv3 Backup keeps the Master_Adver_Interval it learned (RFC 5798 6.4.2); one that has
/// heard no master, and a VRRPv2 Backup (RFC 3768 6.1), use the new interval. The running
/// Master_Down_Timer keeps its deadline.
#[test]
fn reconfigure_interval_on_a_backup_follows_the_rfc_rules() {
    let clock = Clock::new();
    let slow = |c: &mut InstanceConfig| c.advert_interval = Interval::from_centis(300).unwrap();

    let (mut vr, _) = backup_with_timer(config(100), &clock);
    let mut fast = Peer::v3(HIGHER_PEER, 150);
    fast.interval_cs = 50;
    fast.deliver(&mut vr, clock.at(100)).unwrap();
    let timer = vr.poll_timeout();
    let mut c = config(100);
    slow(&mut c);
    vr.reconfigure(clock.at(120), c.clone()).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(vr.master_adver_interval().centis(), 50, "learned");
    assert_eq!(vr.poll_timeout(), timer);

    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    vr.reconfigure(clock.at(120), c).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(
        vr.master_adver_interval().centis(),
        300,
        "no master heard yet"
    );
    assert_eq!(vr.poll_timeout(), timer);

    let mut c2 = config(100);
    c2.version = Version::V2;
    let (mut vr, timer) = backup_with_timer(c2.clone(), &clock);
    Peer::v2(HIGHER_PEER, 150)
        .deliver(&mut vr, clock.at(100))
        .unwrap();
    c2.advert_interval = Interval::from_secs(3).unwrap();
    vr.reconfigure(clock.at(120), c2).unwrap();
    assert_eq!(vr.master_adver_interval().centis(), 300, "VRRPv2");
    assert_ne!(vr.poll_timeout(), timer, "reset by the advert at 1 s");
    assert_eq!(clock.cs(vr.poll_timeout().unwrap()), 100 + 360);
    // The master still sends 1 s adverts: dropped until it is reloaded too.
    assert_eq!(
        Peer::v2(HIGHER_PEER, 150).deliver(&mut vr, clock.at(200)),
        Err(RxError::IntervalMismatch {
            got_centis: 100,
            expected_centis: 300
        })
    );
}

/// Addresses on a Master: each one that left is removed, each new one added and announced,
/// nothing else; the next adverts carry the new list, and a second burst of every address
/// follows `garp_master_delay` later (as keepalived's reload does).
#[test]
fn reconfigure_virtual_addresses_on_a_master_removes_adds_and_announces() {
    let clock = Clock::new();
    let mut c = config(100);
    c.virtual_addresses = vec![VIP, VIP2];
    let mut vr = master(c.clone(), &clock);
    c.virtual_addresses = vec![VIP2, VIP3];
    vr.reconfigure(clock.at(400), c).unwrap();
    assert_eq!(
        drain(&mut vr),
        trace(&[
            &strs(&["remove 10.200.0.100", "add 10.200.0.102"]),
            &times(5, "announce 10.200.0.102"),
        ])
    );
    vr.handle_timeout(clock.at_us(4_609_375));
    let tx = sends(drain_raw(&mut vr)).remove(0);
    let at = Endpoints {
        src: tx.src,
        dst: tx.dst,
    };
    let adv = Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(adv.addresses.iter().collect::<Vec<_>>(), vec![VIP2, VIP3]);
    // The start-up second burst was due at 8.60 s; the reload's is at 9.00 s.
    for t in (500..=890).step_by(10) {
        vr.handle_timeout(clock.at(t));
        assert_eq!(announcements(&mut vr), 0, "at {t}");
    }
    vr.handle_timeout(clock.at(900));
    assert_eq!(
        drain(&mut vr),
        rounds(5, &["announce 10.200.0.101", "announce 10.200.0.102"])
    );
    // Only removing: one RemoveVip, nothing else.
    let mut c = config(100);
    c.virtual_addresses = vec![VIP3];
    vr.reconfigure(clock.at(950), c).unwrap();
    assert_eq!(drain(&mut vr), strs(&["remove 10.200.0.101"]));
}

/// Addresses of a Backup: only the list changes; it adds the new list when it becomes Master.
#[test]
fn reconfigure_virtual_addresses_on_a_backup_changes_only_the_list() {
    let clock = Clock::new();
    let (mut vr, timer) = backup_with_timer(config(100), &clock);
    let mut c = config(100);
    c.virtual_addresses = vec![VIP2];
    vr.reconfigure(clock.at(100), c).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    vr.handle_timeout(timer.unwrap());
    let actions = drain(&mut vr);
    assert_eq!(
        &actions[..2],
        &strs(&[
            "state BACKUP->MASTER (master down timer expired)",
            "add 10.200.0.101"
        ])
    );
    assert!(!actions.iter().any(|a| a.contains("10.200.0.100")));
}

/// VRID, family and version changes are refused, naming the field; the instance is unchanged.
#[test]
fn reconfigure_refuses_vrid_family_and_version_changes() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    let mut c = config(100);
    c.vrid = Vrid::new(52).unwrap();
    let err = vr.reconfigure(clock.at(400), c).unwrap_err();
    assert_eq!(
        err,
        ReconfigureError::Vrid {
            from: vrid(),
            to: Vrid::new(52).unwrap()
        }
    );
    assert_eq!(err.field(), "vrid");
    assert!(err.to_string().contains("restart the instance"), "{err}");

    let c = InstanceConfig::new(vrid(), vec!["fd00:200::100".parse().unwrap()]);
    let err = vr.reconfigure(clock.at(400), c).unwrap_err();
    assert_eq!(
        err,
        ReconfigureError::Family {
            from: Family::Ipv4,
            to: Family::Ipv6
        }
    );
    assert_eq!(err.field(), "virtual_addresses");

    let mut c = config(100);
    c.version = Version::V2;
    let err = vr.reconfigure(clock.at(400), c).unwrap_err();
    assert_eq!(
        err,
        ReconfigureError::Version {
            from: Version::V3,
            to: Version::V2
        }
    );
    assert_eq!(err.field(), "version");

    let mut c = config(100);
    c.virtual_addresses = vec![VIP, VIP];
    let err = vr.reconfigure(clock.at(400), c).unwrap_err();
    assert!(matches!(
        err,
        ReconfigureError::Config(ConfigError::DuplicateAddress { index: 1, .. })
    ));
    assert_eq!(err.field(), "virtual_addresses[1]");

    assert_eq!(drain(&mut vr), Vec::<String>::new());
    assert_eq!(vr.config(), &config(100));
    assert_eq!(vr.state(), State::Master);
}

/// Tracked objects that stay keep their state; new ones start from `initially_up`; removed
/// ones stop counting.
#[test]
fn reconfigure_tracks_keep_their_state() {
    let clock = Clock::new();
    let mut c = config(100);
    c.tracks = vec![Track::new("api", -50), Track::new("kubelet", 10)];
    let mut vr = master(c, &clock);
    vr.set_track(clock.at(370), "api", false).unwrap();
    assert_eq!(drain(&mut vr), strs(&["send p60 -> 224.0.0.18"]));
    let mut c = config(100);
    let mut disk = Track::new("disk", -20);
    disk.initially_up = false;
    // "api" stays (down, still -50), "kubelet" goes (its +10 with it), "disk" starts down.
    c.tracks = vec![disk, Track::new("api", -50)];
    vr.reconfigure(clock.at(400), c).unwrap();
    assert_eq!(drain(&mut vr), strs(&["send p30 -> 224.0.0.18"]));
    let states: Vec<(&str, bool)> = vr.tracks().map(|t| (t.name, t.up)).collect();
    assert_eq!(states, vec![("disk", false), ("api", false)]);
    assert_eq!(vr.effective_priority(), 30);
    assert_eq!(vr.state(), State::Master);
}

/// A new weight-0 tracked object that starts down legitimately sends a Master to Fault: it
/// resigns (priority 0, with the list it held) and removes the addresses it held.
#[test]
fn reconfigure_new_failed_fault_track_sends_a_master_to_fault() {
    let clock = Clock::new();
    let mut c = config(100);
    c.virtual_addresses = vec![VIP, VIP2];
    let mut vr = master(c, &clock);
    let mut c = config(100);
    c.virtual_addresses = vec![VIP2, VIP3];
    let mut gate = Track::new("gate", 0);
    gate.initially_up = false;
    c.tracks = vec![gate];
    vr.reconfigure(clock.at(400), c).unwrap();
    let raw = drain_raw(&mut vr);
    let resign = sends(raw.clone()).remove(0);
    let at = Endpoints {
        src: resign.src,
        dst: resign.dst,
    };
    let adv = Advertisement::parse(&resign.payload, at, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(adv.addresses.iter().collect::<Vec<_>>(), vec![VIP, VIP2]);
    assert_eq!(
        raw.iter().map(render).collect::<Vec<_>>(),
        strs(&[
            "state MASTER->FAULT (tracked object failed)",
            "send p0 -> 224.0.0.18",
            "remove 10.200.0.100",
            "remove 10.200.0.101",
        ])
    );
    assert_eq!(vr.config().virtual_addresses, vec![VIP2, VIP3]);
    // Removing the track lets it recover, into Backup.
    vr.reconfigure(clock.at(500), {
        let mut c = config(100);
        c.virtual_addresses = vec![VIP2, VIP3];
        c
    })
    .unwrap();
    assert_eq!(
        drain(&mut vr),
        strs(&["state FAULT->BACKUP (fault cleared)"])
    );
}

/// New unicast peers: the next advert goes to them, and adverts from anyone else are
/// dropped at once.
#[test]
fn reconfigure_unicast_peers_change_destinations_and_filter_at_once() {
    let clock = Clock::new();
    let mut vr = master(config(100), &clock);
    let mut c = config(100);
    c.unicast_peers = vec![LOWER_PEER];
    vr.reconfigure(clock.at(400), c).unwrap();
    assert_eq!(drain(&mut vr), Vec::<String>::new());
    vr.handle_timeout(clock.at_us(4_609_375));
    assert_eq!(drain(&mut vr), strs(&["send p100 -> 10.200.0.1"]));
    assert_eq!(
        Peer::v3(HIGHER_PEER, 200).deliver(&mut vr, clock.at(470)),
        Err(RxError::UnknownPeer { src: HIGHER_PEER })
    );
    assert_eq!(vr.state(), State::Master);
}

/// `Router::reconfigure` reaches the instance by its key, which stays valid; its actions come
/// out of the router.
#[test]
fn router_reconfigure_forwards_and_keeps_the_key() {
    let clock = Clock::new();
    let mut router = Router::new();
    let key = router.add_instance(1, config(100)).unwrap();
    router
        .instance_mut(&key)
        .unwrap()
        .set_primary_address(clock.at(0), Some(ME));
    router.handle_startup(clock.at(0));
    router.handle_timeout(clock.at_us(3_609_375));
    while router.poll_action().is_some() {}
    router
        .reconfigure(&key, clock.at(400), config(150))
        .unwrap();
    let actions: Vec<_> = std::iter::from_fn(|| router.poll_action())
        .map(|(k, a)| (k, render(&a)))
        .collect();
    assert_eq!(actions, vec![(key, "send p150 -> 224.0.0.18".to_owned())]);
    let mut other = config(100);
    other.vrid = Vrid::new(52).unwrap();
    assert!(matches!(
        router.reconfigure(&key, clock.at(400), other),
        Err(ReconfigureError::Vrid { .. })
    ));
    let missing = InstanceKey {
        interface: 9,
        ..key
    };
    let err = router
        .reconfigure(&missing, clock.at(400), config(100))
        .unwrap_err();
    assert_eq!(err, ReconfigureError::UnknownInstance(missing));
    assert_eq!(err.field(), "");
    assert_eq!(
        router.instances().map(|(k, _)| *k).collect::<Vec<_>>(),
        vec![key]
    );
    assert_eq!(router.instance(&key).unwrap().effective_priority(), 150);
}
