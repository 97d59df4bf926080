/* One AdmissionPolicy document -> compiled policy: the envelope (apiVersion, kind,
 * metadata), spec.action, match/exclude, exceptions, and each block through the block
 * table (blocks.c). Every error names file:line:column; unknown fields are errors (a typo
 * such as runAsNonroot must never be silently ignored). */
#include "schema.h"

#include "aimguard/kinds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A policy whose blocks only run on a webhook that never receives a kind it names can
 * never fire on that kind: a warning, since a deployment may send more than the shipped
 * webhook configurations do. */
static void warn_unsent_kinds(cctx *c, const ag_ynode *v, const policy *p)
{
    unsigned need = 0;
    for (const pol_block *const *b = pol_blocks; *b; b++)
        if ((*b)->present(p))
            need |= (*b)->phase == POL_MUTATE ? AG_SENT_MUTATE : AG_SENT_VALIDATE;
    for (size_t i = 0; need && v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *e = v->items[i];
        char msg[512];
        unsigned sent;
        if (e->type != AG_YNODE_SCALAR || ag_kinds_check(e->value, &sent, msg, sizeof msg) || (sent & need))
            continue;
        const char *to = sent ? (need == AG_SENT_MUTATE ? " to /mutate" : " to /validate") : "";
        pol_warn(c, e, "spec.match.kinds: %s is not sent by the shipped webhook configurations%s "
                 "(deploy/base/webhooks.yaml), so this policy never sees it; to judge it, add it to "
                 "the rules of your webhook configurations", e->value, to);
    }
}

/* "2027-03-01" (that day 00:00 UTC) or RFC 3339 "2027-03-01T12:00:00Z" */
static time_t parse_date(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return 0;
    if (*end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (!end || strcmp(end, "Z"))
            return 0;
    } else if (*end) {
        return 0;
    }
    return timegm(&tm);
}

/* 1 when a block or rule of p reports or sets `name` (an exception naming a control the
 * policy never checks waives nothing): each block's `uses`, or its controls when present
 * (mutator names count for the whole securityContext block, PSS IDs for any podSecurity
 * level but privileged, which checks nothing). */
static int control_used(const policy *p, const char *name)
{
    for (const pol_block *const *b = pol_blocks; *b; b++) {
        if ((*b)->uses) {
            if ((*b)->uses(p, name))
                return 1;
            continue;
        }
        for (const char *const *k = (*b)->controls; k && *k && (*b)->present(p); k++)
            if (pol_control_matches(name, *k))
                return 1;
    }
    return 0;
}

/* The controls an exception may name: what the blocks of a policy check (PSS check IDs,
 * mutators, blocks) and the policy's own rule names; "capabilities" stands for every
 * capabilities_* check (pol_control_matches). */
static void check_controls(cctx *c, const ag_ynode *v, const policy *p)
{
    /* the blocks' fixed controls first, then those known at run time (PSS check IDs, rule
     * names): the order did-you-mean prefers on a tie */
    size_t n = 0, cap = 0;
    for (const pol_block *const *b = pol_blocks; *b; b++) {
        for (const char *const *k = (*b)->controls; k && *k; k++)
            cap++;
        if ((*b)->names)
            cap += (*b)->names(p, NULL);
    }
    const char **all = calloc(cap + 1, sizeof *all);
    if (!all) {
        pol_err(c, v, "out of memory");
        return;
    }
    for (const pol_block *const *b = pol_blocks; *b; b++)
        for (const char *const *k = (*b)->controls; k && *k; k++)
            all[n++] = *k;
    for (const pol_block *const *b = pol_blocks; *b; b++)
        if ((*b)->names)
            n += (*b)->names(p, all + n);
    for (size_t i = 0; v && v->type == AG_YNODE_SEQ && i < v->count; i++) {
        const ag_ynode *at = v->items[i];
        if (at->type != AG_YNODE_SCALAR)
            continue; /* reported by pol_get_strlist */
        const char *name = at->value;
        int ok = !strcmp(name, "*"); /* refused on its own below */
        for (size_t j = 0; !ok && j < n; j++)
            ok = pol_control_matches(name, all[j]);
        if (ok && strcmp(name, "*") && !control_used(p, name))
            pol_warn(c, at, "exceptions[].controls: '%s' waives nothing: no block or rule of policy %s "
                      "checks it", name, p->name ? p->name : "");
        if (ok)
            continue;
        const char *best = pol_closest(name, all);
        if (best)
            pol_err(c, at, "exceptions[].controls: unknown control '%s' (did you mean '%s'?)", name, best);
        else
            pol_err(c, at, "exceptions[].controls: unknown control '%s' (a PSS check ID, a mutator, "
                     "images, secrets, rbac, aim, gpuPlacement or a rule name of this policy)", name);
    }
    free(all);
}

