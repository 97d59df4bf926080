/* The generic rule's paths and values: walking a condition's path from its root (the
 * object, the element of a forEach, its pod spec, the old object), formatting the path of
 * what was found or missed, and judging one value against a leaf condition. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PUSH(wp, t, x, i) do { if ((wp)->n < POL_MAXFRAMES) { (wp)->f[(wp)->n].type = (t); \
    (wp)->f[(wp)->n].text = (x); (wp)->f[(wp)->n].index = (i); } (wp)->n++; } while (0)

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
void pol_value_text(json_t *v, char *out, size_t cap)
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

void pol_path_format(const wpath *w, char *out, size_t cap)
{
    out[0] = '\0';
    for (int i = 0; i < w->n && i < POL_MAXFRAMES; i++) {
        char tmp[POL_PATHMAX];
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

/* the path of a missing field: the walked part, then the rule's remaining segments */
void pol_path_format_missing(const wpath *wp, const rpath *p, size_t from, char *full, size_t cap)
{
    pol_path_format(wp, full, cap);
    for (size_t i = from; i < p->nsegs; i++) {
        char tmp[POL_PATHMAX];
        if (p->segs[i].type == SEG_KEY)
            path_key(tmp, sizeof tmp, full, p->segs[i].key);
        else if (p->segs[i].type == SEG_INDEX)
            ag_strfmt(tmp, sizeof tmp, "%s[%zu]", full, p->segs[i].index);
        else
            ag_strfmt(tmp, sizeof tmp, "%s[*]", full);
        memcpy(full, tmp, cap < sizeof tmp ? cap : sizeof tmp);
        full[cap - 1] = '\0';
    }
}

void pol_render(const policy *pol, const generic_rule *r, const char *path, const char *value,
                const char *tpl, char *out, size_t cap)
{
    const char *val = value ? value : "";
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < cap; p++) {
        const char *sub = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{path}", 6)) sub = path, skip = 6;
        else if (!strncmp(p, "{value}", 7)) sub = val, skip = 7;
        else if (!strncmp(p, "{rule}", 6)) sub = r->name, skip = 6;
        else if (!strncmp(p, "{policy}", 8)) sub = pol->name, skip = 8;
        if (sub) {
            int w = snprintf(out + o, cap - o, "%s", sub ? sub : "");
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
        pol_value_text(v, buf, cap);
        *s = buf;
        *len = strlen(buf);
        return 1;
    }
    return 0;
}

/* 1 match, 0 no match, -1 a limit hit or invalid UTF-8 (callers fail closed) */
static int re_match(pcre2_code *re, const char *s, size_t len, pcre2_match_context *mctx)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, mctx) : PCRE2_ERROR_NOMEMORY;
    pcre2_match_data_free(md);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

#define LIMIT_MSG "{path} could not be checked against the rule's pattern (match limit or invalid UTF-8): denied to be safe"

/* ---- walking a path ---- */

/* v: the value reached (NULL: missing from segment `from` on) */

static const char *meta_path(pol_walker *en, const ag_podspec_ref *ref)
{
    size_t k = (size_t)(ref - en->e->specs);
    if (k >= AG_PODSPEC_MAX)
        return "metadata";
    if (!en->meta && !(en->meta = calloc(AG_PODSPEC_MAX, sizeof *en->meta)))
        return "metadata"; /* out of memory: only the path text of a message suffers */
    char *m = en->meta[k];
    if (!m[0]) {
        size_t len = strlen(ref->path);
        if (!strcmp(ref->path, "spec") || ref->meta == json_object_get(en->e->object, "metadata"))
            ag_strfmt(m, AG_PODSPEC_PATH, "metadata");
        else if (len > 5 && !strcmp(ref->path + len - 5, ".spec"))
            ag_strfmt(m, AG_PODSPEC_PATH, "%.*s.metadata", (int)(len - 5), ref->path);
        else
            ag_strfmt(m, AG_PODSPEC_PATH, "%s.metadata", ref->path);
    }
    return m;
}

