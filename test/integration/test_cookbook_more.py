"""Issue 14's recipes 5, 12 and 21-25 (docs/policy-cookbook-more.md), run through the CLI
as a user runs them: each validation recipe's policy admits admit.yaml and denies
deny.yaml (`aimguard eval`, with cluster.yaml as --cluster-objects where the recipe reads
the cluster); each mutation recipe turns input.yaml into exactly mutated.yaml
(`-o object`), its JSON Patch applies cleanly to the input (python3-jsonpatch) and gives
the same object, a second run on the mutated object patches nothing (idempotent), and
the mutated object passes the shipped Pod Security "restricted" policy. The cookbook
embeds exactly these files, so the page cannot drift from what the tests run."""
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import jsonpatch
import yaml

from agharness import SRC, decode_patch, run_cli, run_tests

BOOK = os.path.join(SRC, "test", "cookbook")
DOC = os.path.join(SRC, "docs", "policy-cookbook-more.md")
RESTRICTED = os.path.join(SRC, "policies", "examples", "pss-restricted.yaml")
VALIDATE = ["05-pss-exemptions", "12-registries-from-cluster"]
MUTATE = ["21-default-resources", "22-hardened-marker", "23-pull-always", "24-zone-spread",
          "25-append-unless-present"]


def path(recipe, name):
    return os.path.join(BOOK, recipe, name)


def load(recipe, name):
    with open(path(recipe, name)) as f:
        return yaml.safe_load(f)


def evaluate(recipe, obj_file, *extra):
    args = ["eval", "-p", path(recipe, "policy.yaml"), "-f", obj_file] + list(extra)
    if os.path.exists(path(recipe, "cluster.yaml")):
        args += ["--cluster-objects", path(recipe, "cluster.yaml")]
    return run_cli(*args)


def test_policies_pass_check():
    for recipe in VALIDATE + MUTATE:
        code, out, err = run_cli("check", path(recipe, "policy.yaml"))
        assert code == 0 and "; 0 warnings" in out, (recipe, out, err)


def test_check_warns_on_a_field_no_pod_or_container_has():
    d = tempfile.mkdtemp()
    try:
        with open(path("25-append-unless-present", "policy.yaml")) as f:
            text = f.read().replace("tolerations:", "tolerationz:").replace("          env:", "          envv:")
        pol = os.path.join(d, "policy.yaml")
        with open(pol, "w") as f:
            f.write(text)
        code, out, err = run_cli("check", pol)
        assert code == 0 and "; 2 warnings" in out, (out, err)
        assert "'tolerationz' is not a field of a PodSpec (did you mean 'tolerations'?)" in out + err, out + err
        assert "'envv' is not a field of a Container (did you mean 'env'?)" in out + err, out + err
    finally:
        shutil.rmtree(d)


def test_validation_recipes_admit_and_deny():
    for recipe in VALIDATE:
        code, out, err = evaluate(recipe, path(recipe, "admit.yaml"))
        assert code == 0 and out.startswith("ALLOW"), (recipe, code, out, err)
        code, out, err = evaluate(recipe, path(recipe, "deny.yaml"))
        assert code == 1 and out.startswith("DENY"), (recipe, code, out, err)


def test_exemption_skips_only_the_exempt_containers():
    code, out, _ = evaluate("05-pss-exemptions", path("05-pss-exemptions", "deny.yaml"))
    # the app container's privileged is judged (its image alone does not exempt it: the
    # entry also names gpu-driver-* containers), the agent's is not; and hostNetwork, a
    # pod-level field, is judged because not every container is exempt from it
    assert 'privileged (container "app"' in out and '"agent"' not in out, out
    assert "hostNetwork=true" in out, out


