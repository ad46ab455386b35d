//! TCP, file and interface checks, and rise/fall and damping sequences through the real
//! monitor.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Reply, TempDir, assert_refused, check, closed_port, first_event, http_server, next_event,
    no_event, start,
};
use vip_health::{CheckState, HealthEvent, TrackState};

/// A tracked object's state, for short.
const fn track(up: bool, weight: Option<i16>) -> TrackState {
    TrackState { up, weight }
}

#[tokio::test]
async fn tcp_connect_up_and_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let event = first_event(check(&format!("name: port\ntcp: {{ address: '{addr}' }}"))).await;
    assert!(event.up, "{event:?}");
    assert_eq!(event.reason, format!("connected to {addr}"));

    let port = closed_port().await;
    let event = first_event(check(&format!(
        "name: port\ntcp: {{ address: '127.0.0.1:{port}' }}"
    )))
    .await;
    assert_refused(&event, port);
}

#[tokio::test]
async fn tcp_connect_by_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let event = first_event(check(&format!(
        "name: port\ntcp: {{ address: 'localhost:{port}' }}"
    )))
    .await;
    assert!(event.up, "{event:?}");
}

#[tokio::test]
async fn checks_are_told_apart_by_owner_and_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let port = closed_port().await;
    let (monitor, mut events) = vip_health::HealthMonitor::start([
        (
            "VI_1".to_owned(),
            check(&format!("name: port\ntcp: {{ address: '{addr}' }}")),
        ),
        (
            "VI_2".to_owned(),
            check(&format!(
                "name: port\ntcp: {{ address: '127.0.0.1:{port}' }}"
            )),
        ),
    ]);
    let mut seen = vec![
        next_event(&mut events, Duration::from_secs(5)).await,
        next_event(&mut events, Duration::from_secs(5)).await,
    ];
    seen.sort_by(|a, b| a.owner.cmp(&b.owner));
    assert!(seen[0].owner == "VI_1" && seen[0].up, "{seen:?}");
    assert!(seen[1].owner == "VI_2" && !seen[1].up, "{seen:?}");
    assert_eq!(monitor.len(), 2);
    let statuses = monitor.statuses();
    let owners: Vec<(&str, &str)> = statuses
        .iter()
        .map(|(o, s)| (o.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(owners, vec![("VI_1", "port"), ("VI_2", "port")]);
    let eventually_consistent = common::eventually(Duration::from_secs(2), || {
        monitor.status(&"VI_1".to_owned(), "port").unwrap().state == CheckState::Up
            && monitor.status(&"VI_2".to_owned(), "port").unwrap().state == CheckState::Down
    })
    .await;
    assert!(eventually_consistent, "{:?}", monitor.statuses());
    assert!(monitor.status(&"VI_3".to_owned(), "port").is_none());
    monitor.stop().await;
}

#[tokio::test]
async fn interface_lo_is_up_and_a_missing_interface_is_down() {
    let event = first_event(check("name: lo\ninterface: { name: lo }")).await;
    assert!(event.up, "{event:?}");
    assert_eq!(event.reason, "operstate unknown, carrier up");

    let config = check("name: nic\ninterface: { name: nosuchnic0 }");
    assert_eq!(config.track_weight(), 0, "a fault check: Fault while down");
    let event = first_event(config).await;
    assert!(!event.up);
    assert_eq!(event.track, track(false, None));
    assert_eq!(event.reason, "interface nosuchnic0 does not exist");
}

#[tokio::test]
async fn file_weight_multiplies_the_number_like_keepalived_track_file() {
    let dir = TempDir::new();
    let path = dir.write("weight", "5\n");
    let config = check(&format!(
        "name: maint\nfile: {{ path: '{}' }}\nweight: 10\ninterval: 50ms",
        path.display()
    ));
    assert_eq!(config.track_weight(), 0, "file adjustments come in events");
    let (monitor, mut events) = start(config);
    let within = Duration::from_secs(5);

    let e = next_event(&mut events, within).await;
    assert!((e.up, e.track) == (true, track(true, Some(50))), "{e:?}");
    assert_eq!(e.reason, "value 5, adjustment +50");

    std::fs::write(&path, "-3").unwrap();
    let e = next_event(&mut events, within).await;
    assert!(
        (e.up, e.track) == (true, track(false, Some(-30))),
        "a weight change while up; a negative weight applies while down: {e:?}"
    );

    std::fs::write(&path, "40").unwrap();
    let e = next_event(&mut events, within).await;
    assert_eq!(e.track, track(true, Some(253)), "capped at 253: {e:?}");

    std::fs::write(&path, "-26").unwrap();
    let e = next_event(&mut events, within).await;
    assert!(
        (e.up, e.track) == (false, track(false, Some(0))),
        "-260 is Fault (weight 0 while down): {e:?}"
    );
    assert!(
        e.reason
            .ends_with("value -26 x weight 10 = -260, at or below -254 (fault)"),
        "{}",
        e.reason
    );

    std::fs::write(&path, "not a number").unwrap();
    let e = next_event(&mut events, within).await;
    assert!(
        (e.up, e.track) == (true, track(true, Some(0))),
        "text reads as 0: {e:?}"
    );

    std::fs::write(&path, "2").unwrap();
    let e = next_event(&mut events, within).await;
    assert_eq!(e.track, track(true, Some(20)));
    std::fs::remove_file(&path).unwrap();
    let e = next_event(&mut events, within).await;
    assert!(
        (e.up, e.track) == (true, track(true, Some(0))),
        "a missing file reads as 0: {e:?}"
    );
    assert!(e.reason.contains("read as 0"), "{}", e.reason);

    std::fs::write(&path, "99999999999").unwrap();
    no_event(&mut events, Duration::from_millis(300)).await;
    let status = monitor.status(&"VI_1".to_owned(), "maint").unwrap();
    assert!(
        status
            .last_detail
            .as_deref()
            .unwrap()
            .contains("out of range ignored"),
        "{status:?}"
    );
    monitor.stop().await;
}

#[tokio::test]
async fn file_with_action_fault_is_down_on_any_non_zero_number() {
    let dir = TempDir::new();
    let path = dir.write("down", "0");
    let config = check(&format!(
        "name: maint\nfile: {{ path: '{}' }}\naction: fault\ninterval: 50ms",
        path.display()
    ));
    let (monitor, mut events) = start(config);
    let within = Duration::from_secs(5);
    let e = next_event(&mut events, within).await;
    assert!((e.up, e.track) == (true, track(true, Some(0))), "{e:?}");
    std::fs::write(&path, "1").unwrap();
    let e = next_event(&mut events, within).await;
    assert!(
        (e.up, e.track) == (false, track(false, Some(0))),
        "Fault: {e:?}"
    );
    assert!(
        e.reason.ends_with("value 1 is non-zero (action fault)"),
        "{}",
        e.reason
    );
    std::fs::write(&path, "-7").unwrap();
    no_event(&mut events, Duration::from_millis(300)).await;
    std::fs::remove_file(&path).unwrap();
    let e = next_event(&mut events, within).await;
    assert!(e.up, "a missing file reads as 0, which is OK: {e:?}");
    monitor.stop().await;
}

#[tokio::test]
async fn an_endless_file_is_read_only_as_far_as_needed() {
    let e = first_event(check("name: w\nfile: { path: /dev/zero }\nweight: 10")).await;
    assert!(
        (e.up, e.track) == (true, track(true, Some(0))),
        "NUL bytes are not a number: {e:?}"
    );
}

#[tokio::test]
async fn file_default_weight_is_1() {
    let dir = TempDir::new();
    let path = dir.write("w", "-17");
    let e = first_event(check(&format!(
        "name: w\nfile: {{ path: '{}' }}",
        path.display()
    )))
    .await;
    assert!((e.up, e.track) == (true, track(false, Some(-17))), "{e:?}");
}

/// A server answering a scripted sequence of statuses, then the last one forever.
async fn scripted(statuses: Vec<u16>) -> (common::Server, Arc<AtomicUsize>) {
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    let script = Arc::new(Mutex::new(statuses));
    let server = http_server(move |_| {
        let n = count.fetch_add(1, Ordering::SeqCst);
        let s = script.lock().unwrap();
        Reply::status(s[n.min(s.len() - 1)])
    })
    .await;
    (server, served)
}

#[tokio::test]
async fn rise_and_fall_sequence_through_the_monitor() {
    // rise 2, fall 3, initially down:
    //   probe: 1    2    3    4    5    6    7    8    9
    //   http:  200  200  500  500  200  500  500  500  200 (and 200 on)
    //   state: down UP   up   up   up   up   up   DOWN down -> up at 10 (rise 2)
    let (server, served) = scripted(vec![200, 200, 500, 500, 200, 500, 500, 500, 200]).await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\ninterval: 100ms\nrise: 2\nfall: 3\ninitial: down",
        server.addr
    ));
    let (monitor, mut events) = start(config);
    let owner = "VI_1".to_owned();
    assert_eq!(
        monitor.status(&owner, "svc").unwrap().state,
        CheckState::Down
    );
    let within = Duration::from_secs(5);

    let e = next_event(&mut events, within).await;
    assert!(e.up, "{e:?}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        2,
        "up exactly at the 2nd success"
    );

    let e = next_event(&mut events, within).await;
    assert!(!e.up, "{e:?}");
    assert!(e.reason.contains("HTTP 500"), "{}", e.reason);
    assert_eq!(
        served.load(Ordering::SeqCst),
        8,
        "down exactly at the 3rd consecutive failure"
    );

    let e = next_event(&mut events, within).await;
    assert!(e.up);
    assert_eq!(served.load(Ordering::SeqCst), 10);
    no_event(&mut events, Duration::from_millis(200)).await;

    let status = monitor.status(&owner, "svc").unwrap();
    assert_eq!(status.transitions, 3);
    assert!(status.consecutive_successes >= 3, "{status:?}");
    assert_eq!(status.consecutive_failures, 0);
    assert!(
        status.last_error.as_deref().unwrap().contains("HTTP 500"),
        "kept after recovery"
    );
    monitor.stop().await;
}

