"""A small stand-in of AWX's REST API (``/api/v2/``) for check-mode runs of playbooks/awx/configure.yml.

There is no AWX in the sandbox. This serves what the awx.awx collection's modules
(``plugins/module_utils/controller_api.py``, collection 24.6.1) ask a controller for when they run
with ``--check``:

* authentication: every request must carry ``Authorization: Bearer <token>`` with the token given
  here (``CONTROLLER_OAUTH_TOKEN``); anything else gets AWX's 401 (``{"detail": ...}``);
* the version check: every response has ``X-API-Product-Name: AWX`` and
  ``X-API-Product-Version: 24.6.1`` (the collection compares the major version with its own, so no
  "You are running collection version ..." warning appears);
* look-ups: ``GET /api/v2/<endpoint>/?name=...&organization=<id>...`` (and the ``or__id``/``or__name``
  form for names that are integers) answered from an in-memory store as AWX's paged list
  (``count``, ``next``, ``previous``, ``results``); ``GET /api/v2/<endpoint>/<id>/`` and an object's
  sub-lists (``.../<id>/hosts/``, always empty here);
* writes: none. In check mode the modules never write (``post_endpoint``/``patch_endpoint``/
  ``delete_endpoint`` exit with ``changed: true`` before any request), so every non-GET/HEAD request
  is recorded in the state file and refused with 405: a test asserts the record is empty.

The store is empty at start (so check mode predicts creations) except for ``--seed FILE``: a JSON
object ``{"<endpoint>": [{"id": 1, "name": ..., <reference fields as ids>}, ...]}``. In check mode
the modules still resolve the names of *referenced* objects (``resolve_name_to_id``, which fails when
the name is not found): a project names its organization and execution environment, a credential its
credential type, a host its inventory, a group its hosts and child groups, a job template its
project, inventory and credentials. Objects the playbook would create earlier in a real run do not
exist in a check run, so the test seeds those (and AWX's built-in credential types, which every AWX
has). Seeded objects get AWX's ``url``, ``type`` and ``related`` fields; a task whose own object is
seeded predicts an update instead of a creation.

State file (``--state-file``, rewritten after every request): ``{"requests": N, "unauthorized": N,
"writes": [{"method": ..., "path": ...}, ...]}``. Standard library only. Listens on 127.0.0.1 only.

    PYTHONPATH=sandbox python -m meshsandbox.awx_api --port 0 --token-file T --state-file S \
        [--seed seed.json] [--url-file U]      # prints {"url": "http://127.0.0.1:PORT"}
"""

import argparse
import hmac
import json
import os
import signal
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRODUCT_NAME = "AWX"
PRODUCT_VERSION = "24.6.1"  # awx.awx's _COLLECTION_VERSION (controller_api.py)
PAGING = {"page", "page_size", "order_by"}
TYPES = {  # endpoint -> AWX's "type" field (get_item_name and update_if_needed read it)
    "organizations": "organization", "execution_environments": "execution_environment",
    "projects": "project", "credential_types": "credential_type", "credentials": "credential",
    "inventories": "inventory", "hosts": "host", "groups": "group", "job_templates": "job_template",
    "workflow_job_templates": "workflow_job_template", "labels": "label",
    "instance_groups": "instance_group", "notification_templates": "notification_template",
    "unified_job_templates": "unified_job_template", "users": "user", "teams": "team",
    "workflow_job_template_nodes": "workflow_job_template_node",
}


