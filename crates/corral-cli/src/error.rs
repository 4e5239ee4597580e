//! Command errors and their exit codes (in the manner of jj's `command_error.rs`).

use corral_core::{ErrorKind, ServiceError};

/// What kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad usage or invalid input.
    Usage,
    /// Not found.
    NotFound,
    /// Name taken or wrong state.
    Conflict,
    /// RBAC said no.
    Forbidden,
    /// Cluster unreachable or no usable configuration.
    Unreachable,
    /// Refused by admission.
    Rejected,
    /// Wait timed out or the CT failed.
    Timeout,
    /// Anything else.
    Internal,
}

impl Kind {
    /// The process exit code (see `args::EXIT_CODES`).
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Conflict => 4,
            Kind::Forbidden => 5,
            Kind::Unreachable => 6,
            Kind::Rejected => 7,
            Kind::Timeout => 8,
        }
    }
}

/// An error to report to the user.
#[derive(Debug)]
pub struct CommandError {
    /// The kind.
    pub kind: Kind,
    /// The whole message, causes included.
    pub message: String,
}

impl CommandError {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError {
            kind: Kind::Usage,
            message: message.into(),
        }
    }
}

/// The message of an error and each cause that adds something.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    corral_core::error_chain(e)
}

impl From<ServiceError> for CommandError {
    fn from(e: ServiceError) -> Self {
        let kind = from_kind(e.kind());
        CommandError {
            kind,
            message: chain(&e),
        }
    }
}

impl From<corral_k8s::ClientError> for CommandError {
    fn from(e: corral_k8s::ClientError) -> Self {
        CommandError {
            kind: Kind::Unreachable,
            message: format!("{}; check --kubeconfig/--context or $KUBECONFIG", chain(&e)),
        }
    }
}

impl From<corral_console::ConsoleError> for CommandError {
    fn from(e: corral_console::ConsoleError) -> Self {
        let kind = match &e {
            corral_console::ConsoleError::Open { source, .. } => {
                from_kind(corral_core::service::port_kind(source))
            }
            _ => Kind::Internal,
        };
        CommandError {
            kind,
            message: chain(&e),
        }
    }
}

fn from_kind(k: ErrorKind) -> Kind {
    match k {
        ErrorKind::Invalid => Kind::Usage,
        ErrorKind::NotFound => Kind::NotFound,
        ErrorKind::Conflict => Kind::Conflict,
        ErrorKind::Forbidden | ErrorKind::Unauthenticated => Kind::Forbidden,
        ErrorKind::Rejected => Kind::Rejected,
        ErrorKind::Unreachable => Kind::Unreachable,
        ErrorKind::Timeout => Kind::Timeout,
        ErrorKind::Internal => Kind::Internal,
    }
}
