# -*- coding: utf-8 -*-
# Copyright: multicloud.mesh contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action side of module_utils/progress.py: run a module that waits for a cloud and show its
progress lines while it runs.

``ProgressAction`` runs the module in a thread with ``progress_file`` set to a temporary file, and
in the meantime reads that file every two seconds and shows each new line through Ansible's
display (on the terminal and as AWX job output). It only does so when the task runs on the
controller (the module's file is then the one read); otherwise, or when the user set
``progress_file``, or for ``async`` tasks, it runs the module as a plain action would.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

LOCAL = ("local", "ansible.builtin.local")


class ProgressAction(ActionBase):
    """Base of the action plugins of eks_cluster and gke_cluster."""

    POLL = 2.0
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        del tmp  # no longer has any effect (as in ansible.builtin.normal)
        args = dict(self._task.args)
        local = getattr(self._connection, "transport", None) in LOCAL
        if not local or args.get("progress_file") or self._task.async_val:
            # what ansible.builtin.normal does
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        handle, path = tempfile.mkstemp(prefix="multicloud-mesh-progress-", suffix=".log")
        os.close(handle)
        args["progress_file"] = path
        outcome = {}

        def work():
            try:
                outcome["result"] = self._execute_module(module_args=args, task_vars=task_vars)
            except BaseException as exc:  # re-raised in the task's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="multicloud-mesh-module")
        worker.daemon = True
        worker.start()
        offset = 0
        host = task_vars.get("inventory_hostname", "") if task_vars else ""
        try:
            while worker.is_alive():
                worker.join(self.POLL)
                offset = self._show(path, offset, host)
            self._show(path, offset, host)
        finally:
            os.unlink(path)
        self._remove_tmp_path(self._connection._shell.tmpdir)
        if "error" in outcome:
            raise outcome["error"]
        result = merge_hash(result, outcome["result"])
        result.get("invocation", {}).get("module_args", {}).pop("progress_file", None)
        return result

    @staticmethod
    def _show(path, offset, host):
        """Show the lines appended to ``path`` since ``offset``; return the new offset (whole lines only)."""
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return offset
        for line in chunk[:end].decode("utf-8", "replace").splitlines():
            display.display("%s%s" % ("[%s] " % host if host else "", line))
        return offset + end + 1
