/* Runs a generic rule (cond_compile.c) on a request. A condition is three-valued: it
 * holds (PASS), it is broken (FAIL), or it does not apply (NA: its field is missing and
 * not required, or a forEach found no element). all: FAIL if one fails; any: FAIL only
 * when every alternative fails; not: swaps PASS and FAIL and keeps NA; where keeps an
 * element only when its condition holds. Work is linear in the object: each path is
 * walked once per element it starts from, and a join (joinOn) looks elements up in an index
 * built once per rule run. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

#define PATHMAX POL_PATHMAX
#define MAXFRAMES POL_MAXFRAMES
#define JOIN_SLOTS 8

enum { R_NA = 0, R_PASS = 1, R_FAIL = 2 };

typedef struct join_entry {
    json_t *elem;
    const char *key;
    const ag_podspec_ref *ref;
    frame *f;
    int n;
} join_entry;

typedef struct join_slot {
    const cnode *node;
    json_t *start;
    join_entry *v;
    size_t n, cap;
    json_t *index; /* on-value -> [entry numbers] */
} join_slot;

typedef struct env {
    pol_walker w; /* first: the walk's callbacks get it and cast back */
    const policy *pol;
    const generic_rule *r;
    eval_ctx *e;
    vlist *out;
    /* the first failure inside the condition being judged */
    int failed;
    char fpath[PATHMAX];
    char fmsg[384];
    char fvalue[128]; /* the failing value as text, only when the rule's message shows {value} */
    join_slot joins[JOIN_SLOTS];
    size_t njoins;
    int oom;
} env;

static int eval_node(env *en, const cscope *sc, const cnode *n);

static void record(env *en, const wpath *wp, const rpath *p, size_t from, const char *msg, json_t *v)
{
    if (en->failed)
        return;
    en->failed = 1;
    if (p && from < p->nsegs)
        pol_path_format_missing(wp, p, from, en->fpath, sizeof en->fpath);
    else
        pol_path_format(wp, en->fpath, sizeof en->fpath);
    snprintf(en->fmsg, sizeof en->fmsg, "%s", msg);
    /* as text now: a value may not outlive the walk ($key is a temporary string) */
    en->fvalue[0] = '\0';
    if (v && en->r->message && strstr(en->r->message, "{value}"))
        pol_value_text(v, en->fvalue, sizeof en->fvalue);
}

typedef struct leafacc {
    const cscope *sc;
    const cnode *n;
    int pass, fail;
    int report; /* a rule that is one leaf: each failing value is its own violation */
} leafacc;

static void report(env *en, const char *path, const char *tpl, const char *value)
{
    char msg[768];
    const generic_rule *r = en->r;
    if (pol_exception_applies(en->pol, en->e, r->name))
        return;
    pol_render(en->pol, r, path, value, r->message ? r->message : tpl, msg, sizeof msg);
    pol_vlist_add(en->out, en->pol, r->name, r->name, r->action >= 0 ? r->action : en->pol->action, msg, path);
}

static void leaf_fail(env *en, leafacc *a, const wpath *wp, const rpath *p, size_t from, const char *tpl, json_t *v)
{
    a->fail = 1;
    if (a->report) {
        char path[PATHMAX];
        if (p && from < p->nsegs)
            pol_path_format_missing(wp, p, from, path, sizeof path);
        else
            pol_path_format(wp, path, sizeof path);
        char val[128] = "";
        if (v && en->r->message && strstr(en->r->message, "{value}"))
            pol_value_text(v, val, sizeof val);
        report(en, path, tpl, val);
    } else {
        record(en, wp, p, from, tpl, v);
    }
}

static void leaf_visit(pol_walker *w_, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from)
{
    env *en = (env *)w_;
    leafacc *a = arg;
    const cnode *n = a->n;
    if (!v) {
        if (n->cond == COND_ABSENT)
            a->pass = 1;
        else if (n->required)
            leaf_fail(en, a, wp, p, from, "{path} is required", NULL);
        return; /* else: does not apply */
    }
    char why[256];
    const char *msg = pol_judge(&en->w, a->sc, n, v, why, sizeof why);
    if (msg)
        leaf_fail(en, a, wp, p, p->nsegs, msg, v);
    else
        a->pass = 1;
}

