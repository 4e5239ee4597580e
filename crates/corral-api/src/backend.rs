//! Acting as the caller: every request's bearer token becomes the
//! credentials of the kube client that serves it (ADR-0004), so Kubernetes
//! RBAC decides every action. The server's own credentials are never used
//! for a caller's request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use corral_core::CtService;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// What a request may use, on the caller's behalf.
#[derive(Clone)]
pub struct Caller {
    /// The shared service layer over the caller's client.
    pub service: CtService,
    /// The caller's kube client (exec, nodes, VMs); `None` in router tests.
    pub kube: Option<kube::Client>,
    /// The caller's adapter, lists from the shared cache (change feeds);
    /// `None` in router tests.
    pub ports: Option<corral_k8s::KubeCt>,
}

/// Where callers' clients come from.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A caller acting with this bearer token.
    async fn caller(&self, token: &str) -> Result<Caller, ApiError>;
    /// Whether the apiserver answers (for `/readyz`).
    async fn ready(&self) -> bool;
}

/// How long a caller's client is reused.
const CLIENT_TTL: Duration = Duration::from_secs(300);

/// The real backend: the cluster's address and CA from a kubeconfig or the
/// in-cluster environment, with the caller's token as the only credential.
pub struct KubeBackend {
    base: kube::Config,
    anonymous: kube::Client,
    clients: Mutex<HashMap<[u8; 32], (kube::Client, Instant)>>,
    /// Lists served from watches made as each caller (corral_k8s::cache).
    lists: corral_k8s::ListCache,
}

/// Why the backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Loading the cluster address failed.
    #[error("loading the cluster configuration: {0}")]
    LoadConfig(#[source] corral_k8s::ClientError),
    /// Building a client failed.
    #[error("building a Kubernetes client: {0}")]
    BuildClient(#[source] kube::Error),
}

impl KubeBackend {
    /// Reads the cluster's address and CA; drops whatever credentials the config carried.
    pub async fn new(target: &corral_k8s::ClusterTarget) -> Result<Self, BackendError> {
        let mut base = corral_k8s::client::load_config(target)
            .await
            .map_err(BackendError::LoadConfig)?;
        base.auth_info = kube::config::AuthInfo::default();
        let anonymous = kube::Client::try_from(base.clone()).map_err(BackendError::BuildClient)?;
        Ok(KubeBackend {
            base,
            anonymous,
            clients: Mutex::new(HashMap::new()),
            lists: corral_k8s::ListCache::new(),
        })
    }
}

#[async_trait]
impl Backend for KubeBackend {
    async fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = {
            let mut m = self
                .clients
                .lock()
                .map_err(|_| ApiError::internal("client cache poisoned"))?;
            m.retain(|_, (_, t)| t.elapsed() < CLIENT_TTL);
            m.get(&key).map(|(c, _)| c.clone())
        };
        let client = match cached {
            Some(c) => c,
            None => {
                let mut cfg = self.base.clone();
                cfg.auth_info = kube::config::AuthInfo {
                    token: Some(secrecy::SecretString::from(token.to_string())),
                    ..Default::default()
                };
                let c = kube::Client::try_from(cfg).map_err(ApiError::internal)?;
                if let Ok(mut m) = self.clients.lock() {
                    m.insert(key, (c.clone(), Instant::now()));
                }
                c
            }
        };
        let ports = self.lists.ports(client.clone(), key);
        Ok(Caller {
            service: CtService::new(Arc::new(ports.clone())),
            kube: Some(client),
            ports: Some(ports),
        })
    }

    async fn ready(&self) -> bool {
        let req = axum::http::Request::get("/readyz").body(Vec::new());
        match req {
            Ok(r) => self.anonymous.request_text(r).await.is_ok(),
            Err(_) => false,
        }
    }
}
