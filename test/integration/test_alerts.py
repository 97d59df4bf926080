"""The alerts docs/operations.md recommends, evaluated against what real servers serve on
/metrics: each state alert fires exactly while its problem lasts (a broken policy file
deployed; replicas serving different policy files; a certificate pair refused; a
certificate about to expire) and is quiet otherwise. The expressions are read from the document, so the docs cannot drift
from the metrics; a small evaluator covers the PromQL they use (selectors, count/sum/max
[by], arithmetic and comparisons with numbers, time()). Alerts over rates need a series
of scrapes (and `up` is Prometheus' own): for those, the metrics they name must exist."""
import os
import re
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, Server, make_certs, run_tests

OPS = os.path.join(SRC, "docs", "operations.md")


def alerts():
    text = open(OPS).read()
    block = re.search(r"## Alerts worth having\n\n```yaml\n(.*?)```", text, re.S).group(1)
    return {a["alert"]: a for a in yaml.safe_load(block)}


# ---- scraping ----

def samples(text, instance):
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$', line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        labels["__name__"] = m.group(1)
        labels["instance"] = instance
        out.append((labels, float(m.group(4))))
    return out


# ---- a small PromQL evaluator: enough for the state alerts of operations.md ----

TOKEN = re.compile(r'\s*(?:(\d+(?:\.\d+)?)|([a-zA-Z_:][\w:]*)|("(?:[^"\\]|\\.)*")|(==|!=|>=|<=|[-+*/(){},=<>\[\]]))')


def tokenize(expr):
    pos, toks = 0, []
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        assert m and m.end() > pos, "cannot read %r at %d" % (expr, pos)
        num, ident, string, op = m.groups()
        toks.append(("num", float(num)) if num else ("id", ident) if ident else ("str", string[1:-1]) if string
                    else ("op", op))
        pos = m.end()
    return toks


class Eval:
    AGGR = {"count": len, "sum": sum, "max": max, "min": min}

    def __init__(self, expr, data, now):
        self.t, self.i, self.data, self.now = tokenize(expr), 0, data, now
        assert not any(t == ("op", "[") for t in self.t), "range selectors need a series of scrapes: " + expr

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, want=None):
        tok = self.peek()
        assert want is None or tok[1] == want, (want, tok)
        self.i += 1
        return tok

    def run(self):
        v = self.cmp()
        assert self.i == len(self.t), "unread: %r" % (self.t[self.i:],)
        return v

    def cmp(self):
        left = self.add()
        if self.peek()[1] in ("==", "!=", ">", "<", ">=", "<="):
            op = self.take()[1]
            right = self.add()
            f = {"==": float.__eq__, "!=": float.__ne__, ">": float.__gt__, "<": float.__lt__,
                 ">=": float.__ge__, "<=": float.__le__}[op]
            assert isinstance(left, list) and not isinstance(right, list), "vector <op> number only"
            return [(l, v) for l, v in left if f(float(v), float(right))]
        return left

    def add(self):
        v = self.mul()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            v = self.arith(v, self.mul(), (lambda a, b: a + b) if op == "+" else (lambda a, b: a - b))
        return v

    def mul(self):
        v = self.atom()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            v = self.arith(v, self.atom(), (lambda a, b: a * b) if op == "*" else (lambda a, b: a / b))
        return v

    @staticmethod
    def arith(a, b, f):
        if isinstance(a, list):
            assert not isinstance(b, list)
            return [({k: x for k, x in l.items() if k != "__name__"}, f(v, b)) for l, v in a]
        if isinstance(b, list):
            return [({k: x for k, x in l.items() if k != "__name__"}, f(a, v)) for l, v in b]
        return f(a, b)

    def labels(self):
        self.take("(")
        names = []
        while self.peek()[1] != ")":
            names.append(self.take()[1])
            if self.peek()[1] == ",":
                self.take()
        self.take(")")
        return names

    def atom(self):
        kind, val = self.take()
        if kind == "num":
            return val
        if val == "(":
            v = self.cmp()
            self.take(")")
            return v
        assert kind == "id", (kind, val)
        if val == "time":
            self.take("(")
            self.take(")")
            return self.now
        if val in self.AGGR:
            by = self.labels() if self.peek()[1] == "by" and self.take() else None
            self.take("(")
            inner = self.cmp()
            self.take(")")
            if by is None and self.peek()[1] == "by":
                self.take()
                by = self.labels()
            groups = {}
            for l, v in inner:
                key = tuple((n, l.get(n, "")) for n in (by or []))
                groups.setdefault(key, []).append(v)
            return [(dict(k), float(self.AGGR[val](vs))) for k, vs in groups.items()]
        assert val not in ("rate", "increase", "histogram_quantile", "absent"), val
        match = {"__name__": val}
        if self.peek()[1] == "{":
            self.take()
            while self.peek()[1] != "}":
                name = self.take()[1]
                self.take("=")
                match[name] = self.take()[1]
                if self.peek()[1] == ",":
                    self.take()
            self.take("}")
        return [(l, v) for l, v in self.data if all(l.get(k) == x for k, x in match.items())]


def firing(alert, *servers):
    data = []
    for i, srv in enumerate(servers):
        data += samples(srv.metrics(), "replica-%d" % i)
    return bool(Eval(alert["expr"], data, time.time()).run())


