//! A "pod run" without a kubelet: the CT's exact entrypoints in a fresh
//! mount + pid + uts namespace whose root is an overlay of an image root
//! filesystem, with the CT's volume folder bind-mounted where the pod mounts
//! it, and the pod's resolv.conf/hosts/hostname. Used by the
//! privileged-rootfs tests and `cargo xtask bench rootfs`. Needs root.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use corral_core::StorageMode;
use corral_core::entrypoint::{self, PRIVILEGED_MAIN, SEED};

pub fn sh(script: &str) -> Output {
    Command::new("bash").arg("-c").arg(script).output().unwrap()
}

/// One CT's volume and the image it was made from.
pub struct Ct {
    pub image: PathBuf,
    pub base: PathBuf,
    pub volume: PathBuf,
}

static RUN: AtomicU32 = AtomicU32::new(0);

impl Ct {
    pub fn new(image: &Path) -> Self {
        let base = std::env::temp_dir().join(format!(
            "corral-rootfs-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let volume = base.join("volume");
        std::fs::create_dir_all(&volume).unwrap();
        Ct {
            image: image.to_path_buf(),
            base,
            volume,
        }
    }

    /// Starts one container of a "pod run": fresh overlay of the image, the
    /// volume at the rootfs mount, /proc, /sys, a tmpfs /dev, the pod's
    /// resolv.conf/hosts/hostname, and `script` as PID 1 of a new pid namespace.
    pub fn spawn(&self, script: &str) -> (Child, PathBuf) {
        let run = self
            .base
            .join(format!("run-{}", RUN.fetch_add(1, Ordering::Relaxed)));
        for d in ["upper", "work", "root"] {
            std::fs::create_dir_all(run.join(d)).unwrap();
        }
        std::fs::write(
            run.join("resolv.conf"),
            "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n",
        )
        .unwrap();
        std::fs::write(
            run.join("hosts"),
            "127.0.0.1 localhost\n10.244.0.9 devbox\n10.1.2.3 corral-test-host\n",
        )
        .unwrap();
        std::fs::write(run.join("hostname"), "devbox\n").unwrap();
        std::fs::write(run.join("termination-log"), "").unwrap();
        let setup = format!(
            r#"set -e
hostname devbox
R={run}/root
mount -t overlay overlay -o lowerdir={image},upperdir={run}/upper,workdir={run}/work "$R"
mkdir -p "$R/corral/rootfs" "$R/proc" "$R/sys" "$R/dev" "$R/etc"
mount --bind {volume} "$R/corral/rootfs"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755 tmpfs "$R/dev"
for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
touch "$R/dev/termination-log"; mount --bind {run}/termination-log "$R/dev/termination-log"
for f in resolv.conf hosts hostname; do touch "$R/etc/$f"; mount --bind "{run}/$f" "$R/etc/$f"; done
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CORRAL_CT=devbox chroot "$R" /bin/sh -c "$ENTRYPOINT"
"#,
            run = run.display(),
            image = self.image.display(),
            volume = self.volume.display(),
        );
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--pid",
                "--uts",
                "--fork",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                &setup,
            ])
            .env("ENTRYPOINT", script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, run)
    }

    /// The init container: runs the seed to completion.
    pub fn seed(&self) -> (Output, String) {
        let (child, run) = self.spawn(SEED);
        let out = child.wait_with_output().unwrap();
        let log = std::fs::read_to_string(run.join("termination-log")).unwrap_or_default();
        (out, log)
    }

    /// The main container, running until stopped.
    pub fn start(&self) -> Main {
        let (child, run) = self.spawn(PRIVILEGED_MAIN);
        let started = Instant::now();
        let pid1 = loop {
            if let Some(p) = pid1_of(&child) {
                break p;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "PID 1 did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let m = Main { child, pid1, run };
        // Wait until the entrypoint has chrooted into the volume and its shell
        // catches SIGTERM (PID 1 of a namespace ignores signals it has no
        // handler for, so a stop sent earlier would be lost).
        let started = Instant::now();
        while !(std::fs::read_link(format!("/proc/{}/root", m.pid1))
            .is_ok_and(|r| r.ends_with("corral/rootfs"))
            && catches_term(m.pid1))
        {
            if started.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }
}

impl Drop for Ct {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A running main container.
pub struct Main {
    pub child: Child,
    pub pid1: u32,
    pub run: PathBuf,
}

impl Main {
    /// A sibling process, entered as `kubectl exec` enters: the container's
    /// namespaces and its (image) root — then the given argv.
    pub fn exec(&self, argv: &[String]) -> Output {
        Command::new("nsenter")
            .args([
                "-t",
                &self.pid1.to_string(),
                "-m",
                "-p",
                "-u",
                "--",
                "env",
                "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "chroot",
            ])
            .arg(self.run.join("root"))
            .args(argv)
            .output()
            .unwrap()
    }

    /// `corral ct exec devbox -- sh -c SCRIPT`: re-chroots into the volume.
    pub fn sh(&self, script: &str) -> Output {
        let argv = entrypoint::exec_command(
            StorageMode::Privileged,
            &["/bin/sh".into(), "-c".into(), script.into()],
        );
        self.exec(&argv)
    }

    pub fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid1)).exists()
    }

    /// SIGTERM to PID 1, as the kubelet sends it; returns how long it took to end.
    pub fn stop(mut self) -> Duration {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid1.to_string()])
            .status();
        let _ = self.child.wait();
        started.elapsed()
    }
}

/// True when the process has a handler for SIGTERM (bit 15 of SigCgt).
fn catches_term(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:").map(|v| v.trim().to_string()))
        })
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .is_some_and(|mask| mask & (1 << 14) != 0)
}

/// Host pid of PID 1 of the namespace `unshare --fork` made.
pub fn pid1_of(unshare: &Child) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id())).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Builds a small .deb with a binary on PATH, without network.
pub fn build_deb(dir: &Path) -> PathBuf {
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/bin")).unwrap();
    std::fs::write(pkg.join("DEBIAN/control"), "Package: corral-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: corral tests <tests@corral.invalid>\nDescription: test package\n").unwrap();
    std::fs::write(
        pkg.join("usr/bin/corral-hello"),
        "#!/bin/sh\necho hello from a package\n",
    )
    .unwrap();
    ok(&sh(&format!(
        "chmod 755 {0}/usr/bin/corral-hello && dpkg-deb --root-owner-group --build {0} {1}/corral-hello.deb >/dev/null",
        pkg.display(),
        dir.display()
    )));
    dir.join("corral-hello.deb")
}
