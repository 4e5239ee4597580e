//! A watch-fed cache of CT lists, for long-running servers (corral-api).
//!
//! Listing 10,000 CTs means three lists of 10,000 objects; a server that
//! does that for every request of every client spends the apiserver's CPU
//! on the same answer again and again. [`ListCache`] keeps, per caller and
//! namespace scope, three reflectors (claims, pods and Services carrying
//! corral's labels) fed by watches made **with the caller's own client**, so
//! it never holds anything that caller could not list itself.
//!
//! Each list through a [`KubeCt`] made by [`ListCache::ports`] is still
//! authorized by the apiserver: one
//! `limit=1` list per resource as the caller (three small requests however
//! many CTs there are), then the answer is joined from memory. When the
//! watches cannot start (a caller may list but not watch, say) the list goes
//! to the apiserver directly, as [`KubeCt`] does.
//!
//! Lists from the cache are as fresh as the watches: a change appears once
//! the apiserver has delivered its event (milliseconds on a healthy
//! cluster). [`KubeCt::follow`]'s feed ticks after the cache has applied an
//! event, so a client that re-lists on a tick sees that change. Reads of
//! one CT (`get`) and every write go to the apiserver, as with [`KubeCt`].
//!
//! Entries nobody used for [`IDLE`] (and nobody follows with
//! [`KubeCt::follow`]) are dropped with their watches; at most
//! [`MAX_ENTRIES`] are kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use corral_core::Namespace;
use corral_core::ports::{Observed, PortError};
use corral_core::record;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodSpec, Service, ServiceSpec};
use kube::ResourceExt;
use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

use crate::KubeCt;
use crate::adapter::{PAGE, api_in, join};
use crate::error::port_error;

/// How long an entry nobody uses keeps its watches.
pub const IDLE: Duration = Duration::from_secs(120);
/// Most entries (callers × namespace scopes) kept at once.
pub const MAX_ENTRIES: usize = 64;
/// How long a list waits for a new entry's first full list before it lists directly.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(20);

/// Who is asking, and for which namespace (or all).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Key {
    caller: [u8; 32],
    namespace: Option<Namespace>,
}

/// Where an entry's watches are.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SyncState {
    /// The first full lists are under way.
    Starting,
    /// All three stores hold a full list and follow the watches.
    Ready,
    /// The watches failed before the first full list (the message says why).
    Failed(String),
}

/// One caller's view of one namespace scope.
struct Entry {
    pvcs: Store<PersistentVolumeClaim>,
    pods: Store<Pod>,
    svcs: Store<Service>,
    sync: watch::Receiver<SyncState>,
    /// Counts events applied; receivers follow it.
    changes: watch::Sender<u64>,
    last_used: Mutex<Instant>,
    task: tokio::task::AbortHandle,
    /// The last join, the change count it was made at and when.
    joined: Mutex<Option<Joined>>,
}

/// A join of the stores, reused until the next change.
struct Joined {
    at_change: u64,
    made: Instant,
    cts: Arc<Vec<Observed>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Entry {
    fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last_used
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or(Duration::MAX)
    }

    /// Someone follows this entry's changes (an open event stream).
    fn followed(&self) -> bool {
        self.changes.receiver_count() > 0
    }

    /// The CTs as the stores hold them. The join (record decoding included)
    /// is redone only after a change, and while changes keep coming at most
    /// once per [`JOIN_REUSE`]; ages are brought up to now.
    fn snapshot(&self) -> Vec<Observed> {
        let now = *self.changes.borrow();
        let reuse = self.joined.lock().ok().and_then(|j| {
            j.as_ref()
                .filter(|j| j.at_change == now || j.made.elapsed() < JOIN_REUSE)
                .map(|j| (j.cts.clone(), j.made.elapsed().as_secs()))
        });
        let (cts, later) = match reuse {
            Some(hit) => hit,
            None => {
                let cts = Arc::new(join(
                    &self.pvcs.state(),
                    &self.pods.state(),
                    &self.svcs.state(),
                ));
                if let Ok(mut j) = self.joined.lock() {
                    *j = Some(Joined {
                        at_change: now,
                        made: Instant::now(),
                        cts: cts.clone(),
                    });
                }
                (cts, 0)
            }
        };
        cts.iter()
            .map(|o| {
                let mut o = o.clone();
                o.age_seconds = o.age_seconds.map(|a| a + later);
                o
            })
            .collect()
    }
}

