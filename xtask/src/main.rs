//! Development tasks for Corral CT, run as `cargo xtask <task>`.
//!
//! - `cluster up|down|status|env` — the real local cluster (see `cluster.rs`)
//! - `test [--keep]` — cluster up, every test, cluster down
//! - `demo` — cluster up, then the main job against it
//!
//! Few dependencies on purpose: std only, tools called as processes.

mod cluster;
mod node;
mod rootfs;
mod ui;
mod util;

#[cfg(test)]
mod tidy;

use std::process::{Command, ExitCode};
use std::time::Instant;

use util::{Result, repo_root, step};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  cluster up [--real-node]
                   start the local cluster (builds binaries on first use);
                   --real-node adds a kubelet with containerd that runs pods
                   for real (root; Debian's containerd, runc, CNI plugins)
  cluster down     stop the processes `up` started and drop the cluster's data
  cluster status   show each component and whether the apiserver is ready
  cluster env      print export lines for KUBECONFIG and PATH
  test [--keep]    cluster up, cargo test --workspace with cluster tests on, cluster down
  ui               build the web UI into web/dist (npm ci from the lock file)
  rootfs           build the Debian and busybox root filesystems the privileged-rootfs tests use
  bench NAME [--quick] [--size N]
                   list | api-list | create | startstop | console | rootfs | node | scale | ui
                   (node: create/start times of CTs as real pods on the real node)
                   (--quick: small sizes, debug build; what CI runs so benches cannot rot)
                   (ui: the web UI in headless Chromium with 10,000 CTs from the real API)
                   (--size N: api-list or ui at that one size; CORRAL_BENCH_KEEP=1 keeps and reuses its CTs)
  demo             cluster up (with the real node), then create, list, stop, start and exec
                   into CTs with corral — the spec's devbox with apt on the real node —
                   then serve the web UI and API
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let start = Instant::now();
    let r = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["cluster", "up"] => cluster::up(start, false).map(|_| ()),
        ["cluster", "up", "--real-node"] => cluster::up(start, true).map(|_| ()),
        ["cluster", "down"] => cluster::down(start),
        ["cluster", "status"] => cluster::status(),
        ["cluster", "env"] => {
            print!("{}", cluster::env_lines());
            Ok(())
        }
        ["test", rest @ ..] => test(start, rest.contains(&"--keep")),
        ["demo"] => demo(start),
        ["rootfs"] => rootfs::build(start).map(|_| ()),
        ["ui"] => ui::build(start).map(|_| ()),
        ["bench", name, rest @ ..] => bench(start, name, rest),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(repo_root());
    c
}

fn test(start: Instant, keep: bool) -> Result {
    // Console tests drive a real terminal (tmux); API tests speak HTTP with curl.
    util::ensure_debian(
        start,
        &[
            ("tmux", "tmux"),
            ("curl", "curl"),
            ("getcap", "libcap2-bin"),
            ("unshare", "util-linux"),
            ("chromium", "chromium"),
        ],
    )?;
    let rootfs = rootfs::build(start)?;
    let ui_dir = ui::build(start)?;
    let p = cluster::up(start, true)?;
    // The integration tests run the `corral` binary; cargo does not build
    // another package's binary for them, so build it (fresh) first.
    step(
        start,
        "building the corral binary the integration tests run",
    );
    let built = cargo()
        .args(["build", "-p", "corral-cli", "--bin", "corral"])
        .status()
        .map_err(|e| format!("building corral: {e}"))?;
    if !built.success() {
        return Err("building corral failed".into());
    }
    step(
        start,
        "running cargo test --workspace with the local cluster",
    );
    let status = cargo()
        // Cluster tests share one two-core machine with the control plane;
        // a bounded number at once keeps their timings honest.
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--no-fail-fast",
            "--",
            "--test-threads=6",
        ])
        .env("CORRAL_TEST_KUBECONFIG", p.kubeconfig("admin"))
        .env("CORRAL_TEST_DEV_KUBECONFIG", p.kubeconfig("dev"))
        .env("CORRAL_TEST_KUBECTL", p.kubectl())
        .env("CORRAL_TEST_ROOTFS_DIR", &rootfs)
        .env("CORRAL_TEST_UI_DIR", &ui_dir)
        .env("CORRAL_TEST_REAL_NODE", node::NODE_NAME)
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    if !keep {
        cluster::down(start)?;
    }
    if status.success() {
        Ok(())
    } else {
        Err(format!("tests failed ({status})"))
    }
}

