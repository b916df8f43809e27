//go:build tools

// Package tools pins the Istio commands the sandbox builds: istioctl (renders
// manifests from Istio's own charts, embedded in the binary) and pilot-discovery
// (istiod, run out of cluster against a sandbox API server).
package tools

import (
	_ "istio.io/istio/istioctl/cmd/istioctl"
	_ "istio.io/istio/pilot/cmd/pilot-discovery"
)
