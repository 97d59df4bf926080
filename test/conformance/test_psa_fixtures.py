"""Pod Security Standards conformance: `aimguard eval --mode validate` with
policies/examples/pss-<level>.yaml must agree with every upstream PSA fixture
(shared/conformance/psa, policy version v1.37), and name the failing check."""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SHARED, SRC, run_cli, run_tests

PSA = os.path.join(SHARED, "conformance", "psa")
# file-name prefix -> the PSA check ID our denial must name
CHECKS = {
    "apparmorprofile": "appArmorProfile", "capabilities_baseline": "capabilities_baseline",
    "hostnamespaces": "hostNamespaces", "hostpathvolumes": "hostPathVolumes",
    "hostports": "hostPorts", "hostprobesandhostlifecycle": "hostProbesAndHostLifecycle",
    "privileged": "privileged", "procmount": "procMount",
    "seccompprofile_baseline": "seccompProfile_baseline", "selinuxoptions": "seLinuxOptions",
    "sysctls": "sysctls", "windowshostprocess": "windowsHostProcess",
    "allowprivilegeescalation": "allowPrivilegeEscalation",
    "capabilities_restricted": "capabilities_restricted",
    "procmount_restricted": "procMount_restricted", "restrictedvolumes": "restrictedVolumes",
    "runasnonroot": "runAsNonRoot", "runasuser": "runAsUser",
    "seccompprofile_restricted": "seccompProfile_restricted",
}
COUNTS = {("baseline", "pass"): 15, ("baseline", "fail"): 34,
          ("restricted", "pass"): 23, ("restricted", "fail"): 76}


def check_of(name):
    stem = os.path.basename(name)[:-len(".yaml")].rstrip("0123456789")
    return CHECKS.get(stem)


def run_level(level):
    policy = os.path.join(SRC, "policies", "examples", "pss-%s.yaml" % level)
    agree = total = 0
    problems = []
    for outcome in ("pass", "fail"):
        files = sorted(glob.glob(os.path.join(PSA, level, outcome, "*.yaml")))
        assert len(files) == COUNTS[(level, outcome)], (level, outcome, len(files))
        for f in files:
            total += 1
            code, out, err = run_cli("eval", "--mode", "validate", "-p", policy, "-f", f)
            if outcome == "pass":
                ok = code == 0
            else:
                want = check_of(f)
                ok = code == 1 and want is not None and \
                    ("[policy pss-%s, rule podSecurity/%s/%s] " % (level, level, want)) in out and want_in(out, want)
            if ok:
                agree += 1
            else:
                problems.append("%s/%s/%s: exit %d %s" % (level, outcome, os.path.basename(f), code, (out + err).strip()[:300]))
    print("%s: %d/%d fixtures agree" % (level, agree, total))
    assert not problems, "\n".join(problems)


def want_in(err, check):
    # the message names the check's PSA text; our violations are keyed by check ID and
    # the message carries the PSA wording, so look for either form
    words = {
        "appArmorProfile": "AppArmor", "capabilities_baseline": "capabilities",
        "hostNamespaces": "host namespaces", "hostPathVolumes": "hostPath",
        "hostPorts": "hostPort", "hostProbesAndHostLifecycle": "probe or lifecycle host",
        "privileged": "privileged", "procMount": "procMount", "seccompProfile_baseline": "seccompProfile",
        "seLinuxOptions": "seLinuxOptions", "sysctls": "sysctl", "windowsHostProcess": "hostProcess",
        "allowPrivilegeEscalation": "allowPrivilegeEscalation", "capabilities_restricted": "unrestricted capabilities",
        "procMount_restricted": "procMount", "restrictedVolumes": "restricted volume types",
        "runAsNonRoot": "runAsNonRoot", "runAsUser": "runAsUser", "seccompProfile_restricted": "seccompProfile",
    }
    return words[check] in err


def test_baseline_fixtures():
    run_level("baseline")


def test_restricted_fixtures():
    run_level("restricted")


def test_aim_workloads_pass_restricted_after_default_mutation():
    """Acceptance: the default policies turn the InferenceService the AIM operator
    generates and its download Job into objects that pass restricted."""
    import json
    import tempfile
    restricted = os.path.join(SRC, "policies", "examples", "pss-restricted.yaml")
    for name in ("inferenceservice.yaml", "download-job.yaml"):
        f = os.path.join(SRC, "test", "fixtures", "aim", name)
        code, _, err = run_cli("eval", "--mode", "validate", "-p", restricted, "-f", f)
        assert code == 1, (name, "the operator's object should fail restricted as shipped", err)
        code, out, err = run_cli("eval", "--mode", "both", "--output", "object", "-p",
                                 os.path.join(SRC, "policies", "default"), "-f", f)
        assert code == 0, (name, err)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as t:
            t.write(out)
        code, _, err = run_cli("eval", "--mode", "validate", "-p", restricted, "-f", t.name)
        os.unlink(t.name)
        assert code == 0, (name, err)
        obj = json.loads(out)
        spec = obj["spec"]["predictor"] if obj["kind"] == "InferenceService" else obj["spec"]["template"]["spec"]
        c = spec["containers"][0]
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert "/tmp" in mounts and "/workspace/cache" in mounts, mounts
        if name == "inferenceservice.yaml":
            terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            assert {"key": "amd.com/gpu.device-id", "operator": "In", "values": ["74a1"]} in terms[0]["matchExpressions"]
            assert {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


if __name__ == "__main__":
    run_tests(globals())
