"""How a review's CPU grows with the object and with the number of policies (issue 18):
CPU per /mutate and /validate through the admission flow (build/test/bench_review: decode
with the server's pruning, decide, encode, free), in one process, no TLS.

  /usr/bin/python3 test/bench/curve.py [BUILD_DIR]

1. size: AdmissionReviews of a Deployment shaped like the captured AIM inference
   Deployment (../shared/conformance/admissionreview/apiserver124-create-deployment-
   llama-3-2-1b-predictor.json: managedFields, last-applied-configuration) with 1 to 800
   containers, about 1 KB to 1 MB, with policies/default;
2. policies: the captured review itself with policies/default plus 1, 10, 100 and 1,000
   policies of five generic rules each (image registry, resource limits, labels, probes,
   env), every one matching Deployments.
Prints two Markdown tables (the figures in docs/performance.md)."""
import copy
import json
import os
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build")
bench = os.path.join(build, "test", "bench_review")
shared = os.environ.get("AG_SHARED") or os.path.join(root, "..", "shared")
capture = os.path.join(shared, "conformance", "admissionreview",
                       "apiserver124-create-deployment-llama-3-2-1b-predictor.json")


def run(policies, mode, body_paths, iterations):
    out = subprocess.run([bench, policies, str(iterations), mode] + body_paths, check=True,
                         capture_output=True, text=True).stdout.splitlines()[1:]
    rows = []
    for line in out:
        f = line.split()
        rows.append((int(f[1]), float(f[2].rstrip("us")), float(f[3].rstrip("us")), float(f[4].rstrip("us"))))
    return rows


def sized_review(review, containers):
    r = copy.deepcopy(review)
    obj = r["request"]["object"]
    spec = obj["metadata"].get("annotations", {})
    tpl = obj["spec"]["template"]["spec"]
    base = tpl["containers"][0]
    cs = []
    for i in range(containers):
        c = copy.deepcopy(base)
        c["name"] = "c%03d" % i
        cs.append(c)
    tpl["containers"] = cs
    # managedFields and last-applied grow with the spec, as the API server's do
    mf = obj["metadata"].get("managedFields") or []
    if mf:
        fields = mf[0].setdefault("fieldsV1", {})
        fields["f:spec"] = {"f:template": {"f:spec": {"f:containers": {
            'k:{"name":"%s"}' % c["name"]: {".": {}, "f:image": {}, "f:name": {}} for c in cs}}}}
    if "kubectl.kubernetes.io/last-applied-configuration" in spec:
        la = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": obj["spec"]}
        spec["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(la, separators=(",", ":"))
    return r


POLICY = """---
apiVersion: policy.aimguard.io/v1alpha2
kind: AdmissionPolicy
metadata: {name: team-%(i)d}
spec:
  action: warn
  match: {kinds: [apps/Deployment]}
  validate:
    rules:
      - {name: registry, path: 'podSpec.allContainers[*].image', matches: '^(docker\\\\.io/amdenterpriseai|registry-%(i)d\\\\.example)/'}
      - {name: limits, path: 'podSpec.allContainers[*].resources.limits.memory', lessOrEqual: 512Gi}
      - {name: owner, path: metadata.labels, keysIn: [app, team-%(i)d, app.kubernetes.io/name, app.kubernetes.io/instance, app.kubernetes.io/component, app.kubernetes.io/managed-by, serving.kserve.io/inferenceservice, component, aim.eai.amd.com/service, aim.eai.amd.com/template, aim.eai.amd.com/model, aim.eai.amd.com/metric, aim.eai.amd.com/precision, aim.eai.amd.com/cache.type, aim.eai.amd.com/template.name, aim.eai.amd.com/derived-template]}
      - {name: probes, forEach: 'spec.template.spec.containers[*]', assert: {path: image, notMatches: ':latest$'}}
      - {name: env, path: 'podSpec.allContainers[*].env[*].name', notMatches: '^(AWS_SECRET|TOKEN_%(i)d)'}
"""


def main():
    if not os.path.exists(bench):
        sys.exit("build first: %s is missing" % bench)
    review = json.load(open(capture))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n in (1, 4, 16, 64, 200, 800):
            p = os.path.join(tmp, "size-%04d.json" % n)
            r = sized_review(review, n)
            if n == 1:  # the smallest: no bookkeeping, labels or env at all, about 1 KB
                obj = r["request"]["object"]
                obj["metadata"].pop("managedFields", None)
                obj["metadata"].pop("annotations", None)
                obj["metadata"].pop("labels", None)
                obj["spec"]["template"].pop("metadata", None)
                for c in obj["spec"]["template"]["spec"]["containers"]:
                    for k in ("env", "ports", "volumeMounts", "resources"):
                        c.pop(k, None)
                obj["spec"]["template"]["spec"].pop("volumes", None)
                for k in ("requestKind", "requestResource", "options", "userInfo"):
                    r["request"].pop(k, None)
            json.dump(r, open(p, "w"), separators=(",", ":"))
            paths.append(p)
        default = os.path.join(root, "policies", "default")
        print("| review bytes | containers | /mutate µs (decode + rest) | µs per KB | /validate µs | µs per KB |")
        print("|---|---|---|---|---|---|")
        mut = run(default, "mutate", paths, 400)
        val = run(default, "validate", paths, 400)
        for (size, d, rest, h), (_, _, _, hv), n in zip(mut, val, (1, 4, 16, 64, 200, 800)):
            print("| %d | %d | %.1f (%.1f + %.1f) | %.2f | %.1f | %.2f |" % (size, n, h, d, rest, h / (size / 1024),
                                                                        hv, hv / (size / 1024)))
        print()
        print("| policies (plus policies/default) | generic rules | /mutate µs | /validate µs |")
        print("|---|---|---|---|")
        for n in (0, 1, 10, 100, 1000):
            pol = os.path.join(tmp, "pol-%d" % n)
            os.makedirs(pol)
            for f in os.listdir(default):
                if f.endswith(".yaml") and f != "aimguard-test.yaml":
                    open(os.path.join(pol, f), "w").write(open(os.path.join(default, f)).read())
            if n:
                open(os.path.join(pol, "50-teams.yaml"), "w").write("".join(POLICY % {"i": i} for i in range(n)))
            it = 2000 if n < 100 else 400 if n < 1000 else 100
            m = run(pol, "mutate", [capture], it)[0]
            v = run(pol, "validate", [capture], it)[0]
            print("| %d | %d | %.1f | %.1f |" % (n, 5 * n, m[3], v[3]))


main()
