//! Three VRRPv3 routers (priorities 150, 100 and 50, 1 s adverts) on a simulated segment, in
//! virtual time: the master crashes at 10 s and comes back at 20 s, preempting again.
//! Prints the timeline, who was Master when, and a summary.
//!
//! Run it with `cargo run -p vipd-examples --example simulation [SEED]`: the seed picks the
//! network's latencies (0.2 to 2 ms); the same seed always prints the same run.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrp_core::sim::{Fault, SimConfig, Simulation, format_time, node_address};
use vrrp_core::{InstanceConfig, Interval, Priority, Version, Vrid};

const PRIORITIES: [u8; 3] = [150, 100, 50];
const END: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse::<u64>()
            .map_err(|e| format!("the seed must be a number, not {arg:?}: {e}"))?,
        None => 42,
    };
    let vip = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
    let vrid = Vrid::new(51).ok_or("VRID 51 is valid")?;
    let mut nodes = Vec::new();
    for p in PRIORITIES {
        let mut c = InstanceConfig::new(vrid, vec![vip]);
        c.version = Version::V3;
        c.advert_interval = Interval::ONE_SECOND;
        c.priority = Priority::new(p).ok_or("priorities are 1 to 255")?;
        nodes.push(c);
    }

    println!("vipd simulation, seed {seed}: VRRPv3, VRID {vrid}, 1 s adverts, VIP {vip}");
    for (i, p) in PRIORITIES.iter().enumerate() {
        let addr = node_address(i).ok_or("three nodes have addresses")?;
        println!("  node{i}  {addr}  priority {p}");
    }

    // Virtual time starts at this instant; the simulation itself never reads a clock.
    let mut sim = Simulation::new(Instant::now(), SimConfig::new(seed), nodes)?;
    sim.schedule(Duration::from_secs(10), Fault::Crash(0))?;
    sim.schedule(Duration::from_secs(20), Fault::Restart(0))?;

    // Step through the run, noting each change of Master.
    let mut periods: Vec<(Duration, Vec<usize>)> = vec![(Duration::ZERO, Vec::new())];
    while sim.next_step_at().is_some_and(|t| t <= END) {
        sim.step()?;
        let masters = sim.masters();
        if periods.last().map(|(_, m)| m) != Some(&masters) {
            periods.push((sim.now(), masters));
        }
    }
    sim.run_until(END)?;

    println!("\ntimeline (state changes and injected faults):");
    for entry in sim.timeline() {
        println!("{entry}");
    }

    println!("\nwho is Master:");
    for (k, (from, masters)) in periods.iter().enumerate() {
        let to = periods.get(k + 1).map_or(END, |(t, _)| *t);
        let who = match masters.as_slice() {
            [] => "nobody".to_owned(),
            list => list
                .iter()
                .map(|m| format!("node{m}"))
                .collect::<Vec<_>>()
                .join(" and "),
        };
        println!(
            "  {:>8} - {:>8}  {:>9}  {who}",
            format_time(*from),
            format_time(to),
            length(to - *from)
        );
    }

    let stats = sim.stats();
    let crash = Duration::from_secs(10);
    let failover = periods
        .iter()
        .find(|(t, m)| *t > crash && !m.is_empty())
        .map(|(t, _)| *t - crash);
    let mdi = sim
        .instance(1)
        .map(|vr| vr.master_down_interval().to_string())
        .unwrap_or_default();
    println!("\nsummary after {} of virtual time:", format_time(END));
    if let Some(failover) = failover {
        println!(
            "  failover: a new Master {} after the crash (node1's Master_Down_Interval: {mdi})",
            length(failover)
        );
    }
    println!(
        "  without a Master: {} in all, {} state changes, {} adverts sent",
        length(stats.time_without_master),
        stats.transitions,
        stats.adverts_sent
    );
    println!(
        "  every invariant held ({} quiet-window checks); trace hash {:#018x}",
        stats.quiet_checks,
        sim.trace_hash()
    );
    Ok(())
}

/// A duration for people: seconds with milliseconds, or milliseconds below one second.
fn length(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format_time(d)
    } else {
        let us = d.as_micros();
        format!("{}.{} ms", us / 1000, us % 1000 / 100)
    }
}
