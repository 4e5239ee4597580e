//! # corral-tests
//!
//! Workspace integration tests, compiled into one binary (`tests/it`), run
//! against the real local cluster that `cargo xtask test` starts. Outside
//! CI a cluster test without a cluster says so and returns; with `CI=true`
//! it fails.

pub mod podrun;
