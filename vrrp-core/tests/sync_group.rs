//! Conformance of sync groups (keepalived's `vrrp_sync_group`): one test per rule of the
//! `sync_group` module, each asserting the exact action trace of every member and the
//! group's events.
//!
//! The group `G` has two members, as in the usual set-up of a router with a front and a back
//! network: `front` (interface 1, VRID 1, 10.200.1.100) and `back` (interface 2, VRID 2,
//! 10.200.2.100), both priority 100 with 1 s adverts (Skew_Time 0.609375 s, Master_Down_Interval
//! 3.609375 s), one announcement per address on becoming Master.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use vrrp_core::{
    Action, Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Family, GroupEvent,
    InstanceConfig, InstanceKey, Interval, Priority, Received, Router, State, SyncGroupConfig,
    SyncGroupError, Version, Vrid,
};

use common::Clock;

const FRONT_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 1, 100));
const BACK_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 2, 100));
const FRONT_ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 1, 2));
const BACK_ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 2, 2));
const FRONT_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 1, 3));
const BACK_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 2, 3));
const GROUP: IpAddr = IpAddr::V4(vrrp_core::VRRP_GROUP_V4);

fn key(interface: u32, vrid: u8) -> InstanceKey {
    InstanceKey {
        interface,
        vrid: Vrid::new(vrid).unwrap(),
        family: Family::Ipv4,
    }
}

fn front() -> InstanceKey {
    key(1, 1)
}

fn back() -> InstanceKey {
    key(2, 2)
}

fn config(vrid: u8, vip: IpAddr, priority: u8) -> InstanceConfig {
    let mut c = InstanceConfig::new(Vrid::new(vrid).unwrap(), vec![vip]);
    c.priority = Priority::new(priority).unwrap();
    c.announce.repeat = 1;
    c.announce.delay = vrrp_core::Centis::ZERO;
    c
}

fn name(k: InstanceKey) -> &'static str {
    if k == front() { "front" } else { "back" }
}

fn render(k: InstanceKey, action: &Action) -> String {
    let what = match action {
        Action::StateChanged { from, to, reason } => format!("state {from}->{to} ({reason})"),
        Action::AddVip(a) => format!("add {a}"),
        Action::RemoveVip(a) => format!("remove {a}"),
        Action::SendAdvertisement(tx) => format!("send p{}", tx.priority),
        Action::Announce(a) => format!("announce {a}"),
        other => format!("{other:?}"),
    };
    format!("{}: {what}", name(k))
}

/// Every action queued, rendered, then every group event.
fn drain(router: &mut Router) -> (Vec<String>, Vec<String>) {
    let actions = std::iter::from_fn(|| router.poll_action())
        .map(|(k, a)| render(k, &a))
        .collect();
    let events = std::iter::from_fn(|| router.poll_group_event())
        .map(|GroupEvent { group, from, to }| format!("{group} {from}->{to}"))
        .collect();
    (actions, events)
}

/// back's Master_Down_Timer fires, with front wanting Master: both become Master, back
/// first.
const BACK_THEN_FRONT_MASTER: &[&str] = &[
    "back: state BACKUP->MASTER (master down timer expired)",
    "back: add 10.200.2.100",
    "back: send p100",
    "back: announce 10.200.2.100",
    "front: state BACKUP->MASTER (sync group followed a member)",
    "front: add 10.200.1.100",
    "front: send p100",
    "front: announce 10.200.1.100",
];

