//! Network interfaces: [`LinkInfo`] and the link queries of [`Netlink`].

use futures::stream::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

use super::{ENODEV, Netlink, NetlinkError, errno_of};

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index (`ifindex`).
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Hardware address, when the link has a 6-byte (Ethernet) one.
    pub mac: Option<[u8; 6]>,
    /// Usable: administratively up and operationally running (see the module docs).
    pub up: bool,
    /// Administratively up (`IFF_UP`, `ip link set DEV up`), whatever the carrier.
    pub admin_up: bool,
    /// MTU in bytes (0 if the kernel did not report it).
    pub mtu: u32,
}

/// The fields of a link message this crate uses.
pub(super) fn link_info(msg: &LinkMessage) -> LinkInfo {
    let flags = msg.header.flags;
    let admin_up = flags.contains(LinkFlags::Up);
    let mut info = LinkInfo {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        up: admin_up && flags.contains(LinkFlags::Running),
        admin_up,
        mtu: 0,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => info.name.clone_from(name),
            LinkAttribute::Address(bytes) => info.mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::Mtu(mtu) => info.mtu = *mtu,
            _ => {}
        }
    }
    info
}

impl Netlink {
    /// The link called `name`.
    ///
    /// # Errors
    /// [`NetlinkError::NoSuchInterface`] if there is none; a kernel or transport failure.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo, NetlinkError> {
        let request = self.handle.link().get().match_name(name.to_owned());
        match request.execute().try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(NetlinkError::NoSuchInterface {
                name: name.to_owned(),
            }),
            Err(e) if errno_of(&e) == Some(ENODEV) => Err(NetlinkError::NoSuchInterface {
                name: name.to_owned(),
            }),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "get link",
                format!("{name:?}"),
                e,
            )),
        }
    }

    /// The link with index `index`.
    ///
    /// # Errors
    /// [`NetlinkError::NoSuchIndex`] if there is none; a kernel or transport failure.
    pub async fn link_by_index(&self, index: u32) -> Result<LinkInfo, NetlinkError> {
        let request = self.handle.link().get().match_index(index);
        match request.execute().try_next().await {
            Ok(Some(msg)) => Ok(link_info(&msg)),
            Ok(None) => Err(NetlinkError::NoSuchIndex { index }),
            Err(e) if errno_of(&e) == Some(ENODEV) => Err(NetlinkError::NoSuchIndex { index }),
            Err(e) => Err(NetlinkError::from_rtnetlink(
                "get link",
                format!("index {index}"),
                e,
            )),
        }
    }

    /// Every link of the namespace.
    ///
    /// # Errors
    /// A kernel or transport failure.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .map_ok(|msg| link_info(&msg))
            .try_collect()
            .await
            .map_err(|e| NetlinkError::from_rtnetlink("dump links", String::new(), e))
    }

    /// "name (index N)", or "index N" if the link cannot be found: for error messages.
    pub(super) async fn describe_link(&self, index: u32) -> String {
        match self.link_by_index(index).await {
            Ok(link) => format!("{} (index {index})", link.name),
            Err(_) => format!("index {index}"),
        }
    }
}
