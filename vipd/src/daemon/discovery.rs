//! Unicast peers discovered from the Kubernetes API: one watch per instance with
//! `unicast_peers_from`, each sending its peer list to the event loop whenever it changes.
//!
//! The watch is vip-health's [`Watcher`]: a list, then a watch from its resource version,
//! with bookmarks; on `410 Gone` it lists again, and on any other error it retries with a
//! backoff of 0.5 s doubling to 5 s. The list being rebuilt, or the API being unreachable,
//! never changes the peers the engine has: the last complete list is kept, and its age shown
//! in the status.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vip_health::KubeEndpoint;
use vip_health::kube_watch::{Collection, Event, WatchOptions, Watcher};
use vrrp_core::Family;

use crate::config::{Discovery as Source, InstancePlan, PeerObjects};

mod peers;

use peers::{Node, PeerObject, PeerSet, Pod};

/// A new peer list of an instance, from its watch number `generation`.
#[derive(Debug)]
pub(super) struct PeerUpdate {
    pub(super) instance: String,
    pub(super) generation: u64,
    pub(super) peers: Vec<IpAddr>,
}

/// What the status says of a watch.
#[derive(Debug, Clone, Default)]
pub(super) struct WatchStatus {
    /// When the API last answered (an event, a bookmark or a list).
    pub(super) confirmed: Option<Instant>,
    /// Whether a complete list was received.
    pub(super) synced: bool,
    /// The last error, until the API answers again.
    pub(super) error: Option<String>,
}

/// One instance's watch.
struct Watch {
    source: Source,
    family: Family,
    generation: u64,
    task: JoinHandle<()>,
    status: Arc<Mutex<WatchStatus>>,
    /// The last list received (this node's own addresses included; the event loop leaves
    /// them out).
    peers: Vec<IpAddr>,
}

/// The watches of every instance that discovers its peers, by instance name.
pub(super) struct Discovery {
    tx: mpsc::UnboundedSender<PeerUpdate>,
    watches: BTreeMap<String, Watch>,
    generation: u64,
}

