//! Link and address change notifications: [`NetEvent`] and the [`NetEvents`] stream of
//! [`Netlink::subscribe`].

use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc::UnboundedReceiver;
use futures::stream::{Stream, StreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::SocketAddr;
use rtnetlink::{Handle, MulticastGroup};

use super::addresses::address_info;
use super::links::link_info;
use super::{AddressMark, Netlink, NetlinkError};

/// A change reported by [`Netlink::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetEvent {
    /// A link changed (or was removed: then `up` is false). Sent for every change the kernel
    /// reports, so `up` may repeat the previous value.
    Link {
        /// Interface index.
        index: u32,
        /// Usable, as [`LinkInfo::up`](super::LinkInfo::up).
        up: bool,
    },
    /// An address was added, or changed (flags, lifetime renewal, end of DAD, or replaced by
    /// another program).
    AddressAdded {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
        /// Whether it carries the subscribing [`Netlink`](super::Netlink)'s mark
        /// ([`AddressInfo::is_marked`](super::AddressInfo::is_marked)).
        ours: bool,
    },
    /// An address was removed (by hand, by expiry, or with its link).
    AddressRemoved {
        /// Interface index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// The socket's receive buffer overflowed and events were lost: query the state again.
    Overrun,
}

impl Netlink {
    /// Subscribes to link and address changes (the `RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR` and
    /// `RTMGRP_IPV6_IFADDR` groups) on a separate connection, in the calling thread's network
    /// namespace. Must be called inside a tokio runtime.
    ///
    /// Changes made before the call are not reported: subscribe first, then read the current
    /// state. The stream ends only if the socket fails; on [`NetEvent::Overrun`] read the
    /// state again.
    ///
    /// # Errors
    /// [`NetlinkError::NoRuntime`] or [`NetlinkError::Open`].
    pub fn subscribe(&self) -> Result<NetEvents, NetlinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (connection, handle, messages) = rtnetlink::new_multicast_connection(&[
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ])
        .map_err(NetlinkError::Open)?;
        runtime.spawn(connection);
        Ok(NetEvents {
            messages,
            mark: self.mark,
            _handle: handle,
        })
    }
}

/// The stream of [`NetEvent`]s from [`Netlink::subscribe`]. Dropping it closes its
/// connection.
#[derive(Debug)]
pub struct NetEvents {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    /// The subscriber's mark, for [`NetEvent::AddressAdded`]'s `ours`.
    mark: AddressMark,
    // Keeps the connection task alive: it ends when both the handle and the receiver are gone.
    _handle: Handle,
}

impl NetEvents {
    fn event(&self, message: NetlinkMessage<RouteNetlinkMessage>) -> Option<NetEvent> {
        match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                let info = link_info(&link);
                Some(NetEvent::Link {
                    index: info.index,
                    up: info.up,
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                Some(NetEvent::Link {
                    index: link.header.index,
                    up: false,
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(msg)) => {
                address_info(&msg).map(|a| NetEvent::AddressAdded {
                    index: msg.header.index,
                    addr: a.addr,
                    prefix_len: a.prefix_len,
                    ours: a.is_marked(self.mark),
                })
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(msg)) => {
                address_info(&msg).map(|a| NetEvent::AddressRemoved {
                    index: msg.header.index,
                    addr: a.addr,
                    prefix_len: a.prefix_len,
                })
            }
            NetlinkPayload::Overrun(_) => Some(NetEvent::Overrun),
            _ => None,
        }
    }
}

impl Stream for NetEvents {
    type Item = NetEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetEvent>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Ready(Some((message, _))) => {
                    if let Some(event) = self.event(message) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
