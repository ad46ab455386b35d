//! TCP connect.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::{ProbeError, ProbeOk};
use crate::config::TcpCheck;

pub(crate) async fn probe(
    check: &TcpCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    match timeout_at(
        deadline,
        TcpStream::connect((check.host.as_str(), check.port)),
    )
    .await
    {
        Err(_) => Err(ProbeError::Timeout {
            timeout,
            stage: "connecting to",
            target: check.address.clone(),
        }),
        Ok(Err(e)) => Err(ProbeError::Connect {
            address: check.address.clone(),
            message: e.to_string(),
        }),
        Ok(Ok(stream)) => {
            let peer = stream
                .peer_addr()
                .map_or_else(|_| check.address.clone(), |a| a.to_string());
            Ok(ProbeOk::detail(format!("connected to {peer}")))
        }
    }
}
