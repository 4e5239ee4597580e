//! corral-cli
