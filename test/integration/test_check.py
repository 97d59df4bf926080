"""`aimguard check` refuses what would silently never apply: a misspelled control, kind or
enum value is an error at file:line:column with a suggestion; a kind the shipped webhooks
never send and an expired or open-ended exception are warnings; documents that are not
policies are skipped with a note; the summary says what it counts."""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, Server, run_cli, run_tests

HEAD = "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: %s}\n"


def policy(name, body):
    return HEAD % name + "spec:\n" + body


class Tree:
    """A temporary directory of policy files written by the test."""

    def __init__(self, files):
        self.dir = tempfile.mkdtemp(prefix="ag-check-")
        for name, text in files.items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir)

    def path(self, name=""):
        return os.path.join(self.dir, name) if name else self.dir


def check(text, name="p.yaml"):
    with Tree({name: text}) as t:
        code, out, err = run_cli("check", t.path(name))
        return code, out, err.replace(t.path(), "DIR")


def error_lines(err):
    return [l for l in err.splitlines() if re.match(r"^DIR/[^:]+:\d+:\d+: (?!warning:|note:)", l)]


def test_exception_naming_a_control_that_does_not_exist():
    code, out, err = check(policy("exc", "  match: {kinds: [Pod]}\n"
                                         "  validate: {podSecurity: {level: restricted}}\n"
                                         "  exceptions:\n"
                                         "    - controls: [seccompProfle]\n"
                                         "      namespaces: [nim-dev]\n"
                                         "      reason: GPU syscalls\n"
                                         "      expires: 2099-01-01\n"))
    assert code == 1, (code, out, err)
    assert "DIR/p.yaml:8:18: exceptions[].controls: unknown control 'seccompProfle' (did you mean " \
           "'seccompProfile'?)" in err, err
    # every real control is accepted: PSS check IDs and their prefixes, mutators, blocks,
    # and the policy's own rule names
    code, out, err = check(policy("exc", "  match: {kinds: [Pod]}\n"
                                         "  mutate: {securityContext: {runAsNonRoot: true}}\n"
                                         "  validate:\n"
                                         "    podSecurity: {level: restricted}\n"
                                         "    rules: [{name: no-host-ports, path: 'podSpec.allContainers[*].ports[*].hostPort', absent: true}]\n"
                                         "  exceptions:\n"
                                         "    - controls: [seccompProfile, seccompProfile_restricted, capabilities,\n"
                                         "                 hostNamespaces, runAsNonRoot, readOnlyRootFilesystem, no-host-ports]\n"
                                         "      namespaces: [nim-dev]\n"
                                         "      reason: GPU syscalls\n"
                                         "      expires: 2099-01-01\n"))
    assert code == 0, (code, out, err)
    # a rule name of another policy is not a control of this one
    code, out, err = check(policy("exc", "  match: {kinds: [Pod]}\n"
                                         "  validate: {podSecurity: {level: baseline}}\n"
                                         "  exceptions:\n"
                                         "    - {controls: [no-host-port], namespaces: [a], reason: r, expires: 2099-01-01}\n"))
    assert code == 1 and "unknown control 'no-host-port'" in err, err


