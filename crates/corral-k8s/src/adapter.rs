//! [`KubeCt`]: corral-core's [`CtPorts`] carried out with kube.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use corral_core::lifecycle::{Facts, PodFacts, VolumePhase};
use corral_core::ports::{CtPorts, EventInfo, Observed, PortError, ServiceInfo, VolumeInfo};
use corral_core::record::{self, CT_LABEL, MAIN_CONTAINER, SEED_CONTAINER};
use corral_core::{CtName, CtRef, CtSpec, Namespace, NodeName};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::cache::{ChangeFeed, Lists, authorize};
use crate::error::{is_not_found, port_error};
use crate::render;

/// Page size for list calls; lists page through the apiserver.
pub(crate) const PAGE: u32 = 500;

/// The kube-backed implementation of [`CtPorts`].
#[derive(Clone)]
pub struct KubeCt {
    client: Client,
    /// Where lists come from when not from the apiserver directly
    /// ([`ListCache::ports`](crate::ListCache::ports)).
    lists: Option<Lists>,
}

impl KubeCt {
    /// Wraps a client; lists go to the apiserver.
    pub fn new(client: Client) -> Self {
        KubeCt {
            client,
            lists: None,
        }
    }

    pub(crate) fn with_lists(mut self, lists: Lists) -> Self {
        self.lists = Some(lists);
        self
    }

    /// A feed of changes to the CTs of `namespace` (or of all namespaces)
    /// as this caller sees them, for live views; the caller must be allowed
    /// to list them. With a list cache it ticks after the cache has applied
    /// a change, so a list made on a tick sees it; otherwise each wait is a
    /// watch of its own.
    pub async fn follow(&self, namespace: Option<&Namespace>) -> Result<ChangeFeed, PortError> {
        authorize(&self.client, namespace).await?;
        let rx = match &self.lists {
            Some(l) => l.changes(self, namespace).await,
            None => None,
        };
        Ok(ChangeFeed::new(rx, self.clone(), namespace.cloned()))
    }

    /// Lists straight from the apiserver, a page at a time.
    pub(crate) async fn list_direct(
        &self,
        namespace: Option<Namespace>,
    ) -> Result<Vec<Observed>, PortError> {
        let lp = ListParams::default().labels(&record::selector());
        let ns = namespace.as_ref();
        let (pvc_api, pod_api, svc_api) = (
            self.api_in::<PersistentVolumeClaim>(ns),
            self.api_in::<Pod>(ns),
            self.api_in::<Service>(ns),
        );
        let (pvcs, pods, svcs) = futures::try_join!(
            list_all(&pvc_api, lp.clone(), "persistentvolumeclaims"),
            list_all(&pod_api, lp.clone(), "pods"),
            list_all(&svc_api, lp.clone(), "services"),
        )?;
        Ok(join(&pvcs, &pods, &svcs))
    }

    /// The underlying client (the console needs it for exec).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn api<K>(&self, ns: &Namespace) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns.as_str())
    }

    fn api_in<K>(&self, ns: Option<&Namespace>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        api_in(&self.client, ns)
    }
}

/// An API of namespace `ns`, or of all namespaces.
pub(crate) fn api_in<K>(client: &Client, ns: Option<&Namespace>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as Resource>::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns.as_str()),
        None => Api::all(client.clone()),
    }
}

fn what(kind: &str, id: &CtRef) -> String {
    format!("{kind} {id}")
}

async fn get_opt<K>(api: &Api<K>, name: &str, w: String) -> Result<Option<K>, PortError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(port_error(&w, e)),
    }
}

/// Lists every object matching `lp`, a page at a time.
async fn list_all<K>(api: &Api<K>, lp: ListParams, w: &str) -> Result<Vec<K>, PortError>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut lp = lp.limit(PAGE);
    loop {
        let page = api.list(&lp).await.map_err(|e| port_error(w, e))?;
        let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        out.extend(page.items);
        match next {
            Some(c) => lp = lp.continue_token(&c),
            None => return Ok(out),
        }
    }
}

