//! The list and watch of `vip_health::kube_watch` against the HTTPS fake of the Kubernetes
//! API of `common::kube`: one test per rule (pagination, 410 relist, bookmark resume, resume
//! after a broken connection, a normal watch end, an over-long or malformed line, the token
//! read again at each reconnect).

mod common;

use std::time::{Duration, Instant};

use common::kube::{FakeKube, pod, pods};
use serde::Deserialize;
use vip_health::KubeEndpoint;
use vip_health::kube_watch::{Collection, Event, WatchError, WatchOptions, Watcher};

/// What the tests read of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Obj {
    metadata: Meta,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Meta {
    name: String,
}

fn endpoint(fake: &FakeKube) -> KubeEndpoint {
    vip_health::kube_endpoint_at(
        "test",
        "kubernetes",
        Some(&"127.0.0.1".to_owned()),
        Some(fake.port()),
        Some(&fake.token_file),
        Some(&fake.ca_file),
        &|_| None,
    )
    .unwrap()
}

fn watcher(fake: &FakeKube, options: WatchOptions) -> Watcher<Obj> {
    Watcher::new(endpoint(fake), Collection::pods("vip", "app=vipd"), options)
}

/// The fake with pods `names` labelled app=vipd, and one of another workload.
async fn fake_with(names: &[&str]) -> FakeKube {
    let fake = FakeKube::start("127.0.0.1:0".parse().unwrap()).await;
    let vip = pods("vip");
    fake.collection(&vip);
    for (i, name) in names.iter().enumerate() {
        fake.put(
            &vip,
            pod(
                "vip",
                name,
                &[("app", "vipd")],
                &[&format!("10.0.0.{}", i + 1)],
            ),
        );
    }
    fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.99"]));
    fake
}

async fn next(w: &mut Watcher<Obj>) -> Result<Event<Obj>, WatchError> {
    tokio::time::timeout(Duration::from_secs(10), w.next())
        .await
        .expect("an event or an error within 10 s")
}

/// `Init`, `+name` (InitApply), `Done`, `apply name`, `delete name`, `Live`.
fn text(event: &Event<Obj>) -> String {
    match event {
        Event::Init => "Init".to_owned(),
        Event::InitApply(o) => format!("+{}", o.metadata.name),
        Event::InitDone => "Done".to_owned(),
        Event::Apply(o) => format!("apply {}", o.metadata.name),
        Event::Delete(o) => format!("delete {}", o.metadata.name),
        Event::Live => "Live".to_owned(),
    }
}

/// The next `n` events, as text; an error fails the test.
async fn events(w: &mut Watcher<Obj>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        match next(w).await {
            Ok(e) => out.push(text(&e)),
            Err(e) => panic!("after {out:?}: {e}"),
        }
    }
    out
}

fn lists(fake: &FakeKube) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| !p.contains("watch=true"))
        .collect()
}

fn watches(fake: &FakeKube) -> Vec<String> {
    fake.requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p.contains("watch=true"))
        .collect()
}

/// The fake with pod a, and a watcher with `options` that has listed it and watches.
async fn watching_a(options: WatchOptions) -> (FakeKube, Watcher<Obj>) {
    let fake = fake_with(&["a"]).await;
    let mut w = watcher(&fake, options);
    assert_eq!(events(&mut w, 4).await, ["Init", "+a", "Done", "Live"]);
    (fake, w)
}

/// `watch` starts from resource version `rv`.
fn assert_from(watch: &str, rv: u64) {
    assert!(watch.contains(&format!("resourceVersion={rv}&")), "{watch}");
}

fn small_pages() -> WatchOptions {
    let mut o = WatchOptions::default();
    o.page_size = 2;
    o
}

