"""The background audit end to end (issue 15 part 2): aimguard serve --kubeconfig against
the test API server, which serves the PolicyReport CRDs' resources (wgpolicyk8s.io/v1alpha2).
What is asserted is what a platform engineer sees with kubectl get policyreports: the
existing objects' results in their namespace's report (cluster-scoped ones in a
ClusterPolicyReport) within one pass, a fixed object turning to pass, a policy change
re-judging everything, no write at all while nothing changes, large namespaces split
across reports, reports that are no longer needed deleted, and only the leader
writing (the writes are counted by the test API server)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, run_tests  # noqa: E402
from fakeapi_client import FakeAPI  # noqa: E402

SLOW = 20 if os.environ.get("AG_VALGRIND") == "1" else 1
REPORTS = "/apis/wgpolicyk8s.io/v1alpha2"
PLANTED = "tok-PLANTED-6a1f0c9e"  # one of the suite's planted secrets: never in a report or a log
DIGEST = "@sha256:" + "a" * 64


def wait_for(what, fn, timeout=20):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except Exception as e:  # noqa: BLE001 - 404 while it does not exist yet
            last = e
        else:
            if last:
                return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def pod(ns, name, privileged=False, env=None):
    c = {"name": "app", "image": "registry.example.com/aim/app" + DIGEST,
         "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    if privileged:
        c["securityContext"]["privileged"] = True
    if env:
        c["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [c]}}


def report_results(api, ns):
    """Every result of the namespace's aimguard reports (cluster scope: ns None), by
    (object name, policy, rule)."""
    path = REPORTS + ("/namespaces/%s/policyreports" % ns if ns else "/clusterpolicyreports")
    out = {}
    for rep in api.call("GET", path)["items"]:
        assert rep["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "aimguard"}, rep["metadata"]
        for r in rep["results"]:
            out[(r["resources"][0]["name"], r["policy"], r["rule"])] = r
    return out


def reports(api, ns):
    path = REPORTS + ("/namespaces/%s/policyreports" % ns if ns else "/clusterpolicyreports")
    return sorted(api.call("GET", path)["items"], key=lambda r: r["metadata"]["name"])


def report_writes(api):
    return {k: v for k, v in api.stats()["writes"].items() if "policyreports" in k}


def audit_passes(srv):
    return [l for l in srv.log_lines() if l.get("msg") == "audit pass"]


def test_existing_objects_fix_policy_change_and_no_idle_writes():
    api = FakeAPI()
    try:
        # list items as a real API server sends built-in kinds: without apiVersion and kind
        api.admin({"typed_list_items": False})
        for ns in ("team-a", "team-b", "kube-system"):
            api.call("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
        api.call("POST", "/api/v1/namespaces/team-a/pods", pod("team-a", "good"))
        bad = api.call("POST", "/api/v1/namespaces/team-a/pods", pod("team-a", "bad", privileged=True))
        api.call("POST", "/api/v1/namespaces/team-b/pods",
                 pod("team-b", "leaky", env=[{"name": "HF_TOKEN", "value": PLANTED}]))
        # the default policies leave the system namespaces alone: no report there
        api.call("POST", "/api/v1/namespaces/kube-system/pods", pod("kube-system", "sys", privileged=True))
        # an hour between full passes: what follows is the start's pass, changed objects
        # and a policy change, not the interval
        srv = Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3",
                                 "--reconcile", "off", "--audit-interval", "3600"])
        with srv:
            # within one pass: each object's result per (policy, rule) in its namespace's report
            a = wait_for("team-a report", lambda: report_results(api, "team-a"))
            assert set(a) == {("good", "pod-hardening", "podSecurity"), ("good", "credentials", "secrets"),
                              ("bad", "pod-hardening", "podSecurity"), ("bad", "credentials", "secrets")}, sorted(a)
            r = a[("bad", "pod-hardening", "podSecurity")]
            assert r["result"] == "fail" and "privileged" in r["message"], r
            assert r["source"] == "aimguard" and r["properties"] == {"action": "enforce"}, r
            assert r["resources"] == [{"apiVersion": "v1", "kind": "Pod", "name": "bad", "namespace": "team-a",
                                       "uid": bad["metadata"]["uid"]}], r
            assert set(r["timestamp"]) == {"seconds", "nanos"} and abs(r["timestamp"]["seconds"] - time.time()) < 60, r
            assert a[("good", "pod-hardening", "podSecurity")]["result"] == "pass"
            assert a[("good", "pod-hardening", "podSecurity")]["message"] == ""
            rep = reports(api, "team-a")
            assert [x["metadata"]["name"] for x in rep] == ["aimguard-polr-0"], rep
            rep = [api.call("GET", REPORTS + "/namespaces/team-a/policyreports/aimguard-polr-0")]
            assert rep[0]["kind"] == "PolicyReport" and rep[0]["apiVersion"] == "wgpolicyk8s.io/v1alpha2"
            assert rep[0]["summary"] == {"pass": 3, "fail": 1, "warn": 0, "error": 0, "skip": 0}, rep[0]["summary"]
            # the pass writes namespace by namespace: team-b's may come after team-a's
            b = wait_for("team-b report", lambda: report_results(api, "team-b"))
            leak = b[("leaky", "credentials", "secrets")]
            assert leak["result"] == "fail" and "HF_TOKEN" in leak["message"], leak
            assert PLANTED not in json.dumps(reports(api, "team-b")), "a secret value in a report"
            assert reports(api, "kube-system") == [], "a report in a namespace the policies exclude"

            good_ts = a[("good", "pod-hardening", "podSecurity")]["timestamp"]
            api.admin({"reset_stats": True})
            assert len(audit_passes(srv)) == 1, audit_passes(srv)

            # the object is fixed: its result turns to pass; the others keep their timestamps
            time.sleep(1.1)  # a new result would get a later timestamp
            fixed = api.call("GET", "/api/v1/namespaces/team-a/pods/bad")
            fixed["spec"]["containers"][0]["securityContext"].pop("privileged")
            api.call("PUT", "/api/v1/namespaces/team-a/pods/bad", fixed)
            a = wait_for("bad fixed", lambda: (lambda x: x if x[("bad", "pod-hardening", "podSecurity")]["result"]
                                               == "pass" else None)(report_results(api, "team-a")))
            assert a[("good", "pod-hardening", "podSecurity")]["timestamp"] == good_ts, (good_ts, a)
            assert a[("bad", "pod-hardening", "podSecurity")]["timestamp"]["seconds"] > good_ts["seconds"], a
            assert report_writes(api) == {"PUT policyreports": 1}, report_writes(api)
            assert len(audit_passes(srv)) == 1, "a full pass, not the change, updated the report"
            # an object of another namespace changes without changing its results: nothing written
            leaky = api.call("GET", "/api/v1/namespaces/team-b/pods/leaky")
            leaky["metadata"]["labels"] = {"touched": "yes"}
            api.call("PUT", "/api/v1/namespaces/team-b/pods/leaky", leaky)
            time.sleep(2)
            assert report_writes(api) == {"PUT policyreports": 1}, report_writes(api)

            # a policy change (the file rewritten, the server reloads): everything is judged again
            with open(os.path.join(srv.policies, "30-team-label.yaml"), "w") as f:
                f.write("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\n"
                        "metadata: {name: team-label}\nspec:\n  action: warn\n  match: {kinds: [Pod]}\n"
                        "  exclude: {namespaces: [kube-system]}\n"
                        "  validate:\n    rules:\n      - name: has-team\n        path: metadata.labels.team\n"
                        "        required: true\n")
            b = wait_for("team-label results", lambda: (lambda x: x if ("leaky", "team-label", "has-team") in x
                                                        else None)(report_results(api, "team-b")))
            assert b[("leaky", "team-label", "has-team")]["result"] == "warn", b
            assert b[("leaky", "team-label", "has-team")]["properties"] == {"action": "warn"}, b
            assert ("good", "team-label", "has-team") in report_results(api, "team-a")

            # the namespace's objects go: so does its report
            api.call("DELETE", "/api/v1/namespaces/team-b/pods/leaky")
            wait_for("team-b report deleted", lambda: reports(api, "team-b") == [])
        logs = srv.logs()
        assert PLANTED not in logs
    finally:
        api.stop()


SPLIT_POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: owner-label}
spec:
  match: {kinds: [Pod, aim.eai.amd.com/AIMClusterModel]}
  validate:
    rules:
      - name: has-owner
        path: metadata.labels.owner
        required: true
"""