fn bench(start: Instant, name: &str, args: &[&str]) -> Result {
    let quick = args.contains(&"--quick");
    util::ensure_debian(
        start,
        &[("/usr/bin/time", "time"), ("chromium", "chromium")],
    )?;
    let rootfs = rootfs::build(start)?;
    // Only the UI bench needs the web UI built.
    let ui_dir = if name == "ui" {
        Some(ui::build(start)?)
    } else {
        None
    };
    let p = match name {
        "rootfs" => cluster::Paths::new(),
        "node" => cluster::up(start, true)?,
        _ => cluster::up(start, false)?,
    };
    let profile = if quick { "dev" } else { "release" };
    step(
        start,
        &format!("building corral and corral-bench ({profile} profile)"),
    );
    let st = cargo()
        .args([
            "build",
            "-q",
            "--profile",
            profile,
            "-p",
            "corral-cli",
            "-p",
            "corral-tests",
            "--bin",
            "corral",
            "--bin",
            "corral-bench",
        ])
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("building the benchmarks failed".into());
    }
    let dir = repo_root()
        .join("target")
        .join(if quick { "debug" } else { "release" });
    let st = Command::new(dir.join("corral-bench"))
        .arg(name)
        .args(args)
        .env("CORRAL_TEST_KUBECONFIG", p.kubeconfig("admin"))
        .env("CORRAL_TEST_KUBECTL", p.kubectl())
        .env("CORRAL_TEST_ROOTFS_DIR", &rootfs)
        .env("CORRAL_BENCH_CORRAL", dir.join("corral"))
        .envs(ui_dir.map(|d| ("CORRAL_TEST_UI_DIR", d)))
        .env("CORRAL_TEST_REAL_NODE", node::NODE_NAME)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("bench {name} failed ({st})"))
    }
}

fn demo(start: Instant) -> Result {
    let p = cluster::up(start, true)?;
    step(start, "building corral");
    let st = cargo()
        .args(["build", "-q", "-p", "corral-cli"])
        .status()
        .map_err(|e| e.to_string())?;
    if !st.success() {
        return Err("building corral failed".into());
    }
    let corral = repo_root().join("target/debug/corral");
    let kc = p.kubeconfig("admin");
    let run_corral = |args: &[&str]| -> Result {
        eprintln!("\n$ corral {}", args.join(" "));
        let st = Command::new(&corral)
            .arg("--kubeconfig")
            .arg(&kc)
            .args(args)
            .status()
            .map_err(|e| e.to_string())?;
        if st.success() {
            Ok(())
        } else {
            Err(format!("corral {} failed ({st})", args.join(" ")))
        }
    };
    let _ = Command::new(&corral)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["ct", "delete", "web1", "--yes", "--wait"])
        .output();
    run_corral(&[
        "ct",
        "create",
        "web1",
        "--image",
        "docker.io/library/alpine:latest",
        "--cpu",
        "1",
        "--mem",
        "256Mi",
        "--wait",
    ])?;
    run_corral(&["ct", "list"])?;
    run_corral(&[
        "ct",
        "exec",
        "web1",
        "--",
        "sh",
        "-c",
        "echo hello from $(uname -s)",
    ])?;
    run_corral(&["ct", "stop", "web1", "--wait"])?;
    run_corral(&["ct", "start", "web1", "--wait"])?;
    run_corral(&["ct", "show", "web1"])?;
    // The spec's devbox, for real: a privileged Debian CT on the real node
    // where what apt installs survives stop/start.
    let _ = Command::new(&corral)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["ct", "delete", "devbox", "--yes", "--wait"])
        .output();
    run_corral(&[
        "ct",
        "create",
        "devbox",
        "--image",
        "docker.io/library/debian:bookworm",
        "--privileged",
        "--node",
        node::NODE_NAME,
        "--wait",
    ])?;
    let in_devbox = |script: &str| run_corral(&["ct", "exec", "devbox", "--", "sh", "-c", script]);
    in_devbox(
        "apt-get update -qq && apt-get install -y -qq hello >/dev/null && echo 'installed hello with apt' || { echo 'Debian archive not reachable: marking the root filesystem instead'; echo kept > /root/marker; }",
    )?;
    run_corral(&["ct", "stop", "devbox", "--wait"])?;
    run_corral(&["ct", "start", "devbox", "--wait"])?;
    in_devbox("if command -v hello >/dev/null; then hello; else cat /root/marker; fi")?;
    let ui_dir = ui::build(start)?;
    let addr = "127.0.0.1:8080";
    cluster::spawn(
        &p,
        "corral-serve",
        &corral,
        &[
            "--kubeconfig".into(),
            kc.display().to_string(),
            "serve".into(),
            "--listen".into(),
            addr.into(),
            "--ui-dir".into(),
            ui_dir.display().to_string(),
        ],
    )?;
    eprintln!(
        "\nWeb UI and API: http://{addr}/ (sign in with the token this prints:\n  {} --kubeconfig {} create token corral-admin-sa -n kube-system)\n\nThe local cluster and the API keep running. Point corral at the cluster with:\n  eval \"$(cargo xtask cluster env)\"\n  target/debug/corral ct list\n  target/debug/corral tui\nStop everything with: cargo xtask cluster down",
        p.kubectl().display(),
        kc.display()
    );
    Ok(())
}
