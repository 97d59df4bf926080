"""Certificate rotation as cert-manager + kubelet do it (a ..data symlink swap), under
concurrent load: zero failed requests, new connections get the new certificate within
seconds, and a bad new pair is refused while the old one keeps serving."""
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, load_review, make_certs, run_tests

REVIEW = load_review("pod-create.json")


def der_of(pem_path):
    with open(pem_path) as f:
        pem = f.read()
    first = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return ssl.PEM_cert_to_DER_cert(first)


class SecretDir:
    """A directory laid out like a mounted Secret: tls.crt -> ..data/tls.crt."""

    def __init__(self, root, pair_dir):
        self.root = root
        self.n = 0
        self.swap(pair_dir)
        for name in ("tls.crt", "tls.key"):
            os.symlink(os.path.join("..data", name), os.path.join(root, name))

    def swap(self, pair_dir):
        self.n += 1
        ts = os.path.join(self.root, "..ts%d" % self.n)
        os.mkdir(ts)
        for name in ("tls.crt", "tls.key"):
            shutil.copy(os.path.join(pair_dir, name), os.path.join(ts, name))
        tmp = os.path.join(self.root, "..data_tmp")
        os.symlink(os.path.basename(ts), tmp)
        os.rename(tmp, os.path.join(self.root, "..data"))


class Load:
    """Threads sending reviews, half on fresh connections (new handshakes), half on
    keep-alive connections; every failure is recorded."""

    def __init__(self, srv, threads=4):
        self.srv, self.stop_flag = srv, threading.Event()
        self.ok = 0
        self.failures = []
        self.seen = []  # (time, der) of certificates presented on fresh connections
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(i % 2 == 0,)) for i in range(threads)]

    def run(self, fresh):
        conn = None
        while not self.stop_flag.is_set():
            try:
                if fresh or conn is None:
                    if conn:
                        conn.close()
                    conn = self.srv.conn()
                    conn.connect()
                    der = conn.sock.getpeercert(binary_form=True)
                    with self.lock:
                        self.seen.append((time.time(), der))
                r = self.srv.review("/mutate", REVIEW, conn=conn)
                assert r["response"]["uid"] == REVIEW["request"]["uid"]
                with self.lock:
                    self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure counts
                with self.lock:
                    self.failures.append(repr(e))
                conn = None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def wait_for_cert(load, der, since, timeout=5.0):
    deadline = time.time() + timeout * load.srv.slow
    while time.time() < deadline:
        with load.lock:
            if any(t >= since and d == der for t, d in load.seen):
                return time.time() - since
        time.sleep(0.05)
    raise AssertionError("new certificate not served within %ss" % timeout)


def test_rotation_under_load_and_bad_pairs_refused():
    tmp = tempfile.mkdtemp(prefix="ag-rot-")
    first = make_certs(os.path.join(tmp, "a"))
    second = make_certs(os.path.join(tmp, "b"), CA_DIR=first)
    other = make_certs(os.path.join(tmp, "c"), CA_DIR=first)
    secret = os.path.join(tmp, "secret")
    os.mkdir(secret)
    sd = SecretDir(secret, first)
    srv = Server(certs=first)
    srv.args[srv.args.index("--tls-cert") + 1] = os.path.join(secret, "tls.crt")
    srv.args[srv.args.index("--tls-key") + 1] = os.path.join(secret, "tls.key")
    with srv:
        with Load(srv) as load:
            time.sleep(0.5)
            t0 = time.time()
            sd.swap(second)
            took = wait_for_cert(load, der_of(os.path.join(second, "tls.crt")), t0)
            print("new certificate served after %.2fs" % took)
            time.sleep(0.5)
            # a mismatched pair (key of another certificate) is refused
            mismatch = os.path.join(tmp, "mismatch")
            os.mkdir(mismatch)
            shutil.copy(os.path.join(other, "tls.crt"), mismatch)
            shutil.copy(os.path.join(second, "tls.key"), mismatch)
            sd.swap(mismatch)
            time.sleep(2.5)
            # a half-written certificate is refused too
            half = os.path.join(tmp, "half")
            os.mkdir(half)
            data = open(os.path.join(other, "tls.crt")).read()
            open(os.path.join(half, "tls.crt"), "w").write(data[: len(data) // 2])
            shutil.copy(os.path.join(other, "tls.key"), half)
            sd.swap(half)
            time.sleep(2.5)
            t1 = time.time()
            time.sleep(0.5)
        with load.lock:
            late = [d for t, d in load.seen if t >= t1]
        assert late and all(d == der_of(os.path.join(second, "tls.crt")) for d in late), \
            "a refused pair was served"
        assert not load.failures, load.failures[:5]
        assert load.ok > 50, load.ok
        print("requests during rotation: %d ok, %d failed" % (load.ok, len(load.failures)))
        assert srv.metric("aimguard_tls_reload_failures_total") == 2, srv.metrics()
        # the good pair finally arrives and is taken
        t2 = time.time()
        sd.swap(other)
        deadline = time.time() + 5
        while time.time() < deadline:
            c = srv.conn()
            c.connect()
            if c.sock.getpeercert(binary_form=True) == der_of(os.path.join(other, "tls.crt")):
                c.close()
                break
            c.close()
            time.sleep(0.1)
        else:
            raise AssertionError("repaired pair not taken")
        print("repaired pair served after %.2fs" % (time.time() - t2))
        logs = srv.logs()
    assert "new certificate refused" in logs and "does not hold the private key" in logs, logs[-3000:]
    assert "PRIVATE KEY" not in logs
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
