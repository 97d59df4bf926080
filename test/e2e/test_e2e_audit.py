"""The background audit on a real kube-apiserver (v1.24 + etcd): the PolicyReport CRDs as
deploy/ installs them, aimguard with the production overlay's ClusterRole through a
ServiceAccount token (so a missing list/watch or report verb fails here), a pod on the
host network and a clean one that existed before aimguard started. What the test API server
cannot show: a real server's LIST items carry no apiVersion/kind, it validates the
reports against the CRD's schema (pruning unknown fields), and the written reports must
read back unchanged so that a second pass writes nothing."""
import os
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(__file__))
import kubeenv  # noqa: E402

kubeenv.skip_unless_available()

from aimguard_e2e import ns_create, start_aimguard, wait_for  # noqa: E402
from kubeenv import SRC  # noqa: E402

POLR = "/apis/wgpolicyk8s.io/v1alpha2/namespaces/%s/policyreports"
DIGEST = "@sha256:" + "b" * 64


def install_report_crds(k):
    for f in ("wgpolicyk8s.io_policyreports.yaml", "wgpolicyk8s.io_clusterpolicyreports.yaml"):
        with open(os.path.join(SRC, "deploy", "base", "crds", f)) as fh:
            crd = yaml.safe_load(fh)
        k.admin.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + crd["metadata"]["name"]
        wait_for("CRD established", lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (k.admin.get(path).get("status") or {}).get("conditions") or []))
    time.sleep(1)  # discovery of the new group settles a moment after Established


def pod(ns, name, host_network):
    sc = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "automountServiceAccountToken": False, "hostNetwork": host_network,
                     "containers": [{"name": "app", "image": "registry.example.com/app" + DIGEST,
                                     "securityContext": sc}]}}


def main():
    k = kubeenv.Cluster()
    ok = False
    try:
        k.start()
        k.install_aimguard("production")
        install_report_crds(k)
        ns_create(k.admin, "team-a")
        # no controller-manager here: the namespace's default ServiceAccount by hand
        k.admin.create("/api/v1/namespaces/team-a/serviceaccounts",
                       {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
        bad = k.admin.create("/api/v1/namespaces/team-a/pods", pod("team-a", "bad", True))
        k.admin.create("/api/v1/namespaces/team-a/pods", pod("team-a", "good", False))
        # the webhooks are not registered: the pods above stay as they are, and the audit
        # is what judges them
        srv = start_aimguard(k, register=False, extra=["--audit-interval", "2"])
        rep = wait_for("the team-a report", lambda: k.admin.get(POLR % "team-a")["items"], timeout=60)
        assert [r["metadata"]["name"] for r in rep] == ["aimguard-polr-0"], rep
        results = {(r["resources"][0]["name"], r["policy"], r["rule"]): r for r in rep[0]["results"]}
        r = results[("bad", "pod-hardening", "podSecurity")]
        assert r["result"] == "fail" and "hostNetwork" in r["message"], r
        assert r["resources"][0] == {"apiVersion": "v1", "kind": "Pod", "name": "bad", "namespace": "team-a",
                                     "uid": bad["metadata"]["uid"]}, r
        assert results[("good", "pod-hardening", "podSecurity")]["result"] == "pass", results
        assert rep[0]["summary"]["fail"] >= 1 and rep[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] \
            == "aimguard", rep[0]
        # what the API server stored reads back as written: later passes write nothing
        rv = rep[0]["metadata"]["resourceVersion"]
        wait_for("three passes", lambda: len([l for l in srv.log_lines() if l.get("msg") == "audit pass"]) >= 3,
                 timeout=30)
        assert k.admin.get(POLR % "team-a")["items"][0]["metadata"]["resourceVersion"] == rv
        passes = [l for l in srv.log_lines() if l.get("msg") == "audit pass"]
        assert all(p["reportWrites"] == "0" for p in passes[1:]), passes
        warnings = [l for l in srv.log_lines() if l.get("level") in ("warn", "error")]
        assert not warnings, warnings
        print("ok   background audit: report written, read back unchanged, %d passes" % len(passes))
        ok = True
    finally:
        k.cleanup(ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
