//! `cargo xtask cluster up|down|status|env`: a real local control plane.
//!
//! etcd, kube-apiserver, kube-controller-manager and kube-scheduler built
//! from the Go module proxy (wrapper modules under `xtask/go/`), with kwok
//! simulating nodes. Everything binds to 127.0.0.1. State lives outside the
//! repository, in `<cache>/cluster` (certificates, kubeconfigs, logs, pids).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Result, cache_root, ensure_debian, repo_root, run, run_long, step};

/// Pinned Kubernetes release.
pub const K8S_VERSION: &str = "v1.36.3";
/// Pinned etcd release.
pub const ETCD_VERSION: &str = "v3.6.16";
/// Pinned kwok release.
pub const KWOK_VERSION: &str = "v0.8.0";

/// The local provisioner's binary; the suffix changes with its source
/// (xtask/go/kubernetes/provisioner) so a cached older build is not reused.
const PROVISIONER: &str = "corral-local-provisioner-r2";

/// Loopback ports the cluster uses.
pub const APISERVER_PORT: u16 = 16443;
const ETCD_PORT: u16 = 12379;
const ETCD_PEER_PORT: u16 = 12380;
const KCM_PORT: u16 = 10357;
const SCHEDULER_PORT: u16 = 10359;
const KWOK_PORT: u16 = 10247;

/// Namespace labelled Pod Security "restricted", for tests.
pub const RESTRICTED_NS: &str = "corral-restricted";
/// Namespace where the non-admin user has the `edit` ClusterRole.
pub const DEV_NS: &str = "corral-dev";
/// Names of the simulated nodes.
pub const KWOK_NODES: [&str; 2] = ["kwok-node-0", "kwok-node-1"];

/// Paths of one cluster.
#[derive(Clone)]
pub struct Paths {
    /// State folder.
    pub dir: PathBuf,
    /// Built binaries.
    pub k8s_bin: PathBuf,
    etcd_bin: PathBuf,
    kwok_bin: PathBuf,
}

impl Paths {
    pub fn new() -> Self {
        let cache = cache_root();
        let dir = std::env::var("CORRAL_CLUSTER_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache.join("cluster"));
        Paths {
            dir,
            k8s_bin: cache.join(format!("bin/kubernetes-{K8S_VERSION}")),
            etcd_bin: cache.join(format!("bin/etcd-{ETCD_VERSION}")),
            kwok_bin: cache.join(format!("bin/kwok-{KWOK_VERSION}")),
        }
    }
    fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }
    fn pid(&self, name: &str) -> PathBuf {
        self.dir.join("pids").join(format!("{name}.pid"))
    }
    /// Log file of one component.
    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }
    /// kubeconfig of a user (`admin`, `dev`, …).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.dir.join(format!("{user}.kubeconfig"))
    }
    /// The built kubectl.
    pub fn kubectl(&self) -> PathBuf {
        self.k8s_bin.join("kubectl")
    }
}

const COMPONENTS: [&str; 6] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "local-provisioner",
];

/// Builds the binaries that are not cached yet.
pub fn build(start: Instant, p: &Paths) -> Result {
    if !crate::util::have("go") {
        return Err("Go is not on PATH; install Go 1.26 or newer (https://go.dev/doc/install) — this machine image ships it at /usr/local/go/bin".into());
    }
    let go = repo_root().join("xtask/go");
    let k8s = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
    ];
    if !k8s.iter().all(|b| p.k8s_bin.join(b).exists()) {
        fs::create_dir_all(&p.k8s_bin).map_err(|e| e.to_string())?;
        let v = K8S_VERSION;
        let ld = version_ldflags();
        let mut cmd = Command::new("go");
        cmd.current_dir(go.join("kubernetes"))
            .env("CGO_ENABLED", "0")
            .args(["build", "-trimpath", "-ldflags", &ld, "-o"])
            .arg(format!("{}/", p.k8s_bin.display()))
            .args(k8s.iter().map(|b| format!("k8s.io/kubernetes/cmd/{b}")));
        run_long(
            start,
            &format!(
                "building Kubernetes {v} control plane and kubectl from the Go module proxy (first time only; ~5–15 min on 2 cores)"
            ),
            &mut cmd,
        )?;
    }
    go_build(
        start,
        &go.join("kubernetes"),
        &p.k8s_bin.join(PROVISIONER),
        "./provisioner",
        "the local volume provisioner",
    )?;
    go_build(
        start,
        &go.join("etcd"),
        &p.etcd_bin.join("etcd"),
        ".",
        &format!("etcd {ETCD_VERSION}"),
    )?;
    go_build(
        start,
        &go.join("kwok"),
        &p.kwok_bin.join("kwok"),
        "sigs.k8s.io/kwok/cmd/kwok",
        &format!("kwok {KWOK_VERSION}"),
    )?;
    Ok(())
}

