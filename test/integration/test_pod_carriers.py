"""Every place a pod spec or a single container hides is judged and hardened, through the
CLI and the TLS webhook: KServe's single-container specs (spec.predictor.model, ...), the
multi-node workerSpec, transformer/explainer, canary predictors, ClusterServingRuntime,
LLMInferenceService(Config) and LeaderWorkerSet templates. Each was admitted unjudged
before the carrier table covered it (issue 13)."""
import copy
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import jsonpatch  # Debian python3-jsonpatch

from agharness import SRC, Server, decode_patch, review_for, run_cli, run_tests

DEFAULT = os.path.join(SRC, "policies", "default")
RESTRICTED = os.path.join(SRC, "policies", "examples", "pss-restricted.yaml")
BASELINE = os.path.join(SRC, "policies", "examples", "pss-baseline.yaml")
IMAGES = os.path.join(SRC, "policies", "examples", "image-allowlist.yaml")

PRIV = {"privileged": True}


def ctr(name="main", sc=None, image="ghcr.io/silogen/aim-vllm:0.8.5"):
    c = {"name": name, "image": image}
    if sc is not None:
        c["securityContext"] = sc
    return c


def isvc(spec, name="llama"):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "namespace": "team-a"}, "spec": spec}


def llmisvc(spec, kind="LLMInferenceService"):
    return {"apiVersion": "serving.kserve.io/v1alpha1", "kind": kind,
            "metadata": {"name": "llm", "namespace": "team-a"}, "spec": spec}


# (name, object, field path the denial must name, policies that must deny it)
DENIED = [
    ("model container privileged",
     isvc({"predictor": {"model": {"modelFormat": {"name": "vllm"}, "image": "ghcr.io/silogen/aim-vllm:0.8.5",
                                   "securityContext": PRIV}}}),
     "spec.predictor.model.securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("huggingface container privileged",
     isvc({"predictor": {"huggingface": {"args": ["--model_id=x"], "securityContext": PRIV}}}),
     "spec.predictor.huggingface.securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("workerSpec hostPID and privileged",
     isvc({"predictor": {"model": {"modelFormat": {"name": "vllm"}},
                         "workerSpec": {"hostPID": True, "containers": [ctr("worker", PRIV)]}}}),
     "spec.predictor.workerSpec", (DEFAULT, RESTRICTED, BASELINE)),
    ("explainer art container privileged",
     isvc({"predictor": {"containers": [ctr()]}, "explainer": {"art": {"type": "SquareAttack", "securityContext": PRIV}}}),
     "spec.explainer.art.securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("canary predictor privileged",
     isvc({"predictor": {"containers": [ctr()]},
           "canary": [{"predictor": {"pytorch": {"storageUri": "pvc://m", "securityContext": PRIV}}}]}),
     "spec.canary[0].predictor.pytorch.securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("ClusterServingRuntime hostIPC and privileged",
     {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ClusterServingRuntime", "metadata": {"name": "vllm-rt"},
      "spec": {"supportedModelFormats": [{"name": "vllm"}], "hostIPC": True, "containers": [ctr("kserve-container", PRIV)]}},
     "spec.hostIPC", (DEFAULT, RESTRICTED, BASELINE)),
    ("ServingRuntime workerSpec hostIPC",
     {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime", "metadata": {"name": "rt", "namespace": "team-a"},
      "spec": {"containers": [ctr()], "workerSpec": {"hostIPC": True, "containers": [ctr("w")]}}},
     "spec.workerSpec.hostIPC", (DEFAULT, RESTRICTED, BASELINE)),
    ("LLMInferenceService template privileged",
     llmisvc({"template": {"containers": [ctr(sc=PRIV)]}}),
     "spec.template.containers[0].securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("LLMInferenceService prefill worker hostNetwork",
     llmisvc({"prefill": {"worker": {"hostNetwork": True, "containers": [ctr()]}}}),
     "spec.prefill.worker.hostNetwork", (DEFAULT, RESTRICTED, BASELINE)),
    ("LLMInferenceServiceConfig tokenizer privileged",
     llmisvc({"router": {"scheduler": {"tokenizer": {"template": {"containers": [ctr(sc=PRIV)]}}}}},
             kind="LLMInferenceServiceConfig"),
     "spec.router.scheduler.tokenizer.template.containers[0].securityContext.privileged", (DEFAULT, RESTRICTED, BASELINE)),
    ("LeaderWorkerSet worker template privileged",
     {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
      "metadata": {"name": "vllm", "namespace": "team-a"},
      "spec": {"leaderWorkerTemplate": {"size": 2,
                                        "leaderTemplate": {"spec": {"containers": [ctr("leader")]}},
                                        "workerTemplate": {"spec": {"containers": [ctr("worker", PRIV)]}}}}},
     "spec.leaderWorkerTemplate.workerTemplate.spec.containers[0].securityContext.privileged",
     (DEFAULT, RESTRICTED, BASELINE)),
    ("LeaderWorkerSet leader template hostPID",
     {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
      "metadata": {"name": "vllm", "namespace": "team-a"},
      "spec": {"leaderWorkerTemplate": {"leaderTemplate": {"spec": {"hostPID": True, "containers": [ctr("leader")]}},
                                        "workerTemplate": {"spec": {"containers": [ctr("worker")]}}}}},
     "spec.leaderWorkerTemplate.leaderTemplate.spec.hostPID", (DEFAULT, RESTRICTED, BASELINE)),
]


