//! The embedding API on real interfaces: the daemon runs in this test process (on a thread
//! in a lab node's namespace), driven by its `Control` inputs and watched through its event
//! stream; a peer, where one is needed, is the vipd binary in another node. Needs root.

mod lab;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lab::{Lab, config};
use vipd::config::{Config, Plan, Vip};
use vipd::daemon::{
    Control, ControlError, Daemon, DaemonBuilder, DaemonError, DaemonEvent, DaemonHandle,
    EventReceiver, PeerLoss,
};
use vipd::vip_health::{CheckConfig, CheckEffect, Probe};
use vipd::vrrp_core::{State, Track};

const FAST: &str = "    advert_interval: 100ms\n";
const WAIT: Duration = Duration::from_secs(10);

fn plan(yaml: &str) -> Plan {
    Config::from_yaml(yaml).unwrap().validate().unwrap()
}

/// Runs `fut` to completion on a current-thread runtime, on a thread inside namespace `ns`
/// (every socket the daemon opens belongs to it).
fn in_ns<T: Send>(ns: &str, fut: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            vipd::vrrp_net::netns::enter(ns).expect("enter the node's namespace");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(fut)
        })
        .join()
        .unwrap()
    })
}

/// Starts the daemon and subscribes to its events at once.
async fn started(builder: DaemonBuilder) -> (DaemonHandle, EventReceiver, Control) {
    let daemon = builder.start().await.unwrap();
    let events = daemon.events();
    let control = daemon.control().clone();
    (daemon, events, control)
}

/// Waits for the first event `want` accepts, returning it and every event before it.
async fn until(
    events: &mut EventReceiver,
    what: &str,
    want: impl Fn(&DaemonEvent) -> bool,
) -> (DaemonEvent, Vec<DaemonEvent>) {
    let mut before = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if want(&event) => return (event, before),
            Ok(Ok(event)) => before.push(event),
            Ok(Err(e)) => panic!("waiting for {what}: {e}; events so far: {before:#?}"),
            Err(_) => panic!("no {what} within {WAIT:?}; events so far: {before:#?}"),
        }
    }
}

/// Waits until every one of `wants` has accepted an event, in any order; returns them all.
async fn until_all(
    events: &mut EventReceiver,
    what: &str,
    wants: &[&(dyn Fn(&DaemonEvent) -> bool + Sync)],
) -> Vec<DaemonEvent> {
    let mut seen = Vec::new();
    let mut done = vec![false; wants.len()];
    let deadline = tokio::time::Instant::now() + WAIT;
    while done.contains(&false) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => {
                for (want, hit) in wants.iter().zip(done.iter_mut()) {
                    *hit |= want(&event);
                }
                seen.push(event);
            }
            Ok(Err(e)) => panic!("waiting for {what}: {e}; events so far: {seen:#?}"),
            Err(_) => panic!("not all of {what} within {WAIT:?}; events so far: {seen:#?}"),
        }
    }
    seen
}

/// Waits for the first event of the kind of `want` and checks that it is `want`; returns the
/// events before it.
async fn expect(events: &mut EventReceiver, want: DaemonEvent) -> Vec<DaemonEvent> {
    let kind = std::mem::discriminant(&want);
    let (got, before) = until(events, &format!("{want:?}"), |e| {
        std::mem::discriminant(e) == kind
    })
    .await;
    assert_eq!(got, want);
    before
}

/// Waits for node2 to be lost, and checks why.
async fn peer_lost(events: &mut EventReceiver, why: PeerLoss) {
    let want = DaemonEvent::PeerLost {
        instance: "VI_LAB".into(),
        address: "10.200.0.2".parse().unwrap(),
        why,
    };
    expect(events, want).await;
}

fn vip_added(vip: &'static str) -> impl Fn(&DaemonEvent) -> bool {
    move |e| matches!(e, DaemonEvent::VipAdded { vip: v, .. } if v.to_string() == vip)
}

fn entered(state: State) -> impl Fn(&DaemonEvent) -> bool {
    move |e| matches!(e, DaemonEvent::Transition { instance, to, .. } if instance == "VI_LAB" && *to == state)
}

/// The effective priority of `instance`, from a snapshot (taken after every input before it).
async fn priority(daemon: &DaemonHandle, instance: &str) -> u8 {
    daemon
        .control()
        .snapshot()
        .await
        .unwrap()
        .instances
        .iter()
        .find(|s| s.name == instance)
        .map(|s| s.effective_priority)
        .unwrap()
}

