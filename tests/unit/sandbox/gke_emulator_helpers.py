"""Shared by the GKE emulator tests: an in-process emulator and an authorized session."""

import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
for _path in (os.path.join(ROOT, "sandbox"), ROOT):  # meshsandbox; ansible_collections/ (make venv's link)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from google.auth.transport.requests import AuthorizedSession  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

from meshsandbox import gke_emulator  # noqa: E402


class Running:
    def __init__(self, tmp_path, delay=0.2, **kwargs):
        self.emu = gke_emulator.GkeEmulator(state_dir=str(tmp_path / "gke"), delay=delay, clusters="none", **kwargs)
        self.server = gke_emulator.make_server(self.emu)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = self.emu.base_url
        self.key = self.emu.create_key("p1")
        creds = service_account.Credentials.from_service_account_info(
            self.key, scopes=[gke_emulator.CLOUD_PLATFORM_SCOPE])
        self.session = AuthorizedSession(creds)
        self.credentials = creds

    def api(self, path):
        return "%s/v1/projects/p1/locations/europe-west3-b/%s" % (self.url, path)

    def wait_op(self, op, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            cur = self.session.get(self.api("operations/" + op["name"])).json()
            if cur["status"] == "DONE":
                return cur
            time.sleep(0.05)
        raise AssertionError("operation %s not DONE" % op["name"])

    def close(self):
        self.server.shutdown()
        self.server.server_close()
