"""Running aimguard against a kubeenv.Cluster: the way deploy/ runs it (the overlay's
args, the ServiceAccount token, the webhook registrations), on loopback."""
import json
import os
import signal
import time

import subprocess

from kubeenv import ApiError
from agharness import Server


class E2EServer(Server):
    """agharness.Server whose aimguard leaves with the test, even a killed one."""

    def start(self, wait_ready=True):
        import ctypes

        def die_with_parent():
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=die_with_parent)
        if wait_ready:
            self.wait_ready()
        return self

# the Deployment's args that name paths inside the pod; the harness gives its own
PATH_FLAGS = ("--listen", "--metrics-listen", "--tls-cert", "--tls-key", "--policies")


def overlay_args(cluster):
    out = []
    for a in cluster.aimguard_args()[1:]:
        if a.split("=", 1)[0] not in PATH_FLAGS:
            out.append(a)
    return out


def start_aimguard(cluster, identity="replica-a", port=None, extra=(), policies=None, lease=3,
                   register=True, kubeconfig=None):
    port = port if port is not None else cluster.webhook_port
    args = overlay_args(cluster) + [
        "--listen=127.0.0.1:%d" % port, "--kubeconfig", kubeconfig or cluster.sa_kubeconfig,
        "--system-namespace", "aimguard-system", "--identity", identity,
        "--shutdown-grace", "1"] + (["--lease-seconds", str(lease)] if lease else []) + list(extra)
    s = E2EServer(policies=policies, extra_args=args, certs=cluster.certs)
    s.start()
    cluster.aimguards.append(s)
    if register and not getattr(cluster, "_registered", False):
        cluster.register_webhooks()
        cluster._registered = True
    return s


def wait_for(what, fn, timeout=30, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except ApiError as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def ns_create(api, name, labels=None):
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name, "labels": labels or {}}})


def pod(name, ns, **spec_extra):
    c = {"name": "app", "image": "registry.example.com/app:1.0"}
    c.update(spec_extra.pop("container", {}))
    spec = {"containers": [c]}
    spec.update(spec_extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def kill(server, sig=signal.SIGKILL):
    server.proc.send_signal(sig)
    if sig in (signal.SIGKILL, signal.SIGTERM):
        server.proc.wait(timeout=30)
        server.log.close()


def leader_of(cluster):
    lease = cluster.admin.maybe("/apis/coordination.k8s.io/v1/namespaces/aimguard-system/leases/aimguard-leader")
    if not lease:
        return None
    return lease["spec"].get("holderIdentity")


def dumps(o):
    return json.dumps(o, sort_keys=True)


__all__ = ["start_aimguard", "wait_for", "ns_create", "pod", "kill", "leader_of", "dumps", "os"]


AIM = "/apis/aim.eai.amd.com/v1alpha1"


def _sample(name):
    import yaml
    from kubeenv import SHARED
    with open(os.path.join(SHARED, "reference", "aim-samples", name)) as f:
        return yaml.safe_load(f)


def aim_world(k, ns, name="test-service", routing=False, create_ns=True):
    """aimservice-basic.yaml in ns with the model it names (an AIMModel with the image of
    the cluster-model sample) and aimservicetemplate-gpu.yaml; returns the AIMService."""
    if create_ns:
        ns_create(k.admin, ns)
    model = {"apiVersion": "aim.eai.amd.com/v1alpha1", "kind": "AIMModel",
             "metadata": {"name": "test-service-model"},
             "spec": {"image": _sample("aimclustermodel.yaml")["spec"]["image"]}}
    for obj, plural in ((model, "aimmodels"), (_sample("aimservicetemplate-gpu.yaml"), "aimservicetemplates")):
        try:
            k.admin.create("%s/namespaces/%s/%s" % (AIM, ns, plural), obj)
        except ApiError as e:
            if e.status != 409:
                raise
    svc = _sample("aimservice-basic.yaml")
    svc["metadata"]["name"] = name
    if routing:
        svc["spec"]["routing"] = {"enabled": True, "gatewayRef": {"name": "gw", "namespace": "gateway"}}
    return k.admin.create("%s/namespaces/%s/aimservices" % (AIM, ns), svc)


def condition(obj, ctype):
    for c in (obj or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


SA_USER = "system:serviceaccount:aimguard-system:aimguard"


def api_calls(k, since=0.0, user=SA_USER):
    """aimguard's requests in the audit log since a time: {verb resource: count} (leases
    and SubjectAccessReviews counted under their own names)."""
    out = {}
    seen = set()
    # one count per request (by auditID), whichever stage logged it: a watch logs
    # ResponseStarted when it begins and ResponseComplete only when it ends
    for e in k.audit_events(user=user, since=since):
        if e.get("auditID") in seen:
            continue
        seen.add(e.get("auditID"))
        ref = e.get("objectRef", {})
        key = "%s %s%s" % (e.get("verb"), ref.get("resource", e.get("requestURI", "")),
                           "/" + ref["subresource"] if ref.get("subresource") else "")
        out[key] = out.get(key, 0) + 1
    return out