static void compile_exception(cctx *c, const ag_ynode *n, const policy *p, exception_ *x)
{
    static const char *const keys[] = {"controls", "namespaces", "names", "users", "kinds",
                                       "images", "reason", "expires", NULL};
    if (pol_check_map(c, n, "spec.exceptions[]", keys))
        return;
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, n->line, n->column);
    x->where = strdup(where);
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "controls"))) {
        pol_get_strlist(c, v, "exceptions[].controls", &x->controls);
        check_controls(c, v, p);
    }
    if (x->controls.n == 0)
        pol_err(c, n, "an exception must name the controls it waives");
    for (size_t i = 0; i < x->controls.n; i++)
        if (!strcmp(x->controls.v[i], "*"))
            pol_err(c, v, "an exception cannot waive every control ('*'): narrow the policy's "
                           "match instead");
    if ((v = ag_ynode_get(n, "namespaces"))) pol_get_strlist(c, v, "exceptions[].namespaces", &x->namespaces);
    if ((v = ag_ynode_get(n, "names"))) pol_get_strlist(c, v, "exceptions[].names", &x->names);
    if ((v = ag_ynode_get(n, "users"))) pol_get_strlist(c, v, "exceptions[].users", &x->users);
    if ((v = ag_ynode_get(n, "kinds"))) {
        pol_get_strlist(c, v, "exceptions[].kinds", &x->kinds);
        pol_check_kinds(c, v, "exceptions[].kinds");
    }
    if ((v = ag_ynode_get(n, "images")) && !pol_need_version(c, v, "exceptions[].images", 2)) {
        pol_image_patterns_compile(c, v, "exceptions[].images", &x->images);
        /* only checks that look at one container at a time can waive per image */
        for (size_t i = 0; i < x->controls.n; i++) {
            int per_container = !strcmp(x->controls.v[i], "images");
            for (const char *const *id = ag_pss_check_ids(); !per_container && *id; id++)
                per_container = pol_control_matches(x->controls.v[i], *id);
            if (!per_container)
                pol_err(c, v, "exceptions[].images: control '%s' is not judged per container; an "
                         "exception scoped by images may name Pod Security check IDs and images only",
                         x->controls.v[i]);
        }
    }
    if (!x->namespaces.n && !x->names.n && !x->users.n && !x->images.n)
        pol_err(c, n, "an exception must be scoped by namespaces, names, users or images");
    v = ag_ynode_get(n, "reason");
    const char *reason = v ? pol_scalar(c, v, "reason") : NULL;
    if (!reason || !*reason)
        pol_err(c, v ? v : n, "an exception needs a reason");
    else
        x->reason = strdup(reason);
    if ((v = ag_ynode_get(n, "expires"))) {
        const char *e = pol_scalar(c, v, "expires");
        if (e && !(x->expires = parse_date(e)))
            pol_err(c, v, "expires must be a date (2027-03-01) or an RFC 3339 UTC time "
                           "(2027-03-01T12:00:00Z)");
        else if (e)
            x->expires_text = strdup(e);
    } else {
        pol_warn(c, n, "exception has no expires: it waives its controls for good (give it a date, "
                  "expires: YYYY-MM-DD, so the control comes back by itself)");
    }
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

