"""`aimguard audit --kubeconfig` against the test API server: every kind the policies judge
is found through discovery and listed in pages (limit=500&continue=...: more objects than
one page are all judged), a kind the cluster does not serve is one line on stderr and
not an error, an unreachable cluster is exit 2 with a reason (never the token), and no
secret value of an object reaches the output."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import PLANTED, run_cli, run_tests
from fakeapi_client import FakeAPI

POLICIES = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: baseline}
spec:
  match: {kinds: [Pod, apps/Deployment, apps/StatefulSet]}
  validate: {podSecurity: {level: baseline}}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: widgets}
spec:
  action: warn
  match: {kinds: [example.com/Widget]}
  validate:
    rules:
    - {name: owner, path: spec.owner, required: true}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: no-literal-credentials}
spec:
  match: {kinds: [Pod]}
  validate: {secrets: {forbidLiteralEnv: true}}
"""


def pod(name, privileged=False, env=None):
    c = {"name": "c", "image": "registry.example.com/app@sha256:" + "b" * 64}
    if privileged:
        c["securityContext"] = {"privileged": True}
    if env:
        c["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c]}}


class World:
    def __init__(self):
        self.api = FakeAPI()
        self.dir = tempfile.mkdtemp(prefix="ag-audit-cluster-")
        self.policies = os.path.join(self.dir, "policies.yaml")
        with open(self.policies, "w") as f:
            f.write(POLICIES)
        for ns in ("team-a", "team-b"):
            self.api.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})

    def create(self, ns, obj, plural="pods", base="/api/v1"):
        self.api.call("POST", "%s/namespaces/%s/%s" % (base, ns, plural), obj)

    def audit(self, *args):
        code, out, err = run_cli("audit", "-p", self.policies, "--kubeconfig", self.api.kubeconfig(), *args,
                                 timeout=120)
        for text in (out, err):
            for secret in PLANTED:
                assert secret not in text, "planted secret %s in audit's output" % secret
            assert "sekret" not in text, "the bearer token in audit's output"
        return code, out, err

    def close(self):
        self.api.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_pages_kinds_not_served_and_secrets():
    w = World()
    try:
        # 503 pods: more than one page of 500; two of them privileged, one on each page
        for i in range(501):
            w.create("team-a", pod("p%03d" % i, privileged=i in (3, 500)))
        w.create("team-b", pod("leaky", env=[{"name": "HF_TOKEN", "value": PLANTED[0]}]))
        w.create("team-b", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf"},
                            "stringData": {"token": PLANTED[1]}}, plural="secrets")
        w.create("team-b", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                                "metadata": {"labels": {"a": "b"}},
                                "spec": {"containers": [{"name": "web", "image": "nginx",
                                                         "securityContext": {"privileged": True}}]}}}},
                 plural="deployments", base="/apis/apps/v1")
        w.api.admin({"reset_stats": True})
        code, out, err = w.audit()
        assert code == 1, (code, out, err)
        lines = out.splitlines()
        assert lines[-1] == "503 objects: 4 would be denied, 0 warned, 0 audited, 0 errors", lines[-1]
        head = [l for l in lines if l.startswith("policy baseline ")]
        assert head and head[0].endswith(": 503 objects judged, 3 fail, 0 warn, 500 pass"), head
        fails = [l.strip() for l in lines if l.startswith("    FAIL")]
        # baseline's, in the order listed (kinds by group, objects as the API lists them),
        # then the credential policy's
        assert fails == ["FAIL Pod team-a/p003", "FAIL Pod team-a/p500", "FAIL apps/Deployment team-b/web",
                         "FAIL Pod team-b/leaky"], fails
        assert "HF_TOKEN" in out, out
        # the pods came in two pages, each kind was listed once, nothing was written
        st = w.api.stats()
        assert st["read_kinds"].get("LIST pods") == 2, st
        assert st["read_kinds"].get("LIST deployments") == 1, st
        assert "LIST secrets" not in st["read_kinds"], st  # no policy judges Secrets
        assert st["total_writes"] == 0, st
        # kinds the cluster does not serve: one line each on stderr, not an error
        notes = [l for l in err.splitlines() if "not audited" in l]
        assert len(notes) == 2, err
        assert any(l.startswith("aimguard audit: apps/StatefulSet: the cluster does not serve this kind") for l in notes), notes
        assert any(l.startswith("aimguard audit: example.com/Widget: the cluster does not serve the API group "
                                "example.com") for l in notes), notes
        # smaller pages, one namespace, JSON
        w.api.admin({"reset_stats": True})
        code, out, err = w.audit("--chunk-size", "2", "-n", "team-b", "-o", "json")
        assert code == 1, (code, out, err)
        doc = json.loads(out)
        assert doc["summary"] == {"objects": 2, "denied": 2, "warned": 0, "audited": 0, "errors": 0}, doc["summary"]
        st = w.api.stats()
        assert st["read_kinds"].get("LIST pods") == 1 and st["read_kinds"].get("LIST deployments") == 1, st
        hits = {(p["policy"], h["kind"], h["name"]) for p in doc["policies"] for r in p["rules"] for h in r["results"]}
        assert hits == {("baseline", "Deployment", "web"), ("no-literal-credentials", "Pod", "leaky")}, hits
        code, out, err = w.audit("--chunk-size", "7", "-n", "team-a")
        st = w.api.stats()
        assert code == 1 and out.splitlines()[-1].startswith("501 objects: 2 would be denied"), (code, out)
        assert st["read_kinds"].get("LIST pods") == 1 + 72, st  # 501 pods in pages of 7
    finally:
        w.close()


