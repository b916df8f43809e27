import socket

import pytest

from meshsandbox import clusters


@pytest.mark.parametrize("name", ["mesh-1", "a", "gke-cluster-2"])
def test_valid_names(name):
    clusters.validate_name(name)


@pytest.mark.parametrize("name", ["Mesh", "-a", "a-", "a_b", "", "1abc", "x" * 41])
def test_invalid_names_are_refused_with_the_rule(name):
    with pytest.raises(clusters.SandboxError, match="not a DNS label"):
        clusters.validate_name(name)


def test_port_in_use_is_detected():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        assert clusters.port_in_use(sock.getsockname()[1])
    assert not clusters.port_in_use(clusters.free_port())


def test_up_refuses_unknown_flavor_before_starting_anything(tmp_path):
    mgr = clusters.ClusterManager(str(tmp_path))
    with pytest.raises(clusters.SandboxError, match="flavor 'azure' is unknown"):
        mgr.up("c1", flavor="azure")
    assert mgr.list() == []


def test_missing_binaries_name_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MESH_SANDBOX_BIN", str(tmp_path / "nobin"))
    mgr = clusters.ClusterManager(str(tmp_path / "home"))
    with pytest.raises(clusters.SandboxError, match="sandbox/build/build.sh"):
        mgr.up("c1")
