// The sandbox ("pause") process of the local real node's pods: containerd
// runs it as each pod's first container. Built here because no image
// registry is reachable; it does what registry.k8s.io/pause does — wait for
// SIGTERM/SIGINT and reap children — and nothing else.
module corral.dev/xtask/pause

go 1.26.0