#[tokio::test]
async fn the_list_is_read_in_pages_with_continue_tokens_then_watched_from_its_version() {
    let fake = fake_with(&["a", "b", "c", "d", "e"]).await;
    let mut w = watcher(&fake, small_pages());
    assert_eq!(
        events(&mut w, 8).await,
        ["Init", "+a", "+b", "+c", "+d", "+e", "Done", "Live"]
    );
    let rv = w.resource_version().unwrap().to_owned();
    assert_eq!(rv, "6", "the list's resourceVersion");
    let lists = lists(&fake);
    assert_eq!(
        lists,
        [
            "/api/v1/namespaces/vip/pods?limit=2&labelSelector=app%3Dvipd".to_owned(),
            format!("/api/v1/namespaces/vip/pods?limit=2&labelSelector=app%3Dvipd&continue={rv}-2"),
            format!("/api/v1/namespaces/vip/pods?limit=2&labelSelector=app%3Dvipd&continue={rv}-4"),
        ]
    );
    let watch = &watches(&fake)[0];
    assert!(
        watch.starts_with(&format!(
            "/api/v1/namespaces/vip/pods?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds="
        )) && watch.ends_with("&labelSelector=app%3Dvipd"),
        "{watch}"
    );
    let seconds: u64 = watch
        .split("timeoutSeconds=")
        .nth(1)
        .and_then(|t| t.split('&').next())
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(
        (290..320).contains(&seconds),
        "290 s plus jitter: {seconds}"
    );
    for r in fake.requests() {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer fake-service-account-token")
        );
    }
    // Then the events of the watch, in order; another workload's pods are not sent.
    let vip = pods("vip");
    fake.put(&vip, pod("vip", "f", &[("app", "vipd")], &["10.0.0.6"]));
    fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.98"]));
    fake.put(&vip, pod("vip", "a", &[("app", "vipd")], &["10.0.0.7"]));
    fake.delete(&vip, "b");
    assert_eq!(events(&mut w, 3).await, ["apply f", "apply a", "delete b"]);
    assert_eq!(w.resource_version(), Some("10"), "the last event's version");
}

#[tokio::test]
async fn an_expired_continue_token_starts_the_list_again() {
    let fake = fake_with(&["a", "b", "c"]).await;
    let mut w = watcher(&fake, small_pages());
    assert_eq!(events(&mut w, 3).await, ["Init", "+a", "+b"]);
    // Between the pages, the snapshot the token points into is compacted away (HTTP 410 on
    // the next page); meanwhile b went and d came.
    let vip = pods("vip");
    fake.delete_silently(&vip, "b");
    fake.put_silently(&vip, pod("vip", "d", &[("app", "vipd")], &["10.0.0.4"]));
    fake.expire();
    assert_eq!(
        events(&mut w, 6).await,
        ["Init", "+a", "+c", "+d", "Done", "Live"],
        "the list again, whole"
    );
    assert_eq!(lists(&fake).len(), 4, "2 pages, the expired one, 2 pages");
}

#[tokio::test]
async fn gone_410_lists_again_at_once_and_the_new_list_replaces_the_state() {
    let fake = fake_with(&["a", "b"]).await;
    let mut w = watcher(&fake, WatchOptions::default());
    assert_eq!(
        events(&mut w, 5).await,
        ["Init", "+a", "+b", "Done", "Live"]
    );
    let vip = pods("vip");
    fake.put(&vip, pod("vip", "c", &[("app", "vipd")], &["10.0.0.3"]));
    assert_eq!(events(&mut w, 1).await, ["apply c"]);
    // While no event tells of it, a is deleted and d added; then the history is compacted:
    // the open watch gets ERROR 410.
    fake.delete_silently(&vip, "a");
    fake.put_silently(&vip, pod("vip", "d", &[("app", "vipd")], &["10.0.0.4"]));
    let before = Instant::now();
    fake.expire();
    assert_eq!(
        events(&mut w, 6).await,
        ["Init", "+b", "+c", "+d", "Done", "Live"],
        "a full list (without a) replaces the state"
    );
    assert!(
        before.elapsed() < Duration::from_millis(490),
        "no backoff before the relist: {:?}",
        before.elapsed()
    );
    assert_eq!(lists(&fake).len(), 2);
}

#[tokio::test]
async fn a_bookmark_moves_the_resource_version_and_a_normal_end_rewatches_at_once_from_it() {
    let (fake, mut w) = watching_a(WatchOptions::default()).await;
    // Pods of another workload change: no event reaches this watch, but a bookmark tells
    // the version it has seen up to.
    let vip = pods("vip");
    fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.97"]));
    let bookmarked = fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.96"]));
    fake.bookmark();
    assert_eq!(events(&mut w, 1).await, ["Live"]);
    assert_eq!(w.resource_version(), Some(bookmarked.to_string().as_str()));
    // The server ends the watch (timeoutSeconds): the watcher watches again at once, from
    // the bookmark's version, with no error and no list.
    let ended = Instant::now();
    fake.end_watches();
    assert_eq!(events(&mut w, 1).await, ["Live"]);
    assert!(
        ended.elapsed() < Duration::from_millis(490),
        "no backoff after a normal end: {:?}",
        ended.elapsed()
    );
    let watches = watches(&fake);
    assert_eq!(watches.len(), 2);
    assert_from(&watches[1], bookmarked);
    assert_eq!(lists(&fake).len(), 1);
}

