"""Secret values never reach a log line or a response: a pod carrying planted
credentials (env literals, an annotation, an argument) goes through /mutate and
/validate, through policies that deny on exactly those fields, and through malformed
variants whose parse errors sit right next to the secret. The harness scans every
server log and every response of the whole suite for the same planted values."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import PLANTED, SRC, Server, assert_no_planted, run_cli, run_tests

FIXTURE = os.path.join(SRC, "test", "fixtures", "reviews", "pod-with-planted-secrets.json")
POLICY = """apiVersion: policy.aimguard.io/v1alpha1
kind: AdmissionPolicy
metadata: {name: no-literal-credentials}
spec:
  match: {kinds: [Pod]}
  validate:
    rules:
      - name: no-literal-token
        path: 'podSpec.allContainers[*].env[*].value'
        notMatches: '^(hf_|pw-)'
      - name: no-token-annotation
        path: "metadata.annotations['example.com/api-token']"
        absent: true
      - name: args
        path: 'podSpec.containers[*].args[*]'
        notMatches: 'key-'
        action: warn
"""


def test_planted_secrets_never_echoed():
    body = open(FIXTURE, "rb").read()
    assert all(s.encode() in body for s in PLANTED)
    srv = Server()
    with open(os.path.join(srv.policies, "50-credentials.yaml"), "w") as f:
        f.write(POLICY)
    with srv:
        review = json.loads(body)
        m = srv.review("/mutate", review)
        v = srv.review("/validate", review)
        assert v["response"]["allowed"] is False
        msg = v["response"]["status"]["message"]
        assert "no-literal-token" in msg and "spec.containers[0].env[0].value" in msg, msg
        assert "no-token-annotation" in msg
        # malformed bodies whose error position is right at a secret
        for cut in (body.index(PLANTED[0].encode()) + 3, body.index(PLANTED[2].encode())):
            bad = body[:cut] + b'"\x00' + body[cut:]
            status, _, data = srv.request("POST", "/validate", bad)
            assert status == 400, data
        bad = body.replace(b'"HF_TOKEN"', b'HF_TOKEN')
        assert srv.request("POST", "/validate", bad)[0] == 400
        dup = body.replace(b'"HF_HOME"', b'"HF_HOME", "name": "x"')
        assert srv.request("POST", "/validate", dup)[0] == 400
        assert_no_planted(json.dumps(m) + json.dumps(v), "the responses")
    # the offline CLI prints denials on stderr: scanned by run_cli as well
    code, out, err = run_cli("eval", "--mode", "validate", "-p", os.path.join(SRC, "policies", "default"),
                             "-f", FIXTURE)
    assert code == 1


if __name__ == "__main__":
    run_tests(globals())
