//! `cargo xtask cluster up --real-node`: one real node beside the kwok nodes.
//!
//! A kubelet and kube-proxy built from the same pinned `k8s.io/kubernetes`
//! module, Debian's containerd (1.6) and runc, Debian's CNI plugins with a
//! bridge network and host-local IPAM. Images are made here from local root
//! filesystems and imported into containerd — nothing is pulled:
//!
//! - `docker.io/library/debian:bookworm` (and `:latest`): the debootstrap
//!   tree of `cargo xtask rootfs`;
//! - `docker.io/library/busybox:1.36` (and `:latest`): Debian's busybox-static;
//! - `registry.k8s.io/pause:3.10`: the sandbox image containerd's config
//!   names, a small Go program of ours (`xtask/go/pause`).
//!
//! The node is tainted `corral.dev/node=corral-node:NoSchedule`, so only
//! CTs created with `--node corral-node` land on it; the kwok nodes take
//! everything else (scale tests, API tests).
//!
//! Everything lives under `<cluster>/node` (state, logs) and
//! `<cache>/node-images` (image tarballs and containerd's content store, kept
//! between runs). `down` stops what `up` started, kills the containers it ran,
//! unmounts what they mounted and removes its network devices and rules.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cluster::{self, K8S_VERSION, Paths};
use crate::util::{Result, cache_root, ensure_debian, have, repo_root, run, run_long, step};

/// Name of the real node (also its taint's value).
pub const NODE_NAME: &str = "corral-node";
/// Address of the node: a /32 on the loopback device, never the machine's
/// network address, so the kubelet listens on nothing reachable from outside.
pub const NODE_IP: &str = "10.250.0.1";
/// Pod addresses on the node's bridge.
const POD_SUBNET: &str = "10.85.0.0/24";
const BRIDGE: &str = "corral0";
/// The sandbox image containerd's config names.
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// The node's own processes, in start order.
pub const PROCESSES: [&str; 3] = ["containerd", "kubelet", "kube-proxy"];

fn dir(p: &Paths) -> PathBuf {
    p.dir.join("node")
}
fn run_dir() -> PathBuf {
    PathBuf::from("/run/corral-containerd")
}
fn socket() -> PathBuf {
    run_dir().join("containerd.sock")
}
fn images_dir() -> PathBuf {
    cache_root().join("node-images")
}
/// kubelet and kube-proxy (built with cgo, apart from the control plane).
fn node_bin(p: &Paths) -> PathBuf {
    p.k8s_bin
        .with_file_name(format!("kubernetes-{K8S_VERSION}-node"))
}

/// Builds kubelet, kube-proxy and the pause program when missing.
fn build(start: Instant, p: &Paths) -> Result {
    let bin = node_bin(p);
    if !["kubelet", "kube-proxy"]
        .iter()
        .all(|b| bin.join(b).exists())
    {
        fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
        let mut cmd = Command::new("go");
        // The kubelet needs cgo (cadvisor, libcontainer's cgroup handling).
        cmd.current_dir(repo_root().join("xtask/go/kubernetes"))
            .env("CGO_ENABLED", "1")
            .args([
                "build",
                "-trimpath",
                "-ldflags",
                &cluster::version_ldflags(),
                "-o",
            ])
            .arg(format!("{}/", bin.display()))
            .args([
                "k8s.io/kubernetes/cmd/kubelet",
                "k8s.io/kubernetes/cmd/kube-proxy",
            ]);
        run_long(
            start,
            &format!(
                "building kubelet and kube-proxy {K8S_VERSION} (first time only; ~5 min on 2 cores)"
            ),
            &mut cmd,
        )?;
    }
    cluster::go_build(
        start,
        &repo_root().join("xtask/go/pause"),
        &images_dir().join("pause/pause"),
        ".",
        "the pause program",
    )
}

/// One image: a name, the tags it carries, its root filesystem and command.
struct Image {
    file: &'static str,
    tags: &'static [&'static str],
    rootfs: PathBuf,
    cmd: &'static str,
}

