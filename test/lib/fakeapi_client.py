"""The client side of the test API server (test/kubeapi/fakeapi.py), for every Python test
and benchmark that needs a Kubernetes API: FakeAPI() starts the server on loopback with
fresh dev certificates and token "sekret"; call() talks to its resources, admin() /
admin_state() / stats() to its admin endpoints (faults, SubjectAccessReview rules,
counters: see the docstring of fakeapi.py); kubeconfig() writes a kubeconfig for
`aimguard serve --kubeconfig`. The C tests use test/lib/fakeapi_helper.c."""
import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request

from agharness import SRC, make_certs


def die_with_parent():
    """The test API server goes when the test does (PR_SET_PDEATHSIG), even on a crash."""
    import ctypes
    import signal as sig
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig.SIGTERM), 0, 0, 0)


class FakeAPI:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ag-fakeapi-")
        self.certs = make_certs(os.path.join(self.dir, "certs"))
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "test", "kubeapi", "fakeapi.py"),
                                      "--cert", os.path.join(self.certs, "tls.crt"),
                                      "--key", os.path.join(self.certs, "tls.key"), "--token", "sekret"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     preexec_fn=die_with_parent)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.url = "https://localhost:%d" % int(line.split()[1])
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))

    def call(self, method, path, body=None, ctype="application/json"):
        for attempt in range(10):  # the test's own calls may meet an injected garbage answer
            req = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": "Bearer sekret", "Content-Type": ctype})
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                data = r.read()
            try:
                return json.loads(data)
            except ValueError:
                time.sleep(0.1)
        raise AssertionError("no valid answer from the test API server")

    def admin(self, command):
        """POST /_admin with a command object: faults (cut_watches, drop_watches, compact,
        stall_seconds, garbage, error_500, ...), sar_rules, reset_counters, reset_stats."""
        return self.call("POST", "/_admin", command)

    def admin_state(self):
        """GET /_admin: {"sar_count": N, "sar_requests": [...]}."""
        return self.call("GET", "/_admin")

    def stats(self):
        """GET /_admin/stats: {"writes": {"<VERB> <resource>": N, ...}, ...}."""
        return self.call("GET", "/_admin/stats")

    def kubeconfig(self):
        ca = base64.b64encode(open(os.path.join(self.certs, "ca.crt"), "rb").read()).decode()
        path = os.path.join(self.dir, "kubeconfig")
        with open(path, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: t\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n"
                    "clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n"
                    "users:\n- name: u\n  user: {token: sekret}\n" % (self.url, ca))
        return path

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
