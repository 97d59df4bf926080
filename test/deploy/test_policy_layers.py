"""server/policy/ (and server/reconcile/, test_reconcile_files_form_no_circle) call only
downwards. server/policy/: the file graph (a file -> the files whose exported
functions or data it uses, and the files it #includes) has no circle, every edge goes to
the same or a lower layer of the list in server/policy/policy_int.h, and every exported
symbol is ag_* (declared in include/aimguard/) or pol_* (internal). This is what keeps
"adding a block" to one block_*.c file plus one row of blocks.c: a block may use the
shared layers below it, and nothing below may reach back into a block.

What it proves, and what not: symbols are matched by name in the source with comments and
strings removed, so a use through a function pointer counts at the place that names the
function (the block's row), not at the call through the table; static functions are
file-local and never edges. A circle through the table (decide.c -> blocks.c -> block ->
decide.c) would show as an edge from a block to decide.c, which the layers forbid."""
import fnmatch
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from agharness import SRC, run_tests

POLICY = os.path.join(SRC, "server", "policy")
RECONCILE = os.path.join(SRC, "server", "reconcile")
PUBLIC = os.path.join(SRC, "include", "aimguard")


def strip(text):
    """C text without comments, string and character literals (kept as empty quotes)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def top_level(text):
    """The heads of the top-level definitions: a function's text up to its body, a
    declaration's or data definition's text with every brace group left out."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "{":
            if depth == 0 and "".join(cur).rstrip().endswith(")"):
                out.append("".join(cur))  # a function definition: its head
                cur = []
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            cur.append(ch)
            if ch == ";":
                out.append("".join(cur))
                cur = []
    return out


def exported(text):
    """Names a file defines with external linkage: functions, and initialised data."""
    names = set()
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", strip(text), flags=re.M)  # directives
    for head in top_level(text):
        head = re.sub(r"^[ \t]*#[^\n]*", " ", head, flags=re.M).strip()
        if not head or re.search(r"\b(static|typedef|extern)\b", head):
            continue
        if not head.endswith(";"):  # a function definition
            m = re.search(r"(\w+)\s*\(", head)
            if m:
                names.add(m.group(1))
        elif "=" in head:  # data: `const T name = {...};`, `T name[] = {...};`
            m = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*=", head)
            if m:
                names.add(m.group(1))
    return names


def layers(root):
    """{file pattern: layer} from the list in policy_int.h's opening comment."""
    text = open(os.path.join(root, "policy_int.h")).read()
    out = {}
    for m in re.finditer(r"^ \*[ \t]+(\d)[ \t]+(\S.*?)(?:[ \t]{2,}.*)?$", text, re.M):
        for pat in m.group(2).split(","):
            out[pat.strip()] = int(m.group(1))
    return out


def layer_of(name, table):
    for pat, n in table.items():
        if fnmatch.fnmatch(name, pat):
            return n
    return None


def graph(root):
    """{file: set(files it uses)} over the .c and .h files of root."""
    files = sorted(f for f in os.listdir(root) if f.endswith((".c", ".h")))
    src = {f: open(os.path.join(root, f)).read() for f in files}
    owner = {}
    for f in files:
        if f.endswith(".c"):
            for name in exported(src[f]):
                owner.setdefault(name, f)
    edges = {f: set() for f in files}
    for f in files:
        for inc in re.findall(r'^#include "([^"/]+)"', src[f], re.M):
            if inc in src:
                edges[f].add(inc)
        if f.endswith(".c"):
            for ident in set(re.findall(r"\b[A-Za-z_]\w*\b", strip(src[f]))):
                o = owner.get(ident)
                if o and o != f:
                    edges[f].add(o)
    return edges


def cycles(edges):
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def problems(root):
    edges = graph(root)
    found = ["circle of files: " + " <-> ".join(c) for c in cycles(edges)]
    table = layers(root) if os.path.exists(os.path.join(root, "policy_int.h")) else {}
    for f in sorted(edges):
        if not f.endswith(".c"):
            continue
        lf = layer_of(f, table)
        if lf is None:
            found.append("%s: in no layer of policy_int.h's list" % f)
            continue
        for g in sorted(edges[f]):
            lg = layer_of(g, table)
            if g.endswith(".c") and lg is not None and lg > lf:
                found.append("%s (layer %d) uses %s (layer %d): an arrow upwards" % (f, lf, g, lg))
    return found, edges


def test_policy_files_form_no_circle_and_respect_layers():
    found, edges = problems(POLICY)
    assert not found, "\n".join(found)
    # the graph is not empty by accident: the blocks use the shared layers, the table the blocks
    assert "schema.c" in edges["block_images.c"] and "exception.c" in edges["block_harden.c"], edges
    assert {"block_pss.c", "block_rules.c"} <= edges["blocks.c"], edges["blocks.c"]
    assert "blocks.c" in edges["decide.c"] and "blocks.c" in edges["document.c"], edges


def test_reconcile_files_form_no_circle():
    """server/reconcile/ likewise: the reconcilers (service, artifact, guardrails) sit on
    apply/ownership/lookup, which sit on the pure builders and context.c, which uses only
    the queue's clock; reconciler.c (threads, keys) is on top. A helper the reconcilers
    share goes into a lower file, never into reconciler.c or a reconciler."""
    edges = graph(RECONCILE)
    found = cycles(edges)
    assert not found, "\n".join("circle of files: " + " <-> ".join(c) for c in found)
    assert "context.c" in edges["service.c"] and "apply.c" in edges["artifact.c"], edges
    assert {"service.c", "artifact.c", "guardrails.c"} <= edges["reconciler.c"], edges["reconciler.c"]
    assert not edges["context.c"] - {"queue.c", "reconcile_int.h"}, edges["context.c"]


def test_exported_names_are_prefixed():
    public = "".join(open(os.path.join(PUBLIC, h)).read() for h in os.listdir(PUBLIC) if h.endswith(".h"))
    bad = []
    for f in sorted(os.listdir(POLICY)):
        if not f.endswith(".c"):
            continue
        for name in sorted(exported(open(os.path.join(POLICY, f)).read())):
            if name.startswith("pol_"):
                continue
            if not name.startswith("ag_") or not re.search(r"\b%s\b" % name, public):
                bad.append("%s: %s (internal names are pol_*, ag_* is the API in include/aimguard/)" % (f, name))
    assert not bad, "\n".join(bad)


def test_the_check_finds_a_circle_and_an_upward_arrow():
    """A tree with the old shape (the decider's helpers used by a block that the decider
    calls) fails: the check can fail."""
    with tempfile.TemporaryDirectory() as d:
        def put(name, text):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        put("policy_int.h", "/* layers\n *   2  block_*.c\n *   4  decide.c\n */\n")
        put("decide.c", '#include "policy_int.h"\nint pol_helper(void) { return 1; }\n'
                        "int ag_decide(void) { return pol_block_run(); }\n")
        put("block_x.c", '#include "policy_int.h"\n/* pol_helper in a comment is no use */\n'
                         "int pol_block_run(void) { return pol_helper(); }\n")
        found, _ = problems(d)
        assert any("circle of files: block_x.c <-> decide.c" in p for p in found), found
        assert any("block_x.c (layer 2) uses decide.c (layer 4)" in p for p in found), found


if __name__ == "__main__":
    run_tests(globals())