/// Owners with the same check (a sync group's check, given to each member) share one probe:
/// the endpoint is probed once per interval, and each owner gets every transition.
#[tokio::test]
async fn owners_of_the_same_check_share_its_probes() {
    let (server, served) = scripted(vec![200, 200, 500]).await;
    let config = |interval: &str| {
        check(&format!(
            "name: svc\nhttp: {{ url: 'http://{}/' }}\ninterval: {interval}\nfall: 1",
            server.addr
        ))
    };
    let (monitor, mut events) = vip_health::HealthMonitor::start([
        ("VI_1".to_owned(), config("100ms")),
        ("VI_2".to_owned(), config("100ms")),
        ("VI_3".to_owned(), config("100ms")),
    ]);
    let within = Duration::from_secs(5);
    let mut owners = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut events, within).await;
        assert!(e.up, "{e:?}");
        owners.push(e.owner);
    }
    owners.sort();
    assert_eq!(owners, ["VI_1", "VI_2", "VI_3"]);
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "one probe serves the three"
    );
    // The third probe fails: every owner goes down, on one probe.
    let mut down = Vec::new();
    for _ in 0..3 {
        let e = next_event(&mut events, within).await;
        assert!(!e.up, "{e:?}");
        down.push(e.owner);
    }
    down.sort();
    assert_eq!(down, ["VI_1", "VI_2", "VI_3"]);
    assert_eq!(served.load(Ordering::SeqCst), 3);
    assert_eq!(monitor.len(), 3, "each owner still has its check");
    for owner in ["VI_1", "VI_2", "VI_3"] {
        let status = monitor.status(&owner.to_owned(), "svc").unwrap();
        assert_eq!(status.state, CheckState::Down, "{owner}: {status:?}");
    }
    monitor.stop().await;
}

