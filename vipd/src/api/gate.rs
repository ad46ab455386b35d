//! Who gets one of the API's connection slots: a free slot while there is one; past
//! [`MAX_CONNECTIONS`], probation, after which a prompt connection takes the slot of the one
//! that has waited longest for a request and a slow one is refused (see the parent module).
//!
//! The invariant: a slot is released exactly when its connection ends ([`Gate::release`]),
//! and a connection being answered is never evicted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{MAX_CONNECTIONS, MAX_PROBATION};

/// Who gets a connection slot: the open connections, those on probation, and the counts of
/// connections refused and evicted.
#[derive(Debug, Default)]
pub(super) struct Gate {
    slots: Mutex<Slots>,
    /// Connections on probation.
    probation: AtomicUsize,
    refused: AtomicU64,
    evicted: AtomicU64,
}

/// The open connections.
#[derive(Debug, Default)]
struct Slots {
    next: u64,
    open: HashMap<u64, Open>,
}

impl Slots {
    /// Opens a slot for a new connection, waiting for its first request.
    fn insert(&mut self) -> Slot {
        let id = self.next;
        self.next += 1;
        let (evict, evicted) = oneshot::channel();
        self.open.insert(
            id,
            Open {
                waiting_since: Some(Instant::now()),
                evict,
            },
        );
        Slot { id, evicted }
    }
}

/// One open connection.
#[derive(Debug)]
struct Open {
    /// Since when it has waited for a request (its start, or the end of its last answer);
    /// `None` while a request is being answered.
    waiting_since: Option<Instant>,
    /// Closes it.
    evict: oneshot::Sender<()>,
}

/// What becomes of a new connection.
pub(super) enum Admission {
    /// A free slot: serve it.
    Slot(Slot),
    /// Every slot is taken: it must show it is prompt ([`PROBATION`]).
    Probation,
    /// Every slot is taken and too many are on probation: close it.
    Refused,
}

/// An admitted connection's id and its eviction signal.
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) evicted: oneshot::Receiver<()>,
}

/// Marks a connection busy while a request is answered, waiting again afterwards.
pub(super) struct Busy<'a> {
    gate: &'a Gate,
    id: u64,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Some(open) = self.gate.slots().open.get_mut(&self.id) {
            open.waiting_since = Some(Instant::now());
        }
    }
}

impl Gate {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free slot for a new connection, else probation while there is room for it.
    pub(super) fn admit(&self) -> Admission {
        let mut slots = self.slots();
        if slots.open.len() < MAX_CONNECTIONS {
            return Admission::Slot(slots.insert());
        }
        drop(slots);
        let on_probation = self
            .probation
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_PROBATION).then_some(n + 1)
            });
        if on_probation.is_ok() {
            Admission::Probation
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Admission::Refused
        }
    }

    /// Ends a probation: a prompt connection gets a free slot or the slot of the
    /// connection that has waited longest for a request (evicted); `None` (counted as
    /// refused) if it was not prompt or every connection is being answered.
    pub(super) fn end_probation(&self, prompt: bool) -> Option<Slot> {
        self.probation.fetch_sub(1, Ordering::Relaxed);
        let mut slots = self.slots();
        if prompt && slots.open.len() >= MAX_CONNECTIONS {
            let victim = slots
                .open
                .iter()
                .filter_map(|(&id, open)| open.waiting_since.map(|since| (since, id)))
                .min();
            if let Some((_, id)) = victim {
                if let Some(open) = slots.open.remove(&id) {
                    let _ = open.evict.send(());
                }
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        if prompt && slots.open.len() < MAX_CONNECTIONS {
            Some(slots.insert())
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Frees connection `id`'s slot (its connection has ended).
    pub(super) fn release(&self, id: u64) {
        self.slots().open.remove(&id);
    }

    /// Open connections, and the totals of connections refused and evicted.
    pub(super) fn counts(&self) -> (usize, u64, u64) {
        (
            self.slots().open.len(),
            self.refused.load(Ordering::Relaxed),
            self.evicted.load(Ordering::Relaxed),
        )
    }

    /// Marks connection `id` busy until the guard drops.
    pub(super) fn busy(&self, id: u64) -> Busy<'_> {
        if let Some(open) = self.slots().open.get_mut(&id) {
            open.waiting_since = None;
        }
        Busy { gate: self, id }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gate whose every slot holds a connection waiting for its first request.
    fn full_gate() -> (Gate, Vec<Slot>) {
        let gate = Gate::default();
        let slots = (0..MAX_CONNECTIONS)
            .map(|_| match gate.admit() {
                Admission::Slot(slot) => slot,
                _ => panic!("a free slot was not given"),
            })
            .collect();
        (gate, slots)
    }

    #[test]
    fn a_prompt_client_takes_the_slot_of_the_longest_waiting_however_recent() {
        let (gate, mut slots) = full_gate();
        // The first connection answers a request and waits again: now it is the newest.
        drop(gate.busy(slots[0].id));
        assert!(matches!(gate.admit(), Admission::Probation));
        let slot = gate.end_probation(true).expect("a prompt client is served");
        assert!(
            slots[1].evicted.try_recv().is_ok(),
            "the longest-waiting one goes"
        );
        assert!(slots[0].evicted.try_recv().is_err());
        assert!(slots[2..].iter_mut().all(|s| s.evicted.try_recv().is_err()));
        assert!(gate.slots().open.contains_key(&slot.id));
        assert_eq!(gate.counts(), (MAX_CONNECTIONS, 0, 1));
    }

    #[test]
    fn a_slow_client_at_the_cap_is_refused_and_evicts_nobody() {
        let (gate, mut slots) = full_gate();
        assert!(matches!(gate.admit(), Admission::Probation));
        assert!(gate.end_probation(false).is_none());
        assert!(slots.iter_mut().all(|s| s.evicted.try_recv().is_err()));
        assert_eq!(gate.counts(), (MAX_CONNECTIONS, 1, 0));
    }

    #[test]
    fn connections_being_answered_are_never_evicted() {
        let (gate, slots) = full_gate();
        let busy: Vec<_> = slots.iter().map(|s| gate.busy(s.id)).collect();
        assert!(matches!(gate.admit(), Admission::Probation));
        assert!(gate.end_probation(true).is_none());
        assert_eq!(gate.counts(), (MAX_CONNECTIONS, 1, 0));
        drop(busy);
    }

    #[test]
    fn probation_is_bounded_and_a_freed_slot_needs_none() {
        let (gate, slots) = full_gate();
        for _ in 0..MAX_PROBATION {
            assert!(matches!(gate.admit(), Admission::Probation));
        }
        assert!(matches!(gate.admit(), Admission::Refused));
        assert_eq!(gate.counts(), (MAX_CONNECTIONS, 1, 0));
        for _ in 0..MAX_PROBATION {
            assert!(gate.end_probation(false).is_none());
        }
        assert!(matches!(gate.admit(), Admission::Probation));
        assert!(gate.end_probation(false).is_none());
        gate.release(slots[3].id);
        assert!(matches!(gate.admit(), Admission::Slot(_)));
    }
}
