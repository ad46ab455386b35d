//! From Kubernetes objects to a peer list: which addresses of a pod or a node are peers, and
//! the list kept across the watcher's events (a relist replaces it whole, only once complete).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use vip_health::kube_watch::Event;
use vrrp_core::Family;

/// The metadata that discovery reads: an object's identity.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ObjectMeta {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
}

/// A Pod, with only the fields that name its peer addresses: the rest of the object (its
/// whole spec, every container) is skipped while it is read.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Pod {
    #[serde(default)]
    pub(crate) metadata: ObjectMeta,
    pub(crate) status: Option<PodStatus>,
}

/// The part of a Pod's status that discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodStatus {
    pub(crate) phase: Option<String>,
    #[serde(rename = "podIP")]
    pub(crate) pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pub(crate) pod_ips: Option<Vec<PodIp>>,
}

/// One entry of `status.podIPs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PodIp {
    #[serde(default)]
    pub(crate) ip: String,
}

/// A Node, with only its metadata and addresses (see [`Pod`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Node {
    #[serde(default)]
    pub(crate) metadata: ObjectMeta,
    pub(crate) status: Option<NodeStatus>,
}

/// The part of a Node's status that discovery reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct NodeStatus {
    pub(crate) addresses: Option<Vec<NodeAddress>>,
}

/// One entry of `status.addresses`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct NodeAddress {
    #[serde(rename = "type", default)]
    pub(crate) type_: String,
    #[serde(default)]
    pub(crate) address: String,
}

/// A Kubernetes object that names peer addresses.
pub(crate) trait PeerObject {
    /// The object's identity in the list (`namespace/name`).
    fn id(&self) -> String;
    /// Its peer addresses of `family`.
    fn addresses(&self, family: Family) -> Vec<IpAddr>;
}

fn of_family(text: &str, family: Family) -> Option<IpAddr> {
    let addr: IpAddr = text.trim().parse().ok()?;
    (Family::of(&addr) == family).then_some(addr)
}

