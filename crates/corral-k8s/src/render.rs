//! Pure rendering of a CT's Kubernetes objects from its spec.
//!
//! Every object is snapshotted with insta (`tests` below), for both storage
//! modes with default and non-default options.

use std::collections::BTreeMap;

use corral_core::entrypoint::{
    self, IDLE, PRIVILEGED_MAIN, ROOTFS_MOUNT, SEED, STOP_GRACE_SECONDS,
};
use corral_core::record::{self, MAIN_CONTAINER, SEED_CONTAINER};
use corral_core::spec::NODE_TAINT_KEY;
use corral_core::{CtSpec, StorageMode};
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, Container, EnvVar, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServicePort, ServiceSpec,
    Toleration, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Name of the pod volume that mounts the CT's claim.
const VOLUME: &str = "ct-volume";
/// Uid/gid an unprivileged CT runs as (and owns `/data` through fsGroup).
pub const UNPRIVILEGED_UID: i64 = 1000;

fn meta(spec: &CtSpec, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(spec.id.namespace.to_string()),
        labels: Some(record::labels(&spec.id.name)),
        ..Default::default()
    }
}

/// The record and volume: a PVC carrying the spec (ADR-0001).
pub fn claim(spec: &CtSpec) -> PersistentVolumeClaim {
    let mut m = meta(spec, spec.id.name.to_string());
    m.annotations = Some(record::encode(spec));
    PersistentVolumeClaim {
        metadata: m,
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".into(),
                    Quantity(spec.disk.to_string()),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The CT's Service: selects the pod by its own labels. Port 22 (ssh) is
/// declared because a Service needs one; the pod's other ports are reached
/// through the pod IP or a Service of the user's own.
pub fn service(spec: &CtSpec) -> Service {
    Service {
        metadata: meta(spec, record::service_name(&spec.id.name)),
        spec: Some(ServiceSpec {
            selector: Some(record::labels(&spec.id.name)),
            ports: Some(vec![ServicePort {
                name: Some("ssh".into()),
                port: 22,
                target_port: Some(IntOrString::Int(22)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

fn sh(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

/// The CT's pod.
pub fn pod(spec: &CtSpec) -> Pod {
    let mut m = meta(spec, spec.id.name.to_string());
    m.annotations = Some(BTreeMap::from([(
        "kubectl.kubernetes.io/default-container".to_string(),
        MAIN_CONTAINER.to_string(),
    )]));
    let limits = BTreeMap::from([
        ("cpu".to_string(), Quantity(spec.cpu.to_string())),
        ("memory".to_string(), Quantity(spec.memory.to_string())),
    ]);
    let resources = ResourceRequirements {
        requests: Some(limits.clone()),
        limits: Some(limits),
        ..Default::default()
    };
    let mount = |path: &str| VolumeMount {
        name: VOLUME.into(),
        mount_path: path.into(),
        ..Default::default()
    };
    let base = Container {
        name: MAIN_CONTAINER.into(),
        image: Some(spec.image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        resources: Some(resources.clone()),
        ..Default::default()
    };
    let (security, init, main) = match spec.mode {
        StorageMode::Unprivileged => (
            PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(UNPRIVILEGED_UID),
                run_as_group: Some(UNPRIVILEGED_UID),
                fs_group: Some(UNPRIVILEGED_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            None,
            Container {
                command: Some(sh(IDLE)),
                env: Some(vec![
                    env("HOME", "/data"),
                    env("CORRAL_CT", spec.id.name.as_str()),
                ]),
                working_dir: Some("/data".into()),
                volume_mounts: Some(vec![mount("/data")]),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".into()]),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..base
            },
        ),
        StorageMode::Privileged => {
            let root = SecurityContext {
                run_as_user: Some(0),
                run_as_group: Some(0),
                run_as_non_root: Some(false),
                ..Default::default()
            };
            let seed = Container {
                name: SEED_CONTAINER.into(),
                command: Some(sh(SEED)),
                volume_mounts: Some(vec![mount(ROOTFS_MOUNT)]),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    ..root.clone()
                }),
                ..base.clone()
            };
            let main = Container {
                command: Some(sh(PRIVILEGED_MAIN)),
                env: Some(vec![
                    env("HOME", "/root"),
                    env("CORRAL_CT", spec.id.name.as_str()),
                ]),
                volume_mounts: Some(vec![mount(ROOTFS_MOUNT)]),
                security_context: Some(SecurityContext {
                    privileged: Some(false),
                    capabilities: Some(Capabilities {
                        add: Some(vec!["SYS_ADMIN".into(), "SYS_CHROOT".into()]),
                        ..Default::default()
                    }),
                    app_armor_profile: Some(AppArmorProfile {
                        type_: "Unconfined".into(),
                        ..Default::default()
                    }),
                    ..root
                }),
                ..base
            };
            (
                PodSecurityContext {
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Some(vec![seed]),
                main,
            )
        }
    };
    Pod {
        metadata: m,
        spec: Some(PodSpec {
            hostname: Some(spec.id.name.to_string()),
            restart_policy: Some("Always".into()),
            termination_grace_period_seconds: Some(STOP_GRACE_SECONDS),
            enable_service_links: Some(false),
            automount_service_account_token: Some(false),
            // A pinned CT selects its node by the label every kubelet sets,
            // and tolerates that node's "only pinned CTs" taint, if any.
            node_selector: spec
                .node
                .as_ref()
                .map(|n| BTreeMap::from([("kubernetes.io/hostname".to_string(), n.to_string())])),
            tolerations: spec.node.as_ref().map(|n| {
                vec![Toleration {
                    key: Some(NODE_TAINT_KEY.into()),
                    operator: Some("Equal".into()),
                    value: Some(n.to_string()),
                    effect: Some("NoSchedule".into()),
                    ..Default::default()
                }]
            }),
            security_context: Some(security),
            init_containers: init,
            containers: vec![main],
            volumes: Some(vec![Volume {
                name: VOLUME.into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: spec.id.name.to_string(),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The argv for a console session in this CT (see [`entrypoint::console_command`]).
pub fn console_argv(mode: StorageMode) -> Vec<String> {
    entrypoint::console_command(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::{CreateCtInput, CreateCtRequest};

    fn spec(name: &str, image: &str, privileged: bool, custom: bool) -> CtSpec {
        let mut i = CreateCtInput {
            namespace: "default".into(),
            name: name.into(),
            image: image.into(),
            privileged,
            ..Default::default()
        };
        if custom {
            i.namespace = "team-a".into();
            i.cpu = Some("2.5".into());
            i.memory = Some("1.5Gi".into());
            i.disk = Some("20Gi".into());
            i.node = Some("corral-node".into());
        }
        CreateCtRequest::validate(&i).unwrap().spec
    }

    #[test]
    fn rendered_objects() {
        let cases = [
            ("unprivileged_default", spec("web1", "alpine", false, false)),
            (
                "unprivileged_custom",
                spec("web2", "ghcr.io/acme/tools:1.2", false, true),
            ),
            (
                "privileged_default",
                spec("devbox", "debian:bookworm", true, false),
            ),
            (
                "privileged_custom",
                spec("9box", "quay.io/fedora/fedora:40", true, true),
            ),
        ];
        for (name, s) in cases {
            let all = serde_yaml::to_string(&(claim(&s), service(&s), pod(&s))).unwrap();
            insta::assert_snapshot!(name, all);
        }
    }

    #[test]
    fn unprivileged_pod_meets_restricted_by_construction() {
        let p = pod(&spec("web1", "alpine", false, false));
        let ps = p.spec.unwrap();
        let psc = ps.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        let c = &ps.containers[0];
        let sc = c.security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.unwrap().drop.unwrap(),
            vec!["ALL".to_string()]
        );
    }
}