static void walk(pol_walker *en, const rpath *p, size_t i, json_t *node, wpath *wp, pol_visit_fn fn, void *arg)
{
    if (i == p->nsegs) {
        fn(en, arg, node, wp, p, i);
        return;
    }
    /* no early stop when the frames run out (deep nesting): the walk goes on, so a value is
     * never skipped (fail open); only the path text in a message is cut. Recursion stays
     * bounded by the path's segments (<= 15). */
    const path_seg *s = &p->segs[i];
    eval_ctx *e = en->e;
    switch (s->type) {
    case SEG_PODSPEC:
    case SEG_PODMETA:
        for (size_t k = 0; k < e->nspecs && k < AG_PODSPEC_MAX; k++) {
            const ag_podspec_ref *saved = wp->ref;
            json_t *at = s->type == SEG_PODSPEC ? e->specs[k].spec : e->specs[k].meta;
            wp->ref = &e->specs[k];
            PUSH(wp, F_BASE, s->type == SEG_PODSPEC ? e->specs[k].path : meta_path(en, &e->specs[k]), 0);
            if (at)
                walk(en, p, i + 1, at, wp, fn, arg);
            else
                fn(en, arg, NULL, wp, p, i + 1);
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
                walk(en, p, i + 2, cr.c, wp, fn, arg);
                wp->n--;
                continue;
            }
            PUSH(wp, F_KEY, ag_container_lists[cr.list], 0);
            PUSH(wp, F_INDEX, NULL, cr.index);
            walk(en, p, i + 2, cr.c, wp, fn, arg);
            wp->n -= 2;
        }
        return;
    }
    case SEG_KEY: {
        json_t *child = json_object_get(node, s->key);
        if (!child || json_is_null(child)) {
            fn(en, arg, NULL, wp, p, i);
            return;
        }
        PUSH(wp, F_KEY, s->key, 0);
        walk(en, p, i + 1, child, wp, fn, arg);
        wp->n--;
        return;
    }
    case SEG_INDEX: {
        json_t *child = json_array_get(node, s->index);
        if (!child) {
            fn(en, arg, NULL, wp, p, i);
            return;
        }
        PUSH(wp, F_INDEX, NULL, s->index);
        walk(en, p, i + 1, child, wp, fn, arg);
        wp->n--;
        return;
    }
    case SEG_ANY:
        if (json_is_array(node)) {
            size_t k;
            json_t *c;
            json_array_foreach(node, k, c) {
                PUSH(wp, F_INDEX, NULL, k);
                walk(en, p, i + 1, c, wp, fn, arg);
                wp->n--;
            }
        } else if (json_is_object(node)) {
            const char *k;
            json_t *c;
            json_object_foreach(node, k, c) {
                PUSH(wp, F_KEY, k, 0);
                walk(en, p, i + 1, c, wp, fn, arg);
                wp->n--;
            }
        }
        return;
    }
}

/* Walks p from its root as seen from cscope sc. */
void pol_walk_from(pol_walker *en, const cscope *sc, const rpath *p, pol_visit_fn fn, void *arg)
{
    wpath wp;
    wp.n = 0;
    wp.ref = NULL;
    json_t *start = NULL, *tmp = NULL;
    switch (p->root) {
    case ROOT_OBJECT:
        start = en->e->object;
        break;
    case ROOT_THIS:
    case ROOT_KEY:
        wp.n = sc->wp->n < POL_MAXFRAMES ? sc->wp->n : POL_MAXFRAMES;
        memcpy(wp.f, sc->wp->f, (size_t)wp.n * sizeof wp.f[0]);
        wp.ref = sc->ref;
        start = p->root == ROOT_THIS ? sc->elem : sc->key ? (tmp = json_string(sc->key)) : NULL;
        break;
    case ROOT_PODSPEC:
        if (!sc->ref)
            return; /* not inside a pod spec: nothing to judge */
        wp.ref = sc->ref;
        PUSH(&wp, F_BASE, sc->ref->path, 0);
        start = sc->ref->spec;
        break;
    case ROOT_OLD:
        PUSH(&wp, F_BASE, "oldObject", 0);
        start = en->e->old;
        if (!start)
            return; /* no old object (CREATE): does not apply */
        break;
    }
    if (!start)
        fn(en, arg, NULL, &wp, p, 0);
    else
        walk(en, p, 0, start, &wp, fn, arg);
    json_decref(tmp);
}

/* The one value at p (no wildcards: compiled so), or NULL. */
static void one_visit(pol_walker *en, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from)
{
    (void)en, (void)wp, (void)p, (void)from;
    *(json_t **)arg = v;
}

json_t *pol_value_at(pol_walker *en, const cscope *sc, const rpath *p)
{
    json_t *v = NULL;
    pol_walk_from(en, sc, p, one_visit, &v);
    return v; /* borrowed from the object, except a $key string (kept alive by nothing): */
}

/* ---- judging one value ---- */

static const char *const type_names[] = {"an object", "a list", "a string", "a number", "an integer", "a boolean"};

