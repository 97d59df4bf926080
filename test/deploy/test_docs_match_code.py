"""The documentation names only flags, metrics and policy fields that exist: every
`--flag` in README.md and docs/ is one of aimguard's (or a listed external tool's),
every `aimguard_*` metric is exported by a running server, and every policy snippet in
docs/policy-reference.md is accepted by `aimguard check`."""
import glob
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, Server, run_cli, run_tests

DOCS = [os.path.join(SRC, "README.md")] + sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
# flags of other tools that the docs show in their own commands
EXTERNAL = {"--cacert", "--data-binary", "--dry-run", "--overrides", "--type", "--client",
            "--output-on-failure", "--latency", "--timeout", "--no-install-recommends", "--image",
            "--build", "--install", "--prefix", "--no-undefined", "--version-script"}


def doc_text():
    return {d: open(d).read() for d in DOCS}


def test_every_documented_flag_exists():
    helps = ""
    for cmd in ("serve", "eval", "test", "audit", "check", "explain"):
        code, out, _ = run_cli(cmd, "--help")
        assert code == 0
        helps += out
    known = set(re.findall(r"--[a-z][a-z-]+", helps)) | {"--help"}
    unknown = {}
    for path, text in doc_text().items():
        for flag in set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text)):
            if flag not in known and flag not in EXTERNAL:
                unknown.setdefault(flag, []).append(os.path.basename(path))
    assert not unknown, unknown


def serve_flag_table():
    """The one flag table of `serve` (server/serve/flags.c), as `serve --help=tsv` prints it."""
    code, out, _ = run_cli("serve", "--help=tsv")
    assert code == 0
    lines = out.splitlines()
    header = lines[0].split("\t")
    assert header == ["flag", "argument", "env", "default", "range", "field", "help"], header
    return [dict(zip(header, l.split("\t"))) for l in lines[1:]]


def test_every_serve_flag_is_documented():
    """the other way round: each flag of serve's table has its row in docs/cli.md, with the
    table's environment variable, default and range; and docs/cli.md has no other row"""
    table = serve_flag_table()
    assert len(table) >= 30, table
    cli = open(os.path.join(SRC, "docs", "cli.md")).read()
    section = cli[cli.index("## serve"):cli.index("Routes on the webhook port")]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `(--[a-z-]+)[^`]*` \| (.*?) \| (.*?) \| (.*?) \| ", line)
        if m:
            rows[m.group(1)] = [c.replace("`", "").strip() for c in m.groups()[1:]]
    problems = []
    for f in table:
        row = rows.pop(f["flag"], None)
        if row is None:
            problems.append("%s: no row in docs/cli.md" % f["flag"])
            continue
        env, default, rng = row
        if f["env"] not in env:
            problems.append("%s: env %r, docs say %r" % (f["flag"], f["env"], env))
        if default != f["default"]:
            problems.append("%s: default %r, docs say %r" % (f["flag"], f["default"], default))
        if rng != f["range"]:
            problems.append("%s: range %r, docs say %r" % (f["flag"], f["range"], rng))
    problems += ["%s: documented, not a flag" % f for f in rows]
    assert not problems, "\n".join(problems)
    # usage comes from the same table: every flag and its variable are in --help
    code, out, _ = run_cli("serve", "--help")
    assert code == 0
    for f in table:
        assert f["flag"] in out and f["env"] in out, f


def test_build_options_and_docs_match():
    """Every option() of CMakeLists.txt (and CTest's BUILD_TESTING) is documented, and
    every -DAG_* the docs show is an option."""
    cmake = open(os.path.join(SRC, "CMakeLists.txt")).read()
    options = set(re.findall(r"^option\((AG_\w+)", cmake, re.M))
    assert {"AG_SANITIZE", "AG_TSAN", "AG_FUZZ"} <= options, options
    assert "include(CTest)" in cmake
    text = "".join(doc_text().values())
    undocumented = sorted(o for o in options | {"BUILD_TESTING"} if o not in text)
    assert not undocumented, "build options no doc names: %s" % undocumented
    unknown = sorted(set(re.findall(r"-D(AG_\w+)", text)) - options)
    assert not unknown, "the docs show options CMakeLists.txt does not have: %s" % unknown


