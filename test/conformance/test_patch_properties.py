"""Properties of every patch the default policies produce, over a corpus of real
objects (the 148 upstream PSA fixture pods, each also wrapped in a Deployment and a
CronJob, and every AdmissionReview fixture): the patch applies cleanly with an
independent RFC 6902 implementation, never yields duplicate volume names or mount
paths, never rewrites a field that was set, and a second mutation yields no patch."""
import copy
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import jsonpatch  # Debian python3-jsonpatch
import yaml       # Debian python3-yaml

from agharness import REVIEWS, SHARED, Server, decode_patch, load_review, review_for, run_tests


def corpus():
    for f in sorted(glob.glob(os.path.join(SHARED, "conformance", "psa", "*", "*", "*.yaml"))):
        with open(f) as fh:
            pod = yaml.safe_load(fh)
        pod.setdefault("metadata", {})["namespace"] = "team-a"
        name = os.path.relpath(f, SHARED)
        yield name, pod
        meta = {k: v for k, v in pod["metadata"].items() if k != "namespace"}
        yield name + "#deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "metadata": {"name": "d", "namespace": "team-a"},
                                     "spec": {"template": {"metadata": meta, "spec": pod["spec"]}}}
        yield name + "#cronjob", {"apiVersion": "batch/v1", "kind": "CronJob",
                                  "metadata": {"name": "c", "namespace": "team-a"},
                                  "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
                                      "metadata": meta, "spec": pod["spec"]}}}}}


def pod_specs(obj):
    k = obj["kind"]
    if k == "Pod":
        return [obj["spec"]]
    if k == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return [obj["spec"]["template"]["spec"]]


def set_leaves(x, prefix=""):
    """Every leaf value of a JSON document, by path."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from set_leaves(v, prefix + "/" + k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from set_leaves(v, prefix + "/%d" % i)
    else:
        yield prefix, x


def check_object(srv, conn, name, obj, review=None):
    review = review or review_for(obj)
    resp = srv.review("/mutate", review, conn=conn)
    patch = decode_patch(resp)
    if not patch:
        return 0
    before = review["request"]["object"]
    after = jsonpatch.JsonPatch(copy.deepcopy(patch)).apply(copy.deepcopy(before))
    assert all(op["op"] == "add" for op in patch), (name, patch)
    # nothing that was set is changed: every leaf of the original is still there, equal
    leaves_after = dict(set_leaves(after))
    for path, value in set_leaves(before):
        assert leaves_after.get(path, "<gone>") == value, (name, path, value, leaves_after.get(path))
    for spec in pod_specs(after):
        vols = [v["name"] for v in spec.get("volumes", [])]
        assert len(vols) == len(set(vols)), (name, vols)
        for lst in ("containers", "initContainers", "ephemeralContainers"):
            for c in spec.get(lst, []):
                mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
                assert len(mounts) == len(set(mounts)), (name, mounts)
                for m in c.get("volumeMounts", []):
                    assert m["name"] in vols, (name, m, vols)
    again = copy.deepcopy(review)
    again["request"]["object"] = after
    assert decode_patch(srv.review("/mutate", again, conn=conn)) is None, name
    return 1


def test_pods_from_mutated_templates_are_not_mutated_again():
    """A controller's template is mutated once; the pods the controller then creates
    from it must come through /mutate unchanged (no second, different mutation)."""
    checked = 0
    with Server() as srv:
        conn = srv.conn()
        for name, obj in corpus():
            if obj["kind"] == "Pod":
                continue
            patch = decode_patch(srv.review("/mutate", review_for(obj), conn=conn))
            after = jsonpatch.JsonPatch(copy.deepcopy(patch)).apply(copy.deepcopy(obj)) if patch else obj
            tmpl = after["spec"]["jobTemplate"]["spec"]["template"] if after["kind"] == "CronJob" else after["spec"]["template"]
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": dict(tmpl.get("metadata", {}), generateName="d-", namespace="team-a",
                                    ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "d-1",
                                                      "uid": "u", "controller": True}]),
                   "spec": copy.deepcopy(tmpl["spec"])}
            r = srv.review("/mutate", review_for(pod, user="system:serviceaccount:kube-system:replicaset-controller"),
                           conn=conn)
            assert decode_patch(r) is None, (name, decode_patch(r))
            checked += 1
        conn.close()
    assert checked == 148 * 2, checked


def test_patch_properties_over_the_corpus():
    n = patched = 0
    with Server() as srv:
        conn = srv.conn()
        for name, obj in corpus():
            n += 1
            patched += check_object(srv, conn, name, obj)
        for f in sorted(glob.glob(os.path.join(REVIEWS, "*.json"))):
            review = load_review(os.path.basename(f))
            if review["request"].get("object") and review["request"].get("operation") == "CREATE":
                n += 1
                patched += check_object(srv, conn, f, review["request"]["object"], review)
        conn.close()
    print("%d objects mutated, %d patched; every patch applied cleanly and was idempotent" % (n, patched))
    assert n >= 148 * 3 and patched > 300, (n, patched)


if __name__ == "__main__":
    run_tests(globals())