fn images(rootfs: &Path) -> [Image; 3] {
    [
        Image {
            file: "pause",
            tags: &[PAUSE_IMAGE],
            rootfs: images_dir().join("pause"),
            cmd: r#""Entrypoint":["/pause"]"#,
        },
        Image {
            file: "debian-bookworm",
            tags: &[
                "docker.io/library/debian:bookworm",
                "docker.io/library/debian:latest",
            ],
            rootfs: rootfs.join("debian-bookworm"),
            cmd: r#""Cmd":["bash"]"#,
        },
        Image {
            file: "busybox",
            tags: &[
                "docker.io/library/busybox:1.36",
                "docker.io/library/busybox:latest",
            ],
            rootfs: rootfs.join("busybox"),
            cmd: r#""Cmd":["sh"]"#,
        },
    ]
}

/// Writes a docker-archive tarball (`docker save` format) of one root
/// filesystem, unless it exists. One layer, numeric owners kept.
/// Bump when the way images are made changes, so cached tarballs are remade
/// and re-imported.
const IMAGE_REVISION: u32 = 2;

fn archive(start: Instant, img: &Image) -> Result<(PathBuf, bool)> {
    let out = images_dir().join(format!("{}.r{IMAGE_REVISION}.tar", img.file));
    if out.exists() {
        return Ok((out, false));
    }
    step(
        start,
        &format!(
            "making the image {} from {}",
            img.tags[0],
            img.rootfs.display()
        ),
    );
    let work = images_dir().join(format!("{}.build", img.file));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    run(Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(&img.rootfs)
        .arg("-cf")
        .arg(work.join("layer.tar"))
        .arg("."))?;
    let sum = run(Command::new("sha256sum").arg(work.join("layer.tar")))?;
    let digest = sum
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],{cmd}}},"rootfs":{{"type":"layers","diff_ids":["sha256:{digest}"]}}}}"#,
        cmd = img.cmd
    );
    fs::write(work.join("config.json"), config).map_err(|e| e.to_string())?;
    let tags: Vec<String> = img.tags.iter().map(|t| format!("\"{t}\"")).collect();
    fs::write(
        work.join("manifest.json"),
        format!(
            r#"[{{"Config":"config.json","RepoTags":[{}],"Layers":["layer.tar"]}}]"#,
            tags.join(",")
        ),
    )
    .map_err(|e| e.to_string())?;
    let tmp = out.with_extension("tar.tmp");
    run(Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-cf")
        .arg(&tmp)
        .args(["manifest.json", "config.json", "layer.tar"]))?;
    fs::rename(&tmp, &out).map_err(|e| e.to_string())?;
    let _ = fs::remove_dir_all(&work);
    Ok((out, true))
}

fn ctr() -> Command {
    let mut c = Command::new("ctr");
    c.arg("--address")
        .arg(socket())
        .args(["--namespace", "k8s.io"]);
    c
}

/// Imports every image containerd does not have yet.
fn import_images(start: Instant, rootfs: &Path) -> Result {
    let have = run(ctr().args(["images", "ls", "-q"]))?;
    for img in images(rootfs) {
        let (tar, fresh) = archive(start, &img)?;
        if !fresh && img.tags.iter().all(|t| have.lines().any(|l| l == *t)) {
            continue;
        }
        run_long(
            start,
            &format!("importing {} into containerd", img.tags.join(", ")),
            ctr().args(["images", "import"]).arg(&tar),
        )?;
    }
    Ok(())
}

fn containerd_config(p: &Paths) -> String {
    let d = dir(p);
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # The kubelet asks for negative OOM scores (-998 for sandboxes); without
  # CAP_SYS_RESOURCE (absent on these machines) the kernel refuses them and
  # runc fails with "can't get final child's PID from pipe". Clamp them to
  # containerd's own score instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
"#,
        root = images_dir().join("containerd").display(),
        state = run_dir().join("state").display(),
        sock = socket().display(),
        d = d.display(),
    )
}

fn cni_config(p: &Paths) -> String {
    format!(
        r#"{{
  "cniVersion": "0.4.0",
  "name": "corral",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "dataDir": "{data}",
        "ranges": [[{{"subnet": "{POD_SUBNET}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}]
      }}
    }},
    {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
  ]
}}
"#,
        data = dir(p).join("ipam").display()
    )
}

fn kubelet_config(p: &Paths) -> String {
    let pki = p.dir.join("pki");
    let d = dir(p);
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {pki}/ca.crt}}
authorization: {{mode: Webhook}}
tlsCertFile: {pki}/kubelet-serving.crt
tlsPrivateKeyFile: {pki}/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{sock}
podLogsDir: {d}/pod-logs
registerNode: true
registerWithTaints:
- {{key: corral.dev/node, value: {NODE_NAME}, effect: NoSchedule}}
maxPods: 40
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {{memory.available: 200Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}}
"#,
        pki = pki.display(),
        sock = socket().display(),
        d = d.display(),
    )
}

