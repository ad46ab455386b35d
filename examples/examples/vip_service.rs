//! Embedding vipd: a TCP service that listens on the VIP only while this node is Master.
//!
//! ```text
//! sudo cargo run -p vipd-examples --example vip_service -- CONFIG.yaml [PORT]
//! ```
//!
//! The program runs vipd's daemon inside its own tokio runtime, watches the state of the first
//! instance through the daemon handle, and binds `VIP:PORT` when it becomes Master (the VIP is
//! on the interface by then), dropping the listener when it stops being Master. Each
//! connection gets one line naming this host. Ctrl-C hands the VIP over and exits.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use vipd::config::Config;
use vipd::daemon::Daemon;
use vrrp_core::State;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: vip_service CONFIG.yaml [PORT]")?;
    let port: u16 = args
        .next()
        .map_or(Ok(8080), |p| p.parse())
        .context("PORT must be a number")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let plan = Config::from_yaml(&text)?.validate()?;
    let Some(first) = plan.instances().first() else {
        bail!("no instance in {path}")
    };
    let Some(vip) = first.vips().first().map(|v| v.addr) else {
        bail!("the instance has no VIP")
    };
    let name = first.name().to_owned();
    let addr = SocketAddr::new(vip, port);

    let daemon = Daemon::builder(plan).start().await?;
    let control = daemon.control().clone();
    let mut states = daemon.states();
    let mut wait = std::pin::pin!(daemon.wait());
    let mut listener: Option<TcpListener> = None;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    loop {
        let master = states
            .borrow()
            .iter()
            .any(|s| s.name == name && s.state == State::Master);
        match (master, listener.is_some()) {
            (true, false) => {
                listener = Some(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("binding {addr}"))?,
                );
                println!("Master: serving on {addr}");
            }
            (false, true) => {
                listener = None;
                println!("no longer Master: stopped serving on {addr}");
            }
            _ => {}
        }
        tokio::select! {
            biased;
            result = &mut wait => {
                // The daemon has released the VIP: stop serving too, and say so.
                if listener.take().is_some() {
                    println!("no longer Master: stopped serving on {addr}");
                }
                return result.map_err(Into::into);
            }
            changed = states.changed() => {
                if changed.is_err() {
                    // The daemon ended (its state channel closes with it): report how.
                    let result = (&mut wait).await;
                    if listener.take().is_some() {
                        println!("no longer Master: stopped serving on {addr}");
                    }
                    return result.map_err(Into::into);
                }
            }
            _ = tokio::signal::ctrl_c() => control.shutdown(),
            accepted = async { listener.as_ref().expect("guarded").accept().await }, if listener.is_some() => {
                let (mut stream, peer) = accepted?;
                let line = format!("served by {} ({name} Master) to {peer}\n", host.trim());
                let _ = stream.write_all(line.as_bytes()).await;
            }
        }
    }
}
