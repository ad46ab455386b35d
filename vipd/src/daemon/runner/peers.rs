//! Discovered unicast peers reaching the engine: each new list is applied in place to its
//! instance ([`Router::reconfigure`](vrrp_core::Router::reconfigure)): no transition, no
//! priority-0 advert, no VIP removed, and the multicast membership is not touched (an
//! instance that discovers its peers is unicast even with none).

use std::net::IpAddr;
use std::time::Instant;

use tracing::{debug, error, info};
use vrrp_core::InstanceConfig;

use super::super::discovery::PeerUpdate;
use super::Runner;
use crate::config::InstancePlan;

/// `plan`'s engine configuration with the `discovered` peers added to its static ones, but
/// for this node's own addresses (`own`, and `unicast_src_ip`).
pub(super) fn with_peers(
    plan: &InstancePlan,
    discovered: &[IpAddr],
    own: &[IpAddr],
) -> InstanceConfig {
    let mut engine = plan.engine().clone();
    for peer in discovered {
        if !own.contains(peer)
            && engine.unicast_source != Some(*peer)
            && !engine.unicast_peers.contains(peer)
        {
            engine.unicast_peers.push(*peer);
        }
    }
    engine
}

impl Runner {
    /// The engine configuration of `plan` on the VRRP interface `index`: its static peers
    /// and the ones discovered, less this node's addresses on that interface.
    pub(super) async fn engine_config(&self, index: u32, plan: &InstancePlan) -> InstanceConfig {
        let discovered = self.discovery.peers(plan.name());
        if discovered.is_empty() {
            return plan.engine().clone();
        }
        let own: Vec<IpAddr> = match self
            .executor
            .netlink
            .addresses(index, plan.engine().family())
            .await
        {
            Ok(list) => list.into_iter().map(|a| a.addr).collect(),
            Err(e) => {
                debug!(instance = plan.name(), error = %e, "own addresses unknown");
                Vec::new()
            }
        };
        with_peers(plan, discovered, &own)
    }

    /// Applies a discovered peer list to its instance, in place.
    pub(super) async fn peers_changed(&mut self, update: PeerUpdate) {
        if !self.discovery.record(&update) {
            return;
        }
        let Some((key, plan)) = self
            .instances
            .iter()
            .find(|(_, m)| m.plan.name() == update.instance)
            .map(|(k, m)| (*k, m.plan.clone()))
        else {
            return;
        };
        let engine = self.engine_config(key.interface, &plan).await;
        let Some(instance) = self.router.instance(&key) else {
            return;
        };
        if instance.config().unicast_peers == engine.unicast_peers {
            debug!(instance = plan.name(), "discovered peers: no change");
            return;
        }
        let peers = engine.unicast_peers.clone();
        match self.router.reconfigure(&key, Instant::now(), engine) {
            Ok(()) => info!(instance = plan.name(), peers = ?peers, "unicast peers updated"),
            Err(e) => error!(instance = plan.name(), error = %e, "discovered peers not applied"),
        }
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::with_peers;
    use crate::config::Config;

    #[test]
    fn discovered_peers_join_the_static_ones_but_for_this_node() {
        let config: Config = serde_yaml_ng::from_str(
            "instances: [{interface: eth0, vrid: 1, vips: [10.0.0.100/24],
               unicast_src_ip: 10.0.0.9, unicast_peers: [10.0.0.5],
               unicast_peers_from: {kubernetes: {host: 127.0.0.1, token_file: /t, ca_file: /c,
                 pods: {selector: app=vipd, namespace: vip}}}}]",
        )
        .unwrap();
        let plan = config.validate().unwrap();
        let plan = &plan.instances()[0];
        assert!(
            plan.engine().unicast,
            "discovery keeps the instance unicast"
        );
        let ip = |s: &str| s.parse().unwrap();
        let discovered = [
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.5"),
            ip("10.0.0.9"),
        ];
        let engine = with_peers(plan, &discovered, &[ip("10.0.0.1")]);
        assert_eq!(
            engine.unicast_peers,
            vec![ip("10.0.0.5"), ip("10.0.0.2")],
            "static first, own address and unicast_src_ip left out, no duplicate"
        );
        let alone = with_peers(plan, &[ip("10.0.0.1")], &[ip("10.0.0.1")]);
        assert_eq!(alone.unicast_peers, vec![ip("10.0.0.5")]);
    }
}
