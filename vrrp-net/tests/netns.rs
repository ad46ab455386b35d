//! `vrrp_net::netns`: a thread entered into a namespace uses that namespace's addresses, and
//! only that thread moves.

mod common;

use std::net::UdpSocket;

use common::{Netns, veth};

#[test]
fn entering_a_namespace_moves_only_the_calling_thread() {
    let a = Netns::new();
    let b = Netns::new();
    veth(&a, "vrrp0", &b, "peer0");
    a.ip(&["addr", "add", "10.200.1.1/24", "dev", "vrrp0"]);
    // 10.200.1.1 exists only in namespace a: binding to it works there and nowhere else.
    assert!(
        UdpSocket::bind("10.200.1.1:0").is_err(),
        "10.200.1.1 exists outside the lab"
    );
    let name = a.name.clone();
    let inside = std::thread::spawn(move || {
        vrrp_net::netns::enter(&name).unwrap();
        UdpSocket::bind("10.200.1.1:0").map(|_| ())
    })
    .join()
    .unwrap();
    assert!(
        inside.is_ok(),
        "bind inside the namespace failed: {inside:?}"
    );
    assert!(
        UdpSocket::bind("10.200.1.1:0").is_err(),
        "the test's own thread moved"
    );
    assert!(vrrp_net::netns::enter("vipd-no-such-namespace").is_err());
}