def write(tmp, name, obj):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def eval_review(policies, path, mode=None):
    args = ["eval", "-p", policies, "-f", path, "--output", "review"]
    if mode:
        args += ["--mode", mode]
    code, out, err = run_cli(*args)
    assert code in (0, 1), (code, out, err)
    return code, json.loads(out)


def test_every_carrier_place_is_judged_by_the_cli():
    tmp = tempfile.mkdtemp(prefix="ag-carriers-")
    for i, (what, obj, field, policies) in enumerate(DENIED):
        path = write(tmp, "obj%d" % i, obj)
        for pol in policies:
            code, resp = eval_review(pol, path)
            r = resp["response"]
            assert code == 1 and r["allowed"] is False, (what, pol, r)
            assert field in r["status"]["message"], (what, pol, r["status"]["message"])
            if what == "model container privileged":
                # an unnamed single-container spec is named by its key in messages
                assert 'container "model"' in r["status"]["message"], r["status"]["message"]


def test_the_webhook_denies_them_over_tls():
    with Server() as srv:
        conn = srv.conn()
        for what, obj, field, _ in DENIED:
            ns = obj["metadata"].get("namespace", "")
            resp = srv.review("/validate", review_for(obj, namespace=ns), conn=conn)
            r = resp["response"]
            assert r["allowed"] is False, (what, r)
            assert field in r["status"]["message"], (what, r["status"]["message"])


def test_a_single_container_spec_is_hardened_like_a_container():
    """KServe merges spec.predictor.model into the pod's first container: the mutating
    webhook gives it the container defaults, and the result passes PSS restricted."""
    obj = isvc({"predictor": {"model": {"modelFormat": {"name": "vllm"}, "image": "ghcr.io/silogen/aim-vllm:0.8.5",
                                        "resources": {"limits": {"amd.com/gpu": "1"}}}}})
    with Server() as srv:
        resp = srv.review("/mutate", review_for(obj, namespace="team-a"))
        patch = decode_patch(resp)
        assert patch, resp
        after = jsonpatch.JsonPatch(copy.deepcopy(patch)).apply(copy.deepcopy(obj))
        pred = after["spec"]["predictor"]
        sc = pred["model"]["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, sc
        assert sc["capabilities"]["drop"] == ["ALL"], sc
        assert sc["readOnlyRootFilesystem"] is True, sc
        assert pred["securityContext"]["runAsNonRoot"] is True, pred
        assert pred["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, pred
        mounts = {m["mountPath"] for m in pred["model"]["volumeMounts"]}
        assert "/tmp" in mounts, mounts
        assert {v["name"] for v in pred["volumes"]} >= {m["name"] for m in pred["model"]["volumeMounts"]}
        # GPU placement reaches the predictor pod through the single container's limits
        terms = pred["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert any(e["key"] == "amd.com/gpu.device-id" for t in terms for e in t["matchExpressions"]), terms
        # the same patch a second time changes nothing (idempotent)
        again = srv.review("/mutate", review_for(after, namespace="team-a"))
        assert decode_patch(again) is None, decode_patch(again)
        # and the hardened object passes restricted
        tmp = tempfile.mkdtemp(prefix="ag-carriers-")
        code, r = eval_review(RESTRICTED, write(tmp, "after", after), mode="validate")
        assert code == 0, r


def test_the_image_allowlist_sees_single_container_images():
    obj = isvc({"predictor": {"model": {"modelFormat": {"name": "vllm"}, "image": "evil.example.com/aim:1"}}})
    tmp = tempfile.mkdtemp(prefix="ag-carriers-")
    code, resp = eval_review(IMAGES, write(tmp, "img", obj), mode="validate")
    assert code == 1, resp
    assert "spec.predictor.model.image" in resp["response"]["status"]["message"], resp


def test_an_object_with_more_pod_specs_than_judged_is_denied_whole():
    hardened = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [ctr(sc={"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})]}
    tmp = tempfile.mkdtemp(prefix="ag-carriers-")
    # the predictor and 15 canaries: 16 pod specs, all judged, all restricted
    obj = isvc({"predictor": hardened, "canary": [{"predictor": hardened} for _ in range(15)]})
    code, resp = eval_review(RESTRICTED, write(tmp, "sixteen", obj), mode="validate")
    assert code == 0, resp
    # one more cannot be judged with the rest: the object is refused, never judged in part
    obj["spec"]["canary"].append({"predictor": hardened})
    code, resp = eval_review(RESTRICTED, write(tmp, "seventeen", obj), mode="validate")
    assert code == 1, resp
    assert "carries 17 pod specs" in resp["response"]["status"]["message"], resp


if __name__ == "__main__":
    run_tests(globals())
