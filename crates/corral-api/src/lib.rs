//! corral-api
