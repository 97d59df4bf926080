"""docs/policy-cookbook*.md: every recipe holds, through `aimguard eval`, and the cookbook
shows exactly the files the test runs (so it cannot drift from what is tested).

A validation recipe is a directory test/cookbook/NN-name/ with policy.yaml (passes
`aimguard check`), admit.yaml (every object or AdmissionReview in it is allowed), deny.yaml
(every one is denied by the recipe's own policy), and optionally cluster.yaml (the
Namespaces and ConfigMaps standing in for the cluster, given as --cluster-objects).
Mutation recipes (input.yaml, mutated.yaml) are run by test_cookbook_more.py; their
files are embedded like the others and checked here too."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, run_cli, run_tests

COOKBOOK = os.path.join(SRC, "test", "cookbook")
DOCS = os.path.join(SRC, "docs")


def recipes():
    out = sorted(d for d in os.listdir(COOKBOOK) if re.match(r"^\d\d-[a-z0-9-]+$", d))
    assert len(out) >= 18, out
    return out


def validation_recipes():
    return [r for r in recipes() if os.path.exists(os.path.join(COOKBOOK, r, "admit.yaml"))
            and os.path.exists(os.path.join(COOKBOOK, r, "deny.yaml"))]


def evaluate(recipe, which):
    d = os.path.join(COOKBOOK, recipe)
    args = ["eval", "-p", os.path.join(d, "policy.yaml"), "-f", os.path.join(d, which),
            "--mode", "validate", "-o", "json"]
    if os.path.exists(os.path.join(d, "cluster.yaml")):
        args += ["--cluster-objects", os.path.join(d, "cluster.yaml")]
    code, out, err = run_cli(*args)
    assert code in (0, 1), (recipe, which, code, out, err)
    results = json.loads(out)["results"]
    assert results, (recipe, which, "no object judged")
    return results


def policy_names(recipe):
    with open(os.path.join(COOKBOOK, recipe, "policy.yaml")) as f:
        return [d["metadata"]["name"] for d in yaml.safe_load_all(f) if d]


def test_every_recipe_policy_passes_check():
    for r in recipes():
        code, out, err = run_cli("check", os.path.join(COOKBOOK, r, "policy.yaml"))
        assert code == 0, (r, out, err)


def test_every_recipe_admits_its_admit_objects():
    for r in validation_recipes():
        for res in evaluate(r, "admit.yaml"):
            assert res["allowed"] is True, (r, res)
            assert not res.get("warnings"), (r, res)


def test_every_recipe_denies_each_of_its_deny_objects_by_its_own_policy():
    for r in validation_recipes():
        names = policy_names(r)
        for res in evaluate(r, "deny.yaml"):
            assert res["allowed"] is False, (r, res)
            msg = res.get("message", "")
            assert any("[policy %s, rule " % n in msg for n in names), (r, names, msg)


def sections():
    """{recipe number: (doc name, section text)} over every docs/policy-cookbook*.md"""
    out = {}
    for name in sorted(os.listdir(DOCS)):
        if not re.match(r"^policy-cookbook.*\.md$", name):
            continue
        doc = open(os.path.join(DOCS, name)).read()
        for m in re.finditer(r"^## (\d+)\. .*?(?=^## |\Z)", doc, re.M | re.S):
            assert int(m.group(1)) not in out, ("recipe %s has two sections" % m.group(1), name)
            out[int(m.group(1))] = (name, m.group(0))
    return out


def test_the_cookbook_embeds_exactly_the_tested_files():
    secs = sections()
    ref = open(os.path.join(DOCS, "policy-reference.md")).read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.*)$", ref, re.M)}
    for r in recipes():
        num = int(r[:2])
        assert num in secs, "no cookbook section '## %d. ...' for %s" % (num, r)
        doc, section = secs[num]
        links = re.findall(r"policy-reference\.md#([a-z0-9-]+)", section)
        assert links, (r, "the recipe links no section of the policy reference")
        for a in links:
            assert a in anchors, (r, doc, "links a missing section of the reference: #" + a)
        for f in sorted(os.listdir(os.path.join(COOKBOOK, r))):
            marker = "<!-- file: test/cookbook/%s/%s -->" % (r, f)
            assert marker in section, (r, doc, "the section does not embed " + f)
            fence = re.match(r"\s*```yaml\n(.*?)```", section.split(marker, 1)[1], re.S)
            assert fence, (r, f, "no ```yaml block follows " + marker)
            assert fence.group(1) == open(os.path.join(COOKBOOK, r, f)).read(), \
                (r, f, doc + " differs from the tested file")
    # and no page shows a recipe file the suite does not run
    for name in os.listdir(DOCS):
        if re.match(r"^policy-cookbook.*\.md$", name):
            for m in re.finditer(r"<!-- file: (test/cookbook/[^ ]+) -->", open(os.path.join(DOCS, name)).read()):
                assert os.path.exists(os.path.join(SRC, m.group(1))), (name, m.group(1))


if __name__ == "__main__":
    run_tests(globals())
