"""TLS as a client sees it, with openssl s_client: TLS 1.2 and 1.3 with AEAD ciphers are
accepted; SSL 3 / TLS 1.0 / 1.1, CBC and non-forward-secret suites are refused; a
client-initiated renegotiation does not go through."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import Server, run_tests


def s_client(srv, *opts, stdin=b"", timeout=10):
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port,
                        "-CAfile", os.path.join(srv.certs, "ca.crt"), "-servername", "localhost"] + list(opts),
                       input=stdin, capture_output=True, timeout=timeout)
    return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def negotiated(out):
    for line in out.splitlines():
        if "Cipher is" in line:
            return line.split("Cipher is", 1)[1].strip()
    return None


def test_protocols_and_ciphers():
    with Server() as srv:
        for opts in (["-tls1_3"], ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"]):
            out = s_client(srv, *opts)
            c = negotiated(out)
            assert c and c != "(NONE)" and "Verify return code: 0 (ok)" in out, (opts, out[-800:])
        for opts in (["-tls1"], ["-tls1_1"], ["-tls1_2", "-cipher", "AES128-SHA"],
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"], ["-tls1_2", "-cipher", "AES128-GCM-SHA256"],
                     ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"]):
            out = s_client(srv, *opts)
            assert negotiated(out) in (None, "(NONE)"), (opts, out[-800:])
        # the server still serves after all the refused handshakes
        assert srv.request("GET", "/healthz")[0] == 200


def test_no_client_initiated_renegotiation():
    with Server() as srv:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.port, "-tls1_2",
                              "-CAfile", os.path.join(srv.certs, "ca.crt"), "-servername", "localhost"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        got = []
        reader = threading.Thread(target=lambda: got.extend(iter(p.stdout.readline, b"")), daemon=True)
        reader.start()
        p.stdin.write(req)
        p.stdin.flush()
        # the first answer arrives before the renegotiation is asked for (a slow run, e.g.
        # under valgrind, must not turn this into a test of timing)
        deadline = time.time() + 30
        while b"HTTP/1.1 200" not in b"".join(got) and time.time() < deadline:
            time.sleep(0.05)
        p.stdin.write(b"R\n")   # s_client: renegotiate
        p.stdin.flush()
        time.sleep(1.0)
        try:
            p.stdin.write(req)
            p.stdin.flush()
            time.sleep(0.5)
            p.stdin.close()
        except BrokenPipeError:
            pass
        p.wait(timeout=30)
        reader.join(timeout=10)
        out = b"".join(got).decode(errors="replace")
        assert out.count("HTTP/1.1 200") == 1, out[-1500:]   # nothing after the renegotiation attempt
        assert srv.request("GET", "/healthz")[0] == 200


if __name__ == "__main__":
    run_tests(globals())
