"""`aimguard test` through the CLI: the shipped tests pass; a deliberately wrong expectation
(result, mutated resource, message pattern) fails with exit 1 and a diff that says what
differs; a broken test file or policy exits 2 with file:line:column; --junit writes XML a
CI system reads; -o json has the documented shape; resources come from files,
multi-document YAML, Lists and directories; warn and waived (skip) results; userInfo."""
import json
import os
import re
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_cli, run_tests

DEFAULT = os.path.join(SRC, "policies", "default")


class Copy:
    """policies/default (policies and its aimguard-test.yaml) copied to a temporary
    directory, with text replaced in the named files: exactly one replacement each."""

    def __init__(self, edits=None, src=DEFAULT, extra=None):
        self.dir = tempfile.mkdtemp(prefix="ag-ptest-")
        self.root = os.path.join(self.dir, "pol")
        shutil.copytree(src, self.root)
        for name, (old, new) in (edits or {}).items():
            path = os.path.join(self.root, name)
            text = open(path).read()
            assert text.count(old) == 1, (name, old)
            open(path, "w").write(text.replace(old, new))
        for name, text in (extra or {}).items():
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir)

    def path(self, name=""):
        return os.path.join(self.root, name) if name else self.root

    def line_col(self, name, needle, nth=0):
        """1-based line and column of the nth occurrence of needle in the file"""
        text = open(self.path(name)).read()
        pos = -1
        for _ in range(nth + 1):
            pos = text.index(needle, pos + 1)
        line = text.count("\n", 0, pos) + 1
        return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def test_shipped_tests_pass():
    code, out, err = run_cli("test", os.path.join(SRC, "policies"))
    assert code == 0, (out[-3000:], err)
    assert re.search(r"^\d+ test files, (\d+) expectations: \1 passed, 0 failed; 0 broken test files$", out, re.M), out


def test_wrong_result_fails_with_what_and_where():
    # debug-privileged is denied by pod-hardening: expecting pass is wrong
    edit = {"aimguard-test.yaml": ("    resource: team-a/debug-privileged\n    result: fail",
                                   "    resource: team-a/debug-privileged\n    result: pass")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "team-a/debug-privileged\n    result: pass")
    assert code == 1, (code, out, err)
    row = [l for l in out.splitlines() if "Pod/team-a/debug-privileged" in l and "podSecurity" in l
           and re.search(r"(OK|FAIL)$", l)]
    assert len(row) == 1 and re.search(r"\bpass\s+fail\s+FAIL$", row[0]), out
    assert "aimguard-test.yaml:%d:%d: pod-hardening podSecurity Pod/team-a/debug-privileged:" % (line, col) in out, out
    assert re.search(r"result: expected pass, got fail: .*privileged \(container \"shell\"", out), out
    assert "15 expectations: 14 passed, 1 failed; 0 broken test files" in out, out


def test_wrong_mutated_resource_shows_the_differing_path():
    # the expected web pod after mutation says readOnlyRootFilesystem false: the mutation sets true
    edit = {"aimguard-test.yaml": ("""                drop: [ALL]
              readOnlyRootFilesystem: true
            volumeMounts:
              - {name: aimguard-writable-tmp, mountPath: /tmp}
              - {name: aimguard-writable-workspace-cache, mountPath: /workspace/cache}
        securityContext:
          runAsNonRoot: true
          seccompProfile:
            type: RuntimeDefault
        volumes:
          - {name: aimguard-writable-tmp, emptyDir: {}}
          - {name: aimguard-writable-workspace-cache, emptyDir: {}}
  - policy: pod-hardening""", """                drop: [ALL]
              readOnlyRootFilesystem: false
            volumeMounts:
              - {name: aimguard-writable-tmp, mountPath: /tmp}
        securityContext:
          runAsNonRoot: true
          seccompProfile:
            type: RuntimeDefault
        volumes:
          - {name: aimguard-writable-tmp, emptyDir: {}}
          - {name: aimguard-writable-workspace-cache, emptyDir: {}}
  - policy: pod-hardening""")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path(), "--junit", os.path.join(t.dir, "j.xml"))
        junit = ET.parse(os.path.join(t.dir, "j.xml")).getroot()
    assert code == 1, (code, out, err)
    assert re.search(r"pod-hardening\s+securityContext\s+Pod/team-a/web\s+patched\s+differs\s+FAIL", out), out
    assert "spec.containers[0].securityContext.readOnlyRootFilesystem: expected false, got true" in out, out
    assert ('spec.containers[0].volumeMounts[1]: not expected, got {"name":"aimguard-writable-workspace-cache",'
            '"mountPath":"/workspace/cache"}') in out, out
    failure = junit.find(".//failure")
    assert "readOnlyRootFilesystem: expected false, got true" in failure.text, failure.text


