"""A real control plane on loopback for the e2e tier (like controller-runtime's envtest).

Cluster() starts Debian's etcd and the v1.24 kube-apiserver of ../shared/tools/kubernetes-1.24
(unpacked once into the build directory, checked against SHA256SUMS), with certificates and
static tokens made for the run, an audit log at Metadata level (who did what: the tests
count aimguard's LISTs and writes there), the AIM CRDs of ../shared/reference and minimal
KServe/Gateway CRDs. It then installs aimguard the way deploy/ does: the project's own
rendered ClusterRoles and bindings (kubectl kustomize deploy/overlays/<overlay>), a
ServiceAccount token for `aimguard-system/aimguard` (TokenRequest), and the project's own
webhook configurations pointed at a URL with the CA bundle instead of the Service
(matchConditions, 1.28+, dropped).

skip_unless_available() prints one line and exits 77 (ctest reports it skipped) when a binary is missing, so a machine
without ../shared/tools or etcd reports the tier as skipped instead of failing it.
"""
import base64
import copy
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml  # noqa: E402

from agharness import BIN, SHARED, SRC, make_certs  # noqa: E402

TOOLS = os.path.join(SHARED, "tools", "kubernetes-1.24")
BUILD = os.environ.get("AG_BUILD", os.path.join(SRC, "build"))
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
ADMIN_TOKEN = "e2e-admin-token"
# users the tests act as (static tokens; the API server adds system:authenticated)
USERS = {"admin": (ADMIN_TOKEN, "system:masters"), "alice": ("e2e-alice-token", "team-a"),
         "bob": ("e2e-bob-token", "team-b")}