def test_exception_scoped_by_image():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "exporter", "namespace": "monitoring"},
           "spec": {"containers": [
               {"name": "exporter", "image": "quay.io/prometheus/node-exporter:v1.8.0",
                "securityContext": {"capabilities": {"add": ["SYS_TIME"]}}},
               {"name": "other", "image": "quay.io/prometheus/prometheus:v2.53.0",
                "securityContext": {"capabilities": {"add": ["SYS_TIME"]}}}]}}
    d = tempfile.mkdtemp()
    try:
        f = os.path.join(d, "pod.yaml")

        def run(p):
            with open(f, "w") as out:
                yaml.safe_dump(p, out)
            return evaluate("05-pss-exemptions", f, "-o", "review")
        # the exception waives capabilities_baseline for the node-exporter image only
        code, out, err = run(pod)
        resp = json.loads(out)["response"]
        assert code == 1 and '"other"' in resp["status"]["message"], (code, out, err)
        assert '"exporter"' not in resp["status"]["message"], resp
        pod["spec"]["containers"].pop()
        code, out, err = run(pod)
        resp = json.loads(out)["response"]
        assert code == 0 and resp["allowed"], out
        annotations = resp.get("auditAnnotations", {})
        assert any("exception.capabilities_baseline" in k for k in annotations), resp
        # a container the exception covers but that breaks nothing: no waiver is recorded
        del pod["spec"]["containers"][0]["securityContext"]
        code, out, err = run(pod)
        resp = json.loads(out)["response"]
        assert code == 0 and not resp.get("auditAnnotations"), resp
        pod["spec"]["containers"][0]["securityContext"] = {"capabilities": {"add": ["SYS_TIME"]}}
        # another namespace: the exception does not reach it
        pod["metadata"]["namespace"] = "apps"
        code, out, err = run(pod)
        assert code == 1, out
    finally:
        shutil.rmtree(d)


def test_registries_unknown_without_cluster_fail_closed():
    recipe = "12-registries-from-cluster"
    code, out, err = run_cli("eval", "-p", path(recipe, "policy.yaml"), "-f", path(recipe, "admit.yaml"))
    assert code == 1 and "failClosed: true denies" in out, (code, out)
    assert "namespace team-a is unknown" in out and "ConfigMap aimguard-system/allowed-registries" in out, out
    assert "notice:" in err and "allowFrom" in err, err
    # failClosed: false admits, with a warning naming what is unknown
    d = tempfile.mkdtemp()
    try:
        with open(path(recipe, "policy.yaml")) as f:
            text = f.read().replace("failClosed: true", "failClosed: false")
        pol = os.path.join(d, "policy.yaml")
        with open(pol, "w") as f:
            f.write(text)
        code, out, err = run_cli("eval", "-p", pol, "-f", path(recipe, "admit.yaml"), "-o", "review")
        resp = json.loads(out)["response"]
        assert code == 0 and any("failClosed: false admits" in w for w in resp.get("warnings", [])), out
    finally:
        shutil.rmtree(d)


