#!/usr/bin/env python
"""Use a kubeconfig the module wrote: list namespaces (proves the token webhook path end to end),
or create/delete a LoadBalancer Service and print its ingress hostname.

  kube_check.py KUBECONFIG whoami
  kube_check.py KUBECONFIG lb-create NAME      -> hostname (waits up to 60 s)
  kube_check.py KUBECONFIG lb-delete NAME      (waits until the Service is gone)
"""
import json
import sys
import time

from kubernetes import client, config

path, action = sys.argv[1], sys.argv[2]
config.load_kube_config(config_file=path)
core = client.CoreV1Api()
if action == "whoami":
    names = [n.metadata.name for n in core.list_namespace().items]
    print(json.dumps({"namespaces": sorted(names)}))
elif action == "lb-create":
    name = sys.argv[3]
    body = {"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "selector": {"app": name},
                                                 "ports": [{"port": 80, "targetPort": 8080}]}}
    try:
        core.create_namespaced_service("default", body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    for _ in range(120):
        svc = core.read_namespaced_service(name, "default")
        ingress = (svc.status.load_balancer.ingress or []) if svc.status.load_balancer else []
        if ingress and ingress[0].hostname:
            print(json.dumps({"hostname": ingress[0].hostname}))
            break
        time.sleep(0.5)
    else:
        sys.exit("no ingress hostname after 60 s")
elif action == "lb-delete":
    name = sys.argv[3]
    try:
        core.delete_namespaced_service(name, "default")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    for _ in range(120):
        try:
            core.read_namespaced_service(name, "default")
        except client.ApiException as exc:
            if exc.status == 404:
                print(json.dumps({"deleted": name}))
                break
        time.sleep(0.5)
    else:
        sys.exit("Service %s still there after 60 s" % name)