static int eval_leaf(env *en, const cscope *sc, const cnode *n, int report)
{
    leafacc a = {sc, n, 0, 0, report};
    if (n->cond == COND_UNCHANGED) {
        const ag_request *req = en->e->req;
        if (strcmp(en->e->operation, "UPDATE") || !en->e->old || !req->object)
            return R_NA;
        json_t *now = pol_value_at(&en->w, sc, &n->path);
        cscope top = {en->e->old, NULL, NULL, sc->wp, NULL};
        rpath old = n->path;
        old.root = ROOT_OLD;
        json_t *before = pol_value_at(&en->w, &top, &old);
        if ((!now && !before) || (now && before && json_equal(now, before)))
            return R_PASS;
        wpath wp = {.n = 0, .ref = NULL};
        leaf_fail(en, &a, &wp, &n->path, 0, "{path} may not change on UPDATE", NULL);
        return R_FAIL;
    }
    if (n->neffective) {
        /* the first path that is set: a container's field overrides its pod's */
        size_t i = 0;
        while (i < n->neffective && !pol_value_at(&en->w, sc, &n->effective[i]))
            i++;
        /* none set: the first (most specific) path is the one reported missing */
        pol_walk_from(&en->w, sc, &n->effective[i < n->neffective ? i : 0], leaf_visit, &a);
    } else {
        pol_walk_from(&en->w, sc, &n->path, leaf_visit, &a);
    }
    return a.fail ? R_FAIL : a.pass ? R_PASS : R_NA;
}

/* ---- forEach and joins ---- */

typedef struct eachacc {
    const cscope *outer;
    const cnode *n;
    int pass, fail;
} eachacc;

static int judge_element(env *en, const cscope *sc, const cnode *where, const cnode *assert)
{
    if (where) {
        int saved = en->failed;
        int w = eval_node(en, sc, where);
        en->failed = saved; /* a filter that does not hold is no failure */
        if (w != R_PASS)
            return R_NA;
    }
    return assert ? eval_node(en, sc, assert) : R_NA;
}

static const char *last_key(const wpath *wp)
{
    return wp->n > 0 && wp->n <= MAXFRAMES && wp->f[wp->n - 1].type == F_KEY ? wp->f[wp->n - 1].text : NULL;
}

static void each_visit(pol_walker *w_, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from)
{
    env *en = (env *)w_;
    (void)p, (void)from;
    eachacc *a = arg;
    if (!v || json_is_null(v)) /* a null element is no element */
        return;
    cscope sc = {v, last_key(wp), wp->ref, wp, a->outer};
    int r = judge_element(en, &sc, a->n->where, a->n->nkids ? &a->n->kids[0] : NULL);
    a->pass |= r == R_PASS;
    a->fail |= r == R_FAIL;
}

static void join_visit(pol_walker *w_, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from)
{
    env *en = (env *)w_;
    (void)en, (void)p, (void)from;
    join_slot *s = arg;
    json_t *k = json_object_get(v, s->node->on);
    if (!v || !json_is_string(k))
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        join_entry *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return;
        s->v = nv, s->cap = cap;
    }
    join_entry *je = &s->v[s->n];
    int nf = wp->n < MAXFRAMES ? wp->n : MAXFRAMES;
    if (!(je->f = malloc((size_t)(nf ? nf : 1) * sizeof *je->f)))
        return;
    memcpy(je->f, wp->f, (size_t)nf * sizeof *je->f);
    je->n = nf;
    je->elem = v;
    je->key = last_key(wp);
    je->ref = wp->ref;
    json_t *list = json_object_get(s->index, json_string_value(k));
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(s->index, json_string_value(k), list))
            return;
    }
    if (!json_array_append_new(list, json_integer((json_int_t)s->n)))
        s->n++;
}

static void join_free(join_slot *s)
{
    for (size_t j = 0; j < s->n; j++)
        free(s->v[j].f);
    free(s->v);
    json_decref(s->index);
    memset(s, 0, sizeof *s);
}

static int join_build(env *en, const cscope *sc, const cnode *n, json_t *start, join_slot *s)
{
    memset(s, 0, sizeof *s);
    s->node = n;
    s->start = start;
    if (!(s->index = json_object()))
        return -1;
    pol_walk_from(&en->w, sc, &n->each, join_visit, s);
    return 0;
}