fn kube_proxy_config(p: &Paths) -> String {
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {kc}}}
mode: iptables
hostnameOverride: {NODE_NAME}
bindAddress: {NODE_IP}
clusterCIDR: {POD_SUBNET}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {{localhostNodePorts: false}}
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
"#,
        kc = p.kubeconfig("kube-proxy").display()
    )
}

fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

/// Starts the real node on a running control plane (idempotent).
pub fn up(start: Instant, p: &Paths) -> Result {
    let root = run(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false);
    if !root {
        return Err("the real node runs containers and needs root (containerd, runc, network devices); run `cargo xtask cluster up --real-node` as root, or leave out --real-node for kwok nodes only".into());
    }
    ensure_debian(
        start,
        &[
            ("containerd", "containerd"),
            ("runc", "runc"),
            ("/usr/lib/cni/bridge", "containernetworking-plugins"),
            ("iptables", "iptables"),
            ("conntrack", "conntrack"),
            ("ip", "iproute2"),
        ],
    )?;
    let rootfs = crate::rootfs::build(start)?;
    build(start, p)?;
    // A cluster started by an older xtask may lack the node's certificates.
    cluster::pki(p)?;
    let d = dir(p);
    for sub in ["cni", "ipam", "pod-logs", "kubelet", "opt"] {
        fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
    }
    // A /32 of its own on the loopback device (no dummy-device module on
    // every kernel): reachable from this host only.
    let node_cidr = format!("{NODE_IP}/32");
    if !ip(&["-4", "addr", "show", "dev", "lo"])?.contains(&format!(" {node_cidr} ")) {
        step(
            start,
            &format!("adding the node's address {NODE_IP} to the loopback device"),
        );
        ip(&["addr", "add", &node_cidr, "dev", "lo"])?;
    }
    // Traffic to a ClusterIP from a pod on the same bridge must pass iptables.
    let _ = run(Command::new("modprobe").arg("br_netfilter"));
    let _ = fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    let _ = fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1");

    cluster::write(&d.join("containerd.toml"), &containerd_config(p))?;
    cluster::write(&d.join("cni/10-corral.conflist"), &cni_config(p))?;
    fs::create_dir_all(run_dir()).map_err(|e| e.to_string())?;
    step(start, "starting containerd");
    cluster::spawn(
        p,
        "containerd",
        Path::new("/usr/bin/containerd"),
        &[format!("--config={}", d.join("containerd.toml").display())],
    )?;
    cluster::wait_until(start, "containerd socket", Duration::from_secs(60), || {
        run(ctr().args(["version"])).is_ok()
    })?;
    import_images(start, &rootfs)?;

    cluster::write(&d.join("kubelet.yaml"), &kubelet_config(p))?;
    step(
        start,
        &format!("starting kubelet ({NODE_NAME}) and kube-proxy"),
    );
    cluster::spawn(
        p,
        "kubelet",
        &node_bin(p).join("kubelet"),
        &[
            format!("--config={}", d.join("kubelet.yaml").display()),
            format!("--kubeconfig={}", p.kubeconfig("kubelet").display()),
            format!("--root-dir={}", d.join("kubelet").display()),
            format!("--hostname-override={NODE_NAME}"),
            format!("--node-ip={NODE_IP}"),
            "--node-labels=corral.dev/real-node=true".to_string(),
        ],
    )?;
    cluster::write(&d.join("kube-proxy.yaml"), &kube_proxy_config(p))?;
    cluster::spawn(
        p,
        "kube-proxy",
        &node_bin(p).join("kube-proxy"),
        &[format!("--config={}", d.join("kube-proxy.yaml").display())],
    )?;
    cluster::wait_until(
        start,
        &format!("node {NODE_NAME} Ready"),
        Duration::from_secs(180),
        || {
            run(cluster::kubectl(p).args([
                "wait",
                "--for=condition=Ready",
                &format!("node/{NODE_NAME}"),
                "--timeout=2s",
            ]))
            .is_ok()
        },
    )?;
    Ok(())
}

/// True when the node's processes all run.
pub fn running(p: &Paths) -> bool {
    PROCESSES.iter().all(|c| cluster::is_running(p, c))
}

