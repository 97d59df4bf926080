"""`aimguard audit` on manifests on disk: what the policies would deny, warn or audit among
existing objects, grouped by policy, then rule, then object; the per-policy counts; the
JSON form; the exit status (0 nothing would be denied, 1 something would, 2 broken
input or policy); and never a secret value, whatever the object holds."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import PLANTED, run_cli, run_tests

POLICIES = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: baseline}
spec:
  action: enforce
  match: {kinds: [Pod, apps/Deployment]}
  validate: {podSecurity: {level: baseline}}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: digests}
spec:
  action: warn
  match: {kinds: [Pod, apps/Deployment]}
  validate: {images: {requireDigest: true}}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: team-label}
spec:
  action: audit
  match: {kinds: [apps/Deployment]}
  validate:
    rules:
    - {name: team-label, path: metadata.labels.team, required: true}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: no-literal-credentials}
spec:
  match: {kinds: [Pod]}
  validate: {secrets: {forbidLiteralEnv: true}}
"""

DIGEST = "registry.example.com/aim/llm@sha256:" + "a" * 64


def deployment(name, ns, image, privileged=False, labels=None):
    c = {"name": "web", "image": image}
    if privileged:
        c["securityContext"] = {"privileged": True}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}}}}


def pod(name, ns, image, env=None):
    c = {"name": "c", "image": image}
    if env:
        c["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [c]}}


PRIV = deployment("priv", "team-a", "nginx:1.25", privileged=True)
CLEAN = pod("clean", "team-a", DIGEST)
# a literal credential (planted value) beside one taken from a Secret
LEAKY = pod("leaky", "team-b", DIGEST, env=[{"name": "HF_TOKEN", "value": PLANTED[0]},
                                             {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {
                                                 "name": "db", "key": "password"}}}])
LABELLED = deployment("labelled", "team-b", DIGEST, labels={"team": "b"})
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team-a"},
      "data": {"token": PLANTED[2]}}


class Tree:
    def __init__(self, policies=POLICIES):
        self.dir = tempfile.mkdtemp(prefix="ag-audit-")
        self.policies = os.path.join(self.dir, "policies.yaml")
        with open(self.policies, "w") as f:
            f.write(policies)
        self.manifests = os.path.join(self.dir, "manifests")
        os.mkdir(self.manifests)

    def write(self, name, *docs, raw=None):
        path = os.path.join(self.manifests, name)
        with open(path, "w") as f:
            f.write(raw if raw is not None else "---\n".join(yaml.safe_dump(d) for d in docs))
        return path

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def audit(*args, stdin=None):
    code, out, err = run_cli("audit", *args, stdin=stdin)
    for secret in PLANTED:
        assert secret not in out, "planted secret %s in audit's output:\n%s" % (secret, out)
    return code, out, err


def the_world(t):
    """Two files: a multi-document one and a List (kubectl get -o yaml), with a ConfigMap
    no policy matches."""
    t.write("a.yaml", PRIV, CLEAN, CM)
    t.write("b.yaml", {"apiVersion": "v1", "kind": "List", "items": [LEAKY, LABELLED]})


def test_grouped_by_policy_rule_object_with_counts_and_exit_1():
    t = Tree()
    try:
        the_world(t)
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 1, (code, out, err)
        lines = out.splitlines()
        src = t.policies + ":"
        # policy order (the files' order), each with the objects it judged
        heads = [l for l in lines if l.startswith("policy ")]
        assert [h.split()[1] for h in heads] == ["baseline", "digests", "team-label", "no-literal-credentials"], heads
        assert heads[0].startswith("policy baseline (" + src) and heads[0].endswith(
            "): 4 objects judged, 1 fail, 0 warn, 3 pass"), heads
        assert heads[1].endswith(": 4 objects judged, 0 fail, 1 warn, 3 pass"), heads
        assert heads[2].endswith(": 2 objects judged, 1 fail, 0 warn, 1 pass"), heads
        assert heads[3].endswith(": 2 objects judged, 1 fail, 0 warn, 1 pass"), heads
        # under each policy: its rule, then the objects with the violations' rule, message, field
        i = lines.index(heads[0])
        assert lines[i + 1] == "  rule podSecurity (enforce)", lines[i:i + 4]
        assert lines[i + 2] == "    FAIL apps/Deployment team-a/priv", lines[i:i + 4]
        assert lines[i + 3].startswith("      [podSecurity/baseline/privileged] privileged (container \"web\"")
        assert lines[i + 3].endswith("(field spec.template.spec.containers[0].securityContext.privileged)")
        i = lines.index(heads[1])
        assert lines[i + 1:i + 3] == ["  rule images (warn)", "    WARN apps/Deployment team-a/priv"], lines[i:i + 4]
        assert "[images/digest]" in lines[i + 3], lines[i + 3]
        i = lines.index(heads[2])
        assert lines[i + 1:i + 3] == ["  rule team-label (audit)", "    FAIL apps/Deployment team-a/priv"], lines[i:i + 4]
        assert "(field metadata.labels.team)" in lines[i + 3], lines[i + 3]
        i = lines.index(heads[3])
        assert lines[i + 1:i + 3] == ["  rule secrets (enforce)", "    FAIL Pod team-b/leaky"], lines[i:i + 4]
        assert "HF_TOKEN" in lines[i + 3] and "DB_PASSWORD" not in lines[i + 3], lines[i + 3]
        # the clean objects and the ConfigMap are in no list
        for name in ("clean", "labelled", "cfg"):
            assert not any(l.startswith("    ") and l.endswith("/" + name) for l in lines), (name, out)
        assert lines[-1] == "5 objects: 2 would be denied, 0 warned, 0 audited, 0 errors", lines[-1]
    finally:
        t.close()