/// The cache shared by every request of a server. Cheap to clone.
#[derive(Clone, Default)]
pub struct ListCache {
    entries: Arc<Mutex<HashMap<Key, Arc<Entry>>>>,
}

impl ListCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A [`KubeCt`] for one caller whose lists come from this cache:
    /// `caller` identifies its credentials (a hash of its token), `client`
    /// carries them.
    pub fn ports(&self, client: kube::Client, caller: [u8; 32]) -> KubeCt {
        KubeCt::new(client).with_lists(Lists {
            cache: self.clone(),
            caller,
        })
    }

    /// How many entries are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops idle entries, then the least recently used unfollowed ones
    /// beyond [`MAX_ENTRIES`].
    fn evict(map: &mut HashMap<Key, Arc<Entry>>) {
        map.retain(|_, e| e.followed() || e.idle_for() < IDLE);
        while map.len() > MAX_ENTRIES {
            let oldest = map
                .iter()
                .filter(|(_, e)| !e.followed())
                .max_by_key(|(_, e)| e.idle_for())
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    map.remove(&k);
                }
                None => break,
            }
        }
    }

    /// The entry for `key`, started with `client` if there was none.
    fn entry(&self, key: &Key, client: &kube::Client) -> Option<Arc<Entry>> {
        let mut map = self.entries.lock().ok()?;
        Self::evict(&mut map);
        if let Some(e) = map.get(key) {
            e.touch();
            return Some(e.clone());
        }
        let first = map.is_empty();
        let e = Arc::new(start(client, key.namespace.as_ref()));
        map.insert(key.clone(), e.clone());
        // The new entry is the most recently used: never the one evicted.
        Self::evict(&mut map);
        drop(map);
        if first {
            self.spawn_reaper();
        }
        Some(e)
    }

    /// Removes `key` if it still holds `entry`.
    fn forget(&self, key: &Key, entry: &Arc<Entry>) {
        if let Ok(mut map) = self.entries.lock()
            && map.get(key).is_some_and(|e| Arc::ptr_eq(e, entry))
        {
            map.remove(key);
        }
    }

    /// Evicts idle entries even when no request comes; ends with the cache
    /// or when it is empty (the next entry starts a new one).
    fn spawn_reaper(&self) {
        let weak: Weak<Mutex<HashMap<Key, Arc<Entry>>>> = Arc::downgrade(&self.entries);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IDLE / 4).await;
                let Some(entries) = weak.upgrade() else {
                    return;
                };
                let Ok(mut map) = entries.lock() else { return };
                Self::evict(&mut map);
                if map.is_empty() {
                    return;
                }
            }
        });
    }

    /// A ready entry for `key`, or `None` when its watches could not start
    /// in time (the caller then lists directly).
    async fn ready(&self, key: &Key, client: &kube::Client) -> Option<Arc<Entry>> {
        let e = self.entry(key, client)?;
        let mut sync = e.sync.clone();
        let outcome = tokio::time::timeout(
            SYNC_TIMEOUT,
            sync.wait_for(|s| !matches!(s, SyncState::Starting)),
        )
        .await;
        match outcome {
            Ok(Ok(s)) if *s == SyncState::Ready => Some(e),
            _ => {
                self.forget(key, &e);
                None
            }
        }
    }
}

/// Keeps what a CT list reads of a claim: no managed fields.
fn slim_pvc(p: &mut PersistentVolumeClaim) {
    p.managed_fields_mut().clear();
}