class Store:
    """Objects by endpoint, the request record, and the state file."""

    def __init__(self, token, state_file, seed):
        self.token = token.encode()
        self.state_file = state_file
        self.lock = threading.Lock()
        self.requests = self.unauthorized = 0
        self.writes = []
        self.objects = {ep: [] for ep in TYPES}
        for endpoint, items in (seed or {}).items():
            if endpoint not in TYPES:
                raise SystemExit(f"awx_api: unknown endpoint in seed: {endpoint}")
            for item in items:
                obj = dict(item)
                obj.setdefault("id", len(self.objects[endpoint]) + 1)
                obj["type"] = TYPES[endpoint]
                obj["url"] = f"/api/v2/{endpoint}/{obj['id']}/"
                obj.setdefault("related", {})
                self.objects[endpoint].append(obj)
        self.save()

    def save(self):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"requests": self.requests, "unauthorized": self.unauthorized,
                       "writes": self.writes}, f, indent=1)
        os.replace(tmp, self.state_file)

    def authorized(self, header):
        scheme, value = ((header or "").split(" ", 1) + [""])[:2]
        return scheme == "Bearer" and hmac.compare_digest(value.strip().encode(), self.token)

    def query(self, endpoint, params):
        """AWX's filtering as the modules use it: every plain field must match (as a string), and
        when ``or__`` fields are given at least one of them must."""
        ors = {k[4:]: v for k, v in params.items() if k.startswith("or__")}
        ands = {k: v for k, v in params.items() if not k.startswith("or__") and k not in PAGING}
        found = []
        for obj in self.objects[endpoint]:
            if any(str(obj.get(k)) != v for k, v in ands.items()):
                continue
            if ors and not any(str(obj.get(k)) == v for k, v in ors.items()):
                continue
            found.append(obj)
        return found


class Handler(BaseHTTPRequestHandler):
    server_version = "awx-api-stand-in"
    protocol_version = "HTTP/1.1"
    store = None  # set by serve()

    def log_message(self, *args):  # no access log: the test asserts on the state file
        pass

    def _send(self, code, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-API-Product-Name", PRODUCT_NAME)
        self.send_header("X-API-Product-Version", PRODUCT_VERSION)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        store = self.store
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # discarded: never stored, never logged (may hold secrets)
        url = urllib.parse.urlsplit(self.path)
        with store.lock:
            store.requests += 1
            authorized = store.authorized(self.headers.get("Authorization"))
            if not authorized:
                store.unauthorized += 1
            elif self.command not in ("GET", "HEAD"):
                store.writes.append({"method": self.command, "path": url.path})
            store.save()
        if not authorized:
            return self._send(401, {"detail": "Authentication credentials were not provided."},
                              [("WWW-Authenticate", 'Bearer realm="api"')])
        if self.command not in ("GET", "HEAD"):
            return self._send(405, {"detail": f'Method "{self.command}" not allowed: this AWX '
                                              "stand-in serves check-mode runs only."},
                              [("Allow", "GET, HEAD")])
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] != ["api", "v2"]:
            return self._send(404, {"detail": "Not found."})
        if len(parts) == 2:
            return self._send(200, {ep: f"/api/v2/{ep}/" for ep in TYPES})
        endpoint, rest = parts[2], parts[3:]
        if endpoint not in TYPES:
            return self._send(404, {"detail": "Not found."})
        with store.lock:
            if not rest:
                params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                found = store.query(endpoint, params)
                return self._send(200, {"count": len(found), "next": None, "previous": None,
                                        "results": found})
            match = [o for o in store.objects[endpoint] if str(o["id"]) == rest[0]]
        if not match:
            return self._send(404, {"detail": "Not found."})
        if len(rest) == 1:
            return self._send(200, match[0])
        # a sub-list (hosts, children, credentials, survey_spec, ...): nothing is associated here
        if rest[1] == "survey_spec":
            return self._send(200, {})
        return self._send(200, {"count": 0, "next": None, "previous": None, "results": []})

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle


def main(argv=None):
    parser = argparse.ArgumentParser(prog="meshsandbox.awx_api", description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", help="the bearer token to accept")
    token.add_argument("--token-file", help="a file holding the token (kept out of ps)")
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--seed", help="JSON file: objects that exist at start, by endpoint")
    parser.add_argument("--url-file", help="also write the URL there (after the port is bound)")
    args = parser.parse_args(argv)
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            args.token = f.read().strip()
    if not args.token:
        parser.error("the token is empty")
    seed = None
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            seed = json.load(f)
    Handler.store = Store(args.token, args.state_file, seed)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if args.url_file:
        with open(args.url_file + ".tmp", "w", encoding="utf-8") as f:
            f.write(url + "\n")
        os.replace(args.url_file + ".tmp", args.url_file)
    print(json.dumps({"url": url}), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
