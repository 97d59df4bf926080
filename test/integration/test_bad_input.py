"""Every bad-input class the webhook must answer with a clear 4xx (and survive)."""
import json
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, load_review, run_tests

GOOD = load_review("pod-create.json")


def raw(srv, payload, read_timeout=10):
    """Sends raw bytes over TLS and returns the status line and body."""
    ctx = srv.ssl_context()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=read_timeout) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            try:
                t.sendall(payload)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                pass  # the server may refuse (and close) before the whole payload is sent
            data = b""
            while True:
                try:
                    chunk = t.recv(65536)
                except (ssl.SSLError, ConnectionResetError):
                    break
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    head, _, body = data.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            if len(body) >= int(line.split(b":")[1]):
                                return data
    return data


def status_of(data):
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None


def expect(srv, method, path, body, headers, code, words):
    status, hdrs, data = srv.request(method, path, body, headers=headers)
    assert status == code, (method, path, status, data)
    text = data.decode()
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)  # one line
    for w in words:
        assert w in text, (w, text)
    return hdrs


def test_methods_routes_and_types():
    with Server() as srv:
        h = expect(srv, "GET", "/mutate", None, {}, 405, ["POST"])
        assert h.get("Allow") == "POST", h
        expect(srv, "PUT", "/validate", json.dumps(GOOD), {}, 405, ["POST"])
        expect(srv, "POST", "/nope", json.dumps(GOOD), {}, 404, ["/mutate"])
        expect(srv, "POST", "/healthz", "{}", {}, 405, ["GET"])
        expect(srv, "POST", "/mutate", json.dumps(GOOD), {"Content-Type": "text/plain"}, 415,
               ["application/json"])
        expect(srv, "POST", "/mutate", json.dumps(GOOD), {"Content-Type": "application/x-yaml"}, 415, [])
        # parameters on the media type are fine
        status, _, _ = srv.request("POST", "/mutate", GOOD, headers={"Content-Type": "application/json; charset=utf-8"})
        assert status == 200


def test_malformed_reviews_get_400_with_reason():
    cases = [
        (b"{not json", "malformed JSON"),
        (b"[]", "not a JSON object"),
        (b'{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}', "apiVersion"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"Review","request":{}}', "kind must be AdmissionReview"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "request"),
        (json.dumps(dict(GOOD, request=dict(GOOD["request"], uid=""))).encode(), "uid"),
        (json.dumps(dict(GOOD, request={k: v for k, v in GOOD["request"].items() if k != "uid"})).encode(), "uid"),
        (json.dumps(dict(GOOD, request=dict(GOOD["request"], operation="EXPLODE"))).encode(), "operation"),
        (json.dumps(dict(GOOD, request=dict(GOOD["request"], object="x"))).encode(), "object"),
        (b'{"apiVersion":"admission.k8s.io/v1","apiVersion":"x"}', "duplicate"),
        (b"[" * 100000 + b"]" * 100000, "deeper than"),
        (b'{"a":"\xff\xfe"}', "malformed JSON"),
        (b'{"a":"nul\\u0000"}', "malformed JSON"),
        (b"", "empty body"),
    ]
    with Server() as srv:
        conn = srv.conn()
        for body, word in cases:
            status, _, data = srv.request("POST", "/validate", body, conn=conn)
            assert status == 400, (body[:80], status, data)
            assert word in data.decode(errors="replace"), (word, data)
        conn.close()
        # still answering well after all of that
        assert srv.review("/validate", GOOD)["response"]["uid"] == GOOD["request"]["uid"]
        m = srv.metrics()
        assert 'decision="error"' in m


