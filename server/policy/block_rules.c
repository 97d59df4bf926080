/* spec.validate.rules: the generic rule, a field path with wildcards and one condition. */
#include "schema.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PATHMAX 512
#define MAXFRAMES 40

/* "spec.containers[*].ports[*].hostPort", "podSpec.allContainers[*].image",
 * "metadata.labels['app.kubernetes.io/name']" */
static int compile_path(cctx *c, const ag_ynode *n, generic_rule *r)
{
    const char *p = r->path_text;
    size_t cap = 16;
    r->segs = calloc(cap, sizeof *r->segs);
    if (!r->segs)
        return -1;
    int first = 1;
    while (*p) {
        if (r->nsegs + 1 >= cap) {
            pol_err(c, n, "path '%s' has too many segments (max 15)", r->path_text);
            return -1;
        }
        path_seg *s = &r->segs[r->nsegs];
        if (*p == '[') {
            p++;
            if (*p == '*' && p[1] == ']') {
                s->type = SEG_ANY;
                p += 2;
            } else if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *e = strchr(p, q);
                if (!e || e[1] != ']') {
                    pol_err(c, n, "path '%s': unterminated quoted key", r->path_text);
                    return -1;
                }
                s->type = SEG_KEY;
                s->key = strndup(p, (size_t)(e - p));
                p = e + 2;
            } else if (isdigit((unsigned char)*p)) {
                char *end;
                s->type = SEG_INDEX;
                s->index = strtoul(p, &end, 10);
                if (*end != ']') {
                    pol_err(c, n, "path '%s': bad index", r->path_text);
                    return -1;
                }
                p = end + 1;
            } else {
                pol_err(c, n, "path '%s': expected [*], [N] or ['key']", r->path_text);
                return -1;
            }
        } else {
            if (*p == '.') {
                if (first) {
                    pol_err(c, n, "path '%s' must not start with '.'", r->path_text);
                    return -1;
                }
                p++;
            }
            size_t len = strcspn(p, ".[");
            if (len == 0) {
                pol_err(c, n, "path '%s' has an empty segment", r->path_text);
                return -1;
            }
            s->type = SEG_KEY;
            s->key = strndup(p, len);
            if (first && !strcmp(s->key, "podSpec"))
                s->type = SEG_PODSPEC;
            else if (r->nsegs == 1 && r->segs[0].type == SEG_PODSPEC && !strcmp(s->key, "allContainers"))
                s->type = SEG_ALLCONTAINERS;
            p += len;
        }
        first = 0;
        r->nsegs++;
    }
    if (r->nsegs == 0) {
        pol_err(c, n, "path must not be empty");
        return -1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].type == SEG_ALLCONTAINERS && (i + 1 >= r->nsegs || r->segs[i + 1].type != SEG_ANY)) {
            pol_err(c, n, "path '%s': allContainers must be followed by [*]", r->path_text);
            return -1;
        }
    return 0;
}

