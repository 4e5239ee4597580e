//! The shell programs a CT's pod runs, and the command a console enters with.
//!
//! They are domain, not plumbing: they *are* the storage-mode rules (what is
//! seeded, when, and how a session reaches the persistent root). corral-k8s
//! puts them into the pod spec verbatim; the privileged-rootfs tests run the
//! very same text against a real Debian root filesystem.

/// Where a privileged CT's volume is mounted inside the pod.
pub const ROOTFS_MOUNT: &str = "/corral/rootfs";

/// The file, inside the seeded rootfs, written last when seeding completed.
pub const SEED_MARKER: &str = "/corral/rootfs/.corral/seeded";

/// Grace period for stopping a CT's pod, in seconds. The main process traps
/// SIGTERM and exits at once, so this is only the bound for a stuck pod.
pub const STOP_GRACE_SECONDS: i64 = 10;

/// Main process of every CT: long-lived, exits 0 promptly on SIGTERM/SIGINT.
/// `sleep & wait` keeps the shell able to run its trap while it waits.
pub const IDLE: &str = r#"trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"#;

/// Seeds a privileged CT's volume from the image root, once.
///
/// - An already-seeded volume (marker present) is never copied over.
/// - A half-finished copy (no marker) is redone: nothing of the user's can
///   be on it yet, since the CT never ran from it.
/// - The marker is written last, through a rename, after a sync.
pub const SEED: &str = r#"set -eu
R=/corral/rootfs
M="$R/.corral/seeded"
if [ -f "$M" ]; then
  echo "corral: root filesystem already seeded at $(cat "$M"); keeping it"
  exit 0
fi
if ! command -v chroot >/dev/null 2>&1; then
  echo "corral: this image has no chroot; privileged CTs need a full OS image such as debian, ubuntu or fedora" | tee /dev/termination-log >&2
  exit 64
fi
if ! cp --version 2>/dev/null | grep -q GNU; then
  echo "corral: this image has no GNU cp (cp -a); privileged CTs need a full OS image such as debian, ubuntu or fedora" | tee /dev/termination-log >&2
  exit 64
fi
echo "corral: seeding root filesystem from the image (first boot)"
cp -a --one-file-system /. "$R/"
mkdir -p "$R/.corral"
sync
date -u +%Y-%m-%dT%H:%M:%SZ > "$M.tmp"
mv "$M.tmp" "$M"
sync
echo "corral: seeding done"
"#;

/// Main process of a privileged CT: makes /proc, /sys, /dev and the pod's
/// name resolution visible inside the persistent root, then chroots into it.
/// The mounts live in the container's mount namespace, which exec sessions
/// join, so a console that re-chroots sees them too.
pub const PRIVILEGED_MAIN: &str = r#"set -eu
R=/corral/rootfs
if [ ! -f "$R/.corral/seeded" ]; then
  echo "corral: root filesystem is not seeded; refusing to start" | tee /dev/termination-log >&2
  exit 65
fi
mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/etc"
mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
mountpoint -q "$R/sys" || mount --rbind /sys "$R/sys"
mountpoint -q "$R/dev" || mount --rbind /dev "$R/dev"
for f in resolv.conf hosts hostname; do
  if [ -f "/etc/$f" ]; then
    [ -e "$R/etc/$f" ] || touch "$R/etc/$f"
    mount --bind "/etc/$f" "$R/etc/$f"
  fi
done
exec chroot "$R" /bin/sh -c "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait \$!; done"
"#;

/// Starts the user's shell: bash when present, else sh, as a login shell.
pub const LOGIN_SHELL: &str =
    r#"if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi"#;

/// The argv a console session runs in the CT's main container.
///
/// A privileged CT re-chroots into the persistent root first: a sibling
/// exec starts from the image root, since chroot only changes the calling
/// process's apparent root.
pub fn console_command(mode: crate::spec::StorageMode) -> Vec<String> {
    match mode {
        crate::spec::StorageMode::Unprivileged => {
            vec!["/bin/sh".into(), "-c".into(), LOGIN_SHELL.into()]
        }
        crate::spec::StorageMode::Privileged => vec![
            "chroot".into(),
            ROOTFS_MOUNT.into(),
            "/usr/bin/env".into(),
            "HOME=/root".into(),
            "/bin/sh".into(),
            "-c".into(),
            format!("cd /root 2>/dev/null || cd /; {LOGIN_SHELL}"),
        ],
    }
}

/// The argv for `corral ct exec -- CMD...`: in a privileged CT the command
/// runs inside the persistent root.
pub fn exec_command(mode: crate::spec::StorageMode, cmd: &[String]) -> Vec<String> {
    match mode {
        crate::spec::StorageMode::Unprivileged => cmd.to_vec(),
        crate::spec::StorageMode::Privileged => {
            let mut v = vec!["chroot".to_string(), ROOTFS_MOUNT.to_string()];
            v.extend_from_slice(cmd);
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::StorageMode;

    #[test]
    fn console_and_exec_argv_per_mode() {
        let cmd = vec!["uname".to_string(), "-a".to_string()];
        insta::assert_debug_snapshot!((
            console_command(StorageMode::Unprivileged),
            console_command(StorageMode::Privileged),
            exec_command(StorageMode::Unprivileged, &cmd),
            exec_command(StorageMode::Privileged, &cmd),
        ));
    }
}
