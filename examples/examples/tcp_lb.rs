//! A small TCP load balancer that embeds vipd: it health-checks its own backends, gives the
//! number of healthy ones to VRRP as a tracked weight (so the node with more healthy
//! backends wins the VIP), and forwards the connections it accepts to a healthy backend.
//!
//! ```text
//! tcp_lb CONFIG.yaml PORT BACKEND...      e.g. tcp_lb vipd.yaml 8080 127.0.0.1:9001 127.0.0.1:9002
//! ```
//!
//! The configuration is vipd's (its first instance is the load balancer's VIP). Each backend
//! is probed with a TCP connect every [`PROBE_EVERY`], bounded by [`PROBE_TIMEOUT`]; it is
//! healthy after one success and unhealthy after [`FALL`] failures in a row. The tracked
//! object `backends` then carries a weight of [`WEIGHT_PER_BACKEND`] per healthy backend,
//! up while at least one is healthy. With none it is down with weight 0, which is Fault
//! (keepalived's rule, [`Track::effect`]): a node that cannot serve resigns at once (priority
//! 0), and a peer with healthy backends takes the VIP after its Skew_Time. Needs root
//! (CAP_NET_ADMIN, CAP_NET_RAW).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::{TcpListener, TcpStream};
use vipd::config::Config;
use vipd::daemon::{Control, Daemon, DaemonEvent};
use vipd::vrrp_core::Track;

/// Time between two probes of a backend.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// Bound on one probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(50);
/// Failures in a row that make a backend unhealthy.
const FALL: u32 = 2;
/// Priority added per healthy backend.
const WEIGHT_PER_BACKEND: i16 = 10;
/// The tracked object the backends feed.
const TRACK: &str = "backends";

/// The backends and which of them are healthy.
#[derive(Debug)]
struct Pool {
    backends: Vec<SocketAddr>,
    healthy: RwLock<Vec<bool>>,
    next: AtomicUsize,
}

impl Pool {
    fn healthy(&self) -> Vec<SocketAddr> {
        let healthy = self
            .healthy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.backends
            .iter()
            .zip(healthy.iter())
            .filter(|(_, up)| **up)
            .map(|(b, _)| *b)
            .collect()
    }

    /// A healthy backend, round robin.
    fn pick(&self) -> Option<SocketAddr> {
        let healthy = self.healthy();
        if healthy.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        healthy.get(n % healthy.len()).copied()
    }
}

async fn probe(backend: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(backend)).await,
        Ok(Ok(_))
    )
}

/// Probes every backend forever; on each change of the healthy count, tells vipd.
async fn check_backends(pool: Arc<Pool>, control: Control, instance: String) {
    let mut failures = vec![0_u32; pool.backends.len()];
    let mut reported = None;
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    loop {
        ticker.tick().await;
        let results =
            futures_join(pool.backends.iter().map(|b| probe(*b)).collect::<Vec<_>>()).await;
        {
            let mut healthy = pool
                .healthy
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for ((ok, fails), up) in results.iter().zip(&mut failures).zip(healthy.iter_mut()) {
                if *ok {
                    *fails = 0;
                    *up = true;
                } else {
                    *fails += 1;
                    if *fails >= FALL {
                        *up = false;
                    }
                }
            }
        }
        let count = pool.healthy().len();
        if reported != Some(count) {
            let weight = i16::try_from(count)
                .unwrap_or(i16::MAX)
                .saturating_mul(WEIGHT_PER_BACKEND);
            match control
                .set_track_weight(&instance, TRACK, count > 0, weight)
                .await
            {
                Ok(()) => println!("healthy backends: {count} (weight {weight})"),
                Err(e) => eprintln!("setting the weight failed: {e}"),
            }
            reported = Some(count);
        }
    }
}

/// Runs every future at once (one task each) and returns their results in order.
async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

/// Forwards one client connection to a healthy backend; with none, the client is closed.
async fn forward(mut client: TcpStream, pool: Arc<Pool>) {
    let Some(backend) = pool.pick() else {
        return;
    };
    let Ok(Ok(mut upstream)) =
        tokio::time::timeout(PROBE_TIMEOUT * 4, TcpStream::connect(backend)).await
    else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(port)) = (args.next(), args.next()) else {
        bail!("usage: tcp_lb CONFIG.yaml PORT BACKEND...");
    };
    let port: u16 = port.parse().context("PORT")?;
    let backends = args
        .map(|b| {
            b.parse::<SocketAddr>()
                .with_context(|| format!("backend {b}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if backends.is_empty() {
        bail!("give at least one BACKEND (host:port)");
    }
    let text = std::fs::read_to_string(&path).with_context(|| path.clone())?;
    let plan = Config::from_yaml(&text)?.validate()?;
    let instance = plan
        .instances()
        .first()
        .context("the configuration has no instance")?
        .name()
        .to_owned();

    // Weight 0 until the first probes: no bonus before the backends are known healthy.
    let mut track = Track::new(TRACK, WEIGHT_PER_BACKEND);
    track.initially_up = false;
    let daemon = Daemon::builder(plan)
        .track(&instance, track)
        .start()
        .await?;
    let control = daemon.control().clone();
    let mut events = daemon.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let DaemonEvent::Transition {
                instance,
                to,
                reason,
                ..
            } = event
            {
                println!("{instance}: {to} ({reason})");
            }
        }
    });

    let pool = Arc::new(Pool {
        healthy: RwLock::new(vec![false; backends.len()]),
        backends,
        next: AtomicUsize::new(0),
    });
    tokio::spawn(check_backends(
        Arc::clone(&pool),
        control.clone(),
        instance.clone(),
    ));

    // Listening on every address: clients reach this node on the VIP only while it holds it.
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    println!("load balancer for {instance} on port {port}");
    let stop = control.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.shutdown();
    });
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((client, _)) => {
                    tokio::spawn(forward(client, Arc::clone(&pool)));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
    daemon.wait().await?;
    Ok(())
}
