//! The event stream: what happened in a running daemon, as typed events an embedder
//! subscribes to ([`DaemonHandle::events`](super::DaemonHandle::events),
//! [`Control::events`](super::Control::events)), beside the state snapshot.
//!
//! Every subscriber gets every event sent after it subscribed, in order, through a bounded
//! buffer ([`EVENT_BUFFER`] events). A subscriber that falls further behind loses the oldest
//! ones and is told how many with [`EventsError::Lagged`]; it then carries on with the
//! oldest event still kept. Nothing is sent, and the peers are not watched, while nobody
//! subscribes.

use std::net::IpAddr;

use tokio::sync::broadcast;
use vrrp_core::{Reason, State};

/// How many events a subscriber may fall behind before it loses some.
pub const EVENT_BUFFER: usize = 1024;

/// Why a peer is no longer seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerLoss {
    /// It advertised priority 0: it left the virtual router (shutdown or handover).
    Resigned,
    /// Nothing heard from it for its Master_Down_Interval (three of its intervals plus its
    /// skew).
    Silent,
}

/// Something that happened in a running daemon. Each names its instance by its configured
/// name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonEvent {
    /// An instance changed state.
    Transition {
        /// The instance.
        instance: String,
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// A router of the instance's virtual router was heard for the first time, or again after
    /// it was lost.
    PeerSeen {
        /// The instance.
        instance: String,
        /// The peer's address (its adverts' source).
        address: IpAddr,
        /// The priority it advertised.
        priority: u8,
    },
    /// A peer is no longer heard.
    PeerLost {
        /// The instance.
        instance: String,
        /// The peer's address.
        address: IpAddr,
        /// Why.
        why: PeerLoss,
    },
    /// A health check (built in or the embedder's) changed state, after rise/fall and
    /// damping.
    CheckChanged {
        /// The instance.
        instance: String,
        /// The check (and tracked object) name.
        check: String,
        /// Whether it is up now.
        up: bool,
        /// Why: the probe's result or error, or the damping decision.
        reason: String,
    },
    /// This node added a VIP to its interface (becoming Master, or a VIP added to a Master).
    VipAdded {
        /// The instance.
        instance: String,
        /// The VIP.
        vip: IpAddr,
    },
    /// This node removed a VIP from its interface (leaving Master, or a VIP removed).
    VipRemoved {
        /// The instance.
        instance: String,
        /// The VIP.
        vip: IpAddr,
    },
}

/// Why [`EventReceiver::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The subscriber fell more than [`EVENT_BUFFER`] events behind and missed `missed` of
    /// them; the next call returns the oldest event still kept.
    #[error(
        "{missed} events were missed: this subscriber fell more than {EVENT_BUFFER} events behind"
    )]
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
    /// The daemon stopped: no event will come.
    #[error("the daemon stopped")]
    Closed,
}

/// One subscription to a daemon's events.
#[derive(Debug)]
pub struct EventReceiver {
    pub(super) rx: broadcast::Receiver<DaemonEvent>,
}

impl EventReceiver {
    /// The next event, waiting for it.
    ///
    /// # Errors
    /// [`EventsError::Lagged`] when events were lost (then call again),
    /// [`EventsError::Closed`] when the daemon stopped.
    pub async fn recv(&mut self) -> Result<DaemonEvent, EventsError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(missed) => EventsError::Lagged { missed },
            broadcast::error::RecvError::Closed => EventsError::Closed,
        })
    }

    /// The next event if one is waiting, `Ok(None)` if none is.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Option<DaemonEvent>, EventsError> {
        match self.rx.try_recv() {
            Ok(event) => Ok(Some(event)),
            Err(broadcast::error::TryRecvError::Empty) => Ok(None),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                Err(EventsError::Lagged { missed })
            }
            Err(broadcast::error::TryRecvError::Closed) => Err(EventsError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip_added(n: u8) -> DaemonEvent {
        DaemonEvent::VipAdded {
            instance: "VI_1".into(),
            vip: IpAddr::from([10, 200, 0, n]),
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_is_told_how_many_events_it_missed() {
        let (tx, _) = broadcast::channel(EVENT_BUFFER);
        let mut events = EventReceiver { rx: tx.subscribe() };
        let sent = EVENT_BUFFER + 76;
        for i in 0..sent {
            tx.send(vip_added(u8::try_from(i % 250).unwrap())).unwrap();
        }
        assert_eq!(events.recv().await, Err(EventsError::Lagged { missed: 76 }));
        // Then it carries on with the oldest event kept, in order.
        assert_eq!(events.recv().await, Ok(vip_added(76)));
        assert_eq!(events.try_recv(), Ok(Some(vip_added(77))));
        let mut rest = 0;
        while let Ok(Some(_)) = events.try_recv() {
            rest += 1;
        }
        assert_eq!(rest, EVENT_BUFFER - 2);
        assert_eq!(events.try_recv(), Ok(None));
        drop(tx);
        assert_eq!(events.recv().await, Err(EventsError::Closed));
    }
}
