"""Recipes 5, 12 and 21-25 of docs/policy-cookbook-more.md through a real kube-apiserver
(v1.24 + etcd) and aimguard installed from deploy/ (its ServiceAccount, ClusterRole and
Role): each mutation recipe's input.yaml, created through the API, is stored as exactly
its mutated.yaml says at every field the recipe changes (the API server accepts the
patch and keeps what it adds: nothing pruned or refused); the Pod Security exemptions
admit admit.yaml and deny deny.yaml; the registries of recipe 12 are read from a real
namespace annotation and from the one ConfigMap in aimguard-system, through the
shipped RBAC. Each recipe's policy is scoped to its own namespace (recipe-NN)."""
import copy
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import kubeenv  # noqa: E402

kubeenv.skip_unless_available()

import jsonpatch  # noqa: E402
import yaml  # noqa: E402

from aimguard_e2e import SA_USER, start_aimguard, wait_for  # noqa: E402
from kubeenv import ApiError, SRC, path_of  # noqa: E402

BOOK = os.path.join(SRC, "test", "cookbook")
MUTATE = ["21-default-resources", "22-hardened-marker", "23-pull-always", "24-zone-spread",
          "25-append-unless-present"]


def load(recipe, name):
    with open(os.path.join(BOOK, recipe, name)) as f:
        return yaml.safe_load(f)


def ns_of(recipe):
    return "recipe-" + recipe[:2]


def in_ns(obj, ns):
    obj = copy.deepcopy(obj)
    obj["metadata"]["namespace"] = ns
    return obj


def pointer_get(obj, ptr):
    for part in ptr.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def within(want, got):
    """want is got, or (maps) each of want's keys is within got's: the API server adds its
    defaults (creationTimestamp: null on a template's metadata, terminationMessagePath, ...)"""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and within(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(within(a, b) for a, b in zip(want, got))
    return want == got


def case_mutations_stored_as_the_cookbook_says(k):
    for recipe in MUTATE:
        ns = ns_of(recipe)
        before, want = in_ns(load(recipe, "input.yaml"), ns), in_ns(load(recipe, "mutated.yaml"), ns)
        stored = k.admin.create(path_of(before, False), before)
        changed = jsonpatch.make_patch(before, want).patch
        assert changed, recipe
        for op in changed:
            where = op["path"]
            assert within(pointer_get(want, where), pointer_get(stored, where)), (recipe, where, stored)
        # applying it again (kubectl apply of the stored object) changes nothing aimguard adds
        again = k.admin.call("PUT", path_of(stored), stored)
        for op in changed:
            assert within(pointer_get(want, op["path"]), pointer_get(again, op["path"])), (recipe, op)
        print("   %s: %d changed fields stored as mutated.yaml says" % (recipe, len(changed)))


def case_pss_exemptions(k):
    recipe = "05-pss-exemptions"
    ns = ns_of(recipe)
    k.admin.create(path_of(in_ns(load(recipe, "admit.yaml"), ns), False), in_ns(load(recipe, "admit.yaml"), ns),
                   dry_run=True)
    try:
        k.admin.create(path_of(in_ns(load(recipe, "deny.yaml"), ns), False), in_ns(load(recipe, "deny.yaml"), ns),
                       dry_run=True)
        raise AssertionError("deny.yaml admitted")
    except ApiError as e:
        assert e.status == 403 and "hostNetwork=true" in e.body and 'container \\"app\\"' in e.body, e.body


def case_registries_from_the_cluster(k):
    recipe = "12-registries-from-cluster"
    ns = ns_of(recipe)
    cluster = list(yaml.safe_load_all(open(os.path.join(BOOK, recipe, "cluster.yaml"))))
    annotations = cluster[0]["metadata"]["annotations"]
    k.admin.merge("/api/v1/namespaces/" + ns, {"metadata": {"annotations": annotations}})
    cm = cluster[1]
    admit, deny = in_ns(load(recipe, "admit.yaml"), ns), in_ns(load(recipe, "deny.yaml"), ns)

    def admitted():
        try:
            k.admin.create(path_of(admit, False), admit, dry_run=True)
            return True
        except ApiError as e:
            assert e.status == 403 and "llm" in e.body, e.body  # the ConfigMap's registry, not yet known
            return False
    # no ConfigMap yet: the AIM image is unknown to be allowed (failClosed)
    assert not admitted()
    k.admin.create("/api/v1/namespaces/aimguard-system/configmaps", cm)
    wait_for("the ConfigMap through the field-selector watch", admitted, timeout=30)
    try:
        k.admin.create(path_of(deny, False), deny, dry_run=True)
        raise AssertionError("deny.yaml admitted")
    except ApiError as e:
        assert e.status == 403 and "team-b" in e.body, e.body
    # aimguard's ServiceAccount watched that one ConfigMap, never every ConfigMap
    events = [e for e in k.audit_events(user=SA_USER) if e.get("objectRef", {}).get("resource") == "configmaps"]
    assert events, "no ConfigMap request in the audit log"
    for e in events:
        assert e["objectRef"].get("namespace") == "aimguard-system", e
        assert "fieldSelector=metadata.name" in e["requestURI"], e["requestURI"]


def main():
    k = kubeenv.Cluster()
    ok = False
    try:
        k.start()
        k.install_aimguard("production")
        pol = tempfile.mkdtemp(prefix="ag-e2e-pol-", dir=k.tmp)
        for recipe in MUTATE + ["05-pss-exemptions", "12-registries-from-cluster"]:
            p = load(recipe, "policy.yaml")
            p["spec"]["match"]["namespaces"] = [ns_of(recipe)]
            with open(os.path.join(pol, recipe + ".yaml"), "w") as f:
                yaml.safe_dump(p, f)
            k.admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns_of(recipe)}})
        k.main = start_aimguard(k, extra=["--reconcile", "off"], policies=pol)
        cases = [(n, f) for n, f in globals().items() if n.startswith("case_")]
        ok = kubeenv.run_cases(cases, k)
    finally:
        k.cleanup(ok)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
