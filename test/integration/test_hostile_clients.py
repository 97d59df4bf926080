"""Hostile clients on loopback: idle connections by the thousand, slowloris headers and
bodies, clients that never read, handshake floods, chunked bodies that never end. The
server must keep answering a well-behaved client (its latency is measured and printed)
and stay bounded in memory."""
import json
import os
import resource
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, load_review, run_tests

REVIEW = load_review("pod-create.json")
BODY = json.dumps(REVIEW).encode()


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def probe_latency(srv, n=100):
    """A well-behaved client: n reviews on one keep-alive connection; returns ms list."""
    conn = srv.conn(timeout=10)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = srv.review("/validate", REVIEW, conn=conn)
        times.append((time.perf_counter() - t0) * 1000)
        assert r["response"]["uid"] == REVIEW["request"]["uid"]
    conn.close()
    return sorted(times)


def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def test_thousands_of_idle_connections():
    hard = raise_fd_limit()
    n = min(2000, hard - 200)
    with Server() as srv:
        base = probe_latency(srv)
        rss0 = rss_mib(srv.proc.pid)
        ctx = srv.ssl_context()
        socks = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            if i % 2 == 0:  # half complete the handshake and then say nothing
                s = ctx.wrap_socket(s, server_hostname="localhost")
            socks.append(s)
        during = probe_latency(srv)
        rss1 = rss_mib(srv.proc.pid)
        print("idle connections: %d; probe p50/p99 %.2f/%.2f ms before, %.2f/%.2f ms during; RSS %.1f -> %.1f MiB"
              % (n, pct(base, 50), pct(base, 99), pct(during, 50), pct(during, 99), rss0, rss1))
        assert pct(during, 99) < 200 * srv.slow, during[-5:]
        assert rss1 - rss0 < 256, (rss0, rss1)
        for s in socks:
            s.close()
        assert probe_latency(srv, 10)


def slow_sender(port, payload, delay, stop):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname="localhost")
        for b in payload:
            if stop.is_set():
                break
            t.send(bytes([b]))
            time.sleep(delay)
        t.close()
    except OSError:
        pass  # the server closing a slow client is the point


def test_slowloris_headers_bodies_and_endless_chunks_are_cut_off():
    with Server(extra_args=["--idle-timeout", "2"]) as srv:
        stop = threading.Event()
        head = b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        payloads = [head + b"X-Slow: " + b"a" * 200,                                  # headers never end
                    head + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY[:50]]      # body never completes
        threads = [threading.Thread(target=slow_sender, args=(srv.port, payloads[i % 2], 3.0, stop))
                   for i in range(100)]
        for t in threads:
            t.start()
        # an endless chunked body, one chunk every 3 s: longer than the idle timeout
        ctx = srv.ssl_context()
        c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=15), server_hostname="localhost")
        c.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.5)
        during = probe_latency(srv)
        t0 = time.time()
        closed = False
        try:
            while time.time() - t0 < 12:
                data = c.recv(1024)
                if not data:
                    closed = True
                    break
        except (OSError, ssl.SSLError):
            closed = True
        assert closed, "an endless chunked body was not cut off"
        print("slow clients: 100 + 1 endless chunked body; probe p50/p99 %.2f/%.2f ms; cut off after %.1f s"
              % (pct(during, 50), pct(during, 99), time.time() - t0))
        assert pct(during, 99) < 200 * srv.slow
        stop.set()
        for t in threads:
            t.join()
        assert probe_latency(srv, 10)


def test_clients_that_never_read_and_handshake_floods():
    raise_fd_limit()
    big = json.load(open(os.path.join(os.path.dirname(__file__), "..", "fixtures", "reviews", "pod-unhardened.json")))
    obj = big["request"]["object"]
    c0 = obj["spec"]["containers"][0]
    obj["spec"]["containers"] = [dict(c0, name="c%d" % i, env=[{"name": "V%d" % j, "value": "x" * 50} for j in range(40)])
                                 for i in range(50)]
    body = json.dumps(big).encode()
    with Server(extra_args=["--idle-timeout", "3"]) as srv:
        ctx = srv.ssl_context()
        deaf = []
        for _ in range(50):  # ask for a ~400 KB answer, then never read it
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10), server_hostname="localhost")
            s.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            deaf.append(s)
        errors = []

        def flood():
            for _ in range(100):
                try:
                    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                    t = ctx.wrap_socket(s, server_hostname="localhost")
                    t.close()
                except (OSError, ssl.SSLError) as e:
                    errors.append(repr(e))
        floods = [threading.Thread(target=flood) for _ in range(4)]
        for t in floods:
            t.start()
        during = probe_latency(srv)
        for t in floods:
            t.join()
        print("50 deaf clients + 400 handshakes: probe p50/p99 %.2f/%.2f ms; handshake errors %d; RSS %.1f MiB"
              % (pct(during, 50), pct(during, 99), len(errors), rss_mib(srv.proc.pid)))
        assert not errors, errors[:3]
        assert pct(during, 99) < 500 * srv.slow  # under valgrind (AG_VALGRIND) memory, not speed, is judged
        for s in deaf:
            s.close()


def test_hostile_json_bodies():
    cases = {
        "huge array": b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":'
                      b'{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"apiVersion":"v1",'
                      b'"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}],'
                      b'"tolerations":[' + b",".join([b"{}"] * 400000) + b"]}}}}",
        "number out of range": b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
                               b'"kind":{"kind":"Pod"},"operation":"CREATE","object":{"a":123456789012345678901234567890}}}',
        "float out of range": b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",'
                              b'"kind":{"kind":"Pod"},"operation":"CREATE","object":{"a":1e99999}}}',
    }
    with Server() as srv:
        for name, body in cases.items():
            t0 = time.perf_counter()
            status, _, data = srv.request("POST", "/validate", body)
            took = (time.perf_counter() - t0) * 1000
            assert status in (200, 400), (name, status, data[:200])
            if status == 200:
                assert json.loads(data)["response"]["uid"] == "u"
            print("%s: HTTP %d in %.1f ms" % (name, status, took))
        assert probe_latency(srv, 10)


if __name__ == "__main__":
    run_tests(globals())
