//! Privileged mode for real: the exact seed and main entrypoints the CT's
//! pod runs (`corral_core::entrypoint`), run against a Debian bookworm root
//! filesystem made with debootstrap and a busybox one, each "pod run" in a
//! fresh mount + pid namespace whose root is an overlay of the image, with a
//! volume folder bind-mounted where the pod mounts its volume.
//!
//! Select with `cargo test privileged_rootfs`. Needs root (and CI has it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use corral_core::StorageMode;
use corral_core::entrypoint::{self, PRIVILEGED_MAIN, SEED};
use corral_tests::podrun::{Ct, build_deb, ok, pid1_of, sh};

/// The fixtures, or `None` outside CI when they are missing.
fn rootfs_dir() -> Option<PathBuf> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false);
    let dir = std::env::var_os("CORRAL_TEST_ROOTFS_DIR").map(PathBuf::from);
    match dir {
        Some(d) if is_root && d.join("debian-bookworm/etc/os-release").exists() => Some(d),
        _ => crate::common::missing("rootfs fixtures, or not root"),
    }
}

/// `stat` of paths in a root: owner, group, mode, link count, link target.
fn stat(root: &Path, paths: &[&str]) -> String {
    let mut out = String::new();
    for p in paths {
        let full = format!("{}{p}", root.display());
        out.push_str(&ok(&sh(&format!(
            "stat -c '%n %u %g %a %h %F' {full} | sed 's#^{}##'",
            root.display()
        ))));
        if let Ok(t) = std::fs::read_link(&full) {
            out.push_str(&format!("{p} -> {}\n", t.display()));
        }
    }
    out
}

#[test]
fn privileged_rootfs_survives_stop_start_with_packages_dotfiles_and_etc() {
    let Some(dir) = rootfs_dir() else { return };
    let image = dir.join("debian-bookworm");
    let ct = Ct::new(&image);

    // 1. First boot seeds, then the main process chroots, stays up, and ends promptly on SIGTERM.
    let (seed, _) = ct.seed();
    assert!(ok(&seed).contains("seeding done"));
    let marker = std::fs::read_to_string(ct.volume.join(".corral/seeded")).unwrap();
    let main = ct.start();
    assert!(main.alive(), "main process died: {:?}", main.child.id());
    assert!(
        std::fs::read_link(format!("/proc/{}/root", main.pid1))
            .unwrap()
            .ends_with("corral/rootfs"),
        "PID 1 runs chrooted in the volume"
    );

    // The seed kept ownership, modes, symlinks, hard links and file capabilities.
    let paths = [
        "/usr/bin/passwd",
        "/etc/shadow",
        "/bin",
        "/usr/bin/perl",
        "/usr/bin/ping",
        "/tmp",
    ];
    assert_eq!(stat(&ct.volume, &paths), stat(&image, &paths));
    let caps = ok(&sh(&format!("getcap {}/usr/bin/ping", ct.volume.display())));
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");

    // 6. Name resolution, /proc, /sys and /dev inside the chroot, as the console sees them.
    let inside = ok(&main.sh("getent hosts corral-test-host; cat /etc/resolv.conf; test -r /proc/self/status && test -d /sys/class && test -c /dev/null && echo mounts-ok; hostname"));
    for want in ["10.1.2.3", "nameserver 10.96.0.10", "mounts-ok", "devbox"] {
        assert!(inside.contains(want), "{want}: {inside}");
    }

    // 2. Install a package with dpkg (no network), write a dotfile and an /etc file.
    let deb = build_deb(&ct.base);
    std::fs::copy(&deb, ct.volume.join("root/corral-hello.deb")).unwrap();
    ok(&main.sh("dpkg -i /root/corral-hello.deb && echo 'alias ll=\"ls -l\"' > /root/.corralrc && echo changed > /etc/motd && echo kept > /etc/corral-test.conf"));
    let took = main.stop();
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");

    // 3. Stop, start from a fresh copy of the image: everything is still there.
    let (again, _) = ct.seed();
    assert!(
        ok(&again).contains("already seeded"),
        "a seeded volume must not be copied over"
    );
    let main = ct.start();
    let after = ok(&main.sh("dpkg -s corral-hello | grep Status; corral-hello; cat /root/.corralrc /etc/motd /etc/corral-test.conf"));
    for want in [
        "install ok installed",
        "hello from a package",
        "alias ll",
        "changed",
        "kept",
    ] {
        assert!(after.contains(want), "{want}: {after}");
    }
    assert_eq!(
        std::fs::read_to_string(ct.volume.join(".corral/seeded")).unwrap(),
        marker,
        "seeded once"
    );

    // 4. A second, concurrent console session sees the same persistent root.
    let argv = entrypoint::console_command(StorageMode::Privileged);
    let mut second = argv.clone();
    // The console starts a login shell; give it a command instead of a terminal.
    let last = second.len() - 1;
    second[last] = "cat /etc/corral-test.conf; readlink -f /proc/1/root".into();
    let seen = ok(&main.exec(&second));
    assert!(seen.contains("kept"), "{seen}");
    main.stop();
}

