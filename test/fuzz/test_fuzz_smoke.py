"""Smoke run of every libFuzzer target (test/fuzz/fuzz_*.c) for a few seconds each on
the seed corpora: any crash, leak or sanitizer report fails. Longer runs:
test/fuzz/run.sh SECONDS."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_tests

SECONDS = os.environ.get("AG_FUZZ_SECONDS", "5")


def test_fuzz_targets_smoke():
    targets = sorted(f[:-2] for f in os.listdir(os.path.join(SRC, "test", "fuzz"))
                     if f.startswith("fuzz_") and f.endswith(".c"))
    assert len(targets) >= 3, targets
    p = subprocess.run([os.path.join(SRC, "test", "fuzz", "run.sh"), SECONDS] + targets,
                       cwd=SRC, capture_output=True, text=True, timeout=900)
    print(p.stdout[-4000:])
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    for t in targets:
        assert "== %s" % t in p.stdout, t


if __name__ == "__main__":
    run_tests(globals())
