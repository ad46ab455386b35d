//! A Master's advert bytes are emitted once and then shared while nothing they carry changes:
//! every advert, before and after a change of priority, source address or addresses, must
//! still parse to exactly what the instance advertises at that moment.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrp_core::{
    Action, Advertisement, ChecksumMode, Endpoints, Instance, InstanceConfig, Priority, State,
    Transmit, Vrid,
};

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 101));
const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 2));
const ME2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 7));

fn config(priority: u8, vips: Vec<IpAddr>) -> InstanceConfig {
    let mut c = InstanceConfig::new(Vrid::new(51).unwrap(), vips);
    c.priority = Priority::new(priority).unwrap();
    c
}

/// The adverts among the pending actions, parsed (checksum verified against their
/// endpoints).
fn adverts(vr: &mut Instance) -> Vec<(Transmit, Advertisement)> {
    let mut out = Vec::new();
    while let Some(action) = vr.poll_action() {
        if let Action::SendAdvertisement(tx) = action {
            let at = Endpoints {
                src: tx.src,
                dst: tx.dst,
            };
            let adv = Advertisement::parse(&tx.payload, at, ChecksumMode::PseudoHeader)
                .expect("a valid advert");
            out.push((tx, adv));
        }
    }
    out
}

/// Runs the instance's timers until `until`, returning the adverts sent.
fn run_until(vr: &mut Instance, until: Instant) -> Vec<(Transmit, Advertisement)> {
    let mut out = Vec::new();
    while let Some(t) = vr.poll_timeout().filter(|t| *t <= until) {
        vr.handle_timeout(t);
        out.extend(adverts(vr));
    }
    out
}

#[test]
fn every_advert_carries_what_the_master_advertises_now() {
    // Any origin will do: the engine only sees offsets from it.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut vr = Instance::new(config(100, vec![VIP])).unwrap();
    vr.set_primary_address(t0, Some(ME));
    vr.handle_startup(t0);
    let sent = run_until(&mut vr, at(6_000));
    assert_eq!(vr.state(), State::Master);
    assert!(sent.len() >= 2, "adverts as Master: {}", sent.len());
    for (tx, adv) in &sent {
        assert_eq!((tx.src, adv.priority, tx.priority), (ME, 100, 100));
    }
    // The same bytes each time while nothing changed.
    assert!(sent.windows(2).all(|w| w[0].0.payload == w[1].0.payload));

    vr.set_priority(at(6_001), Priority::new(120).unwrap())
        .unwrap();
    let sent = [adverts(&mut vr), run_until(&mut vr, at(9_000))].concat();
    assert!(sent.len() >= 2);
    for (tx, adv) in &sent {
        assert_eq!((tx.src, adv.priority, tx.priority), (ME, 120, 120));
    }

    vr.set_primary_address(at(9_001), Some(ME2));
    let sent = [adverts(&mut vr), run_until(&mut vr, at(12_000))].concat();
    assert!(!sent.is_empty());
    for (tx, adv) in &sent {
        // Parsing verified the checksum over the new source address.
        assert_eq!((tx.src, adv.priority), (ME2, 120));
    }

    vr.reconfigure(at(12_001), config(120, vec![VIP, VIP2]))
        .unwrap();
    let sent = [adverts(&mut vr), run_until(&mut vr, at(15_000))].concat();
    assert!(!sent.is_empty());
    for (_, adv) in &sent {
        let mut addrs: Vec<IpAddr> = adv.addresses.iter().collect();
        addrs.sort_unstable();
        assert_eq!(addrs, vec![VIP, VIP2]);
    }
}
