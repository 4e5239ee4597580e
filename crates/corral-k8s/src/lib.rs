//! # corral-k8s
//!
//! The Kubernetes side of Corral CT: [`KubeCt`] implements corral-core's
//! [`CtPorts`](corral_core::ports::CtPorts) with kube and k8s-openapi;
//! [`render`] turns a CT spec into its PVC (the record, ADR-0001), Service
//! and pod; [`client`] builds a client the way kubectl users expect.
//!
//! Architecture invariant: no CT rule lives here. What to do is decided in
//! corral-core; this crate only carries decisions out and reports facts.

pub mod adapter;
pub mod cache;
pub mod client;
pub mod error;
pub mod render;
pub mod vms;

pub use adapter::KubeCt;
pub use cache::{ChangeFeed, ListCache};
pub use client::{ClientError, ClusterTarget, connect};