def test_unknown_kinds_are_errors_with_suggestions():
    code, out, err = check(policy("kinds", "  match:\n"
                                           "    kinds: [apps/Deploymnet, Pods, aim.eai.amd.com/AIMSevice,\n"
                                           "            batch/Deployment, app/Deployment, apps/v1/Deployment]\n"
                                           "  validate: {podSecurity: {level: baseline}}\n"))
    assert code == 1, (code, out, err)
    assert "DIR/p.yaml:6:13: spec.match.kinds: unknown kind 'apps/Deploymnet' (did you mean 'apps/Deployment'?)" in err, err
    assert "DIR/p.yaml:6:30: spec.match.kinds: unknown kind 'Pods' (did you mean 'Pod'?)" in err, err
    assert ("DIR/p.yaml:6:36: spec.match.kinds: unknown kind 'aim.eai.amd.com/AIMSevice' "
            "(did you mean 'aim.eai.amd.com/AIMService'?)") in err, err
    assert "'batch/Deployment' (did you mean 'apps/Deployment'?)" in err, err
    assert "'app/Deployment' (did you mean 'apps/Deployment'?)" in err, err
    assert "'apps/v1/Deployment': write GROUP/Kind without the version (did you mean 'apps/Deployment'?)" in err, err
    assert len(error_lines(err)) == 6, err
    # exception kinds are checked the same way
    code, out, err = check(policy("kinds", "  match: {kinds: [Pod]}\n"
                                           "  validate: {podSecurity: {level: baseline}}\n"
                                           "  exceptions:\n"
                                           "    - {controls: [privileged], kinds: [Deploymnet], namespaces: [a], reason: r, expires: 2099-01-01}\n"))
    assert code == 1 and "exceptions[].kinds: unknown kind 'Deploymnet' (did you mean 'Deployment'?)" in err, err
    # a bare unknown kind says how to name a custom resource
    code, out, err = check(policy("kinds", "  match: {kinds: [Widget]}\n"
                                           "  validate: {podSecurity: {level: baseline}}\n"))
    assert code == 1 and "unknown kind 'Widget'" in err and "example.com/Widget" in err, err


def test_custom_kind_written_with_its_group_is_accepted_with_a_warning():
    code, out, err = check(policy("custom", "  match: {kinds: [example.com/Widget, Pod, 'aim.eai.amd.com/*']}\n"
                                            "  validate: {podSecurity: {level: baseline}}\n"))
    assert code == 0, (code, out, err)
    assert ("DIR/p.yaml:5:19: warning: spec.match.kinds: example.com/Widget is not sent by the shipped "
            "webhook configurations") in err, err
    assert "1 warning" in out, out


def test_strict_makes_warnings_fail():
    text = policy("svc", "  match: {kinds: [Service]}\n  validate: {podSecurity: {level: baseline}}\n")
    with Tree({"p.yaml": text}) as t:
        code, out, err = run_cli("check", "--strict", t.path())
        assert code == 1 and "1 warning" in out and "aimguard check: --strict: 1 warning" in err, (code, out, err)
        code, out, err = run_cli("check", t.path(), "--strict")
        assert code == 1, (code, out, err)
        code, out, err = run_cli("check", t.path())
        assert code == 0, (code, out, err)
    code, out, err = run_cli("check", "--strict", os.path.join(SRC, "policies"))
    assert code == 0, (code, out, err)


def test_kind_the_shipped_webhooks_never_send_is_a_warning():
    code, out, err = check(policy("svc", "  match: {kinds: [Service, Pod]}\n"
                                         "  validate:\n"
                                         "    rules: [{name: r, path: metadata.name, matches: '^a'}]\n"))
    assert code == 0, (code, out, err)
    assert "DIR/p.yaml:5:19: warning: spec.match.kinds: Service is not sent by the shipped webhook configurations" in err, err
    # RoleBindings reach /validate only: a mutate-only policy on them never fires
    code, out, err = check(policy("rb", "  match: {kinds: [rbac.authorization.k8s.io/RoleBinding]}\n"
                                        "  mutate: {securityContext: {runAsNonRoot: true}}\n"))
    assert code == 0 and "warning: spec.match.kinds: rbac.authorization.k8s.io/RoleBinding is not sent" in err, err
    code, out, err = check(policy("rb", "  match: {kinds: [rbac.authorization.k8s.io/RoleBinding]}\n"
                                        "  validate: {rbac: {protectedRoles: [cluster-admin]}}\n"))
    assert code == 0 and "warning" not in err and "0 warnings" in out, (out, err)


