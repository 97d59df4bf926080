"""The offline CLI: eval, check, explain, version (exit codes, output, stdin)."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import REVIEWS, SRC, run_cli, run_tests

DEFAULT = os.path.join(SRC, "policies", "default")
POD_YAML = b"""apiVersion: v1
kind: Pod
metadata: {name: web, namespace: team-a}
spec:
  containers:
    - name: web
      image: nginx
"""


def test_version_and_usage():
    code, out, _ = run_cli("version")
    assert code == 0 and out.startswith("aimguard "), out
    # what a bug report needs: the commit, the build date, the libraries it runs with
    lines = out.splitlines()
    assert lines[1].startswith("commit: ") and len(lines[1]) > len("commit: "), out
    assert lines[2].startswith("built: 20"), out
    for lib in ("libmicrohttpd", "GnuTLS", "OpenSSL", "jansson", "libyaml", "PCRE2", "libcurl"):
        line = [l for l in lines if l.strip().startswith(lib + " ")]
        assert line and line[0].split()[1][0].isdigit(), (lib, out)
    code, _, err = run_cli()
    assert code == 2 and "usage" in err
    code, _, err = run_cli("frobnicate")
    assert code == 2 and "unknown command" in err
    for cmd in ("serve", "eval", "check", "explain"):
        code, out, _ = run_cli(cmd, "--help")
        assert code == 0 and "usage" in out, (cmd, out)


def test_eval_exit_codes_and_outputs():
    # stdin YAML, mutate+validate: allowed after mutation; one line and a summary
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=POD_YAML)
    assert code == 0, err
    assert out.splitlines() == ["ALLOW Pod team-a/web (mutated)",
                                "1 object: 1 allowed, 0 warned, 0 denied, 0 errors"], out
    # one object with --output review: the AdmissionReview response, as eval always printed
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--output", "review", stdin=POD_YAML)
    resp = json.loads(out)["response"]
    assert resp["allowed"] is True and resp["patchType"] == "JSONPatch"
    # --output object gives the mutated object
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--output", "object", stdin=POD_YAML)
    obj = json.loads(out)
    assert obj["spec"]["securityContext"]["runAsNonRoot"] is True
    # validate only: denied, exit 1, the reason on the object's line
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--mode", "validate", stdin=POD_YAML)
    assert code == 1 and out.startswith("DENY Pod team-a/web: [policy pod-hardening, rule "), (code, out)
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--mode", "validate", "-o", "review",
                             stdin=POD_YAML)
    assert code == 1 and json.loads(out)["response"]["allowed"] is False and "denied:" in err, (code, err)
    # an AdmissionReview is taken as the request itself
    path = os.path.join(REVIEWS, "real-pod-create-privileged.json")
    with open(path) as f:
        uid = json.load(f)["request"]["uid"]
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", path, "-o", "review")
    assert code == 1 and json.loads(out)["response"]["uid"] == uid, out[:300]
    assert "rule podSecurity/restricted/privileged] privileged (container \"nginx\" must not set " \
           "securityContext.privileged=true) (field spec.containers[1].securityContext.privileged)" in err, err
    # excluded namespace via --namespace
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--mode", "validate", "--namespace", "kube-system",
                             stdin=POD_YAML)
    assert code == 0 and out.startswith("ALLOW Pod kube-system/web\n"), (out, err)
    # DELETE is not judged by the defaults
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--operation", "DELETE", "-o", "review",
                             stdin=POD_YAML)
    assert code == 0 and "patch" not in json.loads(out)["response"], out


def test_eval_usage_and_input_errors_exit_2():
    cases = [
        ("eval",),
        ("eval", "-p", DEFAULT),
        ("eval", "-p", DEFAULT, "-f", "-", "--mode", "judge"),
        ("eval", "-p", DEFAULT, "-f", "-", "--operation", "PATCH"),
        ("eval", "-p", DEFAULT, "-f", "-", "--assume-access", "maybe"),
        ("eval", "-p", DEFAULT, "-f", "-", "-f", "-"),
        ("eval", "-p", "/nonexistent", "-f", "-"),
        ("eval", "-p", DEFAULT, "-f", "-", "--cluster-objects", "/nonexistent.yaml"),
    ]
    for args in cases:
        code, _, err = run_cli(*args, stdin=POD_YAML)
        assert code == 2 and err, (args, code, err)
    # input errors are results of their own: named where they are, exit 2
    code, out, _ = run_cli("eval", "-p", DEFAULT, "-f", "/nonexistent.yaml")
    assert code == 2 and out.startswith("ERROR /nonexistent.yaml: cannot open: No such file"), out
    code, out, _ = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=b"kind: [\n")
    assert code == 2 and out.startswith("ERROR <stdin>: <stdin>:2:1"), out
    code, out, _ = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=b"metadata: {name: x}\n")
    assert code == 2 and "ERROR <stdin>#1: the object has no apiVersion or kind" in out, out
    code, out, _ = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=b"- a\n- b\n")
    assert code == 2 and "ERROR <stdin>#1: <stdin>:1:1: expected a mapping" in out, out
    # nothing to judge is not "all allowed" (an empty kustomize build, a wrong directory)
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=b"")
    assert code == 2 and "no objects found" in err, (code, out, err)


def test_check_reports_all_errors_with_positions():
    d = tempfile.mkdtemp()
    try:
        shutil.copytree(DEFAULT, os.path.join(d, "p"))
        code, out, err = run_cli("check", os.path.join(d, "p"))
        assert code == 0 and "ok: 3 policies" in out, (out, err)
        bad = os.path.join(d, "p", "20-bad.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: bad}\n"
                    "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n      runAsNonroot: true\n"
                    "      seccompProfile: Unconfined\n")
        code, out, err = run_cli("check", os.path.join(d, "p"))
        assert code == 1, (code, out, err)
        assert "20-bad.yaml:8:7: unknown field 'runAsNonroot' in spec.mutate.securityContext (did you mean 'runAsNonRoot'?)" in err, err
        assert "20-bad.yaml:9:23: seccompProfile must be RuntimeDefault" in err, err
        code, _, err = run_cli("check")
        assert code == 2
    finally:
        shutil.rmtree(d)


def test_explain_lists_policies_per_kind_and_operation():
    code, out, err = run_cli("explain", DEFAULT)
    assert code == 0, err
    assert "Pod CREATE:" in out and "pod-hardening (enforce" in out and "gpu-placement" in out, out
    assert "validate podSecurity: restricted" in out
    assert "excluded namespaces: kube-system" in out


if __name__ == "__main__":
    run_tests(globals())