/* The elements at n->each (from sc), indexed by their `on` value: built once per start
 * and rule run; *temp is set when the slots are full and the caller must free it. */
static join_slot *join_index(env *en, const cscope *sc, const cnode *n, join_slot *spare, int *temp)
{
    json_t *start = n->each.root == ROOT_PODSPEC ? (sc->ref ? sc->ref->spec : NULL)
                    : n->each.root == ROOT_OBJECT ? en->e->object : sc->elem;
    *temp = 0;
    for (size_t i = 0; i < en->njoins; i++)
        if (en->joins[i].node == n && en->joins[i].start == start)
            return &en->joins[i];
    join_slot *s = spare;
    if (en->njoins < JOIN_SLOTS)
        s = &en->joins[en->njoins++];
    else
        *temp = 1; /* never evict: an outer join may be walking a slot */
    if (join_build(en, sc, n, start, s)) {
        join_free(s);
        return NULL;
    }
    return s;
}

static int eval_foreach(env *en, const cscope *sc, const cnode *n)
{
    eachacc a = {sc, n, 0, 0};
    if (!n->on) {
        pol_walk_from(&en->w, sc, &n->each, each_visit, &a);
        return a.fail ? R_FAIL : a.pass ? R_PASS : R_NA;
    }
    /* join: the elements whose `on` equals the outer element's */
    json_t *mine = json_object_get(sc->elem, n->on);
    join_slot spare, *s = NULL;
    int temp = 0;
    if (json_is_string(mine) && !(s = join_index(en, sc, n, &spare, &temp)))
        en->oom = 1;
    json_t *hits = s ? json_object_get(s->index, json_string_value(mine)) : NULL;
    size_t i;
    json_t *h;
    json_array_foreach(hits, i, h) {
        join_entry *je = &s->v[json_integer_value(h)];
        wpath wp;
        wp.n = je->n;
        wp.ref = je->ref;
        memcpy(wp.f, je->f, (size_t)je->n * sizeof wp.f[0]);
        cscope el = {je->elem, je->key, je->ref, &wp, sc};
        int r = judge_element(en, &el, n->where, n->nkids ? &n->kids[0] : NULL);
        a.pass |= r == R_PASS;
        a.fail |= r == R_FAIL;
    }
    if (temp)
        join_free(s);
    return a.fail ? R_FAIL : a.pass ? R_PASS : R_NA;
}

static int eval_node(env *en, const cscope *sc, const cnode *n)
{
    switch (n->type) {
    case CN_LEAF:
        return eval_leaf(en, sc, n, 0);
    case CN_FOREACH:
        return eval_foreach(en, sc, n);
    case CN_NOT: {
        if (!n->nkids)
            return R_NA;
        int saved = en->failed;
        int r = eval_node(en, sc, &n->kids[0]);
        en->failed = saved;
        if (r == R_PASS) {
            record(en, sc->wp, NULL, 0, "{path} meets a condition the rule forbids (not)", NULL);
            return R_FAIL;
        }
        return r == R_FAIL ? R_PASS : R_NA;
    }
    case CN_ALL: {
        int pass = 0;
        for (size_t i = 0; i < n->nkids; i++) {
            int r = eval_node(en, sc, &n->kids[i]);
            if (r == R_FAIL)
                return R_FAIL; /* the first broken condition is the one reported */
            pass |= r == R_PASS;
        }
        return pass ? R_PASS : R_NA;
    }
    case CN_ANY: {
        int saved = en->failed, na = 0, fails = 0;
        for (size_t i = 0; i < n->nkids; i++) {
            int r = eval_node(en, sc, &n->kids[i]);
            if (r == R_PASS) {
                en->failed = saved;
                return R_PASS;
            }
            na |= r == R_NA;
            fails += r == R_FAIL;
        }
        if (na) {
            en->failed = saved;
            return R_NA;
        }
        if (fails > 1 && !saved && en->failed) {
            char m[sizeof en->fmsg + 64];
            snprintf(m, sizeof m, "none of %d alternatives holds; the first: %s", fails, en->fmsg);
            snprintf(en->fmsg, sizeof en->fmsg, "%.*s", (int)sizeof en->fmsg - 1, m);
        }
        return R_FAIL;
    }
    }
    return R_NA;
}