def test_every_documented_metric_is_exported():
    with Server() as srv:
        srv.review("/validate", __import__("agharness").load_review("pod-create.json"))
        text = srv.metrics()
        exported = set(re.findall(r"^(aimguard_[a-z_]+)", text, re.M)) | set(re.findall(r"^# TYPE (aimguard_[a-z_]+)", text, re.M))
    # series that only appear in some setups (aimguard_leader needs a cluster) are
    # declared in the metrics code
    src = open(os.path.join(SRC, "server", "obs", "metrics.c")).read()
    exported |= set(re.findall(r"# TYPE (aimguard_[a-z_]+)", src))
    exported |= {m + s for m in list(exported) for s in ("_bucket", "_sum", "_count")}
    named = set()
    for text in doc_text().values():
        named |= set(re.findall(r"aimguard_[a-z_]+[a-z]", text))
    missing = {m for m in named if m not in exported and not any(e.startswith(m) for e in exported)}
    assert not missing, missing


def test_every_exported_metric_is_documented():
    # the reverse: a series the code declares (aimguard_policy_warnings, ...) is named in
    # the docs, so an operator can find what it means
    src = open(os.path.join(SRC, "server", "obs", "metrics.c")).read()
    declared = set(re.findall(r"# TYPE (aimguard_[a-z_]+)", src))
    assert "aimguard_policy_warnings" in declared, declared
    named = set()
    for text in doc_text().values():
        named |= set(re.findall(r"aimguard_[a-z_]+[a-z]", text))
    assert not declared - named, declared - named


def test_policy_reference_snippets_are_accepted():
    text = open(os.path.join(SRC, "docs", "policy-reference.md")).read()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 4, len(blocks)
    checked = 0
    d = tempfile.mkdtemp()
    for i, b in enumerate(blocks):
        if "{...}" in b or "[...]" in b:
            continue  # the outline of the whole document
        doc = yaml.safe_load(b)
        spec = {"match": {"kinds": ["Pod"]}}
        if "apiVersion" in doc:
            full = doc
        else:
            if "validate" in doc or "exceptions" in doc or "mutate" in doc:
                spec.update(doc)
            else:
                spec["validate"] = doc
            if "validate" not in spec and "mutate" not in spec:
                spec["validate"] = {"podSecurity": {"level": "baseline"}}
            full = {"apiVersion": "policy.aimguard.io/v1alpha2", "kind": "AdmissionPolicy",
                    "metadata": {"name": "doc-%d" % i}, "spec": spec}
        path = os.path.join(d, "doc-%d.yaml" % i)
        with open(path, "w") as f:
            yaml.safe_dump(full, f)
        code, out, err = run_cli("check", path)
        assert code == 0, (b, err)
        checked += 1
    assert checked >= 3, checked


def test_every_granted_resource_and_verb_has_its_reason_in_rbac_md():
    """docs/rbac.md has a row (group, resources, verbs, why) for every rule of the
    ClusterRole and Role deploy/base/rbac.yaml grants: a resource and each of its verbs
    are named in a row of its API group (the background audit's reads and report writes
    among them)."""
    docs = yaml.safe_load_all(open(os.path.join(SRC, "deploy", "base", "rbac.yaml")))
    rows = []
    for line in open(os.path.join(SRC, "docs", "rbac.md")):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 5:
            rows.append((cells[1], cells[2], {v.strip() for v in cells[3].split(",")}))
    missing = []
    for d in docs:
        if not d or d["kind"] not in ("ClusterRole", "Role") or d["metadata"]["name"] == "aim-engine-artifact-status-updater":
            continue
        for rule in d["rules"]:
            for g in rule["apiGroups"]:
                group = g or "core"
                for res in rule["resources"]:
                    for verb in rule["verbs"]:
                        ok = any(rg == group and (re.search(r"(?<![\w/])%s(?![\w/])" % re.escape(res), rr) or
                                                  (res.startswith("aim") and "AIM kinds" in rr)) and verb in rv
                                 for rg, rr, rv in rows)
                        if not ok:
                            missing.append("%s %s/%s" % (verb, group, res))
    assert not missing, "granted in deploy/base/rbac.yaml, without a reason in docs/rbac.md: %s" % missing


