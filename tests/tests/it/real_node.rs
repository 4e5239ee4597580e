//! CTs as real pods: the local cluster's real node (`cargo xtask cluster up
//! --real-node`: kubelet, containerd, runc, CNI, kube-proxy), driven through
//! `corral` only. Every CT here is pinned with `--node`, the only way onto
//! the node's `corral.dev/node` taint.
//!
//! Select with `cargo test real_node`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::{Cluster, Run, corral_bin, real_node};
use crate::console::{tmux, tmux_session, wait_for_pane};

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "{r:?}");
    r
}

/// `corral ct exec` of a shell script in a CT.
fn exec(c: &Cluster, ns: &str, ct: &str, script: &str) -> Run {
    c.corral(&["-n", ns, "ct", "exec", ct, "--", "sh", "-c", script])
}

fn create(c: &Cluster, ns: &str, ct: &str, node: &str, extra: &[&str]) -> Run {
    // A quarter core each: the node has two, and these tests run side by side.
    let mut args = vec![
        "-n", ns, "ct", "create", ct, "--node", node, "--wait", "--cpu", "250m",
    ];
    args.extend_from_slice(extra);
    let r = ok(c.corral(&args));
    assert!(r.stderr.contains("is running"), "{r:?}");
    let show = ok(c.corral(&["-n", ns, "ct", "show", ct, "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(v["node"], node, "pinned CT is elsewhere: {v}");
    r
}

fn stop_start(c: &Cluster, ns: &str, ct: &str) {
    ok(c.corral(&["-n", ns, "ct", "stop", ct, "--wait"]));
    let pods = c.kubectl(&["get", "pods", "-n", ns, "-o", "name"]);
    assert_eq!(pods.stdout.trim(), "", "a stopped CT has no pod: {pods:?}");
    ok(c.corral(&["-n", ns, "ct", "start", ct, "--wait"]));
}

fn seed_log(c: &Cluster, ns: &str, ct: &str) -> String {
    ok(c.kubectl(&["logs", "-n", ns, ct, "-c", "seed"])).stdout
}

const DEBIAN: &str = "docker.io/library/debian:bookworm";

#[test]
fn real_node_devbox_demo_package_and_dotfile_survive_stop_start() {
    let Some((c, node)) = real_node() else { return };
    let ns = c.namespace("devbox", &[]);
    let n = ns.name.as_str();
    create(&c, n, "devbox", &node, &["--image", DEBIAN, "--privileged"]);
    assert!(seed_log(&c, n, "devbox").contains("seeding done"));
    let seeded = ok(exec(&c, n, "devbox", "cat /.corral/seeded")).stdout;

    // The spec's `apt install`, from Debian's archive when the pod reaches
    // it; otherwise a .deb sent through exec's stdin and installed by dpkg.
    let apt = exec(
        &c,
        n,
        "devbox",
        "timeout 120 apt-get update -q && DEBIAN_FRONTEND=noninteractive timeout 120 apt-get install -y -q hello",
    );
    let binary = if apt.code == 0 {
        eprintln!("real_node devbox: installed `hello` with apt from Debian's archive");
        "hello"
    } else {
        eprintln!(
            "real_node devbox: apt could not reach the archive (exit {}); installing a local .deb with dpkg",
            apt.code
        );
        let dir = std::env::temp_dir().join(format!("corral-deb-{}", std::process::id()));
        let deb = std::fs::read(corral_tests::podrun::build_deb(&dir)).unwrap();
        ok(c.corral_stdin(
            &[
                "-n",
                n,
                "ct",
                "exec",
                "-i",
                "devbox",
                "--",
                "sh",
                "-c",
                "cat > /tmp/p.deb && dpkg -i /tmp/p.deb",
            ],
            &deb,
        ));
        "corral-hello"
    };
    ok(exec(
        &c,
        n,
        "devbox",
        "echo 'export CORRAL_DEMO=kept' >> /root/.bashrc",
    ));

    stop_start(&c, n, "devbox");

    let after = ok(exec(
        &c,
        n,
        "devbox",
        &format!("command -v {binary} && {binary} && grep CORRAL_DEMO /root/.bashrc"),
    ));
    assert!(after.stdout.contains("/usr/bin/"), "{after:?}");
    assert!(
        after.stdout.contains("export CORRAL_DEMO=kept"),
        "{after:?}"
    );
    assert_eq!(
        ok(exec(&c, n, "devbox", "cat /.corral/seeded")).stdout,
        seeded,
        "the seed ran again"
    );
    let log = seed_log(&c, n, "devbox");
    assert!(log.contains("already seeded"), "{log}");
    assert!(!log.contains("seeding root filesystem"), "{log}");
}

#[test]
fn real_node_unprivileged_busybox_keeps_data_and_resets_the_rest() {
    let Some((c, node)) = real_node() else { return };
    let ns = c.namespace(
        "rn-unpriv",
        &["pod-security.kubernetes.io/enforce=restricted"],
    );
    let n = ns.name.as_str();
    create(&c, n, "bb", &node, &["--image", "busybox:1.36"]);
    let who = ok(exec(
        &c,
        n,
        "bb",
        "id -u; echo kept > /data/keep; echo gone > /tmp/gone; cat /data/keep /tmp/gone",
    ));
    assert_eq!(who.stdout, "1000\nkept\ngone\n", "{who:?}");
    // Closing stdin reaches the remote command (v5 close), which then ends.
    let input = vec![b'x'; 300_000];
    let counted = ok(c.corral_stdin(
        &[
            "-n",
            n,
            "ct",
            "exec",
            "-i",
            "bb",
            "--",
            "sh",
            "-c",
            "wc -c; echo eof-seen",
        ],
        &input,
    ));
    assert_eq!(
        counted.stdout.split_whitespace().collect::<Vec<_>>(),
        ["300000", "eof-seen"],
        "{counted:?}"
    );
    stop_start(&c, n, "bb");
    let after = exec(&c, n, "bb", "cat /data/keep; ls /tmp/gone");
    assert_eq!(after.stdout, "kept\n", "{after:?}");
    assert!(after.stderr.contains("/tmp/gone"), "{after:?}");
    assert_ne!(after.code, 0, "/tmp/gone survived a restart: {after:?}");
}

#[test]
fn real_node_service_cluster_ip_reaches_a_server_in_the_ct() {
    let Some((c, node)) = real_node() else { return };
    let ns = c.namespace("rn-svc", &[]);
    let n = ns.name.as_str();
    create(&c, n, "web", &node, &["--image", DEBIAN, "--privileged"]);
    // perl is in every Debian (perl-base is essential); the CT's Service
    // declares port 22.
    ok(exec(
        &c,
        n,
        "web",
        r#"nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 22, Listen => 8, ReuseAddr => 1) or die $!; while ($c = $s->accept) { print $c "hello from $ENV{HOSTNAME}\n"; close $c }' >/dev/null 2>&1 &"#,
    ));
    let show = ok(c.corral(&["-n", n, "ct", "show", "web", "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    let ip = v["service"]["cluster_ip"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    let began = Instant::now();
    let line = loop {
        let got = TcpStream::connect_timeout(
            &format!("{ip}:22").parse().unwrap(),
            Duration::from_secs(2),
        )
        .and_then(|s| {
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut l = String::new();
            BufReader::new(s).read_line(&mut l)?;
            Ok(l)
        });
        match got {
            Ok(l) if !l.is_empty() => break l,
            other if began.elapsed() > Duration::from_secs(60) => {
                panic!("Service {ip}:22 never answered: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(300)),
        }
    };
    assert_eq!(line, "hello from web\n");
}

#[test]
fn real_node_two_consoles_share_the_persistent_rootfs() {
    let Some((c, node)) = real_node() else { return };
    let ns = c.namespace("rn-console", &[]);
    let n = ns.name.as_str();
    create(&c, n, "box", &node, &["--image", DEBIAN, "--privileged"]);
    let console = |tag: &str| {
        let session = format!("corral-rn-{tag}-{}", std::process::id());
        let cmd = format!(
            "{} --kubeconfig {} -n {n} ct console box; echo console-exit=$?; sleep 30",
            corral_bin().display(),
            c.admin.display(),
        );
        tmux_session(&session, 120, 30, &cmd);
        session
    };
    let a = console("a");
    let b = console("b");
    std::thread::sleep(Duration::from_millis(800));
    // Session A writes in the persistent rootfs while B is open.
    tmux(&[
        "send-keys",
        "-t",
        &a,
        "echo from-a > /root/shared; echo a-done-$((1+1))",
        "Enter",
    ]);
    let pane_a = wait_for_pane(&a, "a-done-2");
    // B sees it, is inside the seeded rootfs, with /proc, /dev and name
    // resolution working, in the user's login shell (bash).
    tmux(&[
        "send-keys",
        "-t",
        &b,
        "cat /root/shared; test -f /.corral/seeded && test -r /proc/self/status && test -c /dev/null && getent hosts localhost >/dev/null && echo b-ok-$BASH_VERSINFO-$((2+3))",
        "Enter",
    ]);
    let pane_b = wait_for_pane(&b, "b-ok-5-5");
    for s in [&a, &b] {
        tmux(&["send-keys", "-t", s, "exit", "Enter"]);
    }
    let exit_a = wait_for_pane(&a, "console-exit=");
    let exit_b = wait_for_pane(&b, "console-exit=");
    for s in [&a, &b] {
        tmux(&["kill-session", "-t", s]);
    }
    assert!(pane_a.contains("a-done-2"), "{pane_a}");
    assert!(pane_b.contains("from-a"), "{pane_b}");
    assert!(pane_b.contains("b-ok-5-5"), "{pane_b}");
    assert!(exit_a.contains("console-exit=0"), "{exit_a}");
    assert!(exit_b.contains("console-exit=0"), "{exit_b}");
    // A sibling exec of the image itself (kubectl, not corral) sees no seed marker.
    let sibling = c.kubectl(&[
        "exec",
        "-n",
        n,
        "box",
        "--",
        "sh",
        "-c",
        "test ! -e /.corral/seeded && test -d /corral/rootfs/.corral && echo image-root",
    ]);
    assert_eq!(sibling.stdout, "image-root\n", "{sibling:?}");
}

/// The host folder of a CT's volume (the local provisioner's hostPath),
/// once the claim is bound (the class binds when the pod is scheduled).
fn volume_dir(c: &Cluster, ns: &str, ct: &str) -> std::path::PathBuf {
    let began = Instant::now();
    let pv = loop {
        let pv = ok(c.kubectl(&[
            "get",
            "pvc",
            "-n",
            ns,
            ct,
            "-o",
            "jsonpath={.spec.volumeName}",
        ]))
        .stdout;
        if !pv.is_empty() {
            break pv;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "claim {ns}/{ct} never bound"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ok(c.kubectl(&["get", "pv", &pv, "-o", "jsonpath={.spec.hostPath.path}"]))
        .stdout
        .into()
}

/// The pid of a pod's seed copy (`cp -a --one-file-system /. …`) on this
/// host, found by its command line and its pod's cgroup.
fn seed_copy_pid(pod_uid: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        (cmd.starts_with(b"cp\0-a\0--one-file-system\0") && cgroup.contains(pod_uid)).then_some(pid)
    })
}

#[test]
fn real_node_seed_killed_midway_is_completed_by_the_next_start() {
    let Some((c, node)) = real_node() else { return };
    let ns = c.namespace("rn-seed", &[]);
    let n = ns.name.as_str();
    ok(c.corral(&[
        "-n",
        n,
        "ct",
        "create",
        "slow",
        "--node",
        &node,
        "--image",
        DEBIAN,
        "--privileged",
        "--cpu",
        "250m",
    ]));
    let vol = volume_dir(&c, n, "slow");
    let in_usr_bin = || {
        std::fs::read_dir(vol.join("usr/bin"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // The real node is this host: find the seed's copy and freeze it
    // (SIGSTOP) once /usr/bin is filling up, so the kill lands mid-copy
    // however fast the disk is.
    let began = Instant::now();
    let pid = loop {
        let uid = c
            .kubectl(&[
                "get",
                "pod",
                "-n",
                n,
                "slow",
                "-o",
                "jsonpath={.metadata.uid}",
            ])
            .stdout;
        if let Some(pid) = (!uid.is_empty()).then(|| seed_copy_pid(&uid)).flatten() {
            break pid;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the seed never began"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    while in_usr_bin() < 20 && std::path::Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(
        stopped.success(),
        "the copy ended before it could be frozen"
    );
    assert!(
        !vol.join(".corral/seeded").exists(),
        "the seed finished before it was killed; the test proves nothing"
    );
    // Kill the pod mid-copy, as a node failure would (KILL after a second).
    ok(c.kubectl(&[
        "delete",
        "pod",
        "-n",
        n,
        "slow",
        "--grace-period=1",
        "--wait=true",
    ]));
    assert!(!vol.join(".corral/seeded").exists());
    let files_when_killed = in_usr_bin();
    eprintln!("real_node seed: killed with {files_when_killed} files in usr/bin");

    ok(c.corral(&["-n", n, "ct", "start", "slow", "--wait", "--timeout", "600"]));
    let log = seed_log(&c, n, "slow");
    assert!(log.contains("seeding done"), "{log}");
    assert!(vol.join(".corral/seeded").exists());
    let perl = ok(exec(&c, n, "slow", "perl -e 'print 6*7'"));
    assert_eq!(perl.stdout, "42");

    // A finished seed is never redone: the user's change to an image file stays.
    ok(exec(&c, n, "slow", "echo mine > /etc/debian_version"));
    stop_start(&c, n, "slow");
    assert_eq!(
        ok(exec(&c, n, "slow", "cat /etc/debian_version")).stdout,
        "mine\n"
    );
    assert!(seed_log(&c, n, "slow").contains("already seeded"));
}
