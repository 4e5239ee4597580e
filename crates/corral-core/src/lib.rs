//! # corral-core
//!
//! The pure domain of Corral CT: names and quantities and image references
//! validated before any IO, the two storage modes and their rules, the CT
//! lifecycle state machine, the record format, and [`service::CtService`],
//! the one service layer that the CLI, the REST API and the TUI share.
//!
//! Architecture invariant: this crate does no IO and knows nothing of kube,
//! HTTP or tokio. Cluster work goes through the [`ports::CtPorts`] trait,
//! which corral-k8s implements.

pub mod entrypoint;
pub mod image;
pub mod lifecycle;
pub mod name;
pub mod ports;
pub mod quantity;
pub mod record;
pub mod service;
pub mod spec;

#[cfg(test)]
mod service_tests;

pub use name::{CtName, CtRef, Namespace, NodeName};

/// The message of an error followed by each cause that adds something, for
/// frontends that show one line (CLI, API problem details, TUI status).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cur = c.source();
    }
    msg
}
pub use service::{CtService, ErrorKind, ServiceError};
pub use spec::{CreateCtInput, CreateCtRequest, CtSpec, StorageMode};