/// Drains `router` and asserts its actions and group events, each in full.
fn expect(router: &mut Router, actions: &[&str], events: &[&str]) {
    let (got_actions, got_events) = drain(router);
    assert_eq!(got_actions, strs(actions));
    assert_eq!(got_events, strs(events));
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// A router with `front` and `back` (of these priorities) in group `G`, with their primary
/// addresses, not started.
fn unstarted(front_priority: u8, back_priority: u8, clock: &Clock) -> Router {
    let mut router = Router::new();
    router
        .add_instance(1, config(1, FRONT_VIP, front_priority))
        .unwrap();
    router
        .add_instance(2, config(2, BACK_VIP, back_priority))
        .unwrap();
    router
        .set_sync_groups(
            clock.at(0),
            vec![SyncGroupConfig {
                name: "G".into(),
                members: vec![front(), back()],
            }],
        )
        .unwrap();
    for (k, me) in [(front(), FRONT_ME), (back(), BACK_ME)] {
        router
            .instance_mut(&k)
            .unwrap()
            .set_primary_address(clock.at(0), Some(me));
    }
    router
}

/// [`unstarted`], started at 0 and drained.
fn grouped(front_priority: u8, back_priority: u8, clock: &Clock) -> Router {
    let mut router = unstarted(front_priority, back_priority, clock);
    router.handle_startup(clock.at(0));
    drain(&mut router);
    router
}

/// Master_Down_Interval of priority 100 at 1 s adverts: 3 s + Skew_Time (0.609375 s), in µs.
const MDI_US: u64 = 3_609_375;

/// The group with both members Master (their timers fired at Master_Down_Interval), drained.
fn grouped_master(clock: &Clock) -> Router {
    let mut router = grouped(100, 100, clock);
    router.handle_timeout(clock.at_us(MDI_US));
    drain(&mut router);
    assert_eq!(state(&router, front()), State::Master);
    assert_eq!(state(&router, back()), State::Master);
    router
}

fn state(router: &Router, k: InstanceKey) -> State {
    router.instance(&k).unwrap().state()
}

fn group_state(router: &Router) -> State {
    router.sync_groups().next().unwrap().1
}

/// An advert of another router on the member `k`'s network.
fn advert(router: &mut Router, now: Instant, k: InstanceKey, src: IpAddr, priority: u8) {
    let vip = if k == front() { FRONT_VIP } else { BACK_VIP };
    let adv = Advertisement {
        version: Version::V3,
        vrid: k.vrid,
        priority,
        interval: Interval::from_centis(100).unwrap(),
        auth: Auth::None,
        addresses: Addresses::collect(Family::Ipv4, [vip]).unwrap(),
    };
    let payload = adv
        .to_bytes(Endpoints { src, dst: GROUP }, ChecksumMode::PseudoHeader)
        .unwrap();
    router
        .handle_packet(
            now,
            k.interface,
            &Received {
                src,
                dst: GROUP,
                hop_limit: 255,
                payload: &payload,
            },
        )
        .unwrap();
}

/// Rule 5 and the start: a new group takes its state from its members; started as Backups,
/// it is Backup.
#[test]
fn group_starts_in_backup_with_its_members() {
    let clock = Clock::new();
    let mut router = unstarted(100, 100, &clock);
    assert_eq!(group_state(&router), State::Initialize);
    router.handle_startup(clock.at(0));
    expect(
        &mut router,
        &[
            "front: state INIT->BACKUP (startup)",
            "back: state INIT->BACKUP (startup)",
        ],
        &["G INIT->BACKUP"],
    );
    assert_eq!(router.sync_group_of(&front()), Some("G"));
}

/// Rule 3: when the Master_Down_Timers of all members fire, the first is held until the
/// last wants Master too, then every member becomes Master at once, with the actions of the
/// member that passed first.
#[test]
fn all_members_become_master_together() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    assert_eq!(clock.us(router.poll_timeout().unwrap()), MDI_US);
    router.handle_timeout(clock.at_us(MDI_US));
    expect(&mut router, BACK_THEN_FRONT_MASTER, &["G BACKUP->MASTER"]);
    assert_eq!(group_state(&router), State::Master);
}

/// Rule 3, the hold: a member whose Master_Down_Timer fires while another member still
/// hears its master stays Backup, does nothing, and waits another Master_Down_Interval.
#[test]
fn member_stays_backup_while_another_hears_its_master() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    // The back network's master speaks at 3.00 s: back's timer moves to 6.60 s.
    advert(&mut router, clock.at(300), back(), BACK_PEER, 200);
    drain(&mut router);
    router.handle_timeout(clock.at_us(MDI_US));
    expect(&mut router, &[], &[]);
    assert_eq!(state(&router, front()), State::Backup);
    let next = router.instance(&front()).unwrap().poll_timeout().unwrap();
    assert_eq!(clock.us(next), 2 * MDI_US);
    // The back master keeps speaking: front, held again, stays Backup.
    advert(&mut router, clock.at(600), back(), BACK_PEER, 200);
    router.handle_timeout(clock.at_us(2 * MDI_US));
    expect(&mut router, &[], &[]);
    assert_eq!(state(&router, front()), State::Backup);
    assert_eq!(group_state(&router), State::Backup);
}

