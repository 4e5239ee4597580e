//! corral-console
