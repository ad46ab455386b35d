//! List and watch of a Kubernetes collection (pods of a namespace, or nodes) on the same
//! hand-written HTTPS client as the `kube_api` and `node_ready` checks: the server verified
//! against the endpoint's CA, the bearer token and the CA read anew for every request (so a
//! rotated service-account token is used at the next reconnect).
//!
//! # Protocol
//!
//! * **List**: `GET PATH?limit=500&labelSelector=S`, then `&continue=TOKEN` while the answer
//!   has one; the list's `metadata.resourceVersion` is kept. A continue token that expired
//!   (HTTP 410) starts the list again.
//! * **Watch**: `GET PATH?watch=true&resourceVersion=RV&allowWatchBookmarks=true&
//!   timeoutSeconds=T&labelSelector=S` (T is 290 s plus up to 10 % of jitter, so replicas do
//!   not all reconnect together). The chunked body is read as it comes, one JSON
//!   `WatchEvent` per line: `ADDED` and `MODIFIED` give [`Event::Apply`], `DELETED`
//!   [`Event::Delete`], `BOOKMARK` only moves the resource version on ([`Event::Live`]). Only
//!   the fields of `T` are kept (serde skips the rest of each object); a line longer than
//!   [`WatchOptions::line_limit`] is an error, never an unbounded buffer.
//!
//! # Rules
//!
//! | what happens | what the watcher does |
//! |---|---|
//! | `ERROR` event with code 410, or HTTP 410 | lists again at once; the complete list replaces the state ([`Event::Init`] .. [`Event::InitDone`]); after the backoff if the watch came from a list just made (no loop) |
//! | a line too long or not a watch event | error; lists again after the backoff (an event was lost) |
//! | other `ERROR` event, HTTP error, disconnect, no byte within `timeoutSeconds` + [`WatchOptions::stall_grace`] | error; watches again from the last resource version after the backoff |
//! | the server ends the watch normally (after `timeoutSeconds`) | watches again at once from the last resource version |
//! | a list page that fails | error; lists again (from the first page) after the backoff |
//! | a list page larger than [`WatchOptions::page_limit`] | error; lists again in pages a quarter as long |
//!
//! The backoff is 0.5 s, doubling up to 5 s, back to 0.5 s once a list completes or a watch
//! delivers a line. A second watch in a row that the server ends cleanly before any line and
//! within a second counts as an error, so a server that closes every watch at once is not
//! asked in a loop.
//!
//! [`Watcher::next`] is cancel-safe: dropping its future (in a `select!`) loses no event.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info};

use crate::config::KubeEndpoint;
use crate::probe::ProbeError;
use crate::probe::http::{Get, get};
use crate::probe::kube::{authority, request};

mod stream;

use stream::Stream;

/// What the watcher reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// A list starts: the objects up to [`Event::InitDone`] replace every object known.
    Init,
    /// An object of the list.
    InitApply(T),
    /// The list is complete.
    InitDone,
    /// An object was added or changed.
    Apply(T),
    /// An object was deleted (its last state).
    Delete(T),
    /// A watch opened or a bookmark came: what is known is current as of now.
    Live,
}

/// Why a list or watch failed; the watcher retries after its backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The request failed: connection, TLS, token file, HTTP exchange or time-out.
    #[error("{0}")]
    Request(#[from] ProbeError),
    /// The API server answered with an error status.
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The server's message (its `Status` object's), bounded.
        message: String,
    },
    /// The watch sent an `ERROR` event other than 410 Gone.
    #[error("the watch of {path} ended with error {code}: {message}")]
    ErrorEvent {
        /// The collection.
        path: String,
        /// The `Status` code.
        code: u16,
        /// Its message, bounded.
        message: String,
    },
    /// A watch event longer than the limit: the stream is dropped and the list read again.
    #[error(
        "a watch event of {path} is longer than {limit} bytes; listing again (raise the \
         line limit if objects are this large)"
    )]
    LineTooLong {
        /// The collection.
        path: String,
        /// The limit.
        limit: usize,
    },
    /// A list page larger than the limit: the list is read again in smaller pages.
    #[error(
        "a list page of {path} is larger than {limit} bytes; listing again {page_size} at a time"
    )]
    PageTooLarge {
        /// The collection.
        path: String,
        /// The limit.
        limit: usize,
        /// The new page size.
        page_size: u32,
    },
    /// A list or watch event that is not what the API sends.
    #[error("{path}: {message}")]
    Decode {
        /// The collection.
        path: String,
        /// What could not be read.
        message: String,
    },
    /// The watch was silent past its own time-out (a connection that died unseen).
    #[error("the watch of {path} sent nothing for {} s", .after.as_secs())]
    Stalled {
        /// The collection.
        path: String,
        /// How long.
        after: Duration,
    },
    /// A watch from the resource version of a list just made was refused as too old (410
    /// Gone): the list is made again, after the backoff rather than in a loop.
    #[error("the API server refused to watch {path} from the list it just gave (410 Gone)")]
    GoneAfterList {
        /// The collection.
        path: String,
    },
    /// The server ended the watch at once, before any event.
    #[error("the API server ended the watch of {path} at once")]
    EndedAtOnce {
        /// The collection.
        path: String,
    },
}

