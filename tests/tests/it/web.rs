//! The web UI in headless Chromium (playwright-core), against `corral serve`
//! on the local cluster. Screenshots of each step go to `tests/artifacts/web`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::{cluster, corral_bin};

#[test]
fn web_ui_signs_in_creates_stops_starts_consoles_and_deletes() {
    let Some(c) = cluster() else { return };
    let ui = match std::env::var_os("CORRAL_TEST_UI_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but the web UI was not built"
            );
            return;
        }
    };
    let ns = c.namespace("web", &[]);
    let mut server = Command::new(corral_bin())
        .arg("--kubeconfig")
        .arg(&c.admin)
        .args(["serve", "--listen", "127.0.0.1:0", "--ui-dir"])
        .arg(&ui)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    let token = c.kubectl(&[
        "create",
        "token",
        "corral-admin-sa",
        "-n",
        "kube-system",
        "--duration=1h",
    ]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("node")
        .arg(root.join("web/tests/ui.mjs"))
        .env("BASE", format!("http://{addr}/"))
        .env("TOKEN", token.stdout.trim())
        .env("NS", &ns.name)
        .env("ARTIFACTS", root.join("tests/artifacts/web"))
        .env("CHROMIUM", "/usr/bin/chromium")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "UI test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
