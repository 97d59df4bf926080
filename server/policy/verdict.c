/* Violations and the verdict: collect what the validators found, then turn it into
 * the decision (deny, warn or audit annotations) by each violation's action. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/buf.h"

void pol_vlist_add(vlist *l, const policy *pol, const char *rule, const char *control, int action,
               const char *message, const char *path)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        violation *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    violation *v = &l->v[l->n++];
    v->pol = pol;
    v->rule = strdup(rule ? rule : "");
    v->control = control;
    v->action = action;
    v->message = strdup(message ? message : "");
    v->path = path ? strdup(path) : NULL;
    v->block = NULL;
    v->per_rule = 0;
    v->severity = 0;
    v->category = NULL;
}

void pol_vlist_clear(vlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].rule);
        free(l->v[i].message);
        free(l->v[i].path);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

void pol_violation_tags(const violation *v, int *severity, const char **category)
{
    *severity = v->pol->severity;
    *category = v->pol->category;
    if (!v->per_rule)
        return;
    for (size_t i = 0; i < v->pol->nrules; i++) {
        const generic_rule *r = &v->pol->rules[i];
        if (r->name && !strcmp(r->name, v->rule)) {
            if (r->severity)
                *severity = r->severity;
            if (r->category)
                *category = r->category;
            return;
        }
    }
}

static void describe(ag_buf *b, const violation *v)
{
    int severity = v->severity;
    const char *category = v->category;
    ag_buf_add(b, "[policy ");
    ag_buf_add(b, v->pol->name);
    ag_buf_add(b, ", rule ");
    ag_buf_add(b, v->rule);
    if (severity) {
        ag_buf_add(b, ", severity ");
        ag_buf_add(b, pol_severities[severity]);
    }
    if (category) {
        ag_buf_add(b, ", category ");
        ag_buf_add(b, category);
    }
    ag_buf_add(b, "] ");
    ag_buf_add(b, v->message);
    if (v->path) {
        ag_buf_add(b, " (field ");
        ag_buf_add(b, v->path);
        ag_buf_add(b, ")");
    }
}

static const char *result_rule(const violation *v)
{
    return v->per_rule || !v->block ? v->rule : v->block;
}

/* The findings of the decision (aimguard/decision.h): one allocation for the array and
 * every string it holds, so that a request with violations pays one malloc for them. */
static int set_findings(ag_decision *out, const vlist *vl)
{
    if (!vl->n)
        return 0;
    size_t size = vl->n * sizeof(ag_finding);
    for (size_t i = 0; i < vl->n; i++) {
        const violation *v = &vl->v[i];
        const char *cat = v->category;
        size += strlen(v->pol->name) + strlen(result_rule(v)) + strlen(v->rule) + 3 +
                (v->path ? strlen(v->path) + 1 : 0) + (cat ? strlen(cat) + 1 : 0);
    }
    ag_finding *f = malloc(size);
    if (!f)
        return -1;
    char *p = (char *)(f + vl->n);
#define COPY(dst, src) do { size_t n_ = strlen(src) + 1; memcpy(p, (src), n_); (dst) = p; p += n_; } while (0)
    for (size_t i = 0; i < vl->n; i++) {
        const violation *v = &vl->v[i];
        COPY(f[i].policy, v->pol->name);
        COPY(f[i].rule, result_rule(v));
        COPY(f[i].check, v->rule);
        f[i].field = NULL;
        if (v->path)
            COPY(f[i].field, v->path);
        f[i].action = v->action;
        f[i].severity = v->severity ? pol_severities[v->severity] : NULL;
        f[i].category = NULL;
        if (v->category)
            COPY(f[i].category, v->category);
    }
#undef COPY
    free(out->findings);
    out->findings = f;
    out->nfindings = vl->n;
    return 0;
}

int pol_verdict(const vlist *vl, const eval_ctx *e, ag_decision *out, ag_error *err)
{
    int rc = 0;
    ag_buf deny = {0};
    size_t ndeny = 0;
    for (size_t i = 0; i < vl->n && !deny.oom; i++) {
        const violation *v = &vl->v[i];
        ag_buf one = {0};
        describe(&one, v);
        if (one.oom) {
            deny.oom = 1; /* a decision is never taken on half a message */
        } else if (v->action == AG_ACTION_ENFORCE) {
            if (ndeny++)
                ag_buf_add(&deny, "; ");
            ag_buf_addn(&deny, one.p, one.len);
        } else if (v->action == AG_ACTION_WARN) {
            ag_decision_warn(out, one.p);
        } else {
            char key[128];
            snprintf(key, sizeof key, "%s.%zu", v->pol->name, i);
            ag_decision_annotate(out, key, one.p);
        }
        ag_buf_clear(&one);
    }
    if (!deny.oom && set_findings(out, vl))
        deny.oom = 1;
    if (deny.oom) {
        rc = ag_error_set(err, AG_ENOMEM, "out of memory while describing violations");
    } else if (ndeny) {
        out->allowed = 0;
        out->code = 403;
        ag_buf msg = {0};
        ag_buf_printf(&msg, "aimguard denied %s %s%s%s: ", e->kind, *e->ns ? e->ns : "", *e->ns ? "/" : "",
                      e->name ? e->name : "");
        ag_buf_addn(&msg, deny.p, deny.len);
        out->message = ag_buf_take(&msg);
        if (!out->message)
            rc = ag_error_set(err, AG_ENOMEM, "out of memory");
        /* a denied request gets no patch */
        json_decref(out->patch);
        out->patch = NULL;
        free(out->patch_text);
        out->patch_text = NULL;
        out->patch_len = out->patch_ops = 0;
    }
    ag_buf_clear(&deny);
    return rc;
}