def test_wrong_message_pattern_fails():
    edit = {"aimguard-test.yaml": ("message: 'reserved Secret \"aimguard-webhook-tls\"'",
                                   "message: 'reserved Secret \"aimguard-ca\"'")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
    assert code == 1, (code, out, err)
    assert ('message: the pattern /reserved Secret "aimguard-ca"/ does not match the message: volume "tls" '
            'references the reserved Secret "aimguard-webhook-tls"') in out, out
    assert re.search(r"credentials\s+secrets\s+Pod/team-a/steal-webhook-cert\s+fail\s+fail\s+FAIL", out), out


def test_broken_test_file_exits_2_with_positions():
    edit = {"aimguard-test.yaml": ("    rule: podSecurity\n    resource: team-a/debug-privileged\n",
                                   "    rule: podSecurity\n    resource: team-a/debug-privileged\n    expect: nothing\n")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "expect: nothing")
    assert code == 2, (code, out, err)
    assert "aimguard-test.yaml:%d:%d: unknown field 'expect' in a results entry" % (line, col) in err, err
    assert "1 broken test file" in out, out
    # a reference to no resource, a rule the policy does not have, a bad pattern
    edit = {"aimguard-test.yaml": ("    resource: steal-webhook-cert\n    result: fail\n",
                                   "    resource: steal-webhook-certificate\n    result: fail\n")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "steal-webhook-certificate")
    assert code == 2 and "aimguard-test.yaml:%d:%d: resource 'steal-webhook-certificate' names no resource" % (
        line, col) in err, err
    edit = {"aimguard-test.yaml": ("  - policy: credentials\n    rule: secrets\n    resource: steal-webhook-cert",
                                   "  - policy: credentials\n    rule: secret\n    resource: steal-webhook-cert")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "secret\n    resource: steal-webhook-cert")
    assert code == 2 and "aimguard-test.yaml:%d:%d: policy 'credentials' has no rule 'secret' (its rules: secrets)" % (
        line, col) in err, err
    # a key written twice: the second would silently win in most YAML readers
    edit = {"aimguard-test.yaml": ("    resource: steal-webhook-cert\n    result: fail\n",
                                   "    resource: steal-webhook-cert\n    result: fail\n    result: pass\n")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "result: pass\n    message: 'reserved")
    assert code == 2 and "aimguard-test.yaml:%d:%d: duplicate field 'result' (first at line %d)" % (
        line, col, line - 1) in err, err
    edit = {"aimguard-test.yaml": ("message: 'reserved Secret", "message: '(reserved Secret")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "'(reserved Secret")
    assert code == 2 and "aimguard-test.yaml:%d:%d: message is not a valid pattern (PCRE2)" % (line, col) in err, err


def test_broken_policy_exits_2_with_its_position():
    edit = {"00-pod-hardening.yaml": ("      runAsNonRoot: true                 # pod level",
                                      "      runAsNonroot: true                 # pod level")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("00-pod-hardening.yaml", "runAsNonroot")
    assert code == 2, (code, out, err)
    assert "00-pod-hardening.yaml:%d:%d: unknown field 'runAsNonroot'" % (line, col) in err, err
    # a policy path that does not exist is the test file's error, where it names it
    edit = {"aimguard-test.yaml": ("  - 20-credentials.yaml", "  - 20-credential.yaml")}
    with Copy(edit) as t:
        code, out, err = run_cli("test", t.path())
        line, col = t.line_col("aimguard-test.yaml", "20-credential.yaml")
    assert code == 2 and "aimguard-test.yaml:%d:%d: policy path" % (line, col) in err, err


def test_junit_is_valid_xml_with_the_right_counts():
    # two failures in the default tests, the examples' tests as they are
    edit = {"aimguard-test.yaml": ("    resources: [inline-token, inline-token-service]\n    result: fail",
                                   "    resources: [inline-token, inline-token-service]\n    result: pass")}
    with Copy(edit) as t:
        shutil.copytree(os.path.join(SRC, "policies", "examples"), t.path("examples"))
        junit = os.path.join(t.dir, "out", "junit.xml")
        os.makedirs(os.path.dirname(junit))
        code, out, err = run_cli("test", t.path(), "--junit", junit)
        root = ET.parse(junit).getroot()
        raw = open(junit).read()
    assert code == 1, (code, out, err)
    assert root.tag == "testsuites", root.tag
    suites = root.findall("testsuite")
    assert len(suites) == 3, [s.get("name") for s in suites]
    cases = root.findall(".//testcase")
    failures = root.findall(".//failure")
    assert int(root.get("tests")) == len(cases) and int(root.get("failures")) == len(failures) == 2, root.attrib
    default = [s for s in suites if s.get("name").endswith("pol/aimguard-test.yaml")][0]
    assert default.get("failures") == "2" and int(default.get("tests")) == len(default.findall("testcase")) == 15
    names = [c.get("name") for c in default.findall("testcase") if c.find("failure") is not None]
    assert names == ["credentials/secrets Pod/team-a/inline-token: pass",
                     "credentials/secrets AIMService/team-a/inline-token-service: pass"], names
    f = default.find(".//failure")
    assert f.get("message") == "expected pass, got fail", f.attrib
    # the message quotes names ("inference"): escaped in the file, intact once parsed
    assert 'container "inference" env HF_TOKEN looks like a credential' in f.text, f.text
    assert "container &quot;inference&quot; env HF_TOKEN" in raw, raw
    assert "hf_EXAMPLEnotARealToken" not in raw
    # a broken test file is an <error> in its suite
    edit = {"aimguard-test.yaml": ("kind: Test", "kind: Tset")}
    with Copy(edit) as t:
        junit = os.path.join(t.dir, "j.xml")
        code, out, err = run_cli("test", t.path(), "--junit", junit)
        root = ET.parse(junit).getroot()
    assert code == 2 and root.get("errors") == "1", (code, root.attrib)
    assert "kind must be Test" in root.find(".//error").text


def test_json_output_shape():
    with Copy({"aimguard-test.yaml": ("    resource: steal-webhook-cert\n    result: fail",
                                      "    resource: steal-webhook-cert\n    result: warn")}) as t:
        code, out, err = run_cli("test", t.path(), "-o", "json")
        path = t.path("aimguard-test.yaml")
    assert code == 1, (code, err)
    doc = json.loads(out)
    assert set(doc) == {"tests", "summary"}, doc.keys()
    assert doc["summary"] == {"files": 1, "expectations": 15, "passed": 14, "failed": 1, "broken": 0}, doc["summary"]
    test = doc["tests"][0]
    assert test["file"] == path and test["name"] == "default-policies", test
    rows = test["results"]
    assert len(rows) == 15 and all(set(r) == {"policy", "rule", "resource", "source", "expected", "got", "ok",
                                              "message", "details"} for r in rows), rows[0]
    bad = [r for r in rows if not r["ok"]]
    assert len(bad) == 1, bad
    b = bad[0]
    assert (b["policy"], b["rule"], b["resource"], b["expected"], b["got"]) == (
        "credentials", "secrets", "Pod/team-a/steal-webhook-cert", "warn", "fail"), b
    assert re.match(re.escape(path) + r":\d+:\d+$", b["source"]), b
    assert "reserved Secret" in b["message"] and b["details"].startswith("result: expected warn, got fail"), b
    code, out, err = run_cli("test", "--output", "yaml", DEFAULT)
    assert code == 2 and "--output must be text or json" in err, err


POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata:
  name: team-labels
spec:
  match:
    kinds: [Pod, apps/Deployment]
    namespaceSelector:
      matchLabels: {tenant: "true"}
  validate:
    rules:
      - name: team
        path: metadata.labels.team
        matches: '^team-'
        required: true
      - name: replicas
        path: spec.replicas
        range: {max: 4}
        action: warn
  exceptions:
    - controls: [team]
      names: ['scratch-*']
      reason: scratch pods need no team
      expires: 2099-01-01
"""

PODS = """apiVersion: v1
kind: Pod
metadata: {name: labelled, namespace: tenant-a, labels: {team: team-a}}
spec: {containers: [{name: c, image: x:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: unlabelled, namespace: tenant-a}
spec: {containers: [{name: c, image: x:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: scratch-1, namespace: tenant-a}
spec:
  containers:
    - name: c
      image: x:1
      env: [{name: DB_PASSWORD, value: s3cr3t-PLANTED-value}]
"""

DEPLOYMENTS = """apiVersion: apps/v1
kind: DeploymentList
items:
  - metadata: {name: big, namespace: tenant-a, labels: {team: team-a}}
    spec: {replicas: 10, selector: {}, template: {spec: {containers: [{name: c, image: x:1}]}}}
  - metadata: {name: big, namespace: other, labels: {team: team-a}}
    spec: {replicas: 10, selector: {}, template: {spec: {containers: [{name: c, image: x:1}]}}}
"""

NAMESPACES = """apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: tenant-a, labels: {tenant: "true"}}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: other}}
"""

TEST = """apiVersion: cli.aimguard.io/v1alpha1
kind: Test
metadata: {name: files}
policies: [../policy.yaml]
resources: [resources/]
clusterObjects: [cluster/namespaces.yaml]
results:
  - {policy: team-labels, rule: team, resources: [labelled, Deployment/tenant-a/big], result: pass}
  - {policy: team-labels, rule: team, resource: unlabelled, result: fail, message: 'metadata\\.labels\\.team'}
  - {policy: team-labels, rule: team, resource: scratch-1, result: skip, message: 'scratch pods need no team'}
  - {policy: team-labels, rule: replicas, resource: Deployment/tenant-a/big, result: warn}
  - {policy: team-labels, rule: replicas, resource: labelled, result: pass}
  - {policy: team-labels, rule: team, resource: other/big, result: skip}
"""


def files_tree(test=TEST):
    d = tempfile.mkdtemp(prefix="ag-ptest-")
    for name, text in {"policy.yaml": POLICY, "t/aimguard-test.yaml": test, "t/resources/pods.yaml": PODS,
                       "t/resources/more/deployments.yaml": DEPLOYMENTS,
                       "t/cluster/namespaces.yaml": NAMESPACES}.items():
        os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
        open(os.path.join(d, name), "w").write(text)
    return d


def test_resources_from_files_lists_and_directories_warn_and_waived():
    d = files_tree()
    try:
        code, out, err = run_cli("test", d)
        assert code == 0, (out, err)
        assert "1 test file, 7 expectations: 7 passed, 0 failed" in out, out
        assert re.search(r"team-labels\s+replicas\s+Deployment/tenant-a/big\s+warn\s+warn\s+OK", out), out
        assert re.search(r"team-labels\s+team\s+Pod/tenant-a/scratch-1\s+skip\s+skip\s+OK", out), out
        # two objects named big: the short name is ambiguous, and says which there are
        bad = TEST.replace("resource: other/big", "resource: big")
        open(os.path.join(d, "t", "aimguard-test.yaml"), "w").write(bad)
        code, out, err = run_cli("test", os.path.join(d, "t", "aimguard-test.yaml"))
        assert code == 2, (out, err)
        assert re.search(r"aimguard-test\.yaml:13:\d+: resource 'big' names 2 resources "
                         r"\(Deployment/tenant-a/big, Deployment/other/big\)", err), err
    finally:
        shutil.rmtree(d)


def test_user_info_decides_a_policy_on_users():
    policy = POLICY.replace("    namespaceSelector:\n      matchLabels: {tenant: \"true\"}\n",
                            "  exclude:\n    users: [ci-bot]\n")
    d = files_tree(TEST.replace("clusterObjects: [cluster/namespaces.yaml]\n",
                                "requests:\n  - {resource: unlabelled, userInfo: {username: ci-bot}}\n"))
    try:
        open(os.path.join(d, "policy.yaml"), "w").write(policy)
        code, out, err = run_cli("test", d)
        assert code == 1, (out, err)
        # ci-bot's request is excluded: no result, where fail was expected
        assert re.search(r"team\s+Pod/tenant-a/unlabelled\s+fail\s+skip\s+FAIL", out), out
        # without the namespace selector, the Deployment in other is judged too
        assert re.search(r"team\s+Deployment/other/big\s+skip\s+pass\s+FAIL", out), out
    finally:
        shutil.rmtree(d)


def test_diff_never_prints_env_values():
    d = files_tree(TEST + """  - policy: team-labels
    rule: team
    resource: scratch-1
    result: skip
    patchedResource:
      apiVersion: v1
      kind: Pod
      metadata: {name: scratch-1, namespace: tenant-a}
      spec:
        containers:
          - name: c
            image: x:2
            env: [{name: DB_PASSWORD, value: other-value}]
""")
    try:
        code, out, err = run_cli("test", d)
        assert code == 1, (out, err)
        assert 'spec.containers[0].image: expected "x:2", got "x:1"' in out, out
        assert "spec.containers[0].env[0].value: expected (a value, not shown), got (a value, not shown)" in out, out
        assert "s3cr3t-PLANTED-value" not in out + err and "other-value" not in out + err
    finally:
        shutil.rmtree(d)


def test_usage_errors_exit_2():
    code, out, err = run_cli("test", "/nonexistent/dir")
    assert code == 2 and "/nonexistent/dir: No such file or directory" in err, err
    d = tempfile.mkdtemp()
    try:
        code, out, err = run_cli("test", d)
        assert code == 2 and "no aimguard-test.yaml below it" in err, err
    finally:
        shutil.rmtree(d)
    code, out, err = run_cli("test", "--help")
    assert code == 0 and "--junit FILE" in out, out


if __name__ == "__main__":
    run_tests(globals())