/// Rule 3 with a resigning master: the front master's priority-0 advert makes front want
/// Master after Skew_Time, but the group waits for back, whose master went silent at the
/// same moment (its link failed), and moves both at back's Master_Down_Interval.
#[test]
fn priority_zero_on_one_member_waits_for_the_other() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    advert(&mut router, clock.at(100), front(), FRONT_PEER, 200);
    advert(&mut router, clock.at(100), back(), BACK_PEER, 200);
    advert(&mut router, clock.at(200), front(), FRONT_PEER, 0);
    drain(&mut router);
    // front's Skew_Time: 0.609375 s after the priority-0 advert. Held: back still has a master.
    router.handle_timeout(clock.at_us(2_000_000 + 609_375));
    expect(&mut router, &[], &[]);
    // back's Master_Down_Timer: Master_Down_Interval after its master's last advert at 1 s.
    router.handle_timeout(clock.at_us(1_000_000 + MDI_US));
    expect(&mut router, BACK_THEN_FRONT_MASTER, &["G BACKUP->MASTER"]);
}

/// Rule 1: one Master member goes to Fault (its link went down): the other leaves Master
/// too, resigning with a priority-0 advert so that the peer takes over after Skew_Time.
#[test]
fn one_member_fault_takes_the_group_out_of_master() {
    let clock = Clock::new();
    let mut router = grouped_master(&clock);
    router
        .instance_mut(&back())
        .unwrap()
        .set_link_up(clock.at(500), false);
    expect(
        &mut router,
        &[
            "back: state MASTER->FAULT (link down)",
            "back: remove 10.200.2.100",
            "front: state MASTER->FAULT (sync group followed a member)",
            "front: send p0",
            "front: remove 10.200.1.100",
        ],
        &["G MASTER->FAULT"],
    );
    assert_eq!(
        router.instance(&front()).unwrap().fault(),
        Some(vrrp_core::Reason::SyncGroup)
    );
    assert_eq!(router.instance(&front()).unwrap().own_fault(), None);
}

/// Rule 1 in Backup: a tracked failure on one Backup member puts the other in Fault.
#[test]
fn one_member_fault_in_backup_faults_the_group() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    router
        .instance_mut(&front())
        .unwrap()
        .set_primary_address(clock.at(100), None);
    expect(
        &mut router,
        &[
            "front: state BACKUP->FAULT (no primary address)",
            "back: state BACKUP->FAULT (sync group followed a member)",
        ],
        &["G BACKUP->FAULT"],
    );
    // A faulted group holds no timers: nothing fires.
    assert_eq!(router.poll_timeout(), None);
}

/// Rule 2: the group leaves Fault only when no member is itself ineligible, and then every
/// member leaves Fault at once, into Backup.
#[test]
fn members_leave_fault_together() {
    let clock = Clock::new();
    let mut router = grouped_master(&clock);
    router
        .instance_mut(&back())
        .unwrap()
        .set_link_up(clock.at(500), false);
    router
        .instance_mut(&front())
        .unwrap()
        .set_primary_address(clock.at(500), None);
    drain(&mut router);
    // back's link returns, but front still has no address: the group stays in Fault.
    router
        .instance_mut(&back())
        .unwrap()
        .set_link_up(clock.at(600), true);
    expect(&mut router, &[], &[]);
    assert_eq!(state(&router, back()), State::Fault);
    router
        .instance_mut(&front())
        .unwrap()
        .set_primary_address(clock.at(700), Some(FRONT_ME));
    expect(
        &mut router,
        &[
            "front: state FAULT->BACKUP (fault cleared)",
            "back: state FAULT->BACKUP (fault cleared)",
        ],
        &["G FAULT->BACKUP"],
    );
    // Both wait a whole Master_Down_Interval from 7.00 s.
    assert_eq!(clock.us(router.poll_timeout().unwrap()), 7_000_000 + MDI_US);
}

/// Rule 4: a Master member that hears a higher-priority advert goes Backup, and so does
/// every other Master member, without a priority-0 advert.
#[test]
fn higher_priority_on_one_member_sends_the_group_to_backup() {
    let clock = Clock::new();
    let mut router = grouped_master(&clock);
    advert(&mut router, clock.at(500), front(), FRONT_PEER, 200);
    expect(
        &mut router,
        &[
            "front: state MASTER->BACKUP (higher-priority advert)",
            "front: remove 10.200.1.100",
            "back: state MASTER->BACKUP (sync group followed a member)",
            "back: remove 10.200.2.100",
        ],
        &["G MASTER->BACKUP"],
    );
}

/// The start with the address owner: an owner member makes the group Master at once.
#[test]
fn owner_member_makes_the_group_master_at_startup() {
    let clock = Clock::new();
    let mut router = unstarted(255, 100, &clock);
    router.handle_startup(clock.at(0));
    expect(
        &mut router,
        &[
            "front: state INIT->MASTER (address owner)",
            "front: add 10.200.1.100",
            "front: send p255",
            "front: announce 10.200.1.100",
            "back: state INIT->BACKUP (startup)",
            "back: state BACKUP->MASTER (sync group followed a member)",
            "back: add 10.200.2.100",
            "back: send p100",
            "back: announce 10.200.2.100",
        ],
        &["G INIT->MASTER"],
    );
}