def cli_section(cli, command):
    """The text of docs/cli.md's "## command" section, up to the next "## " heading."""
    start = cli.index("\n## %s\n" % command) + 1
    end = cli.find("\n## ", start)
    return cli[start:end if end >= 0 else len(cli)]


def test_every_audit_flag_and_output_is_documented():
    """aimguard audit: every flag of its --help and every output format is in its section."""
    code, helptext, _ = run_cli("audit", "--help")
    assert code == 0
    section = cli_section(open(os.path.join(SRC, "docs", "cli.md")).read(), "audit")
    missing = [f for f in set(re.findall(r"--[a-z][a-z-]+", helptext)) - {"--help"} if f not in section]
    assert not missing, missing
    code, _, err = run_cli("audit", "-p", os.path.join(SRC, "policies", "default"), "-o", "bogus", "-")
    assert code == 2
    formats = re.search(r"--output must be (.*)", err).group(1).replace(" or ", ", ").split(", ")
    assert formats == ["text", "json"], formats
    for fmt in formats:
        assert "`-o %s`" % fmt in section, fmt


def test_every_rule_field_and_condition_is_documented():
    """Every key the generic rule's compiler accepts (server/policy/cond_compile.c: the
    rule, its leaf conditions, when, forEach, roots) is named in the policy reference."""
    src = open(os.path.join(SRC, "server", "policy", "cond_compile.c")).read()
    ref = open(os.path.join(SRC, "docs", "policy-reference.md")).read()
    section = ref[ref.index("## validate.rules"):ref.index("## exceptions")]
    keys = set()
    for arr in re.findall(r"(?:keys|leaf_conds|roots)\[[^]]*\]\s*=\s*\{(.*?)\};", src, re.S):
        keys |= set(re.findall(r'"([$A-Za-z]+)"', arr))
    assert {"lessOrEqual", "keysIn", "effective", "notServiceAccounts", "$podSpec", "joinOn"} <= keys, keys
    missing = sorted(k for k in keys if not re.search(r"(?<![A-Za-z$])%s(?![A-Za-z])" % re.escape(k), section))
    assert not missing, "policy-reference.md (validate.rules) does not name: %s" % missing


def test_every_eval_flag_and_output_is_documented():
    """The other direction for eval: what the binary offers, docs/cli.md describes."""
    code, helptext, _ = run_cli("eval", "--help")
    assert code == 0
    cli = open(os.path.join(SRC, "docs", "cli.md")).read()
    section = cli_section(cli, "eval")
    missing = [f for f in set(re.findall(r"--[a-z][a-z-]+", helptext)) - {"--help"} if f not in section]
    assert not missing, missing
    code, _, err = run_cli("eval", "-p", os.path.join(SRC, "policies", "default"), "-f", "-", "-o", "bogus",
                           stdin=b"")
    formats = re.search(r"--output must be (.*)", err).group(1).replace(" or ", ", ").split(", ")
    assert len(formats) >= 6, formats
    for fmt in formats:
        assert "| `%s` |" % fmt in section, fmt


def test_every_command_is_documented():
    """each command of `aimguard --help` has its section in docs/cli.md and is named in the
    README's list of what docs/cli.md covers"""
    code, out, _ = run_cli("--help")
    assert code == 0
    commands = re.findall(r"^  ([a-z]+)  ", out, re.M)
    assert "test" in commands and "eval" in commands, commands
    cli = open(os.path.join(SRC, "docs", "cli.md")).read()
    readme = open(os.path.join(SRC, "README.md")).read()
    line = [l for l in readme.splitlines() if "docs/cli.md" in l and "their flags" in l][0]
    for c in commands:
        assert "\n## %s\n" % c in cli, "docs/cli.md has no section for %s" % c
        assert "`%s`" % c in line, "README's docs/cli.md line does not name %s" % c