static void compile_rule(cctx *c, const ag_ynode *n, policy *p, generic_rule *r)
{
    static const char *const keys[] = {"name", "action", "path", "absent", "equals", "oneOf",
                                       "matches", "notMatches", "range", "required", "message",
                                       "severity", "category", NULL};
    r->action = -1;
    if (pol_check_map(c, n, "spec.validate.rules[]", keys))
        return;
    const ag_ynode *nm = ag_ynode_get(n, "name"), *pa = ag_ynode_get(n, "path");
    if (!nm) pol_err(c, n, "rule: name is required");
    else if (pol_scalar(c, nm, "rule name")) r->name = strdup(nm->value);
    if (!pa) pol_err(c, n, "rule %s: path is required", r->name ? r->name : "");
    else if (pol_scalar(c, pa, "path")) {
        r->path_text = strdup(pa->value);
        compile_path(c, pa, r);
    }
    for (size_t i = 0; r->name && i < p->nrules; i++)
        if (p->rules[i].name && !strcmp(p->rules[i].name, r->name))
            pol_err(c, nm, "rule name '%s' is used twice in policy %s", r->name, p->name);
    const ag_ynode *a = ag_ynode_get(n, "action");
    if (a) r->action = pol_parse_action(c, a, "rule action");
    const ag_ynode *req = ag_ynode_get(n, "required");
    if (req) pol_get_bool(c, req, "required", &r->required);
    const ag_ynode *msg = ag_ynode_get(n, "message");
    if (msg && pol_scalar(c, msg, "message")) r->message = strdup(msg->value);
    pol_parse_tags(c, n, "rule ", &r->severity, &r->category);

    int nconds = 0;
    const ag_ynode *cn;
    if ((cn = ag_ynode_get(n, "absent"))) {
        int b = 0;
        if (!pol_get_bool(c, cn, "absent", &b) && !b)
            pol_err(c, cn, "absent: false says nothing; use required: true");
        r->cond = COND_ABSENT, nconds++;
    }
    if ((cn = ag_ynode_get(n, "equals"))) {
        r->cond = COND_EQUALS, nconds++;
        json_decref(r->value);
        r->value = pol_to_json(c, cn);
    }
    if ((cn = ag_ynode_get(n, "oneOf"))) {
        r->cond = COND_ONEOF, nconds++;
        if (cn->type != AG_YNODE_SEQ || cn->count == 0)
            pol_err(c, cn, "oneOf must be a non-empty list");
        else {
            json_decref(r->value);
            r->value = pol_to_json(c, cn);
        }
    }
    const ag_ynode *mt = ag_ynode_get(n, "matches"), *nmt = ag_ynode_get(n, "notMatches");
    if (mt || nmt) {
        const ag_ynode *pn = mt ? mt : nmt;
        r->cond = mt ? COND_MATCHES : COND_NOTMATCHES;
        nconds += (mt != NULL) + (nmt != NULL);
        const char *pat = pol_scalar(c, pn, "pattern");
        if (pat && (r->re = pol_regex_compile(c, pn, pat)))
            r->pattern = strdup(pat);
    }
    if ((cn = ag_ynode_get(n, "range"))) {
        static const char *const rkeys[] = {"min", "max", NULL};
        r->cond = COND_RANGE, nconds++;
        if (!pol_check_map(c, cn, "range", rkeys)) {
            const ag_ynode *mn = ag_ynode_get(cn, "min"), *mx = ag_ynode_get(cn, "max");
            if (mn) r->has_min = !pol_get_number(c, mn, "range.min", &r->min);
            if (mx) r->has_max = !pol_get_number(c, mx, "range.max", &r->max);
            if (!mn && !mx) pol_err(c, cn, "range needs min, max or both");
            if (r->has_min && r->has_max && r->min > r->max) pol_err(c, cn, "range: min > max");
        }
    }
    if (nconds == 0 && r->required)
        r->cond = COND_EXISTS; /* "the path exists", nothing more */
    if (nconds != 1 && !(nconds == 0 && r->required))
        pol_err(c, n, "rule %s: exactly one condition is needed (absent, equals, oneOf, "
                       "matches, notMatches or range)", r->name ? r->name : "");
}

/* The path walked so far, kept as frames and only turned into text when a violation
 * is reported: formatting every visited path dominated evaluation time. */
typedef struct frame {
    const char *text; /* a key, or a dotted prefix (pod spec base) */
    size_t index;
    enum { F_KEY, F_INDEX, F_BASE } type;
} frame;

typedef struct wpath {
    frame f[MAXFRAMES];
    int n;
    const ag_podspec_ref *ref; /* the pod spec walked into (podSpec.allContainers) */
} wpath;

static void path_key(char *out, size_t cap, const char *base, const char *key)
{
    if (strpbrk(key, ".[]'"))
        ag_strfmt(out, cap, "%s['%s']", base, key);
    else if (*base)
        ag_strfmt(out, cap, "%s.%s", base, key);
    else
        snprintf(out, cap, "%s", key);
}

/* The value as short text for messages ({value}); strings unquoted. */
static void value_text(json_t *v, char *out, size_t cap)
{
    if (json_is_string(v)) {
        snprintf(out, cap, "%s", json_string_value(v));
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, cap, "%s", t ? t : "?");
        free(t);
    }
    if (strlen(out) > 120)
        memcpy(out + 117, "...", 4);
}

static void format_path(const wpath *w, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < w->n; i++) {
        char tmp[PATHMAX];
        const frame *f = &w->f[i];
        if (f->type == F_BASE)
            ag_strfmt(tmp, sizeof tmp, "%s", f->text);
        else if (f->type == F_KEY)
            path_key(tmp, sizeof tmp, out, f->text);
        else
            ag_strfmt(tmp, sizeof tmp, "%s[%zu]", out, f->index);
        memcpy(out, tmp, cap < sizeof tmp ? cap : sizeof tmp);
        out[cap - 1] = '\0';
    }
}

static void render(const policy *pol, const generic_rule *r, const char *path, json_t *v,
                   const char *dflt, char *out, size_t cap)
{
    const char *tpl = r->message ? r->message : dflt;
    char val[128] = "";
    if (v)
        value_text(v, val, sizeof val);
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < cap; p++) {
        const char *sub = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{path}", 6)) sub = path, skip = 6;
        else if (!strncmp(p, "{value}", 7)) sub = val, skip = 7;
        else if (!strncmp(p, "{rule}", 6)) sub = r->name, skip = 6;
        else if (!strncmp(p, "{policy}", 8)) sub = pol->name, skip = 8;
        if (sub) {
            int w = snprintf(out + o, cap - o, "%s", sub);
            if (w < 0 || (size_t)w >= cap - o) {
                o = cap - 1;
                break;
            }
            o += (size_t)w;
            p += skip - 1;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static int text_of(json_t *v, char *buf, size_t cap, const char **s, size_t *len)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 1;
    }
    if (json_is_number(v) || json_is_boolean(v)) {
        value_text(v, buf, cap);
        *s = buf;
        *len = strlen(buf);
        return 1;
    }
    return 0;
}

