//! Stage one of argument handling: clap structs, nothing validated yet.
//! Stage two ([`crate::run`]) turns them into corral-core requests before
//! any IO.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit codes, documented in `--help` and the README.
pub const EXIT_CODES: &str = "Exit codes:
  0    success
  1    internal error
  2    bad usage or invalid input (name, quantity, image, flags)
  3    not found (CT or namespace)
  4    conflict: the name is taken, or the CT is in the wrong state
  5    forbidden by Kubernetes RBAC, or credentials not accepted
  6    cluster unreachable, or no usable kubeconfig
  7    refused by the cluster's admission (Pod Security, quota)
  8    --wait timed out, or the CT failed while waited for
  130  interrupted
`ct console` and `ct exec` exit with the remote command's status.";

/// Corral CT: long-lived, individually named, console-able pods on any Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(name = "corral", version, after_long_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// Which cluster and namespace.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Cluster selection, shared by every command (as kubectl spells it).
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file [default: $KUBECONFIG, ~/.kube/config, then in-cluster]
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use [default: its current context]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace [default: the context's namespace, else "default"]
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage containers (CTs): pods kept as pets, with a volume that outlives them.
    #[command(subcommand)]
    Ct(CtCommand),
    /// Serve the REST API and websocket console (and the web UI) on this machine.
    Serve(ServeArgs),
    /// A full-screen, live list of CTs (and KubeVirt VMs) with Start, Stop, Console and Delete.
    Tui(TuiArgs),
}

/// `corral tui`.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Show every namespace you may list.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// `corral serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address needs --tls-cert and --tls-key (or --allow-plain-http).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Allow plain HTTP on a non-loopback address (bearer tokens cross the network unencrypted; only behind a TLS-terminating proxy or inside a pod).
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Another Origin allowed to open consoles (repeatable); the server's own is always allowed.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Serve the built web UI from this folder at / (build it with `cargo xtask ui`).
    #[arg(long, value_name = "DIR")]
    pub ui_dir: Option<std::path::PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// A table for people.
    #[default]
    Table,
    /// JSON for scripts.
    Json,
    /// YAML for scripts.
    Yaml,
}

/// `--wait` and its timeout.
#[derive(Debug, Args, Clone)]
pub struct WaitArgs {
    /// Wait until the CT reaches the state the command aims for, showing progress.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

/// `corral ct …`
#[derive(Debug, Subcommand)]
pub enum CtCommand {
    /// Create a CT: its volume (which holds its record), Service and pod.
    Create(CreateArgs),
    /// List CTs.
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show everything about one CT, with recent events.
    Show(ShowArgs),
    /// Start a stopped CT: make its pod again from its record.
    Start(NameWait),
    /// Stop a CT: delete its pod gracefully; the volume, record and Service stay.
    Stop(NameWait),
    /// Delete a CT and its volume. Its data is gone for good.
    Delete(DeleteArgs),
    /// Open an interactive shell in a running CT.
    Console(NameArg),
    /// Run a command in a running CT.
    Exec(ExecArgs),
}

/// `ct create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The CT's name: lowercase letters, digits and '-', at most 63 characters.
    pub name: String,
    /// OCI image, e.g. docker.io/library/debian:bookworm (short names get docker.io/library/ and :latest).
    #[arg(long)]
    pub image: String,
    /// CPU: cores ("1", "2.5") or millicores ("500m").
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    pub cpu: String,
    /// Memory, with a unit: "512Mi", "1Gi", "1G".
    #[arg(long, default_value = "512Mi", allow_hyphen_values = true)]
    pub mem: String,
    /// Size of the CT's volume, with a unit: "5Gi", "20G".
    #[arg(long, default_value = "5Gi", allow_hyphen_values = true)]
    pub disk: String,
    /// Privileged mode: the volume becomes the root filesystem (seeded from the image on first boot), so everything under / survives stop/start. Needs a full OS image and a namespace that allows CAP_SYS_ADMIN.
    #[arg(long)]
    pub privileged: bool,
    /// Pin the CT to this node, as a Proxmox guest lives on one node: its pod always runs there (and may run on a node tainted corral.dev/node=<node>:NoSchedule). Default: the scheduler chooses at every start.
    #[arg(long, value_name = "NODE")]
    pub node: Option<String>,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
    /// Output format for the created CT.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Format,
}

/// `ct list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// List CTs in every namespace you may list.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Format,
}

/// `ct show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The CT's name.
    pub name: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Format,
}

/// A CT name with waiting.
#[derive(Debug, Args)]
pub struct NameWait {
    /// The CT's name.
    pub name: String,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// A CT name.
#[derive(Debug, Args)]
pub struct NameArg {
    /// The CT's name.
    pub name: String,
}

/// `ct delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The CT's name.
    pub name: String,
    /// Do not ask; required when stdin is not a terminal.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Waiting.
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `ct exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The CT's name.
    pub name: String,
    /// Pass stdin to the command.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Allocate a terminal (stdout and stderr are then merged).
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}
