"""The kustomize overlays render, and what they render is safe: every webhook excludes
the system namespaces and aimguard's own, aimguard's own pod passes PSS restricted
(judged by aimguard itself), RBAC grants no wildcards, the webhook rules cover every AIM
kind of the CRDs, and the flags in the Deployment exist."""
import glob
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SHARED, SRC, render_overlay, run_cli, run_tests

SYSTEM = {"kube-system", "kube-public", "kube-node-lease", "aimguard-system"}


def render(overlay):
    return render_overlay(overlay)


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def aim_plurals():
    out = set()
    for f in glob.glob(os.path.join(SHARED, "reference", "aim-crds", "*.yaml")):
        crd = yaml.safe_load(open(f))
        out.add((crd["spec"]["group"], crd["spec"]["names"]["plural"]))
    assert len(out) == 10, out
    return out


def check_webhooks(docs, failure_policy):
    hooks = []
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        cfgs = by_kind(docs, kind)
        assert len(cfgs) == 1, kind
        assert cfgs[0]["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "aimguard-system/aimguard-webhook"
        for h in cfgs[0]["webhooks"]:
            hooks.append((kind, h))
    assert len(hooks) == 2
    for kind, h in hooks:
        assert h["admissionReviewVersions"] == ["v1"], h
        assert h["sideEffects"] in ("None", "NoneOnDryRun"), h
        assert 1 <= h["timeoutSeconds"] <= 10, h
        assert h["failurePolicy"] == failure_policy, (kind, h["failurePolicy"])
        svc = h["clientConfig"]["service"]
        assert svc["name"] == "aimguard-webhook" and svc["namespace"] == "aimguard-system"
        assert svc["path"] == ("/mutate" if kind.startswith("Mutating") else "/validate")
        if kind.startswith("Mutating"):
            assert h["reinvocationPolicy"] == "IfNeeded"
        excluded = set()
        for e in h["namespaceSelector"]["matchExpressions"]:
            if e["key"] == "kubernetes.io/metadata.name" and e["operator"] == "NotIn":
                excluded |= set(e["values"])
        assert SYSTEM <= excluded, (kind, excluded)
        covered = set()
        for r in h["rules"]:
            assert set(r["operations"]) >= {"CREATE", "UPDATE"}, r
            for g in r["apiGroups"]:
                for res in r["resources"]:
                    covered.add((g, res))
        missing = aim_plurals() - covered
        assert not missing, (kind, missing)
        for want in [("", "pods"), ("", "pods/ephemeralcontainers"), ("apps", "deployments"), ("batch", "cronjobs"),
                     ("serving.kserve.io", "inferenceservices")]:
            assert want in covered, (kind, want)
        assert any("system:node:" in c["expression"] for c in h.get("matchConditions", [])), h


def check_rbac(docs):
    roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate"}, rule


def check_audit(docs):
    """The background audit's needs: the PolicyReport CRDs, copied unchanged from the
    working group's (../shared/reference/policy-report), list and watch of every kind the
    shipped policies judge (credentials matches every kind: each the validating webhook
    receives, as `aimguard check --kinds` lists them), and the report verbs it uses."""
    crds = {c["metadata"]["name"]: c for c in by_kind(docs, "CustomResourceDefinition")}
    for name, f in (("policyreports.wgpolicyk8s.io", "wgpolicyk8s.io_policyreports.yaml"),
                    ("clusterpolicyreports.wgpolicyk8s.io", "wgpolicyk8s.io_clusterpolicyreports.yaml")):
        ref = yaml.safe_load(open(os.path.join(SHARED, "reference", "policy-report", f)))
        assert name in crds, sorted(crds)
        assert crds[name]["spec"] == ref["spec"], name
        assert "v1alpha2" in [v["name"] for v in crds[name]["spec"]["versions"] if v["served"]]
    role = [r for r in by_kind(docs, "ClusterRole") if r["metadata"]["name"] == "aimguard"][0]
    granted = {}
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for res in rule["resources"]:
                granted.setdefault((g, res), set()).update(rule["verbs"])
    code, out, err = run_cli("check", "--kinds")
    assert code == 0, err
    judged = [(g if g != "core" else "", res) for g, _, res, _, hooks, _ in
              (line.split() for line in out.splitlines()[1:]) if "validate" in hooks]
    assert ("", "pods") in judged and ("aim.eai.amd.com", "aimservices") in judged, judged
    for key in judged:
        assert {"list", "watch"} <= granted.get(key, set()), ("the audit cannot read", key)
    for res in ("policyreports", "clusterpolicyreports"):
        assert granted[("wgpolicyk8s.io", res)] == {"get", "list", "create", "update", "delete"}, granted


def check_deployment(docs, replicas):
    deps = by_kind(docs, "Deployment")
    assert len(deps) == 1
    d = deps[0]
    assert d["spec"]["replicas"] == replicas
    spec = d["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    c = spec["containers"][0]
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["requests"] and c["resources"]["limits"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert spec["topologySpreadConstraints"][0]["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spec["priorityClassName"]
    # aimguard judges its own pod: restricted, through the real CLI
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(dict(d, metadata=dict(d["metadata"], namespace="team-a")), f)
    code, out, err = run_cli("eval", "--mode", "validate", "-p",
                             os.path.join(SRC, "policies", "examples", "pss-restricted.yaml"), "-f", f.name)
    os.unlink(f.name)
    assert code == 0, err
    # every flag in the args is one the binary knows
    code, help_text, _ = run_cli("serve", "--help")
    for a in c["args"][1:]:
        flag = a.split("=")[0]
        assert flag in help_text, flag
    # the policies ConfigMap is mounted, and holds policies the binary accepts
    cms = [m for m in by_kind(docs, "ConfigMap") if m["metadata"]["name"].startswith("aimguard-policies")]
    assert len(cms) == 1
    vol = [v for v in spec["volumes"] if "configMap" in v][0]
    assert vol["configMap"]["name"] == cms[0]["metadata"]["name"]
    tmp = tempfile.mkdtemp()
    for name, text in cms[0]["data"].items():
        open(os.path.join(tmp, name), "w").write(text)
    code, out, err = run_cli("check", tmp)
    shutil.rmtree(tmp)
    assert code == 0, err
    return c["args"]


def check_service_and_policies(docs):
    svc = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "aimguard-webhook"][0]
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert ports["webhook"]["port"] == 443 and ports["webhook"]["targetPort"] == "webhook"
    assert ports["metrics"]["port"] == 8443
    ns = by_kind(docs, "Namespace")[0]
    assert ns["metadata"]["name"] == "aimguard-system"
    certs = {c["metadata"]["name"]: c for c in by_kind(docs, "Certificate")}
    assert "aimguard-webhook.aimguard-system.svc" in certs["aimguard-webhook"]["spec"]["dnsNames"]
    assert by_kind(docs, "PodDisruptionBudget") and by_kind(docs, "NetworkPolicy") and by_kind(docs, "PriorityClass")
    for d in docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                             "ValidatingWebhookConfiguration", "PriorityClass", "CustomResourceDefinition"):
            assert d["metadata"].get("namespace") == "aimguard-system", (d["kind"], d["metadata"])


def test_production_overlay():
    docs = render("production")
    check_webhooks(docs, "Fail")
    check_rbac(docs)
    check_audit(docs)
    args = check_deployment(docs, 2)
    assert not any(a.startswith("--default-action") for a in args)
    # the reconciler's mode is chosen in the overlay, visibly (docs/install.md)
    assert "--reconcile=unmanaged" in args, args
    check_service_and_policies(docs)
    assert by_kind(docs, "PodDisruptionBudget")[0]["spec"]["minAvailable"] == 1


def test_dev_overlay():
    docs = render("dev")
    check_webhooks(docs, "Ignore")
    check_rbac(docs)
    check_audit(docs)
    args = check_deployment(docs, 1)
    assert "--default-action=warn" in args
    assert "--reconcile=unmanaged" in args, args
    check_service_and_policies(docs)


if __name__ == "__main__":
    run_tests(globals())