async fn stop(daemon: DaemonHandle) {
    daemon.control().shutdown_now();
    tokio::time::timeout(WAIT, daemon.wait())
        .await
        .expect("the daemon stops")
        .unwrap();
}

#[test]
fn tracked_objects_move_the_priority_in_place() {
    let lab = Lab::new(&[150], |_, p| config(p, FAST));
    in_ns(&lab.nodes[0].ns.name, async {
        let (daemon, mut events, control) = started(
            Daemon::builder(plan(&config(150, FAST))).track("VI_LAB", Track::new("pool", 10)),
        )
        .await;
        until(&mut events, "Master", entered(State::Master)).await;
        // Up with weight 10 from the start: 150 + 10.
        assert_eq!(priority(&daemon, "VI_LAB").await, 160);
        control
            .set_track_weight("VI_LAB", "pool", true, 40)
            .await
            .unwrap();
        assert_eq!(priority(&daemon, "VI_LAB").await, 190);
        control.set_track("VI_LAB", "pool", false).await.unwrap();
        assert_eq!(priority(&daemon, "VI_LAB").await, 150);

        assert!(matches!(
            control.set_track("VI_LAB", "nope", true).await,
            Err(ControlError::UnknownTrack { track, .. }) if track == "nope"
        ));
        assert!(matches!(
            control.set_track("VI_NONE", "pool", true).await,
            Err(ControlError::UnknownInstance { instance }) if instance == "VI_NONE"
        ));
        assert!(matches!(
            control.add_track("VI_LAB", Track::new("pool", 5)).await,
            Err(ControlError::DuplicateTrack { .. })
        ));
        assert!(matches!(
            control.add_track("VI_LAB", Track::new("huge", 300)).await,
            Err(ControlError::Invalid { field, .. }) if field.starts_with("tracks[")
        ));

        // A weight-0 object registered at run time: down is Fault, the VIP goes.
        control
            .add_track("VI_LAB", Track::new("gate", 0))
            .await
            .unwrap();
        control.set_track("VI_LAB", "gate", false).await.unwrap();
        until(&mut events, "Fault", entered(State::Fault)).await;
        until(&mut events, "VIP removed", |e| {
            matches!(e, DaemonEvent::VipRemoved { .. })
        })
        .await;
        assert!(!lab.holds(0, lab::VIP));
        control.remove_track("VI_LAB", "gate").await.unwrap();
        until(&mut events, "Master again", entered(State::Master)).await;
        assert!(matches!(
            control.remove_track("VI_LAB", "gate").await,
            Err(ControlError::UnknownTrack { .. })
        ));
        stop(daemon).await;
        assert!(matches!(
            control.set_priority("VI_LAB", 100).await,
            Err(ControlError::Stopped)
        ));
    });
}

#[test]
fn priority_and_peers() {
    let mut lab = Lab::new(&[150, 200], |_, p| config(p, FAST));
    let ns = lab.nodes[0].ns.name.clone();
    let (lab_ref, ns) = (&mut lab, ns.as_str());
    in_ns(ns, async move {
        let (daemon, mut events, control) =
            started(Daemon::builder(plan(&config(150, FAST)))).await;
        until(&mut events, "Master", entered(State::Master)).await;
        // The vipd binary at priority 200 preempts.
        lab_ref.start(1);
        let peer = DaemonEvent::PeerSeen {
            instance: "VI_LAB".into(),
            address: "10.200.0.2".parse().unwrap(),
            priority: 200,
        };
        until_all(
            &mut events,
            "peer seen, Backup",
            &[&|e| *e == peer, &entered(State::Backup)],
        )
        .await;

        // A higher base priority takes the VIP back; the silent peer is then lost.
        control.set_priority("VI_LAB", 250).await.unwrap();
        until(&mut events, "Master at 250", entered(State::Master)).await;
        peer_lost(&mut events, PeerLoss::Silent).await;
        assert!(matches!(
            control.set_priority("VI_LAB", 0).await,
            Err(ControlError::Invalid { field, .. }) if field == "priority"
        ));

        // Lower again: the peer preempts, is seen again, then resigns when it stops.
        control.set_priority("VI_LAB", 50).await.unwrap();
        until_all(
            &mut events,
            "peer seen again, Backup at 50",
            &[&|e| *e == peer, &entered(State::Backup)],
        )
        .await;
        lab_ref.signal(1, "TERM");
        peer_lost(&mut events, PeerLoss::Resigned).await;
        until(
            &mut events,
            "Master after the handover",
            entered(State::Master),
        )
        .await;
        stop(daemon).await;
    });
}