# The audit policy: Metadata for everything aimguard's reconciler could do, nothing for
# the API server's own chatter (leases aside, which the tests count separately).
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
"""

ISVC_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "inferenceservices.serving.kserve.io"},
    "spec": {"group": "serving.kserve.io", "scope": "Namespaced",
             "names": {"plural": "inferenceservices", "singular": "inferenceservice",
                       "kind": "InferenceService", "shortNames": ["isvc"]},
             "versions": [{"name": "v1beta1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}
ROUTE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "httproutes.gateway.networking.k8s.io",
                 "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/891"}},
    "spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
             "names": {"plural": "httproutes", "singular": "httproute", "kind": "HTTPRoute"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]}}


def _own_session_dying_with_parent():
    """A control-plane process leaves with the test, even when the test is killed
    (ctest's timeout, ^C): PR_SET_PDEATHSIG; its own session keeps ^C from reaching it
    first (a kube-apiserver given SIGINT drains for a minute)."""
    import ctypes
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sums():
    out = {}
    with open(os.path.join(TOOLS, "SHA256SUMS")) as f:
        for line in f:
            if line.strip():
                digest, name = line.split()
                out[name] = digest
    return out


def binary(name):
    """The unpacked binary in BUILD/e2e-bin (unpacked once, verified)."""
    d = os.path.join(BUILD, "e2e-bin")
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, name)
    want = _sums().get(name)
    if os.path.exists(out) and os.access(out, os.X_OK):
        return out
    tmp = out + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        subprocess.run(["xz", "-dc", os.path.join(TOOLS, name + ".xz")], stdout=f, check=True)
    if want and _sha256(tmp) != want:
        os.unlink(tmp)
        raise AssertionError("%s.xz does not unpack to the binary SHA256SUMS names" % name)
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out


def skip_unless_available():
    missing = []
    if not os.path.exists(os.path.join(TOOLS, "kube-apiserver.xz")):
        missing.append(os.path.join(TOOLS, "kube-apiserver.xz"))
    if not os.access(ETCD, os.X_OK):
        missing.append("etcd (Debian etcd-server; scripts/deps.sh test installs it)")
    if not shutil.which("xz"):
        missing.append("xz (xz-utils)")
    if not shutil.which("kubectl"):
        missing.append("kubectl")
    if missing:
        print("SKIP e2e: not found: " + ", ".join(missing))
        sys.exit(77)  # ctest: SKIP_RETURN_CODE (test/CMakeLists.txt)


class ApiError(Exception):
    def __init__(self, status, body):
        self.status, self.body = status, body
        try:
            self.obj = json.loads(body)
        except ValueError:
            self.obj = {}
        super().__init__("%s %s" % (status, body[:600]))


class Api:
    """A minimal client for one identity (bearer token)."""

    def __init__(self, port, token, ca):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca)

    def call(self, method, path, body=None, ctype="application/json", timeout=30):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.ctx)
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode(errors="replace")
        c.close()
        if r.status >= 300:
            raise ApiError(r.status, data)
        return json.loads(data) if data else None

    def get(self, path):
        return self.call("GET", path)

    def maybe(self, path):
        try:
            return self.get(path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def create(self, path, obj, dry_run=False):
        return self.call("POST", path + ("?dryRun=All" if dry_run else ""), obj)

    def merge(self, path, patch):
        return self.call("PATCH", path, patch, "application/merge-patch+json")

    def delete(self, path):
        return self.call("DELETE", path)


def path_of(obj, name=None):
    """The REST path of an object (or its collection when name is False)."""
    api = obj["apiVersion"]
    kind = obj["kind"]
    plural = {"NetworkPolicy": "networkpolicies", "AIMClusterRuntimeConfig": "aimclusterruntimeconfigs",
              "Endpoints": "endpoints"}.get(kind, kind.lower() + "s")
    base = "/api/" + api if "/" not in api else "/apis/" + api
    ns = obj.get("metadata", {}).get("namespace")
    if ns:
        base += "/namespaces/" + ns
    base += "/" + plural
    if name is not False:
        base += "/" + (name or obj["metadata"]["name"])
    return base


class Cluster:
    def __init__(self, controller_manager=False, apiserver_args=()):
        self.tmp = tempfile.mkdtemp(prefix="ag-e2e-")
        self.certs = make_certs(os.path.join(self.tmp, "certs"))
        self.ca = os.path.join(self.certs, "ca.crt")
        self.extra = list(apiserver_args)
        self.want_kcm = controller_manager
        self.procs = {}
        self.logs = {}
        self.apiserver_port = free_port()
        self.etcd_port, self.etcd_peer = free_port(), free_port()
        self.audit = os.path.join(self.tmp, "audit.log")
        self.aimguards = []
        self.t0 = time.time()

    # -- processes ---------------------------------------------------------------
    def _spawn(self, name, args):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_own_session_dying_with_parent)

    def _stop(self, name, sig=signal.SIGTERM, timeout=20):
        p = self.procs.pop(name, None)
        if not p:
            return
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.logs.pop(name).close()

    def log_text(self, name):
        try:
            with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        sa = os.path.join(self.tmp, "sa.key")
        subprocess.run(["openssl", "genrsa", "-out", sa, "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", sa, "-pubout", "-out", sa + ".pub"], check=True,
                       capture_output=True)
        with open(os.path.join(self.tmp, "tokens.csv"), "w") as f:
            for i, (user, (token, groups)) in enumerate(sorted(USERS.items())):
                f.write('%s,%s,uid%d,"%s"\n' % (token, user, i, groups))
        with open(os.path.join(self.tmp, "audit-policy.yaml"), "w") as f:
            f.write(AUDIT_POLICY)
        self._spawn("etcd", [ETCD, "--data-dir", os.path.join(self.tmp, "etcd"),
                             "--listen-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
                             "--advertise-client-urls", "http://127.0.0.1:%d" % self.etcd_port,
                             "--listen-peer-urls", "http://127.0.0.1:%d" % self.etcd_peer,
                             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.etcd_peer,
                             "--initial-cluster", "default=http://127.0.0.1:%d" % self.etcd_peer,
                             "--name", "default", "--log-level", "warn"])
        self.start_apiserver()
        self.admin = Api(self.apiserver_port, ADMIN_TOKEN, self.ca)
        self.kubeconfig = self.write_kubeconfig("admin", ADMIN_TOKEN)
        self._install_crds()
        return self

    def start_apiserver(self):
        self._spawn("kube-apiserver", [
            binary("kube-apiserver"),
            "--etcd-servers=http://127.0.0.1:%d" % self.etcd_port, "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1", "--secure-port=%d" % self.apiserver_port,
            "--tls-cert-file=" + os.path.join(self.certs, "tls.crt"),
            "--tls-private-key-file=" + os.path.join(self.certs, "tls.key"),
            "--client-ca-file=" + self.ca, "--token-auth-file=" + os.path.join(self.tmp, "tokens.csv"),
            "--authorization-mode=Node,RBAC",
            "--service-account-key-file=" + os.path.join(self.tmp, "sa.key.pub"),
            "--service-account-signing-key-file=" + os.path.join(self.tmp, "sa.key"),
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/12", "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount", "--endpoint-reconciler-type=none",
            "--audit-policy-file=" + os.path.join(self.tmp, "audit-policy.yaml"),
            "--audit-log-path=" + self.audit, "--audit-log-format=json"] + self.extra)
        self.wait_ready()

    def wait_ready(self, timeout=60):
        ctx = ssl.create_default_context(cafile=self.ca)
        deadline = time.time() + timeout
        while time.time() < deadline:
            p = self.procs["kube-apiserver"]
            if p.poll() is not None:
                raise AssertionError("kube-apiserver exited:\n" + self.log_text("kube-apiserver")[-4000:])
            try:
                c = http.client.HTTPSConnection("127.0.0.1", self.apiserver_port, timeout=2, context=ctx)
                c.request("GET", "/readyz", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("kube-apiserver not ready in %ss:\n%s" % (timeout, self.log_text("kube-apiserver")[-4000:]))

    def restart_apiserver(self):
        # SIGKILL: a SIGTERM drains watches for up to 60 s (see the README of the tools)
        self._stop("kube-apiserver", sig=signal.SIGKILL)
        self.start_apiserver()

    def start_controller_manager(self):
        self._spawn("kube-controller-manager", [
            binary("kube-controller-manager"), "--kubeconfig", self.kubeconfig,
            "--controllers=garbagecollector,namespace", "--leader-elect=false",
            "--use-service-account-credentials=false", "--authentication-kubeconfig", self.kubeconfig,
            "--authorization-kubeconfig", self.kubeconfig, "--secure-port=0"])

    def write_kubeconfig(self, name, token):
        path = os.path.join(self.tmp, name + ".kubeconfig")
        cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "e2e",
               "clusters": [{"name": "e2e", "cluster": {"server": "https://127.0.0.1:%d" % self.apiserver_port,
                                                       "certificate-authority": self.ca}}],
               "users": [{"name": name, "user": {"token": token}}],
               "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": name}}]}
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        os.chmod(path, 0o600)
        return path

    def kubectl(self, *args, user="admin", stdin=None, check=True):
        token = USERS[user][0]
        kc = self.kubeconfig if user == "admin" else self.write_kubeconfig(user, token)
        p = subprocess.run(["kubectl", "--kubeconfig", kc] + list(args), input=stdin, capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s: %s" % (" ".join(args), p.stderr))
        return p

    def api(self, user):
        return Api(self.apiserver_port, USERS[user][0], self.ca)

    def _install_crds(self):
        docs = []
        for f in sorted(os.listdir(os.path.join(SHARED, "reference", "aim-crds"))):
            with open(os.path.join(SHARED, "reference", "aim-crds", f)) as fh:
                docs.append(yaml.safe_load(fh))
        docs += [ISVC_CRD, ROUTE_CRD]
        for crd in docs:
            self.admin.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        deadline = time.time() + 30
        for crd in docs:
            while True:
                got = self.admin.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd["metadata"]["name"])
                conds = {c["type"]: c["status"] for c in got.get("status", {}).get("conditions", [])}
                if conds.get("Established") == "True":
                    break
                assert time.time() < deadline, "CRD %s not established" % crd["metadata"]["name"]
                time.sleep(0.1)
        # discovery of the new groups settles a moment after Established
        time.sleep(1)

    # -- aimguard ------------------------------------------------------------------
    def render(self, overlay="production"):
        p = subprocess.run(["kubectl", "kustomize", os.path.join(SRC, "deploy", "overlays", overlay)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return [d for d in yaml.safe_load_all(p.stdout) if d]

    def install_aimguard(self, overlay="production", webhook_port=None):
        """RBAC and namespace of the overlay, a ServiceAccount token; returns the kubeconfig."""
        self.rendered = self.render(overlay)
        self.webhook_port = webhook_port or free_port()
        keep = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
        for d in self.rendered:
            if d["kind"] in keep:
                self.admin.create(path_of(d, False), d)
        tr = self.admin.create("/api/v1/namespaces/aimguard-system/serviceaccounts/aimguard/token",
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})
        self.sa_token = tr["status"]["token"]
        self.sa_kubeconfig = self.write_kubeconfig("aimguard-sa", self.sa_token)
        return self.sa_kubeconfig

    def second_identity(self, name):
        """Another ServiceAccount with the project's ClusterRole and leader-election Role (a
        second replica the audit log can tell apart); returns its kubeconfig."""
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        self.admin.create("/api/v1/namespaces/aimguard-system/serviceaccounts",
                          {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        subj = [{"kind": "ServiceAccount", "name": name, "namespace": "aimguard-system"}]
        self.admin.create(rbac + "/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "aimguard"},
            "subjects": subj})
        self.admin.create(rbac + "/namespaces/aimguard-system/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "aimguard-leader-election"},
            "subjects": subj})
        tr = self.admin.create("/api/v1/namespaces/aimguard-system/serviceaccounts/%s/token" % name,
                               {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": 3600}})
        return self.write_kubeconfig(name, tr["status"]["token"])

    def webhook_configs(self):
        """The rendered webhook configurations, pointed at 127.0.0.1:webhook_port."""
        bundle = base64.b64encode(open(self.ca, "rb").read()).decode()
        out = []
        for d in self.rendered:
            if d["kind"] not in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
                continue
            d = copy.deepcopy(d)
            d["metadata"].pop("annotations", None)
            for h in d["webhooks"]:
                svc = h["clientConfig"].pop("service")
                h["clientConfig"] = {"url": "https://127.0.0.1:%d%s" % (self.webhook_port, svc["path"]),
                                     "caBundle": bundle}
                h.pop("matchConditions", None)  # 1.28+: this API server would refuse them
            out.append(d)
        assert len(out) == 2, [d["kind"] for d in self.rendered]
        return out

    def register_webhooks(self):
        for d in self.webhook_configs():
            self.admin.create(path_of_cluster(d), d)

    def aimguard_args(self):
        for d in self.rendered:
            if d["kind"] == "Deployment" and d["metadata"]["name"] == "aimguard":
                return d["spec"]["template"]["spec"]["containers"][0]["args"]
        raise AssertionError("no aimguard Deployment rendered")

    # -- audit log -------------------------------------------------------------------
    def audit_events(self, user=None, since=0.0):
        out = []
        try:
            with open(self.audit) as f:
                for line in f:
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if user and e.get("user", {}).get("username") != user:
                        continue
                    ts = e.get("requestReceivedTimestamp", "")
                    if since and _ts(ts) < since:
                        continue
                    out.append(e)
        except OSError:
            pass
        return out

    def stop(self):
        for a in self.aimguards:
            try:
                if a.proc and a.proc.poll() is None:
                    a.proc.kill()
                    a.proc.wait()
            except Exception:
                pass
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            self._stop(name, sig=signal.SIGKILL)

    def cleanup(self, ok):
        self.stop()
        if ok and not os.environ.get("AG_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
            for a in self.aimguards:  # their logs and policy copies
                shutil.rmtree(a.tmp, ignore_errors=True)
        else:
            print("e2e files kept in", self.tmp, "and the aimguard logs in",
                  " ".join(a.log_path for a in self.aimguards))


def _ts(text):
    # 2026-12-01T06:10:11.123456Z
    import calendar
    main, _, frac = text.rstrip("Z").partition(".")
    t = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    return t + (float("0." + frac) if frac else 0.0)


def path_of_cluster(d):
    group, _, version = d["apiVersion"].rpartition("/")
    plural = d["kind"].lower() + "s"
    return "/apis/%s/%s/%s" % (group, version, plural)


def run_cases(cases, cluster):
    """Runs (name, fn) cases against one cluster; prints ctest's summary line."""
    import traceback
    only = os.environ.get("AG_ONLY")
    passed = failed = 0
    for name, fn in cases:
        if only and only not in name:
            continue
        t0 = time.time()
        try:
            fn(cluster)
            passed += 1
            print("ok   %s (%.2fs)" % (name, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.2fs)" % (name, time.time() - t0), flush=True)
            traceback.print_exc()
            sys.stdout.flush()
    print("%d passed, %d failed (%.1fs with the control plane)" % (passed, failed, time.time() - cluster.t0))
    return failed == 0 and passed > 0


def urlq(**kw):
    return "?" + urllib.parse.urlencode(kw)


__all__ = ["Cluster", "Api", "ApiError", "skip_unless_available", "run_cases", "path_of", "BIN", "SRC",
           "SHARED", "free_port", "urlq"]