def test_every_test_flag_and_output_is_documented():
    """`aimguard test`: every flag of its --help, every output format and every field of
    its JSON output is in docs/cli.md's test section"""
    code, helptext, _ = run_cli("test", "--help")
    assert code == 0
    cli = open(os.path.join(SRC, "docs", "cli.md")).read()
    section = cli_section(cli, "test")
    missing = [f for f in set(re.findall(r"--[a-z][a-z-]+", helptext)) - {"--help"} if f not in section]
    assert not missing, missing
    code, _, err = run_cli("test", "-o", "bogus", os.path.join(SRC, "policies"))
    formats = re.search(r"--output must be (.*)", err).group(1).replace(" or ", ", ").split(", ")
    assert formats == ["text", "json"], formats
    for fmt in formats:
        assert "| `%s` |" % fmt in section, fmt
    code, out, _ = run_cli("test", "-o", "json", os.path.join(SRC, "policies", "default"))
    doc = __import__("json").loads(out)
    fields = set(doc) | set(doc["summary"]) | set(doc["tests"][0]) | set(doc["tests"][0]["results"][0])
    undocumented = sorted(f for f in fields if "`%s`" % f not in section and '"%s"' % f not in section)
    assert not undocumented, undocumented


def test_every_served_metric_is_documented():
    """Every series a server exports (and every one metrics.c can export) is in the docs."""
    with Server() as srv:
        text = srv.metrics()
    served = set(re.findall(r"^# TYPE (aimguard_[a-z_]+)", text, re.M))
    served |= set(re.findall(r"# TYPE (aimguard_[a-z_]+)", open(os.path.join(SRC, "server", "obs", "metrics.c")).read()))
    docs = "".join(doc_text().values())
    missing = sorted(m for m in served if m not in docs)
    assert not missing, missing
    for new in ("aimguard_policy_last_reload_ok", "aimguard_policy_failing_files", "aimguard_policy_info"):
        assert new in served, new


# blocks whose every YAML key the reference must name (the files' `keys[] = {...}`
# tables: what the compiler accepts); grown with the blocks documented field by field
KEYED_SOURCES = ["block_mutations.c", "block_pss.c", "block_images.c"]


def test_every_accepted_key_of_the_keyed_blocks_is_documented():
    ref = open(os.path.join(SRC, "docs", "policy-reference.md")).read()
    named = set(re.findall(r"`([A-Za-z][A-Za-z0-9]*)", ref)) | set(re.findall(r"^\s*-?\s*([A-Za-z]+):", ref, re.M))
    named |= set(re.findall(r"[{,]\s*([A-Za-z]+):", ref))
    missing = []
    for name in KEYED_SOURCES:
        text = open(os.path.join(SRC, "server", "policy", name)).read()
        for table in re.findall(r"keys\[\] = \{([^}]*)\}", text):
            for key in re.findall(r'"([A-Za-z]+)"', table):
                if key not in named:
                    missing.append("%s: %s" % (name, key))
    assert not missing, "accepted but not in docs/policy-reference.md: %s" % missing


def test_every_fuzz_target_is_documented_and_json_md_names_real_files():
    """docs/security.md lists every libFuzzer target (test/fuzz/fuzz_*.c) with its last
    ten-minute run, and docs/json.md, which says how the JSON reader is proven equal to
    jansson, names only files and bench phases that exist"""
    fuzz = os.path.join(SRC, "test", "fuzz")
    targets = sorted(f[:-2] for f in os.listdir(fuzz) if f.startswith("fuzz_") and f.endswith(".c"))
    security = open(os.path.join(SRC, "docs", "security.md")).read()
    missing = [t for t in targets if t not in security]
    assert not missing, "fuzz targets docs/security.md does not name: %s" % missing
    json_md = open(os.path.join(SRC, "docs", "json.md")).read()
    named = set(re.findall(r"\b((?:server|include|test)/[\w/.-]+\.(?:c|h|sh|dict))\b", json_md))
    named |= set(re.findall(r"\b(test/fuzz/regressions/\w+)/", json_md))
    assert len(named) >= 6, named
    gone = sorted(f for f in named if not os.path.exists(os.path.join(SRC, f)))
    assert not gone, "docs/json.md names files that do not exist: %s" % gone
    bench = open(os.path.join(SRC, "test", "bench", "bench_json.c")).read()
    for phase in re.search(r"AG_BENCH_PHASE=([\w|]+)", json_md).group(1).split("|"):
        assert '"%s"' % phase in bench, phase


if __name__ == "__main__":
    run_tests(globals())
