"""What `cmake --install` lays out is what deploy/Dockerfile takes, and a source tree without
test/ configures with BUILD_TESTING=OFF (the image's build context has no test/)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_tests

BUILD = os.environ.get("AG_BUILD", os.path.join(SRC, "build"))
DOCKERFILE = os.path.join(SRC, "deploy", "Dockerfile")


def dockerfile():
    return open(DOCKERFILE).read()


def install_tree(prefix):
    p = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return prefix


def test_install_lays_out_binary_policies_and_docs():
    tmp = tempfile.mkdtemp(prefix="ag-install-")
    try:
        prefix = install_tree(os.path.join(tmp, "opt"))
        binary = os.path.join(prefix, "bin", "aimguard")
        assert os.access(binary, os.X_OK), os.listdir(prefix)
        policies = os.path.join(prefix, "share", "aimguard", "policies")
        for sub in ("default", "examples"):
            # the policies, not their tests (aimguard-test.yaml stays in the source tree)
            want = sorted(f for f in os.listdir(os.path.join(SRC, "policies", sub))
                          if f.endswith(".yaml") and f != "aimguard-test.yaml")
            assert sorted(os.listdir(os.path.join(policies, sub))) == want, sub
        # the installed binary accepts the installed default policies
        p = subprocess.run([binary, "check", os.path.join(policies, "default")], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        docs = os.path.join(prefix, "share", "doc", "aimguard")
        assert "install.md" in os.listdir(docs), os.listdir(docs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_dockerfile_copies_only_what_install_lays_out():
    text = dockerfile()
    sources = re.findall(r"^COPY (?!--from)(\S+)", text, re.M)
    assert "test" not in sources, "the image build needs no test/: %s" % sources
    for src in sources:
        assert os.path.exists(os.path.join(SRC, src)), "the Dockerfile copies %s, which does not exist" % src
    assert "-DBUILD_TESTING=OFF" in text
    assert re.search(r"cmake --install build --prefix /opt/aimguard", text), text
    tmp = tempfile.mkdtemp(prefix="ag-install-")
    try:
        prefix = install_tree(os.path.join(tmp, "opt", "aimguard"))
        taken = re.findall(r"^COPY --from=build /opt/aimguard/(\S+) (\S+)", text, re.M)
        assert taken, "the runtime stage takes nothing from the install tree"
        for rel, dest in taken:
            assert os.path.exists(os.path.join(prefix, rel)), "%s is not in the install tree" % rel
        assert ("bin/aimguard", "/usr/local/bin/aimguard") in taken, taken
        assert ("share/aimguard/policies/default", "/etc/aimguard/policies") in taken, taken
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_a_tree_without_tests_configures_with_build_testing_off():
    tmp = tempfile.mkdtemp(prefix="ag-notest-")
    try:
        # the Dockerfile's build context: what it copies before configuring
        os.makedirs(os.path.join(tmp, "src"))
        for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile(), re.M):
            path, dest = os.path.join(SRC, src), os.path.join(tmp, "src", src)
            shutil.copytree(path, dest) if os.path.isdir(path) else shutil.copy(path, dest)
        assert not os.path.exists(os.path.join(tmp, "src", "test"))
        p = subprocess.run(["cmake", "-S", os.path.join(tmp, "src"), "-B", os.path.join(tmp, "b"),
                            "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        makefile = open(os.path.join(tmp, "b", "Makefile")).read()
        assert "aimguard" in makefile and "test_cases" not in makefile and "bench_policy" not in makefile
        # on (the default) it needs test/ and says so
        p = subprocess.run(["cmake", "-S", os.path.join(tmp, "src"), "-B", os.path.join(tmp, "b2"),
                            "-DCMAKE_BUILD_TYPE=Release"], capture_output=True, text=True, timeout=120)
        assert p.returncode != 0 and "test" in p.stderr, p.stdout + p.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