static void judge(const policy *pol, const generic_rule *r, eval_ctx *e, json_t *v,
                  const wpath *wp, vlist *out)
{
    char msg[768], path[PATHMAX];
    const char *dflt = NULL;
    switch (r->cond) {
    case COND_EXISTS:
        break; /* present (missing() judges the absence) */
    case COND_ABSENT:
        dflt = "{path} must not be set";
        break;
    case COND_EQUALS:
        if (!json_equal(v, r->value))
            dflt = "{path} must equal the value the policy sets";
        break;
    case COND_ONEOF: {
        int ok = 0;
        size_t i;
        json_t *x;
        json_array_foreach(r->value, i, x) ok |= json_equal(v, x);
        if (!ok)
            dflt = "{path} must be one of the values the policy lists";
        break;
    }
    case COND_MATCHES:
    case COND_NOTMATCHES: {
        char buf[64];
        const char *s;
        size_t len;
        int matched = 0;
        if (!r->re) {
            break;
        } else if (!text_of(v, buf, sizeof buf, &s, &len)) {
            dflt = "{path} must be a string";
            break;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re, NULL);
        int rc = md ? pcre2_match(r->re, (PCRE2_SPTR)s, len, 0, 0, md, e->mctx) : PCRE2_ERROR_NOMEMORY;
        pcre2_match_data_free(md);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            /* a limit hit or bad UTF-8: fail closed, and say why */
            dflt = "{path} could not be checked against the rule's pattern (match limit or "
                   "invalid UTF-8): denied to be safe";
            break;
        }
        matched = rc >= 0;
        if (r->cond == COND_MATCHES && !matched)
            dflt = "{path} must match the rule's pattern";
        if (r->cond == COND_NOTMATCHES && matched)
            dflt = "{path} must not match the rule's pattern";
        break;
    }
    case COND_RANGE:
        if (!json_is_number(v)) {
            dflt = "{path} must be a number";
        } else {
            double x = json_number_value(v);
            if ((r->has_min && x < r->min) || (r->has_max && x > r->max))
                dflt = "{path} is out of the allowed range";
        }
        break;
    }
    if (!dflt)
        return;
    if (pol_exception_applies(pol, e, r->name))
        return;
    format_path(wp, path, sizeof path);
    render(pol, r, path, v, dflt, msg, sizeof msg);
    pol_vlist_add(out, pol, r->name, r->name, r->action >= 0 ? r->action : pol->action, msg, path);
}

static void missing(const policy *pol, const generic_rule *r, eval_ctx *e, const wpath *wp,
                    size_t from, vlist *out)
{
    if (!r->required || pol_exception_applies(pol, e, r->name))
        return;
    char full[PATHMAX], msg[768];
    format_path(wp, full, sizeof full);
    for (size_t i = from; i < r->nsegs; i++) {
        char tmp[PATHMAX];
        if (r->segs[i].type == SEG_KEY)
            path_key(tmp, sizeof tmp, full, r->segs[i].key);
        else if (r->segs[i].type == SEG_INDEX)
            ag_strfmt(tmp, sizeof tmp, "%s[%zu]", full, r->segs[i].index);
        else
            ag_strfmt(tmp, sizeof tmp, "%s[*]", full);
        memcpy(full, tmp, sizeof full);
    }
    render(pol, r, full, NULL, r->message ? r->message : "{path} is required", msg, sizeof msg);
    pol_vlist_add(out, pol, r->name, r->name, r->action >= 0 ? r->action : pol->action, msg, full);
}

#define PUSH(wp, t, x, i) do { if ((wp)->n < MAXFRAMES) { (wp)->f[(wp)->n].type = (t); \
    (wp)->f[(wp)->n].text = (x); (wp)->f[(wp)->n].index = (i); } (wp)->n++; } while (0)

