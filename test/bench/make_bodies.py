"""Writes the benchmark's AdmissionReview bodies into a directory:
real-create-deployment.json and real-update-replicas.json (two reviews captured from a
real kube-apiserver 1.24, copied byte for byte: the AIM inference Deployment's CREATE and
a replicas UPDATE, managedFields and last-applied-configuration included),
pod-small.json, aim-deployment-8k.json, pod-50-containers.json, aimservice.json."""
import copy
import shutil
import json
import os
import sys

import yaml

src, out = sys.argv[1], sys.argv[2]
shared = os.path.join(os.environ.get("AG_SHARED") or os.path.join(src, "..", "shared"), "conformance", "admissionreview")


def review(obj, kind, group, version, resource, uid):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "operation": "CREATE",
        "userInfo": {"username": "system:serviceaccount:kserve:kserve-controller-manager",
                     "uid": "3f1c2c4e-0d7a-4c55-9d55-6a0f3a1c9e01",
                     "groups": ["system:serviceaccounts", "system:serviceaccounts:kserve", "system:authenticated"]},
        "object": obj, "oldObject": None, "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions", "fieldManager": "manager"}}}


os.makedirs(out, exist_ok=True)
for name, capture in (("real-create-deployment", "apiserver124-create-deployment-llama-3-2-1b-predictor.json"),
                      ("real-update-replicas", "apiserver124-update-deployment-replicas.json")):
    shutil.copyfile(os.path.join(shared, capture), os.path.join(out, name + ".json"))
with open(os.path.join(shared, "pod-create.json")) as f:
    small = json.load(f)
json.dump(small, open(os.path.join(out, "pod-small.json"), "w"))
json.dump(json.load(open(os.path.join(shared, "aimservice-create.json"))),
          open(os.path.join(out, "aimservice.json"), "w"))

isvc = yaml.safe_load(open(os.path.join(src, "test", "fixtures", "aim", "inferenceservice.yaml")))
pred = isvc["spec"]["predictor"]
spec = {k: v for k, v in pred.items() if k not in ("minReplicas", "maxReplicas")}
c = spec["containers"][0]
# the env, probes and labels an AIM inference pod carries in practice
c["env"] += [{"name": "AIM_ENGINE_ARGS", "value": json.dumps({"max-model-len": 8192, "gpu-memory-utilization": 0.9,
                                                              "tensor-parallel-size": 1, "enable-prefix-caching": True})},
             {"name": "AIM_PROFILE_ID", "value": "vllm-mi300x-fp8-tp1-latency"},
             {"name": "AIM_METRIC", "value": "latency"}, {"name": "AIM_MODEL_ID", "value": "meta-llama/Llama-3.1-8B-Instruct"},
             {"name": "VLLM_USE_TRITON_FLASH_ATTN", "value": "0"}, {"name": "NCCL_MIN_NCHANNELS", "value": "112"},
             {"name": "HIP_FORCE_DEV_KERNARG", "value": "1"}, {"name": "TORCH_BLAS_PREFER_HIPBLASLT", "value": "1"},
             {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"}, {"name": "HF_HOME", "value": "/workspace/cache/hf"},
             {"name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://otel-collector.observability.svc:4317"},
             {"name": "OTEL_SERVICE_NAME", "value": "llama-3-1-8b-predictor"},
             {"name": "AIM_LOG_LEVEL", "value": "info"}, {"name": "AIM_PORT", "value": "8000"},
             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
c["readinessProbe"] = {"httpGet": {"path": "/v1/models", "port": 8000}, "periodSeconds": 10, "failureThreshold": 3}
c["livenessProbe"] = {"httpGet": {"path": "/health", "port": 8000}, "initialDelaySeconds": 600, "periodSeconds": 30}
c["startupProbe"] = {"httpGet": {"path": "/health", "port": 8000}, "failureThreshold": 120, "periodSeconds": 10}
labels = dict(isvc["metadata"]["labels"], **{"serving.kserve.io/inferenceservice": "llama-3-1-8b",
              "component": "predictor", "app": "isvc.llama-3-1-8b-predictor",
              "app.kubernetes.io/component": "inference", "aim.eai.amd.com/service": "llama-3-1-8b",
              "aim.eai.amd.com/template": "llama-3-1-8b-mi300x-fp8-latency",
              "aim.eai.amd.com/model": "meta-llama-llama-3-1-8b-instruct",
              "aim.eai.amd.com/metric": "latency", "aim.eai.amd.com/precision": "fp8"})
dep = {"apiVersion": "apps/v1", "kind": "Deployment",
       "metadata": {"name": "llama-3-1-8b-predictor", "namespace": "team-a", "labels": labels,
                    "annotations": dict(isvc["metadata"]["annotations"], **{"deployment.kubernetes.io/revision": "1"}),
                    "ownerReferences": [{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                                         "name": "llama-3-1-8b", "uid": "7d0b8a4e-5b7c-4b8e-9a53-1d2c3e4f5a6b",
                                         "controller": True, "blockOwnerDeletion": True}]},
       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "isvc.llama-3-1-8b-predictor"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {"metadata": {"labels": labels, "annotations": isvc["metadata"]["annotations"]},
                             "spec": spec}}}
# managedFields as the API server fills them, to reach a realistic ~8 KB
dep["metadata"]["managedFields"] = [{"manager": "manager", "operation": "Update", "apiVersion": "apps/v1",
                                     "time": "2026-11-24T10:00:00Z", "fieldsType": "FieldsV1",
                                     "fieldsV1": {"f:metadata": {"f:labels": {"f:" + k: {} for k in labels}},
                                                  "f:spec": {"f:template": {"f:spec": {"f:containers": {
                                                      'k:{"name":"kserve-container"}': {"f:env": {
                                                          'k:{"name":"%s"}' % e["name"]: {".": {}, "f:name": {}} for e in c["env"]}}}}}}}}]
r = review(dep, "Deployment", "apps", "v1", "deployments", "a1b2c3d4-0000-4000-8000-000000000008")
text = json.dumps(r)
json.dump(r, open(os.path.join(out, "aim-deployment-8k.json"), "w"))

pod = copy.deepcopy(small["request"]["object"])
base = pod["spec"]["containers"][0]
pod["spec"]["containers"] = []
for i in range(50):
    ci = copy.deepcopy(base)
    ci["name"] = "c%02d" % i
    ci["env"] = [{"name": "VAR_%02d_%02d" % (i, j), "value": "value-%d-%d-" % (i, j) + "x" * 40} for j in range(40)]
    ci["volumeMounts"] = [{"name": "data", "mountPath": "/data/%d" % i}]
    ci["ports"] = [{"containerPort": 8000 + i, "protocol": "TCP"}]
    pod["spec"]["containers"].append(ci)
pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
r = copy.deepcopy(small)
r["request"]["object"] = pod
json.dump(r, open(os.path.join(out, "pod-50-containers.json"), "w"))
for n in sorted(os.listdir(out)):
    print("%-24s %7d bytes" % (n, os.path.getsize(os.path.join(out, n))))
