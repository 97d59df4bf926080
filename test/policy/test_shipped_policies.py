"""Every shipped policy (policies/) is tested by the aimguard-test.yaml files beside it, and
those tests hold: `aimguard test policies/` exits 0 through the CLI. Coverage is checked
from the runner's own JSON: each policy is named by some expectation, each validating
policy has a resource it passes and one it fails, and each mutating policy an expected
mutated resource, so a policy added without tests fails here."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, run_cli, run_tests

POLICIES = os.path.join(SRC, "policies")


def shipped_policies():
    """name -> {"file", "validate", "mutate"} for every AdmissionPolicy under policies/"""
    found = {}
    for path in sorted(glob.glob(os.path.join(POLICIES, "**", "*.yaml"), recursive=True)):
        for doc in yaml.safe_load_all(open(path)):
            if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith("policy.aimguard.io/"):
                continue
            spec = doc.get("spec", {})
            found[doc["metadata"]["name"]] = {"file": os.path.relpath(path, SRC),
                                              "validate": bool(spec.get("validate")),
                                              "mutate": bool(spec.get("mutate"))}
    return found


def run_json():
    code, out, err = run_cli("test", POLICIES, "-o", "json")
    assert code == 0, (code, out[-3000:], err)
    return json.loads(out)


def test_shipped_policy_tests_pass():
    code, out, err = run_cli("test", POLICIES)
    assert code == 0, (code, out[-4000:], err)
    assert err == "", err
    files = glob.glob(os.path.join(POLICIES, "**", "aimguard-test.yaml"), recursive=True)
    assert len(files) >= 3, files
    summary = out.strip().splitlines()[-1]
    n = sum(1 for line in out.splitlines() if line.endswith("  OK"))
    assert n >= 40, out
    assert summary == "%d test files, %d expectations: %d passed, 0 failed; 0 broken test files" % (
        len(files), n, n), summary


def test_every_shipped_policy_has_tests_that_can_fail():
    doc = run_json()
    rows = [r for t in doc["tests"] for r in t["results"]]
    assert doc["summary"]["failed"] == 0 and doc["summary"]["broken"] == 0, doc["summary"]
    missing = []
    for name, info in shipped_policies().items():
        mine = [r for r in rows if r["policy"] == name]
        got = {r["got"] for r in mine}
        if not mine:
            missing.append("%s (%s): no expectation names it" % (name, info["file"]))
            continue
        if info["validate"] and not {"pass", "fail"} <= got:
            missing.append("%s: validates, but its tests show %s (a pass and a fail are needed)" % (name, sorted(got)))
        if info["mutate"] and not any("patched" in r["expected"] for r in mine):
            missing.append("%s: mutates, but no test expects a mutated resource" % name)
    assert not missing, "\n".join(missing)
    assert len(shipped_policies()) >= 9, shipped_policies()


def test_each_policy_directory_has_its_test_file():
    """tests sit beside the policies they test: each directory of shipped policies holds one"""
    dirs = {os.path.dirname(os.path.join(SRC, i["file"])) for i in shipped_policies().values()}
    for d in sorted(dirs):
        assert os.path.exists(os.path.join(d, "aimguard-test.yaml")), d


if __name__ == "__main__":
    run_tests(globals())