def test_enum_typos_are_errors_with_suggestions():
    cases = [
        ("  action: deny\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n",
         "DIR/p.yaml:5:11: spec.action must be enforce, warn or audit (did you mean 'enforce'?)"),
        ("  action: warning\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n",
         "(did you mean 'warn'?)"),
        ("  match: {kinds: [Pod], operations: [create]}\n  validate: {podSecurity: {level: baseline}}\n",
         "unknown operation 'create' (CREATE, UPDATE, DELETE, CONNECT or *; did you mean 'CREATE'?)"),
        ("  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: restriced}}\n",
         "podSecurity.level must be baseline, restricted or privileged (did you mean 'restricted'?)"),
        ("  match: {kinds: [Pod]}\n  mutate: {securityContext: {seccompProfile: runtimedefault}}\n",
         "(did you mean 'RuntimeDefault'?)"),
        ("  match: {kinds: [Pod]}\n  mutate: {gpu: {tolerations: [{key: k, operator: exists}]}}\n",
         "gpu.tolerations[].operator must be Equal or Exists (did you mean 'Exists'?)"),
        ("  match: {kinds: [Pod]}\n  mutate: {gpu: {tolerations: [{key: k, operator: Exists, effect: NoSchedul}]}}\n",
         "(did you mean 'NoSchedule'?)"),
        ("  match: {kinds: [Pod]}\n  mutate: {gpu: {nodeAffinity: [{key: k, operator: in, values: [a]}]}}\n",
         "unknown operator 'in' (did you mean 'In'?)"),
        ("  match: {kinds: [Pod]}\n  mutate: {securityContext: {readOnlyRootFilesystem: true, writableDirs: [{path: /tmp, medium: memory}]}}\n",
         "(did you mean 'Memory'?)"),
        ("  match: {kinds: [Pod]}\n  validate: {rbac: {clusterReferences: {references: [model]}}}\n",
         "unknown reference 'model' (models, templates or runtimeConfigs; did you mean 'models'?)"),
        ("  match: {kinds: [Pod]}\n  validate:\n    rules: [{name: r, path: metadata.name, absent: true, action: deny}]\n",
         "rule action must be enforce, warn or audit (did you mean 'enforce'?)"),
    ]
    for body, want in cases:
        code, out, err = check(policy("enum", body))
        assert code == 1 and want in err, (body, want, err)


def test_exception_expired_or_without_expiry_is_a_warning():
    code, out, err = check(policy("exc", "  match: {kinds: [Pod]}\n"
                                         "  validate: {podSecurity: {level: baseline}}\n"
                                         "  exceptions:\n"
                                         "    - {controls: [privileged], namespaces: [a], reason: r, expires: 2020-01-01}\n"
                                         "    - {controls: [privileged], namespaces: [b], reason: r}\n"
                                         "    - {controls: [privileged], namespaces: [c], reason: r, expires: 2099-01-01}\n"))
    assert code == 0, (code, out, err)
    assert "DIR/p.yaml:8:7: warning: exception expired on 2020-01-01: it waives nothing" in err, err
    assert "DIR/p.yaml:9:7: warning: exception has no expires" in err, err
    assert "p.yaml:10:" not in err, err
    assert "2 warnings" in out, out


def test_exception_for_a_control_the_policy_never_checks_is_a_warning():
    code, out, err = check(policy("exc", "  match: {kinds: [Pod]}\n"
                                         "  validate: {podSecurity: {level: baseline}}\n"
                                         "  exceptions:\n"
                                         "    - {controls: [images, seccompProfile, hostPorts], namespaces: [a], reason: r,\n"
                                         "       expires: 2099-01-01}\n"))
    assert code == 0, (code, out, err)
    assert "DIR/p.yaml:8:19: warning: exceptions[].controls: 'images' waives nothing: no block or rule of " \
           "policy exc checks it" in err, err
    assert "seccompProfile' waives" not in err and "hostPorts' waives" not in err, err
    assert "1 warning" in out, out


