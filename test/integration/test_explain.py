"""`aimguard explain` shows every block a policy sets: selectors (namespaceSelector,
objectSelector, users...), securityContext and GPU values, images, secrets, rbac, aim,
generic rules with their conditions, and exceptions. A block explain leaves out is a
block a reviewer of the policy set cannot see."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_cli, run_tests

EVERYTHING = r"""apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: everything}
spec:
  action: warn
  match:
    kinds: [Pod]
    namespaces: ["ai-*"]
    namespaceSelector: {matchLabels: {tier: gpu}}
    objectSelector: {matchLabels: {app: chat}}
    users: [alice]
  exclude:
    groups: [system:masters]
    namespaceSelector: {matchLabels: {exempt: "true"}}
  mutate:
    securityContext: {runAsNonRoot: true, runAsUser: 1000, fsGroup: 2000, dropCapabilities: [ALL, NET_RAW]}
    gpu:
      resources: [amd.com/gpu]
      nodeSelector: {amd.com/gpu.present: "true"}
      tolerations: [{key: amd.com/gpu, operator: Exists, effect: NoSchedule}]
  validate:
    images:
      allow: [registry.example.com/aim/]
      allowPatterns: ['^ghcr\.io/silogen/']
      requireDigest: true
      namespaces:
        - namespaces: [ai-dev]
          allow: [docker.io/library/]
    secrets:
      allowNames: ['^hf-credentials$']
      forbidLiteralEnv: true
    rules:
      - name: replicas
        path: spec.replicas
        range: {min: 1, max: 4}
      - name: team
        path: metadata.labels.team
        matches: '^team-'
        required: true
  exceptions:
    - {namespaces: [ai-lab], controls: [images], reason: "lab images", expires: 2099-03-01}
"""


def test_explain_shows_every_block():
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(EVERYTHING)
    try:
        code, out, err = run_cli("explain", f.name)
    finally:
        os.unlink(f.name)
    assert code == 0, err
    pod = out.split("Pod CREATE:")[1].split("Pod UPDATE:")[0]
    for want in ("everything (warn, ",
                 "namespaces: ai-*", "namespaceSelector: tier=gpu", "objectSelector: app=chat", "users: alice",
                 "excluded groups: system:masters", "excluded namespaceSelector: exempt=true",
                 "mutate securityContext: runAsNonRoot", "runAsUser=1000", "fsGroup=2000",
                 "capabilities.drop=ALL,NET_RAW",
                 "mutate gpu placement for pods requesting: amd.com/gpu", "nodeSelector: amd.com/gpu.present=true",
                 'tolerations: [{"key":"amd.com/gpu","operator":"Exists","effect":"NoSchedule"}]',
                 "validate images: requireDigest", "allow (prefixes): registry.example.com/aim/",
                 "allow (patterns): ^ghcr\\.io/silogen/", "in ai-dev instead: docker.io/library/",
                 "validate secrets: references must match allowNames forbidLiteralEnv", "allowNames: ^hf-credentials$",
                 "validate rule replicas: spec.replicas range min 1 max 4 (warn)",
                 "validate rule team: metadata.labels.team matches ^team-, required (warn)",
                 "exception: images in ai-lab until 2099-03-01 (lab images)"):
        assert want in pod, (want, pod)


def test_explain_shows_cluster_references_and_rbac():
    code, out, err = run_cli("explain", os.path.join(SRC, "policies", "examples"))
    assert code == 0, err
    assert "validate rbac clusterReferences: verb use on models templates runtimeConfigs; API unreachable: deny" in out, out
    assert "validate rbac protectedRoles: cluster-admin" in out and "validate aim: maxNamespaceLength=42" in out, out
    assert "excluded service accounts: aim-system/aim-engine-controller-manager" in out, out


def test_explain_prints_the_rule_vocabulary_in_words():
    """issue 14: preconditions, forEach, where, joins, composition and each condition"""
    book = os.path.join(SRC, "test", "cookbook")
    want = {
        "10-hostpath-read-only": [
            "for each podSpec.volumes[*]", "only where:", "- hostPath is an object",
            "- for each $podSpec.allContainers[*].volumeMounts[*] whose name equals the outer element's name",
            "- readOnly equals true (and must be set)"],
        "01-resource-limits": ["- all of:", "- resources.limits.memory is a quantity at most 8Gi (and must be set)"],
        "02-requests-within-limits": [
            "- resources.requests.cpu is a quantity at most the value of resources.limits.cpu"],
        "04-probes": ["- at least one of:", "- livenessProbe is an object (and must be set)"],
        "06-run-as-non-root": ["- the effective value of securityContext.runAsNonRoot, else "
                               "$podSpec.securityContext.runAsNonRoot equals true (and must be set)"],
        "07-drop-all-capabilities": ["is a list containing \"ALL\""],
        "08-volume-types": ["has no keys but name, configMap"],
        "09-no-unconfined-seccomp-annotations": ["- the element's key matches", "- the element does not match ^unconfined$"],
        "11-service-exposure-and-ingress-tls": ["- spec.tls has a length (entries or characters) of at least 1 (and must be set)"],
        "13-request-preconditions": ["only when the request operation is CREATE; service account is not "
                                     "kube-system/*,aim-system/aim-engine; is not a dry run"],
        "14-immutable-model": ["- spec.model.name does not change on UPDATE"],
        "19-host-port-range": ["- hostPort is a number at least 8000 and at most 9000"],
    }
    for recipe, lines in want.items():
        code, out, err = run_cli("explain", os.path.join(book, recipe, "policy.yaml"))
        assert code == 0, (recipe, err)
        for line in lines:
            assert line in out, (recipe, line, out)


if __name__ == "__main__":
    run_tests(globals())