#[tokio::test]
async fn a_broken_connection_is_an_error_and_the_watch_resumes_from_the_last_version() {
    let (fake, mut w) = watching_a(WatchOptions::default()).await;
    let vip = pods("vip");
    let seen = fake.put(&vip, pod("vip", "b", &[("app", "vipd")], &["10.0.0.2"]));
    assert_eq!(events(&mut w, 1).await, ["apply b"]);
    fake.cut_watches();
    let err = next(&mut w).await.unwrap_err();
    assert!(
        matches!(err, WatchError::Request(_)),
        "a broken stream: {err}"
    );
    // Meanwhile c is added: the resumed watch replays it from the history.
    fake.put(&vip, pod("vip", "c", &[("app", "vipd")], &["10.0.0.3"]));
    let cut = Instant::now();
    assert_eq!(events(&mut w, 2).await, ["Live", "apply c"]);
    assert!(
        cut.elapsed() >= Duration::from_millis(450),
        "the first backoff, 0.5 s: {:?}",
        cut.elapsed()
    );
    let watches = watches(&fake);
    assert_from(&watches[1], seen);
    assert_eq!(lists(&fake).len(), 1, "no list: the history still holds it");
}

#[tokio::test]
async fn an_over_long_line_is_an_error_and_a_relist_with_bounded_memory() {
    let mut options = WatchOptions::default();
    options.line_limit = 4096;
    let (fake, mut w) = watching_a(options).await;
    // 10 KiB without a newline, in small chunks, then in one: never kept beyond the limit.
    for _ in 0..10 {
        fake.send_raw(&[b'x'; 1024]);
    }
    let err = next(&mut w).await.unwrap_err();
    assert_eq!(
        err,
        WatchError::LineTooLong {
            path: "/api/v1/namespaces/vip/pods".to_owned(),
            limit: 4096
        }
    );
    assert!(err.to_string().contains("longer than 4096 bytes"), "{err}");
    assert_eq!(w.resource_version(), None, "an event was lost: list again");
    assert_eq!(
        events(&mut w, 4).await,
        ["Init", "+a", "Done", "Live"],
        "listed again"
    );
    // A whole event that is too large, in one chunk after a good one.
    let mut big = serde_json::to_vec(&serde_json::json!({"type": "MODIFIED",
        "object": pod("vip", "a", &[("app", "vipd")], &["10.0.0.1"])}))
    .unwrap();
    big.push(b'\n');
    let mut huge = serde_json::to_vec(&serde_json::json!({"type": "MODIFIED",
        "object": {"metadata": {"name": "a", "annotations": {"x": "y".repeat(8192)}}}}))
    .unwrap();
    huge.push(b'\n');
    big.extend_from_slice(&huge);
    fake.send_raw(&big);
    assert_eq!(events(&mut w, 1).await, ["apply a"], "the good line first");
    assert!(matches!(
        next(&mut w).await,
        Err(WatchError::LineTooLong { .. })
    ));
    assert_eq!(lists(&fake).len(), 2);
}

#[tokio::test]
async fn a_line_that_is_not_a_watch_event_is_an_error_and_a_relist() {
    let (fake, mut w) = watching_a(WatchOptions::default()).await;
    fake.send_raw(b"<html>proxy error</html>\n");
    let err = next(&mut w).await.unwrap_err();
    assert!(matches!(err, WatchError::Decode { .. }), "{err}");
    assert_eq!(events(&mut w, 4).await, ["Init", "+a", "Done", "Live"]);
    // A non-410 ERROR event: an error, then a resume (not a list).
    fake.send_raw(
        b"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd timeout\"}}\n",
    );
    let err = next(&mut w).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the watch of /api/v1/namespaces/vip/pods ended with error 500: etcd timeout"
    );
    assert_eq!(events(&mut w, 1).await, ["Live"]);
    assert_eq!(lists(&fake).len(), 2);
}

#[tokio::test]
async fn errors_back_off_and_the_rotated_token_is_read_at_the_next_connect() {
    let (fake, mut w) = watching_a(WatchOptions::default()).await;
    // The token rotates on the server; the file still has the old one until the kubelet
    // writes it: 401, with the server's message, then backoff.
    fake.rotate_token("rotated-token");
    fake.end_watches();
    let start = Instant::now();
    let mut delays = Vec::new();
    for _ in 0..3 {
        let err = next(&mut w).await.unwrap_err();
        assert!(
            matches!(err, WatchError::Status { status: 401, .. }),
            "{err}"
        );
        delays.push(start.elapsed());
    }
    // Errors come 0.5 s, then 1 s apart (the first at once).
    assert!(
        delays[1] - delays[0] >= Duration::from_millis(450),
        "{delays:?}"
    );
    assert!(
        delays[2] - delays[1] >= Duration::from_millis(950),
        "{delays:?}"
    );
    std::fs::write(&fake.token_file, "rotated-token\n").unwrap();
    assert_eq!(events(&mut w, 1).await, ["Live"]);
    let last = fake.requests().pop().unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer rotated-token"));
    assert!(last.path.contains("watch=true"), "resumed, not relisted");
}