def test_cluster_scoped_objects_and_split_reports():
    api = FakeAPI()
    try:
        # the cache of AIMClusterModels as a real API server fills it: items without apiVersion and kind
        api.admin({"typed_list_items": False})
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "big"}})
        for i in range(5):
            p = pod("big", "p%d" % i)
            if i % 2:
                p["metadata"]["labels"] = {"owner": "ml"}
            api.call("POST", "/api/v1/namespaces/big/pods", p)
        for name in ("llama", "qwen"):
            api.call("POST", "/apis/aim.eai.amd.com/v1alpha1/aimclustermodels",
                     {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMClusterModel",
                      "metadata": {"name": name, "labels": {"owner": "ml"} if name == "qwen" else {}},
                      "spec": {"image": "registry.example.com/aim/" + name + DIGEST}})
        srv = Server(policies=None, extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1",
                                                "--lease-seconds", "3", "--reconcile", "off",
                                                "--audit-report-max-results", "2"])
        for f in os.listdir(srv.policies):
            os.remove(os.path.join(srv.policies, f))
        with open(os.path.join(srv.policies, "owner.yaml"), "w") as f:
            f.write(SPLIT_POLICY)
        with srv:
            # cluster-scoped objects: a ClusterPolicyReport, results without a namespace
            c = wait_for("cluster report", lambda: report_results(api, None))
            assert {k: v["result"] for k, v in c.items()} == {("llama", "owner-label", "has-owner"): "fail",
                                                              ("qwen", "owner-label", "has-owner"): "pass"}, c
            assert "namespace" not in c[("llama", "owner-label", "has-owner")]["resources"][0]
            cr = reports(api, None)
            assert [r["metadata"]["name"] for r in cr] == ["aimguard-cpolr-0"]
            cr = [api.call("GET", REPORTS + "/clusterpolicyreports/aimguard-cpolr-0")]
            assert cr[0]["kind"] == "ClusterPolicyReport"
            assert cr[0]["results"][0]["resources"][0]["apiVersion"] == "aim.eai.amd.com/v1alpha1", cr
            assert "namespace" not in cr[0]["metadata"], cr[0]["metadata"]
            # five results, two per report: three reports, in name order, summaries adding up
            rep = wait_for("three reports", lambda: (lambda r: r if len(r) == 3 else None)(reports(api, "big")))
            assert [r["metadata"]["name"] for r in rep] == ["aimguard-polr-0", "aimguard-polr-1", "aimguard-polr-2"]
            assert [len(r["results"]) for r in rep] == [2, 2, 1], rep
            names = [r["resources"][0]["name"] for x in rep for r in x["results"]]
            assert names == ["p0", "p1", "p2", "p3", "p4"], names
            assert sum(r["summary"]["fail"] for r in rep) == 3 and sum(r["summary"]["pass"] for r in rep) == 2
            # fewer objects: fewer reports; the ones no longer needed are deleted
            for i in (2, 3, 4):
                api.call("DELETE", "/api/v1/namespaces/big/pods/p%d" % i)
            rep = wait_for("one report", lambda: (lambda r: r if len(r) == 1 else None)(reports(api, "big")))
            assert [r["resources"][0]["name"] for r in rep[0]["results"]] == ["p0", "p1"], rep
            wait_for("cluster report kept", lambda: report_results(api, None))
    finally:
        api.stop()