fn ignore_not_found(r: Result<(), kube::Error>, w: String) -> Result<(), PortError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(port_error(&w, e)),
    }
}

/// Facts about a pod for the state machine.
pub fn pod_facts(pod: &Pod) -> PodFacts {
    let none = Default::default();
    let status = pod.status.as_ref().unwrap_or(&none);
    let mut f = PodFacts {
        phase: status.phase.clone().unwrap_or_else(|| "Pending".into()),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ..Default::default()
    };
    let init = status
        .init_container_statuses
        .as_deref()
        .unwrap_or_default();
    f.seeding = init.iter().any(|c| {
        c.name == SEED_CONTAINER && c.state.as_ref().and_then(|s| s.running.as_ref()).is_some()
    });
    let mains = status.container_statuses.as_deref().unwrap_or_default();
    f.ready = mains.iter().any(|c| c.name == MAIN_CONTAINER && c.ready);
    for c in init.iter().chain(mains.iter()) {
        let Some(state) = &c.state else { continue };
        if let Some(w) = &state.waiting {
            let reason = w.reason.clone().unwrap_or_default();
            if !matches!(
                reason.as_str(),
                "" | "ContainerCreating" | "PodInitializing"
            ) {
                f.problem = Some(format!(
                    "{reason}: {}",
                    w.message.clone().unwrap_or_default()
                ));
                break;
            }
        }
        if let Some(t) = &state.terminated
            && t.exit_code != 0
        {
            let msg = t.message.clone().unwrap_or_default();
            f.problem = Some(format!(
                "{}: container {} exited with {}{}",
                t.reason.clone().unwrap_or_else(|| "Error".into()),
                c.name,
                t.exit_code,
                if msg.is_empty() {
                    String::new()
                } else {
                    format!(": {}", msg.trim())
                }
            ));
            break;
        }
    }
    if f.problem.is_none() {
        for cond in status.conditions.as_deref().unwrap_or_default() {
            if cond.type_ == "PodScheduled" && cond.status == "False" {
                f.problem = Some(format!(
                    "{}: {}",
                    cond.reason.as_deref().unwrap_or("Unschedulable"),
                    cond.message.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    f
}

fn volume_phase(pvc: &PersistentVolumeClaim) -> VolumePhase {
    match pvc.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Bound") => VolumePhase::Bound,
        Some("Lost") => VolumePhase::Lost,
        _ => VolumePhase::Pending,
    }
}

/// Joins a CT's objects into what corral-core observes.
pub fn observed(
    pvc: &PersistentVolumeClaim,
    pod: Option<&Pod>,
    svc: Option<&Service>,
) -> Result<Observed, PortError> {
    let ns = pvc.namespace().unwrap_or_default();
    let name = pvc.name_any();
    let bad = |problem: String| PortError::BadRecord {
        what: format!("persistentvolumeclaim {ns}/{name}"),
        problem,
    };
    let id = CtRef::new(
        Namespace::new(ns.clone()).map_err(|e| bad(e.to_string()))?,
        CtName::new(name.clone()).map_err(|e| bad(e.to_string()))?,
    );
    let (spec, complete) =
        record::decode(&id, pvc.annotations()).map_err(|e| bad(e.to_string()))?;
    let pod_status = pod.and_then(|p| p.status.as_ref());
    Ok(Observed {
        facts: Facts {
            record: true,
            record_complete: complete,
            record_deleting: pvc.metadata.deletion_timestamp.is_some(),
            volume: volume_phase(pvc),
            pod: pod.map(pod_facts),
        },
        created: pvc
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
        age_seconds: pvc.metadata.creation_timestamp.as_ref().map(|t| {
            u64::try_from(k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second())
                .unwrap_or(0)
        }),
        node: pod
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.node_name.clone()),
        ip: pod_status.and_then(|s| s.pod_ip.clone()),
        pod: pod.map(ResourceExt::name_any),
        service: svc.map(|s| ServiceInfo {
            name: s.name_any(),
            cluster_ip: s.spec.as_ref().and_then(|s| s.cluster_ip.clone()),
        }),
        volume: VolumeInfo {
            name: name.clone(),
            storage_class: pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()),
            capacity: pvc
                .status
                .as_ref()
                .and_then(|s| s.capacity.as_ref())
                .and_then(|c| c.get("storage"))
                .map(|q| q.0.clone()),
        },
        spec,
    })
}

/// Joins listed claims, pods and Services into CTs, by namespace and CT
/// label. A record that does not read back is skipped in lists (`show`
/// reports it).
pub(crate) fn join<C, P, S>(pvcs: &[C], pods: &[P], svcs: &[S]) -> Vec<Observed>
where
    C: Borrow<PersistentVolumeClaim>,
    P: Borrow<Pod>,
    S: Borrow<Service>,
{
    fn key<K: ResourceExt>(o: &K) -> (&str, &str) {
        (
            o.meta().namespace.as_deref().unwrap_or_default(),
            o.labels()
                .get(CT_LABEL)
                .map(String::as_str)
                .unwrap_or_default(),
        )
    }
    let pods: HashMap<_, &Pod> = pods.iter().map(|p| (key(p.borrow()), p.borrow())).collect();
    let svcs: HashMap<_, &Service> = svcs.iter().map(|s| (key(s.borrow()), s.borrow())).collect();
    pvcs.iter()
        .filter_map(|pvc| {
            let pvc: &PersistentVolumeClaim = pvc.borrow();
            let k = key(pvc);
            observed(pvc, pods.get(&k).copied(), svcs.get(&k).copied()).ok()
        })
        .collect()
}

/// Creates `obj`; an existing object of that name that belongs to this CT counts as made.
async fn create_ours<K>(api: &Api<K>, obj: &K, ct: &CtName, w: String) -> Result<(), PortError>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {
            match get_opt(api, &obj.name_any(), w.clone()).await? {
                Some(existing) if is_ours(&existing, ct) => Ok(()),
                _ => Err(PortError::AlreadyExists {
                    what: format!("{w} (not made by corral for this CT)"),
                }),
            }
        }
        Err(e) => Err(port_error(&w, e)),
    }
}

