"""A listener that cannot start says why, from the kernel's errno: address in use (also by
a second aimguard: SO_REUSEPORT is not set, so two servers never share a port silently),
an address that is not this host's, no permission for a port below 1024 (the binary run
without CAP_NET_BIND_SERVICE through setpriv, even as root)."""
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, Server, run_cli, run_tests, shared_certs


def serve(listen, metrics="off"):
    certs = shared_certs()
    return run_cli("serve", "--listen", listen, "--metrics-listen", metrics, "--metrics-insecure",
                   "--tls-cert", os.path.join(certs, "tls.crt"), "--tls-key", os.path.join(certs, "tls.key"),
                   "--policies", os.path.join(SRC, "policies", "default"), timeout=20)


def test_address_in_use_is_named():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        code, _, err = serve("127.0.0.1:%d" % port)
        assert code == 1, (code, err)
        assert "cannot listen on 127.0.0.1:%d: Address already in use (another process listens" % port in err, err
        # the metrics listener says the same about its own address
        code, _, err = serve("127.0.0.1:0", metrics="127.0.0.1:%d" % port)
        assert code == 1 and "cannot listen on 127.0.0.1:%d: Address already in use" % port in err, err
    finally:
        s.close()


def test_second_server_on_the_same_port_fails():
    with Server() as srv:
        code, _, err = serve("127.0.0.1:%d" % srv.port)
        assert code == 1 and "Address already in use" in err, (code, err)


def test_foreign_address_is_named():
    code, _, err = serve("192.0.2.7:9443")  # TEST-NET-1: never this host's
    assert code == 1 and "cannot listen on 192.0.2.7:9443: Cannot assign requested address (the address is " \
                         "not one of this host's)" in err, err


def test_permission_is_named():
    low = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    setpriv = shutil.which("setpriv")
    if low <= 81 or not setpriv:
        print("skipped: ports below 1024 are unprivileged here, or setpriv is missing")
        return
    certs = shared_certs()
    from agharness import BIN
    p = subprocess.run([setpriv, "--bounding-set", "-net_bind_service", BIN, "serve", "--listen", "127.0.0.1:81",
                        "--metrics-listen", "off", "--tls-cert", os.path.join(certs, "tls.crt"),
                        "--tls-key", os.path.join(certs, "tls.key"),
                        "--policies", os.path.join(SRC, "policies", "default")], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "cannot listen on 127.0.0.1:81: Permission denied (ports below 1024 need root or " \
           "CAP_NET_BIND_SERVICE" in p.stderr, p.stderr


if __name__ == "__main__":
    run_tests(globals())
