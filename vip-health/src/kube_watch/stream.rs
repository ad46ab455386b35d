//! The watch half of the [`Watcher`]: a watch opened from the last resource version, its
//! chunked body read line by line into events, and what ends it (see the rules in the
//! parent module).

use std::time::Duration;

use bytes::BytesMut;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};
use tracing::{debug, info};

use super::{Event, Next, WatchError, Watcher, bounded, encode, status_message};
use crate::probe::http::{Opened, http_error, open};

/// A watch that ends before any line within this counts as an error.
const TOO_SOON: Duration = Duration::from_secs(1);

/// An open watch stream.
pub(super) struct Stream {
    opened: Opened,
    /// The part of a line received so far (never more than the line limit).
    partial: BytesMut,
    started: Instant,
    /// Given up if nothing comes by then.
    stall_at: Instant,
    lines: u64,
}

/// A watch event's type and the parts of its object every type has: the metadata's
/// resource version, and for `ERROR` the `Status` fields.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: HeadObject,
}

#[derive(Deserialize, Default)]
struct HeadObject {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    code: u16,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta {
    #[serde(default)]
    resource_version: String,
}

/// A watch event's object as `T`.
#[derive(Deserialize)]
struct Body<T> {
    object: T,
}

impl<T: DeserializeOwned> Watcher<T> {
    /// Opens a watch from the last resource version.
    pub(super) async fn watch(&mut self) -> Next {
        let rv = self.resource_version.clone().unwrap_or_default();
        let base = self.options.watch_timeout.as_secs();
        let seconds = base + jitter(base / 10);
        let query = self.query(&format!(
            "watch=true&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={seconds}",
            encode(&rv)
        ));
        let url = self.url(&query);
        let timeout = self.options.request_timeout;
        let req = self.request(&query, &url, 0);
        let mut opened = match open(&req, Instant::now() + timeout, timeout).await {
            Ok(o) => o,
            Err(e) => return Next::Failed(e.into()),
        };
        match opened.status {
            200 => {
                let started = Instant::now();
                self.stream = Some(Stream {
                    opened,
                    partial: BytesMut::new(),
                    started,
                    stall_at: started + Duration::from_secs(seconds) + self.options.stall_grace,
                    lines: 0,
                });
                self.queue.push_back(Event::Live);
                Next::Continue
            }
            410 => self.gone(),
            status => {
                let body = read_bounded(&mut opened, Instant::now() + timeout).await;
                Next::Failed(WatchError::Status {
                    url,
                    status,
                    message: status_message(&body),
                })
            }
        }
    }

    /// Reads the open watch until at least one line is handled, or it ends.
    pub(super) async fn read(&mut self) -> Next {
        let Some(stream) = self.stream.as_mut() else {
            return Next::Continue;
        };
        let frame = match timeout_at(stream.stall_at, stream.opened.body.frame()).await {
            Err(_) => {
                let after = stream.stall_at - stream.started;
                self.stream = None;
                return Next::Failed(WatchError::Stalled {
                    path: self.collection.path.clone(),
                    after,
                });
            }
            Ok(frame) => frame,
        };
        let data = match frame {
            None => {
                // Ended by the server: normally after timeoutSeconds.
                let Some(stream) = self.stream.take() else {
                    return Next::Continue;
                };
                if !stream.partial.is_empty() {
                    // A last line without its newline.
                    let line = stream.partial.freeze();
                    if let Next::Failed(e) = self.line(&line) {
                        return Next::Failed(e);
                    }
                    return Next::Continue;
                }
                if stream.lines == 0 && stream.started.elapsed() < TOO_SOON {
                    self.empty_ends += 1;
                    if self.empty_ends > 1 {
                        return Next::Failed(WatchError::EndedAtOnce {
                            path: self.collection.path.clone(),
                        });
                    }
                } else {
                    self.empty_ends = 0;
                }
                debug!(
                    path = self.collection.path,
                    "the watch ended; watching again"
                );
                return Next::Continue;
            }
            Some(Err(e)) => {
                self.stream = None;
                let url = self.url(&self.collection.path);
                return Next::Failed(http_error(&url, &e).into());
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => return Next::Continue,
            },
        };
        let limit = self.options.line_limit;
        let mut rest = &data[..];
        while !rest.is_empty() {
            let Some(stream) = self.stream.as_mut() else {
                // An earlier line of this frame ended the watch (410): the rest is moot.
                return Next::Continue;
            };
            let newline = rest.iter().position(|&b| b == b'\n');
            let piece = newline.unwrap_or(rest.len());
            if stream.partial.len() + piece > limit {
                self.stream = None;
                self.resource_version = None;
                return Next::Failed(WatchError::LineTooLong {
                    path: self.collection.path.clone(),
                    limit,
                });
            }
            stream.partial.extend_from_slice(&rest[..piece]);
            let Some(at) = newline else { break };
            rest = &rest[at + 1..];
            let line = stream.partial.split().freeze();
            stream.lines += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if let Next::Failed(e) = self.line(&line) {
                return Next::Failed(e);
            }
        }
        Next::Continue
    }

