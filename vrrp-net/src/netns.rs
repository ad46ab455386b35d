//! Network namespaces: running the calling thread inside a named namespace, as created by
//! `ip netns add`.

use std::fs::File;
use std::io;
use std::path::Path;

/// Where `ip netns add NAME` puts the namespace file.
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

/// Moves the calling thread into the network namespace `name` (from `ip netns add`). Sockets
/// and netlink connections it opens afterwards belong to that namespace; other threads stay
/// where they are. Needs CAP_SYS_ADMIN.
///
/// # Errors
/// The namespace does not exist, or the process lacks the privilege.
pub fn enter(name: &str) -> io::Result<()> {
    enter_path(&Path::new(NETNS_RUN_DIR).join(name))
}

/// Moves the calling thread into the network namespace whose file is `path`
/// (`/proc/PID/ns/net`, or a file under [`NETNS_RUN_DIR`]).
///
/// # Errors
/// As [`enter`].
pub fn enter_path(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}