def test_json_form():
    t = Tree()
    try:
        the_world(t)
        code, out, err = audit("-p", t.policies, "-o", "json", t.manifests)
        assert code == 1, (code, err)
        doc = json.loads(out)
        assert doc["summary"] == {"objects": 5, "denied": 2, "warned": 0, "audited": 0, "errors": 0}, doc["summary"]
        assert doc["errors"] == []
        pols = {p["policy"]: p for p in doc["policies"]}
        assert [p["policy"] for p in doc["policies"]] == ["baseline", "digests", "team-label", "no-literal-credentials"]
        assert pols["baseline"]["summary"] == {"objects": 4, "fail": 1, "warn": 0, "pass": 3, "skip": 0}
        assert pols["baseline"]["source"].startswith(t.policies + ":")
        rule = pols["baseline"]["rules"][0]
        assert rule["rule"] == "podSecurity" and rule["action"] == "enforce", rule
        assert len(rule["results"]) == 1, rule
        hit = rule["results"][0]
        assert (hit["apiVersion"], hit["kind"], hit["namespace"], hit["name"], hit["result"]) == \
            ("apps/v1", "Deployment", "team-a", "priv", "fail"), hit
        assert hit["source"] == {"file": os.path.join(t.manifests, "a.yaml"), "document": 1}, hit
        v = hit["violations"][0]
        assert v["rule"] == "podSecurity/baseline/privileged", v
        assert v["path"] == "spec.template.spec.containers[0].securityContext.privileged", v
        warn = pols["digests"]["rules"][0]["results"]
        assert [(h["name"], h["result"]) for h in warn] == [("priv", "warn")], warn
        leaky = pols["no-literal-credentials"]["rules"][0]["results"][0]
        assert leaky["source"] == {"file": os.path.join(t.manifests, "b.yaml"), "document": 1, "item": "items[0]"}
        assert "HF_TOKEN" in leaky["message"], leaky
    finally:
        t.close()


def test_exit_0_when_nothing_would_be_denied_warn_and_audit_included():
    t = Tree()
    try:
        t.write("ok.yaml", CLEAN, LABELLED, CM)
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 0, (code, out, err)
        assert "FAIL" not in out and "WARN" not in out, out
        assert out.splitlines()[-1] == "3 objects: 0 would be denied, 0 warned, 0 audited, 0 errors", out
        # a digest-less Deployment with its label: only the warn policy speaks
        t.write("ok.yaml", deployment("tagged", "team-c", "nginx:1.25", labels={"team": "c"}))
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 0 and "    WARN apps/Deployment team-c/tagged" in out, (code, out, err)
        assert out.splitlines()[-1] == "1 object: 0 would be denied, 1 warned, 0 audited, 0 errors", out
        # without the label: the audit policy's fail, which denies nothing
        t.write("ok.yaml", deployment("unlabelled", "team-c", DIGEST))
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 0, (code, out, err)
        assert "  rule team-label (audit)\n    FAIL apps/Deployment team-c/unlabelled\n" in out, out
        assert out.splitlines()[-1] == "1 object: 0 would be denied, 0 warned, 1 audited, 0 errors", out
    finally:
        t.close()


def test_policies_print_in_policy_order_whatever_the_objects_order():
    """A ConfigMap listed first meets only the second policy: the output still follows the
    policies' order (files by path, documents in file order)."""
    t = Tree(policies=POLICIES.replace("match: {kinds: [Pod]}", "match: {kinds: [Pod, ConfigMap]}"))
    try:
        with open(os.path.join(t.dir, "a-first.yaml"), "w") as f:
            f.write(POLICIES.split("---\n")[0].replace("name: baseline", "name: a-first-file"))
        t.write("m.yaml", CM, CLEAN)
        code, out, err = audit("-p", t.dir, t.manifests)
        assert code == 0, (code, out, err)
        heads = [l.split()[1] for l in out.splitlines() if l.startswith("policy ")]
        assert heads == ["a-first-file", "baseline", "digests", "no-literal-credentials"], out
    finally:
        t.close()


