"""Start-up, health, readiness, metrics and graceful stop of the real server."""
import json
import os
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, load_review, run_tests

REVIEW = load_review("pod-create.json")


def test_health_ready_and_metrics_over_tls():
    with Server(metrics_tls=True) as srv:
        assert srv.request("GET", "/healthz")[0] == 200
        status, _, body = srv.request("GET", "/readyz")
        assert status == 200 and json.loads(body) == {"ready": True, "policyGeneration": 1, "stopping": False}
        # metrics are TLS unless --metrics-insecure
        import http.client
        c = http.client.HTTPSConnection("127.0.0.1", srv.metrics_port, context=srv.ssl_context(), timeout=5)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        assert r.status == 200 and "aimguard_build_info" in text, text[:300]
        for name in ("aimguard_requests_total", "aimguard_request_duration_seconds",
                     "aimguard_policy_reload_failures_total", "aimguard_policy_generation",
                     "aimguard_tls_cert_expiry_timestamp_seconds", "aimguard_inflight_requests"):
            assert "# TYPE %s " % name in text, name
        c.close()
    lines = srv.log_lines()
    assert all({"time", "level", "msg"} <= set(l) for l in lines), lines
    assert any(l["msg"] == "aimguard serving" for l in lines)
    assert any("cluster view and the reconciler are off" in l["msg"] for l in lines)


def test_sigterm_finishes_in_flight_requests_then_exits_0():
    srv = Server()
    srv.start()
    try:
        idle = srv.conn()
        idle.request("GET", "/healthz")
        assert idle.getresponse().read() == b"ok\n"
        body = json.dumps(REVIEW).encode()
        ctx = srv.ssl_context()
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10),
                            server_hostname="localhost")
        s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        time.sleep(0.3)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert srv.proc.poll() is None, "exited with a request in flight"
        idle.request("GET", "/readyz")
        r = idle.getresponse()
        assert r.status == 503 and json.loads(r.read())["stopping"] is True
        s.sendall(body[100:])
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        resp = json.loads(data.partition(b"\r\n\r\n")[2])
        assert resp["response"]["uid"] == REVIEW["request"]["uid"]
        s.close()
        srv.proc.wait(timeout=10)
        assert srv.proc.returncode == 0, srv.logs()
        # new connections are refused once stopping
    finally:
        srv.stop(expect_code=0)
        logs = srv.logs()
        srv.cleanup()
    assert "stopping: readiness off" in logs and '"msg":"stopped"' in logs, logs


def test_bad_flags_and_missing_certificates():
    from agharness import run_cli
    code, _, err = run_cli("serve", "--log-level", "loud")
    assert code == 2 and "--log-level" in err
    code, _, err = run_cli("serve", "--max-body", "12")
    assert code == 2 and "--max-body" in err
    code, _, err = run_cli("serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off",
                           "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key",
                           "--policies", "/nonexistent")
    assert code == 1 and "/nonexistent/tls.crt" in err, err


def test_unready_until_policies_are_valid():
    srv = Server()
    with open(os.path.join(srv.policies, "00-pod-hardening.yaml"), "a") as f:
        f.write("  bogus: 1\n")
    srv.start(wait_ready=False)
    try:
        deadline = time.time() + 10 * srv.slow
        while "unknown field 'bogus'" not in srv.logs() and time.time() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(srv.ready_file)
        assert srv.proc.poll() is None
        logs = srv.logs()
        assert "unknown field 'bogus'" in logs and "00-pod-hardening.yaml:" in logs, logs
        # fix the file: the server loads it live and becomes ready
        path = os.path.join(srv.policies, "00-pod-hardening.yaml")
        text = open(path).read().replace("  bogus: 1\n", "")
        open(path, "w").write(text)
        srv.wait_ready(timeout=10)
        assert srv.request("GET", "/readyz")[0] == 200
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    run_tests(globals())
