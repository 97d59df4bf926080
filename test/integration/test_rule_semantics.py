"""Rules and references mean what the policy reference says (issue 13, section 4), through
`aimguard eval`:
- a generic rule with only `required: true` means "the path exists", for scalars, objects
  and lists alike (it denied every object that had the field);
- an allow entry ending in "/" admits only references below that path
  (`ghcr.io/silogen/` admitted `ghcr.io/silogen:1`);
- `registry-1.docker.io/...` and `index.docker.io/...` are Docker Hub: a rule written for
  `docker.io` holds for them (a pattern excluding docker.io was bypassed)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import run_cli, run_tests

HEAD = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: %s}
spec:
  match: {kinds: [Pod]}
  validate:
"""


def policy(tmp, name, body):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(HEAD % name + body)
    code, out, err = run_cli("check", path)
    assert code == 0, (body, out, err)
    return path


def pod(spec_extra=None, image="ghcr.io/silogen/aim:1", labels=None):
    p = {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "p", "namespace": "team-a", "labels": labels or {}},
         "spec": {"containers": [{"name": "c", "image": image}]}}
    p["spec"].update(spec_extra or {})
    return p


def verdict(tmp, policy_path, obj):
    path = os.path.join(tmp, "obj.json")
    with open(path, "w") as f:
        json.dump(obj, f)
    code, out, err = run_cli("eval", "-p", policy_path, "-f", path, "--mode", "validate", "--output", "review")
    assert code in (0, 1), (code, out, err)
    resp = json.loads(out)["response"]
    assert resp["allowed"] is (code == 0), (code, resp)
    return code, resp.get("status", {}).get("message", "")


def test_required_alone_means_the_path_exists():
    tmp = tempfile.mkdtemp(prefix="ag-rules-")
    cases = {
        # path -> (a pod that has it, what the denial of a pod without it names)
        "metadata.labels.team": (pod(labels={"team": "a"}), "metadata.labels.team"),             # scalar
        "spec.securityContext": (pod({"securityContext": {}}), "spec.securityContext"),        # object
        "spec.tolerations": (pod({"tolerations": [{"key": "k", "operator": "Exists"}]}), "spec.tolerations"),  # list
        "spec.containers[*].resources.limits": (
            pod({"containers": [{"name": "c", "image": "x/y:1", "resources": {"limits": {"cpu": "1"}}}]}),
            "spec.containers[0].resources.limits"),
    }
    for i, (path, (has, field)) in enumerate(cases.items()):
        pol = policy(tmp, "req%d" % i, "    rules:\n    - {name: needs-it, path: '%s', required: true}\n" % path)
        code, msg = verdict(tmp, pol, has)
        assert code == 0, (path, msg)
        code, msg = verdict(tmp, pol, pod())
        assert code == 1 and field in msg and "is required" in msg, (path, msg)


def test_an_allow_prefix_with_a_slash_admits_only_what_is_below_it():
    tmp = tempfile.mkdtemp(prefix="ag-images-")
    pol = policy(tmp, "below", "    images: {allow: [ghcr.io/silogen/]}\n")
    for image, want in (("ghcr.io/silogen/aim-vllm:0.8.5", 0), ("ghcr.io/silogen/team/x:1", 0),
                        ("ghcr.io/silogen:1", 1), ("ghcr.io/silogenx/aim:1", 1), ("ghcr.io/other/aim:1", 1)):
        code, msg = verdict(tmp, pol, pod(image=image))
        assert code == want, (image, msg)
    # without the slash the repository itself is admitted, as documented
    pol = policy(tmp, "at", "    images: {allow: [ghcr.io/silogen]}\n")
    assert verdict(tmp, pol, pod(image="ghcr.io/silogen:1"))[0] == 0


def test_docker_hub_under_any_of_its_names_is_docker_io():
    tmp = tempfile.mkdtemp(prefix="ag-images-")
    # anything but Docker Hub
    pol = policy(tmp, "nohub", "    images: {allowPatterns: ['^(?!docker\\.io/)']}\n")
    for image in ("nginx:1", "docker.io/evil/miner:1", "index.docker.io/evil/miner:1",
                  "registry-1.docker.io/evil/miner:1", "Registry-1.Docker.io/evil/miner:1"):
        code, msg = verdict(tmp, pol, pod(image=image))
        assert code == 1 and "uses docker.io/" in msg, (image, msg)
    assert verdict(tmp, pol, pod(image="ghcr.io/silogen/aim:1"))[0] == 0
    # and an allow prefix on docker.io admits the other spellings
    pol = policy(tmp, "hub", "    images: {allow: [docker.io/amdenterpriseai/]}\n")
    for image in ("registry-1.docker.io/amdenterpriseai/aim-llama:1", "index.docker.io/amdenterpriseai/aim-llama:1"):
        assert verdict(tmp, pol, pod(image=image))[0] == 0, image


if __name__ == "__main__":
    run_tests(globals())