impl Discovery {
    /// No watch yet; the event loop reads the updates from the receiver.
    pub(super) fn new() -> (Self, mpsc::UnboundedReceiver<PeerUpdate>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                tx,
                watches: BTreeMap::new(),
                generation: 0,
            },
            rx,
        )
    }

    /// Starts the watch of each instance that has a source and no watch of it yet, and
    /// stops the others. A watch whose source and family are unchanged keeps running, and
    /// its peers; a changed one starts anew (its last peers kept until the new list comes).
    pub(super) fn sync<'a>(&mut self, plans: impl IntoIterator<Item = &'a InstancePlan>) {
        let mut wanted: BTreeMap<String, (Source, Family)> = BTreeMap::new();
        for plan in plans {
            if let Some(source) = plan.discovery() {
                wanted.insert(
                    plan.name().to_owned(),
                    (source.clone(), plan.engine().family()),
                );
            }
        }
        let mut previous: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        self.watches.retain(|name, w| {
            let keep = wanted
                .get(name)
                .is_some_and(|(s, f)| *s == w.source && *f == w.family);
            if !keep {
                w.task.abort();
                previous.insert(name.clone(), std::mem::take(&mut w.peers));
            }
            keep
        });
        for (name, (source, family)) in wanted {
            if self.watches.contains_key(&name) {
                continue;
            }
            self.generation += 1;
            let status = Arc::new(Mutex::new(WatchStatus::default()));
            info!(instance = %name, source = %source.objects(), "watching the Kubernetes API for unicast peers");
            let task = tokio::spawn(run(
                name.clone(),
                self.generation,
                source.clone(),
                family,
                self.tx.clone(),
                Arc::clone(&status),
            ));
            let peers = previous.remove(&name).unwrap_or_default();
            self.watches.insert(
                name,
                Watch {
                    source,
                    family,
                    generation: self.generation,
                    task,
                    status,
                    peers,
                },
            );
        }
    }

    /// Records `update`; false if it comes from a watch that has been replaced or stopped.
    pub(super) fn record(&mut self, update: &PeerUpdate) -> bool {
        match self.watches.get_mut(&update.instance) {
            Some(w) if w.generation == update.generation => {
                w.peers.clone_from(&update.peers);
                true
            }
            _ => false,
        }
    }

    /// The discovered peers of `instance` (empty if it has no watch).
    pub(super) fn peers(&self, instance: &str) -> &[IpAddr] {
        self.watches
            .get(instance)
            .map_or(&[][..], |w| w.peers.as_slice())
    }

    /// The source and status of the watch of `instance`.
    pub(super) fn status(&self, instance: &str) -> Option<(String, WatchStatus)> {
        let w = self.watches.get(instance)?;
        let status = w.status.lock().map(|s| s.clone()).unwrap_or_default();
        Some((w.source.objects().to_string(), status))
    }

    /// Stops every watch.
    pub(super) fn stop(&mut self) {
        for (_, w) in std::mem::take(&mut self.watches) {
            w.task.abort();
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_status(status: &Mutex<WatchStatus>, f: impl FnOnce(&mut WatchStatus)) {
    if let Ok(mut s) = status.lock() {
        f(&mut s);
    }
}

/// The namespace of the pods: the configured one, else `$POD_NAMESPACE`, else the service
/// account's.
fn namespace(configured: Option<&String>) -> Result<String, String> {
    if let Some(ns) = configured {
        return Ok(ns.clone());
    }
    if let Ok(ns) = std::env::var("POD_NAMESPACE")
        && !ns.trim().is_empty()
    {
        return Ok(ns.trim().to_owned());
    }
    std::fs::read_to_string(vip_health::SERVICE_ACCOUNT_NAMESPACE)
        .map(|s| s.trim().to_owned())
        .map_err(|e| {
            format!(
                "no namespace: set unicast_peers_from.kubernetes.pods.namespace or \
                 $POD_NAMESPACE ({} unreadable: {e})",
                vip_health::SERVICE_ACCOUNT_NAMESPACE
            )
        })
}

/// The watch of one instance, until aborted.
async fn run(
    instance: String,
    generation: u64,
    source: Source,
    family: Family,
    tx: mpsc::UnboundedSender<PeerUpdate>,
    status: Arc<Mutex<WatchStatus>>,
) {
    let out = Out {
        instance,
        generation,
        tx,
        status,
    };
    let endpoint = source.endpoint().clone();
    match source.objects() {
        PeerObjects::Pods {
            namespace: ns,
            selector,
        } => match namespace(ns.as_ref()) {
            Ok(ns) => {
                let collection = Collection::pods(&ns, selector);
                watch::<Pod>(endpoint, collection, family, &out).await;
            }
            Err(e) => {
                warn!(instance = out.instance, error = %e, "peer discovery cannot start");
                set_status(&out.status, |s| s.error = Some(e));
            }
        },
        PeerObjects::Nodes { selector } => {
            let collection = Collection::nodes(selector);
            watch::<Node>(endpoint, collection, family, &out).await;
        }
    }
}

/// Where a watch reports.
struct Out {
    instance: String,
    generation: u64,
    tx: mpsc::UnboundedSender<PeerUpdate>,
    status: Arc<Mutex<WatchStatus>>,
}

async fn watch<K>(endpoint: KubeEndpoint, collection: Collection, family: Family, out: &Out)
where
    K: PeerObject + DeserializeOwned,
{
    let mut watcher: Watcher<K> = Watcher::new(endpoint, collection, WatchOptions::default());
    let mut set = PeerSet::new(family);
    // The list is current while the watch runs without error (an idle watch yields no
    // event); its age counts from the last moment it was.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let item = tokio::select! {
            item = watcher.next() => item,
            _ = tick.tick() => {
                set_status(&out.status, |s| {
                    if s.error.is_none() && s.synced {
                        s.confirmed = Some(Instant::now());
                    }
                });
                continue;
            }
        };
        match item {
            Ok(event) => {
                let changed = set.apply(&event);
                let synced = set.synced();
                let first = synced && matches!(event, Event::InitDone);
                set_status(&out.status, |s| {
                    s.confirmed = Some(Instant::now());
                    s.synced = synced;
                    if s.error.take().is_some() {
                        info!(instance = out.instance, "the Kubernetes API answers again");
                    }
                });
                // The first complete list is sent even when empty, so that the engine knows
                // the source answered; later ones only when they change something.
                if (changed || first) && synced {
                    let peers = set.peers();
                    if out
                        .tx
                        .send(PeerUpdate {
                            instance: out.instance.clone(),
                            generation: out.generation,
                            peers,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }
            Err(e) => {
                let message = e.to_string();
                let new = out
                    .status
                    .lock()
                    .map(|s| s.error.as_deref() != Some(message.as_str()))
                    .unwrap_or(true);
                if new {
                    warn!(instance = out.instance, error = %message, "Kubernetes watch failed; the peer list is kept, retrying with backoff");
                }
                set_status(&out.status, |s| s.error = Some(message));
            }
        }
    }
}

/// The fake Kubernetes API of vip-health's tests.
#[cfg(test)]
#[path = "../../../vip-health/tests/common/mod.rs"]
mod fake;

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use tokio::sync::mpsc::UnboundedReceiver;

    use super::fake::kube::{FakeKube, pod, pods};
    use super::{Discovery, PeerUpdate};
    use crate::config::Config;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    async fn next(rx: &mut UnboundedReceiver<PeerUpdate>) -> Vec<IpAddr> {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("a peer update within 10 s")
            .expect("the channel is open")
            .peers
    }

    async fn quiet(rx: &mut UnboundedReceiver<PeerUpdate>, within: Duration) {
        if let Ok(Some(u)) = tokio::time::timeout(within, rx.recv()).await {
            panic!("unexpected peer update {u:?}");
        }
    }

    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..200 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not within 10 s: {what}");
    }

    fn discovery(
        fake: &FakeKube,
        ca_file: Option<&std::path::Path>,
    ) -> (Discovery, UnboundedReceiver<PeerUpdate>) {
        let config = Config::from_yaml(&format!(
            "instances: [{{name: VI_1, interface: eth0, vrid: 1, vips: [10.0.0.100/24],
               unicast_peers_from: {{kubernetes: {{ host: 127.0.0.1, port: {}, token_file: '{}',
                 ca_file: '{}', pods: {{selector: app=vipd, namespace: vip}} }} }} }}]",
            fake.port(),
            fake.token_file.display(),
            ca_file.unwrap_or(&fake.ca_file).display()
        ))
        .unwrap();
        let plan = config.validate().unwrap();
        let (mut d, rx) = Discovery::new();
        d.sync(plan.instances());
        (d, rx)
    }

    #[tokio::test]
    async fn the_watch_follows_adds_changes_deletes_and_relists_after_410() {
        let fake = FakeKube::start("127.0.0.1:0".parse().unwrap()).await;
        let vip = pods("vip");
        fake.collection(&vip);
        fake.put(&vip, pod("vip", "a", &[("app", "vipd")], &["10.0.0.1"]));
        fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.9"]));
        let (d, mut rx) = discovery(&fake, None);
        assert_eq!(
            next(&mut rx).await,
            ips(&["10.0.0.1"]),
            "the list, by selector"
        );
        until("a watch is open", || fake.watches() == 1).await;

        // ADDED: a dual-stack pod gives its IPv4 address to this IPv4 instance.
        fake.put(
            &vip,
            pod("vip", "b", &[("app", "vipd")], &["10.0.0.2", "fd00::2"]),
        );
        assert_eq!(next(&mut rx).await, ips(&["10.0.0.1", "10.0.0.2"]));
        // MODIFIED: a pod renumbered.
        fake.put(&vip, pod("vip", "a", &[("app", "vipd")], &["10.0.0.3"]));
        assert_eq!(next(&mut rx).await, ips(&["10.0.0.2", "10.0.0.3"]));
        // DELETED.
        fake.delete(&vip, "b");
        assert_eq!(next(&mut rx).await, ips(&["10.0.0.3"]));
        // A pod of another workload changes nothing; a BOOKMARK neither, but it confirms the
        // list.
        fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.8"]));
        let bookmarked = fake.put(&vip, pod("vip", "web", &[("app", "web")], &["10.0.0.7"]));
        fake.bookmark();
        quiet(&mut rx, Duration::from_millis(300)).await;
        // The watch ends (as the API server ends them after a while): the watcher resumes
        // from the bookmark's resource version, not its last event's.
        fake.end_watches();
        until("a watch resumed from the bookmark", || {
            fake.requests().iter().any(|r| {
                r.path.contains("watch=true")
                    && (r.path.contains(&format!("resourceVersion={bookmarked}&"))
                        || r.path.ends_with(&format!("resourceVersion={bookmarked}")))
            })
        })
        .await;
        quiet(&mut rx, Duration::from_millis(300)).await;

        // 410 Gone while a pod appeared that no event told of: the watcher lists again.
        let lists = |fake: &FakeKube| {
            fake.requests()
                .iter()
                .filter(|r| r.path.contains("/pods") && !r.path.contains("watch=true"))
                .count()
        };
        assert_eq!(lists(&fake), 1);
        fake.put_silently(&vip, pod("vip", "c", &[("app", "vipd")], &["10.0.0.4"]));
        fake.expire();
        assert_eq!(next(&mut rx).await, ips(&["10.0.0.3", "10.0.0.4"]));
        assert_eq!(lists(&fake), 2, "relisted after 410");
        for r in fake.requests() {
            assert_eq!(
                r.header("authorization"),
                Some("Bearer fake-service-account-token"),
                "{r:?}"
            );
        }
        let status = d.status("VI_1").unwrap();
        assert_eq!(status.0, "pods app=vipd in vip");
        assert!(status.1.synced && status.1.error.is_none(), "{status:?}");
    }

    #[tokio::test]
    async fn the_list_is_kept_while_the_api_is_away_and_the_error_shown() {
        let mut fake = FakeKube::start("127.0.0.1:0".parse().unwrap()).await;
        let vip = pods("vip");
        fake.put(&vip, pod("vip", "a", &[("app", "vipd")], &["10.0.0.1"]));
        let (d, mut rx) = discovery(&fake, None);
        assert_eq!(next(&mut rx).await, ips(&["10.0.0.1"]));
        until("a watch is open", || fake.watches() == 1).await;
        fake.stop();
        until("the error is shown", || {
            d.status("VI_1").unwrap().1.error.is_some()
        })
        .await;
        quiet(&mut rx, Duration::from_secs(2)).await;
        assert_eq!(
            d.peers("VI_1"),
            &[] as &[IpAddr],
            "the runner records the list, not this test"
        );
        // Back, with a change made meanwhile: the watch resumes and sees it.
        fake.resume().await;
        fake.put(&vip, pod("vip", "b", &[("app", "vipd")], &["10.0.0.2"]));
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(40), rx.recv())
                .await
                .expect("an update once the API is back")
                .unwrap()
                .peers,
            ips(&["10.0.0.1", "10.0.0.2"])
        );
        until("the error is cleared", || {
            d.status("VI_1").unwrap().1.error.is_none()
        })
        .await;
    }

    #[tokio::test]
    async fn an_unverified_api_server_gets_no_token_and_gives_no_peers() {
        let fake = FakeKube::start("127.0.0.1:0".parse().unwrap()).await;
        fake.put(
            &pods("vip"),
            pod("vip", "a", &[("app", "vipd")], &["10.0.0.1"]),
        );
        let other = super::fake::Ca::new("not kubernetes");
        let wrong = fake.dir.write("wrong-ca.crt", &other.pem);
        let (d, mut rx) = discovery(&fake, Some(&wrong));
        until("the error is shown", || {
            d.status("VI_1").unwrap().1.error.is_some()
        })
        .await;
        let error = d.status("VI_1").unwrap().1.error.unwrap();
        assert!(
            error.to_lowercase().contains("certificate")
                || error.contains("UnknownIssuer")
                || error.contains("tls"),
            "{error}"
        );
        quiet(&mut rx, Duration::from_millis(500)).await;
        assert!(
            fake.requests().is_empty(),
            "no request reached an unverified server"
        );
    }
}