def test_refusals_are_counted_and_logged():
    """404, 405, 413, 415 and an empty body are answered through the same finishing point
    as decisions: each shows in /metrics (by route and status) and in the log, with why."""
    with Server(extra_args=["--max-body", "65536"]) as srv:
        conn = srv.conn()
        for method, path, body, headers, code in (
                ("POST", "/nope", b"{}", {}, 404),
                ("GET", "/mutate", None, {}, 405),
                ("POST", "/validate", json.dumps(GOOD), {"Content-Type": "text/plain"}, 415),
                ("POST", "/validate", b"", {}, 400)):
            status, _, _ = srv.request(method, path, body, headers=headers, conn=conn)
            assert status == code, (method, path, status)
        conn.close()
        data = raw(srv, b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n")
        assert status_of(data) == 413, data[:200]
        assert srv.review("/mutate", GOOD)["response"]["uid"] == GOOD["request"]["uid"]
        m = srv.metrics()
        for route, code in (("other", 404), ("mutate", 405), ("validate", 415), ("validate", 400),
                            ("mutate", 413), ("mutate", 200)):
            series = 'aimguard_http_responses_total{route="%s",code="%d"} 1' % (route, code)
            assert series in m, (series, [l for l in m.splitlines() if "responses" in l])
        # refusals on the admission routes are admission requests that ended in error
        assert 'aimguard_requests_total{route="mutate",kind="_none",operation="_none",decision="error"} 2' in m, m
        assert 'aimguard_requests_total{route="validate",kind="_none",operation="_none",decision="error"} 2' in m, m
        lines = srv.log_lines()
    refused = {(l.get("route"), l.get("status")): l for l in lines if l["msg"] == "request refused"}
    for key in (("other", "404"), ("mutate", "405"), ("validate", "415"), ("mutate", "413")):
        assert key in refused, (key, refused)
        assert refused[key]["level"] == "warn" and refused[key]["reason"], refused[key]
    assert refused[("other", "404")]["path"] == "/nope", refused
    assert "application/json" in refused[("validate", "415")]["reason"]
    bad = [l for l in lines if l["msg"] == "bad admission request"]
    assert any(l["route"] == "validate" and l["reason"] == "empty body" for l in bad), bad


def test_body_limits():
    with Server(extra_args=["--max-body", "65536"]) as srv:
        big = json.dumps(dict(GOOD, padding="x" * 70000)).encode()
        # a Content-Length over the limit is answered before any of the body is read
        data = raw(srv, b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(big))
        assert status_of(data) == 413 and b"65536" in data, data[:300]
        # chunked: no Content-Length, the limit still holds
        body = big
        req = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(body), 8192):
            part = body[i:i + 8192]
            req += b"%x\r\n" % len(part) + part + b"\r\n"
        req += b"0\r\n\r\n"
        data = raw(srv, req)
        assert status_of(data) == 413, data[:200]
        # a body just under the limit is fine
        ok = json.dumps(GOOD).encode()
        assert srv.request("POST", "/validate", ok)[0] == 200


def test_default_limit_is_3mib():
    with Server() as srv:
        data = raw(srv, b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % (3 * 1024 * 1024 + 1))
        assert status_of(data) == 413 and b"3145728" in data, data[:300]
        body = json.dumps(dict(GOOD, padding="x" * (2 * 1024 * 1024))).encode()
        assert srv.request("POST", "/mutate", body)[0] == 200


def test_plain_http_to_tls_port_is_refused_and_server_survives():
    with Server() as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            try:
                data = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                data = b""
            assert not data.startswith(b"HTTP/1.1 200"), data
        assert srv.review("/validate", GOOD)["response"]["uid"] == GOOD["request"]["uid"]


def test_oversized_headers_are_refused():
    with Server() as srv:
        for head in (b"X-Big: " + b"a" * 100000 + b"\r\n",                      # one huge header
                     b"".join(b"X-H%d: v\r\n" % i for i in range(5000))):      # very many headers
            data = raw(srv, b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + head +
                       b"Content-Length: 2\r\n\r\n{}")
            code = status_of(data)
            assert code in (None, 413, 431), data[:200]   # refused or connection closed, never served
        assert srv.review("/validate", GOOD)["response"]["uid"] == GOOD["request"]["uid"]


def test_tls_versions():
    with Server() as srv:
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = srv.ssl_context()
            ctx.minimum_version = ctx.maximum_version = version
            with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    assert t.version() in ("TLSv1.2", "TLSv1.3")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            return  # this OpenSSL cannot even offer TLS 1.1
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
            try:
                ctx.wrap_socket(s, server_hostname="localhost")
                raise AssertionError("TLS 1.1 handshake succeeded")
            except (ssl.SSLError, ConnectionResetError):
                pass


if __name__ == "__main__":
    run_tests(globals())