/* ---- the rule ---- */

static int when_holds(const when_cfg *w, const eval_ctx *e)
{
    if (!w->present)
        return 1;
    const ag_request *req = e->req;
    const char *user = req->username ? req->username : "";
    if (w->operations.n && !pol_strlist_has_glob(&w->operations, e->operation))
        return 0;
    if (w->users.n && !pol_strlist_has_glob(&w->users, user))
        return 0;
    if (w->not_users.n && pol_strlist_has_glob(&w->not_users, user))
        return 0;
    if (w->groups.n || w->not_groups.n) {
        int in = 0, in_not = 0;
        for (size_t i = 0; i < json_array_size(req->groups); i++) {
            const char *g = json_string_value(json_array_get(req->groups, i));
            in |= pol_strlist_has_glob(&w->groups, g);
            in_not |= pol_strlist_has_glob(&w->not_groups, g);
        }
        if ((w->groups.n && !in) || in_not)
            return 0;
    }
    if (w->sas.n || w->not_sas.n) {
        char sa[512];
        int is_sa = pol_request_sa(user, sa, sizeof sa);
        if (w->sas.n && (!is_sa || !pol_strlist_has_glob(&w->sas, sa)))
            return 0;
        if (w->not_sas.n && is_sa && pol_strlist_has_glob(&w->not_sas, sa))
            return 0;
    }
    if (w->dry_run >= 0 && !!req->dry_run != w->dry_run)
        return 0;
    return 1;
}

/* one scope the rule judges: the object, or one element of its forEach */
static void judge_scope(env *en, const cscope *sc)
{
    const generic_rule *r = en->r;
    en->failed = 0;
    if (r->where) {
        int w = eval_node(en, sc, r->where);
        en->failed = 0;
        if (w != R_PASS)
            return;
    }
    if (r->assert->type == CN_LEAF) {
        eval_leaf(en, sc, r->assert, 1);
        return;
    }
    if (eval_node(en, sc, r->assert) == R_FAIL) {
        if (!en->failed)
            pol_path_format(sc->wp, en->fpath, sizeof en->fpath), snprintf(en->fmsg, sizeof en->fmsg,
                                                                      "{path} breaks the rule");
        report(en, en->fpath, en->fmsg, en->fvalue);
    }
}

static void rule_each_visit(pol_walker *w_, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from)
{
    env *en = (env *)w_;
    (void)arg, (void)p, (void)from;
    if (!v || json_is_null(v)) /* a null element is no element */
        return;
    cscope sc = {v, last_key(wp), wp->ref, wp, NULL};
    judge_scope(en, &sc);
}

static int first_podspec(const rpath *p)
{
    return p->nsegs && p->root == ROOT_OBJECT && p->segs[0].type == SEG_PODSPEC;
}

int pol_rule_applies(const generic_rule *r, const eval_ctx *e)
{
    return when_holds(&r->when, e);
}

void pol_rule_run(const policy *pol, const generic_rule *r, eval_ctx *e, vlist *out)
{
    if (!r->assert || !when_holds(&r->when, e))
        return;
    /* an UPDATE that keeps the pod specs: they were judged when written */
    if (e->specs_unchanged && (r->each.text ? first_podspec(&r->each)
                               : r->assert->type == CN_LEAF && first_podspec(&r->assert->path)))
        return;
    /* on the stack, not zeroed whole: a request runs every rule of every policy */
    env env_;
    env *en = &env_;
    en->failed = 0;
    en->njoins = 0;
    en->oom = 0;
    en->fvalue[0] = '\0';
    en->w.meta = NULL;
    en->pol = pol;
    en->r = r;
    en->e = e;
    en->w.e = e;
    en->out = out;
    wpath top;
    top.n = 0;
    top.ref = NULL;
    cscope sc = {e->object, NULL, NULL, &top, NULL};
    if (r->each.text)
        pol_walk_from(&en->w, &sc, &r->each, rule_each_visit, NULL);
    else
        judge_scope(en, &sc);
    for (size_t i = 0; i < en->njoins; i++)
        join_free(&en->joins[i]);
    free(en->w.meta);
    if (en->oom)
        out->oom = 1;
}
