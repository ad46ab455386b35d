//! Commands that ask a running instance to repeat itself: [`Instance::reannounce`].

use std::time::Instant;

use super::Instance;
use crate::event::State;

impl Instance {
    /// Command: a Master requests `announce.repeat` announcements of every virtual address at
    /// once (`Announce` actions, address by address, round after round), for a caller that
    /// has just re-added an address it found missing. Any other state: nothing.
    pub fn reannounce(&mut self, now: Instant) {
        // Commands take the time like every other; announcing needs none.
        let _ = now;
        if self.state == State::Master {
            self.announce_burst(self.config.announce.repeat);
        }
    }
}
