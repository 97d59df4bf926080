"""The pod carrier table is complete and everything shipped is held to it:
- every place ../shared/reference/kserve-pod-specs.md lists (KServe's own CRD schemas) and
  LeaderWorkerSet's two templates are in the table (`aimguard explain --carriers`);
- every shipped policy that claims to cover pods (Pod Security, hardening, GPU placement or
  an image allowlist, matching Pod) matches every carrier kind;
- the rendered webhook configurations of every overlay send every carrier kind to both
  webhooks, for CREATE and UPDATE.
A carrier missing from any of them is a workload admitted unjudged."""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SHARED, SRC, render_overlay, run_cli, run_tests


def table():
    code, out, err = run_cli("explain", "--carriers")
    assert code == 0, err
    rows = set()
    kinds = {}
    for line in out.splitlines():
        kind, resource, what, path = line.split("\t")
        rows.add((kind, what, path))
        kinds[kind] = resource
    assert len(kinds) >= 15, kinds
    return rows, kinds


def reference():
    """(group/Kind, podspec|container, path) for every line of kserve-pod-specs.md."""
    text = open(os.path.join(SHARED, "reference", "kserve-pod-specs.md")).read()
    want = set()
    kind = None
    for line in text.splitlines():
        m = re.match(r"## (\S+?)/v\w+ (\w+)", line)
        if m:
            kind = "%s/%s" % (m.group(1), m.group(2))
            continue
        m = re.match(r"- `([^`]+)` (podspec|container)", line)
        if m and kind:
            want.add((kind, m.group(2), m.group(1)))
    assert len(want) >= 45, len(want)  # 57 lines, 45 distinct places in 5 kinds
    # LeaderWorkerSet: PodTemplateSpecs, whose pod spec is their .spec
    for t in ("leaderTemplate", "workerTemplate"):
        want.add(("leaderworkerset.x-k8s.io/LeaderWorkerSet", "podspec", "spec.leaderWorkerTemplate.%s.spec" % t))
    return want


def test_table_holds_every_place_kserve_and_lws_carry_a_pod():
    rows, _ = table()
    missing = reference() - rows
    assert not missing, sorted(missing)


def claims_pods(spec):
    v, m = spec.get("validate") or {}, spec.get("mutate") or {}
    return bool(v.get("podSecurity") or v.get("images") or m.get("securityContext") or m.get("gpu"))


def kind_matched(kinds, kind):
    group, _, name = kind.rpartition("/")
    return "*" in kinds or kind in kinds or (not group and name in kinds) or ("%s/*" % group) in kinds


def test_policies_that_cover_pods_cover_every_carrier():
    _, kinds = table()
    checked = 0
    for path in sorted(glob.glob(os.path.join(SRC, "policies", "**", "*.yaml"), recursive=True)):
        for doc in yaml.safe_load_all(open(path)):
            if not doc or not str(doc.get("apiVersion", "")).startswith("policy.aimguard.io/"):
                continue
            spec = doc.get("spec") or {}
            listed = (spec.get("match") or {}).get("kinds") or []
            if not claims_pods(spec) or not kind_matched(listed, "Pod"):
                continue
            checked += 1
            missing = [k for k in kinds if not kind_matched(listed, k)]
            assert not missing, "%s: policy %s covers pods but not %s" % (
                os.path.relpath(path, SRC), doc["metadata"]["name"], missing)
    assert checked >= 5, checked  # hardening, GPU placement, PSS baseline/restricted, images


def sends(webhook, group, resource, op):
    for r in webhook.get("rules", []):
        if (group in r["apiGroups"] or "*" in r["apiGroups"]) and \
           (resource in r["resources"] or "*" in r["resources"]) and \
           (op in r["operations"] or "*" in r["operations"]):
            return True
    return False


def test_webhooks_send_every_carrier():
    _, kinds = table()
    overlays = sorted(os.listdir(os.path.join(SRC, "deploy", "overlays")))
    assert overlays
    for overlay in overlays:
        docs = render_overlay(overlay)
        configs = [d for d in docs if d["kind"] in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")]
        assert {d["kind"] for d in configs} == {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
        for cfg in configs:
            for wh in cfg["webhooks"]:
                for kind, resource in kinds.items():
                    group = kind.rpartition("/")[0]
                    for op in ("CREATE", "UPDATE"):
                        assert sends(wh, group, resource, op), "%s: %s %s does not send %s %s" % (
                            overlay, cfg["kind"], wh["name"], op, kind)


if __name__ == "__main__":
    run_tests(globals())
