#!/usr/bin/env python
"""A node outage heals like on a real cluster: kwok (the fake kubelet) stopped past the node grace
period, then started again, brings the nodes and their pods back to Ready.

  node_outage.py KUBECONFIG CLUSTER DOWN_SECONDS     (PYTHONPATH has the sandbox; MESH_SANDBOX_HOME set)

Creates a Deployment, waits until it is ready, restarts kwok with `meshsandbox restart --component
kwok --down-for DOWN_SECONDS` (the node lifecycle controller marks the nodes Unknown and their pods
Ready=False after its grace period, 50 s), then wants, within 60 s of kwok's start: every node Ready,
the Deployment ready again, and each pod's Ready condition changed after kwok's start (so the pods
really went unready and came back, the sandbox's pod-ready-again stage). Exits non-zero naming what
did not happen.
"""
import datetime
import subprocess
import sys
import time

from kubernetes import client, config

kubeconfig, cluster, down = sys.argv[1], sys.argv[2], sys.argv[3]
config.load_kube_config(kubeconfig)
apps, core = client.AppsV1Api(), client.CoreV1Api()
name, ns = "outage-probe", "default"
apps.create_namespaced_deployment(ns, {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
             "template": {"metadata": {"labels": {"app": name}},
                          "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}})


def wait(what, check, timeout):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit("node_outage: %s within %ss" % (what, timeout))
        time.sleep(1)


def deployment_ready():
    return (apps.read_namespaced_deployment(name, ns).status.ready_replicas or 0) == 2


def nodes_ready():
    return all(c.status == "True" for n in core.list_node().items for c in n.status.conditions if c.type == "Ready")


wait("the Deployment was not ready before the outage", deployment_ready, 120)
subprocess.run([sys.executable, "-m", "meshsandbox", "restart", cluster, "--component", "kwok", "--down-for", down],
               check=True)
started = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
t = time.monotonic()
wait("the nodes were not Ready again after kwok's restart", nodes_ready, 60)
wait("the Deployment was not ready again after kwok's restart (pods left Ready=False)", deployment_ready, 60)
pods = core.list_namespaced_pod(ns, label_selector="app=" + name).items
stale = [p.metadata.name for p in pods
         if not any(c.type == "Ready" and c.last_transition_time >= started for c in p.status.conditions)]
if stale:
    sys.exit("node_outage: pods %s did not go unready during the %ss outage (too short for the node grace period?)"
             % (stale, down))
print("node outage of %ss: nodes and %d pods Ready again %.0fs after kwok started" % (down, len(pods), time.monotonic() - t))
apps.delete_namespaced_deployment(name, ns)
