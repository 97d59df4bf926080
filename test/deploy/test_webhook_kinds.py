"""The known-kinds table (`aimguard check --kinds`) and the rendered webhook configurations
of deploy/ agree: every kind the table says a webhook sends is in that webhook's rules, and
every resource the rules send is a kind of the table marked as sent there. `check` warns
about a policy naming a kind the shipped webhooks never send, so a disagreement would make
that warning lie (or stay silent about a policy that can never fire)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import yaml

from agharness import SRC, render_overlay, run_cli, run_tests

HOOKS = {"MutatingWebhookConfiguration": "mutate", "ValidatingWebhookConfiguration": "validate"}


def known_kinds():
    code, out, err = run_cli("check", "--kinds")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["GROUP", "KIND", "RESOURCE", "SCOPE", "WEBHOOKS", "POD-SPEC"], lines[0]
    rows = [l.split() for l in lines[1:] if l.strip()]
    assert len(rows) > 40 and all(len(r) == 6 for r in rows), out
    return rows


def table_sent(rows):
    """{"mutate": {(group, resource)}, "validate": {...}} from the table."""
    sent = {"mutate": set(), "validate": set()}
    for group, _kind, resource, _scope, hooks, _pod in rows:
        g = "" if group == "core" else group
        for h in hooks.split(","):
            if h != "-":
                assert h in sent, hooks
                sent[h].add((g, resource))
    return sent


def rendered_sent(overlay):
    sent = {"mutate": set(), "validate": set()}
    seen = set()
    for doc in render_overlay(overlay):
        if not doc or doc.get("kind") not in HOOKS:
            continue
        hook = HOOKS[doc["kind"]]
        seen.add(hook)
        for w in doc["webhooks"]:
            for r in w["rules"]:
                if not {"CREATE", "UPDATE"} & set(r["operations"]) and "*" not in r["operations"]:
                    continue
                for g in r["apiGroups"]:
                    for res in r["resources"]:
                        assert g != "*" and res != "*", \
                            "a wildcard rule sends kinds the table cannot name: %s" % r
                        if "/" in res:
                            continue  # subresources (pods/ephemeralcontainers) are the kind's own
                        sent[hook].add((g, res))
    assert seen == {"mutate", "validate"}, seen
    return sent


def compare(overlay):
    want = table_sent(known_kinds())
    got = rendered_sent(overlay)
    problems = []
    for hook in ("mutate", "validate"):
        for g, res in sorted(want[hook] - got[hook]):
            problems.append("%s: the kinds table says %s/%s is sent to /%s; deploy/ does not send it"
                            % (overlay, g or "core", res, hook))
        for g, res in sorted(got[hook] - want[hook]):
            problems.append("%s: deploy/ sends %s/%s to /%s; the kinds table (server/policy/kinds.c) "
                            "does not say so" % (overlay, g or "core", res, hook))
    assert not problems, "\n".join(problems)


def test_table_rows_are_well_formed():
    rows = known_kinds()
    keys = [(r[0], r[1]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate rows"
    for group, kind, resource, scope, hooks, pod in rows:
        assert kind[0].isupper() and resource == resource.lower(), (kind, resource)
        assert scope in ("Namespaced", "Cluster"), scope
        assert hooks in ("-", "mutate", "validate", "mutate,validate"), hooks
        assert pod in ("yes", "no"), pod
        # a pod carrier that reaches /validate but not /mutate would be judged on fields
        # the mutating webhook never got to default
        if pod == "yes":
            assert hooks == "mutate,validate", (group, kind, hooks)


def test_production_webhooks_send_what_the_table_says():
    compare("production")


def test_dev_webhooks_send_what_the_table_says():
    compare("dev")


if __name__ == "__main__":
    run_tests(globals())