/// Keeps what a CT list reads of a pod: metadata, node name and status.
fn slim_pod(p: &mut Pod) {
    p.managed_fields_mut().clear();
    p.annotations_mut().clear();
    p.spec = p.spec.take().map(|s| PodSpec {
        node_name: s.node_name,
        ..Default::default()
    });
}

/// Keeps what a CT list reads of a Service: its cluster IP.
fn slim_service(s: &mut Service) {
    s.managed_fields_mut().clear();
    s.annotations_mut().clear();
    s.spec = s.spec.take().map(|s| ServiceSpec {
        cluster_ip: s.cluster_ip,
        ..Default::default()
    });
    s.status = None;
}

/// Starts the three reflectors of one entry on a task of their own.
fn start(client: &kube::Client, ns: Option<&Namespace>) -> Entry {
    let cfg = watcher::Config::default()
        .labels(&record::selector())
        .page_size(PAGE);
    let (pvcs, pvc_w) = reflector::store();
    let (pods, pod_w) = reflector::store();
    let (svcs, svc_w) = reflector::store();
    let streams = futures::stream::select_all([
        watcher(api_in::<PersistentVolumeClaim>(client, ns), cfg.clone())
            .default_backoff()
            .modify(slim_pvc)
            .reflect(pvc_w)
            .map(|r| r.map(|_| ()))
            .boxed(),
        watcher(api_in::<Pod>(client, ns), cfg.clone())
            .default_backoff()
            .modify(slim_pod)
            .reflect(pod_w)
            .map(|r| r.map(|_| ()))
            .boxed(),
        watcher(api_in::<Service>(client, ns), cfg)
            .default_backoff()
            .modify(slim_service)
            .reflect(svc_w)
            .map(|r| r.map(|_| ()))
            .boxed(),
    ]);
    let (sync_tx, sync) = watch::channel(SyncState::Starting);
    let (changes, _) = watch::channel(0u64);
    let ticks = changes.clone();
    let (p, d, s) = (pvcs.clone(), pods.clone(), svcs.clone());
    let task = tokio::spawn(async move {
        let all_ready = async move {
            let _ = futures::join!(
                p.wait_until_ready(),
                d.wait_until_ready(),
                s.wait_until_ready()
            );
        };
        tokio::pin!(all_ready);
        // Errors before the first full lists end the entry; after that the
        // watcher resumes or relists on its own, backing off between
        // attempts (kube-runtime's default backoff).
        let mut streams = streams;
        let mut ready = false;
        loop {
            tokio::select! {
                () = &mut all_ready, if !ready => {
                    ready = true;
                    let _ = sync_tx.send(SyncState::Ready);
                }
                ev = streams.next() => match ev {
                    Some(Ok(())) => ticks.send_modify(|n| *n = n.wrapping_add(1)),
                    Some(Err(e)) if !ready => {
                        let _ = sync_tx.send(SyncState::Failed(e.to_string()));
                        return;
                    }
                    Some(Err(_)) => {}
                    None => return,
                },
            }
        }
    });
    Entry {
        pvcs,
        pods,
        svcs,
        sync,
        changes,
        last_used: Mutex::new(Instant::now()),
        task: task.abort_handle(),
        joined: Mutex::new(None),
    }
}

/// Shortest time between two ticks of a [`ChangeFeed`]: a burst of
/// events is one tick.
pub const TICK: Duration = Duration::from_millis(250);

/// How long a join is reused although changes came in since. At 10,000
/// CTs a join costs tens of milliseconds; while a thousand claims are being
/// bound every request would redo it. Shorter than [`TICK`], so a list made
/// on a tick is joined after the change that caused it.
pub const JOIN_REUSE: Duration = Duration::from_millis(200);
const _: () = assert!(JOIN_REUSE.as_millis() < TICK.as_millis());

enum Feed {
    Cache(watch::Receiver<u64>),
    Watch,
}

/// Changes to the CTs one caller sees; from [`KubeCt::follow`].
pub struct ChangeFeed {
    feed: Feed,
    kube: KubeCt,
    namespace: Option<Namespace>,
}

