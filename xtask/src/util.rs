//! Small helpers: running commands, progress lines, paths.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Result type of xtask: errors are messages for a person.
pub type Result<T = ()> = std::result::Result<T, String>;

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cache root outside the repository: `$CORRAL_CACHE_DIR`, else `~/.cache/corral`.
pub fn cache_root() -> PathBuf {
    if let Ok(d) = std::env::var("CORRAL_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".cache")
        });
    base.join("corral")
}

/// Prints one progress line with the time since `start`.
pub fn step(start: Instant, msg: &str) {
    eprintln!("[{:>6.1}s] {msg}", start.elapsed().as_secs_f64());
}

/// Runs `cmd`, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?} failed ({}):\n{}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a long command, printing a heartbeat line every 20 s so a person
/// sees it is still working.
pub fn run_long(start: Instant, what: &str, cmd: &mut Command) -> Result<String> {
    step(start, &format!("{what} …"));
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let what_owned = what.to_string();
    let began = Instant::now();
    let beat = std::thread::spawn(move || {
        let mut n = 0u64;
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(250));
            n += 1;
            if n.is_multiple_of(80) {
                eprintln!(
                    "         … still {what_owned} ({}s)",
                    began.elapsed().as_secs()
                );
            }
        }
    });
    let r = run(cmd);
    done.store(true, Ordering::Relaxed);
    let _ = beat.join();
    if r.is_ok() {
        step(
            start,
            &format!("{what}: done in {}s", began.elapsed().as_secs()),
        );
    }
    r
}

/// True when a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Makes sure Debian packages providing `programs` are installed, installing
/// them with apt-get when running as root.
pub fn ensure_debian(start: Instant, needs: &[(&str, &str)]) -> Result {
    let missing: Vec<&str> = needs
        .iter()
        .filter(|(prog, _)| !have(prog))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = run(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false);
    if !is_root {
        return Err(format!(
            "missing Debian packages: {}; install them with: sudo apt-get install -y {}",
            missing.join(" "),
            missing.join(" ")
        ));
    }
    step(
        start,
        &format!("installing Debian packages: {}", missing.join(" ")),
    );
    run(Command::new("apt-get").arg("update").arg("-q"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}
