"""`aimguard eval --cluster-objects` and `--assume-access`: policies that read the cluster
(namespaceSelector, validate.rbac.clusterReferences) tested both ways without one, and the
notice eval gives when such a policy meets no cluster data."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, run_cli, run_tests

REFS = os.path.join(SRC, "policies", "examples", "aim-cluster-references.yaml")
NS_POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: gpu-namespaces}
spec:
  match:
    kinds: [Pod]
    namespaceSelector: {matchLabels: {tier: gpu}}
  validate:
    podSecurity: {level: baseline}
"""
PRIV_POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "team-a"},
            "spec": {"containers": [{"name": "c", "image": "nginx", "securityContext": {"privileged": True}}]}}
SERVICE = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMService",
           "metadata": {"name": "chat", "namespace": "team-a"},
           "spec": {"model": {"name": "llama-3-8b"}, "runtimeConfigName": "team"}}


def namespace(name, **labels):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


class Tmp:
    def __enter__(self):
        self.d = tempfile.mkdtemp()
        return self

    def __exit__(self, *a):
        shutil.rmtree(self.d)

    def write(self, name, *docs, text=None):
        p = os.path.join(self.d, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text if text is not None else "---\n".join(yaml.safe_dump(d) for d in docs))
        return p


def test_namespace_selector_both_ways():
    with Tmp() as t:
        pol = t.write("policy.yaml", text=NS_POLICY)
        pod = t.write("pod.yaml", PRIV_POD)
        # no cluster data: eval says so once, and the policy applies as if the labels matched
        code, out, err = run_cli("eval", "-p", pol, "-f", pod)
        assert code == 1 and out.startswith("DENY Pod team-a/p: [policy gpu-namespaces"), (code, out, err)
        assert err.count("notice:") == 1 and "namespaceSelector" in err and "--cluster-objects" in err, err
        # the namespace carries the label: denied, and no notice
        gpu = t.write("cluster/ns.yaml", namespace("team-a", tier="gpu"), namespace("other"))
        code, out, err = run_cli("eval", "-p", pol, "-f", pod, "--cluster-objects", gpu)
        assert code == 1 and out.startswith("DENY Pod team-a/p"), (code, out, err)
        assert "notice" not in err, err
        # it does not: the policy does not apply
        cpu = t.write("cpu.yaml", namespace("team-a", tier="cpu"))
        code, out, err = run_cli("eval", "-p", pol, "-f", pod, "--cluster-objects", cpu)
        assert code == 0 and out.startswith("ALLOW Pod team-a/p\n"), (code, out, err)
        # a directory of cluster objects, as kubectl get ns -o yaml prints them (a List)
        t.write("dir/nss.yaml", {"apiVersion": "v1", "kind": "List", "items": [namespace("team-a", tier="cpu")]})
        code, out, err = run_cli("eval", "-p", pol, "-f", pod, "--cluster-objects", os.path.join(t.d, "dir"))
        assert code == 0, (code, out, err)
        # a broken cluster-objects file is a usage error, not a silently empty cluster
        bad = t.write("bad.yaml", text="kind: [\n")
        code, out, err = run_cli("eval", "-p", pol, "-f", pod, "--cluster-objects", bad)
        assert code == 2 and "--cluster-objects" in err and "bad.yaml:2:1" in err, (code, out, err)


def test_cluster_references_both_ways():
    with Tmp() as t:
        svc = t.write("svc.yaml", SERVICE)
        base = ("eval", "-p", REFS, "-f", svc, "--user", "alice", "--group", "team-a-devs")
        # offline there is no SubjectAccessReview answer: failClosed decides, and eval says so
        code, out, err = run_cli(*base)
        assert code == 1 and "no SubjectAccessReview can be asked" in out, (code, out, err)
        assert "notice:" in err and "--assume-access" in err, err
        code, out, err = run_cli(*base, "--assume-access", "allowed")
        assert code == 0 and out.startswith("ALLOW aim.eai.amd.com/AIMService team-a/chat"), (code, out, err)
        code, out, err = run_cli(*base, "--assume-access", "denied")
        assert code == 1 and "alice may not use it" in out and "AIMClusterModel \"llama-3-8b\"" in out, (code, out)
        # a namespaced AIMModel and AIMRuntimeConfig of those names: the model reference resolves
        # in the namespace (no question asked); the cluster runtime config is merged under the
        # namespaced one, so it is still asked about
        objs = t.write("objs.yaml",
                       {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
                        "metadata": {"name": "llama-3-8b", "namespace": "team-a"}, "spec": {"image": "x"}})
        code, out, err = run_cli(*base, "--assume-access", "denied", "--cluster-objects", objs)
        assert code == 1 and "AIMClusterModel" not in out and "AIMClusterRuntimeConfig \"team\"" in out, out
        # the same AIMModel in another namespace does not shadow
        other = t.write("other.yaml",
                        {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
                         "metadata": {"name": "llama-3-8b", "namespace": "team-b"}})
        code, out, err = run_cli(*base, "--assume-access", "denied", "--cluster-objects", other)
        assert code == 1 and "AIMClusterModel \"llama-3-8b\"" in out, out


if __name__ == "__main__":
    run_tests(globals())