/* NULL when v meets the leaf's condition, else the default message (may use why). */
const char *pol_judge(pol_walker *en, const cscope *sc, const cnode *n, json_t *v, char *why, size_t cap)
{
    switch (n->cond) {
    case COND_EXISTS:
        return NULL;
    case COND_ABSENT:
        return "{path} must not be set";
    case COND_EQUALS:
        return json_equal(v, n->value) ? NULL : "{path} must equal the value the policy sets";
    case COND_ONEOF: {
        size_t i;
        json_t *x;
        json_array_foreach(n->value, i, x) if (json_equal(v, x)) return NULL;
        return "{path} must be one of the values the policy lists";
    }
    case COND_CONTAINS: {
        if (!json_is_array(v))
            return "{path} must be a list";
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (json_equal(x, n->value)) return NULL;
        char val[128];
        pol_value_text(n->value, val, sizeof val);
        snprintf(why, cap, "{path} must contain %s", val);
        return why;
    }
    case COND_MATCHES:
    case COND_NOTMATCHES: {
        char buf[64];
        const char *s;
        size_t len;
        if (!n->re)
            return NULL;
        if (!text_of(v, buf, sizeof buf, &s, &len))
            return "{path} must be a string";
        int m = re_match(n->re, s, len, en->e->mctx);
        if (m < 0)
            return LIMIT_MSG;
        if (n->cond == COND_MATCHES && !m)
            return "{path} must match the rule's pattern";
        if (n->cond == COND_NOTMATCHES && m)
            return "{path} must not match the rule's pattern";
        return NULL;
    }
    case COND_KEYSIN:
    case COND_KEYSMATCH:
    case COND_KEYSNOTMATCH: {
        if (!json_is_object(v))
            return "{path} must be a mapping";
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            int bad;
            if (n->cond == COND_KEYSIN) {
                bad = 1;
                for (size_t i = 0; bad && i < n->keys.n; i++)
                    bad = strcmp(n->keys.v[i], k) != 0;
            } else {
                int m = n->re ? re_match(n->re, k, strlen(k), en->e->mctx) : 0;
                if (m < 0)
                    return LIMIT_MSG;
                bad = n->cond == COND_KEYSMATCH ? !m : m;
            }
            if (bad) {
                /* a key names a field or a type (never a value): safe to show, cut short */
                snprintf(why, cap, "{path} has key '%.60s'%s", k,
                         n->cond == COND_KEYSIN ? ", which the rule does not allow"
                         : n->cond == COND_KEYSMATCH ? ", which does not match the rule's pattern"
                                                     : ", which matches the rule's pattern");
                return why;
            }
        }
        return NULL;
    }
    case COND_RANGE:
        if (!json_is_number(v))
            return "{path} must be a number";
        if ((n->has_min && json_number_value(v) < n->min) || (n->has_max && json_number_value(v) > n->max))
            return "{path} is out of the allowed range";
        return NULL;
    case COND_LENGTH: {
        size_t len = json_is_array(v) ? json_array_size(v) : json_is_object(v) ? json_object_size(v)
                     : json_is_string(v) ? json_string_length(v) : (size_t)-1;
        if (len == (size_t)-1)
            return "{path} must be a list, a mapping or a string";
        if (n->has_min && (double)len < n->min) {
            snprintf(why, cap, "{path} must have at least %.0f entr%s", n->min, n->min == 1 ? "y" : "ies");
            return why;
        }
        if (n->has_max && (double)len > n->max) {
            snprintf(why, cap, "{path} must have at most %.0f entr%s", n->max, n->max == 1 ? "y" : "ies");
            return why;
        }
        return NULL;
    }
    case COND_TYPE: {
        int ok = 0;
        switch (n->want) {
        case JT_OBJECT: ok = json_is_object(v); break;
        case JT_LIST: ok = json_is_array(v); break;
        case JT_STRING: ok = json_is_string(v); break;
        case JT_NUMBER: ok = json_is_number(v); break;
        case JT_INTEGER: ok = json_is_integer(v); break;
        case JT_BOOLEAN: ok = json_is_boolean(v); break;
        }
        if (ok)
            return NULL;
        snprintf(why, cap, "{path} must be %s", type_names[n->want]);
        return why;
    }
    case COND_LT:
    case COND_LE:
    case COND_GT:
    case COND_GE: {
        quantity have, lim;
        if (pol_quantity_of_json(v, &have))
            return "{path} must be a Kubernetes quantity (a number, or text such as 500m or 2Gi)";
        const char *lim_text = n->q_text;
        if (n->other.text) {
            json_t *o = pol_value_at(en, sc, &n->other);
            if (!o)
                return NULL; /* nothing to compare with */
            if (pol_quantity_of_json(o, &lim)) {
                snprintf(why, cap, "{path} cannot be compared: %s is not a Kubernetes quantity", n->other.text);
                return why;
            }
            lim_text = n->other.text;
        } else {
            lim = n->q;
        }
        int c = pol_quantity_cmp(&have, &lim);
        int ok = n->cond == COND_LT ? c < 0 : n->cond == COND_LE ? c <= 0 : n->cond == COND_GT ? c > 0 : c >= 0;
        if (ok)
            return NULL;
        static const char *const ops[] = {"less than", "at most", "greater than", "at least"};
        snprintf(why, cap, "{path} must be %s %s", ops[n->cond - COND_LT], lim_text ? lim_text : "");
        return why;
    }
    case COND_UNCHANGED:
        return NULL; /* judged in eval_leaf: it needs the old object */
    }
    return NULL;
}

/* ---- conditions ---- */