/// A collection to list and watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    path: String,
    label_selector: String,
}

impl Collection {
    /// The pods of `namespace` matching `label_selector` (empty: all).
    #[must_use]
    pub fn pods(namespace: &str, label_selector: &str) -> Self {
        Self {
            path: format!("/api/v1/namespaces/{}/pods", encode(namespace)),
            label_selector: label_selector.to_owned(),
        }
    }

    /// The nodes matching `label_selector` (empty: all).
    #[must_use]
    pub fn nodes(label_selector: &str) -> Self {
        Self {
            path: "/api/v1/nodes".to_owned(),
            label_selector: label_selector.to_owned(),
        }
    }

    /// The collection's path, e.g. `/api/v1/nodes`.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// Limits and timings; the defaults suit an API server of a real cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Objects per list page (`limit=`); default 500.
    pub page_size: u32,
    /// Longest list page read, in bytes; default 16 MiB. A larger page is read again in
    /// smaller pages.
    pub page_limit: usize,
    /// Longest watch event (one line), in bytes; default 1 MiB.
    pub line_limit: usize,
    /// How long connecting, the TLS handshake and the answer's headers may take; default
    /// 10 s. A list page's body gets three times as long.
    pub request_timeout: Duration,
    /// `timeoutSeconds` of a watch, before a jitter of up to 10 %; default 290 s.
    pub watch_timeout: Duration,
    /// How much longer than its `timeoutSeconds` a watch that sends nothing is kept before it
    /// counts as broken (a connection that died unseen); default 30 s.
    pub stall_grace: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            page_size: 500,
            page_limit: 16 * 1024 * 1024,
            line_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            watch_timeout: Duration::from_secs(290),
            stall_grace: Duration::from_secs(30),
        }
    }
}

/// The retry delays: 0.5 s doubling up to 5 s, back to 0.5 s after an answer.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first delay.
    pub const FIRST: Duration = Duration::from_millis(500);
    /// The longest delay.
    pub const LONGEST: Duration = Duration::from_secs(5);

    /// The delay to wait now; the one after is twice as long, up to [`Self::LONGEST`].
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::LONGEST);
        delay
    }

    /// Back to [`Self::FIRST`].
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

/// A list page: `T`s and where the list goes on.
#[derive(Deserialize)]
struct List<T> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(rename = "continue", default)]
    continue_token: String,
}

/// A `Status` answer's message.
#[derive(Deserialize, Default)]
struct StatusBody {
    #[serde(default)]
    message: String,
}

/// What a step did besides queueing events.
enum Next {
    /// Go on at once.
    Continue,
    /// The step failed; retry after the backoff.
    Failed(WatchError),
}