/// `-ldflags` that stamp the pinned version into Kubernetes binaries
/// (`/version` and `kubelet --version` say it).
pub fn version_ldflags() -> String {
    let v = K8S_VERSION;
    let minor = v.split('.').nth(1).unwrap_or("36");
    format!(
        "-s -w -X k8s.io/component-base/version.gitVersion={v} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor={minor} -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion={v} -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor={minor}"
    )
}

/// Builds one static Go command from a wrapper module, unless `out` exists.
pub fn go_build(start: Instant, module: &Path, out: &Path, package: &str, what: &str) -> Result {
    if out.exists() {
        return Ok(());
    }
    if let Some(d) = out.parent() {
        fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let mut cmd = Command::new("go");
    cmd.current_dir(module)
        .env("CGO_ENABLED", "0")
        .args(["build", "-trimpath", "-ldflags", "-s -w", "-o"])
        .arg(out)
        .arg(package);
    run_long(start, &format!("building {what}"), &mut cmd).map(|_| ())
}

/// Writes a file unless it already holds `text` (a running kube-proxy
/// exits when its config file changes, even to the same content).
pub fn write(path: &Path, text: &str) -> Result {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn openssl(args: &[&str], dir: &Path) -> Result {
    run(Command::new("openssl").args(args).current_dir(dir)).map(|_| ())
}

/// Issues a certificate signed by the cluster CA.
fn issue(pki: &Path, name: &str, subject: &str, sans: &[&str]) -> Result {
    if pki.join(format!("{name}.crt")).exists() {
        return Ok(());
    }
    let key = format!("{name}.key");
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
        pki,
    )?;
    let csr = format!("{name}.csr");
    openssl(
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
        pki,
    )?;
    let mut ext = String::from(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    if !sans.is_empty() {
        ext.push_str(&format!("subjectAltName={}\n", sans.join(",")));
    }
    let ext_file = format!("{name}.ext");
    write(&pki.join(&ext_file), &ext)?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-out",
            &format!("{name}.crt"),
            "-extfile",
            &ext_file,
        ],
        pki,
    )
}

