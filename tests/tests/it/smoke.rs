//! The local cluster itself: version, admission, volumes, exec, identities.

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use tokio::io::AsyncReadExt;

use crate::common::cluster;

#[tokio::test]
async fn apiserver_reports_the_pinned_version() {
    let Some(c) = cluster() else { return };
    let v = c.client().await.apiserver_version().await.unwrap();
    assert_eq!(v.git_version, "v1.36.3");
}

const COMPLIANT: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: vol}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: ok}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: c
    image: docker.io/library/alpine:latest
    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: vol}}]
"#;

const VIOLATING: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers:
  - name: c
    image: docker.io/library/alpine:latest
    securityContext: {privileged: true}
"#;

fn apply(c: &crate::common::Cluster, ns: &str, yaml: &str) -> crate::common::Run {
    let f = std::env::temp_dir().join(format!("corral-smoke-{ns}-{}.yaml", yaml.len()));
    std::fs::write(&f, yaml).unwrap();
    c.kubectl(&["apply", "-n", ns, "-f", f.to_str().unwrap()])
}

#[tokio::test]
async fn restricted_namespace_admits_compliant_pods_with_volumes_and_rejects_others() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("psa", &["pod-security.kubernetes.io/enforce=restricted"]);
    let bad = apply(&c, &ns.name, VIOLATING);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("violates PodSecurity"), "{bad:?}");
    let ok = apply(&c, &ns.name, COMPLIANT);
    assert_eq!(ok.code, 0, "{ok:?}");
    let w = c.kubectl(&[
        "wait",
        "-n",
        &ns.name,
        "--for=condition=Ready",
        "pod/ok",
        "--timeout=60s",
    ]);
    assert_eq!(w.code, 0, "{w:?}");
    let pvc = c.kubectl(&[
        "get",
        "pvc",
        "vol",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.status.phase}",
    ]);
    assert_eq!(pvc.stdout, "Bound");
    let node = c.kubectl(&[
        "get",
        "pod",
        "ok",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.nodeName}",
    ]);
    assert!(node.stdout.starts_with("kwok-node-"), "{node:?}");
}

#[tokio::test]
async fn exec_reaches_a_local_command_through_the_apiserver() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("exec", &[]);
    assert_eq!(apply(&c, &ns.name, COMPLIANT).code, 0);
    let w = c.kubectl(&[
        "wait",
        "-n",
        &ns.name,
        "--for=condition=Ready",
        "pod/ok",
        "--timeout=60s",
    ]);
    assert_eq!(w.code, 0, "{w:?}");

    let ok = c.kubectl(&[
        "exec",
        "-n",
        &ns.name,
        "ok",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (ok.code, ok.stdout.as_str(), ok.stderr.as_str()),
        (0, "out\n", "err\n")
    );
    // kwok reports a non-zero exit as a failure that carries the status.
    let fail = c.kubectl(&["exec", "-n", &ns.name, "ok", "--", "sh", "-c", "exit 3"]);
    assert_ne!(fail.code, 0);
    assert!(fail.stderr.contains("exit status 3"), "{fail:?}");

    let pods: kube::Api<Pod> = kube::Api::namespaced(c.client().await, &ns.name);
    let mut p = pods
        .exec(
            "ok",
            ["sh", "-c", "echo from-kube"],
            &AttachParams::default().stderr(false),
        )
        .await
        .unwrap();
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    let status = p.take_status().unwrap().await.unwrap();
    assert_eq!(out, "from-kube\n");
    assert_eq!(status.status.as_deref(), Some("Success"));
}

#[test]
fn non_admin_user_has_edit_in_its_namespace_only() {
    let Some(c) = cluster() else { return };
    let dev = |args: &[&str]| -> crate::common::Run {
        std::process::Command::new(&c.kubectl)
            .arg("--kubeconfig")
            .arg(&c.dev)
            .args(args)
            .output()
            .unwrap()
            .into()
    };
    let cases: [(&[&str], bool); 4] = [
        (
            &["auth", "can-i", "create", "pods", "-n", "corral-dev"],
            true,
        ),
        (
            &[
                "auth",
                "can-i",
                "create",
                "persistentvolumeclaims",
                "-n",
                "corral-dev",
            ],
            true,
        ),
        (&["auth", "can-i", "create", "pods", "-n", "default"], false),
        (&["auth", "can-i", "list", "pods", "-A"], false),
    ];
    for (args, allowed) in cases {
        let r = dev(args);
        assert_eq!(r.stdout.trim() == "yes", allowed, "{args:?}: {r:?}");
    }
    let denied = dev(&["get", "pods", "-n", "default"]);
    assert!(denied.stderr.contains("Forbidden"), "{denied:?}");
}
