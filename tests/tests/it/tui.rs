//! `corral tui` driven with keystrokes in tmux against the local cluster.

use std::time::{Duration, Instant};

use crate::common::{cluster, corral_bin};
use crate::console::{tmux, tmux_session};

/// Waits until the pane shows a line with both `a` and `b`.
fn wait_line(session: &str, a: &str, b: &str) -> String {
    let started = Instant::now();
    loop {
        let pane = tmux(&["capture-pane", "-p", "-t", session]);
        if pane.lines().any(|l| l.contains(a) && l.contains(b))
            || started.elapsed() > Duration::from_secs(120)
        {
            return pane;
        }
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn tui_stops_and_starts_a_ct_with_keystrokes() {
    let Some(c) = cluster() else { return };
    let ns = c.namespace("tui", &[]);
    let r = c.corral(&[
        "-n", &ns.name, "ct", "create", "pet", "--image", "alpine", "--wait",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let session = format!("corral-tui-{}", std::process::id());
    let cmd = format!(
        "{} --kubeconfig {} -n {} tui; echo tui-exit=$?; sleep 30",
        corral_bin().display(),
        c.admin.display(),
        ns.name
    );
    tmux_session(&session, 120, 20, &cmd);
    let first = wait_line(&session, "pet", "Running");
    tmux(&["send-keys", "-t", &session, "x"]);
    let stopped = wait_line(&session, "pet", "Stopped");
    tmux(&["send-keys", "-t", &session, "s"]);
    let started = wait_line(&session, "pet", "Running");
    tmux(&["send-keys", "-t", &session, "d"]);
    let confirm = wait_line(&session, "Delete CT", "pet");
    tmux(&["send-keys", "-t", &session, "n"]);
    let kept = wait_line(&session, "kept", "pet");
    tmux(&["send-keys", "-t", &session, "q"]);
    let after = wait_line(&session, "tui-exit=", "");
    tmux(&["kill-session", "-t", &session]);
    assert!(
        first
            .lines()
            .any(|l| l.contains("pet") && l.contains("Running")),
        "{first}"
    );
    assert!(
        stopped
            .lines()
            .any(|l| l.contains("pet") && l.contains("Stopped")),
        "{stopped}"
    );
    assert!(
        started
            .lines()
            .any(|l| l.contains("pet") && l.contains("Running")),
        "{started}"
    );
    assert!(confirm.contains("every file on it"), "{confirm}");
    assert!(kept.contains("kept"), "{kept}");
    assert!(after.contains("tui-exit=0"), "{after}");
    assert_eq!(
        c.names(&ns.name, "pvc"),
        vec!["persistentvolumeclaim/pet"],
        "declining the delete kept the CT"
    );
}
