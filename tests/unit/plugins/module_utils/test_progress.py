"""Unit tests of plugins/module_utils/progress.py: throttled status lines of long waits."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from ansible_collections.multicloud.mesh.plugins.module_utils.progress import Progress  # noqa: E402


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_line_every_30_seconds_with_the_time_waited(tmp_path):
    path = tmp_path / "progress.log"
    clock = Clock()
    progress = Progress(str(path), every=30, clock=clock)
    written = []
    for second in range(0, 181, 8):  # a poll every 8 s for 3 minutes
        clock.now = 1000.0 + second
        line = progress.note("cluster mesh-1", "CREATING")
        if line:
            written.append(line)
    assert written == path.read_text().splitlines()
    assert written[0] == "cluster mesh-1: CREATING, 32 s so far"
    seconds = [int(line.split(", ")[1].split()[0]) for line in written]
    assert all(b - a <= 40 for a, b in zip([0] + seconds, seconds))  # never more than every + one poll apart
    assert len(written) == 5


def test_a_short_wait_is_silent_and_a_new_wait_keeps_its_own_time(tmp_path):
    path = tmp_path / "progress.log"
    clock = Clock()
    progress = Progress(str(path), every=30, clock=clock)
    progress.note("cluster mesh-1", "CREATING")
    clock.now += 10
    assert progress.note("cluster mesh-1", "CREATING") is None
    assert not path.exists()
    clock.now += 25
    assert progress.note("node group default", "CREATING") == "node group default: CREATING, 0 s so far"
    clock.now += 31
    assert progress.note("node group default", "CREATING") == "node group default: CREATING, 31 s so far"


def test_without_a_path_nothing_is_written(tmp_path):
    clock = Clock()
    progress = Progress(None, every=0, clock=clock)
    clock.now += 100
    assert progress.note("cluster mesh-1", "DELETING") is None
    assert os.listdir(str(tmp_path)) == []
