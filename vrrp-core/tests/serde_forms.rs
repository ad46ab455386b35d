//! The serialized forms of the public value types (`--features serde`), which are part of
//! the API: status pages and stored state depend on them.
#![cfg(feature = "serde")]

use serde_json::{Value, json};
use vrrp_core::{
    Centis, Family, Interval, MasterReasons, Priority, Reason, RouterStats, State, Stats, Version,
    Vrid,
};

fn to(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

#[test]
fn states_serialize_as_their_stable_names() {
    for (state, name) in [
        (State::Initialize, "INIT"),
        (State::Backup, "BACKUP"),
        (State::Master, "MASTER"),
        (State::Fault, "FAULT"),
    ] {
        assert_eq!(state.as_str(), name);
        assert_eq!(to(state), json!(name));
        assert_eq!(serde_json::from_value::<State>(json!(name)).unwrap(), state);
    }
}

#[test]
fn reasons_serialize_as_their_stable_names() {
    for (reason, name) in [
        (Reason::Startup, "startup"),
        (Reason::Owner, "owner"),
        (Reason::MasterDown, "master_down"),
        (Reason::PriorityZero, "priority_zero"),
        (Reason::Preempted, "preempted"),
        (Reason::HigherPriority, "higher_priority"),
        (Reason::TrackFailed, "track_failed"),
        (Reason::LinkDown, "link_down"),
        (Reason::NoPrimaryAddress, "no_primary_address"),
        (Reason::Recovered, "recovered"),
        (Reason::Shutdown, "shutdown"),
        (Reason::Restart, "restart"),
        (Reason::SyncGroup, "sync_group"),
    ] {
        assert_eq!(reason.as_str(), name);
        assert_eq!(to(reason), json!(name));
        assert_eq!(
            serde_json::from_value::<Reason>(json!(name)).unwrap(),
            reason
        );
    }
}

#[test]
fn protocol_values_serialize_as_numbers_and_refuse_invalid_ones() {
    assert_eq!(to(Family::Ipv4), json!("ipv4"));
    assert_eq!(to(Family::Ipv6), json!("ipv6"));
    assert_eq!(to(Version::V2), json!(2));
    assert_eq!(to(Version::V3), json!(3));
    assert_eq!(to(Vrid::new(51).unwrap()), json!(51));
    assert_eq!(to(Priority::OWNER), json!(255));
    assert_eq!(to(Interval::ONE_SECOND), json!(100));
    assert_eq!(to(Centis(1234)), json!(1234));

    assert_eq!(
        serde_json::from_value::<Version>(json!(3)).unwrap(),
        Version::V3
    );
    assert_eq!(
        serde_json::from_value::<Vrid>(json!(51)).unwrap(),
        Vrid::new(51).unwrap()
    );
    assert_eq!(
        serde_json::from_value::<Interval>(json!(150)).unwrap(),
        Interval::from_centis(150).unwrap()
    );
    assert_eq!(
        serde_json::from_value::<Family>(json!("ipv6")).unwrap(),
        Family::Ipv6
    );
    for bad in [
        serde_json::from_value::<Version>(json!(4)).unwrap_err(),
        serde_json::from_value::<Vrid>(json!(0)).unwrap_err(),
        serde_json::from_value::<Priority>(json!(0)).unwrap_err(),
        serde_json::from_value::<Interval>(json!(0)).unwrap_err(),
        serde_json::from_value::<Interval>(json!(25_501)).unwrap_err(),
    ] {
        assert!(bad.to_string().contains("give"), "{bad}");
    }
}

#[test]
fn stats_serialize_as_objects_keyed_by_field() {
    let stats = Stats::default();
    let value = to(&stats);
    assert_eq!(value["sent_advertisements"], json!(0));
    assert_eq!(value["unknown_peer"], json!(0));
    assert_eq!(value["master_reasons"]["preempted"], json!(0));
    assert_eq!(serde_json::from_value::<Stats>(value).unwrap(), stats);
    // Missing counters default to 0.
    let partial: Stats = serde_json::from_value(json!({"checksum_errors": 3})).unwrap();
    assert_eq!(partial.checksum_errors, 3);
    assert_eq!(partial.master_reasons, MasterReasons::default());
    assert_eq!(
        to(RouterStats::default()),
        json!({"vrid_errors": 0, "packet_length_errors": 0})
    );
}