def wait_for(what, cond, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def gauge(srv, name):
    for l, v in samples(srv.metrics(), "x"):
        if l["__name__"] == name:
            return v
    return None


# ---- the alerts ----

def test_policy_refused_fires_exactly_while_a_broken_file_is_deployed():
    a = alerts()["AimguardPolicyRefused"]
    with Server() as srv:
        assert gauge(srv, "aimguard_policy_last_reload_ok") == 1 and not firing(a, srv)
        bad = os.path.join(srv.policies, "50-broken.yaml")
        with open(bad, "w") as f:
            f.write("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: b}\n"
                    "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: strict}}\n")
        wait_for("the reload to be refused", lambda: gauge(srv, "aimguard_policy_last_reload_ok") == 0)
        assert gauge(srv, "aimguard_policy_failing_files") == 1
        assert firing(a, srv)
        # an unrelated good change does not clear it while the broken file is still there
        with open(os.path.join(srv.policies, "60-other.yaml"), "w") as f:
            f.write("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: o}\n"
                    "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n")
        refused = gauge(srv, "aimguard_policy_reload_failures_total")
        wait_for("the second refusal", lambda: gauge(srv, "aimguard_policy_reload_failures_total") > refused)
        assert firing(a, srv) and gauge(srv, "aimguard_policy_failing_files") == 1
        os.unlink(bad)
        wait_for("the repaired set to load", lambda: gauge(srv, "aimguard_policy_last_reload_ok") == 1)
        assert not firing(a, srv) and gauge(srv, "aimguard_policy_failing_files") == 0


def test_server_starting_on_broken_files_fires():
    a = alerts()["AimguardPolicyRefused"]
    d = tempfile.mkdtemp()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    try:
        for name in ("a.yaml", "b.yaml"):
            with open(os.path.join(d, name), "w") as f:
                f.write("kind: [\n")
        # unready (no valid policies), so no ready file: the metrics port is chosen here
        srv = Server(policies=d, extra_args=["--metrics-listen", "127.0.0.1:%d" % port]).start(wait_ready=False)
        srv.metrics_port = port

        def scraped():
            try:
                return gauge(srv, "aimguard_policy_last_reload_ok") is not None
            except OSError:
                return False
        try:
            wait_for("the metrics listener", scraped)
            assert gauge(srv, "aimguard_policy_last_reload_ok") == 0
            assert gauge(srv, "aimguard_policy_failing_files") == 2
            assert firing(a, srv)
        finally:
            srv.stop(expect_code=0)
    finally:
        shutil.rmtree(d)


def test_replicas_on_different_policies_fires_on_content_not_generation():
    a = alerts()["AimguardReplicasOnDifferentPolicies"]
    with Server() as one, Server() as two:
        assert not firing(a, one, two)
        # a reload of the same content moves the generation on one replica only: still quiet
        p = os.path.join(two.policies, "00-pod-hardening.yaml")
        os.utime(p, (time.time() + 5, time.time() + 5))
        wait_for("the reload", lambda: gauge(two, "aimguard_policy_generation") == 2)
        assert gauge(one, "aimguard_policy_generation") == 1 and not firing(a, one, two)
        # different content: fires until the replicas agree again
        original = open(p).read()
        with open(p, "a") as f:
            f.write("\n# a comment is a change of the file\n")
        wait_for("the second reload", lambda: gauge(two, "aimguard_policy_generation") == 3)
        assert firing(a, one, two)
        with open(p, "w") as f:
            f.write(original)
        wait_for("the third reload", lambda: gauge(two, "aimguard_policy_generation") == 4)
        assert not firing(a, one, two)


def test_certificate_expiry_alert():
    a = alerts()["AimguardCertificateExpiresSoon"]
    with Server() as srv:  # the dev certificate is valid for a year
        assert not firing(a, srv)
    certs = make_certs(tempfile.mkdtemp(prefix="ag-certs-short-"), DAYS="3")
    try:
        with Server(certs=certs) as srv:
            assert firing(a, srv)
    finally:
        shutil.rmtree(certs)


def test_certificate_refused_fires_while_the_broken_pair_is_on_disk():
    a = alerts()["AimguardCertificateRefused"]
    certs = make_certs(tempfile.mkdtemp(prefix="ag-certs-own-"))
    try:
        with Server(certs=certs) as srv:
            assert gauge(srv, "aimguard_tls_last_reload_ok") == 1 and not firing(a, srv)
            crt = os.path.join(certs, "tls.crt")
            good = open(crt).read()
            with open(crt, "w") as f:
                f.write(good[: len(good) // 2])  # half-written
            wait_for("the pair to be refused", lambda: gauge(srv, "aimguard_tls_last_reload_ok") == 0)
            assert firing(a, srv)
            time.sleep(1.5)  # later polls see the same broken pair: still firing
            assert firing(a, srv)
            with open(crt, "w") as f:
                f.write(good)
            wait_for("the pair to load", lambda: gauge(srv, "aimguard_tls_last_reload_ok") == 1)
            assert not firing(a, srv)
    finally:
        shutil.rmtree(certs)


def test_other_alerts_name_served_metrics():
    with Server() as srv:
        names = {l["__name__"] for l, _ in samples(srv.metrics(), "x")}
        names |= {n + s for n in list(names) for s in ("_bucket", "_sum", "_count")}
    for name, a in alerts().items():
        for metric in re.findall(r"aimguard_[a-z_]+", a["expr"]):
            assert metric in names or metric + "_bucket" in names, (name, metric)


if __name__ == "__main__":
    run_tests(globals())