/// Rule 5: when every member has shut down the group is in Initialize (keepalived's
/// `notify_stop` for the group).
#[test]
fn shutdown_stops_the_group() {
    let clock = Clock::new();
    let mut router = grouped_master(&clock);
    router.handle_shutdown(clock.at(500));
    expect(
        &mut router,
        &[
            "front: state MASTER->INIT (shutdown)",
            "front: send p0",
            "front: remove 10.200.1.100",
            "back: state MASTER->INIT (shutdown)",
            "back: send p0",
            "back: remove 10.200.2.100",
        ],
        &["G MASTER->INIT"],
    );
}

/// Reconfiguration: removing a group releases the members it held in Fault.
#[test]
fn removing_a_group_releases_its_members() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    router
        .instance_mut(&back())
        .unwrap()
        .set_link_up(clock.at(100), false);
    drain(&mut router);
    assert_eq!(state(&router, front()), State::Fault);
    router.set_sync_groups(clock.at(200), Vec::new()).unwrap();
    let (actions, events) = drain(&mut router);
    assert_eq!(
        actions,
        strs(&["front: state FAULT->BACKUP (fault cleared)"])
    );
    assert_eq!(events, Vec::<String>::new());
    assert_eq!(state(&router, back()), State::Fault);
    assert_eq!(router.sync_groups().count(), 0);
}

/// Reconfiguration: a group kept as it was keeps its state and emits nothing.
#[test]
fn keeping_a_group_keeps_its_state() {
    let clock = Clock::new();
    let mut router = grouped_master(&clock);
    let same = router.sync_groups().next().unwrap().0.clone();
    router.set_sync_groups(clock.at(500), vec![same]).unwrap();
    expect(&mut router, &[], &[]);
    assert_eq!(group_state(&router), State::Master);
}

/// The configuration rules: no empty group, no unknown member, one group per instance, one
/// group per name; a refused set changes nothing.
#[test]
fn invalid_groups_are_refused_naming_the_problem() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    let group = |name: &str, members: Vec<InstanceKey>| SyncGroupConfig {
        name: name.into(),
        members,
    };
    let err = router
        .set_sync_groups(clock.at(1), vec![group("E", vec![])])
        .unwrap_err();
    assert_eq!(err, SyncGroupError::Empty { name: "E".into() });
    let err = router
        .set_sync_groups(clock.at(1), vec![group("U", vec![front(), key(9, 9)])])
        .unwrap_err();
    assert_eq!(
        err,
        SyncGroupError::UnknownMember {
            name: "U".into(),
            member: key(9, 9)
        }
    );
    assert!(err.to_string().contains("VRID 9"), "{err}");
    let err = router
        .set_sync_groups(
            clock.at(1),
            vec![group("A", vec![front()]), group("B", vec![front(), back()])],
        )
        .unwrap_err();
    assert_eq!(
        err,
        SyncGroupError::MemberTaken {
            name: "B".into(),
            member: front(),
            other: "A".into()
        }
    );
    let err = router
        .set_sync_groups(
            clock.at(1),
            vec![group("A", vec![front()]), group("A", vec![back()])],
        )
        .unwrap_err();
    assert_eq!(err, SyncGroupError::Duplicate { name: "A".into() });
    // Unchanged: still the one group G.
    let names: Vec<&str> = router.sync_groups().map(|(g, _)| g.name.as_str()).collect();
    assert_eq!(names, ["G"]);
}

/// Instances outside any group are not affected by a group's moves.
#[test]
fn instances_outside_the_group_are_left_alone() {
    let clock = Clock::new();
    let mut router = grouped(100, 100, &clock);
    let other = router.add_instance(3, config(3, FRONT_VIP, 100)).unwrap();
    router
        .instance_mut(&other)
        .unwrap()
        .set_primary_address(clock.at(0), Some(FRONT_ME));
    router.handle_startup(clock.at(0));
    drain(&mut router);
    router
        .instance_mut(&back())
        .unwrap()
        .set_link_up(clock.at(100), false);
    drain(&mut router);
    assert_eq!(state(&router, front()), State::Fault);
    assert_eq!(router.instance(&other).unwrap().state(), State::Backup);
    assert_eq!(router.sync_group_of(&other), None);
}