#[test]
fn vips_and_instances_change_in_place() {
    let lab = Lab::new(&[150], |_, p| config(p, FAST));
    let node = &lab.nodes[0].ns;
    node.ip(&["addr", "add", "10.200.0.120/24", "dev", "eth0"]);
    in_ns(&node.name, async {
        let (daemon, mut events, control) =
            started(Daemon::builder(plan(&config(150, FAST)))).await;
        until_all(
            &mut events,
            "Master with its VIP",
            &[&entered(State::Master), &vip_added(lab::VIP)],
        )
        .await;
        let vip = |last: u8, prefix_len: u8| Vip {
            addr: std::net::IpAddr::from([10, 200, 0, last]),
            prefix_len,
        };

        control.add_vip("VI_LAB", vip(101, 24)).await.unwrap();
        let want = DaemonEvent::VipAdded {
            instance: "VI_LAB".into(),
            vip: vip(101, 24).addr,
        };
        let before = expect(&mut events, want).await;
        assert!(before.is_empty(), "nothing else happened: {before:?}");
        assert!(lab.holds(0, "10.200.0.101") && lab.holds(0, lab::VIP));

        control
            .remove_vip("VI_LAB", lab::VIP.parse().unwrap())
            .await
            .unwrap();
        let (_, before) = until(&mut events, "VIP removed", |e| {
            matches!(e, DaemonEvent::VipRemoved { .. })
        })
        .await;
        assert!(before.is_empty(), "no transition: {before:?}");
        assert!(lab.holds(0, "10.200.0.101") && !lab.holds(0, lab::VIP));

        assert!(matches!(
            control.remove_vip("VI_LAB", vip(101, 24).addr).await,
            Err(ControlError::Invalid { field, .. }) if field == "virtual_addresses"
        ));
        assert!(matches!(
            control.remove_vip("VI_LAB", vip(99, 24).addr).await,
            Err(ControlError::UnknownVip { .. })
        ));
        assert!(matches!(
            control.add_vip("VI_LAB", vip(101, 24)).await,
            Err(ControlError::DuplicateVip { .. })
        ));
        assert!(matches!(
            control.add_vip("VI_LAB", vip(102, 33)).await,
            Err(ControlError::Invalid { field, .. }) if field == "prefix_len"
        ));
        let v6 = Vip {
            addr: "fd00:200::7".parse().unwrap(),
            prefix_len: 64,
        };
        assert!(matches!(
            control.add_vip("VI_LAB", v6).await,
            Err(ControlError::Invalid { field, .. }) if field.starts_with("virtual_addresses[")
        ));
        // 10.200.0.120 was put on the interface by hand: not vipd's to take.
        assert!(matches!(
            control.add_vip("VI_LAB", vip(120, 24)).await,
            Err(ControlError::Daemon(DaemonError::AddressInUse { .. }))
        ));

        // A second instance, added and removed while VI_LAB carries on.
        let two = plan(
            "instances:\n  - name: VI_TWO\n    interface: eth0\n    vrid: 52\n    priority: 150\n    advert_interval: 100ms\n    vips: [10.200.0.110/24]\n",
        )
        .instances()[0]
            .clone();
        control.add_instance(two.clone()).await.unwrap();
        let (_, before) = until(&mut events, "VI_TWO Master", |e| {
            matches!(e, DaemonEvent::Transition { instance, to: State::Master, .. } if instance == "VI_TWO")
        })
        .await;
        assert!(
            before.iter().all(|e| !format!("{e:?}").contains("VI_LAB")),
            "VI_LAB untouched: {before:?}"
        );
        assert!(lab.holds(0, "10.200.0.110"));
        assert!(matches!(
            control.add_instance(two).await,
            Err(ControlError::DuplicateInstance { .. })
        ));
        assert!(matches!(
            control.add_vip("VI_LAB", vip(110, 24)).await,
            Err(ControlError::VipInOtherInstance { owner, .. }) if owner == "VI_TWO"
        ));
        control.remove_instance("VI_TWO").await.unwrap();
        let (_, before) = until(
            &mut events,
            "VI_TWO's VIP removed",
            |e| matches!(e, DaemonEvent::VipRemoved { instance, .. } if instance == "VI_TWO"),
        )
        .await;
        assert!(
            before.iter().all(|e| !format!("{e:?}").contains("VI_LAB")),
            "VI_LAB untouched: {before:?}"
        );
        assert!(!lab.holds(0, "10.200.0.110") && lab.holds(0, "10.200.0.101"));
        assert!(matches!(
            control.remove_instance("VI_TWO").await,
            Err(ControlError::UnknownInstance { .. })
        ));
        stop(daemon).await;
    });
}

