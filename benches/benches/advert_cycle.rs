//! The daemon's whole advert cycle, measured in process: vipd's event loop (the library's
//! [`vipd::daemon::Daemon`], on a current-thread tokio runtime of its own thread) in one
//! network namespace, a packet socket in another, a veth pair between them.
//!
//! - **Master** (priority 150, alone): the daemon's timer fires, the engine emits the advert,
//!   the raw socket sends it; the other side records each advert's kernel receive time. The
//!   gaps between adverts show how late each cycle is (at most the interval plus the wake-up
//!   and send latency; with adverts scheduled from the previous deadline the mean is the
//!   interval).
//! - **Backup** (priority 100, hearing a priority-200 Master sent from the other side): the
//!   daemon's reader wakes, the engine checks the advert and re-arms its timer.
//!
//! Per advert it reports the daemon thread's CPU time (the scheduler's run time,
//! `/proc/self/task/TID/schedstat`, kernel work in its system calls included) and its heap
//! allocations (a counting global allocator that counts only that thread). Figures are
//! printed, never asserted.
//!
//! Needs root (network namespaces); skipped otherwise. Run with
//! `cargo bench -p vipd-benches --bench advert_cycle` (`ADVERT_CYCLE_SECS=N` sets the
//! measuring window, 4 s by default).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::error::Error;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, Socket, Type};
use vipd::config::Config;
use vipd::daemon::Daemon;
use vrrp_core::{
    Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval, State, VRRP_GROUP_V4,
    Version, Vrid,
};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

// ----- allocation counting ----------------------------------------------------------------

/// Counts allocations (and reallocations) made by threads that opted in.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations are counted (only the daemon's).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; counting touches only an
// atomic and a const-initialised thread-local without destructor (neither allocates).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ----- the network ------------------------------------------------------------------------

const DAEMON_ADDR: Ipv4Addr = Ipv4Addr::new(10, 200, 78, 1);
const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 200, 78, 2);
const VRID: u8 = 78;

fn ip(args: &[&str]) -> Res<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into())
    }
}

/// Two namespaces joined by a veth pair (`eth0` in each), removed on drop.
struct Net {
    daemon: String,
    peer: String,
}

impl Net {
    fn new() -> Res<Self> {
        let pid = std::process::id();
        let net = Self {
            daemon: format!("vac{pid}d"),
            peer: format!("vac{pid}p"),
        };
        ip(&["netns", "add", &net.daemon])?;
        ip(&["netns", "add", &net.peer])?;
        let tmp = format!("vac{pid}v");
        ip(&[
            "link",
            "add",
            &tmp,
            "netns",
            &net.daemon,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &net.peer,
        ])?;
        ip(&["-n", &net.daemon, "link", "set", &tmp, "name", "eth0"])?;
        for (ns, addr) in [(&net.daemon, DAEMON_ADDR), (&net.peer, PEER_ADDR)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        }
        Ok(net)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.daemon, &self.peer] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

// ----- the daemon ---------------------------------------------------------------------------

/// The daemon on its own thread; stopped and joined on drop.
struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    tid: i32,
}

