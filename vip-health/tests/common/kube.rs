//! A fake Kubernetes API server over HTTPS: the service-account token and a CA made at test
//! time, `GET` of single objects, and list and watch of collections with real chunked event
//! streams (ADDED, MODIFIED, DELETED, BOOKMARK, and ERROR 410 Gone once the history it
//! would replay has been compacted).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::{Ca, Handler, Reply, Request, Server, TempDir, https_server_on, server_tls};

/// The token the fake API accepts.
pub const TOKEN: &str = "fake-service-account-token";

/// One event kept for replay to watches that start from an older resource version.
struct Kept {
    rv: u64,
    collection: String,
    kind: &'static str,
    object: Value,
}

struct Watcher {
    collection: String,
    selector: Vec<(String, String)>,
    tx: UnboundedSender<Vec<u8>>,
}

#[derive(Default)]
struct State {
    rv: u64,
    /// Objects by collection path (`/api/v1/nodes`) and name.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    history: Vec<Kept>,
    /// Events up to this resource version are forgotten: a watch from before gets 410.
    compacted: u64,
    watchers: Vec<Watcher>,
    /// Requests answered 503 (an API server that is up but failing).
    failing: bool,
    /// The token accepted.
    token: String,
    /// Every watch ends at once, before any event.
    close_watches: bool,
}

/// `labelSelector=a%3Db,c%3Dd` as equality terms.
fn selector(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == "labelSelector")
        .flat_map(|(_, v)| {
            let v = v
                .replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%2F", "/");
            v.split(',')
                .filter_map(|t| t.split_once('=').map(|(a, b)| (a.to_owned(), b.to_owned())))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn matches(object: &Value, selector: &[(String, String)]) -> bool {
    selector
        .iter()
        .all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v.as_str()))
}

fn event_line(kind: &str, object: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    line.push(b'\n');
    line
}

fn gone(rv: u64) -> Vec<u8> {
    event_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired",
                "code": 410, "message": format!("too old resource version: {rv}")}),
    )
}

impl State {
    fn publish(&mut self, collection: &str, kind: &'static str, object: Value) {
        self.watchers.retain(|w| {
            if w.collection != collection || !matches(&object, &w.selector) {
                return !w.tx.is_closed();
            }
            w.tx.send(event_line(kind, &object)).is_ok()
        });
        self.history.push(Kept {
            rv: self.rv,
            collection: collection.to_owned(),
            kind,
            object,
        });
    }