    /// 410 Gone: the resource version is too old, list again (at once, unless the list was
    /// just made).
    fn gone(&mut self) -> Next {
        self.stream = None;
        self.resource_version = None;
        if self.fresh_list {
            self.fresh_list = false;
            return Next::Failed(WatchError::GoneAfterList {
                path: self.collection.path.clone(),
            });
        }
        info!(
            path = self.collection.path,
            "the watch's resource version is too old (410 Gone); listing again"
        );
        Next::Continue
    }

    /// Handles one watch event.
    fn line(&mut self, line: &[u8]) -> Next {
        self.backoff.reset();
        self.empty_ends = 0;
        let decode = |this: &mut Self, message: String| {
            // An event was lost: only a list tells what is true now.
            this.stream = None;
            this.resource_version = None;
            Next::Failed(WatchError::Decode {
                path: this.collection.path.clone(),
                message,
            })
        };
        let head: Head = match serde_json::from_slice(line) {
            Ok(h) => h,
            Err(e) => return decode(self, format!("a watch line is not a watch event: {e}")),
        };
        let rv = head.object.metadata.resource_version;
        if head.kind != "ERROR" {
            self.fresh_list = false;
        }
        match head.kind.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => {
                let object = match serde_json::from_slice::<Body<T>>(line) {
                    Ok(b) => b.object,
                    Err(e) => {
                        return decode(self, format!("a {} event's object: {e}", head.kind));
                    }
                };
                self.queue.push_back(if head.kind == "DELETED" {
                    Event::Delete(object)
                } else {
                    Event::Apply(object)
                });
                if !rv.is_empty() {
                    self.resource_version = Some(rv);
                }
            }
            "BOOKMARK" => {
                if !rv.is_empty() {
                    self.resource_version = Some(rv);
                }
                self.queue.push_back(Event::Live);
            }
            "ERROR" => {
                self.stream = None;
                if head.object.code == 410 {
                    return self.gone();
                }
                return Next::Failed(WatchError::ErrorEvent {
                    path: self.collection.path.clone(),
                    code: head.object.code,
                    message: bounded(&head.object.message),
                });
            }
            other => debug!(
                path = self.collection.path,
                kind = other,
                "watch event of an unknown type skipped"
            ),
        }
        Next::Continue
    }
}

/// Up to 64 KiB of an error answer's body, within `deadline`.
async fn read_bounded(opened: &mut Opened, deadline: Instant) -> Vec<u8> {
    const LIMIT: usize = 64 * 1024;
    let mut out = Vec::new();
    while out.len() < LIMIT {
        match timeout_at(deadline, opened.body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data[..data.len().min(LIMIT - out.len())]);
                }
            }
            _ => break,
        }
    }
    out
}

/// 0 to `max` seconds, different from one process and moment to the next.
fn jitter(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos.wrapping_add(std::process::id().wrapping_mul(2_654_435_761))) % (max + 1)
}
