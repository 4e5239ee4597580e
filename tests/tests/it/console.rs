//! `corral ct exec` and `corral ct console` on the local cluster (kwok runs
//! the exec'd command on this machine through the apiserver's real
//! streaming path).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Cluster, Ns, cluster, corral_bin};

fn running_ct<'a>(c: &'a Cluster, prefix: &str) -> Ns<'a> {
    let ns = c.namespace(prefix, &[]);
    let r = c.corral(&[
        "-n", &ns.name, "ct", "create", "box", "--image", "alpine", "--wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    ns
}

#[test]
fn exec_returns_exit_codes_output_and_stdin_eof() {
    let Some(c) = cluster() else { return };
    let ns = running_ct(&c, "exec");
    let n = ns.name.as_str();
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("echo x; false", 1)] {
        let r = c.corral(&["-n", n, "ct", "exec", "box", "--", "sh", "-c", script]);
        assert_eq!(r.code, code, "{script}: {r:?}");
    }
    // stdin is piped with -i. (Its end is sent with the v5 close signal,
    // but kwok's local exec does not pass EOF on, so `wc -c` would wait;
    // `head -c 5` needs only the bytes. The real-node tests cover EOF.)
    let mut child = Command::new(corral_bin())
        .arg("--kubeconfig")
        .arg(&c.admin)
        .args(["-n", n, "ct", "exec", "-i", "box", "--", "head", "-c", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hello").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
    assert!(out.status.success());
}

#[test]
fn fifty_mebibytes_arrive_byte_exact() {
    let Some(c) = cluster() else { return };
    let ns = running_ct(&c, "big");
    const SIZE: usize = 50 * 1024 * 1024;
    let line = b"corral-console-test-line\n";
    let r = Command::new(corral_bin())
        .arg("--kubeconfig")
        .arg(&c.admin)
        .args(["-n", &ns.name, "ct", "exec", "box", "--", "sh", "-c"])
        .arg(format!("yes corral-console-test-line | head -c {SIZE}"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(r.stdout.len(), SIZE);
    let expected: Vec<u8> = line.iter().copied().cycle().take(SIZE).collect();
    assert!(r.stdout == expected, "50 MiB arrived with different bytes");
}

#[test]
fn twenty_sessions_at_once_each_get_their_own_output() {
    let Some(c) = cluster() else { return };
    let ns = running_ct(&c, "many");
    let n = ns.name.clone();
    let results: Vec<(usize, crate::common::Run)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let n = n.clone();
                let c = &c;
                s.spawn(move || {
                    (
                        i,
                        c.corral(&[
                            "-n",
                            &n,
                            "ct",
                            "exec",
                            "box",
                            "--",
                            "sh",
                            "-c",
                            &format!("sleep 0.2; echo session-{i}"),
                        ]),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, r) in results {
        assert_eq!(
            (r.code, r.stdout.as_str()),
            (0, format!("session-{i}\n").as_str()),
            "{r:?}"
        );
    }
}

pub fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts a detached tmux session of `cols`×`rows` running `cmd` in bash.
pub fn tmux_session(session: &str, cols: u16, rows: u16, cmd: &str) {
    let (cols, rows) = (cols.to_string(), rows.to_string());
    tmux(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        &cols,
        "-y",
        &rows,
        "bash",
        "--norc",
        "-c",
        cmd,
    ]);
}

pub fn wait_for_pane(session: &str, want: &str) -> String {
    let started = Instant::now();
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", session]);
        if pane.contains(want) || started.elapsed() > Duration::from_secs(20) {
            return pane;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn console_in_tmux_sizes_the_terminal_and_restores_it_on_exit() {
    let Some(c) = cluster() else { return };
    let ns = running_ct(&c, "tmux");
    let session = format!("corral-test-{}", std::process::id());
    let out = std::env::temp_dir().join(format!("{session}.stty"));
    let _ = std::fs::remove_file(&out);
    let cmd = format!(
        "{} --kubeconfig {} -n {} ct console box; echo console-exit=$?; stty -a > {}; sleep 30",
        corral_bin().display(),
        c.admin.display(),
        ns.name,
        out.display()
    );
    tmux_session(&session, 100, 30, &cmd);
    std::thread::sleep(Duration::from_millis(500));
    tmux(&[
        "send-keys",
        "-t",
        &session,
        "stty size; echo marker-$((40+2))",
        "Enter",
    ]);
    let pane = wait_for_pane(&session, "marker-42");
    tmux(&["send-keys", "-t", &session, "exit 3", "Enter"]);
    let after = wait_for_pane(&session, "console-exit=");
    let started = Instant::now();
    let mut stty = String::new();
    while !stty.contains("icanon") && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        stty = std::fs::read_to_string(&out).unwrap_or_default();
    }
    tmux(&["kill-session", "-t", &session]);
    assert!(pane.contains("30 100"), "initial size not sent: {pane}");
    assert!(pane.contains("marker-42"), "{pane}");
    assert!(
        after.contains("console-exit=3"),
        "exit status not passed on: {after}"
    );
    // Raw mode was left: canonical input and echo are back on.
    assert!(
        stty.contains(" icanon") && stty.contains(" echo "),
        "terminal not restored: {stty}"
    );
}