    fn answer(&mut self, r: &Request) -> Reply {
        if r.header("authorization") != Some(&format!("Bearer {}", self.token)) {
            return Reply::json(
                401,
                r#"{"kind":"Status","code":401,"reason":"Unauthorized"}"#.into(),
            );
        }
        if self.failing {
            return Reply::json(
                503,
                r#"{"kind":"Status","code":503,"reason":"ServiceUnavailable"}"#.into(),
            );
        }
        let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        if path == "/healthz" || path == "/livez" {
            return Reply::status(200);
        }
        let sel = selector(query);
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        };
        if let Some(objects) = self.objects.get(path) {
            if param("watch").as_deref() == Some("true") {
                let from: u64 = param("resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let (tx, rx) = unbounded_channel();
                if self.close_watches {
                    return Reply::Stream {
                        status: 200,
                        chunks: rx,
                    };
                }
                if from < self.compacted {
                    let _ = tx.send(gone(from));
                    return Reply::Stream {
                        status: 200,
                        chunks: rx,
                    };
                }
                for kept in &self.history {
                    if kept.rv > from && kept.collection == path && matches(&kept.object, &sel) {
                        let _ = tx.send(event_line(kept.kind, &kept.object));
                    }
                }
                self.watchers.push(Watcher {
                    collection: path.to_owned(),
                    selector: sel,
                    tx,
                });
                return Reply::Stream {
                    status: 200,
                    chunks: rx,
                };
            }
            let kind = if path.ends_with("/nodes") {
                "NodeList"
            } else {
                "PodList"
            };
            let items: Vec<&Value> = objects.values().filter(|o| matches(o, &sel)).collect();
            // Pages of `limit` items; the continue token is `RV-OFFSET` (the list is a
            // snapshot at RV: a token older than the compacted history is 410 Gone).
            let (from_rv, offset) = match param("continue") {
                Some(token) => {
                    let (rv, offset) = token.split_once('-').unwrap();
                    (rv.parse::<u64>().unwrap(), offset.parse::<usize>().unwrap())
                }
                None => (self.rv, 0),
            };
            if param("continue").is_some() && from_rv < self.compacted {
                return Reply::json(
                    410,
                    r#"{"kind":"Status","code":410,"reason":"Expired","message":"The provided continue parameter is too old"}"#.into(),
                );
            }
            let limit = param("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .filter(|l| *l > 0)
                .unwrap_or(usize::MAX);
            let end = offset.saturating_add(limit).min(items.len());
            let page = &items[offset.min(end)..end];
            let mut metadata = json!({"resourceVersion": from_rv.to_string()});
            if end < items.len() {
                metadata["continue"] = json!(format!("{from_rv}-{end}"));
            }
            return Reply::json(
                200,
                json!({"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": page})
                    .to_string(),
            );
        }
        // A single object: `<collection>/<name>`.
        if let Some((collection, name)) = path.rsplit_once('/')
            && let Some(object) = self.objects.get(collection).and_then(|c| c.get(name))
        {
            return Reply::json(200, object.to_string());
        }
        Reply::json(
            404,
            r#"{"kind":"Status","code":404,"reason":"NotFound"}"#.into(),
        )
    }
}

/// The fake API server; stops when dropped.
pub struct FakeKube {
    pub server: Option<Server>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    pub ca_file: PathBuf,
    pub token_file: PathBuf,
    tls: Arc<rustls::ServerConfig>,
    state: Arc<Mutex<State>>,
}

/// The collection path of the pods of `namespace`.
pub fn pods(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods")
}

/// The collection path of the nodes.
pub const NODES: &str = "/api/v1/nodes";

/// A running pod of `namespace` with `labels` and its IPs (several: dual-stack).
pub fn pod(namespace: &str, name: &str, labels: &[(&str, &str)], ips: &[&str]) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let mut status = json!({"phase": "Running"});
    if let Some(first) = ips.first() {
        status["podIP"] = json!(first);
        status["podIPs"] = json!(ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>());
    }
    json!({"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": name, "namespace": namespace, "labels": labels},
           "spec": {"hostNetwork": true}, "status": status})
}

impl FakeKube {
    /// A fake API server on `addr` (port 0: any), with a certificate for its address.
    pub async fn start(addr: SocketAddr) -> Self {
        let dir = TempDir::new();
        let ca = Ca::new("kubernetes");
        let ca_file = dir.write("ca.crt", &ca.pem);
        let token_file = dir.write("token", TOKEN);
        let ip = addr.ip().to_string();
        let leaf = ca.server(&["kubernetes.default.svc", &ip]);
        let tls = server_tls(&leaf, None);
        let state = Arc::new(Mutex::new(State {
            token: TOKEN.to_owned(),
            ..State::default()
        }));
        for collection in [NODES.to_owned(), pods("default")] {
            state.lock().unwrap().objects.entry(collection).or_default();
        }
        let mut fake = Self {
            server: None,
            addr,
            dir,
            ca_file,
            token_file,
            tls,
            state,
        };
        fake.resume().await;
        fake
    }

    fn handler(&self) -> Handler {
        let state = Arc::clone(&self.state);
        Arc::new(move |r: &Request| state.lock().unwrap().answer(r))
    }

    /// Stops listening and ends every watch stream, as an API server that went away.
    pub fn stop(&mut self) {
        self.server = None;
        self.state.lock().unwrap().watchers.clear();
    }

    /// Listens again on the same address, with the same objects and history.
    pub async fn resume(&mut self) {
        let server = https_server_on(self.addr, Arc::clone(&self.tls), self.handler()).await;
        self.addr = server.addr;
        self.server = Some(server);
    }

