"""Run ansible-playbook and interrupt it at a given moment (the interrupted target's driver).

    python interrupt.py --at WHEN [--delay S] --signal TERM|INT|KILL --log FILE -- ansible-playbook ARGS...

WHEN (conditions joined by '+' must hold at the same time):
  task:TEXT        a task banner ("TASK [...]") containing TEXT was printed
  aws:STATUS       the AWS emulator holds a cluster or a node group in STATUS (CREATING, DELETING, ...)
  aws-nodegroup:STATUS   ... a node group in STATUS
  gke:STATUS       the GKE emulator holds a cluster or a node pool in STATUS (PROVISIONING, STOPPING, ...)
  (the emulators are found through AWS_ENDPOINT_URL and GKE_API_ENDPOINT)
--delay S: seconds to wait once WHEN holds before the signal is sent.
Signals (ansible-core's workers call setsid(): each runs in its own session with its module
processes, so a process group signal would not reach them):
  TERM     SIGTERM to the main process (`kill PID`, what a job runner sends first); Ansible passes
           it on to its workers, which pass it on to their module processes
  INT      SIGINT to the main process (Ctrl-C); handled the same way
  KILL     SIGKILL to the main process only (`kill -9 PID`, the OOM killer): the workers and the
           modules they run are orphaned and go on to the end of their task
  KILLALL  SIGKILL to the main process and every descendant at once (the machine or the
           container running the job dies)
After the signal the driver waits for the main process, then for its descendants still running
(the "stragglers") to end by themselves for up to --drain seconds, and SIGKILLs whatever still
runs then, so that the next run never races a straggler.
Prints one line "INTERRUPT {json}" (killed_at seconds, rc, stragglers) and exits 0 when the
playbook was interrupted, 3 when it ended before WHEN held (the kill point was never reached).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "KILL": signal.SIGKILL, "KILLALL": signal.SIGKILL}


def emulator_statuses(cloud):
    """Statuses of the clusters (and EKS node groups) the emulator of CLOUD holds now."""
    if cloud == "aws-nodegroup":
        url = os.environ["AWS_ENDPOINT_URL"] + "/_sandbox/status"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return {status for cluster in json.load(resp).get("clusters", [])
                    for status in (cluster.get("nodegroups") or {}).values()}
    if cloud == "aws":
        url = os.environ["AWS_ENDPOINT_URL"] + "/_sandbox/status"
    else:
        url = os.environ["GKE_API_ENDPOINT"] + "/_emulator/state"
    with urllib.request.urlopen(url, timeout=5) as resp:
        state = json.load(resp)
    statuses = set()
    for cluster in state.get("clusters", []):
        statuses.add(cluster.get("status"))
        statuses.update((cluster.get("nodegroups") or {}).values())
        statuses.update(pool.get("status") for pool in cluster.get("nodePools") or [])
    return statuses


class Trigger:
    def __init__(self, spec):
        self.conditions = []
        for part in spec.split("+"):
            kind, _sep, value = part.partition(":")
            if kind not in ("task", "aws", "aws-nodegroup", "gke") or not value:
                raise SystemExit("--at %r: each condition is task:TEXT, aws:STATUS or gke:STATUS" % part)
            self.conditions.append((kind, value))
        self.banners = []
        self.lock = threading.Lock()

    def saw_line(self, line):
        if line.startswith("TASK ["):
            with self.lock:
                self.banners.append(line)

    def holds(self):
        for kind, value in self.conditions:
            if kind == "task":
                with self.lock:
                    if not any(value in banner for banner in self.banners):
                        return False
            else:
                try:
                    if value not in emulator_statuses(kind):
                        return False
                except OSError:
                    return False
        return True


def live_processes():
    """{pid: ppid} of the live (not zombie) processes, from /proc."""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields after the command: state, ppid, ...
        if fields[0] != "Z":
            procs[int(entry)] = int(fields[1])
    return procs


def descendants(pid):
    """PIDs of every live descendant of PID."""
    procs = live_processes()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in procs.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def still_alive(pids):
    procs = live_processes()
    return [pid for pid in pids if pid in procs]


def cloud_statuses():
    out = {}
    for cloud, var in (("aws", "AWS_ENDPOINT_URL"), ("gke", "GKE_API_ENDPOINT")):
        if os.environ.get(var):
            try:
                out[cloud] = sorted(s for s in emulator_statuses(cloud) if s)
            except OSError as exc:
                out[cloud] = "unreadable: %s" % exc
    return out


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def command_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:160]
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--at", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--signal", required=True, choices=sorted(SIGNALS))
    parser.add_argument("--log", required=True)
    parser.add_argument("--drain", type=float, default=90.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("no command given after --")
    trigger = Trigger(args.at)

    started = time.monotonic()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)

    def pump():
        with open(args.log, "w") as log:
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                log.write(line)
                log.flush()
                sys.stdout.write(line)
                sys.stdout.flush()
                trigger.saw_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    held_at = None
    while proc.poll() is None:
        if trigger.holds():
            held_at = time.monotonic()
            break
        time.sleep(0.2)
    if held_at is None:
        reader.join(10)
        print("INTERRUPT " + json.dumps({"at": args.at, "reached": False, "rc": proc.returncode}))
        print("the kill point %r was never reached: the playbook ended (rc=%s) after %.0fs"
              % (args.at, proc.returncode, time.monotonic() - started), file=sys.stderr)
        return 3
    if args.delay:
        time.sleep(args.delay)
    killed_at = time.monotonic()
    if proc.poll() is not None:
        print("INTERRUPT " + json.dumps({"at": args.at, "reached": True, "rc": proc.returncode}))
        print("the playbook ended (rc=%s) before the signal: kill point %r + %ss is too late"
              % (proc.returncode, args.at, args.delay), file=sys.stderr)
        return 3
    sig = SIGNALS[args.signal]
    clouds = cloud_statuses()
    tree = descendants(proc.pid)
    os.kill(proc.pid, sig)
    if args.signal == "KILLALL":
        kill_all(tree)
    try:
        rc = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait()
    # what the signal left running (workers, module processes): let it end by itself
    tree |= descendants(proc.pid) if proc.poll() is None else set()
    stragglers = {pid: command_of(pid) for pid in still_alive(tree)}
    stragglers = {pid: cmd for pid, cmd in stragglers.items() if cmd}  # an empty command line: it has just ended
    deadline = time.monotonic() + args.drain
    while still_alive(stragglers) and time.monotonic() < deadline:
        time.sleep(0.5)
    drained_in = round(time.monotonic() - killed_at, 1)
    left = still_alive(stragglers)
    kill_all(left)
    reader.join(10)
    print("\nINTERRUPT " + json.dumps({
        "at": args.at, "reached": True, "signal": args.signal, "rc": rc,
        "killed_at": round(killed_at - started, 1),
        "clouds_at_kill": clouds, "stragglers": sorted(stragglers.values()), "drained_in": drained_in,
        "killed_stragglers": len(left)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
