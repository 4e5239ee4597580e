//! `corral ct` end to end on the local cluster, both modes.

use std::sync::Arc;

use corral_core::ports::CtPorts;
use corral_core::{CreateCtInput, CreateCtRequest};

use crate::common::{Cluster, cluster};

fn json(r: &crate::common::Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{r:?}");
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"))
}

fn status(c: &Cluster, ns: &str, name: &str) -> String {
    let v = json(&c.corral(&["-n", ns, "ct", "show", name, "-o", "json"]));
    v["status"].as_str().unwrap().to_string()
}

fn ok(r: crate::common::Run) -> crate::common::Run {
    assert_eq!(r.code, 0, "{r:?}");
    r
}

#[test]
fn unprivileged_ct_lifecycle_in_a_restricted_namespace() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("life", &["pod-security.kubernetes.io/enforce=restricted"]);
    let n = ns.name.as_str();
    let created = ok(c.corral(&[
        "-n", n, "ct", "create", "web1", "--image", "alpine", "--mem", "256Mi", "--wait",
    ]));
    assert!(created.stderr.contains("web1 is running"), "{created:?}");

    let list = json(&c.corral(&["-n", n, "ct", "list", "-o", "json"]));
    let item = &list["items"][0];
    assert_eq!(item["name"], "web1");
    assert_eq!(item["status"], "Running");
    assert_eq!(item["mode"], "unprivileged");
    assert_eq!(item["image"], "docker.io/library/alpine:latest");
    assert_eq!(item["memory"], "256Mi");
    assert!(item["node"].as_str().unwrap().starts_with("kwok-node-"));

    let table = ok(c.corral(&["-n", n, "ct", "list"]));
    assert!(
        table.stdout.starts_with("NAME   STATUS    MODE "),
        "{table:?}"
    );
    let show = ok(c.corral(&["-n", n, "ct", "show", "web1"]));
    for want in ["Service:   web1", "persistentvolumeclaim/web1", "Scheduled"] {
        assert!(show.stdout.contains(want), "{want}: {show:?}");
    }

    let exec = c.corral(&[
        "-n",
        n,
        "ct",
        "exec",
        "web1",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (exec.code, exec.stdout.as_str(), exec.stderr.as_str()),
        (0, "out\n", "err\n")
    );
    let big = c.corral(&["-n", n, "ct", "exec", "web1", "--", "seq", "1", "200000"]);
    assert_eq!(big.code, 0);
    let expected: String = (1..=200000).map(|i| format!("{i}\n")).collect();
    assert!(
        big.stdout == expected,
        "large output arrived damaged ({} bytes)",
        big.stdout.len()
    );

    ok(c.corral(&["-n", n, "ct", "stop", "web1", "--wait"]));
    assert_eq!(status(&c, n, "web1"), "Stopped");
    assert!(c.names(n, "pods").is_empty());
    assert_eq!(c.names(n, "pvc"), vec!["persistentvolumeclaim/web1"]);
    assert_eq!(c.names(n, "svc"), vec!["service/web1"]);

    ok(c.corral(&["-n", n, "ct", "start", "web1", "--wait"]));
    assert_eq!(status(&c, n, "web1"), "Running");

    ok(c.corral(&["-n", n, "ct", "delete", "web1", "--yes", "--wait"]));
    for kind in ["pods", "pvc", "svc"] {
        assert!(c.names(n, kind).is_empty(), "{kind} left behind");
    }
}

#[test]
fn privileged_ct_seeds_then_runs_and_survives_stop_start() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("priv", &[]);
    let n = ns.name.as_str();
    let created = ok(c.corral(&[
        "-n",
        n,
        "ct",
        "create",
        "devbox",
        "--image",
        "debian:bookworm",
        "--privileged",
        "--wait",
    ]));
    assert!(created.stderr.contains("devbox is running"), "{created:?}");
    let pod = c.kubectl(&["get", "pod", "devbox", "-n", n, "-o", "jsonpath={.spec.initContainers[0].name} {.spec.containers[0].securityContext.capabilities.add}"]);
    assert_eq!(pod.stdout, r#"seed ["SYS_ADMIN","SYS_CHROOT"]"#);
    let uid = c
        .kubectl(&[
            "get",
            "pvc",
            "devbox",
            "-n",
            n,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .stdout;
    ok(c.corral(&["-n", n, "ct", "stop", "devbox", "--wait"]));
    ok(c.corral(&["-n", n, "ct", "start", "devbox", "--wait"]));
    let uid2 = c
        .kubectl(&[
            "get",
            "pvc",
            "devbox",
            "-n",
            n,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .stdout;
    assert_eq!(
        uid, uid2,
        "the volume must be the same one after stop/start"
    );
    let v = json(&c.corral(&["-n", n, "ct", "show", "devbox", "-o", "json"]));
    assert_eq!(v["mode"], "privileged");
}

#[test]
fn a_pod_deleted_behind_corrals_back_shows_stopped_and_starts_again() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("orphan", &[]);
    let n = ns.name.as_str();
    ok(c.corral(&[
        "-n", n, "ct", "create", "pet", "--image", "alpine", "--wait",
    ]));
    let d = c.kubectl(&["delete", "pod", "pet", "-n", n, "--wait=true"]);
    assert_eq!(d.code, 0, "{d:?}");
    assert_eq!(status(&c, n, "pet"), "Stopped");
    ok(c.corral(&["-n", n, "ct", "start", "pet", "--wait"]));
    assert_eq!(status(&c, n, "pet"), "Running");
}

#[test]
fn list_all_namespaces_is_sorted_and_includes_every_namespace() {
    let Some(c) = cluster() else { return };
    let a = c.namespace("lista", &[]);
    let b = c.namespace("listb", &[]);
    ok(c.corral(&["-n", &b.name, "ct", "create", "zz", "--image", "alpine"]));
    ok(c.corral(&["-n", &a.name, "ct", "create", "yy", "--image", "alpine"]));
    ok(c.corral(&["-n", &a.name, "ct", "create", "aa", "--image", "alpine"]));
    let all = json(&c.corral(&["ct", "list", "-A", "-o", "json"]));
    let ours: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}/{}",
                i["namespace"].as_str().unwrap(),
                i["name"].as_str().unwrap()
            )
        })
        .filter(|s| s.starts_with(&a.name) || s.starts_with(&b.name))
        .collect();
    assert_eq!(
        ours,
        vec![
            format!("{}/aa", a.name),
            format!("{}/yy", a.name),
            format!("{}/zz", b.name)
        ]
    );
    let yaml = ok(c.corral(&["-n", &a.name, "ct", "list", "-o", "yaml"]));
    assert!(yaml.stdout.starts_with("items:\n"), "{yaml:?}");
}

