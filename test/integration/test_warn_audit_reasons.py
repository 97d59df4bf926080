"""Admission decisions under `warn` and `audit` say why, in the log and the metrics,
through the real TLS webhook: a warned or audited request's log line carries the reason
(policy, rule, message, field) and a `violations` list (policy, rule, check, action,
field) — never a value of the object — and aimguard_policy_results_total counts one
result per (policy, rule) of each request, by result. A request that passes logs no
reason and counts nothing. The same through `--default-action warn`."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import PLANTED, Server, review_for, run_tests

POLICIES = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: warn-privileged}
spec:
  action: warn
  match: {kinds: [Pod]}
  validate: {podSecurity: {level: baseline}}
---
apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: audit-credentials}
spec:
  action: audit
  match: {kinds: [Pod]}
  validate:
    secrets: {forbidLiteralEnv: true}
    rules:
    - {name: team-label, path: metadata.labels.team, required: true}
"""


def pod(name, privileged=False, env=None, labels=None):
    c = {"name": "c", "image": "registry.example.com/app:1"}
    if privileged:
        c["securityContext"] = {"privileged": True}
    if env:
        c["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team-a",
                                                           "labels": labels or {"team": "a"}},
            "spec": {"containers": [c]}}


def admission_lines(srv, name):
    return [l for l in srv.log_lines() if l.get("msg") == "admission" and l.get("name") == name]


def results(srv):
    out = {}
    for line in srv.metrics().splitlines():
        if line.startswith("aimguard_policy_results_total{"):
            key, _, value = line.rpartition(" ")
            out[key[len("aimguard_policy_results_total"):]] = float(value)
    return out


def write_policies(text):
    d = tempfile.mkdtemp(prefix="ag-reasons-")
    with open(os.path.join(d, "policies.yaml"), "w") as f:
        f.write(text)
    return d


def test_warned_and_audited_requests_log_their_reasons_and_count_results():
    d = write_policies(POLICIES)
    try:
        with Server(policies=d) as srv:
            # passes everything: no reason, no violations, nothing counted
            r = srv.review("/validate", review_for(pod("clean")))["response"]
            assert r["allowed"] is True and "warnings" not in r, r
            (line,) = admission_lines(srv, "clean")
            assert line["decision"] == "allowed" and "reason" not in line and "violations" not in line, line
            assert results(srv) == {}, results(srv)
            # a warn violation (privileged) and two audit ones (a literal credential, no label)
            r = srv.review("/validate", review_for(pod("risky", privileged=True, labels={"app": "x"},
                                                       env=[{"name": "HF_TOKEN", "value": PLANTED[0]}])))["response"]
            assert r["allowed"] is True and len(r["warnings"]) == 1, r
            (line,) = admission_lines(srv, "risky")
            assert line["decision"] == "warned" and line["kind"] == "Pod" and line["namespace"] == "team-a", line
            reason = line["reason"]
            assert "[policy warn-privileged, rule podSecurity/baseline/privileged]" in reason, reason
            assert "(field spec.containers[0].securityContext.privileged)" in reason, reason
            assert "[policy audit-credentials, rule secrets/literalCredential]" in reason and "HF_TOKEN" in reason, reason
            assert "[policy audit-credentials, rule team-label]" in reason, reason
            got = [(v["policy"], v["rule"], v["check"], v["action"], v.get("field")) for v in line["violations"]]
            assert got == [
                ("warn-privileged", "podSecurity", "podSecurity/baseline/privileged", "warn",
                 "spec.containers[0].securityContext.privileged"),
                ("audit-credentials", "secrets", "secrets/literalCredential", "audit", "spec.containers[0].env[0].value"),
                ("audit-credentials", "team-label", "team-label", "audit", "metadata.labels.team")], got
            assert results(srv) == {
                '{policy="warn-privileged",rule="podSecurity",severity="",result="warn"}': 1,
                '{policy="audit-credentials",rule="secrets",severity="",result="fail"}': 1,
                '{policy="audit-credentials",rule="team-label",severity="",result="fail"}': 1}, results(srv)
            # again: the counters move by one per request and rule, not per violation
            two = pod("risky2", privileged=True)
            two["spec"]["hostNetwork"] = True
            srv.review("/validate", review_for(two))
            (line,) = admission_lines(srv, "risky2")
            assert sorted(v["check"] for v in line["violations"]) == [
                "podSecurity/baseline/hostNamespaces", "podSecurity/baseline/privileged"], line
            assert results(srv)['{policy="warn-privileged",rule="podSecurity",severity="",result="warn"}'] == 2, results(srv)
            # /mutate does not validate: nothing counted
            srv.review("/mutate", review_for(pod("risky3", privileged=True)))
            assert results(srv)['{policy="warn-privileged",rule="podSecurity",severity="",result="warn"}'] == 2, results(srv)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_default_action_warn_turns_enforce_results_into_warn():
    d = write_policies(POLICIES.replace("action: warn", "action: enforce"))
    try:
        with Server(policies=d, extra_args=["--default-action", "warn"]) as srv:
            r = srv.review("/validate", review_for(pod("p", privileged=True)))["response"]
            assert r["allowed"] is True and r["warnings"], r
            (line,) = admission_lines(srv, "p")
            assert line["decision"] == "warned" and "podSecurity/baseline/privileged" in line["reason"], line
            assert [v["action"] for v in line["violations"]] == ["warn"], line
            assert results(srv) == {'{policy="warn-privileged",rule="podSecurity",severity="",result="warn"}': 1}, results(srv)
        # enforced: the denial is the reason, the result a fail
        with Server(policies=d) as srv:
            r = srv.review("/validate", review_for(pod("p", privileged=True)))["response"]
            assert r["allowed"] is False, r
            (line,) = admission_lines(srv, "p")
            assert line["decision"] == "denied" and line["reason"].startswith("aimguard denied Pod team-a/p:"), line
            assert [v["action"] for v in line["violations"]] == ["enforce"], line
            assert results(srv) == {'{policy="warn-privileged",rule="podSecurity",severity="",result="fail"}': 1}, results(srv)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_severity_and_category_reach_the_log_and_the_metric():
    """v1alpha2 tags: the policy's severity and category, a rule's own overriding them."""
    d = write_policies("""apiVersion: policy.aimguard.io/v1alpha2
kind: AdmissionPolicy
metadata: {name: tagged}
spec:
  action: warn
  severity: high
  category: Pod Security
  match: {kinds: [Pod]}
  validate:
    podSecurity: {level: baseline}
    rules:
    - {name: team-label, path: metadata.labels.team, required: true, severity: low, category: Ownership}
""")
    try:
        with Server(policies=d) as srv:
            r = srv.review("/validate", review_for(pod("p", privileged=True, labels={"app": "x"})))["response"]
            assert r["allowed"] is True and len(r["warnings"]) == 2, r
            assert "[policy tagged, rule podSecurity/baseline/privileged, severity high, category Pod Security]" \
                in r["warnings"][0], r
            assert "[policy tagged, rule team-label, severity low, category Ownership]" in r["warnings"][1], r
            (line,) = admission_lines(srv, "p")
            got = [(v["rule"], v.get("severity"), v.get("category")) for v in line["violations"]]
            assert got == [("podSecurity", "high", "Pod Security"), ("team-label", "low", "Ownership")], got
            assert results(srv) == {
                '{policy="tagged",rule="podSecurity",severity="high",result="warn"}': 1,
                '{policy="tagged",rule="team-label",severity="low",result="warn"}': 1}, results(srv)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