pub fn pki(p: &Paths) -> Result {
    let pki = p.pki();
    fs::create_dir_all(&pki).map_err(|e| e.to_string())?;
    if !pki.join("ca.crt").exists() {
        openssl(
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ca.key",
            ],
            &pki,
        )?;
        openssl(
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                "ca.key",
                "-subj",
                "/CN=corral-local-ca",
                "-days",
                "3650",
                "-out",
                "ca.crt",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
            &pki,
        )?;
    }
    if !pki.join("sa.key").exists() {
        openssl(&["genrsa", "-out", "sa.key", "2048"], &pki)?;
        openssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], &pki)?;
    }
    let server_sans = [
        "IP:127.0.0.1",
        "IP:10.96.0.1",
        "DNS:localhost",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
    ];
    issue(&pki, "apiserver", "/CN=kube-apiserver", &server_sans)?;
    issue(
        &pki,
        "apiserver-kubelet-client",
        "/CN=kube-apiserver-kubelet-client/O=system:masters",
        &[],
    )?;
    issue(&pki, "admin", "/CN=corral-admin/O=system:masters", &[])?;
    issue(&pki, "kcm", "/CN=system:kube-controller-manager", &[])?;
    issue(&pki, "scheduler", "/CN=system:kube-scheduler", &[])?;
    issue(&pki, "kwok", "/CN=kwok-controller/O=system:masters", &[])?;
    issue(&pki, "dev", "/CN=corral-dev", &[])?;
    issue(&pki, "provisioner", "/CN=corral-local-provisioner", &[])?;
    // The aggregation layer's client certificate (APIServices such as
    // KubeVirt's subresources.kubevirt.io are proxied with it).
    issue(&pki, "front-proxy-client", "/CN=front-proxy-client", &[])?;
    issue(
        &pki,
        "kwok-serving",
        "/CN=kwok-kubelet",
        &["IP:127.0.0.1", "DNS:localhost"],
    )?;
    // The real node's kubelet (Node authorizer: system:node:<name> in
    // system:nodes), its serving certificate, and kube-proxy (bound to
    // system:node-proxier by the default RBAC policy).
    issue(
        &pki,
        "kubelet",
        &format!("/CN=system:node:{}/O=system:nodes", crate::node::NODE_NAME),
        &[],
    )?;
    issue(
        &pki,
        "kubelet-serving",
        &format!("/CN=system:node:{}", crate::node::NODE_NAME),
        &[
            &format!("IP:{}", crate::node::NODE_IP),
            &format!("DNS:{}", crate::node::NODE_NAME),
        ],
    )?;
    issue(&pki, "kube-proxy", "/CN=system:kube-proxy", &[])?;
    for (user, cert) in [
        ("provisioner", "provisioner"),
        ("kubelet", "kubelet"),
        ("kube-proxy", "kube-proxy"),
        ("admin", "admin"),
        ("kcm", "kcm"),
        ("scheduler", "scheduler"),
        ("kwok", "kwok"),
        ("dev", "dev"),
    ] {
        let ns = if user == "dev" { DEV_NS } else { "default" };
        let kc = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: corral-local\n  cluster:\n    server: https://127.0.0.1:{APISERVER_PORT}\n    certificate-authority: {pki}/ca.crt\nusers:\n- name: {user}\n  user:\n    client-certificate: {pki}/{cert}.crt\n    client-key: {pki}/{cert}.key\ncontexts:\n- name: corral-local-{user}\n  context:\n    cluster: corral-local\n    user: {user}\n    namespace: {ns}\ncurrent-context: corral-local-{user}\n",
            pki = pki.display()
        );
        write(&p.kubeconfig(user), &kc)?;
    }
    Ok(())
}