def test_clean_cluster_exit_0():
    w = World()
    try:
        w.create("team-a", pod("ok"))
        code, out, err = w.audit()
        assert code == 0, (code, out, err)
        assert out.splitlines()[-1] == "1 object: 0 would be denied, 0 warned, 0 audited, 0 errors", out
    finally:
        w.close()


def test_namespace_labels_come_from_the_cluster():
    """A policy selecting namespaces by label judges only the objects of the namespaces
    the cluster labels so (without the Namespaces it would apply everywhere)."""
    w = World()
    try:
        with open(w.policies, "w") as f:
            f.write(POLICIES.split("---\n")[0].replace("match: {kinds: [Pod, apps/Deployment, apps/StatefulSet]}",
                                                       "match: {kinds: [Pod], namespaceSelector: {matchLabels: "
                                                       "{tier: gpu}}}"))
        w.api.call("PATCH", "/api/v1/namespaces/team-b", {"metadata": {"labels": {"tier": "gpu"}}},
                   ctype="application/merge-patch+json")
        w.create("team-a", pod("a", privileged=True))
        w.create("team-b", pod("b", privileged=True))
        code, out, err = w.audit()
        assert code == 1, (code, out, err)
        fails = [l.strip() for l in out.splitlines() if l.startswith("    FAIL")]
        assert fails == ["FAIL Pod team-b/b"], out
        assert out.splitlines()[-1] == "2 objects: 1 would be denied, 0 warned, 0 audited, 0 errors", out
    finally:
        w.close()


def test_unreachable_cluster_is_exit_2_with_a_reason():
    w = World()
    try:
        kc = w.api.kubeconfig()
        w.api.proc.terminate()
        w.api.proc.wait()
        code, out, err = run_cli("audit", "-p", w.policies, "--kubeconfig", kc, timeout=120)
        assert code == 2 and out == "", (code, out, err)
        assert "cannot use the cluster at https://localhost:" in err, err
        assert "sekret" not in err
        code, out, err = run_cli("audit", "-p", w.policies, "--kubeconfig", os.path.join(w.dir, "missing"))
        assert code == 2 and "--kubeconfig %s" % os.path.join(w.dir, "missing") in err, (code, err)
    finally:
        shutil.rmtree(w.dir, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
