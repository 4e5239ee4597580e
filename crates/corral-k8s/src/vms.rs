//! KubeVirt VirtualMachineInstances, read-only: corral lists VMs beside CTs
//! (tree, TUI) and tells them apart by name (console), but does not manage them.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};

/// A VMI as corral shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `status.phase`, or "Unknown".
    pub phase: String,
    /// `status.nodeName`.
    pub node: Option<String>,
}

/// The VirtualMachineInstance resource (group `kubevirt.io`).
pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubevirt.io", "v1", "VirtualMachineInstance"),
        "virtualmachineinstances",
    )
}

/// VMIs the caller may list in `namespace` (or everywhere); none where KubeVirt is not installed.
pub async fn list(client: &kube::Client, namespace: Option<&str>) -> Vec<VmInfo> {
    let ar = resource();
    let api: kube::Api<DynamicObject> = match namespace {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &ar),
        None => kube::Api::all_with(client.clone(), &ar),
    };
    let Ok(list) = api.list(&Default::default()).await else {
        return Vec::new();
    };
    list.items
        .into_iter()
        .map(|o| VmInfo {
            namespace: o.metadata.namespace.clone().unwrap_or_default(),
            name: o.metadata.name.clone().unwrap_or_default(),
            phase: o.data["status"]["phase"]
                .as_str()
                .unwrap_or("Unknown")
                .to_string(),
            node: o.data["status"]["nodeName"].as_str().map(str::to_string),
        })
        .collect()
}