    /// Answers 503 to every request (`true`), or normally again.
    pub fn set_failing(&self, failing: bool) {
        self.state.lock().unwrap().failing = failing;
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `host: ..., port: ..., token_file: ..., ca_file: ...` for a configuration.
    pub fn endpoint_yaml(&self) -> String {
        format!(
            "host: '{}', port: {}, token_file: '{}', ca_file: '{}'",
            self.addr.ip(),
            self.port(),
            self.token_file.display(),
            self.ca_file.display()
        )
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server
            .as_ref()
            .map(|s| s.requests.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Makes `collection` exist (empty).
    pub fn collection(&self, collection: &str) {
        self.state
            .lock()
            .unwrap()
            .objects
            .entry(collection.to_owned())
            .or_default();
    }

    /// Creates or replaces `object` in `collection` (ADDED or MODIFIED); its new
    /// resource version.
    pub fn put(&self, collection: &str, mut object: Value) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let previous = s
            .objects
            .entry(collection.to_owned())
            .or_default()
            .insert(name, object.clone());
        let kind = if previous.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        s.publish(collection, kind, object);
        rv
    }

    /// Deletes `name` from `collection` (DELETED).
    pub fn delete(&self, collection: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        let Some(mut object) = s.objects.get_mut(collection).and_then(|c| c.remove(name)) else {
            return;
        };
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        s.publish(collection, "DELETED", object);
    }

    /// Sends a BOOKMARK of the current resource version on every watch.
    pub fn bookmark(&self) {
        let mut s = self.state.lock().unwrap();
        let rv = s.rv.to_string();
        s.watchers.retain(|w| {
            let kind = if w.collection.ends_with("/nodes") {
                "Node"
            } else {
                "Pod"
            };
            let object = json!({"kind": kind, "apiVersion": "v1",
                                "metadata": {"resourceVersion": rv}});
            w.tx.send(event_line("BOOKMARK", &object)).is_ok()
        });
    }

    /// Ends every watch stream normally (as the API server does after `timeoutSeconds`).
    pub fn end_watches(&self) {
        self.state.lock().unwrap().watchers.clear();
    }

    /// Forgets the history: every watch gets ERROR 410 Gone and ends, and a watch (or a list
    /// continue token) from an older resource version than the current one gets 410 too, so
    /// the client must list again.
    pub fn expire(&self) {
        let mut s = self.state.lock().unwrap();
        s.compacted = s.rv;
        s.history.clear();
        let rv = s.rv;
        for w in s.watchers.drain(..) {
            let _ = w.tx.send(gone(rv));
        }
    }

    /// Changes `collection` behind the watches' back (no event), as happens while a client
    /// is away and the history is compacted: only a relist sees it.
    pub fn put_silently(&self, collection: &str, mut object: Value) {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        object["metadata"]["resourceVersion"] = json!(s.rv.to_string());
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        s.objects
            .entry(collection.to_owned())
            .or_default()
            .insert(name, object);
    }

    /// The number of watch streams open now.
    pub fn watches(&self) -> usize {
        let mut s = self.state.lock().unwrap();
        s.watchers.retain(|w| !w.tx.is_closed());
        s.watchers.len()
    }

    /// Cuts every watch stream without ending it (no last chunk), as a connection that
    /// breaks.
    pub fn cut_watches(&self) {
        let mut s = self.state.lock().unwrap();
        for w in s.watchers.drain(..) {
            // An empty message: the server drops the connection mid-body.
            let _ = w.tx.send(Vec::new());
        }
    }

    /// Sends `bytes` as they are on every watch stream (a malformed or over-long line).
    pub fn send_raw(&self, bytes: &[u8]) {
        let s = self.state.lock().unwrap();
        for w in &s.watchers {
            let _ = w.tx.send(bytes.to_vec());
        }
    }

    /// Accepts `token` from now on (a rotated service-account token), not the old one.
    pub fn rotate_token(&self, token: &str) {
        self.state.lock().unwrap().token = token.to_owned();
    }

    /// Deletes `name` from `collection` with no event (see [`FakeKube::put_silently`]).
    pub fn delete_silently(&self, collection: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        s.rv += 1;
        if let Some(c) = s.objects.get_mut(collection) {
            c.remove(name);
        }
    }

    /// Ends every watch at once, before any event (`true`), or serves them again.
    pub fn close_watches_at_once(&self, close: bool) {
        self.state.lock().unwrap().close_watches = close;
    }

    /// Forgets every resource version, the current one too: every watch gets ERROR 410, even
    /// from the list just given (a broken API server).
    pub fn forget_every_version(&self) {
        self.state.lock().unwrap().compacted = u64::MAX;
    }
}