/// Deletes the named object if it belongs to this CT, guarded by its uid so
/// an object made again in between is not touched. Missing is fine.
async fn delete_ours<K>(api: &Api<K>, name: &str, ct: &CtName, w: String) -> Result<(), PortError>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let uid = match get_opt(api, name, w.clone()).await? {
        Some(o) if is_ours(&o, ct) => o.meta().uid.clone(),
        _ => return Ok(()),
    };
    let dp = DeleteParams {
        preconditions: uid.map(|uid| kube::api::Preconditions {
            uid: Some(uid),
            resource_version: None,
        }),
        ..Default::default()
    };
    let r = api.delete(name, &dp).await.map(|_| ());
    match r {
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        r => ignore_not_found(r, w),
    }
}

fn is_ours<K: ResourceExt>(o: &K, name: &CtName) -> bool {
    o.labels().get(CT_LABEL).map(String::as_str) == Some(name.as_str())
        && o.labels().get(record::MANAGED_BY.0).map(String::as_str) == Some(record::MANAGED_BY.1)
}

#[async_trait]
impl CtPorts for KubeCt {
    async fn get(&self, id: &CtRef) -> Result<Option<Observed>, PortError> {
        let name = id.name.as_str();
        let Some(pvc) = get_opt(
            &self.api::<PersistentVolumeClaim>(&id.namespace),
            name,
            what("persistentvolumeclaim", id),
        )
        .await?
        else {
            return Ok(None);
        };
        if !is_ours(&pvc, &id.name) {
            return Ok(None);
        }
        let (pod_api, svc_api) = (
            self.api::<Pod>(&id.namespace),
            self.api::<Service>(&id.namespace),
        );
        let svc_name = record::service_name(&id.name);
        let (pod, svc) = futures::try_join!(
            get_opt(&pod_api, name, what("pod", id)),
            get_opt(&svc_api, &svc_name, what("service", id)),
        )?;
        let pod = pod.filter(|p| is_ours(p, &id.name));
        let svc = svc.filter(|s| is_ours(s, &id.name));
        observed(&pvc, pod.as_ref(), svc.as_ref()).map(Some)
    }

