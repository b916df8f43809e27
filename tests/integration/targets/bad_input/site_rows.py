#!/usr/bin/env python
"""Run the site_rows of table.yml through the whole site.yml; write a record bad_input.py checks.

  site_rows.py TABLE REPO RECORD LOGDIR [ONLY_REGEX]

Each row: `ansible-playbook playbooks/site.yml -e <the row's vars as JSON>` on the sandbox inventory (the cloud
emulators' environment is the caller's), results printed as one-line JSON. The row's msg is the preflight's report
(the task "Every stage's options are valid ...", which lists every problem found on every host), else the first
failed task's msg. The state after the row (state.py --ec2-iam: EKS clusters, VPCs, subnets and IAM roles of
the AWS emulator, GKE clusters, the plain cluster's objects, the scratch folder; plus the kubeconfigs folder of
the sandbox, which a cluster role writes) must equal the state before the first row: nothing created in either
cloud, nothing written.
"""
import json
import os
import re
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT_TASK = "Every stage's options are valid on every host"


def state(python):
    out = subprocess.run([python, os.path.join(HERE, "state.py"), "--ec2-iam"], check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out)
    kdir = os.path.join(os.environ["MESH_SANDBOX_HOME"], "kubeconfigs")
    data["kubeconfigs"] = sorted(os.listdir(kdir)) if os.path.isdir(kdir) else []
    return data


def failure_msg(output):
    """The preflight's report, else the first failed task's msg, from the default callback's output with
    results as one-line JSON (`fatal: [host]: FAILED! => {...}` under `TASK [name]`)."""
    task, first = "", None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rfind("]")]
        elif line.startswith("fatal: [") and "=> " in line:
            try:
                msg = str(json.loads(line[line.index("=> ") + 3:]).get("msg", ""))
            except ValueError:
                msg = line
            if REPORT_TASK in task:
                return msg
            first = first or msg
    return first or "(no failed task in the output) " + output[-500:]


def main(table, repo, record, logdir, only=""):
    with open(table) as handle:
        rows = [r for r in yaml.safe_load(handle).get("site_rows", []) if re.search(only, "site")]
    python = sys.executable
    baseline = state(python)
    out = []
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               ANSIBLE_CALLBACK_FORMAT_PRETTY="false", ANSIBLE_NOCOLOR="1")
    for number, row in enumerate(rows, 1):
        started = time.time()
        proc = subprocess.run([os.path.join(os.path.dirname(python), "ansible-playbook"), "playbooks/site.yml",
                               "-e", json.dumps(row["vars"])], cwd=repo, env=env, capture_output=True, text=True,
                              check=False)
        with open(os.path.join(logdir, "site-row-%02d.log" % number), "w") as handle:
            handle.write(proc.stdout + proc.stderr)
        msg = failure_msg(proc.stdout)
        print("site row %d (%s): rc=%d in %.0f s" % (number, row["option"], proc.returncode, time.time() - started))
        out.append({"row": dict(row, site=True), "failed": proc.returncode != 0, "msg": msg,
                    "state": state(python)})
    with open(record, "w") as handle:
        json.dump({"baseline": baseline, "final": state(python), "rows": out}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
