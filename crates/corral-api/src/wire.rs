//! The API's own request and response types. Core types are not the wire
//! format: these convert to and from them, and only these appear in the
//! OpenAPI document.

use corral_core::CreateCtInput;
use corral_core::service::{CtDetails, CtView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of `POST /api/v1/namespaces/{ns}/cts`. Same fields and defaults as `corral ct create`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCt {
    /// CT name: lowercase letters, digits and '-', at most 63 characters.
    #[schema(example = "web1")]
    pub name: String,
    /// OCI image reference.
    #[schema(example = "docker.io/library/alpine:latest")]
    pub image: String,
    /// CPU quantity (default "1").
    #[serde(default)]
    pub cpu: Option<String>,
    /// Memory quantity with a unit (default "512Mi").
    #[serde(default)]
    pub memory: Option<String>,
    /// Disk quantity with a unit (default "5Gi").
    #[serde(default)]
    pub disk: Option<String>,
    /// Privileged storage mode (the volume becomes the root filesystem).
    #[serde(default)]
    pub privileged: bool,
    /// Node to pin the CT to (as `corral ct create --node`); absent: the scheduler chooses.
    #[serde(default)]
    pub node: Option<String>,
}

impl CreateCt {
    /// The core input for a namespace.
    pub fn into_input(self, namespace: &str) -> CreateCtInput {
        CreateCtInput {
            namespace: namespace.to_string(),
            name: self.name,
            image: self.image,
            cpu: self.cpu,
            memory: self.memory,
            disk: self.disk,
            privileged: self.privileged,
            node: self.node,
        }
    }
}

/// One CT.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Ct {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Lifecycle state: Incomplete, Provisioning, Seeding, Starting, Running, Stopping, Stopped, Failed, Deleting.
    pub status: String,
    /// Why it is in that state, when something explains it.
    pub reason: Option<String>,
    /// "unprivileged" or "privileged".
    pub mode: String,
    /// Normalised image reference.
    pub image: String,
    /// CPU.
    pub cpu: String,
    /// Memory.
    pub memory: String,
    /// Disk.
    pub disk: String,
    /// Node the pod runs on.
    pub node: Option<String>,
    /// Pod IP.
    pub ip: Option<String>,
    /// Creation time (RFC 3339).
    pub created: Option<String>,
    /// The CT's Service name.
    pub service: Option<String>,
    /// The Service's cluster IP.
    pub service_ip: Option<String>,
    /// The volume (PVC) name.
    pub volume: String,
}

impl From<CtView> for Ct {
    fn from(v: CtView) -> Self {
        Ct {
            namespace: v.spec.id.namespace.to_string(),
            name: v.spec.id.name.to_string(),
            status: v.status.to_string(),
            reason: v.reason,
            mode: v.spec.mode.as_str().to_string(),
            image: v.spec.image.to_string(),
            cpu: v.spec.cpu.to_string(),
            memory: v.spec.memory.to_string(),
            disk: v.spec.disk.to_string(),
            node: v.node,
            ip: v.ip,
            created: v.created,
            service: v.service.as_ref().map(|s| s.name.clone()),
            service_ip: v.service.and_then(|s| s.cluster_ip),
            volume: v.volume.name,
        }
    }
}

/// A Kubernetes event about a CT's objects.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Event {
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short reason.
    pub reason: String,
    /// Object kind/name.
    pub object: String,
    /// Message.
    pub message: String,
    /// Last seen (RFC 3339).
    pub last_seen: Option<String>,
}

/// One CT with its recent events.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CtWithEvents {
    /// The CT.
    #[serde(flatten)]
    pub ct: Ct,
    /// Recent events, oldest first.
    pub events: Vec<Event>,
}

impl From<CtDetails> for CtWithEvents {
    fn from(d: CtDetails) -> Self {
        CtWithEvents {
            ct: d.view.into(),
            events: d
                .events
                .into_iter()
                .map(|e| Event {
                    type_: e.kind,
                    reason: e.reason,
                    object: e.object,
                    message: e.message,
                    last_seen: e.last_seen,
                })
                .collect(),
        }
    }
}

/// A list of CTs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct CtList {
    /// The CTs, sorted by namespace then name.
    pub items: Vec<Ct>,
}

/// The datacenter tree: cluster → nodes → guests; unscheduled guests apart.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Tree {
    /// The cluster's apiserver version.
    pub cluster: String,
    /// Nodes the caller may list (empty when it may not).
    pub nodes: Vec<TreeNode>,
    /// Guests with no node: stopped CTs, pending pods.
    pub unscheduled: Vec<Guest>,
}

/// A node and its guests.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TreeNode {
    /// Node name.
    pub name: String,
    /// Ready condition.
    pub ready: bool,
    /// Guests on it.
    pub guests: Vec<Guest>,
}

/// A CT (or a KubeVirt VM) in the tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Guest {
    /// "ct" or "vm".
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
}

/// Body of `POST /api/v1/tty-tickets`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRequest {
    /// Namespace of the CT or VM.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A single-use ticket for `/api/tty/{ns}/{name}?ticket=…`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Ticket {
    /// The ticket; valid once, for `expires_in_seconds`.
    pub ticket: String,
    /// Seconds until it expires.
    pub expires_in_seconds: u64,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, for a person.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The input field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