/// The kwok configuration: options, node and pod stages taken from the kwok
/// module's own stage files (delays shortened so tests run quickly), and a
/// ClusterExec that runs `kubectl exec` commands locally, as nobody, in a
/// scratch folder of the cluster's (never the repository).
fn kwok_config(p: &Paths) -> Result<String> {
    let dir = run(Command::new("go")
        .current_dir(repo_root().join("xtask/go/kwok"))
        .args(["list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"]))?;
    let stages = PathBuf::from(dir.trim()).join("kustomize/stage");
    let files = [
        "node/fast/node-initialize.yaml",
        "node/heartbeat/node-heartbeat.yaml",
        "pod/general/pod-create.yaml",
        "pod/general/pod-init-container-running.yaml",
        "pod/general/pod-init-container-completed.yaml",
        "pod/general/pod-ready.yaml",
        "pod/general/pod-complete.yaml",
        "pod/general/pod-delete.yaml",
    ];
    // Under the temp folder: the exec'd process runs as nobody and cannot
    // enter root's home.
    let scratch = exec_scratch();
    fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let _ = run(Command::new("chmod").arg("1777").arg(&scratch));
    let mut out = format!(
        "apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\noptions:\n  cidr: 10.244.0.1/16\n  nodeIP: 127.0.0.1\n  nodePort: {KWOK_PORT}\n  serverAddress: 127.0.0.1:{KWOK_PORT}\n  tlsCertFile: {pki}/kwok-serving.crt\n  tlsPrivateKeyFile: {pki}/kwok-serving.key\n  manageNodesWithLabelSelector: type=kwok\n  enableDebuggingHandlers: true\n  podPlayStageParallelism: 8\n  nodePlayStageParallelism: 4\n  nodeLeaseParallelism: 4\n  podsOnNodeSyncParallelism: 4\n  enablePodsOnNodeSyncListPager: true\n  enablePodsOnNodeSyncStreamWatch: false\n---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterExec\nmetadata:\n  name: local\nspec:\n  execs:\n  - local:\n      workDir: {scratch}\n      envs:\n      - name: HOME\n        value: {scratch}\n      - name: PATH\n        value: /usr/local/bin:/usr/bin:/bin\n      securityContext:\n        runAsUser: 65534\n        runAsGroup: 65534\n",
        pki = p.pki().display(),
        scratch = scratch.display()
    );
    for f in files {
        let text = fs::read_to_string(stages.join(f))
            .map_err(|e| format!("reading kwok stage {f}: {e}"))?;
        let fast = text
            .replace(
                "jitterDurationMilliseconds: 5000",
                "jitterDurationMilliseconds: 300",
            )
            .replace("durationMilliseconds: 1000", "durationMilliseconds: 200")
            .replace(
                "jitterDurationMilliseconds: 25000",
                "jitterDurationMilliseconds: 2000",
            )
            .replace("durationMilliseconds: 20000", "durationMilliseconds: 10000");
        out.push_str("---\n");
        out.push_str(&fast);
        if !fast.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Where the local provisioner makes volume folders (test data: `down` drops them).
pub fn volumes_dir(p: &Paths) -> PathBuf {
    p.dir.join("volumes")
}

fn exec_scratch() -> PathBuf {
    std::env::temp_dir().join("corral-cluster-exec")
}

fn bootstrap_yaml() -> String {
    let mut y = String::new();
    for n in KWOK_NODES {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n  annotations:\n    node.alpha.kubernetes.io/ttl: \"0\"\n    kwok.x-k8s.io/node: fake\n  labels:\n    type: kwok\n    kubernetes.io/hostname: {n}\n    kubernetes.io/os: linux\n    kubernetes.io/arch: amd64\nstatus:\n  allocatable: {{cpu: \"1000\", memory: 4Ti, pods: \"20000\"}}\n  capacity: {{cpu: \"1000\", memory: 4Ti, pods: \"20000\"}}\n  nodeInfo: {{architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake}}\n---\n"
        ));
    }
    y.push_str(&format!(
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-hostpath
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: corral.dev/local-hostpath
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: corral-local-provisioner
rules:
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: corral-local-provisioner
subjects:
- kind: User
  name: corral-local-provisioner
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: ClusterRole
  name: corral-local-provisioner
  apiGroup: rbac.authorization.k8s.io
---
apiVersion: v1
kind: Namespace
metadata:
  name: {RESTRICTED_NS}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: Namespace
metadata:
  name: {DEV_NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: corral-dev-edit
  namespace: {DEV_NS}
subjects:
- kind: User
  name: corral-dev
  apiGroup: rbac.authorization.k8s.io
roleRef:
  kind: ClusterRole
  name: edit
  apiGroup: rbac.authorization.k8s.io
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: corral-dev-sa
  namespace: {DEV_NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: corral-dev-sa-edit
  namespace: {DEV_NS}
subjects:
- kind: ServiceAccount
  name: corral-dev-sa
  namespace: {DEV_NS}
roleRef:
  kind: ClusterRole
  name: edit
  apiGroup: rbac.authorization.k8s.io
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: corral-admin-sa
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: corral-admin-sa
subjects:
- kind: ServiceAccount
  name: corral-admin-sa
  namespace: kube-system
roleRef:
  kind: ClusterRole
  name: cluster-admin
  apiGroup: rbac.authorization.k8s.io
"#
    ));
    y
}

/// True when the process `up` recorded under `name` is alive.
pub fn is_running(p: &Paths, name: &str) -> bool {
    read_pid(p, name).is_some_and(alive)
}

/// Stops the process recorded under `name` (TERM, then KILL after 10 s) and
/// forgets its pid; says what it stopped.
pub fn stop(p: &Paths, name: &str) -> Option<String> {
    let pid = read_pid(p, name)?;
    let mut said = None;
    if alive(pid) {
        let _ = run(Command::new("kill").arg("-TERM").arg(pid.to_string()));
        let began = Instant::now();
        while alive(pid) && began.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(100));
        }
        if alive(pid) {
            let _ = run(Command::new("kill").arg("-KILL").arg(pid.to_string()));
        }
        said = Some(format!("{name} (pid {pid})"));
    }
    let _ = fs::remove_file(p.pid(name));
    said
}

