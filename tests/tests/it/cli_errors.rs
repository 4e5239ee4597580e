//! Bad input and faults: a clear error naming the thing, a distinct exit
//! code, and nothing half-made in the cluster.

use std::time::{Duration, Instant};

use crate::common::{Cluster, cluster};

fn assert_empty(c: &Cluster, ns: &str) {
    for kind in ["pods", "pvc", "svc"] {
        assert!(c.names(ns, kind).is_empty(), "{kind} left behind in {ns}");
    }
}

#[test]
fn bad_input_is_refused_before_any_io_naming_the_field() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("bad", &[]);
    let n = ns.name.as_str();
    let cases: &[(&[&str], &str)] = &[
        (
            &["ct", "create", "Web_1", "--image", "alpine"],
            "invalid CT name \"Web_1\"",
        ),
        (
            &["ct", "create", "web-", "--image", "alpine"],
            "invalid CT name \"web-\": it starts or ends with",
        ),
        (
            &["ct", "create", "web1", "--image", "Alpine"],
            "invalid --image \"Alpine\"",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine:"],
            "invalid --image",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine", "--cpu", "0"],
            "invalid --cpu \"0\"",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine", "--cpu", "abc"],
            "invalid --cpu",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine", "--mem", "512"],
            "invalid --mem \"512\": it has no unit",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine", "--mem", "-1Gi"],
            "invalid --mem",
        ),
        (
            &["ct", "create", "web1", "--image", "alpine", "--disk", "5GB"],
            "invalid --disk \"5GB\"",
        ),
        (
            &[
                "ct",
                "create",
                "devbox",
                "--image",
                "alpine",
                "--privileged",
            ],
            "--privileged cannot use image",
        ),
        (
            &[
                "ct",
                "create",
                "devbox",
                "--image",
                "busybox:1.36",
                "--privileged",
            ],
            "--privileged cannot use image",
        ),
        (
            &["-n", "Bad_NS", "ct", "list"],
            "invalid namespace \"Bad_NS\"",
        ),
        (&["ct", "start", "UPPER"], "invalid CT name"),
        (&["ct", "create", "web1"], "--image"),
    ];
    for (args, want) in cases {
        let mut full = if args[0] == "-n" {
            vec![]
        } else {
            vec!["-n", n]
        };
        full.extend_from_slice(args);
        let r = c.corral(&full);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            r.stderr
        );
    }
    assert_empty(&c, n);
}

#[test]
fn wrong_state_not_found_and_conflict_have_their_own_codes() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("state", &[]);
    let n = ns.name.as_str();
    let r = c.corral(&[
        "-n", n, "ct", "create", "web1", "--image", "alpine", "--wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["ct", "create", "web1", "--image", "alpine"],
            4,
            "it already exists",
        ),
        (&["ct", "start", "web1"], 4, "it is already Running"),
        (&["ct", "show", "ghost"], 3, "/ghost does not exist"),
        (
            &[
                "ct",
                "create",
                "pinned",
                "--image",
                "alpine",
                "--node",
                "no-such-node",
            ],
            3,
            "node no-such-node does not exist; nothing was created",
        ),
        (
            &["ct", "delete", "ghost", "--yes"],
            3,
            "/ghost does not exist",
        ),
        (&["ct", "stop", "ghost"], 3, "it does not exist"),
        (&["ct", "delete", "web1"], 2, "Refusing without --yes"),
    ];
    for (args, code, want) in cases {
        let mut full = vec!["-n", n];
        full.extend_from_slice(args);
        let r = c.corral(&full);
        assert_eq!(r.code, *code, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            r.stderr
        );
    }
    // The refused delete said plainly what it would remove, and removed nothing.
    assert_eq!(c.names(n, "pvc"), vec!["persistentvolumeclaim/web1"]);
    let r = c.corral(&["-n", n, "ct", "stop", "web1", "--wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    for (args, want) in [
        (["ct", "stop", "web1"].as_slice(), "it is already stopped"),
        (
            ["ct", "console", "web1"].as_slice(),
            "it is not running (state Stopped)",
        ),
        (
            ["ct", "exec", "web1", "--", "true"].as_slice(),
            "it is not running",
        ),
    ] {
        let mut full = vec!["-n", n];
        full.extend_from_slice(args);
        let r = c.corral(&full);
        assert_eq!(r.code, 4, "{args:?}: {r:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn a_missing_namespace_is_not_found_and_leaves_nothing() {
    let Some(c) = cluster() else { return };
    let r = c.corral(&[
        "-n",
        "no-such-namespace-here",
        "ct",
        "create",
        "web1",
        "--image",
        "alpine",
    ]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr
            .contains("namespace no-such-namespace-here does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn privileged_in_a_restricted_namespace_is_refused_with_a_way_forward() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace(
        "psapriv",
        &["pod-security.kubernetes.io/enforce=restricted"],
    );
    let r = c.corral(&[
        "-n",
        &ns.name,
        "ct",
        "create",
        "devbox",
        "--image",
        "debian:bookworm",
        "--privileged",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    for want in [
        "violates PodSecurity",
        "pod-security.kubernetes.io/enforce=privileged",
        "nothing was created",
    ] {
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
    }
    assert_empty(&c, &ns.name);
}

#[test]
fn the_non_admin_user_is_forbidden_outside_its_namespace() {
    let Some(c) = cluster() else { return };
    let r = c.corral_as(
        &c.dev,
        &[
            "-n", "default", "ct", "create", "sneaky", "--image", "alpine",
        ],
    );
    assert_eq!(r.code, 5, "{r:?}");
    assert!(r.stderr.contains("forbidden"), "{}", r.stderr);
    let l = c.corral_as(&c.dev, &["ct", "list", "-A"]);
    assert_eq!(l.code, 5, "{l:?}");
    assert!(
        c.names("default", "pvc")
            .iter()
            .all(|p| !p.ends_with("/sneaky"))
    );
}

#[test]
fn an_unreachable_apiserver_fails_promptly() {
    let Some(c) = cluster() else { return };
    let text = std::fs::read_to_string(&c.admin)
        .unwrap()
        .replace("https://127.0.0.1:16443", "https://127.0.0.1:1");
    let path = std::env::temp_dir().join(format!(
        "corral-unreachable-{}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    let started = Instant::now();
    let r = c.corral_as(&path, &["ct", "list"]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(
        r.stderr.contains("cannot reach the Kubernetes API server"),
        "{}",
        r.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