def test_stdin_and_namespace_filter():
    t = Tree()
    try:
        data = "---\n".join(yaml.safe_dump(d) for d in (PRIV, CLEAN, LEAKY, LABELLED)).encode()
        code, out, err = audit("-p", t.policies, "-n", "team-b", "-", stdin=data)
        assert code == 1, (code, out, err)
        assert "FAIL Pod team-b/leaky" in out and "team-a/" not in out, out
        assert out.splitlines()[-1] == "2 objects: 1 would be denied, 0 warned, 0 audited, 0 errors", out
    finally:
        t.close()


def test_broken_input_is_exit_2_and_the_rest_is_still_judged():
    t = Tree()
    try:
        the_world(t)
        t.write("c.yaml", raw="apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 2, (code, out, err)
        bad = [l for l in out.splitlines() if l.startswith("ERROR ")]
        assert len(bad) == 1 and bad[0].startswith("ERROR %s: %s:" % (os.path.join(t.manifests, "c.yaml"),
                                                                       os.path.join(t.manifests, "c.yaml"))), bad
        assert "FAIL apps/Deployment team-a/priv" in out, out
        assert out.splitlines()[-1] == "5 objects: 2 would be denied, 0 warned, 0 audited, 1 error", out
        # the same in JSON
        code, out, err = audit("-p", t.policies, "-o", "json", t.manifests)
        doc = json.loads(out)
        assert code == 2 and doc["summary"]["errors"] == 1 and doc["errors"][0]["where"].endswith("c.yaml"), doc
    finally:
        t.close()


EXCEPTION_POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: gpu-seccomp}
spec:
  match: {kinds: [Pod]}
  validate: {podSecurity: {level: restricted}}
  exceptions:
  - {controls: [seccompProfile], namespaces: [gpu-inference], reason: "ROCm needs more syscalls; OPS-1", expires: 2099-01-01}
"""


def test_a_result_waived_by_an_exception_is_listed_as_skip():
    """The GPU seccomp rollout: the excepted namespace's pod is SKIP with the exception's
    place and reason, the same pod elsewhere is FAIL; only the FAIL denies."""
    t = Tree(policies=EXCEPTION_POLICY)
    try:
        def gpu_pod(ns):
            return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "llm", "namespace": ns},
                    "spec": {"securityContext": {"runAsNonRoot": True}, "containers": [{
                        "name": "c", "image": DIGEST, "securityContext": {
                            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}
        t.write("gpu.yaml", gpu_pod("gpu-inference"))
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 0, (code, out, err)
        lines = out.splitlines()
        assert lines[0].endswith(": 1 object judged, 0 fail, 0 warn, 0 pass, 1 waived by exceptions"), lines
        assert lines[1:3] == ["  rule podSecurity (enforce)", "    SKIP Pod gpu-inference/llm"], lines
        assert lines[3] == "      seccompProfile_restricted waived by exception at %s:8:5: ROCm needs more " \
                           "syscalls; OPS-1" % t.policies, lines[3]
        t.write("gpu.yaml", gpu_pod("gpu-inference"), gpu_pod("team-a"))
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 1 and "    FAIL Pod team-a/llm\n      [podSecurity/restricted/seccompProfile_restricted]" in out, out
        doc = json.loads(audit("-p", t.policies, "-o", "json", t.manifests)[1])
        assert doc["policies"][0]["summary"] == {"objects": 2, "fail": 1, "warn": 0, "pass": 0, "skip": 1}, doc
    finally:
        t.close()


def test_broken_policy_is_exit_2_with_file_line_column():
    t = Tree(policies=POLICIES.replace("level: baseline", "level: basline"))
    try:
        the_world(t)
        code, out, err = audit("-p", t.policies, t.manifests)
        assert code == 2 and out == "", (code, out, err)
        assert "%s:7:35: podSecurity.level" % t.policies in err and "did you mean 'baseline'" in err, err
    finally:
        t.close()


def test_usage_errors_are_exit_2():
    t = Tree()
    try:
        the_world(t)
        for args in ([t.manifests], ["-p", t.policies], ["-p", t.policies, "-o", "yaml", t.manifests],
                     ["-p", t.policies, "--kubeconfig", "/nonexistent", t.manifests],
                     ["-p", t.policies, "--chunk-size", "0", t.manifests], ["-p", t.policies, "--bogus"],
                     ["-p", t.policies, "-n", "a/../b?x=", t.manifests]):
            code, out, err = audit(*args)
            assert code == 2 and ("aimguard audit" in err or "usage" in err), (args, code, out, err)
        # nothing to judge is not "nothing would be denied"
        empty = tempfile.mkdtemp(dir=t.dir)
        code, out, err = audit("-p", t.policies, empty)
        assert code == 2 and "no objects found" in err, (code, out, err)
        code, out, err = audit("--help")
        assert code == 0 and "usage: aimguard audit" in out
    finally:
        t.close()


if __name__ == "__main__":
    run_tests(globals())
