//! corral-k8s
