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

pub use name::{CtName, CtRef, Namespace};
pub use service::{CtService, ErrorKind, ServiceError};
pub use spec::{CreateCtInput, CreateCtRequest, CtSpec, StorageMode};