impl PeerObject for Pod {
    fn id(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or(""),
            self.metadata.name.as_deref().unwrap_or("")
        )
    }

    /// The pod's IPs of the family (`status.podIPs`, one per family on a dual-stack
    /// cluster; `status.podIP` when the list is absent). A pod that has ended (`Succeeded`,
    /// `Failed`) has none. A terminating pod keeps its addresses until it is deleted: vipd
    /// in it is handing over, and its priority-0 advert must be heard.
    fn addresses(&self, family: Family) -> Vec<IpAddr> {
        let Some(status) = &self.status else {
            return Vec::new();
        };
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            return Vec::new();
        }
        let mut out: Vec<IpAddr> = match &status.pod_ips {
            Some(ips) if !ips.is_empty() => ips
                .iter()
                .filter_map(|ip| of_family(&ip.ip, family))
                .collect(),
            _ => status
                .pod_ip
                .as_deref()
                .and_then(|ip| of_family(ip, family))
                .into_iter()
                .collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl PeerObject for Node {
    fn id(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    /// Every `InternalIP` of the family: a node with several sends its adverts from one of
    /// them (its primary address on the VRRP interface), which vipd cannot know, so all are
    /// peers (the others cost one duplicate advert each). External IPs and host names are
    /// not used.
    fn addresses(&self, family: Family) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .filter_map(|a| of_family(&a.address, family))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The objects seen and their addresses, following the watcher's events.
#[derive(Debug)]
pub(crate) struct PeerSet {
    family: Family,
    objects: BTreeMap<String, Vec<IpAddr>>,
    /// A relist in progress: it replaces `objects` when complete (`InitDone`), so that the
    /// list never shrinks to a partial one.
    relist: Option<BTreeMap<String, Vec<IpAddr>>>,
    /// Whether a list was ever complete.
    synced: bool,
}

impl PeerSet {
    /// An empty set of `family` addresses.
    pub(crate) const fn new(family: Family) -> Self {
        Self {
            family,
            objects: BTreeMap::new(),
            relist: None,
            synced: false,
        }
    }

    /// Whether a complete list was received.
    pub(crate) const fn synced(&self) -> bool {
        self.synced
    }

    /// Applies one event; true if the peer list changed.
    pub(crate) fn apply<K: PeerObject>(&mut self, event: &Event<K>) -> bool {
        let before = self.peers();
        match event {
            Event::Init => self.relist = Some(BTreeMap::new()),
            Event::InitApply(obj) => {
                let addresses = obj.addresses(self.family);
                match &mut self.relist {
                    Some(relist) => {
                        relist.insert(obj.id(), addresses);
                    }
                    None => {
                        self.objects.insert(obj.id(), addresses);
                    }
                }
            }
            Event::InitDone => {
                if let Some(relist) = self.relist.take() {
                    self.objects = relist;
                }
                self.synced = true;
            }
            Event::Apply(obj) => {
                self.objects.insert(obj.id(), obj.addresses(self.family));
            }
            Event::Delete(obj) => {
                self.objects.remove(&obj.id());
            }
            Event::Live => {}
        }
        self.peers() != before
    }

    /// Every address, sorted, without duplicates.
    pub(crate) fn peers(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self.objects.values().flatten().copied().collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, json: &str) -> Pod {
        let text = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"vip"}},{json}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    fn node(name: &str, addresses: &str) -> Node {
        let text = format!(
            r#"{{"apiVersion":"v1","kind":"Node","metadata":{{"name":"{name}"}},"status":{{"addresses":[{addresses}]}}}}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_pod_without_an_ip_is_no_peer_until_it_has_one() {
        let pending = pod("a", r#""status":{"phase":"Pending"}"#);
        assert!(pending.addresses(Family::Ipv4).is_empty());
        let no_status = pod("a", r#""spec":{}"#);
        assert!(no_status.addresses(Family::Ipv4).is_empty());
        let mut set = PeerSet::new(Family::Ipv4);
        assert!(!set.apply(&Event::Apply(pending)), "no address, no change");
        let running = pod(
            "a",
            r#""status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}"#,
        );
        assert!(set.apply(&Event::Apply(running)));
        assert_eq!(set.peers(), vec![ip("10.0.0.1")]);
    }

    #[test]
    fn a_terminating_pod_stays_a_peer_until_deleted_and_an_ended_one_is_none() {
        let p: Pod = serde_json::from_str(
            r#"{"metadata":{"name":"a","namespace":"vip","deletionTimestamp":"2026-01-01T00:00:00Z"},
                "status":{"phase":"Running","podIP":"10.0.0.1"}}"#,
        )
        .unwrap();
        let mut set = PeerSet::new(Family::Ipv4);
        assert!(set.apply(&Event::Apply(p.clone())));
        assert_eq!(
            set.peers(),
            vec![ip("10.0.0.1")],
            "terminating: still heard"
        );
        assert!(set.apply(&Event::Delete(p)));
        assert!(set.peers().is_empty());

        for phase in ["Succeeded", "Failed"] {
            let ended = pod(
                "b",
                &format!(r#""status":{{"phase":"{phase}","podIP":"10.0.0.2"}}"#),
            );
            assert!(ended.addresses(Family::Ipv4).is_empty(), "{phase}");
        }
    }

    #[test]
    fn a_dual_stack_pod_gives_the_address_of_the_instance_family() {
        let p = pod(
            "a",
            r#""status":{"phase":"Running","podIP":"10.0.0.1",
                "podIPs":[{"ip":"10.0.0.1"},{"ip":"fd00::1"}]}"#,
        );
        assert_eq!(p.addresses(Family::Ipv4), vec![ip("10.0.0.1")]);
        assert_eq!(p.addresses(Family::Ipv6), vec![ip("fd00::1")]);
        // Only podIP (an older API server): its family only.
        let old = pod("b", r#""status":{"phase":"Running","podIP":"fd00::2"}"#);
        assert_eq!(old.addresses(Family::Ipv6), vec![ip("fd00::2")]);
        assert!(old.addresses(Family::Ipv4).is_empty());
    }

    #[test]
    fn a_node_gives_every_internal_ip_of_the_family() {
        let n = node(
            "n1",
            r#"{"type":"InternalIP","address":"10.0.0.1"},
               {"type":"InternalIP","address":"192.168.5.1"},
               {"type":"InternalIP","address":"fd00::1"},
               {"type":"ExternalIP","address":"203.0.113.1"},
               {"type":"Hostname","address":"n1"}"#,
        );
        assert_eq!(
            n.addresses(Family::Ipv4),
            vec![ip("10.0.0.1"), ip("192.168.5.1")]
        );
        assert_eq!(n.addresses(Family::Ipv6), vec![ip("fd00::1")]);
        let bare = node("n2", "");
        assert!(bare.addresses(Family::Ipv4).is_empty());
    }

    #[test]
    fn a_relist_replaces_the_list_only_when_complete() {
        let a = pod("a", r#""status":{"podIP":"10.0.0.1"}"#);
        let b = pod("b", r#""status":{"podIP":"10.0.0.2"}"#);
        let c = pod("c", r#""status":{"podIP":"10.0.0.3"}"#);
        let mut set = PeerSet::new(Family::Ipv4);
        assert!(!set.synced());
        set.apply::<Pod>(&Event::Init);
        set.apply(&Event::InitApply(a.clone()));
        set.apply(&Event::InitApply(b.clone()));
        assert!(
            set.peers().is_empty(),
            "nothing before the list is complete"
        );
        assert!(set.apply::<Pod>(&Event::InitDone));
        assert!(set.synced());
        assert_eq!(set.peers(), vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        // A relist (after 410 Gone): b is gone, c is new; the old list holds until done.
        assert!(!set.apply::<Pod>(&Event::Init));
        assert!(!set.apply(&Event::InitApply(a)));
        assert!(!set.apply(&Event::InitApply(c)));
        assert_eq!(set.peers(), vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        assert!(set.apply::<Pod>(&Event::InitDone));
        assert_eq!(set.peers(), vec![ip("10.0.0.1"), ip("10.0.0.3")]);
        // A modification that changes nothing is no change.
        assert!(!set.apply(&Event::Apply(pod(
            "a",
            r#""status":{"podIP":"10.0.0.1","phase":"Running"}"#
        ))));
        // Two objects with one address (a pod replaced on the same node): one peer.
        set.apply(&Event::Apply(pod("a2", r#""status":{"podIP":"10.0.0.1"}"#)));
        assert_eq!(set.peers(), vec![ip("10.0.0.1"), ip("10.0.0.3")]);
        assert!(!set.apply(&Event::Delete(b)), "deleting an unknown pod");
    }
}