/// A probe whose answer the test sets.
#[derive(Debug, Clone)]
struct Switch(Arc<AtomicBool>);

#[vipd::vip_health::async_trait]
impl Probe for Switch {
    async fn probe(&self) -> Result<String, String> {
        if self.0.load(Ordering::SeqCst) {
            Ok("on".into())
        } else {
            Err("switched off".into())
        }
    }
}

fn fast_check(name: &str, probe: Switch) -> CheckConfig {
    let mut check = CheckConfig::custom(name, probe);
    check.interval = Duration::from_millis(50);
    check.timeout = Duration::from_millis(25);
    check.fall = 2;
    check
}

#[test]
fn custom_checks_feed_the_election() {
    let lab = Lab::new(&[150], |_, p| config(p, FAST));
    in_ns(&lab.nodes[0].ns.name, async {
        let on = Arc::new(AtomicBool::new(true));
        let (daemon, mut events, control) = started(
            Daemon::builder(plan(&config(150, FAST)))
                .check("VI_LAB", fast_check("backend", Switch(Arc::clone(&on)))),
        )
        .await;
        let want = DaemonEvent::CheckChanged {
            instance: "VI_LAB".into(),
            check: "backend".into(),
            up: true,
            reason: "on".into(),
        };
        expect(&mut events, want).await;
        until(&mut events, "Master", entered(State::Master)).await;
        assert!(matches!(
            control.set_track("VI_LAB", "backend", false).await,
            Err(ControlError::CheckOwned { .. })
        ));
        on.store(false, Ordering::SeqCst);
        let (down, _) = until(&mut events, "backend down", |e| {
            matches!(e, DaemonEvent::CheckChanged { up: false, .. })
        })
        .await;
        assert!(
            matches!(&down, DaemonEvent::CheckChanged { reason, .. } if reason == "switched off"),
            "{down:?}"
        );
        until(&mut events, "Fault", entered(State::Fault)).await;
        on.store(true, Ordering::SeqCst);
        until(&mut events, "Master again", entered(State::Master)).await;

        // Added at run time, with a weight: -50 while down.
        let off = Arc::new(AtomicBool::new(false));
        let mut second = fast_check("second", Switch(off));
        second.effect = CheckEffect::Weight(-50);
        control.add_check("VI_LAB", second.clone()).await.unwrap();
        until(&mut events, "second down", |e| {
            matches!(e, DaemonEvent::CheckChanged { check, up: false, .. } if check == "second")
        })
        .await;
        assert_eq!(priority(&daemon, "VI_LAB").await, 100);
        assert!(matches!(
            control.add_check("VI_LAB", second).await,
            Err(ControlError::DuplicateTrack { .. })
        ));
        let mut bad = fast_check("bad", Switch(Arc::clone(&on)));
        bad.timeout = bad.interval;
        assert!(matches!(
            control.add_check("VI_LAB", bad).await,
            Err(ControlError::Invalid { field, .. }) if field == "checks[bad]"
        ));
        control.remove_check("VI_LAB", "second").await.unwrap();
        assert_eq!(priority(&daemon, "VI_LAB").await, 150);
        assert!(matches!(
            control.remove_check("VI_LAB", "second").await,
            Err(ControlError::UnknownTrack { .. })
        ));
        stop(daemon).await;
    });
}

#[test]
fn registrations_for_unknown_instances_or_bad_checks_refuse_to_start() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let on = Switch(Arc::new(AtomicBool::new(true)));
        let e = Daemon::builder(plan(&config(150, "")))
            .track("VI_OTHER", Track::new("pool", 10))
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DaemonError::UnknownInstance { instance, .. } if instance == "VI_OTHER"),
            "{e}"
        );
        let mut check = fast_check("slow", on);
        check.rise = 0;
        let e = Daemon::builder(plan(&config(150, "")))
            .check("VI_LAB", check)
            .start()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rise: 0"), "{e}");
    });
}
