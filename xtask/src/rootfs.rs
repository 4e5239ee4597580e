//! `cargo xtask rootfs`: root filesystems standing in for registry images
//! in the privileged-rootfs tests (no registry is reachable here).
//!
//! - `debian-bookworm`: debootstrap (minbase, plus iputils-ping for a file
//!   capability to check), standing in for `docker.io/library/debian:bookworm`;
//! - `busybox`: Debian's busybox-static with its applet links, standing in
//!   for alpine/busybox.
//!
//! Built once into `<cache>/rootfs/`, with progress; a half-built tree is
//! rebuilt (it is made under `*.tmp` and renamed when complete).

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::util::{Result, cache_root, ensure_debian, run, run_long, step};

/// Where the fixtures live.
pub fn dir() -> PathBuf {
    cache_root().join("rootfs")
}

fn mirror() -> String {
    std::env::var("CORRAL_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into())
}

/// Builds whatever fixture is missing.
pub fn build(start: Instant) -> Result<PathBuf> {
    let d = dir();
    fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    let debian = d.join("debian-bookworm");
    if !debian.join("etc/os-release").exists() {
        ensure_debian(start, &[("debootstrap", "debootstrap")])?;
        let tmp = d.join("debian-bookworm.tmp");
        let _ = fs::remove_dir_all(&tmp);
        run_long(
            start,
            "debootstrap of Debian bookworm (minbase) from Debian's archive (first time only; ~2–4 min)",
            Command::new("debootstrap")
                .args(["--variant=minbase", "--include=iputils-ping", "bookworm"])
                .arg(&tmp)
                .arg(mirror()),
        )?;
        // apt's package lists are not needed in the image, as in the real one.
        let _ = run(Command::new("sh").arg("-c").arg(format!(
            "rm -rf {}/var/cache/apt/archives/*.deb",
            tmp.display()
        )));
        fs::rename(&tmp, &debian).map_err(|e| format!("renaming the rootfs: {e}"))?;
    }
    let busybox = d.join("busybox");
    if !busybox.join("bin/sh").exists() {
        ensure_debian(start, &[("busybox", "busybox-static")])?;
        step(start, "making the busybox root filesystem");
        let tmp = d.join("busybox.tmp");
        let _ = fs::remove_dir_all(&tmp);
        for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            fs::create_dir_all(tmp.join(sub)).map_err(|e| e.to_string())?;
        }
        let bb = run(Command::new("sh").args(["-c", "command -v busybox"]))?;
        fs::copy(bb.trim(), tmp.join("bin/busybox"))
            .map_err(|e| format!("copying busybox: {e}"))?;
        run(Command::new("chroot")
            .arg(&tmp)
            .args(["/bin/busybox", "--install", "-s", "/bin"]))?;
        fs::write(tmp.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .map_err(|e| e.to_string())?;
        fs::rename(&tmp, &busybox).map_err(|e| format!("renaming the rootfs: {e}"))?;
    }
    // /tmp is world-writable and sticky, as in the registry's busybox image.
    let _ = run(Command::new("chmod").arg("1777").arg(busybox.join("tmp")));
    step(start, &format!("root filesystems ready in {}", d.display()));
    Ok(d)
}
