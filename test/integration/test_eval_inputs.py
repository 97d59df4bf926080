"""`aimguard eval` on every input form a CI job hands it: a `kind: List` (what `kubectl get
-o yaml` prints), typed lists, multi-document YAML, stdin with several documents, a
directory tree; one result per object, a summary, machine formats, and an exit status
that is the worst result. A List or a second document holding a privileged Deployment
was once allowed (exit 0) or refused as input: these are the regression tests."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, run_cli, run_tests

DEFAULT = os.path.join(SRC, "policies", "default")

PRIV_DEPLOY = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team-a"},
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx",
                                                   "securityContext": {"privileged": True}}]}}},
}
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "team-a"},
       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "team-a"},
      "data": {"a": "b"}}


def dump(*docs):
    return "---\n".join(yaml.safe_dump(d) for d in docs).encode()


def lines(out):
    return [l for l in out.splitlines() if l.strip()]


def test_list_holding_privileged_deployment_is_denied():
    lst = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [POD, PRIV_DEPLOY]}
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=yaml.safe_dump(lst).encode())
    assert code == 1, (code, out, err)
    ls = lines(out)
    assert ls[0] == "ALLOW Pod team-a/ok (mutated)", ls
    assert ls[1].startswith("DENY apps/Deployment team-a/web: [policy pod-hardening, rule "
                            "podSecurity/restricted/privileged] privileged"), ls
    assert ls[-1] == "2 objects: 1 allowed, 0 warned, 1 denied, 0 errors", ls
    # the same List as JSON (kubectl get -o json), from a file
    d = tempfile.mkdtemp()
    try:
        p = os.path.join(d, "list.json")
        with open(p, "w") as f:
            json.dump(lst, f)
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", p)
        assert code == 1 and "DENY apps/Deployment team-a/web" in out, (code, out, err)
    finally:
        shutil.rmtree(d)


def test_typed_list_items_take_kind_from_the_list():
    # the API server's DeploymentList leaves apiVersion and kind out of its items
    item = {k: v for k, v in PRIV_DEPLOY.items() if k not in ("apiVersion", "kind")}
    lst = {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [item]}
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=json.dumps(lst).encode())
    assert code == 1 and lines(out)[0].startswith("DENY apps/Deployment team-a/web:"), (code, out, err)


def test_multi_document_yaml_is_judged_document_by_document():
    # the privileged Deployment in the second document must not hide behind the first
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=dump(CM, PRIV_DEPLOY, POD))
    assert code == 1, (code, out, err)
    ls = lines(out)
    assert ls[0] == "ALLOW ConfigMap team-a/cfg", ls
    assert ls[1].startswith("DENY apps/Deployment team-a/web: [policy pod-hardening"), ls
    assert ls[2] == "ALLOW Pod team-a/ok (mutated)", ls
    assert ls[3] == "3 objects: 2 allowed, 0 warned, 1 denied, 0 errors", ls
    # empty documents (a leading ---, a trailing ---) are no objects
    code, out, _ = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=b"---\n" + dump(CM) + b"---\n")
    assert code == 0 and lines(out) == ["ALLOW ConfigMap team-a/cfg",
                                        "1 object: 1 allowed, 0 warned, 0 denied, 0 errors"], out


def test_directory_is_walked_recursively():
    d = tempfile.mkdtemp()
    try:
        os.makedirs(os.path.join(d, "base", "deep"))
        os.makedirs(os.path.join(d, ".git"))
        with open(os.path.join(d, "base", "a.yaml"), "wb") as f:
            f.write(dump(CM))
        with open(os.path.join(d, "base", "deep", "b.yml"), "wb") as f:
            f.write(dump(PRIV_DEPLOY))
        with open(os.path.join(d, "c.json"), "w") as f:
            json.dump(POD, f)
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("not a manifest: {\n")
        with open(os.path.join(d, ".git", "x.yaml"), "w") as f:
            f.write("kind: [\n")
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", d)
        assert code == 1, (code, out, err)
        ls = lines(out)
        assert ls[0] == "ALLOW ConfigMap team-a/cfg", ls
        assert ls[1].startswith("DENY apps/Deployment team-a/web:"), ls
        assert ls[2] == "ALLOW Pod team-a/ok (mutated)", ls
        assert ls[3].startswith("3 objects:"), ls
        # machine output names the file and document of each object
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", d, "-o", "json")
        res = json.loads(out)
        files = [r["source"]["file"] for r in res["results"]]
        assert files == [os.path.join(d, "base", "a.yaml"), os.path.join(d, "base", "deep", "b.yml"),
                         os.path.join(d, "c.json")], files
        assert res["summary"] == {"objects": 3, "allowed": 2, "warned": 0, "denied": 1, "errors": 0}, res
    finally:
        shutil.rmtree(d)


def test_errors_are_per_object_and_exit_2():
    bad = {"metadata": {"name": "x"}}
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", stdin=dump(PRIV_DEPLOY, bad, POD))
    assert code == 2, (code, out, err)
    ls = lines(out)
    assert ls[0].startswith("DENY apps/Deployment team-a/web"), ls
    assert ls[1] == "ERROR <stdin>#2: the object has no apiVersion or kind", ls
    assert ls[2].startswith("ALLOW Pod team-a/ok"), ls
    assert ls[3] == "3 objects: 1 allowed, 0 warned, 1 denied, 1 error", ls
    # a syntax error names file:line:column; the other files are still judged
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d, "a.yaml"), "w") as f:
            f.write("kind: [\n")
        with open(os.path.join(d, "b.yaml"), "wb") as f:
            f.write(dump(PRIV_DEPLOY))
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", d)
        assert code == 2, (code, out, err)
        ls = lines(out)
        assert ls[0].startswith("ERROR " + os.path.join(d, "a.yaml") + ": " + os.path.join(d, "a.yaml") + ":2:1"), ls
        assert ls[1].startswith("DENY apps/Deployment team-a/web"), ls
    finally:
        shutil.rmtree(d)
    # a file name that is not UTF-8 still gets its result in JSON
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d.encode(), b"bad\xff.yaml"), "w") as f:
            f.write("kind: [\n")
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", d, "-o", "json")
        res = json.loads(out)
        assert code == 2 and res["summary"]["errors"] == 1 and res["results"][0]["result"] == "error", (out, err)
    finally:
        shutil.rmtree(d)


def test_worst_result_wins_and_warnings_are_shown():
    pol = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    pol.write("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: warn-priv}\n"
              "spec:\n  action: warn\n  match: {kinds: [Deployment]}\n  validate:\n    podSecurity: {level: baseline}\n")
    pol.close()
    try:
        code, out, err = run_cli("eval", "-p", pol.name, "-f", "-", stdin=dump(PRIV_DEPLOY, CM))
        assert code == 0, (code, out, err)
        ls = lines(out)
        assert ls[0].startswith("WARN apps/Deployment team-a/web: "), ls
        assert "privileged" in ls[0], ls
        assert ls[-1] == "2 objects: 1 allowed, 1 warned, 0 denied, 0 errors", ls
    finally:
        os.unlink(pol.name)


def test_machine_outputs():
    src = dump(POD, PRIV_DEPLOY)
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--output", "json", stdin=src)
    assert code == 1, err
    res = json.loads(out)
    r0, r1 = res["results"]
    assert r0["result"] == "allowed" and r0["kind"] == "Pod" and r0["apiVersion"] == "v1", r0
    assert r0["source"] == {"file": "<stdin>", "document": 1}, r0
    assert any(op["path"] == "/spec/securityContext/runAsNonRoot" for op in r0["patch"]), r0
    assert r1["result"] == "denied" and r1["namespace"] == "team-a" and r1["name"] == "web", r1
    assert "privileged" in r1["message"], r1
    # yaml: the same document in YAML
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "yaml", stdin=src)
    assert code == 1 and yaml.safe_load(out) == res, out[:400]
    # review: one AdmissionReview per object (a JSON stream)
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "review", stdin=src)
    dec = json.JSONDecoder()
    reviews, pos = [], 0
    while pos < len(out.strip()):
        obj, pos = dec.raw_decode(out, pos)
        reviews.append(obj)
        while pos < len(out) and out[pos].isspace():
            pos += 1
    assert [r["response"]["allowed"] for r in reviews] == [True, False], reviews
    # object: the objects after mutation; one object stays a bare object, several a List
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "object", stdin=src)
    lst = json.loads(out)
    assert lst["kind"] == "List" and lst["items"][0]["spec"]["securityContext"]["runAsNonRoot"] is True, lst
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "object", stdin=dump(POD))
    assert code == 0 and json.loads(out)["kind"] == "Pod", out
    # object-yaml: a YAML stream, ready for kubectl apply -f -
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "object-yaml", stdin=src)
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["Pod", "Deployment"], docs
    assert docs[0]["spec"]["securityContext"]["runAsNonRoot"] is True, docs[0]
    code, _, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "table", stdin=src)
    assert code == 2 and "--output must be" in err, err


def test_yaml_outputs_keep_strings_strings():
    # values that a YAML 1.1 reader (kubectl's) would retype if printed plain
    tricky = ["1.10", "true", "yes", "on", "NO", "null", "~", "", "0x1f", "1_000", "1:20", "0b101", "2026-12-01",
              ".5", "-1", "+1", ".inf", "a: b", "- x", "#c", "multi\nline", "caf\u00e9", "nginx:1.25"]
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "t", "namespace": "team-a"},
          "data": {"k%d" % i: v for i, v in enumerate(tricky)}, "binaryData": None}
    cm["data"]["1"] = "key that looks like a number"
    cm["immutable"] = False
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "object-yaml", stdin=json.dumps(cm).encode())
    assert code == 0, err
    assert yaml.safe_load(out) == cm, out
    code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "-o", "yaml", stdin=json.dumps(cm).encode())
    assert yaml.safe_load(out)["results"][0]["name"] == "t", out


def test_update_pairs_old_objects_by_kind_namespace_and_name():
    # an UPDATE that leaves the pod template as it was is not judged (docs/troubleshooting.md);
    # that only holds when each new object meets its own old one
    web2 = json.loads(json.dumps(PRIV_DEPLOY))
    web2["metadata"]["name"] = "web2"
    new = [dict(PRIV_DEPLOY, metadata=dict(PRIV_DEPLOY["metadata"], labels={"v": "2"})), web2]
    d = tempfile.mkdtemp()
    try:
        old = os.path.join(d, "old.yaml")
        with open(old, "wb") as f:
            f.write(dump(web2, PRIV_DEPLOY))  # the other order
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--operation", "UPDATE", "--old", old,
                                 stdin=dump(*new))
        assert code == 0 and lines(out)[:2] == ["ALLOW apps/Deployment team-a/web", "ALLOW apps/Deployment team-a/web2"], \
            (code, out, err)
        # web2 has no old object here: its UPDATE is judged like a new pod template
        with open(old, "wb") as f:
            f.write(dump(PRIV_DEPLOY, CM))
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", "-", "--operation", "UPDATE", "--old", old,
                                 stdin=dump(*new))
        assert code == 1 and lines(out)[1].startswith("DENY apps/Deployment team-a/web2"), (code, out, err)
    finally:
        shutil.rmtree(d)


def test_several_files_and_one_process():
    d = tempfile.mkdtemp()
    try:
        for i in range(3):
            with open(os.path.join(d, "m%d.yaml" % i), "wb") as f:
                f.write(dump(dict(CM, metadata={"name": "cfg%d" % i, "namespace": "team-a"})))
        code, out, err = run_cli("eval", "-p", DEFAULT, "-f", os.path.join(d, "m0.yaml"),
                                 "-f", os.path.join(d, "m2.yaml"))
        assert code == 0 and lines(out) == ["ALLOW ConfigMap team-a/cfg0", "ALLOW ConfigMap team-a/cfg2",
                                            "2 objects: 2 allowed, 0 warned, 0 denied, 0 errors"], out
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    run_tests(globals())