def test_errors_are_sorted_by_file_and_line():
    files = {
        "b.yaml": policy("b", "  match: {kinds: [Pods]}\n  validate: {podSecurity: {level: baseline}}\n"),
        "a.yaml": policy("a", "  action: deny\n  match: {kinds: [Pod]}\n  validate:\n"
                              "    podSecurity: {level: restriced}\n") + "bogus: 1\n",
        "c/x.yaml": "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: x\nspec: {}\n",
    }
    with Tree(files) as t:
        code, out, err = run_cli("check", t.path())
    assert code == 1, (code, out, err)
    where = [tuple(m.groups()) for m in re.finditer(r"^.*/([^/:]+\.yaml):(\d+):(\d+): ", err, re.M)]
    keys = [(f, int(l), int(c)) for f, l, c in where]
    assert len(keys) >= 5 and keys == sorted(keys, key=lambda k: (k[0] != "a.yaml", k[0] != "b.yaml", k[1], k[2])), err


def test_one_bad_pattern_is_one_error():
    for body in ("  match: {kinds: [Pod]}\n  validate:\n    rules: [{name: r, path: metadata.name, matches: '(['}]\n",
                 "  match: {kinds: [Pod]}\n  validate:\n    secrets: {allowNames: ['(['], forbidLiteralEnv: true}\n",
                 "  match: {kinds: [Pod]}\n  validate:\n    images: {allowPatterns: ['^a(']}\n",
                 "  match: {kinds: [Pod]}\n  validate:\n    images: {allowPatterns: ['a(['], forbidLatest: true}\n",
                 "  match: {kinds: [Pod]}\n  validate:\n    secrets: {allowNames: ['(['], namespaces: [{namespaces: [a], allowNames: ['^x(']}]}\n"):
        code, out, err = check(policy("re", body))
        assert code == 1, (body, code, err)
        lines = error_lines(err)
        bad = body.count("(")
        assert len(lines) == bad and all("pattern" in l for l in lines), (body, err)


def test_missing_path_exits_2():
    code, out, err = run_cli("check", "/nonexistent/policies")
    assert code == 2, (code, out, err)
    assert err.strip() == "aimguard check: /nonexistent/policies: No such file or directory", err


def test_documents_that_are_not_policies_are_skipped_with_a_note():
    kust = ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "configMapGenerator: [{name: x, files: [p.yaml]}]\n")
    good = policy("good", "  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n")
    with Tree({"kustomization.yaml": kust, "p.yaml": good + "---\napiVersion: v1\nkind: ConfigMap\n"}) as t:
        code, out, err = run_cli("check", t.path())
    assert code == 0, (code, out, err)
    notes = [l for l in err.splitlines() if "note:" in l]
    assert len(notes) == 2, err
    assert re.search(r"kustomization\.yaml:1:1: note: skipped: apiVersion kustomize\.config\.k8s\.io/v1beta1 "
                     r"kind Kustomization is not a policy", err), err
    assert "1 policy in 2 files (2 documents skipped)" in out, out
    # a document that claims to be a policy is still judged: its apiVersion is policy.aimguard.io/,
    # its kind is AdmissionPolicy, or its apiVersion is a typo of policy.aimguard.io
    for text in ("apiVersion: policy.aimguard.io/v1\nkind: AdmissionPolicy\n",
                 "apiVersion: v1\nkind: AdmissionPolicy\n",
                 "apiVersion: polcy.aimguard.io/v1alpha1\nkind: AdmisionPolicy\n"):
        with Tree({"p.yaml": text}) as t:
            code, out, err = run_cli("check", t.path())
        assert code == 1 and "apiVersion must be policy.aimguard.io/v1alpha2 or policy.aimguard.io/v1alpha1" in err, (text, err)
    # a directory of nothing but other documents loads no policy: an error
    with Tree({"kustomization.yaml": kust}) as t:
        code, out, err = run_cli("check", t.path())
    assert code == 1 and "no policies found" in err, err