#[test]
fn the_non_admin_user_manages_cts_in_its_own_namespace() {
    let Some(c) = cluster() else { return };
    let name = format!("dev{}", std::process::id());
    let r = c.corral_as(
        &c.dev,
        &["ct", "create", &name, "--image", "alpine", "--wait"],
    );
    assert_eq!(
        r.code, 0,
        "edit in one namespace must be enough to create a CT: {r:?}"
    );
    let list = json(&c.corral_as(&c.dev, &["ct", "list", "-o", "json"]));
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == name.as_str())
    );
    ok(c.corral_as(&c.dev, &["ct", "stop", &name, "--wait"]));
    ok(c.corral_as(&c.dev, &["ct", "start", &name, "--wait"]));
    ok(c.corral_as(&c.dev, &["ct", "delete", &name, "--yes", "--wait"]));
}

#[test]
fn two_creates_of_one_name_at_once_have_exactly_one_winner() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("race", &[]);
    let n = ns.name.clone();
    let runs: Vec<crate::common::Run> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| c.corral(&["-n", &n, "ct", "create", "same", "--image", "alpine"])))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    codes.sort();
    assert_eq!(codes, vec![0, 4], "{runs:?}");
    let w = c.kubectl(&[
        "wait",
        "-n",
        &n,
        "--for=condition=Ready",
        "pod/same",
        "--timeout=60s",
    ]);
    assert_eq!(w.code, 0, "the winner's CT must be intact: {w:?}");
    assert_eq!(c.names(&n, "pvc").len(), 1);
}

#[tokio::test]
async fn an_interrupted_create_is_finished_by_create_or_removed_by_delete() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("half", &[]);
    let n = ns.name.clone();
    let ports = Arc::new(corral_k8s::KubeCt::new(c.client().await));
    for name in ["finish", "remove"] {
        let req = CreateCtRequest::validate(&CreateCtInput {
            namespace: n.clone(),
            name: name.into(),
            image: "alpine".into(),
            ..Default::default()
        })
        .unwrap();
        // The first step of a create, then the "crash".
        ports.create_record(&req.spec).await.unwrap();
    }
    let c2 = crate::common::Cluster {
        admin: c.admin.clone(),
        dev: c.dev.clone(),
        kubectl: c.kubectl.clone(),
    };
    let n2 = n.clone();
    tokio::task::spawn_blocking(move || {
        let c = c2;
        let n = n2;
        assert_eq!(status(&c, &n, "finish"), "Incomplete");
        let start = c.corral(&["-n", &n, "ct", "start", "finish"]);
        assert_eq!(start.code, 4);
        assert!(start.stderr.contains("create did not finish"), "{start:?}");
        // Too young: it could be another create at work.
        let young = c.corral(&["-n", &n, "ct", "create", "finish", "--image", "alpine"]);
        assert_eq!(young.code, 4, "{young:?}");
        assert!(young.stderr.contains("still at work"), "{young:?}");
        std::thread::sleep(std::time::Duration::from_secs(
            corral_core::service::STALE_CREATE_SECONDS + 1,
        ));
        ok(c.corral(&[
            "-n", &n, "ct", "create", "finish", "--image", "alpine", "--wait",
        ]));
        assert_eq!(status(&c, &n, "finish"), "Running");
        let other = c.corral(&[
            "-n", &n, "ct", "create", "remove", "--image", "alpine", "--cpu", "2",
        ]);
        assert_eq!(
            other.code, 4,
            "a different spec must not finish it: {other:?}"
        );
        ok(c.corral(&["-n", &n, "ct", "delete", "remove", "--yes", "--wait"]));
        assert_eq!(c.names(&n, "pvc"), vec!["persistentvolumeclaim/finish"]);
    })
    .await
    .unwrap();
}
