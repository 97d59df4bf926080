"""The module arrows of docs/architecture.md hold at link time: each module's probe
(ag_probe_<module>, a shared object linked with -Wl,--no-undefined from the module's own
objects plus only the modules its arrows allow) fails to link when the module calls a
module it may not reach or an internal (non-ag_*) function of an allowed module, and
links when the same call goes to a public function of an allowed module.

Each case configures a scratch build of this tree with AG_PROBE_EXTRA=<module>=<file.c>,
which compiles one extra source into that module's probe, and builds only that probe."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_tests

BUILD = os.environ.get("AG_BUILD", os.path.join(SRC, "build"))

CALL = """/* a call from the probed module into another module */
extern void %(fn)s(void);
void ag_probe_extra_call(void);
void ag_probe_extra_call(void) { %(fn)s(); }
"""


class Scratch:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ag-arrows-")
        self.build = os.path.join(self.dir, "b")
        self.src = os.path.join(self.dir, "extra.c")

    def link(self, module, fn):
        """Builds ag_probe_<module> with a call to fn; the build's (returncode, output)."""
        with open(self.src, "w") as f:
            f.write(CALL % {"fn": fn})
        p = subprocess.run(["cmake", "-S", SRC, "-B", self.build, "-DCMAKE_BUILD_TYPE=Debug",
                            "-DBUILD_TESTING=OFF", "-DAG_SANITIZE=OFF", "-DAG_TSAN=OFF", "-DAG_FUZZ=OFF",
                            "-DAG_LINK_PROBES=ON", "-DAG_PROBE_EXTRA=%s=%s" % (module, self.src)],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        p = subprocess.run(["cmake", "--build", self.build, "-j2", "--target", "ag_probe_" + module],
                           capture_output=True, text=True, timeout=600)
        return p.returncode, p.stdout + p.stderr

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def assert_forbidden(s, module, fn):
    rc, out = s.link(module, fn)
    assert rc != 0, "%s -> %s linked, but the arrow is forbidden:\n%s" % (module, fn, out[-2000:])
    assert "undefined reference to `%s'" % fn in out, out[-3000:]


def assert_allowed(s, module, fn):
    rc, out = s.link(module, fn)
    assert rc == 0, "%s -> %s failed to link, but the arrow is allowed:\n%s" % (module, fn, out[-3000:])


def test_policy_never_reaches_kube_http_or_reconcile():
    s = Scratch()
    try:
        # the same probe, the same extra source: only the callee changes
        assert_allowed(s, "policy", "ag_buf_clear")          # policy -> core
        assert_forbidden(s, "policy", "ag_kube_new")        # policy -> kube
        assert_forbidden(s, "policy", "ag_http_new")        # policy -> http
        assert_forbidden(s, "policy", "ag_reconciler_start")  # policy -> reconcile
        assert_forbidden(s, "policy", "ag_admission_handle")  # policy -> admission (back-arrow)
    finally:
        s.close()


def test_admission_never_reaches_kube_and_kube_only_core():
    s = Scratch()
    try:
        assert_allowed(s, "admission", "ag_decide")          # admission -> policy
        assert_forbidden(s, "admission", "ag_informers_new")  # admission -> kube
        assert_forbidden(s, "admission", "ag_http_new")      # admission -> http (back-arrow)
        assert_allowed(s, "kube", "ag_strfmt")               # kube -> core
        assert_forbidden(s, "kube", "ag_decide")             # kube -> policy
        assert_forbidden(s, "kube", "ag_reconciler_start")   # kube -> reconcile
    finally:
        s.close()


def test_a_module_reaches_only_the_public_names_of_another():
    s = Scratch()
    try:
        assert_allowed(s, "reconcile", "ag_decide")          # reconcile -> policy, public
        assert_forbidden(s, "reconcile", "pol_verdict")      # policy's internal helper
        assert_forbidden(s, "reconcile", "ag_http_new")      # reconcile -> http
    finally:
        s.close()


def test_audit_reads_kube_and_policy_only():
    """The background audit judges with the policies and talks to the API; it never
    reaches the listeners or the reconciler (serve wires them side by side)."""
    s = Scratch()
    try:
        assert_allowed(s, "audit", "ag_informers_new")       # audit -> kube
        assert_forbidden(s, "audit", "ag_reconciler_start")  # audit -> reconcile
        assert_forbidden(s, "audit", "ag_http_new")          # audit -> http
    finally:
        s.close()


def test_every_module_is_a_library_with_a_probe_in_the_normal_build():
    """The arrow table names every folder of server/, and (unless the build turned the
    probes off: the clang fuzz build) the normal build has linked each module's probe."""
    import re
    cmake = open(os.path.join(SRC, "CMakeLists.txt")).read()
    modules = re.search(r"^set\(AG_MODULES ([^)]*)\)", cmake, re.M).group(1).split()
    folders = sorted(d for d in os.listdir(os.path.join(SRC, "server"))
                     if os.path.isdir(os.path.join(SRC, "server", d)))
    assert sorted(modules) == folders, (modules, folders)
    for m in modules:
        assert re.search(r"^set\(AG_ARROWS_%s\b" % m, cmake, re.M), "no arrow list for " + m
    cache = open(os.path.join(BUILD, "CMakeCache.txt")).read()
    if "AG_LINK_PROBES:BOOL=ON" in cache:
        probes = os.path.join(BUILD, "probes")
        missing = [m for m in modules if not os.path.exists(os.path.join(probes, "libag_probe_%s.so" % m))]
        assert not missing, "the build did not link the probes of %s" % missing


if __name__ == "__main__":
    run_tests(globals())
