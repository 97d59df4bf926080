"""docs/policy-testing.md's worked example is the one the suite runs: each file the page
shows is test/policy/example/ byte for byte, `aimguard test test/policy/example` passes
and prints what the page shows, and docs/cli.md's failing run is what the same example
prints with one expectation made wrong."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import BIN, SRC, run_tests

EXAMPLE = os.path.join("test", "policy", "example")


def page():
    return open(os.path.join(SRC, "docs", "policy-testing.md")).read()


def run(cwd):
    p = subprocess.run([os.path.abspath(BIN), "test", EXAMPLE], cwd=cwd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_every_file_the_page_shows_is_the_example():
    shown = re.findall(r"<!-- file: (\S+) -->\n```yaml\n(.*?)```\n", page(), re.S)
    assert len(shown) == 4, [s[0] for s in shown]
    for path, text in shown:
        assert path.startswith(EXAMPLE + "/"), path
        assert open(os.path.join(SRC, path)).read() == text, "docs/policy-testing.md shows %s differently" % path
    on_disk = sorted(os.path.relpath(os.path.join(d, f), SRC) for d, _, fs in os.walk(os.path.join(SRC, EXAMPLE))
                     for f in fs)
    assert on_disk == sorted(p for p, _ in shown), on_disk


def test_the_example_passes_and_prints_what_the_page_shows():
    code, out, err = run(SRC)
    assert code == 0 and err == "", (code, out, err)
    shown = re.search(r"```\n\$ aimguard test test/policy/example\n(.*?)```\n", page(), re.S).group(1)
    assert out == shown, out
    assert re.search(r"\bwarn\s+warn\s+OK\n", out) and re.search(r"\bskip\s+skip\s+OK\n", out), out


def test_cli_md_failing_run_is_the_example_with_one_wrong_expectation():
    cli = open(os.path.join(SRC, "docs", "cli.md")).read()
    section = cli[cli.index("## test"):cli.index("## check")]
    shown = re.search(r"```\n(TEST .*?)```\n", section, re.S).group(1)
    tmp = tempfile.mkdtemp(prefix="ag-doc-")
    try:
        shutil.copytree(os.path.join(SRC, EXAMPLE), os.path.join(tmp, EXAMPLE))
        path = os.path.join(tmp, EXAMPLE, "aimguard-test.yaml")
        text = open(path).read()
        wrong = "    resource: team-a/unlabelled\n    result: pass\n"
        assert text.count("    resource: team-a/unlabelled\n    result: fail\n") == 1
        open(path, "w").write(text.replace("    resource: team-a/unlabelled\n    result: fail\n", wrong))
        code, out, err = run(tmp)
    finally:
        shutil.rmtree(tmp)
    assert code == 1, (code, out, err)
    assert out == shown, out


if __name__ == "__main__":
    run_tests(globals())