def test_registries_namespace_annotation_alone():
    # a namespace without the annotation allows only what the ConfigMap lists
    recipe = "12-registries-from-cluster"
    d = tempfile.mkdtemp()
    try:
        pod = load(recipe, "admit.yaml")
        pod["metadata"]["namespace"] = "team-b"
        f = os.path.join(d, "pod.yaml")
        with open(f, "w") as out:
            yaml.safe_dump(pod, out)
        cluster = os.path.join(d, "cluster.yaml")
        with open(path(recipe, "cluster.yaml")) as src, open(cluster, "w") as out:
            out.write(src.read() + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n")
        code, out, err = run_cli("eval", "-p", path(recipe, "policy.yaml"), "-f", f, "--cluster-objects", cluster)
        assert code == 1 and 'container "web"' in out and 'container "llm"' not in out, out
        assert "failClosed" not in out, out
    finally:
        shutil.rmtree(d)


def test_registries_entries_that_are_no_prefix_are_named():
    recipe = "12-registries-from-cluster"
    d = tempfile.mkdtemp()
    try:
        cluster = os.path.join(d, "cluster.yaml")
        with open(path(recipe, "cluster.yaml")) as src, open(cluster, "w") as out:
            out.write(src.read().replace('"registry.example.com/team-a/, ghcr.io/team-a"',
                                         '"registry.example.com/team-a/, not a prefix,, https://x.io/y"'))
        code, out, err = run_cli("eval", "-p", path(recipe, "policy.yaml"), "-f", path(recipe, "deny.yaml"),
                                 "--cluster-objects", cluster)
        assert code == 1 and "skipped entries that are not registry[/path] prefixes: 'not a prefix', " \
            "'https://x.io/y'" in out, out
        code, out, err = run_cli("eval", "-p", path(recipe, "policy.yaml"), "-f", path(recipe, "admit.yaml"),
                                 "--cluster-objects", cluster)
        assert code == 0, out  # the valid entries still count
    finally:
        shutil.rmtree(d)


def test_mutation_recipes():
    for recipe in MUTATE:
        code, out, err = evaluate(recipe, path(recipe, "input.yaml"), "-o", "object")
        assert code == 0, (recipe, out, err)
        mutated = json.loads(out)
        assert mutated == load(recipe, "mutated.yaml"), (recipe, json.dumps(mutated, indent=1))
        # the patch applies cleanly to the input and gives the same object
        code, out, err = evaluate(recipe, path(recipe, "input.yaml"), "-o", "review")
        ops = decode_patch(json.loads(out))
        assert ops, (recipe, out)
        assert jsonpatch.apply_patch(load(recipe, "input.yaml"), ops) == mutated, recipe
        # idempotent: the mutated object gets no patch
        code, out, err = evaluate(recipe, path(recipe, "mutated.yaml"), "-o", "review")
        assert code == 0 and decode_patch(json.loads(out)) is None, (recipe, out)
        # and it passes the shipped restricted policy
        code, out, err = run_cli("eval", "-p", RESTRICTED, "-f", path(recipe, "mutated.yaml"))
        assert code == 0, (recipe, out, err)


def test_mutations_never_overwrite_unless_told():
    # recipe 21 keeps the explicit 16Gi limit; recipe 25 keeps the explicit HF_HOME
    m = load("21-default-resources", "mutated.yaml")
    assert m["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "16Gi"
    m = load("25-append-unless-present", "mutated.yaml")
    spec = m["spec"]["template"]["spec"]
    assert spec["containers"][0]["env"] == [{"name": "HF_HOME", "value": "/models/hf"}], spec
    assert len(spec["tolerations"]) == 1, spec
    # recipe 23 overwrites (overwrite: true) only images without a digest
    m = load("23-pull-always", "mutated.yaml")
    pol = [c["imagePullPolicy"] for c in m["spec"]["template"]["spec"]["containers"]]
    assert pol == ["Always", "IfNotPresent"], pol


def test_zone_spread_conditions():
    recipe = "24-zone-spread"
    d = tempfile.mkdtemp()
    try:
        def run(obj):
            f = os.path.join(d, "o.yaml")
            with open(f, "w") as out:
                yaml.safe_dump(obj, out)
            code, out, err = evaluate(recipe, f, "-o", "review")
            assert code == 0, out
            return decode_patch(json.loads(out))
        dep = load(recipe, "input.yaml")
        dep["spec"]["replicas"] = 1
        assert run(dep) is None  # one replica: nothing to spread
        dep["spec"]["replicas"] = 2
        dep["spec"]["template"]["spec"]["topologySpreadConstraints"] = [
            {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]
        assert run(dep) is None  # has its own constraints
        del dep["metadata"]["labels"]
        del dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert run(dep) is None  # not an inference Deployment (objectSelector)
    finally:
        shutil.rmtree(d)


def test_explain_describes_the_new_fields():
    want = {"05-pss-exemptions": ["exempt from privileged, hostNamespaces, capabilities: containers running "
                                  "ghcr.io/example/node-agent:*", "named gpu-driver-*",
                                  "for containers running quay.io/prometheus/node-exporter"],
            "12-registries-from-cluster": ["annotation aimguard.io/allowed-registries",
                                           "ConfigMap aimguard-system/allowed-registries key registries",
                                           "deny (failClosed)"],
            "23-pull-always": ["mutate rule pull-always: on every container and init container whose image is "
                               "not pinned by digest", "overwrite a different value"],
            "24-zone-spread": ["of objects with at least 2 replicas"],
            "25-append-unless-present": ["append unless an equal element"]}
    for recipe, lines in want.items():
        code, out, err = run_cli("explain", path(recipe, "policy.yaml"))
        assert code == 0, (recipe, err)
        for line in lines:
            assert line in out, (recipe, line, out)


def test_doc_embeds_exactly_the_files():
    with open(DOC) as f:
        doc = f.read()
    blocks = re.findall(r"<!-- file: (test/cookbook/[^ ]+) -->\n```yaml\n(.*?)```\n", doc, re.S)
    embedded = {p: text for p, text in blocks}
    files = sorted("test/cookbook/%s/%s" % (r, n) for r in VALIDATE + MUTATE
                   for n in os.listdir(os.path.join(BOOK, r)))
    assert sorted(embedded) == files, (sorted(embedded), files)
    for p, text in embedded.items():
        with open(os.path.join(SRC, p)) as f:
            assert f.read() == text, "%s differs from its copy in docs/policy-cookbook-more.md" % p
    # every recipe section links the reference
    for num in ("5", "12", "21", "22", "23", "24", "25"):
        section = re.search(r"^## %s\. .*?(?=^## |\Z)" % num, doc, re.S | re.M)
        assert section and "policy-reference.md#" in section.group(0), num


if __name__ == "__main__":
    run_tests(globals())