#[tokio::test]
async fn first_result_decides_at_once_and_initial_up_needs_fall_failures() {
    let (server, served) = scripted(vec![500]).await;
    let e = first_event(check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\nfall: 5",
        server.addr
    )))
    .await;
    assert!(!e.up, "the first result decides despite fall 5");
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let (server, served) = scripted(vec![500]).await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\nfall: 3\ninitial: up\ninterval: 50ms",
        server.addr
    ));
    let (monitor, mut events) = start(config);
    let e = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(!e.up);
    assert_eq!(served.load(Ordering::SeqCst), 3);
    monitor.stop().await;
}

async fn collect_until(
    events: &mut common::Events,
    deadline: Duration,
    mut stop: impl FnMut(&HealthEvent<String>) -> bool,
) -> Vec<(HealthEvent<String>, Instant)> {
    let end = tokio::time::Instant::now() + deadline;
    let mut seen = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout_at(end, events.recv()).await {
        let done = stop(&e);
        seen.push((e, Instant::now()));
        if done {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn damping_holds_a_flapping_check_down_until_the_penalty_decays() {
    // Flaps every probe for 20 probes (1 s at 50 ms), then stays up.
    let mut script = vec![200];
    for i in 0..20 {
        script.push(if i % 2 == 0 { 500 } else { 200 });
    }
    script.push(200);
    let (server, served) = scripted(script).await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\ninterval: 50ms\ninitial: up\n\
         damping: {{ penalty: 1000, half_life: 500ms, suppress: 1500, reuse: 500, max_suppress: 2s }}",
        server.addr
    ));
    let (monitor, mut events) = start(config);
    let owner = "VI_1".to_owned();

    let events_seen = collect_until(&mut events, Duration::from_secs(20), |e| e.up).await;
    let released = monitor.status(&owner, "svc").unwrap();
    assert_eq!(released.state, CheckState::Up);
    let kinds: Vec<(bool, bool)> = events_seen
        .iter()
        .map(|(e, _)| (e.up, e.suppressed))
        .collect();
    assert_eq!(
        kinds,
        vec![(false, false), (true, false)],
        "one down, then one up when released; the flaps in between are held: {events_seen:?}"
    );
    let (down, down_at) = &events_seen[0];
    assert!(down.reason.contains("HTTP 500"), "{}", down.reason);
    let (up, up_at) = &events_seen[1];
    assert_eq!(up.reason, "released by flap damping");
    assert!(
        served.load(Ordering::SeqCst) > 21,
        "the flapping part was served"
    );
    // Held for at least the flapping second plus some decay; released within the bound
    // (max_suppress 2 s after the last flap) plus a generous margin.
    let held = *up_at - *down_at;
    assert!(
        held > Duration::from_millis(1200) && held < Duration::from_secs(12),
        "held down for {held:?}"
    );
    assert_eq!(released.transitions, 2, "{released:?}");
    assert!(!released.suppressed);
    monitor.stop().await;
}

#[tokio::test]
async fn damping_suppression_is_visible_in_the_status() {
    let (server, _) = scripted(vec![200, 500, 200, 200]).await;
    let config = check(&format!(
        "name: svc\nhttp: {{ url: 'http://{}/' }}\ninterval: 50ms\ninitial: up\n\
         damping: {{ penalty: 1000, half_life: 30s, suppress: 1500, reuse: 500, max_suppress: 5m }}",
        server.addr
    ));
    let (monitor, mut events) = start(config);
    let e = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(!e.up);
    let mut watch = monitor.watch(&"VI_1".to_owned(), "svc").unwrap();
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        watch.wait_for(|s| s.suppressed && s.probes >= 4),
    )
    .await
    .expect("suppressed")
    .unwrap()
    .clone();
    assert_eq!(status.state, CheckState::Down, "held down");
    assert_eq!(status.filtered, CheckState::Up, "the probes pass");
    assert!(
        status.penalty > 1500.0 && status.penalty < 2001.0,
        "{}",
        status.penalty
    );
    assert_eq!(
        status.track,
        track(false, None),
        "a suppressed fault check (weight 0) holds its instance in Fault"
    );
    no_event(&mut events, Duration::from_millis(300)).await;
    monitor.stop().await;
}
