"""Running aimguard against a kubeenv.Cluster: the way deploy/ runs it (the overlay's
args, the ServiceAccount token, the webhook registrations), on loopback."""
import json
import os
import signal
import time

from kubeenv import ApiError
from agharness import Server

# the Deployment's args that name paths inside the pod; the harness gives its own
PATH_FLAGS = ("--listen", "--metrics-listen", "--tls-cert", "--tls-key", "--policies")


def overlay_args(cluster):
    out = []
    for a in cluster.aimguard_args()[1:]:
        if a.split("=", 1)[0] not in PATH_FLAGS:
            out.append(a)
    return out


def start_aimguard(cluster, identity="replica-a", port=None, extra=(), policies=None, lease=3,
                   register=True):
    port = port if port is not None else cluster.webhook_port
    args = overlay_args(cluster) + [
        "--listen=127.0.0.1:%d" % port, "--kubeconfig", cluster.sa_kubeconfig,
        "--system-namespace", "aimguard-system", "--identity", identity,
        "--lease-seconds", str(lease), "--shutdown-grace", "1"] + list(extra)
    s = Server(policies=policies, extra_args=args, certs=cluster.certs)
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
