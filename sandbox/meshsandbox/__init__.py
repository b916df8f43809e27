"""multicloud.mesh sandbox: local Kubernetes control planes and cloud API emulators."""
