//! Access to the local cluster and the `corral` binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The local cluster as `cargo xtask test` describes it in the environment.
pub struct Cluster {
    pub admin: PathBuf,
    pub dev: PathBuf,
    pub kubectl: PathBuf,
}

/// What a test needs is not there: outside CI, say so and skip (`None`);
/// with `CI=true`, fail.
pub fn missing<T>(what: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no {what}: run the tests with `cargo xtask test` (as root)"
    );
    eprintln!("note: no {what}; run `cargo xtask test` (as root) for these tests");
    None
}

/// The cluster, or `None` (with a note) outside CI. In CI a missing cluster fails the test.
pub fn cluster() -> Option<Cluster> {
    match (
        std::env::var_os("CORRAL_TEST_KUBECONFIG"),
        std::env::var_os("CORRAL_TEST_DEV_KUBECONFIG"),
        std::env::var_os("CORRAL_TEST_KUBECTL"),
    ) {
        (Some(a), Some(d), Some(k)) => Some(Cluster {
            admin: a.into(),
            dev: d.into(),
            kubectl: k.into(),
        }),
        _ => missing("a local cluster (CORRAL_TEST_KUBECONFIG unset)"),
    }
}

/// The local cluster and the name of its real node (`cluster up
/// --real-node`), or `None` (with a note) outside CI. In CI a missing real
/// node fails the test.
pub fn real_node() -> Option<(Cluster, String)> {
    let c = cluster()?;
    match std::env::var("CORRAL_TEST_REAL_NODE") {
        Ok(node) if !node.is_empty() => Some((c, node)),
        _ => missing("a real node (CORRAL_TEST_REAL_NODE unset)"),
    }
}

/// The `corral` binary built next to this test binary.
pub fn corral_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("corral");
    assert!(
        bin.exists(),
        "{} not built; run `cargo build -p corral-cli`",
        bin.display()
    );
    bin
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Cluster {
    /// Runs `corral` as the admin user.
    pub fn corral(&self, args: &[&str]) -> Run {
        self.corral_as(&self.admin, args)
    }

    /// Runs `corral` with a given kubeconfig, stdin closed.
    pub fn corral_as(&self, kubeconfig: &PathBuf, args: &[&str]) -> Run {
        Command::new(corral_bin())
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }

    /// Runs `corral` as the admin user with `input` on its stdin.
    pub fn corral_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write;
        let mut child = Command::new(corral_bin())
            .arg("--kubeconfig")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        out.into()
    }

    /// Runs kubectl as admin.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.admin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    }

    /// A fresh namespace for one test, deleted when the guard drops.
    pub fn namespace(&self, prefix: &str, labels: &[&str]) -> Ns<'_> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t-{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let r = self.kubectl(&["create", "namespace", &name]);
        assert_eq!(r.code, 0, "{r:?}");
        if !labels.is_empty() {
            let mut args = vec!["label", "namespace", name.as_str()];
            args.extend_from_slice(labels);
            let r = self.kubectl(&args);
            assert_eq!(r.code, 0, "{r:?}");
        }
        Ns {
            cluster: self,
            name,
        }
    }

    /// Names of the objects of one kind in a namespace.
    pub fn names(&self, ns: &str, kind: &str) -> Vec<String> {
        let r = self.kubectl(&["get", kind, "-n", ns, "-o", "name"]);
        assert_eq!(r.code, 0, "{r:?}");
        r.stdout.lines().map(str::to_string).collect()
    }

    /// A kube client as admin.
    pub async fn client(&self) -> kube::Client {
        let (c, _) = corral_k8s::connect(&corral_k8s::ClusterTarget {
            kubeconfig: Some(self.admin.clone()),
            context: None,
        })
        .await
        .unwrap();
        c
    }
}

/// A test namespace, deleted on drop.
pub struct Ns<'a> {
    cluster: &'a Cluster,
    pub name: String,
}

impl Drop for Ns<'_> {
    fn drop(&mut self) {
        let _ = self
            .cluster
            .kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// A running `corral serve`, stopped on drop.
pub struct Server {
    child: Child,
    /// host:port it listens on.
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `corral serve` on a free loopback port as the admin user, with `extra` flags.
pub fn serve(c: &Cluster, extra: &[&std::ffi::OsStr]) -> Server {
    let mut child = Command::new(corral_bin())
        .arg("--kubeconfig")
        .arg(&c.admin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_stderr_line(&mut child);
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, addr }
}

/// The first line a child prints on its (piped) stderr: servers here say
/// where they listen there once ready.
pub fn first_stderr_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// A self-signed certificate and key (PEM, P-256) for `san`
/// ("IP:127.0.0.1,DNS:localhost"), made with openssl in `dir`.
pub fn self_signed_cert(dir: &std::path::Path, san: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=corral-test"])
        .args(["-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    (cert, key)
}
