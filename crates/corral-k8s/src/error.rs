//! Sorting kube errors into corral-core's [`PortError`] kinds.

use corral_core::ports::PortError;

/// Maps a kube error for an operation on `what` ("pod default/web1").
pub fn port_error(what: &str, e: kube::Error) -> PortError {
    match e {
        kube::Error::Api(s) => {
            let msg = s.message.clone();
            match s.code {
                404 if msg.starts_with("namespaces ") => PortError::NamespaceMissing {
                    namespace: msg.split('"').nth(1).unwrap_or_default().to_string(),
                },
                404 => PortError::NotFound {
                    what: what.to_string(),
                },
                409 if s.reason == "AlreadyExists" => PortError::AlreadyExists {
                    what: what.to_string(),
                },
                403 if msg.contains("PodSecurity") || msg.contains("exceeded quota") => {
                    PortError::Rejected { message: msg }
                }
                403 if msg.contains("because it is being terminated") => {
                    PortError::Rejected { message: msg }
                }
                403 => PortError::Forbidden { message: msg },
                401 => PortError::Unauthenticated { message: msg },
                400 | 422 => PortError::Rejected { message: msg },
                _ => PortError::Api {
                    source: Box::new(kube::Error::Api(s)),
                },
            }
        }
        e @ (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)) => {
            PortError::Unreachable {
                source: Box::new(e),
            }
        }
        e => PortError::Api {
            source: Box::new(e),
        },
    }
}

/// True when a kube error is an apiserver "not found".
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