def test_pods_are_listed_in_pages_not_cached():
    """The memory bound: pods are not held in a cache but listed per namespace in pages of
    500 when the namespace is judged (docs/architecture.md). 1,200 pods in one namespace:
    three pages, and every pod's results in the reports (two per pod with the default
    policies, 1,000 per report)."""
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "big"}})
        api.admin({"typed_list_items": False,
                   "bulk": [["/api/v1/namespaces/big/pods", pod("big", "p%04d" % i, privileged=i % 100 == 0)]
                            for i in range(1200)]})
        with Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3",
                                "--reconcile", "off", "--audit-report-max-results", "1000"]) as srv:
            rep = wait_for("three reports", lambda: (lambda r: r if len(r) == 3 else None)(reports(api, "big")))
            assert [len(r["results"]) for r in rep] == [1000, 1000, 400], [len(r["results"]) for r in rep]
            assert sum(r["summary"]["fail"] for r in rep) == 12, [r["summary"] for r in rep]
            names = {r["resources"][0]["name"] for x in rep for r in x["results"]}
            assert len(names) == 1200, len(names)
            # where to watch from, then three pages a pass; a later pass (a relist under a slow
            # run) may be between its pages when counted, before its log line
            done = len(audit_passes(srv))
            lists = api.stats()["read_kinds"].get("LIST pods")
            after = len(audit_passes(srv))
            # the reports exist, so one pass has read its three pages (its log line comes after)
            assert 1 + 3 * max(done, 1) <= lists <= 1 + 3 * (after + 1), (lists, done, after)
    finally:
        api.stop()


