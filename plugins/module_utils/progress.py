# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Progress of long waits, for the person watching the play (issue 15).

A module cannot print while it runs: Ansible shows its result only when it returns. The modules
that wait for a cloud (``eks_cluster``, ``gke_cluster``) call ``Progress.note`` on every poll of
a wait; every ``every`` seconds (30) that appends one line, "cluster mesh-1: CREATING, 90 s so
far", to the file named by their ``progress_file`` option. Their action plugin
(``plugins/plugin_utils/progress.py``) sets that option, reads the file while the module runs and
shows each new line in the play's output (and in AWX's job output). Without ``progress_file``
nothing is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class Progress:
    """Throttled status lines of the waits of one module run, appended to ``path`` (None: off)."""

    def __init__(self, path=None, every=30.0, clock=None):
        self.path = path
        self.every = every
        self.clock = clock or time.monotonic
        self.started = {}
        self.last_line = None

    def note(self, what, status):
        """One poll of the wait on ``what`` saw ``status``. Writes "what: status, N s so far" when ``every``
        seconds have passed since the module's first poll or its last line: a wait shorter than that
        stays silent, a long one gets a line at least every ``every`` seconds plus one poll interval."""
        now = self.clock()
        start = self.started.setdefault(what, now)
        if self.last_line is None:
            self.last_line = now
        if not self.path or now - self.last_line < self.every:
            return None
        self.last_line = now
        line = "%s: %s, %d s so far" % (what, status, now - start)
        with open(self.path, "a") as handle:
            handle.write(line + "\n")
        return line