impl Running {
    /// Starts the daemon in namespace `ns` and waits until its instance is in `state`.
    fn start(ns: &str, priority: u8, interval_ms: u64, state: State) -> Res<Self> {
        let yaml = format!(
            "instances:\n- name: VI_1\n  interface: eth0\n  vrid: {VRID}\n  version: 3\n  \
             priority: {priority}\n  advert_interval: {interval_ms}ms\n  \
             vips: ['10.200.78.100/24']\n"
        );
        let plan = Config::from_yaml(&yaml)
            .and_then(|c| c.validate())
            .map_err(|e| format!("the benchmark's configuration: {e}"))?;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<i32, String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let ns = ns.to_owned();
        let thread = thread::spawn(move || {
            let fail = |e: String| {
                let _ = ready_tx.send(Err(e));
            };
            let ready = ready_tx.clone();
            if let Err(e) = vrrp_net::netns::enter(&ns) {
                return fail(format!("entering {ns}: {e}"));
            }
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return fail(format!("runtime: {e}")),
            };
            runtime.block_on(async {
                let daemon = match Daemon::builder(plan).start().await {
                    Ok(d) => d,
                    Err(e) => return fail(format!("starting the daemon: {e}")),
                };
                let mut states = daemon.states();
                let reached = tokio::time::timeout(Duration::from_secs(10), async {
                    loop {
                        if states.borrow().iter().any(|s| s.state == state) {
                            return true;
                        }
                        if states.changed().await.is_err() {
                            return false;
                        }
                    }
                })
                .await;
                if reached != Ok(true) {
                    daemon.control().shutdown_now();
                    let _ = daemon.wait().await;
                    return fail(format!("the instance did not reach {state}"));
                }
                COUNTED.with(|c| c.set(true));
                let _ = ready.send(Ok(nix::unistd::gettid().as_raw()));
                let _ = stop_rx.await;
                COUNTED.with(|c| c.set(false));
                daemon.control().shutdown_now();
                let _ = daemon.wait().await;
            });
        });
        let tid = ready_rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("the daemon thread: {e}"))??;
        Ok(Self {
            stop: Some(stop_tx),
            thread: Some(thread),
            tid,
        })
    }

    /// The daemon thread's run time so far, in ns.
    fn cpu_ns(&self) -> Res<u64> {
        let path = format!("/proc/self/task/{}/schedstat", self.tid);
        let text = std::fs::read_to_string(&path)?;
        let first = text.split_whitespace().next().ok_or("empty schedstat")?;
        Ok(first.parse()?)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ----- the other side -----------------------------------------------------------------------

/// Kernel receive times (ns since the epoch) of the adverts from `from`, recorded by a packet
/// socket in namespace `ns` until `stop`.
fn capture(ns: String, from: Ipv4Addr, stop: Arc<AtomicBool>) -> thread::JoinHandle<Res<Vec<u64>>> {
    thread::spawn(move || -> Res<Vec<u64>> {
        vrrp_net::netns::enter(&ns)?;
        let eth_p_ip = i32::from(u16::try_from(libc::ETH_P_IP)?.to_be());
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(eth_p_ip)))?;
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let mut times = Vec::with_capacity(100_000);
        let mut frame = [0u8; 2048];
        let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
        while !stop.load(Ordering::Relaxed) {
            let mut iov = [IoSliceMut::new(&mut frame)];
            let (len, at) = match recvmsg::<()>(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                &mut iov,
                Some(&mut control),
                MsgFlags::empty(),
            ) {
                Ok(msg) => {
                    let mut at = None;
                    for cmsg in msg.cmsgs()? {
                        if let ControlMessageOwned::ScmTimestampns(ts) = cmsg {
                            let ns =
                                i128::from(ts.tv_sec()) * 1_000_000_000 + i128::from(ts.tv_nsec());
                            at = u64::try_from(ns).ok();
                        }
                    }
                    (msg.bytes, at)
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            // Ethernet (14) + IPv4: protocol at 23, source at 26..30.
            if len >= 34
                && frame[23] == 112
                && frame[26..30] == from.octets()[..]
                && let Some(at) = at
            {
                times.push(at);
            }
        }
        Ok(times)
    })
}

/// Sends a priority-200 advert from the peer's address every `interval`, on absolute
/// deadlines, counting them in `sent`, until `stop`.
fn send_master(
    ns: String,
    interval: Duration,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Res<()>> {
    thread::spawn(move || -> Res<()> {
        vrrp_net::netns::enter(&ns)?;
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112)))?;
        socket.set_multicast_ttl_v4(255)?;
        socket.set_multicast_if_v4(&PEER_ADDR)?;
        let advert = Advertisement {
            version: Version::V3,
            vrid: Vrid::new(VRID).ok_or("VRID 0")?,
            priority: 200,
            interval: Interval::from_centis(u16::try_from(interval.as_millis() / 10)?)
                .ok_or("bad interval")?,
            auth: Auth::None,
            addresses: Addresses::V4(vec![Ipv4Addr::new(10, 200, 78, 100)]),
        };
        let payload = advert.to_bytes(
            Endpoints {
                src: IpAddr::V4(PEER_ADDR),
                dst: IpAddr::V4(VRRP_GROUP_V4),
            },
            ChecksumMode::default(),
        )?;
        let to = SocketAddrV4::new(VRRP_GROUP_V4, 0).into();
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            socket.send_to(&payload, &to)?;
            sent.fetch_add(1, Ordering::Relaxed);
            next += interval;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        Ok(())
    })
}

// ----- measuring ------------------------------------------------------------------------------

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

struct Figures {
    role: &'static str,
    interval_ms: u64,
    adverts: usize,
    cpu_us_per_advert: f64,
    allocations_per_advert: f64,
    /// Gaps on the wire, in ms: mean, min, p99, max (Master only).
    gaps: Option<(f64, f64, f64, f64)>,
}

