//! Codec benchmarks: `Advertisement::parse` and `Advertisement::emit` for the message shapes
//! that matter in practice (VRRPv2 with a password, VRRPv3 over IPv4 with 1 and 20
//! addresses, VRRPv3 over IPv6).
//!
//! Run with `cargo bench -p vipd-benches --bench wire`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vrrp_core::{
    Addresses, Advertisement, Auth, ChecksumMode, Endpoints, Interval, Password, VRRP_GROUP_V4,
    VRRP_GROUP_V6, Version, Vrid,
};

/// One benchmarked message: a name, the advert and where it travels.
struct Case {
    name: &'static str,
    advert: Advertisement,
    at: Endpoints,
}

fn v4_endpoints() -> Endpoints {
    Endpoints {
        src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
        dst: IpAddr::V4(VRRP_GROUP_V4),
    }
}

fn v4_addresses(n: u8) -> Addresses {
    Addresses::V4((0..n).map(|i| Ipv4Addr::new(10, 99, 1, i)).collect())
}

fn cases() -> Vec<Case> {
    let vrid = Vrid::new(51).expect("non-zero");
    let v3 = |addresses| Advertisement {
        version: Version::V3,
        vrid,
        priority: 150,
        interval: Interval::ONE_SECOND,
        auth: Auth::None,
        addresses,
    };
    vec![
        Case {
            name: "v2-ipv4-1addr-pass",
            advert: Advertisement {
                version: Version::V2,
                vrid,
                priority: 150,
                interval: Interval::ONE_SECOND,
                auth: Auth::Password(Password::new(b"secret12").expect("8 bytes")),
                addresses: v4_addresses(1),
            },
            at: v4_endpoints(),
        },
        Case {
            name: "v3-ipv4-1addr",
            advert: v3(v4_addresses(1)),
            at: v4_endpoints(),
        },
        Case {
            name: "v3-ipv4-20addr",
            advert: v3(v4_addresses(20)),
            at: v4_endpoints(),
        },
        Case {
            name: "v3-ipv6-1addr",
            advert: v3(Addresses::V6(vec![Ipv6Addr::new(
                0xfd00, 0x99, 0, 0, 0, 0, 0, 0x100,
            )])),
            at: Endpoints {
                src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0x99, 0xff, 0xfe00, 0x0b)),
                dst: IpAddr::V6(VRRP_GROUP_V6),
            },
        },
    ]
}

fn throughput(len: usize) -> Throughput {
    Throughput::Bytes(u64::try_from(len).expect("a message is a few kilobytes at most"))
}

fn parse(c: &mut Criterion) {
    let mode = ChecksumMode::PseudoHeader;
    let mut group = c.benchmark_group("parse");
    for case in cases() {
        let bytes = case.advert.to_bytes(case.at, mode).expect("valid advert");
        assert_eq!(
            Advertisement::parse(&bytes, case.at, mode).as_ref(),
            Ok(&case.advert),
            "{} does not round-trip",
            case.name
        );
        group.throughput(throughput(bytes.len()));
        group.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &bytes,
            |b, bytes| {
                b.iter(|| Advertisement::parse(black_box(bytes), black_box(case.at), mode));
            },
        );
    }
    group.finish();
}

fn emit(c: &mut Criterion) {
    let mode = ChecksumMode::PseudoHeader;
    let mut group = c.benchmark_group("emit");
    for case in cases() {
        // A reused buffer: this measures encoding and the checksum, not the allocator.
        let mut buf = BytesMut::with_capacity(case.advert.len());
        group.throughput(throughput(case.advert.len()));
        group.bench_with_input(
            BenchmarkId::from_parameter(case.name),
            &case.advert,
            |b, advert| {
                b.iter(|| {
                    buf.clear();
                    let result = black_box(advert).emit(black_box(case.at), mode, &mut buf);
                    black_box(&buf);
                    result
                });
            },
        );
        assert_eq!(buf.len(), case.advert.len(), "{} emitted short", case.name);
    }
    group.finish();
}

criterion_group!(benches, parse, emit);
criterion_main!(benches);
