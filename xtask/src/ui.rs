//! `cargo xtask ui`: the web UI's assets. Dependencies come from npm
//! through `web/package-lock.json` (`npm ci`); the build copies our own
//! files and xterm.js into `web/dist`, which `corral serve --ui-dir` serves.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::util::{Result, have, repo_root, run_long, step};

/// Builds `web/dist`; returns its path.
pub fn build(start: Instant) -> Result<PathBuf> {
    if !have("npm") {
        return Err(
            "npm is not on PATH; install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
                .into(),
        );
    }
    let web = repo_root().join("web");
    if !web.join("node_modules/@xterm/xterm/lib/xterm.js").exists()
        || !web.join("node_modules/playwright-core").exists()
    {
        run_long(
            start,
            "installing the web UI's npm packages (npm ci)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&web),
        )?;
    }
    let dist = web.join("dist");
    let _ = fs::remove_dir_all(&dist);
    fs::create_dir_all(dist.join("vendor")).map_err(|e| e.to_string())?;
    for f in ["index.html", "app.js", "app.css"] {
        fs::copy(web.join("src").join(f), dist.join(f)).map_err(|e| format!("copying {f}: {e}"))?;
    }
    for (from, to) in [
        ("node_modules/@xterm/xterm/lib/xterm.js", "vendor/xterm.js"),
        (
            "node_modules/@xterm/xterm/css/xterm.css",
            "vendor/xterm.css",
        ),
        (
            "node_modules/@xterm/addon-fit/lib/addon-fit.js",
            "vendor/addon-fit.js",
        ),
    ] {
        fs::copy(web.join(from), dist.join(to)).map_err(|e| format!("copying {from}: {e}"))?;
    }
    step(start, &format!("web UI built in {}", dist.display()));
    Ok(dist)
}
