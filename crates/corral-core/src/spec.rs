//! What a CT is: its validated create request, its storage mode and the
//! rules that tie a mode to an image.

use serde::{Deserialize, Serialize};

use crate::image::{ImageError, ImageRef};
use crate::name::{CtName, CtRef, NameError, Namespace, NodeName};
use crate::quantity::{Bytes, Cpu, QuantityError};

/// Where a CT's data lives and what survives Stop/Start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum StorageMode {
    /// A volume at `/data` only; the pod passes Pod Security "restricted".
    /// Everything outside `/data` resets to the image on every start.
    Unprivileged,
    /// The volume becomes the root filesystem: seeded once from the image
    /// (`cp -a --one-file-system`), then chrooted into. Needs CAP_SYS_ADMIN
    /// and CAP_SYS_CHROOT.
    Privileged,
}

impl StorageMode {
    /// The word shown in tables and stored in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageMode::Unprivileged => "unprivileged",
            StorageMode::Privileged => "privileged",
        }
    }

    /// Where the CT's volume is mounted in the pod.
    pub fn volume_mount_path(self) -> &'static str {
        match self {
            StorageMode::Unprivileged => "/data",
            StorageMode::Privileged => crate::entrypoint::ROOTFS_MOUNT,
        }
    }
}

/// Everything the cluster needs to (re)make a CT's pod. This is the durable
/// record (ADR-0001): written once at create, read back at every start.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CtSpec {
    /// Namespace and name.
    #[serde(flatten)]
    pub id: CtRef,
    /// Normalised image reference.
    pub image: ImageRef,
    /// CPU request and limit.
    pub cpu: Cpu,
    /// Memory request and limit.
    pub memory: Bytes,
    /// Size of the CT's volume.
    pub disk: Bytes,
    /// Storage mode.
    pub mode: StorageMode,
    /// The node the CT is pinned to, as a Proxmox guest belongs to one node:
    /// its pod selects that node by `kubernetes.io/hostname` and tolerates
    /// the node's [`NODE_TAINT_KEY`] taint. `None`: the scheduler chooses.
    /// Absent from records written before it existed (same version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeName>,
}

/// Taint key of nodes set aside for CTs pinned to them: a node tainted
/// `corral.dev/node=<its name>:NoSchedule` takes only CTs created with
/// `--node <its name>` (the local cluster's real node is one).
pub const NODE_TAINT_KEY: &str = "corral.dev/node";

/// Unvalidated create input, as a frontend collected it (strings straight
/// from flags or a JSON body). `None` means "use the default".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateCtInput {
    /// Namespace.
    pub namespace: String,
    /// CT name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// CPU quantity; default 1.
    pub cpu: Option<String>,
    /// Memory quantity; default 512Mi.
    pub memory: Option<String>,
    /// Disk quantity; default 5Gi.
    pub disk: Option<String>,
    /// Privileged storage mode.
    pub privileged: bool,
    /// Node to pin the CT to; `None` lets the scheduler choose.
    pub node: Option<String>,
}

/// Why a create request was refused before any IO.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The CT name or namespace is not a DNS-1123 label.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A CPU, memory or disk quantity is malformed or out of range.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
    /// The image reference is malformed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Privileged mode was asked for with an image that cannot seed a rootfs.
    #[error(
        "--privileged cannot use image {image}: {why}; use a full OS image such as docker.io/library/debian:bookworm, ubuntu or fedora, or drop --privileged"
    )]
    PrivilegedImage {
        /// The normalised image.
        image: String,
        /// Why it cannot work.
        why: &'static str,
    },
}

impl SpecError {
    /// The input field the error is about, for UIs that show errors by field.
    pub fn field(&self) -> &'static str {
        match self {
            SpecError::Name(e) if e.field == "namespace" => "namespace",
            SpecError::Name(e) if e.field == "node" => "node",
            SpecError::Name(_) => "name",
            SpecError::Quantity(e) => match e.field {
                "--cpu" => "cpu",
                "--mem" => "memory",
                _ => "disk",
            },
            SpecError::Image(_) | SpecError::PrivilegedImage { .. } => "image",
        }
    }
}

/// How well an image is known to work as a privileged (seeded) rootfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivilegedFit {
    /// A full OS image with chroot and GNU cp (debian, ubuntu, fedora…).
    Known,
    /// Not recognised: allowed, and the entrypoint checks for `chroot` and
    /// GNU `cp` at first boot, failing with a message if they are missing.
    Unknown,
}

const BUSYBOX_LIKE: [&str; 4] = ["alpine", "busybox", "distroless", "scratch"];
const KNOWN_OS: [&str; 12] = [
    "debian",
    "ubuntu",
    "fedora",
    "centos",
    "rockylinux",
    "almalinux",
    "archlinux",
    "opensuse",
    "leap",
    "tumbleweed",
    "oraclelinux",
    "amazonlinux",
];

/// The privileged-mode image rule: alpine/busybox-like images are refused
/// (no chroot by default, busybox `cp` does not honour `-a` reliably),
/// known OS images pass, anything else passes as [`PrivilegedFit::Unknown`].
pub fn privileged_fit(image: &ImageRef) -> Result<PrivilegedFit, SpecError> {
    let name = image.short_name();
    let tag = image.tag.as_deref().unwrap_or("");
    let refused = BUSYBOX_LIKE
        .iter()
        .any(|b| image.repository.contains(b) || tag.contains(b));
    if refused {
        return Err(SpecError::PrivilegedImage {
            image: image.to_string(),
            why: "alpine, busybox and distroless images have no chroot and no GNU cp -a to seed the root filesystem",
        });
    }
    if KNOWN_OS.contains(&name) {
        Ok(PrivilegedFit::Known)
    } else {
        Ok(PrivilegedFit::Unknown)
    }
}