    async fn list(&self, namespace: Option<Namespace>) -> Result<Vec<Observed>, PortError> {
        match &self.lists {
            Some(l) => l.list(self, namespace).await,
            None => self.list_direct(namespace).await,
        }
    }

    async fn events(&self, id: &CtRef) -> Result<Vec<EventInfo>, PortError> {
        let api = self.api::<Event>(&id.namespace);
        let mut names = vec![id.name.to_string()];
        let svc = record::service_name(&id.name);
        if svc != id.name.as_str() {
            names.push(svc);
        }
        let mut out = Vec::new();
        for n in names {
            let lp = ListParams::default().fields(&format!("involvedObject.name={n}"));
            for e in list_all(&api, lp, "events").await? {
                let kind = e.involved_object.kind.clone().unwrap_or_default();
                if !matches!(kind.as_str(), "Pod" | "PersistentVolumeClaim" | "Service") {
                    continue;
                }
                let when = e
                    .last_timestamp
                    .as_ref()
                    .map(|t| t.0.to_string())
                    .or_else(|| e.event_time.as_ref().map(|t| t.0.to_string()));
                out.push(EventInfo {
                    kind: e.type_.clone().unwrap_or_default(),
                    reason: e.reason.clone().unwrap_or_default(),
                    object: format!("{}/{}", kind.to_lowercase(), n),
                    message: e.message.clone().unwrap_or_default(),
                    last_seen: when,
                });
            }
        }
        out.sort_by(|a, b| a.last_seen.cmp(&b.last_seen));
        let keep = out.len().saturating_sub(10);
        Ok(out.split_off(keep))
    }

    async fn node_exists(&self, node: &NodeName) -> Result<Option<bool>, PortError> {
        let api: Api<Node> = Api::all(self.client.clone());
        match api.get_metadata_opt(node.as_str()).await {
            Ok(found) => Ok(Some(found.is_some())),
            // Namespace-scoped users may not read nodes: nothing to tell.
            Err(kube::Error::Api(s)) if s.code == 403 => Ok(None),
            Err(e) => Err(port_error(&format!("node {node}"), e)),
        }
    }

    async fn check_admission(&self, spec: &CtSpec) -> Result<(), PortError> {
        let pp = PostParams {
            dry_run: true,
            ..Default::default()
        };
        self.api::<Pod>(&spec.id.namespace)
            .create(&pp, &render::pod(spec))
            .await
            .map(|_| ())
            .map_err(|e| port_error(&what("pod", &spec.id), e))
    }

    async fn create_record(&self, spec: &CtSpec) -> Result<(), PortError> {
        self.api::<PersistentVolumeClaim>(&spec.id.namespace)
            .create(&PostParams::default(), &render::claim(spec))
            .await
            .map(|_| ())
            .map_err(|e| port_error(&what("persistentvolumeclaim", &spec.id), e))
    }

    async fn ensure_service(&self, spec: &CtSpec) -> Result<(), PortError> {
        let api = self.api::<Service>(&spec.id.namespace);
        create_ours(
            &api,
            &render::service(spec),
            &spec.id.name,
            what("service", &spec.id),
        )
        .await
    }

    async fn ensure_pod(&self, spec: &CtSpec) -> Result<(), PortError> {
        let api = self.api::<Pod>(&spec.id.namespace);
        create_ours(
            &api,
            &render::pod(spec),
            &spec.id.name,
            what("pod", &spec.id),
        )
        .await
    }