fn read_pid(p: &Paths, name: &str) -> Option<u32> {
    fs::read_to_string(p.pid(name)).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Starts a process of the cluster's (or the demo's) in its own process
/// group, logging to `logs/NAME.log` and recording its pid for `down`.
pub fn spawn(p: &Paths, name: &str, program: &Path, args: &[String]) -> Result {
    use std::os::unix::process::CommandExt;
    if let Some(pid) = read_pid(p, name)
        && alive(pid)
    {
        return Ok(());
    }
    let log = fs::File::create(p.log(name)).map_err(|e| format!("creating log for {name}: {e}"))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {name} ({}): {e}", program.display()))?;
    write(&p.pid(name), &child.id().to_string())
}

/// `--kubeconfig`, `--authentication-kubeconfig` and `--authorization-kubeconfig` for a component.
fn kubeconfig_flags(p: &Paths, user: &str) -> [String; 3] {
    let f = p.kubeconfig(user).display().to_string();
    [
        format!("--kubeconfig={f}"),
        format!("--authentication-kubeconfig={f}"),
        format!("--authorization-kubeconfig={f}"),
    ]
}

pub fn kubectl(p: &Paths) -> Command {
    let mut c = Command::new(p.kubectl());
    c.arg("--kubeconfig").arg(p.kubeconfig("admin"));
    c
}