/// A create request that passed every rule that needs no IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCtRequest {
    /// The CT to make.
    pub spec: CtSpec,
    /// Things the user should know but that do not stop the create.
    pub warnings: Vec<String>,
}

impl CreateCtRequest {
    /// Validates raw input. Every error names the field, the bad value and what to do.
    pub fn validate(input: &CreateCtInput) -> Result<Self, SpecError> {
        let namespace = Namespace::new(input.namespace.clone())?;
        let name = CtName::new(input.name.clone())?;
        let image = ImageRef::parse(&input.image)?;
        let node = input.node.clone().map(NodeName::new).transpose()?;
        let cpu = input
            .cpu
            .as_deref()
            .map(Cpu::parse)
            .transpose()?
            .unwrap_or(Cpu::DEFAULT);
        let memory = input
            .memory
            .as_deref()
            .map(Bytes::parse_memory)
            .transpose()?
            .unwrap_or(Bytes::DEFAULT_MEMORY);
        let disk = input
            .disk
            .as_deref()
            .map(Bytes::parse_disk)
            .transpose()?
            .unwrap_or(Bytes::DEFAULT_DISK);
        let mut warnings = Vec::new();
        let mode = if input.privileged {
            if privileged_fit(&image)? == PrivilegedFit::Unknown {
                warnings.push(format!(
                    "image {image} is not a known full OS image; first boot will fail with a clear message if it lacks chroot or GNU cp"
                ));
            }
            StorageMode::Privileged
        } else {
            StorageMode::Unprivileged
        };
        Ok(CreateCtRequest {
            spec: CtSpec {
                id: CtRef::new(namespace, name),
                image,
                cpu,
                memory,
                disk,
                mode,
                node,
            },
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, image: &str) -> CreateCtInput {
        CreateCtInput {
            namespace: "default".into(),
            name: name.into(),
            image: image.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_applied() {
        let r = CreateCtRequest::validate(&input("web1", "alpine")).unwrap();
        assert_eq!(r.spec.cpu, Cpu::DEFAULT);
        assert_eq!(r.spec.memory.to_string(), "512Mi");
        assert_eq!(r.spec.disk.to_string(), "5Gi");
        assert_eq!(r.spec.mode, StorageMode::Unprivileged);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn privileged_image_rule() {
        let cases = [
            ("debian:bookworm", Some(true)),
            ("ubuntu:24.04", Some(true)),
            ("quay.io/fedora/fedora:40", Some(true)),
            ("example.com/custom/os:1", None),
            ("alpine", Some(false)),
            ("alpine:3.20", Some(false)),
            ("busybox:1.36", Some(false)),
            ("python:3.12-alpine", Some(false)),
            ("gcr.io/distroless/base", Some(false)),
        ];
        for (image, known) in cases {
            let mut i = input("devbox", image);
            i.privileged = true;
            let r = CreateCtRequest::validate(&i);
            match known {
                Some(true) => assert!(r.unwrap().warnings.is_empty(), "{image}"),
                None => assert_eq!(r.unwrap().warnings.len(), 1, "{image}"),
                Some(false) => {
                    let e = r.unwrap_err();
                    assert_eq!(e.field(), "image");
                    assert!(e.to_string().contains("use a full OS image"), "{e}");
                }
            }
        }
    }

    #[test]
    fn errors_name_their_field() {
        let mut cases: Vec<(CreateCtInput, &str)> = Vec::new();
        cases.push((input("Web_1", "alpine"), "name"));
        let mut i = input("web1", "alpine");
        i.namespace = "Bad_NS".into();
        cases.push((i, "namespace"));
        cases.push((input("web1", "Alpine"), "image"));
        let mut i = input("web1", "alpine");
        i.cpu = Some("0".into());
        cases.push((i, "cpu"));
        let mut i = input("web1", "alpine");
        i.memory = Some("512".into());
        cases.push((i, "memory"));
        let mut i = input("web1", "alpine");
        i.disk = Some("-5Gi".into());
        cases.push((i, "disk"));
        for bad in ["Node1", "node_1", "-node", "a..b", "node."] {
            let mut i = input("web1", "alpine");
            i.node = Some(bad.into());
            cases.push((i, "node"));
        }
        for (i, field) in cases {
            assert_eq!(CreateCtRequest::validate(&i).unwrap_err().field(), field);
        }
    }

    #[test]
    fn node_names_may_be_subdomains() {
        for good in ["corral-node", "worker-1.example.com", "n"] {
            let mut i = input("web1", "alpine");
            i.node = Some(good.into());
            let r = CreateCtRequest::validate(&i).unwrap();
            assert_eq!(r.spec.node.as_ref().map(|n| n.as_str()), Some(good));
        }
    }

    #[test]
    fn privileged_alpine_message() {
        let mut i = input("devbox", "alpine");
        i.privileged = true;
        insta::assert_snapshot!(CreateCtRequest::validate(&i).unwrap_err().to_string(), @"--privileged cannot use image docker.io/library/alpine:latest: alpine, busybox and distroless images have no chroot and no GNU cp -a to seed the root filesystem; use a full OS image such as docker.io/library/debian:bookworm, ubuntu or fedora, or drop --privileged");
    }
}
