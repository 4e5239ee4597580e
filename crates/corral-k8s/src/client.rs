//! Building a kube client the way kubectl users expect.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Which cluster and namespace to talk to.
#[derive(Debug, Clone, Default)]
pub struct ClusterTarget {
    /// `--kubeconfig`; else `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The kubeconfig file could not be read.
    #[error("reading kubeconfig {path}: {source}")]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No usable configuration (kubeconfig or in-cluster) was found or it is invalid.
    #[error("loading cluster configuration: {source}")]
    LoadConfig {
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client: {source}")]
    BuildClient {
        /// Cause.
        #[source]
        source: kube::Error,
    },
}

/// How long to wait for a TCP connection before saying the cluster is unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Loads configuration and builds a client. Returns the client and the
/// default namespace (the context's, else `default`).
pub async fn connect(target: &ClusterTarget) -> Result<(Client, String), ClientError> {
    let config = load_config(target).await?;
    let ns = config.default_namespace.clone();
    let client = Client::try_from(config).map_err(|source| ClientError::BuildClient { source })?;
    Ok((client, ns))
}

/// Loads configuration as kubectl would, with corral's timeouts.
pub async fn load_config(target: &ClusterTarget) -> Result<Config, ClientError> {
    let opts = KubeConfigOptions {
        context: target.context.clone(),
        ..Default::default()
    };
    let mut config = match &target.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|source| ClientError::ReadKubeconfig {
                path: path.clone(),
                source,
            })?;
            Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| ClientError::LoadConfig {
                    source: Box::new(e),
                })?
        }
        None if target.context.is_some() => {
            Config::from_kubeconfig(&opts)
                .await
                .map_err(|e| ClientError::LoadConfig {
                    source: Box::new(e),
                })?
        }
        None => Config::infer().await.map_err(|e| ClientError::LoadConfig {
            source: Box::new(e),
        })?,
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(Duration::from_secs(300));
    Ok(config)
}