#[test]
fn privileged_rootfs_seed_killed_midway_is_redone_and_a_finished_seed_is_never_overwritten() {
    let Some(dir) = rootfs_dir() else { return };
    let ct = Ct::new(&dir.join("debian-bookworm"));
    // 5. Kill the first boot mid-copy.
    let (mut child, _) = ct.spawn(SEED);
    let started = Instant::now();
    while !ct.volume.join("usr").exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Killing PID 1 of the pod's pid namespace kills the whole copy.
    if let Some(pid1) = pid1_of(&child) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid1.to_string()])
            .status();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !ct.volume.join(".corral/seeded").exists(),
        "the marker must be written last"
    );
    // The next start completes the seed.
    let (seed, _) = ct.seed();
    assert!(ok(&seed).contains("seeding done"));
    // The pod's own hosts/hostname/resolv.conf are bind-mounted at every start.
    let tree = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = ok(&sh(&format!(
            "cd {} && find usr etc var -xdev",
            p.display()
        )))
        .lines()
        .filter(|l| !matches!(*l, "etc/hosts" | "etc/hostname" | "etc/resolv.conf"))
        .map(str::to_string)
        .collect();
        v.sort();
        v
    };
    let (want, got) = (tree(&dir.join("debian-bookworm")), tree(&ct.volume));
    let diff: Vec<&String> = want
        .iter()
        .filter(|f| !got.contains(f))
        .chain(got.iter().filter(|f| !want.contains(f)))
        .collect();
    assert!(
        diff.is_empty(),
        "the redone seed is complete; differs in {diff:?}"
    );
    // A user change after a finished seed is never overwritten by a later boot.
    std::fs::write(ct.volume.join("etc/os-release"), "user edited\n").unwrap();
    let (again, _) = ct.seed();
    ok(&again);
    assert_eq!(
        std::fs::read_to_string(ct.volume.join("etc/os-release")).unwrap(),
        "user edited\n"
    );
}

#[test]
fn privileged_rootfs_on_busybox_fails_fast_naming_what_is_missing() {
    let Some(dir) = rootfs_dir() else { return };
    let ct = Ct::new(&dir.join("busybox"));
    let started = Instant::now();
    let (out, termination) = ct.seed();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        termination.contains("no GNU cp"),
        "the pod status shows the reason: {termination:?}"
    );
    assert!(
        termination.contains("debian, ubuntu or fedora"),
        "{termination}"
    );
    assert_eq!(
        std::fs::read_dir(&ct.volume).unwrap().count(),
        0,
        "the volume is untouched"
    );
    // And the main container refuses an unseeded volume.
    let (main, run) = ct.spawn(PRIVILEGED_MAIN);
    let out = main.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(
        std::fs::read_to_string(run.join("termination-log"))
            .unwrap()
            .contains("not seeded")
    );
}