static void walk(const policy *pol, const generic_rule *r, eval_ctx *e, size_t i, json_t *node,
                 wpath *wp, vlist *out)
{
    if (i == r->nsegs) {
        judge(pol, r, e, node, wp, out);
        return;
    }
    if (wp->n >= MAXFRAMES)
        return; /* paths are bounded by the rule (<= 15 segments) */
    const path_seg *s = &r->segs[i];
    switch (s->type) {
    case SEG_PODSPEC:
        for (size_t k = 0; k < e->nspecs; k++) {
            const ag_podspec_ref *saved = wp->ref;
            wp->ref = &e->specs[k];
            PUSH(wp, F_BASE, e->specs[k].path, 0);
            walk(pol, r, e, i + 1, e->specs[k].spec, wp, out);
            wp->n--;
            wp->ref = saved;
        }
        return;
    case SEG_ALLCONTAINERS: {
        /* every container of the pod spec walked into, single-container specs included */
        ag_container_iter it;
        ag_container_ref cr;
        ag_container_iter_init(&it, wp->ref);
        while (wp->ref && ag_container_next(&it, &cr)) {
            if (cr.single) {
                PUSH(wp, F_KEY, cr.single, 0);
                walk(pol, r, e, i + 2, cr.c, wp, out);
                wp->n--;
                continue;
            }
            PUSH(wp, F_KEY, ag_container_lists[cr.list], 0);
            PUSH(wp, F_INDEX, NULL, cr.index);
            walk(pol, r, e, i + 2, cr.c, wp, out);
            wp->n -= 2;
        }
        return;
    }
    case SEG_KEY: {
        json_t *child = json_object_get(node, s->key);
        if (!child || json_is_null(child)) {
            missing(pol, r, e, wp, i, out);
            return;
        }
        PUSH(wp, F_KEY, s->key, 0);
        walk(pol, r, e, i + 1, child, wp, out);
        wp->n--;
        return;
    }
    case SEG_INDEX: {
        json_t *child = json_array_get(node, s->index);
        if (!child) {
            missing(pol, r, e, wp, i, out);
            return;
        }
        PUSH(wp, F_INDEX, NULL, s->index);
        walk(pol, r, e, i + 1, child, wp, out);
        wp->n--;
        return;
    }
    case SEG_ANY:
        if (json_is_array(node)) {
            size_t k;
            json_t *c;
            json_array_foreach(node, k, c) {
                PUSH(wp, F_INDEX, NULL, k);
                walk(pol, r, e, i + 1, c, wp, out);
                wp->n--;
            }
        } else if (json_is_object(node)) {
            const char *k;
            json_t *c;
            json_object_foreach(node, k, c) {
                PUSH(wp, F_KEY, k, 0);
                walk(pol, r, e, i + 1, c, wp, out);
                wp->n--;
            }
        }
        return;
    }
}

static void validate_generic(const policy *pol, const generic_rule *r, eval_ctx *e, vlist *out)
{
    if (!r->segs)
        return;
    wpath wp;
    wp.n = 0;
    wp.ref = NULL;
    walk(pol, r, e, 0, e->object, &wp, out);
}

static void rules_compile(cctx *c, const ag_ynode *v, policy *p)
{
    if (v->type != AG_YNODE_SEQ) {
        pol_err(c, v, "spec.validate.rules must be a list");
    } else if ((p->rules = calloc(v->count ? v->count : 1, sizeof *p->rules))) {
        for (size_t i = 0; i < v->count; i++) {
            compile_rule(c, v->items[i], p, &p->rules[p->nrules]);
            p->nrules++;
        }
    }
}

static int rules_present(const policy *p) { return p->nrules > 0; }

static void rules_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    for (size_t r = 0; r < p->nrules; r++) {
        const generic_rule *g = &p->rules[r];
        /* an UPDATE that keeps the pod specs: they were judged when written */
        if (e->specs_unchanged && g->nsegs && g->segs[0].type == SEG_PODSPEC)
            continue;
        validate_generic(p, g, e, out);
    }
}

static void rules_free(policy *p)
{
    for (size_t i = 0; i < p->nrules; i++) {
        generic_rule *r = &p->rules[i];
        free(r->name);
        free(r->path_text);
        for (size_t j = 0; j < r->nsegs; j++)
            free(r->segs[j].key);
        free(r->segs);
        json_decref(r->value);
        pcre2_code_free(r->re);
        free(r->pattern);
        free(r->message);
        free(r->category);
    }
    free(p->rules);
}

/* an exception may name a rule of its own policy */
static size_t rules_names(const policy *p, const char **out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name) {
            if (out)
                out[n] = p->rules[i].name;
            n++;
        }
    return n;
}

static int rules_uses(const policy *p, const char *control)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (p->rules[i].name && pol_control_matches(control, p->rules[i].name))
            return 1;
    return 0;
}

const pol_block pol_block_rules = {
    .key = "rules", .phase = POL_VALIDATE, .compile = rules_compile, .present = rules_present,
    .validate = rules_validate, .free = rules_free, .names = rules_names, .uses = rules_uses,
    .report_rules = rules_names,
};