#[tokio::test]
async fn an_unreachable_api_is_an_error_per_attempt_and_nothing_else() {
    let (mut fake, mut w) = watching_a(WatchOptions::default()).await;
    fake.stop();
    // The stream ends as the server goes; then connecting fails, and keeps failing.
    for _ in 0..2 {
        let err = next(&mut w).await.unwrap_err();
        assert!(err.to_string().contains("cannot connect"), "{err}");
    }
    fake.resume().await;
    assert_eq!(events(&mut w, 1).await, ["Live"], "resumed, no relist");
}

#[tokio::test]
async fn a_server_that_refuses_every_watch_is_asked_with_backoff_not_in_a_loop() {
    let fake = fake_with(&["a"]).await;
    fake.forget_every_version();
    let mut w = watcher(&fake, WatchOptions::default());
    // 410 right after the list: listed again, after the backoff.
    assert_eq!(events(&mut w, 4).await, ["Init", "+a", "Done", "Live"]);
    let err = next(&mut w).await.unwrap_err();
    assert!(matches!(err, WatchError::GoneAfterList { .. }), "{err}");
    let listed = Instant::now();
    assert_eq!(events(&mut w, 4).await, ["Init", "+a", "Done", "Live"]);
    assert!(
        listed.elapsed() >= Duration::from_millis(450),
        "{:?}",
        listed.elapsed()
    );
    assert!(matches!(
        next(&mut w).await,
        Err(WatchError::GoneAfterList { .. })
    ));
    assert_eq!(lists(&fake).len(), 2);

    // A server that ends every watch at once: the first end is taken as normal (watched
    // again at once), the second in a row is an error with backoff.
    let fake = fake_with(&["a"]).await;
    fake.close_watches_at_once(true);
    let mut w = watcher(&fake, WatchOptions::default());
    assert_eq!(
        events(&mut w, 5).await,
        ["Init", "+a", "Done", "Live", "Live"]
    );
    let err = next(&mut w).await.unwrap_err();
    assert!(matches!(err, WatchError::EndedAtOnce { .. }), "{err}");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let _ = tokio::time::timeout(Duration::from_millis(100), w.next()).await;
    }
    let count = watches(&fake).len();
    assert!(
        (3..=8).contains(&count),
        "watches in 2 s, with backoff: {count}"
    );
}

#[tokio::test]
async fn a_list_page_over_the_limit_is_an_error_and_read_again_in_smaller_pages() {
    let fake = fake_with(&["a", "b", "c"]).await;
    let mut options = WatchOptions::default();
    options.page_size = 4;
    options.page_limit = 600; // one pod is about 300 bytes
    let mut w = watcher(&fake, options);
    let err = next(&mut w).await.unwrap_err();
    assert_eq!(
        err,
        WatchError::PageTooLarge {
            path: "/api/v1/namespaces/vip/pods".to_owned(),
            limit: 600,
            page_size: 1
        }
    );
    assert_eq!(
        events(&mut w, 6).await,
        ["Init", "+a", "+b", "+c", "Done", "Live"]
    );
    assert!(lists(&fake)[1..].iter().all(|p| p.contains("limit=1&")));
}

#[tokio::test]
async fn a_watch_silent_past_its_timeout_is_broken_and_resumed_from_the_last_version() {
    let mut options = WatchOptions::default();
    options.watch_timeout = Duration::ZERO;
    options.stall_grace = Duration::from_millis(300);
    let (fake, mut w) = watching_a(options).await;
    // The fake never ends this watch and sends nothing: given up 300 ms after it opened.
    let err = next(&mut w).await.unwrap_err();
    assert!(matches!(err, WatchError::Stalled { .. }), "{err}");
    assert_eq!(events(&mut w, 1).await, ["Live"], "watching again");
    let watches = watches(&fake);
    assert_eq!(watches.len(), 2);
    assert_from(&watches[1], 2);
    assert_eq!(lists(&fake).len(), 1);
}