int pol_policy_compile(cctx *c, const ag_ynode *doc, policy *p)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const meta[] = {"name", "annotations", "labels", NULL};
    static const char *const spec[] = {"action", "match", "exclude", "mutate", "validate",
                                       "exceptions", "severity", "category", NULL};
    /* the keys of spec.mutate and spec.validate: the blocks of the table, by phase */
    const char *mut[POL_MAX_BLOCKS + 1], *val[POL_MAX_BLOCKS + 1];
    size_t nmut = 0, nval = 0;
    int before = c->errors;
    memset(p, 0, sizeof *p);
    for (const pol_block *const *b = pol_blocks; *b; b++) {
        if ((*b)->phase == POL_MUTATE)
            mut[nmut++] = (*b)->key;
        else
            val[nval++] = (*b)->key;
        if ((*b)->init)
            (*b)->init(p);
    }
    mut[nmut] = val[nval] = NULL;
    if (pol_check_map(c, doc, "the document", top))
        return -1;
    const char *api = pol_scalar(c, ag_ynode_get(doc, "apiVersion"), "apiVersion");
    c->version = 1;
    if (api && !strcmp(api, "policy.aimguard.io/v1alpha2"))
        c->version = 2;
    else if (api && strcmp(api, "policy.aimguard.io/v1alpha1"))
        pol_err(c, ag_ynode_get(doc, "apiVersion"),
                "apiVersion must be policy.aimguard.io/v1alpha2 or policy.aimguard.io/v1alpha1");
    const char *kind = pol_scalar(c, ag_ynode_get(doc, "kind"), "kind");
    if (kind && strcmp(kind, "AdmissionPolicy"))
        pol_err(c, ag_ynode_get(doc, "kind"), "kind must be AdmissionPolicy");
    const ag_ynode *md = ag_ynode_get(doc, "metadata");
    if (!pol_check_map(c, md, "metadata", meta)) {
        const ag_ynode *nm = ag_ynode_get(md, "name");
        const char *name = pol_scalar(c, nm, "metadata.name");
        if (name && !valid_name(name))
            pol_err(c, nm, "metadata.name '%s' must be a DNS label (a-z, 0-9, '-', at most 63)", name);
        p->name = pol_strdup(c, nm, name);
    }
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, doc->line, doc->column);
    p->where = strdup(where);
    const ag_ynode *sp = ag_ynode_get(doc, "spec");
    if (pol_check_map(c, sp, "spec", spec))
        return -1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(sp, "action"))) p->action = pol_parse_action(c, v, "spec.action");
    pol_parse_tags(c, sp, "spec.", &p->severity, &p->category);
    if ((v = ag_ynode_get(sp, "match"))) pol_selector_compile(c, v, "spec.match", &p->match, 1);
    else pol_err(c, sp, "spec.match is required");
    if ((v = ag_ynode_get(sp, "exclude"))) pol_selector_compile(c, v, "spec.exclude", &p->exclude, 0);
    const ag_ynode *m = ag_ynode_get(sp, "mutate");
    const ag_ynode *va = ag_ynode_get(sp, "validate");
    for (int phase = POL_MUTATE; phase <= POL_VALIDATE; phase++) {
        const ag_ynode *section = phase == POL_MUTATE ? m : va;
        if (!section || pol_check_map(c, section, phase == POL_MUTATE ? "spec.mutate" : "spec.validate",
                                      phase == POL_MUTATE ? mut : val))
            continue;
        for (const pol_block *const *b = pol_blocks; *b; b++)
            if ((int)(*b)->phase == phase && (v = ag_ynode_get(section, (*b)->key)))
                (*b)->compile(c, v, p);
    }
    if ((v = ag_ynode_get(sp, "exceptions"))) {
        if (v->type != AG_YNODE_SEQ) {
            pol_err(c, v, "spec.exceptions must be a list");
        } else if ((p->exc = calloc(v->count ? v->count : 1, sizeof *p->exc))) {
            for (size_t i = 0; i < v->count; i++)
                compile_exception(c, v->items[i], p, &p->exc[p->nexc++]);
        }
    }
    if (!m && !va)
        pol_err(c, sp, "a policy needs a mutate or a validate block");
    if (c->errors == before)
        warn_unsent_kinds(c, ag_ynode_get(ag_ynode_get(sp, "match"), "kinds"), p);
    return c->errors > before ? -1 : 0;
}

void pol_policy_free(policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->where);
    free(p->category);
    pol_selector_free(&p->match);
    pol_selector_free(&p->exclude);
    for (const pol_block *const *b = pol_blocks; *b; b++)
        if ((*b)->free)
            (*b)->free(p);
    for (size_t i = 0; i < p->nexc; i++) {
        exception_ *x = &p->exc[i];
        pol_strlist_free(&x->controls);
        pol_strlist_free(&x->namespaces);
        pol_strlist_free(&x->names);
        pol_strlist_free(&x->users);
        pol_strlist_free(&x->kinds);
        pol_strlist_free(&x->images);
        free(x->reason);
        free(x->expires_text);
        free(x->where);
    }
    free(p->exc);
    memset(p, 0, sizeof *p);
}
