/* Per-rule results: what reports, `aimguard test` and audits read (AG_MODE_RESULTS). One
 * result per (matched policy, validate rule): pass, fail (a violation whose action is
 * enforce or audit), warn (only warn violations) or skip (every violation was waived by an
 * exception). The message is the violations' messages, the same text denials carry, so it
 * never holds a value a denial would not show. */
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#include "aimguard/buf.h"

static const char *const action_names[] = {"enforce", "warn", "audit"};

static int set_text(json_t *o, const char *key, const char *text)
{
    json_t *s = ag_decision_text(text);
    return s ? json_object_set_new(o, key, s) : -1;
}

int pol_results_add(json_t *out, const policy *p, const char *block, const char *rule, int action,
                    const vlist *vl, size_t vfrom, const eval_ctx *e, size_t wfrom, const char *skipped)
{
    json_t *res = json_object(), *vs = json_array();
    ag_buf msg = {0};
    int failed = 0, warned = 0, rc = 0;
    int severity = p->severity;
    const char *category = p->category;
    if (!res || !vs)
        goto oom;
    for (size_t i = vfrom; i < vl->n; i++) {
        const violation *v = &vl->v[i];
        if (v->pol != p || strcmp(v->block ? v->block : "", block) || (rule && strcmp(v->rule, rule)))
            continue;
        if (v->action == AG_ACTION_WARN)
            warned = 1;
        else
            failed = 1;
        if (msg.len)
            ag_buf_add(&msg, "; ");
        ag_buf_add(&msg, v->message);
        json_t *one = json_object();
        if (!one || json_array_append_new(vs, one) || set_text(one, "rule", v->rule) ||
            set_text(one, "message", v->message) || (v->path && set_text(one, "path", v->path)))
            goto oom;
    }
    if (rule) {
        for (size_t i = 0; i < p->nrules; i++)
            if (p->rules[i].name && !strcmp(p->rules[i].name, rule)) {
                if (p->rules[i].severity)
                    severity = p->rules[i].severity;
                if (p->rules[i].category)
                    category = p->rules[i].category;
            }
    }
    const char *result = failed ? "fail" : warned ? "warn" : "pass";
    if (!failed && !warned) {
        for (size_t i = wfrom; i < e->nwaived; i++) {
            const waiver *w = &e->waived[i];
            if (w->pol != p || (rule && strcmp(w->control, rule)))
                continue;
            if (msg.len)
                ag_buf_add(&msg, "; ");
            ag_buf_printf(&msg, "%s waived by exception at %s: %s", w->control, w->x->where, w->x->reason);
            result = "skip";
        }
    }
    if (skipped && !strcmp(result, "pass")) {
        ag_buf_add(&msg, skipped);
        result = "skip";
    }
    if (msg.oom)
        goto oom;
    if (set_text(res, "policy", p->name) || set_text(res, "rule", rule ? rule : block) ||
        set_text(res, "result", result) ||
        set_text(res, "action", action >= 0 && action <= 2 ? action_names[action] : "enforce") ||
        set_text(res, "message", msg.p ? msg.p : "") || json_object_set(res, "violations", vs) ||
        (severity && set_text(res, "severity", pol_severities[severity])) ||
        (category && set_text(res, "category", category)) || set_text(res, "source", p->where) ||
        json_array_append(out, res))
        goto oom;
    goto done;
oom:
    rc = -1;
done:
    json_decref(res);
    json_decref(vs);
    ag_buf_clear(&msg);
    return rc;
}
