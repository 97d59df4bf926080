"""docs/policy-cookbook.md: every recipe holds, through `aimguard eval`, and the doc shows
exactly the files the test runs (so the cookbook cannot drift from what is tested).

Each recipe is a directory test/cookbook/NN-name/ with policy.yaml (passes `aimguard
check`), admit.yaml (every object or AdmissionReview in it is allowed), deny.yaml (every
one is denied, by a rule of the recipe's policy), and optionally cluster.yaml (the
Namespaces standing in for the cluster, given as --cluster-objects)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_cli, run_tests

COOKBOOK = os.path.join(SRC, "test", "cookbook")
DOC = os.path.join(SRC, "docs", "policy-cookbook.md")
FILES = ("policy.yaml", "admit.yaml", "deny.yaml", "cluster.yaml")


def recipes():
    out = sorted(d for d in os.listdir(COOKBOOK) if re.match(r"^\d\d-[a-z0-9-]+$", d))
    assert out, "no recipes under test/cookbook"
    return out


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


def rule_names(recipe):
    text = open(os.path.join(COOKBOOK, recipe, "policy.yaml")).read()
    return re.findall(r"^\s*- name: ([a-z0-9-]+)", text, re.M)


def test_every_recipe_policy_passes_check():
    for r in recipes():
        code, out, err = run_cli("check", os.path.join(COOKBOOK, r, "policy.yaml"))
        assert code == 0, (r, out, err)


def test_every_recipe_admits_its_admit_objects():
    for r in recipes():
        for res in evaluate(r, "admit.yaml"):
            assert res["allowed"] is True, (r, res)
            assert not res.get("warnings"), (r, res)


def test_every_recipe_denies_each_of_its_deny_objects_by_its_own_rule():
    for r in recipes():
        names = rule_names(r)
        assert names, r
        for res in evaluate(r, "deny.yaml"):
            assert res["allowed"] is False, (r, res)
            msg = res.get("message", "")
            assert any("rule %s]" % n in msg for n in names), (r, names, msg)


def test_the_cookbook_embeds_exactly_the_tested_files():
    doc = open(DOC).read()
    for r in recipes():
        num = int(r[:2])
        m = re.search(r"^## %d\. .*?(?=^## |\Z)" % num, doc, re.M | re.S)
        assert m, "docs/policy-cookbook.md has no section '## %d. ...' for %s" % (num, r)
        section = m.group(0)
        assert "policy-reference.md#" in section, (r, "the recipe links no section of the policy reference")
        for f in FILES:
            path = os.path.join(COOKBOOK, r, f)
            if not os.path.exists(path):
                continue
            marker = "<!-- test/cookbook/%s/%s -->" % (r, f)
            assert marker in section, (r, "the section does not embed " + f)
            block = section.split(marker, 1)[1]
            fence = re.match(r"\s*```yaml\n(.*?)```", block, re.S)
            assert fence, (r, f, "no ```yaml block follows " + marker)
            assert fence.group(1) == open(path).read(), (r, f, "the doc differs from the tested file")
    # every link into the reference lands on a heading of it
    ref = open(os.path.join(SRC, "docs", "policy-reference.md")).read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.*)$", ref, re.M)}
    for m in re.finditer(r"policy-reference\.md#([a-z0-9-]+)", doc):
        assert m.group(1) in anchors, "docs/policy-cookbook.md links a missing section: " + m.group(0)
    # and the doc shows no recipe the suite does not run
    tested = {int(r[:2]) for r in recipes()}
    for m in re.finditer(r"<!-- test/cookbook/(\d\d)-", doc):
        assert int(m.group(1)) in tested, m.group(0)


if __name__ == "__main__":
    run_tests(globals())