impl ChangeFeed {
    pub(crate) fn new(
        rx: Option<watch::Receiver<u64>>,
        kube: KubeCt,
        namespace: Option<Namespace>,
    ) -> Self {
        ChangeFeed {
            feed: rx.map_or(Feed::Watch, Feed::Cache),
            kube,
            namespace,
        }
    }
}

impl ChangeFeed {
    /// Returns after the next change, or after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<(), PortError> {
        match &mut self.feed {
            Feed::Cache(rx) => match tokio::time::timeout(timeout, rx.changed()).await {
                Ok(Ok(())) => {
                    tokio::time::sleep(TICK).await;
                    rx.borrow_and_update();
                    Ok(())
                }
                Ok(Err(_)) => {
                    // The cache let the entry go; follow with watches instead.
                    self.feed = Feed::Watch;
                    Ok(())
                }
                Err(_) => Ok(()),
            },
            Feed::Watch => {
                self.kube
                    .wait_for_any_change(self.namespace.as_ref(), timeout)
                    .await
            }
        }
    }
}

/// A [`ListCache`] and the caller a [`KubeCt`] lists for.
#[derive(Clone)]
pub(crate) struct Lists {
    cache: ListCache,
    caller: [u8; 32],
}

impl Lists {
    fn key(&self, namespace: Option<&Namespace>) -> Key {
        Key {
            caller: self.caller,
            namespace: namespace.cloned(),
        }
    }

    /// Lists from the caller's entry, after the apiserver said the caller
    /// may list; lists directly when the entry's watches cannot start.
    pub(crate) async fn list(
        &self,
        kube: &KubeCt,
        namespace: Option<Namespace>,
    ) -> Result<Vec<Observed>, PortError> {
        authorize(kube.client(), namespace.as_ref()).await?;
        match self
            .cache
            .ready(&self.key(namespace.as_ref()), kube.client())
            .await
        {
            Some(e) => Ok(e.snapshot()),
            None => kube.list_direct(namespace).await,
        }
    }

    /// The change feed of the caller's entry, or `None` when its watches
    /// cannot start.
    pub(crate) async fn changes(
        &self,
        kube: &KubeCt,
        namespace: Option<&Namespace>,
    ) -> Option<watch::Receiver<u64>> {
        self.cache
            .ready(&self.key(namespace), kube.client())
            .await
            .map(|e| e.changes.subscribe())
    }
}