pub fn wait_until(
    start: Instant,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
) -> Result {
    let began = Instant::now();
    let mut last = Instant::now();
    while !check() {
        if began.elapsed() > timeout {
            return Err(format!(
                "timed out after {}s waiting for {what}",
                timeout.as_secs()
            ));
        }
        if last.elapsed() > Duration::from_secs(10) {
            step(start, &format!("… still waiting for {what}"));
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    step(start, &format!("{what}: ok"));
    Ok(())
}

/// True when the apiserver answers /readyz.
pub fn healthy(p: &Paths) -> bool {
    p.kubectl().exists()
        && p.kubeconfig("admin").exists()
        && run(kubectl(p).args(["get", "--raw", "/readyz", "--request-timeout=2s"])).is_ok()
        && COMPONENTS.iter().all(|c| read_pid(p, c).is_some_and(alive))
}

/// Starts the cluster, reusing a healthy running one; with `real_node`,
/// adds the real node (see `node.rs`) to it.
pub fn up(start: Instant, real_node: bool) -> Result<Paths> {
    let p = Paths::new();
    if healthy(&p) {
        step(
            start,
            "a healthy local cluster is already running; reusing it",
        );
    } else {
        control_plane(start, &p)?;
    }
    if real_node {
        crate::node::up(start, &p)?;
    }
    summary(&p);
    Ok(p)
}

fn control_plane(start: Instant, p: &Paths) -> Result {
    let p = p.clone();
    ensure_debian(start, &[("openssl", "openssl")])?;
    build(start, &p)?;
    // A half-alive cluster from an earlier run is stopped first.
    down_quiet(&p);
    for d in ["logs", "pids"] {
        fs::create_dir_all(p.dir.join(d)).map_err(|e| e.to_string())?;
    }
    step(start, "generating certificates and kubeconfigs");
    pki(&p)?;
    let pki = p.pki();
    let f = |s: &str| pki.join(s).display().to_string();
    let s = |x: &str| x.to_string();

    step(start, "starting etcd");
    spawn(
        &p,
        "etcd",
        &p.etcd_bin.join("etcd"),
        &[
            s("--name=corral"),
            format!("--data-dir={}", p.dir.join("etcd-data").display()),
            format!("--listen-client-urls=http://127.0.0.1:{ETCD_PORT}"),
            format!("--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}"),
            format!("--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
            format!("--initial-cluster=corral=http://127.0.0.1:{ETCD_PEER_PORT}"),
            s("--listen-metrics-urls="),
            s("--quota-backend-bytes=8589934592"),
            s("--unsafe-no-fsync=true"),
        ],
    )?;
    step(start, "starting kube-apiserver");
    spawn(
        &p,
        "kube-apiserver",
        &p.k8s_bin.join("kube-apiserver"),
        &[
            format!("--etcd-servers=http://127.0.0.1:{ETCD_PORT}"),
            s("--bind-address=127.0.0.1"),
            s("--advertise-address=127.0.0.1"),
            format!("--secure-port={APISERVER_PORT}"),
            format!("--tls-cert-file={}", f("apiserver.crt")),
            format!("--tls-private-key-file={}", f("apiserver.key")),
            format!("--client-ca-file={}", f("ca.crt")),
            format!(
                "--kubelet-client-certificate={}",
                f("apiserver-kubelet-client.crt")
            ),
            format!("--kubelet-client-key={}", f("apiserver-kubelet-client.key")),
            s("--kubelet-preferred-address-types=InternalIP"),
            s("--service-account-issuer=https://kubernetes.default.svc.cluster.local"),
            format!("--service-account-key-file={}", f("sa.pub")),
            format!("--service-account-signing-key-file={}", f("sa.key")),
            s("--service-cluster-ip-range=10.96.0.0/16"),
            s("--authorization-mode=Node,RBAC"),
            s(
                "--enable-admission-plugins=NodeRestriction,PodSecurity,ServiceAccount,DefaultStorageClass",
            ),
            s("--allow-privileged=true"),
            s("--endpoint-reconciler-type=none"),
            // Aggregated APIs (KubeVirt's virt-api serves VM consoles this way).
            format!("--requestheader-client-ca-file={}", f("ca.crt")),
            s("--requestheader-allowed-names=front-proxy-client"),
            s("--requestheader-username-headers=X-Remote-User"),
            s("--requestheader-group-headers=X-Remote-Group"),
            s("--requestheader-extra-headers-prefix=X-Remote-Extra-"),
            format!("--proxy-client-cert-file={}", f("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", f("front-proxy-client.key")),
            s("--enable-aggregator-routing=true"),
            s("--profiling=false"),
            s("--max-requests-inflight=1600"),
            s("--max-mutating-requests-inflight=800"),
        ],
    )?;
    wait_until(
        start,
        "kube-apiserver /readyz",
        Duration::from_secs(120),
        || run(kubectl(&p).args(["get", "--raw", "/readyz", "--request-timeout=2s"])).is_ok(),
    )?;
    step(
        start,
        "starting kube-controller-manager, kube-scheduler and kwok",
    );
    spawn(
        &p,
        "kube-controller-manager",
        &p.k8s_bin.join("kube-controller-manager"),
        &[
            kubeconfig_flags(&p, "kcm").as_slice(),
            &[
                s("--bind-address=127.0.0.1"),
                format!("--secure-port={KCM_PORT}"),
            ],
            &[
                format!("--service-account-private-key-file={}", f("sa.key")),
                format!("--root-ca-file={}", f("ca.crt")),
                s("--use-service-account-credentials=true"),
                s("--leader-elect=false"),
                s("--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route"),
                s("--node-monitor-grace-period=120s"),
                s("--concurrent-gc-syncs=40"),
                s("--kube-api-qps=200"),
                s("--kube-api-burst=400"),
            ],
        ]
        .concat(),
    )?;
    spawn(
        &p,
        "kube-scheduler",
        &p.k8s_bin.join("kube-scheduler"),
        &[
            kubeconfig_flags(&p, "scheduler").as_slice(),
            &[
                s("--bind-address=127.0.0.1"),
                format!("--secure-port={SCHEDULER_PORT}"),
            ],
            &[s("--leader-elect=false")],
        ]
        .concat(),
    )?;
    write(&p.dir.join("kwok.yaml"), &kwok_config(&p)?)?;
    spawn(
        &p,
        "kwok",
        &p.kwok_bin.join("kwok"),
        &[
            format!("--kubeconfig={}", p.kubeconfig("kwok").display()),
            format!("--config={}", p.dir.join("kwok.yaml").display()),
        ],
    )?;
    step(
        start,
        "creating kwok nodes, the default StorageClass, test namespaces and the non-admin user's RoleBinding",
    );
    let boot = p.dir.join("bootstrap.yaml");
    write(&boot, &bootstrap_yaml())?;
    run(kubectl(&p).args(["apply", "-f"]).arg(&boot))?;
    spawn(
        &p,
        "local-provisioner",
        &p.k8s_bin.join(PROVISIONER),
        &[
            format!("-kubeconfig={}", p.kubeconfig("provisioner").display()),
            format!("-dir={}", volumes_dir(&p).display()),
        ],
    )?;
    wait_until(start, "kwok nodes Ready", Duration::from_secs(120), || {
        run(kubectl(&p).args([
            "wait",
            "--for=condition=Ready",
            "node",
            "--all",
            "--timeout=2s",
        ]))
        .is_ok()
    })?;
    wait_until(
        start,
        "default ServiceAccount (controller-manager running)",
        Duration::from_secs(120),
        || run(kubectl(&p).args(["get", "serviceaccount", "default", "-n", "default"])).is_ok(),
    )?;
    Ok(())
}

fn summary(p: &Paths) {
    eprintln!(
        "\nlocal cluster {K8S_VERSION} on 127.0.0.1:{APISERVER_PORT} (kwok nodes: {}{})\n  admin kubeconfig:     {}\n  non-admin kubeconfig: {} (edit in namespace {DEV_NS})\n  restricted namespace: {RESTRICTED_NS}\n  logs:                 {}\n  use it:               eval \"$(cargo xtask cluster env)\"\n",
        KWOK_NODES.join(", "),
        if crate::node::running(p) {
            format!(
                "; real node: {} — pick it with `corral ct create --node {}`",
                crate::node::NODE_NAME,
                crate::node::NODE_NAME
            )
        } else {
            String::new()
        },
        p.kubeconfig("admin").display(),
        p.kubeconfig("dev").display(),
        p.dir.join("logs").display()
    );
}

fn down_quiet(p: &Paths) -> Vec<String> {
    // The real node (if any) first: its containers, mounts and network.
    let mut stopped = crate::node::down(p);
    // Extra processes (the demo's `corral serve`) first, then the control plane in reverse.
    let extra: Vec<String> = fs::read_dir(p.dir.join("pids"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".pid")
                        .map(str::to_string)
                })
                .filter(|n| !COMPONENTS.contains(&n.as_str()))
                .filter(|n| !crate::node::PROCESSES.contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let order: Vec<String> = extra
        .into_iter()
        .chain(COMPONENTS.iter().rev().map(|c| c.to_string()))
        .collect();
    for name in order.iter().map(String::as_str) {
        stopped.extend(stop(p, name));
    }
    stopped
}

/// Stops exactly the processes `up` started, by pid, and forgets the cluster's data.
pub fn down(start: Instant) -> Result {
    let p = Paths::new();
    let stopped = down_quiet(&p);
    // The data is test data: a fresh `up` starts from an empty etcd.
    let _ = fs::remove_dir_all(p.dir.join("etcd-data"));
    let _ = fs::remove_dir_all(volumes_dir(&p));
    let _ = fs::remove_dir_all(exec_scratch());
    if stopped.is_empty() {
        step(start, "no local cluster was running");
    } else {
        step(start, &format!("stopped {}", stopped.join(", ")));
    }
    Ok(())
}

/// Prints each component's pid and liveness.
pub fn status() -> Result {
    let p = Paths::new();
    let node = crate::node::PROCESSES
        .iter()
        .filter(|c| read_pid(&p, c).is_some());
    for c in COMPONENTS.iter().chain(node) {
        let state = match read_pid(&p, c) {
            Some(pid) if alive(pid) => format!("running (pid {pid})"),
            Some(pid) => format!("dead (pid {pid} gone; see {})", p.log(c).display()),
            None => "not started".into(),
        };
        println!("{c:<24} {state}");
    }
    println!(
        "{:<24} {}",
        "apiserver /readyz",
        if healthy(&p) { "ok" } else { "not ready" }
    );
    if healthy(&p) {
        Ok(())
    } else {
        Err("the local cluster is not healthy; run `cargo xtask cluster up`".into())
    }
}

/// `export` lines for KUBECONFIG and a PATH with the matching kubectl first.
pub fn env_lines() -> String {
    let p = Paths::new();
    format!(
        "export KUBECONFIG={}\nexport PATH={}:$PATH\nexport CORRAL_DEV_KUBECONFIG={}\n",
        p.kubeconfig("admin").display(),
        p.k8s_bin.display(),
        p.kubeconfig("dev").display()
    )
}