    async fn mark_complete(&self, id: &CtRef) -> Result<(), PortError> {
        let patch = serde_json::json!({"metadata": {"annotations": {record::CREATE_ANNOTATION: "complete"}}});
        self.api::<PersistentVolumeClaim>(&id.namespace)
            .patch(
                id.name.as_str(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| port_error(&what("persistentvolumeclaim", id), e))
    }

    async fn delete_pod(&self, id: &CtRef) -> Result<(), PortError> {
        delete_ours(
            &self.api::<Pod>(&id.namespace),
            id.name.as_str(),
            &id.name,
            what("pod", id),
        )
        .await
    }

    async fn delete_service(&self, id: &CtRef) -> Result<(), PortError> {
        let name = record::service_name(&id.name);
        delete_ours(
            &self.api::<Service>(&id.namespace),
            &name,
            &id.name,
            what("service", id),
        )
        .await
    }

    async fn delete_record(&self, id: &CtRef) -> Result<(), PortError> {
        let api = self.api::<PersistentVolumeClaim>(&id.namespace);
        delete_ours(
            &api,
            id.name.as_str(),
            &id.name,
            what("persistentvolumeclaim", id),
        )
        .await
    }

    async fn wait_for_change(&self, id: &CtRef, timeout: Duration) -> Result<(), PortError> {
        let sel = format!("{CT_LABEL}={}", id.name);
        watch_once(
            &self.api::<Pod>(&id.namespace),
            &self.api::<PersistentVolumeClaim>(&id.namespace),
            &sel,
            timeout,
        )
        .await
    }
}

impl KubeCt {
    /// Returns when any CT in `namespace` (or anywhere) may have changed, or
    /// after `timeout`: one watch of pods and claims, for live views.
    pub async fn wait_for_any_change(
        &self,
        namespace: Option<&Namespace>,
        timeout: Duration,
    ) -> Result<(), PortError> {
        watch_once(
            &self.api_in::<Pod>(namespace),
            &self.api_in::<PersistentVolumeClaim>(namespace),
            &record::selector(),
            timeout,
        )
        .await
    }
}

/// Watches pods and claims matching `sel` from their current resource
/// version; the first event (or the timeout) ends it. No polling loop.
async fn watch_once(
    pods: &Api<Pod>,
    pvcs: &Api<PersistentVolumeClaim>,
    sel: &str,
    timeout: Duration,
) -> Result<(), PortError> {
    let secs = u32::try_from(timeout.as_secs().clamp(1, 290)).unwrap_or(5);
    let lp = ListParams::default().labels(sel).limit(1);
    let (pod_list, pvc_list) = futures::try_join!(
        async {
            pods.list_metadata(&lp)
                .await
                .map_err(|e| port_error("pods", e))
        },
        async {
            pvcs.list_metadata(&lp)
                .await
                .map_err(|e| port_error("persistentvolumeclaims", e))
        },
    )?;
    let wp = WatchParams::default().labels(sel).timeout(secs);
    let pod_rv = pod_list.metadata.resource_version.unwrap_or_default();
    let pvc_rv = pvc_list.metadata.resource_version.unwrap_or_default();
    let (pw, vw) = futures::try_join!(
        async {
            pods.watch_metadata(&wp, &pod_rv)
                .await
                .map_err(|e| port_error("pods", e))
        },
        async {
            pvcs.watch_metadata(&wp, &pvc_rv)
                .await
                .map_err(|e| port_error("persistentvolumeclaims", e))
        },
    )?;
    let mut merged = futures::stream::select(pw.map_ok(|_| ()).boxed(), vw.map_ok(|_| ()).boxed());
    let deadline = tokio::time::sleep(timeout + Duration::from_secs(1));
    tokio::pin!(deadline);
    tokio::select! {
        ev = merged.try_next() => { ev.map_err(|e| port_error("watch", e))?; }
        _ = &mut deadline => {}
    }
    Ok(())
}
