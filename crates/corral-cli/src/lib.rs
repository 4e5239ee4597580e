//! # corral-cli
//!
//! The `corral` command line: clap structs ([`args`], stage one), validated
//! corral-core requests and the shared `CtService` ([`run`], stage two),
//! tables and `-o json|yaml` ([`output`]), the terminal side of consoles
//! ([`term`]), and exit codes by error kind ([`error`]).
//!
//! Architecture invariant: no CT rule lives here; every use case goes
//! through `corral_core::CtService`, the same one the API calls.

pub mod args;
pub mod error;
pub mod output;
pub mod run;
pub mod term;
