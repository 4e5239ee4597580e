//! Port traits: what the service layer needs the cluster to do.
//!
//! corral-k8s implements them with kube; unit tests use the mockall mocks.
//! Every method is one cluster-side step, idempotent where noted, so the
//! service can undo exactly what it made.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::lifecycle::Facts;
use crate::name::{CtRef, Namespace, NodeName};
use crate::spec::CtSpec;

/// A boxed error from an adapter, kept as the source of a [`PortError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How a cluster-side step failed, sorted into what a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The object is not there.
    #[error("{what} not found")]
    NotFound {
        /// Kind and name of the missing object.
        what: String,
    },
    /// An object of that name already exists.
    #[error("{what} already exists")]
    AlreadyExists {
        /// Kind and name of the existing object.
        what: String,
    },
    /// RBAC refused the caller.
    #[error("forbidden: {message}")]
    Forbidden {
        /// The apiserver's message (names verb, resource and namespace).
        message: String,
    },
    /// The apiserver did not accept the caller's credentials.
    #[error("not authenticated: {message}")]
    Unauthenticated {
        /// The apiserver's message.
        message: String,
    },
    /// Admission or validation refused the object (Pod Security, quota, schema).
    #[error("refused by the cluster: {message}")]
    Rejected {
        /// The apiserver's message.
        message: String,
    },
    /// The namespace does not exist.
    #[error("namespace {namespace} does not exist")]
    NamespaceMissing {
        /// The namespace.
        namespace: String,
    },
    /// The apiserver could not be reached or timed out.
    #[error("cannot reach the Kubernetes API server")]
    Unreachable {
        /// Transport error.
        #[source]
        source: BoxError,
    },
    /// A record in the cluster could not be read back as a CT.
    #[error("the record of {what} is unreadable: {problem}")]
    BadRecord {
        /// Which record.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Any other apiserver response.
    #[error("Kubernetes API error")]
    Api {
        /// The response.
        #[source]
        source: BoxError,
    },
}

/// The CT's Service as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ServiceInfo {
    /// Service name.
    pub name: String,
    /// Cluster IP, once allocated.
    pub cluster_ip: Option<String>,
}

/// The CT's volume as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VolumeInfo {
    /// PVC name.
    pub name: String,
    /// Storage class.
    pub storage_class: Option<String>,
    /// Bound capacity, once bound.
    pub capacity: Option<String>,
}

/// One CT as read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// The record.
    pub spec: CtSpec,
    /// Facts for the state machine.
    pub facts: Facts,
    /// When the record was made (RFC 3339).
    pub created: Option<String>,
    /// Seconds since the record was made, by the adapter's clock.
    pub age_seconds: Option<u64>,
    /// Node the pod runs on.
    pub node: Option<String>,
    /// Pod IP.
    pub ip: Option<String>,
    /// Pod name, when a pod exists.
    pub pod: Option<String>,
    /// The Service.
    pub service: Option<ServiceInfo>,
    /// The volume.
    pub volume: VolumeInfo,
}

/// A Kubernetes event about one of a CT's objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    /// Normal or Warning.
    pub kind: String,
    /// Short reason (FailedScheduling, Pulled…).
    pub reason: String,
    /// Object kind and name it is about.
    pub object: String,
    /// The message.
    pub message: String,
    /// When it last happened (RFC 3339).
    pub last_seen: Option<String>,
}

/// What the service layer needs from a cluster.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CtPorts: Send + Sync {
    /// Reads one CT; `None` when it has no record.
    async fn get(&self, id: &CtRef) -> Result<Option<Observed>, PortError>;
    /// Lists CTs in one namespace, or in all the caller may list.
    async fn list(&self, namespace: Option<Namespace>) -> Result<Vec<Observed>, PortError>;
    /// Recent events about the CT's pod, volume and Service, oldest first.
    async fn events(&self, id: &CtRef) -> Result<Vec<EventInfo>, PortError>;
    /// Whether `node` is in the cluster: `None` when the caller may not
    /// read nodes (a namespace-scoped user), so nothing can be told.
    async fn node_exists(&self, node: &NodeName) -> Result<Option<bool>, PortError>;
    /// Asks the cluster whether it would admit the CT's pod (server-side
    /// dry run), so a refusal happens before anything is written.
    async fn check_admission(&self, spec: &CtSpec) -> Result<(), PortError>;
    /// Writes the durable record (and with it the volume), marked incomplete.
    async fn create_record(&self, spec: &CtSpec) -> Result<(), PortError>;
    /// Makes the CT's Service; an existing one of ours is kept.
    async fn ensure_service(&self, spec: &CtSpec) -> Result<(), PortError>;
    /// Makes the CT's pod from the record; an existing one is kept.
    async fn ensure_pod(&self, spec: &CtSpec) -> Result<(), PortError>;
    /// Marks the record's create as finished.
    async fn mark_complete(&self, id: &CtRef) -> Result<(), PortError>;
    /// Deletes the pod gracefully; a missing pod is fine.
    async fn delete_pod(&self, id: &CtRef) -> Result<(), PortError>;
    /// Deletes the Service; a missing one is fine.
    async fn delete_service(&self, id: &CtRef) -> Result<(), PortError>;
    /// Deletes the record and the volume; a missing one is fine.
    async fn delete_record(&self, id: &CtRef) -> Result<(), PortError>;
    /// Returns when something about the CT may have changed, or after `timeout`.
    async fn wait_for_change(&self, id: &CtRef, timeout: Duration) -> Result<(), PortError>;
}
