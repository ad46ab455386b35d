//! Receive-path benchmarks: `Router::handle_packet` for a Backup that has started and hears
//! its master's valid advert, with 1 and with 100 instances in the router (the cost of
//! finding the instance), and the cost of dropping a packet early.
//!
//! Each iteration advances virtual time by 10 ms, feeds one advert, and drains
//! `poll_action`, as an embedder's loop would. No timer is fired, so the instance stays
//! Backup throughout.
//!
//! Run with `cargo bench -p vipd-benches --bench router`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use vrrp_core::{
    Addresses, Advertisement, Auth, ChecksumMode, Endpoints, InstanceConfig, InstanceKey, Interval,
    Received, Router, RxError, State, VRRP_GROUP_V4, Version, Vrid,
};

const IFACE: u32 = 2;
const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);
const MASTER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
const STEP: Duration = Duration::from_millis(10);

fn vip(vrid: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 100, vrid, 1))
}

/// A started router holding VRRPv3 IPv4 instances for VRIDs `1..=n` (priority 100), each
/// Backup, the one of VRID `n` having accepted the master's advert.
fn backup_router(n: u8, t0: Instant, advert: &[u8]) -> (Router, InstanceKey) {
    let mut router = Router::new();
    let mut last = None;
    for v in 1..=n {
        let config = InstanceConfig::new(Vrid::new(v).expect("non-zero"), vec![vip(v)]);
        let key = router.add_instance(IFACE, config).expect("valid config");
        router
            .instance_mut(&key)
            .expect("just added")
            .set_primary_address(t0, Some(IpAddr::V4(LOCAL)));
        last = Some(key);
    }
    let key = last.expect("at least one instance");
    router.handle_startup(t0);
    while router.poll_action().is_some() {}
    router
        .handle_packet(t0, IFACE, &received(advert))
        .expect("the master's advert is accepted");
    while router.poll_action().is_some() {}
    let instance = router.instance(&key).expect("present");
    assert_eq!(instance.state(), State::Backup);
    assert_eq!(
        instance.master().map(|m| m.address),
        Some(IpAddr::V4(MASTER))
    );
    (router, key)
}

/// The advert of the master of VRID `vrid`: priority 200, 1 s, its one address.
fn master_advert(vrid: u8) -> Bytes {
    let advert = Advertisement {
        version: Version::V3,
        vrid: Vrid::new(vrid).expect("non-zero"),
        priority: 200,
        interval: Interval::ONE_SECOND,
        auth: Auth::None,
        addresses: Addresses::V4(vec![Ipv4Addr::new(10, 100, vrid, 1)]),
    };
    let at = Endpoints {
        src: IpAddr::V4(MASTER),
        dst: IpAddr::V4(VRRP_GROUP_V4),
    };
    advert
        .to_bytes(at, ChecksumMode::PseudoHeader)
        .expect("valid advert")
}

fn received(payload: &[u8]) -> Received<'_> {
    Received {
        src: IpAddr::V4(MASTER),
        dst: IpAddr::V4(VRRP_GROUP_V4),
        hop_limit: 255,
        payload,
    }
}

/// Feeds `payload` once per iteration and drains the actions; returns how many packets were
/// accepted, for the caller to check.
fn run(c: &mut Criterion, group: &str, n: u8, payload: &[u8], setup_advert: &[u8]) -> u64 {
    let t0 = Instant::now();
    let (mut router, key) = backup_router(n, t0, setup_advert);
    let mut now = t0;
    let (mut accepted, mut actions) = (0u64, 0u64);
    let mut g = c.benchmark_group(group);
    g.bench_function(BenchmarkId::from_parameter(format!("{n}-instances")), |b| {
        b.iter(|| {
            now += STEP;
            let result = router.handle_packet(black_box(now), IFACE, black_box(&received(payload)));
            accepted += u64::from(result.is_ok());
            while let Some(action) = router.poll_action() {
                black_box(action);
                actions += 1;
            }
            result
        });
    });
    g.finish();
    assert_eq!(actions, 0, "a Backup hearing its master does nothing");
    let instance = router.instance(&key).expect("present");
    assert_eq!(instance.state(), State::Backup);
    accepted
}

fn backup_accepts_master_advert(c: &mut Criterion) {
    for n in [1u8, 100] {
        let advert = master_advert(n);
        let accepted = run(c, "handle_packet/backup-accept", n, &advert, &advert);
        assert!(accepted > 0, "no advert was accepted");
    }
}

fn rejected_packets(c: &mut Criterion) {
    // A corrupted checksum: found the instance, then dropped by the codec.
    let good = master_advert(1);
    let mut bad = good.to_vec();
    bad[7] ^= 0x01;
    let verdict = backup_router(1, Instant::now(), &good).0.handle_packet(
        Instant::now(),
        IFACE,
        &received(&bad),
    );
    assert!(matches!(verdict, Err(RxError::Wire(_))), "{verdict:?}");
    let accepted = run(c, "handle_packet/reject-bad-checksum", 1, &bad, &good);
    assert_eq!(accepted, 0);

    // A VRID nobody runs: dropped by the router's lookup.
    let foreign = master_advert(200);
    let setup = master_advert(100);
    let accepted = run(
        c,
        "handle_packet/reject-unknown-vrid",
        100,
        &foreign,
        &setup,
    );
    assert_eq!(accepted, 0);
}

criterion_group!(benches, backup_accepts_master_advert, rejected_packets);
criterion_main!(benches);