/// Stops the node: kubelet and kube-proxy, then every container it ran,
/// then containerd; unmounts what they mounted; removes the node's network
/// devices, iptables rules and state. Returns what it stopped.
pub fn down(p: &Paths) -> Vec<String> {
    let mut stopped = Vec::new();
    if !dir(p).exists() {
        // No real node was started here: touch nothing of the machine's.
        return stopped;
    }
    for name in ["kube-proxy", "kubelet"] {
        stopped.extend(cluster::stop(p, name));
    }
    if cluster::is_running(p, "containerd") {
        // The kubelet is gone, so stop the containers directly.
        if let Ok(ids) = run(ctr().args(["tasks", "ls", "-q"])) {
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = run(ctr().args(["tasks", "kill", "--all", "--signal", "SIGKILL", id]));
            }
            std::thread::sleep(Duration::from_millis(500));
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = run(ctr().args(["tasks", "delete", "--force", id]));
            }
        }
        if let Ok(ids) = run(ctr().args(["containers", "ls", "-q"])) {
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = run(ctr().args(["containers", "delete", id]));
            }
        }
        stopped.extend(cluster::stop(p, "containerd"));
    }
    // Shims whose containerd is gone (a crash) are ours by their address.
    let _ = run(Command::new("pkill").args([
        "-KILL",
        "-f",
        &format!("containerd-shim.*-address {}", socket().display()),
    ]));
    unmount_under(&[
        dir(p).display().to_string(),
        run_dir().display().to_string(),
        images_dir().join("containerd").display().to_string(),
        "/run/netns/cni-".to_string(),
        "/var/run/netns/cni-".to_string(),
    ]);
    if let Ok(list) = fs::read_dir("/run/netns") {
        for e in list.flatten() {
            if e.file_name().to_string_lossy().starts_with("cni-") {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    if have("iptables-save") && node_bin(p).join("kube-proxy").exists() {
        let _ = run(Command::new(node_bin(p).join("kube-proxy")).arg("--cleanup"));
        drop_node_rules();
    }
    remove_cgroups();
    if ip(&["link", "show", BRIDGE]).is_ok() {
        let _ = ip(&["link", "delete", BRIDGE]);
        stopped.push(format!("network device {BRIDGE}"));
    }
    if ip(&["addr", "del", &format!("{NODE_IP}/32"), "dev", "lo"]).is_ok() {
        stopped.push(format!("node address {NODE_IP}"));
    }
    let _ = fs::remove_dir_all(dir(p));
    let _ = fs::remove_dir_all(run_dir());
    stopped
}

/// Unmounts every mount point under the given prefixes, deepest first.
fn unmount_under(prefixes: &[String]) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| prefixes.iter().any(|p| m.starts_with(p.as_str())))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    points.dedup();
    for m in points {
        let _ = run(Command::new("umount").args(["-l", m]));
    }
}

/// Removes what a killed node leaves in iptables: the bridge plugin's
/// masquerade chains (`CNI-…`, no CNI DEL ran) and the kubelet's own
/// `KUBE-…` chains (kube-proxy's are gone after `kube-proxy --cleanup`).
/// Every other rule of the table is kept as it was.
fn drop_node_rules() {
    for table in ["nat", "filter", "mangle"] {
        let Ok(rules) = run(Command::new("iptables-save").args(["-t", table])) else {
            continue;
        };
        let ours = |l: &str| l.contains("CNI-") || l.contains("KUBE-");
        if !rules.lines().any(ours) {
            continue;
        }
        let kept: String = rules
            .lines()
            .filter(|l| !ours(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let Ok(mut child) = Command::new("iptables-restore")
            .args(["-T", table])
            .stdin(std::process::Stdio::piped())
            .spawn()
        else {
            return;
        };
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(kept.as_bytes());
        }
        let _ = child.wait();
    }
}

/// Removes the kubelet's (now empty) `kubepods` cgroups, deepest first.
fn remove_cgroups() {
    fn rmdirs(d: &Path) {
        if let Ok(list) = fs::read_dir(d) {
            for e in list.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rmdirs(&e.path());
                }
            }
        }
        let _ = fs::remove_dir(d);
    }
    if let Ok(list) = fs::read_dir("/sys/fs/cgroup") {
        for controller in list.flatten() {
            rmdirs(&controller.path().join("kubepods"));
        }
    }
}
