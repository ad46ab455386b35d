//! Interface link state from sysfs.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::{ProbeError, ProbeOk};
use crate::config::InterfaceCheck;

const SYS_CLASS_NET: &str = "/sys/class/net";

async fn read_attr(name: &str, attr: &str) -> std::io::Result<String> {
    let path: PathBuf = [SYS_CLASS_NET, name, attr].iter().collect();
    let bytes = super::read_bounded(&path, 64).await?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// Up iff operstate is `up`, or `unknown` with carrier (loopback and some virtual links
/// report `unknown`).
pub(crate) async fn probe(check: &InterfaceCheck) -> Result<ProbeOk, ProbeError> {
    let name = &check.name;
    let operstate = match read_attr(name, "operstate").await {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ProbeError::NoInterface { name: name.clone() });
        }
        Err(e) => {
            return Err(ProbeError::Io {
                what: format!("reading the state of interface {name}"),
                message: e.to_string(),
            });
        }
    };
    // Reading carrier fails with EINVAL while the interface is administratively down.
    let carrier = read_attr(name, "carrier").await.ok();
    let has_carrier = carrier.as_deref() == Some("1");
    match operstate.as_str() {
        "up" => Ok(ProbeOk::detail("operstate up")),
        "unknown" if has_carrier => Ok(ProbeOk::detail("operstate unknown, carrier up")),
        "unknown" => Err(ProbeError::InterfaceDown {
            name: name.clone(),
            state: "unknown without carrier".to_owned(),
        }),
        other => Err(ProbeError::InterfaceDown {
            name: name.clone(),
            state: other.to_owned(),
        }),
    }
}
