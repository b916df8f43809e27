"""Where the sandbox keeps its state and finds its binaries."""

import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SANDBOX_DIR = os.path.join(REPO, "sandbox")


def sandbox_home():
    return os.environ.get("MESH_SANDBOX_HOME") or os.path.join(REPO, ".cache", "sandbox")


def versions():
    out = {}
    with open(os.path.join(SANDBOX_DIR, "build", "versions.env")) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                out[key] = value
    return out


def bin_dir():
    return os.environ.get("MESH_SANDBOX_BIN") or os.path.join(REPO, ".cache", "bin")


def binaries():
    """Paths of the built binaries; a clear error names the build command when one is missing."""
    v = versions()
    base = bin_dir()
    found = {
        "kube-apiserver": os.path.join(base, "kube-" + v["K8S_VERSION"], "kube-apiserver"),
        "kube-controller-manager": os.path.join(base, "kube-" + v["K8S_VERSION"], "kube-controller-manager"),
        "kube-scheduler": os.path.join(base, "kube-" + v["K8S_VERSION"], "kube-scheduler"),
        "etcd": os.path.join(base, "etcd-" + v["ETCD_VERSION"], "etcd"),
        "kwok": os.path.join(base, "kwok-" + v["KWOK_VERSION"], "kwok"),
        "kwok-stages": os.path.join(base, "kwok-" + v["KWOK_VERSION"], "stages.yaml"),
    }
    missing = [name for name, path in found.items()
               if not (os.path.isfile(path) if name.endswith("stages") else os.access(path, os.X_OK))]
    if missing:
        from .clusters import SandboxError
        raise SandboxError("sandbox binaries missing (%s) under %s: run 'sandbox/build/build.sh' (or 'make sandbox')"
                           % (", ".join(missing), base))
    return found


def write_private(path, text):
    """Write ``text`` to ``path`` atomically with mode 0600 (its folder 0700 when created)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def sandbox_pythonpath(existing=None):
    parts = [SANDBOX_DIR] + ([existing] if existing else [])
    return os.pathsep.join(parts)
