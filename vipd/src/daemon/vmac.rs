//! Virtual MAC interfaces (`use_vmac`) in the daemon: created (or found, after a reload) when
//! an instance is resolved, removed when it is retired and when the daemon stops, and those an
//! earlier run of this configuration left behind (a crash) removed at start, like its VIPs.
//! The interfaces themselves, their ownership mark and kernel settings are vrrp-net's
//! ([`vrrp_net::netlink::Netlink::create_vmac`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use tracing::{info, warn};
use vrrp_net::netlink::{LinkInfo, Netlink};
use vrrp_net::socket::VrrpSocket;

use super::DaemonError;
use super::executor::{Executor, Managed};
use crate::config::{InstancePlan, Plan};

/// Removes the virtual MAC interfaces of `plan` that carry vipd's mark: left by an earlier run
/// of this configuration. Another configuration's (another name) are not touched.
pub(super) async fn remove_leftovers(netlink: &Netlink, plan: &Plan) -> Result<(), DaemonError> {
    let ours: BTreeSet<&str> = plan
        .instances()
        .iter()
        .filter_map(|p| p.vmac().map(crate::config::VmacPlan::name))
        .collect();
    if ours.is_empty() {
        return Ok(());
    }
    for link in netlink
        .remove_marked_vmacs(|name| ours.contains(name))
        .await?
    {
        info!(interface = %link.name, "removed a virtual MAC interface left over by an earlier run");
    }
    Ok(())
}

/// The VIP interface of `plan` when it uses a virtual MAC: created on `vrrp` (or found, made
/// by an earlier resolution of the same configuration), up; `None` without `use_vmac`.
pub(super) async fn vip_link(
    netlink: &Netlink,
    plan: &InstancePlan,
    vrrp: &LinkInfo,
) -> Result<Option<LinkInfo>, DaemonError> {
    let Some(vmac) = plan.vmac() else {
        return Ok(None);
    };
    let link = netlink
        .create_vmac(vrrp.index, vmac.name(), vmac.mac(), plan.engine().family())
        .await?;
    info!(instance = %plan.name(), interface = %link.name, base = %vrrp.name, "virtual MAC interface up");
    Ok(Some(link))
}

/// Opens the VRRP socket of the virtual MAC interface `vmac` of `plan` (unless
/// `vmac_xmit_base`), which the caller reads as the VRRP interface's: adverts leave from it
/// with the virtual router MAC, and the other routers' adverts, which carry the same MAC as
/// source, arrive on it (a macvlan takes the frames whose source is its own MAC away from its
/// base interface). It joins the VRRP group when an instance on it uses multicast
/// (the runner's memberships).
pub(super) fn open_socket(
    executor: &mut Executor,
    plan: &InstancePlan,
    vmac: &LinkInfo,
) -> Result<Option<Arc<VrrpSocket>>, DaemonError> {
    if plan.vmac().is_none_or(crate::config::VmacPlan::xmit_base) {
        return Ok(None);
    }
    let family = plan.engine().family();
    if executor.sockets.contains_key(&(vmac.index, family)) {
        return Ok(None);
    }
    let socket =
        VrrpSocket::open(vmac.index, &vmac.name, family).map_err(|e| DaemonError::Socket {
            interface: vmac.name.clone(),
            source: e.into(),
        })?;
    let socket = Arc::new(socket);
    executor
        .sockets
        .insert((vmac.index, family), Arc::clone(&socket));
    Ok(Some(socket))
}

/// Puts the instance's primary address `primary` (the VRRP interface's link-local address,
/// the adverts' source) on its IPv6 virtual MAC interface `vip_index` when it sends from it:
/// an IPv6 packet must leave from an interface that has its source address. Nothing to do
/// for IPv4, without `use_vmac`, or with `vmac_xmit_base`.
pub(super) async fn carry_primary(
    netlink: &Netlink,
    plan: &InstancePlan,
    vip_index: u32,
    primary: Option<std::net::IpAddr>,
) {
    if plan.vmac().is_none_or(crate::config::VmacPlan::xmit_base) {
        return;
    }
    let Some(std::net::IpAddr::V6(primary)) = primary else {
        return;
    };
    if let Err(e) = netlink.add_vmac_link_local(vip_index, primary).await {
        warn!(instance = %plan.name(), address = %primary, error = %e, "giving the virtual MAC interface the link-local address failed");
    }
}

/// Removes the virtual MAC interface of `m`, if it has one (after its VIPs are released), and
/// its sending socket.
pub(super) async fn release(executor: &mut Executor, m: &Managed) {
    if m.plan.vmac().is_none() {
        return;
    }
    executor
        .sockets
        .remove(&(m.vip_index, m.plan.engine().family()));
    match executor.netlink.remove_vmac(m.vip_index).await {
        Ok(()) => {
            info!(instance = %m.plan.name(), interface = %m.plan.vip_interface(), "virtual MAC interface removed")
        }
        Err(e) => {
            warn!(instance = %m.plan.name(), error = %e, "removing the virtual MAC interface failed")
        }
    }
}
