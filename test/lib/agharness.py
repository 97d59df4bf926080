"""Shared helpers for aimguard's Python tests (run with /usr/bin/python3).

Server() starts the real binary on loopback with fresh dev certificates and talks to
it over TLS; run_tests() runs every test_* function of a module and prints the
"N passed, N failed" line ctest's log shows.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get("AG_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
# The one way every test finds the binary: $AG_BIN (ctest sets it to the build's own
# binary); the release build's path is only the default of a test run by hand.
BIN = os.environ.get("AG_BIN", os.path.join(SRC, "build", "aimguard"))
# The build under test is instrumented by a sanitizer (ctest sets AG_SANITIZE and AG_TSAN
# from the CMake options): valgrind cannot run its binary.
INSTRUMENTED = any(os.environ.get(v, "OFF").upper() in ("ON", "1", "TRUE", "YES") for v in ("AG_SANITIZE", "AG_TSAN"))
# The exit status ctest reports as "Skipped" (SKIP_RETURN_CODE in test/CMakeLists.txt).
SKIP = 77
SHARED = os.environ.get("AG_SHARED", os.path.join(SRC, "..", "shared"))
REVIEWS = os.path.join(SHARED, "conformance", "admissionreview")
if not os.path.isdir(REVIEWS):
    sys.exit("aimguard tests need the shared fixtures beside the repository (%s): "
             "conformance/admissionreview is missing" % os.path.abspath(SHARED))

_cert_cache = {}

# Secret values planted in test/fixtures/reviews/pod-with-planted-secrets.json. No log
# line and no response the suite ever sees may contain one (Server and request() check).
PLANTED = ("hf_PLANTEDsecret7Q2x", "pw-PLANTED-d41d8cd9", "tok-PLANTED-6a1f0c9e", "key-PLANTED-93b2")


def assert_no_planted(text, where):
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for secret in PLANTED:
        assert secret not in text, "planted secret %s leaked into %s" % (secret, where)
    assert "PRIVATE KEY-----" not in text, "key material leaked into " + where


def make_certs(directory, **env):
    """Runs certs/gen-dev-certs.sh into directory (FORCE=1); returns the directory."""
    e = dict(os.environ, FORCE="1", **env)
    subprocess.run([os.path.join(SRC, "certs", "gen-dev-certs.sh"), directory], check=True,
                   env=e, stdout=subprocess.DEVNULL)
    return directory


def shared_certs():
    if "dir" not in _cert_cache:
        _cert_cache["dir"] = make_certs(tempfile.mkdtemp(prefix="ag-certs-"))
    return _cert_cache["dir"]


def load_review(name):
    with open(os.path.join(REVIEWS, name)) as f:
        return json.load(f)


def review_for(obj, operation="CREATE", namespace=None, uid="11111111-2222-3333-4444-555555555555",
               old=None, user="alice", groups=("system:authenticated",), subresource=None):
    api = obj.get("apiVersion", "v1")
    group, _, version = api.rpartition("/")
    kind = obj.get("kind", "")
    ns = namespace if namespace is not None else obj.get("metadata", {}).get("namespace", "default")
    req = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "name": obj.get("metadata", {}).get("name", ""),
        "namespace": ns,
        "operation": operation,
        "userInfo": {"username": user, "groups": list(groups)},
        "object": obj if operation != "DELETE" else None,
        "oldObject": old,
        "dryRun": False,
    }
    if subresource:
        req["subResource"] = subresource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def decode_patch(response):
    r = response["response"]
    if "patch" not in r:
        return None
    assert r["patchType"] == "JSONPatch", r
    return json.loads(base64.b64decode(r["patch"]))


class Server:
    """aimguard serve on 127.0.0.1 (ports chosen by the kernel), TLS with dev certs."""

    def __init__(self, policies=None, extra_args=(), certs=None, metrics_tls=False, env=None):
        self.tmp = tempfile.mkdtemp(prefix="ag-srv-")
        self.certs = certs or shared_certs()
        self.policies = os.path.join(self.tmp, "policies")
        src = policies or os.path.join(SRC, "policies", "default")
        if os.path.isdir(src):
            shutil.copytree(src, self.policies)
        else:
            os.makedirs(self.policies)
            shutil.copy(src, self.policies)
        self.ready_file = os.path.join(self.tmp, "ready")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.args = [BIN, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                     "--tls-cert", os.path.join(self.certs, "tls.crt"),
                     "--tls-key", os.path.join(self.certs, "tls.key"),
                     "--policies", self.policies, "--ready-file", self.ready_file,
                     "--shutdown-grace", "5"] + list(extra_args)
        if not metrics_tls:
            self.args.append("--metrics-insecure")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        # AG_VALGRIND=1: every server of the suite runs under valgrind memcheck; any error or
        # definite/indirect leak makes it exit 99, which stop() reports as a failure
        if os.environ.get("AG_VALGRIND") == "1":
            self.args = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                         "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
                         "--track-fds=no"] + self.args
            self.slow = 20
            self.env["AIMGUARD_PCRE2_JIT"] = "0"  # valgrind cannot follow PCRE2's JIT code
        else:
            self.slow = 1

    def start(self, wait_ready=True):
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        if wait_ready:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        timeout *= self.slow
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited early (%s):\n%s" % (self.proc.returncode, self.logs()))
            if os.path.exists(self.ready_file):
                pid, port, mport = open(self.ready_file).read().split()
                self.port, self.metrics_port = int(port), int(mport)
                return
            time.sleep(0.02)
        raise AssertionError("server not ready in %ss:\n%s" % (timeout, self.logs()))

    def ssl_context(self, ca=None):
        ctx = ssl.create_default_context(cafile=ca or os.path.join(self.certs, "ca.crt"))
        return ctx

    def conn(self, timeout=10, ca=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                           context=self.ssl_context(ca))

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        assert_no_planted(data, "a response to %s %s" % (method, path))
        return r.status, dict(r.getheaders()), data

    def review(self, path, review, conn=None):
        status, headers, data = self.request("POST", path, review, conn=conn)
        assert status == 200, (status, data)
        assert headers.get("Content-Type") == "application/json", headers
        return json.loads(data)

    def metrics(self):
        c = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        assert r.status == 200, r.status
        return body

    def metric(self, series):
        """The value of one exact series, e.g. 'aimguard_policy_generation'."""
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            key, _, value = line.rpartition(" ")
            if key == series:
                return float(value)
        return None

    def logs(self):
        if getattr(self, "_final_logs", None) is not None:
            return self._final_logs
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_lines(self):
        return [json.loads(l) for l in self.logs().splitlines() if l.strip()]

    def stop(self, expect_code=0, timeout=30):
        timeout *= self.slow
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop on SIGTERM:\n" + self.logs())
        code = self.proc.returncode if self.proc else 0
        self.log.close()
        assert_no_planted(self.logs(), "the server log")
        if expect_code is not None and code != expect_code:
            raise AssertionError("server exited %s (expected %s):\n%s" % (code, expect_code, self.logs()[-6000:]))
        return code

    def cleanup(self):
        self._final_logs = self.logs()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.proc and self.proc.poll() is None:
                self.stop(expect_code=None if exc_type else 0)
            elif self.proc and exc_type is None and self.proc.returncode != 0:
                raise AssertionError("server died with %s:\n%s" % (self.proc.returncode, self.logs()[-6000:]))
        finally:
            if exc_type is None:
                self.cleanup()


def render_overlay(overlay):
    """The documents `kubectl kustomize deploy/overlays/<overlay>` renders (python3-yaml)."""
    import yaml
    k = shutil.which("kubectl")
    assert k, "kubectl is needed to render deploy/ (scripts/deps.sh installs it)"
    p = subprocess.run([k, "kustomize", os.path.join(SRC, "deploy", "overlays", overlay)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    docs = [d for d in yaml.safe_load_all(p.stdout) if d]
    assert docs, "nothing rendered"
    return docs


def run_cli(*args, stdin=None, timeout=60):
    p = subprocess.run([BIN] + list(args), input=stdin, capture_output=True, timeout=timeout)
    # stderr carries diagnostics and denials: never a value from the input
    assert_no_planted(p.stderr, "aimguard %s stderr" % (args[0] if args else ""))
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def skip(reason):
    """Ends a test script that cannot run in this build, and says why (ctest: Skipped)."""
    print("skipped: " + reason, flush=True)
    sys.exit(SKIP)


def run_tests(module_globals):
    tests = [(n, f) for n, f in sorted(module_globals.items()) if n.startswith("test_") and callable(f)]
    only = os.environ.get("AG_ONLY")
    passed = failed = 0
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn()
            passed += 1
            print("ok   %s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed))
    if passed + failed == 0:
        print("no tests ran")
        sys.exit(1)
    sys.exit(1 if failed else 0)