def test_only_the_leader_writes_and_a_new_leader_adopts_the_reports():
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        api.call("POST", "/api/v1/namespaces/team-a/pods", pod("team-a", "bad", privileged=True))
        args = ["--kubeconfig", api.kubeconfig(), "--lease-seconds", "3", "--reconcile", "off",
                "--audit-interval", "1"]
        one = Server(extra_args=args + ["--identity", "r1"]).start()
        wait_for("r1 leads", lambda: one.metric("aimguard_leader") == 1.0)
        two = Server(extra_args=args + ["--identity", "r2"]).start()
        try:
            wait_for("report", lambda: report_results(api, "team-a"))
            first = reports(api, "team-a")
            # an unchanged world: several full passes (one a second), not one report write
            api.admin({"reset_stats": True})
            n0 = len(audit_passes(one))
            wait_for("three more passes", lambda: len(audit_passes(one)) >= n0 + 3)
            assert report_writes(api) == {}, report_writes(api)
            assert all(p["reportWrites"] == "0" for p in audit_passes(one)[n0:]), audit_passes(one)[n0:]
            assert two.metric("aimguard_leader") == 0.0
            assert audit_passes(two) == [], "a replica that does not lead audited"
            # the leader goes: the other takes over, reads the reports and has nothing to write
            api.admin({"reset_stats": True})
            one.stop()
            wait_for("r2 leads", lambda: two.metric("aimguard_leader") == 1.0)
            wait_for("r2 passes", lambda: len(audit_passes(two)) >= 2)
            assert report_writes(api) == {}, report_writes(api)
            assert reports(api, "team-a")[0]["results"] == first[0]["results"]
            assert all(p["reportWrites"] == "0" for p in audit_passes(two)), audit_passes(two)
        finally:
            if one.proc.poll() is None:
                one.stop()
            two.stop()
            one.cleanup()
            two.cleanup()
    finally:
        api.stop()


def test_without_the_report_crds_one_warning_and_no_writes():
    """A cluster without the PolicyReport CRDs: the audit says so once, writes nothing, and
    a changed object does not make it try (it used to try, and warn, on every change)."""
    api = FakeAPI()
    try:
        api.admin({"unserved": ["policyreports", "clusterpolicyreports"]})
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        api.call("POST", "/api/v1/namespaces/team-a/pods", pod("team-a", "bad", privileged=True))
        with Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3",
                                "--reconcile", "off"]) as srv:
            wait_for("the warning", lambda: [l for l in srv.log_lines() if "CRDs" in l.get("msg", "")])
            api.call("POST", "/api/v1/namespaces/team-a/pods", pod("team-a", "bad2", privileged=True))
            time.sleep(3)
            warnings = [l for l in srv.log_lines() if l.get("level") in ("warn", "error")]
            assert len(warnings) == 1 and "PolicyReport CRDs" in warnings[0]["msg"], warnings
            assert audit_passes(srv) == [], audit_passes(srv)
    finally:
        api.stop()


def test_audit_shares_the_caches():
    """The audit reads the process's watch caches: a resource the reconciler also reads
    (jobs, rolebindings, inferenceservices, the AIM kinds) is listed and watched once;
    pods are not cached but watched once (events mark namespaces) and listed per
    namespace when judged; a kind the test API server does not serve is said once, at
    info, not warned about."""
    api = FakeAPI()
    try:
        api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        with Server(extra_args=["--kubeconfig", api.kubeconfig(), "--identity", "r1", "--lease-seconds", "3"]) as srv:
            wait_for("a pass", lambda: audit_passes(srv))
            kinds = api.stats()["read_kinds"]
            lists = {k.split(" ", 1)[1]: v for k, v in kinds.items() if k.startswith("LIST ")}
            for res in ("deployments", "jobs", "rolebindings", "inferenceservices", "aimservices"):
                assert lists.get(res) == 1, (res, lists)
            assert set(v for k, v in lists.items() if k != "pods") == {1}, lists
            watches = {k.split(" ", 1)[1]: v for k, v in kinds.items() if k.startswith("WATCH ")}
            assert watches.get("pods") == 1 and set(watches.values()) == {1}, watches
            # one LIST to learn where to watch from, one per namespace and pass
            assert lists.get("pods") == 1 + len(audit_passes(srv)), lists
            lines = srv.log_lines()
            unserved = [l for l in lines if l.get("msg", "").startswith("watch cache: the cluster does not serve")]
            assert any(l["path"] == "/apis/apps/v1/statefulsets" for l in unserved), unserved
            assert len({l["path"] for l in unserved}) == len(unserved), "said more than once"
            assert all(l["level"] == "info" for l in unserved), unserved
            warnings = [l for l in lines if l.get("level") in ("warn", "error")]
            assert not warnings, warnings
    finally:
        api.stop()


if __name__ == "__main__":
    run_tests(globals())