/// Asks the apiserver whether the caller may list each of a CT's kinds
/// here: one `limit=1` list each, answered however many CTs there are.
pub(crate) async fn authorize(
    client: &kube::Client,
    ns: Option<&Namespace>,
) -> Result<(), PortError> {
    let lp = ListParams::default().labels(&record::selector()).limit(1);
    futures::try_join!(
        async {
            api_in::<PersistentVolumeClaim>(client, ns)
                .list_metadata(&lp)
                .await
                .map_err(|e| port_error("persistentvolumeclaims", e))
        },
        async {
            api_in::<Pod>(client, ns)
                .list_metadata(&lp)
                .await
                .map_err(|e| port_error("pods", e))
        },
        async {
            api_in::<Service>(client, ns)
                .list_metadata(&lp)
                .await
                .map_err(|e| port_error("services", e))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry last used `ago`, with no watches behind it.
    fn entry_used(ago: Duration) -> Arc<Entry> {
        let (pvcs, _) = reflector::store();
        let (pods, _) = reflector::store();
        let (svcs, _) = reflector::store();
        let (_, sync) = watch::channel(SyncState::Ready);
        Arc::new(Entry {
            pvcs,
            pods,
            svcs,
            sync,
            changes: watch::channel(0).0,
            last_used: Mutex::new(Instant::now() - ago),
            task: tokio::spawn(std::future::pending::<()>()).abort_handle(),
            joined: Mutex::new(None),
        })
    }

    fn key(i: usize) -> Key {
        Key {
            caller: [u8::try_from(i % 256).unwrap_or(0); 32],
            namespace: Namespace::new(format!("ns-{i}")).ok(),
        }
    }

    #[tokio::test]
    async fn a_join_is_reused_until_a_change_and_briefly_after() {
        let e = entry_used(Duration::ZERO);
        let made = |e: &Entry| {
            e.joined
                .lock()
                .ok()
                .and_then(|j| j.as_ref().map(|j| j.made))
        };
        e.snapshot();
        let first = made(&e);
        assert!(first.is_some());
        e.snapshot();
        assert_eq!(made(&e), first, "no change: the join is reused");
        e.changes.send_modify(|n| *n += 1);
        e.snapshot();
        assert_eq!(made(&e), first, "a change within JOIN_REUSE: still reused");
        tokio::time::sleep(JOIN_REUSE + Duration::from_millis(20)).await;
        e.snapshot();
        assert_ne!(
            made(&e),
            first,
            "a change older than JOIN_REUSE: joined again"
        );
        let second = made(&e);
        tokio::time::sleep(JOIN_REUSE + Duration::from_millis(20)).await;
        e.snapshot();
        assert_eq!(made(&e), second, "no change since: reused however old");
    }

    #[tokio::test]
    async fn eviction_drops_idle_and_least_recent_entries_but_never_followed_ones() {
        let mut map = HashMap::new();
        // Idle past IDLE: dropped, unless someone follows it.
        let idle = entry_used(IDLE + Duration::from_secs(1));
        let followed = entry_used(IDLE + Duration::from_secs(1));
        let _follower = followed.changes.subscribe();
        map.insert(key(0), idle.clone());
        map.insert(key(1), followed);
        // MAX_ENTRIES more, used 1..=MAX_ENTRIES seconds ago.
        for i in 0..MAX_ENTRIES {
            map.insert(key(i + 2), entry_used(Duration::from_secs(1 + i as u64)));
        }
        ListCache::evict(&mut map);
        assert_eq!(map.len(), MAX_ENTRIES);
        assert!(!map.contains_key(&key(0)), "an idle entry was kept");
        assert!(map.contains_key(&key(1)), "a followed entry was dropped");
        // The least recently used of the rest went to make room.
        assert!(!map.contains_key(&key(MAX_ENTRIES + 1)));
        assert!(map.contains_key(&key(2)));
        // Dropping an entry stops its watch task.
        let task = idle.task.clone();
        drop(idle);
        for _ in 0..100 {
            if task.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(task.is_finished(), "the watch task outlived its entry");
    }

    #[test]
    fn slimmed_objects_keep_what_a_list_reads() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web1", "namespace": "dev", "labels": {"corral.dev/ct": "web1"},
                "annotations": {"a": "b"}, "managedFields": [{"manager": "kubectl"}]},
            "spec": {"nodeName": "kwok-node-0", "containers": [{"name": "main", "image": "x"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.7"}
        }))
        .expect("a valid object");
        let mut slim = pod.clone();
        slim_pod(&mut slim);
        assert_eq!(
            crate::adapter::pod_facts(&slim),
            crate::adapter::pod_facts(&pod)
        );
        let spec = slim
            .spec
            .as_ref()
            .map(|s| (s.node_name.clone(), s.containers.len()));
        assert_eq!(spec, Some((Some("kwok-node-0".into()), 0)));
        assert!(slim.managed_fields().is_empty());
        assert_eq!(
            slim.labels().get("corral.dev/ct").map(String::as_str),
            Some("web1")
        );
        let mut svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web1", "managedFields": [{"manager": "corral"}]},
            "spec": {"clusterIP": "10.96.0.9", "ports": [{"port": 22}]}
        }))
        .expect("a valid object");
        slim_service(&mut svc);
        assert_eq!(
            svc.spec.and_then(|s| s.cluster_ip),
            Some("10.96.0.9".to_string())
        );
    }
}