def test_check_of_this_repositorys_policies():
    code, out, err = run_cli("check", os.path.join(SRC, "policies"))
    assert code == 0, (code, out, err)
    assert "kustomization.yaml:4:1: note: skipped" in err, err
    # the policies' tests (aimguard test) live beside them and are skipped the same way
    assert "default/aimguard-test.yaml:9:1: note: skipped: apiVersion cli.aimguard.io/v1alpha1 kind Test" in err, err
    assert "warning" not in err, err
    assert re.search(r"ok: 9 policies in 13 files \(4 documents skipped\); \d+ mutate blocks?, \d+ validate blocks?, "
                     r"\d+ rules?, \d+ exceptions?; 0 warnings", out), out


def test_summary_says_what_it_counts():
    text = policy("one", "  match: {kinds: [Pod]}\n"
                         "  mutate: {securityContext: {runAsNonRoot: true}, gpu: {resources: [amd.com/gpu]}}\n"
                         "  validate:\n"
                         "    podSecurity: {level: baseline}\n"
                         "    images: {forbidLatest: true}\n"
                         "    rules:\n"
                         "      - {name: a, path: metadata.name, matches: '^a'}\n"
                         "      - {name: b, path: metadata.name, matches: '^b'}\n"
                         "      - {name: c, path: metadata.name, matches: '^c'}\n"
                         "  exceptions:\n"
                         "    - {controls: [a], namespaces: [x], reason: r, expires: 2099-01-01}\n")
    code, out, err = check(text)
    assert code == 0, (code, out, err)
    assert out.strip().endswith("/p.yaml: ok: 1 policy in 1 file; 2 mutate blocks, 2 validate blocks, 3 rules, "
                                "1 exception; 0 warnings"), out


def test_known_kinds_table():
    code, out, err = run_cli("check", "--kinds")
    assert code == 0, err
    rows = [l.split() for l in out.splitlines()[1:] if l.strip()]
    assert out.splitlines()[0].split() == ["GROUP", "KIND", "RESOURCE", "SCOPE", "WEBHOOKS", "POD-SPEC"], out
    table = {(r[0], r[1]): r for r in rows}
    assert table[("core", "Pod")][2:] == ["pods", "Namespaced", "mutate,validate", "yes"], out
    assert table[("rbac.authorization.k8s.io", "RoleBinding")][4] == "validate", out
    assert table[("core", "Service")][4] == "-", out
    assert table[("aim.eai.amd.com", "AIMClusterModel")][3] == "Cluster", out
    for k in ("InferenceService", "ServingRuntime", "ClusterServingRuntime", "LLMInferenceService",
              "LLMInferenceServiceConfig", "InferenceGraph", "TrainedModel", "LocalModelCache"):
        assert ("serving.kserve.io", k) in table, k
    assert table[("leaderworkerset.x-k8s.io", "LeaderWorkerSet")][2] == "leaderworkersets", out


def test_serve_logs_and_counts_policy_warnings():
    text = policy("warned", "  match: {kinds: [Service, Pod]}\n"
                            "  validate: {podSecurity: {level: baseline}}\n"
                            "  exceptions:\n"
                            "    - {controls: [privileged], namespaces: [a], reason: r}\n"
                            "    - {controls: [privileged], namespaces: [b], reason: r, expires: 2020-01-01}\n")
    with Tree({"p.yaml": text}) as t, Server(policies=t.path()) as srv:
        assert srv.metric("aimguard_policy_warnings") == 3, srv.metrics()
        warns = [l for l in srv.log_lines() if l.get("msg") == "policy warning"]
        assert len(warns) == 3, srv.logs()
        assert any("p.yaml:5:19: warning: spec.match.kinds: Service is not sent" in l["warning"] for l in warns), warns
        # fixed: the gauge follows the serving policies
        gen = srv.metric("aimguard_policy_generation")
        with open(os.path.join(srv.policies, "p.yaml"), "w") as f:
            f.write(policy("warned", "  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n"))
        deadline = time.time() + 20
        while srv.metric("aimguard_policy_generation") == gen and time.time() < deadline:
            time.sleep(0.05)
        assert srv.metric("aimguard_policy_generation") > gen
        assert srv.metric("aimguard_policy_warnings") == 0, srv.metrics()


if __name__ == "__main__":
    run_tests(globals())