fn window(
    daemon: &Running,
    seconds: f64,
    times: impl FnOnce() -> Res<Vec<u64>>,
    role: &'static str,
    interval_ms: u64,
    sent: Option<&dyn Fn() -> u64>,
) -> Res<Figures> {
    // Let the first adverts and state changes settle.
    thread::sleep(Duration::from_millis(500));
    let (a0, c0, t0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        daemon.cpu_ns()?,
        now_ns(),
    );
    let s0 = sent.map(|f| f());
    thread::sleep(Duration::from_secs_f64(seconds));
    let (a1, c1, t1) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        daemon.cpu_ns()?,
        now_ns(),
    );
    let s1 = sent.map(|f| f());
    let times = times()?;
    let in_window: Vec<u64> = times.into_iter().filter(|t| (t0..t1).contains(t)).collect();
    let adverts = match (s0, s1) {
        (Some(a), Some(b)) => usize::try_from(b - a)?,
        _ => in_window.len(),
    };
    if adverts < 2 {
        return Err(format!("{role} at {interval_ms} ms: {adverts} adverts in the window").into());
    }
    let per = |x: u64| x as f64 / adverts as f64;
    let gaps = (role == "Master").then(|| {
        let mut g: Vec<f64> = in_window
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e6)
            .collect();
        g.sort_by(f64::total_cmp);
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let p99 = g[(g.len() * 99 / 100).min(g.len() - 1)];
        (mean, g[0], p99, g[g.len() - 1])
    });
    Ok(Figures {
        role,
        interval_ms,
        adverts,
        cpu_us_per_advert: per(c1 - c0) / 1000.0,
        allocations_per_advert: per(a1 - a0),
        gaps,
    })
}

fn master(net: &Net, interval_ms: u64, seconds: f64) -> Res<Figures> {
    let stop = Arc::new(AtomicBool::new(false));
    let rx = capture(net.peer.clone(), DAEMON_ADDR, Arc::clone(&stop));
    let daemon = Running::start(&net.daemon, 150, interval_ms, State::Master)?;
    let mut rx = Some(rx);
    let figures = window(
        &daemon,
        seconds,
        || {
            stop.store(true, Ordering::Relaxed);
            rx.take()
                .ok_or("capture taken")?
                .join()
                .map_err(|_| "the capture thread panicked")?
        },
        "Master",
        interval_ms,
        None,
    );
    stop.store(true, Ordering::Relaxed);
    drop(daemon);
    if let Some(rx) = rx {
        let _ = rx.join();
    }
    figures
}

fn backup(net: &Net, interval_ms: u64, seconds: f64) -> Res<Figures> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_millis(interval_ms);
    // The peer's adverts start first, so the daemon starts as Backup and stays there.
    let tx = send_master(
        net.peer.clone(),
        interval,
        Arc::clone(&sent),
        Arc::clone(&stop),
    );
    thread::sleep(interval * 2);
    let figures = Running::start(&net.daemon, 100, interval_ms, State::Backup).and_then(|daemon| {
        window(
            &daemon,
            seconds,
            || Ok(Vec::new()),
            "Backup",
            interval_ms,
            Some(&|| sent.load(Ordering::Relaxed)),
        )
    });
    stop.store(true, Ordering::Relaxed);
    match tx.join() {
        Ok(Ok(())) => figures,
        Ok(Err(e)) => Err(format!("the sender: {e}").into()),
        Err(_) => Err("the sender thread panicked".into()),
    }
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; a filter that does not name this file skips it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.iter().any(|a| !"advert_cycle".contains(a.as_str())) {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        println!("advert_cycle: skipped (needs root for its network namespaces)");
        return Ok(());
    }
    let seconds: f64 = std::env::var("ADVERT_CYCLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let net = Net::new()?;
    let mut rows = Vec::new();
    for interval_ms in [10, 100] {
        rows.push(master(&net, interval_ms, seconds)?);
        rows.push(backup(&net, interval_ms, seconds)?);
    }
    println!(
        "advert_cycle: vipd's event loop, one instance, {seconds} s windows \
         (load average {})",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| role | interval | adverts | CPU per advert (daemon thread) | allocations per advert | gap on the wire: mean (min, p99, max) |"
    );
    println!("|---|---|---|---|---|---|");
    for f in rows {
        let gaps = f.gaps.map_or_else(
            || "–".to_owned(),
            |(mean, min, p99, max)| format!("{mean:.3} ms ({min:.3}, {p99:.3}, {max:.3})"),
        );
        println!(
            "| {} | {} ms | {} | {:.1} µs | {:.2} | {} |",
            f.role, f.interval_ms, f.adverts, f.cpu_us_per_advert, f.allocations_per_advert, gaps
        );
    }
    Ok(())
}