/// The list and watch of one collection, as a sequence of [`Event`]s: objects of type `T`,
/// which names only the fields the caller reads (every other field is skipped unread).
pub struct Watcher<T> {
    endpoint: KubeEndpoint,
    authority: String,
    collection: Collection,
    options: WatchOptions,
    /// The resource version to watch from; none: list first.
    resource_version: Option<String>,
    /// The next page of a list under way.
    list_continue: Option<String>,
    page_size: u32,
    stream: Option<Stream>,
    queue: VecDeque<Event<T>>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    /// No watch event since the last list completed.
    fresh_list: bool,
    /// Watches in a row that the server ended at once, before any line.
    empty_ends: u32,
    /// A failure to report once the events read before it are taken.
    error: Option<WatchError>,
    _objects: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Watcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("collection", &self.collection)
            .field("resource_version", &self.resource_version)
            .field("watching", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Watcher<T> {
    /// A watcher of `collection` on the API server of `endpoint`; nothing is requested
    /// before [`Watcher::next`].
    #[must_use]
    pub fn new(endpoint: KubeEndpoint, collection: Collection, options: WatchOptions) -> Self {
        Self {
            authority: authority(&endpoint),
            endpoint,
            collection,
            page_size: options.page_size.max(1),
            options,
            resource_version: None,
            list_continue: None,
            stream: None,
            queue: VecDeque::new(),
            backoff: Backoff::default(),
            retry_at: None,
            fresh_list: false,
            empty_ends: 0,
            error: None,
            _objects: PhantomData,
        }
    }

    /// The resource version the next watch starts from (none: the next request is a list).
    #[must_use]
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }

    /// The next event, or the error of the last attempt (the next call retries after the
    /// backoff). Never ends.
    ///
    /// # Errors
    /// [`WatchError`]: what failed; the watcher goes on by itself.
    pub async fn next(&mut self) -> Result<Event<T>, WatchError> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(event);
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            if let Some(at) = self.retry_at {
                sleep_until(at).await;
                self.retry_at = None;
            }
            let next = if self.stream.is_some() {
                self.read().await
            } else if self.resource_version.is_none() {
                self.list_page().await
            } else {
                self.watch().await
            };
            if let Next::Failed(e) = next {
                self.retry_at = Some(Instant::now() + self.backoff.next_delay());
                // The events read before the failure come first.
                self.error = Some(e);
            }
        }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("https://{}{path_and_query}", self.authority)
    }

    /// A JSON GET of `query` (`url` in messages), reading at most `body_limit` bytes if the
    /// whole body is read.
    fn request<'a>(&'a self, query: &'a str, url: &'a str, body_limit: usize) -> Get<'a> {
        request(
            &self.endpoint,
            &self.authority,
            query,
            url,
            "application/json",
            body_limit,
        )
    }

    /// `PATH?PARAMS&labelSelector=S` (no selector if empty).
    fn query(&self, params: &str) -> String {
        let mut query = format!("{}?{params}", self.collection.path);
        if !self.collection.label_selector.is_empty() {
            let _ = write!(
                query,
                "&labelSelector={}",
                encode(&self.collection.label_selector)
            );
        }
        query
    }

    /// One page of the list.
    async fn list_page(&mut self) -> Next {
        let first = self.list_continue.is_none();
        let mut query = self.query(&format!("limit={}", self.page_size));
        if let Some(token) = &self.list_continue {
            let _ = write!(query, "&continue={}", encode(token));
        }
        let url = self.url(&query);
        let limit = self.options.page_limit;
        let req = self.request(&query, &url, limit + 1);
        let timeout = self.options.request_timeout * 3;
        let response = match get(&req, Instant::now() + timeout, timeout).await {
            Ok(r) => r,
            Err(e) => {
                self.list_continue = None;
                return Next::Failed(e.into());
            }
        };
        if response.status == 410 && !first {
            // The continue token expired: the list starts again.
            info!(
                path = self.collection.path,
                "the list's continue token expired; listing again"
            );
            self.list_continue = None;
            return Next::Continue;
        }
        if response.status != 200 {
            self.list_continue = None;
            return Next::Failed(WatchError::Status {
                url,
                status: response.status,
                message: status_message(&response.body),
            });
        }
        if response.body.len() > limit {
            self.list_continue = None;
            self.page_size = (self.page_size / 4).max(1);
            return Next::Failed(WatchError::PageTooLarge {
                path: self.collection.path.clone(),
                limit,
                page_size: self.page_size,
            });
        }
        let page: List<T> = match serde_json::from_slice(&response.body) {
            Ok(p) => p,
            Err(e) => {
                self.list_continue = None;
                return Next::Failed(WatchError::Decode {
                    path: self.collection.path.clone(),
                    message: format!("the list is not a list of objects: {e}"),
                });
            }
        };
        if first {
            self.queue.push_back(Event::Init);
        }
        self.queue
            .extend(page.items.into_iter().map(Event::InitApply));
        if page.metadata.continue_token.is_empty() {
            self.list_continue = None;
            self.queue.push_back(Event::InitDone);
            self.resource_version = Some(page.metadata.resource_version);
            self.fresh_list = true;
            self.backoff.reset();
            debug!(
                path = self.collection.path,
                resource_version = self.resource_version,
                "listed"
            );
        } else {
            self.list_continue = Some(page.metadata.continue_token);
        }
        Next::Continue
    }
}

/// The message of a `Status` answer, else the start of the body.
fn status_message(body: &[u8]) -> String {
    match serde_json::from_slice::<StatusBody>(body) {
        Ok(s) if !s.message.is_empty() => bounded(&s.message),
        _ => bounded(&String::from_utf8_lossy(body)),
    }
}

/// The first line of `text`, at most 200 characters.
fn bounded(text: &str) -> String {
    const MAX: usize = 200;
    let line = text.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line.to_owned(),
    }
}

/// `text` percent-encoded for a query value: unreserved characters as they are.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Backoff, bounded, encode, status_message};

    #[test]
    fn backoff_doubles_up_to_five_seconds_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 4000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay().as_millis(), 500);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("app=vipd,tier in (a,b)"),
            "app%3Dvipd%2Ctier%20in%20%28a%2Cb%29"
        );
        assert_eq!(
            encode("node-role.kubernetes.io/control-plane"),
            "node-role.kubernetes.io%2Fcontrol-plane"
        );
        assert_eq!(encode("123"), "123");
    }

    #[test]
    fn error_answers_give_their_message_bounded() {
        assert_eq!(
            status_message(br#"{"kind":"Status","code":403,"message":"pods is forbidden"}"#),
            "pods is forbidden"
        );
        assert_eq!(status_message(b"plain text\nsecond line"), "plain text");
        let long = "x".repeat(500);
        assert_eq!(bounded(&long).len(), 203);
        assert_eq!(bounded("é".repeat(300).as_str()).chars().count(), 203);
    }
}
