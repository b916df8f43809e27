"""Ansible callback of the benchmarks: per-task and per-stage times of site.yml, and probes at stage boundaries.

Enabled by benchmarks/run.py only (ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins,
ANSIBLE_CALLBACKS_ENABLED=bench_stages, BENCH_STAGES_OUT=<file.json>). A stage is a part of
site.yml: clusters (plays 1-2), mesh_ca, istio, postcard, mesh_link (by the role a task comes
from, else by play). Stages follow one another (each ends with a play or a linear-strategy
task boundary), so at each change the callback records the time and, with BENCH_STAGES_PROBE=1,
probes the sandbox (cloud request counters, kube-apiserver request counts); the time spent
probing is recorded and left out of the stage times.
"""

import json
import os
import sys
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_stages
type: aggregate
short_description: times site.yml's stages and tasks for benchmarks/run.py
description: [Writes per-task and per-stage times (and optional sandbox probes) to $BENCH_STAGES_OUT.]
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""

ROLE_STAGES = {"eks_cluster": "clusters", "gke_cluster": "clusters", "mesh_ca": "mesh_ca",
               "istio": "istio", "postcard": "postcard", "mesh_link": "mesh_link"}
PLAY_STAGES = {1: "clusters", 2: "clusters", 3: "mesh_ca", 4: "postcard", 5: "mesh_link"}
WAIT_ACTIONS = ("multicloud.mesh.eks_cluster", "multicloud.mesh.gke_cluster")


class CallbackModule(CallbackBase):
    """Times stages and tasks; see the module docstring."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_stages"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.out = os.environ.get("BENCH_STAGES_OUT")
        self.probe = None
        if os.environ.get("BENCH_STAGES_PROBE") == "1":
            sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            import probes  # pylint: disable=import-outside-toplevel,import-error
            self.probe = probes.stage_probe
        self.t0 = time.time()
        self.play_no = 0
        self.stage = None
        self.stages = []
        self.tasks = {}
        self.probe_seconds = 0.0

    # ---------------------------------------------------------------- stages
    def _probe(self):
        if self.probe is None:
            return None
        start = time.time()
        try:
            return self.probe()
        # a probe failure must not fail the play: recorded instead
        except Exception as exc:  # pylint: disable=broad-except
            return {"error": str(exc)}
        finally:
            self.probe_seconds += time.time() - start

    def _switch(self, stage):
        if stage == self.stage:
            return
        now = time.time()
        if self.stages:
            current = self.stages[-1]
            current["end"] = now - self.t0
            current["after"] = self._probe()
        if stage is not None:
            before = self._probe()
            self.stages.append({"stage": stage, "start": time.time() - self.t0, "before": before})
        self.stage = stage

    def _stage_of(self, task):
        role = getattr(task, "_role", None)
        name = role.get_name(include_role_fqcn=False) if role is not None else None
        if name in ROLE_STAGES:
            return ROLE_STAGES[name]
        if self.play_no == 3 and self.stage in ("mesh_ca", "istio"):
            return self.stage  # the include_role tasks between mesh_ca and istio
        return PLAY_STAGES.get(self.play_no, "other")

    # ---------------------------------------------------------------- events
    def v2_playbook_on_play_start(self, play):
        self.play_no += 1

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._switch(self._stage_of(task))

    def v2_playbook_on_handler_task_start(self, task):
        self._switch(self._stage_of(task))

    def v2_runner_on_start(self, host, task):
        self.tasks[(task._uuid, host.get_name())] = {  # pylint: disable=protected-access
            "task": task.get_name(), "host": host.get_name(), "action": task.action,
            "stage": self.stage, "start": time.time() - self.t0, "wait": task.action in WAIT_ACTIONS}

    def _done(self, result, status):
        key = (result._task._uuid, result._host.get_name())  # pylint: disable=protected-access
        entry = self.tasks.get(key)
        if entry is not None and "end" not in entry:
            entry["end"] = time.time() - self.t0
            entry["status"] = status
            entry["changed"] = bool(result._result.get("changed"))  # pylint: disable=protected-access

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        self._switch(None)
        hosts = sorted(stats.processed.keys())
        summary = {h: stats.summarize(h) for h in hosts}
        data = {"wall": time.time() - self.t0, "probe_seconds": self.probe_seconds,
                "stages": self.stages, "tasks": sorted(self.tasks.values(), key=lambda t: t["start"]),
                "recap": summary}
        if self.out:
            with open(self.out, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
