//! The shared segment: who hears whom (partitions, links), and how a sent advertisement
//! becomes delayed, lost or duplicated copies that are delivered to the receivers.

use std::net::IpAddr;

use bytes::Bytes;

use super::node::Node;
use super::{Event, Invariant, Simulation, Violation};
use crate::event::{Received, RxError, State, Transmit};

impl Simulation {
    /// The connected components of up nodes: nodes whose links are up and that are in the
    /// same partition group hear each other; a node whose link is down is alone.
    #[must_use]
    pub fn components(&self) -> Vec<Vec<usize>> {
        let mut out: Vec<(u64, Vec<usize>)> = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.instance.is_none() {
                continue;
            }
            let key = component_key(i, node);
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push(i),
                None => out.push((key, vec![i])),
            }
        }
        out.into_iter().map(|(_, members)| members).collect()
    }

    /// Sends one advertisement of node `from` onto the segment.
    pub(super) fn transmit(&mut self, from: usize, tx: &Transmit) {
        self.stats.adverts_sent += 1;
        let Some(sender) = self.nodes.get(from) else {
            return;
        };
        if !sender.link_up {
            self.stats.undeliverable += 1;
            return;
        }
        let group = sender.group;
        let targets: Vec<usize> = if tx.dst.is_multicast() {
            (0..self.nodes.len())
                .filter(|&j| j != from || self.config.net.loopback)
                .collect()
        } else {
            self.nodes
                .iter()
                .position(|n| n.addr == tx.dst)
                .into_iter()
                .collect()
        };
        if targets.is_empty() {
            self.stats.undeliverable += 1;
        }
        for to in targets {
            let same_group = self.nodes.get(to).is_some_and(|n| n.group == group);
            if to != from && !same_group {
                self.stats.partitioned += 1;
                continue;
            }
            if to != from && self.rng.chance(self.config.net.loss_permille) {
                self.stats.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(self.config.net.duplicate_permille) {
                self.stats.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let latency = self
                    .rng
                    .duration(self.config.net.latency_min, self.config.net.latency_max);
                self.push_event(
                    self.now + latency,
                    Event::Deliver {
                        from,
                        to,
                        src: tx.src,
                        dst: tx.dst,
                        payload: tx.payload.clone(),
                    },
                );
            }
        }
    }

    pub(super) fn deliver(
        &mut self,
        from: usize,
        to: usize,
        src: IpAddr,
        dst: IpAddr,
        payload: &Bytes,
    ) -> Result<(), Violation> {
        let from_group = self.nodes.get(from).map(|n| n.group);
        let now = self.instant();
        let Some(node) = self.nodes.get_mut(to) else {
            return Ok(());
        };
        if from != to && from_group != Some(node.group) {
            self.stats.partitioned += 1;
            return Ok(());
        }
        let Some(instance) = node.instance.as_mut().filter(|_| node.link_up) else {
            self.stats.undeliverable += 1;
            return Ok(());
        };
        let rx = Received {
            src,
            dst,
            hop_limit: crate::VRRP_HOP_LIMIT,
            payload,
        };
        let before = instance.state();
        let was_releasing = instance.is_releasing();
        let ours = (instance.effective_priority(), node.addr);
        let result = instance.handle_packet(now, &rx);
        let after = instance.state();
        self.mix(2);
        self.mix_time();
        self.mix(u64::try_from(to).unwrap_or(u64::MAX));
        self.mix_bytes(payload);
        match &result {
            Ok(()) => self.stats.delivered += 1,
            Err(RxError::OwnAdvert) => self.stats.looped_back += 1,
            Err(e) => {
                self.stats.rejected += 1;
                self.mix(3);
                if self.config.strict_rx {
                    return Err(self.violation(
                        Some(to),
                        Invariant::RejectedAdvert,
                        format!("advert from node{from} ({src}) rejected: {e}"),
                    ));
                }
            }
        }
        // RFC 5798 section 6.4.3: a Master yields to an advert of higher priority, or of
        // equal priority from a higher primary address, and to no other; a packet causes no
        // other transition.
        let theirs = payload.get(2).copied().unwrap_or(0);
        let outranks = theirs > ours.0 || (theirs == ours.0 && src > ours.1);
        let accepted_master_advert =
            before == State::Master && result.is_ok() && theirs != 0 && !was_releasing;
        // A releasing master ends its handover on the first advert of a successor.
        let handover_done = was_releasing
            && result.is_ok()
            && theirs != 0
            && before == State::Master
            && after == State::Initialize;
        let bad = if handover_done {
            None
        } else if accepted_master_advert && outranks != (after == State::Backup) {
            Some(format!(
                "Master with priority {} at {} got priority {theirs} from {src} and went {after}",
                ours.0, ours.1
            ))
        } else if before != after && !(before == State::Master && after == State::Backup) {
            Some(format!(
                "a packet from {src} made it go {before} -> {after}"
            ))
        } else {
            None
        };
        if let Some(bad) = bad {
            return Err(self.violation(Some(to), Invariant::Election, bad));
        }
        self.drain(to)
    }
}

fn component_key(i: usize, node: &Node) -> u64 {
    if node.link_up {
        u64::from(node.group)
    } else {
        (1 << 32) + u64::try_from(i).unwrap_or(0)
    }
}
