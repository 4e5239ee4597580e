//! The web UI in headless Chromium (playwright-core), against `corral serve`
//! on the local cluster. Screenshots of each step go to `tests/artifacts/web`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{cluster, serve};

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
    let server = serve(&c, &["--ui-dir".as_ref(), ui.as_os_str()]);
    let addr = server.addr.clone();
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
    drop(server);
    assert!(
        out.status.success(),
        "UI test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
