"""Every AIM sample of shared/reference/aim-samples through `aimguard eval` with the
default policies: the verdicts listed and justified in docs/aim-samples.md."""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SHARED, SRC, run_cli, run_tests

# sample -> (exit code, a phrase the denial must contain)
VERDICTS = {
    "aimartifact-s3-env.yaml": (1, "AIMArtifact env AWS_SECRET_ACCESS_KEY looks like a credential"),
    "aimclustermodel.yaml": (0, None),
    "aimclustermodelsource.yaml": (0, None),
    "aimclusterruntimeconfig-labelprop.yaml": (0, None),
    "aimclusterservicetemplate.yaml": (0, None),
    "aimmodel-custom-templates.yaml": (0, None),
    "aimruntimeconfig-routing.yaml": (0, None),
    "aimservice-basic.yaml": (0, None),
    "aimservice-env-secretkeyref.yaml": (0, None),
    "aimservice-inline-custom-model.yaml": (0, None),
    "aimservicetemplate-gpu.yaml": (0, None),
    "aimtemplatecache.yaml": (1, "AIMTemplateCache env HF_TOKEN looks like a credential"),
}


def test_every_sample_has_its_verdict():
    samples = sorted(os.path.basename(f) for f in glob.glob(os.path.join(SHARED, "reference", "aim-samples", "*.yaml")))
    assert samples == sorted(VERDICTS), set(samples) ^ set(VERDICTS)
    for name, (want, phrase) in VERDICTS.items():
        code, out, err = run_cli("eval", "-p", os.path.join(SRC, "policies", "default"), "--namespace", "team-a",
                                 "-f", os.path.join(SHARED, "reference", "aim-samples", name))
        assert code == want, (name, code, err)
        if phrase:
            assert phrase in out and "[policy credentials, rule secrets/literalCredential]" in out, (name, out)


def test_verdicts_are_documented():
    doc = open(os.path.join(SRC, "docs", "aim-samples.md")).read()
    for name, (want, _) in VERDICTS.items():
        assert "`%s`" % name in doc, name
        assert ("| `%s` | %s |" % (name, "denied" if want else "allowed")) in doc, name


if __name__ == "__main__":
    run_tests(globals())
