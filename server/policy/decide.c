/* The admission decision: match policies, mutate, validate, apply exceptions and
 * actions, and compose the answer. Pure: no I/O, no globals. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/buf.h"
#include "aimguard/podspec.h"

int ag_glob(const char *p, const char *s)
{
    /* iterative glob with single backtrack point: linear in practice, no recursion */
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*p == '?' || *p == *s) {
            p++, s++;
        } else if (*p == '*') {
            star = p++;
            ss = s;
        } else if (star) {
            p = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int strlist_has_glob(const strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (ag_glob(l->v[i], s ? s : ""))
            return 1;
    return 0;
}

int kind_matches(const strlist *kinds, const char *group, const char *kind)
{
    for (size_t i = 0; i < kinds->n; i++) {
        const char *k = kinds->v[i];
        if (!strcmp(k, "*"))
            return 1;
        const char *slash = strrchr(k, '/');
        if (!slash) {
            if (!strcmp(k, kind))
                return 1;
            continue;
        }
        size_t glen = (size_t)(slash - k);
        const char *g = group ? group : "";
        int gm = (glen == 4 && !strncmp(k, "core", 4) && !*g) ||
                 (strlen(g) == glen && !strncmp(k, g, glen)) || (glen == 1 && k[0] == '*');
        if (gm && (!strcmp(slash + 1, kind) || !strcmp(slash + 1, "*")))
            return 1;
    }
    return 0;
}

int control_matches(const char *name, const char *control)
{
    size_t n = strlen(name);
    return !strcmp(name, control) || (!strncmp(name, control, n) && control[n] == '_');
}

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static int labels_match(const kvlist *want, json_t *labels)
{
    for (size_t i = 0; i < want->n; i++) {
        const char *v = json_string_value(json_object_get(labels, want->k[i]));
        if (!v || strcmp(v, want->v[i]))
            return 0;
    }
    return 1;
}

/* The request's service account as "namespace/name", or NULL. */
static int sa_of(const char *user, char *out, size_t cap)
{
    const char *pfx = "system:serviceaccount:";
    if (!user || strncmp(user, pfx, strlen(pfx)))
        return 0;
    const char *rest = user + strlen(pfx), *colon = strchr(rest, ':');
    if (!colon)
        return 0;
    snprintf(out, cap, "%.*s/%s", (int)(colon - rest), rest, colon + 1);
    return 1;
}

/* 1 when every field the selector sets matches. *unknown is set when the answer
 * depended on namespace labels that the cluster view could not provide. */
static int selector_matches(const selector *s, const eval_ctx *e, const ag_view *view,
                            int is_match, int *unknown)
{
    if (s->kinds.n && !kind_matches(&s->kinds, e->group, e->kind))
        return 0;
    if (s->operations.n) {
        if (!strlist_has_glob(&s->operations, e->operation))
            return 0;
    } else if (is_match && strcmp(e->operation, "CREATE") && strcmp(e->operation, "UPDATE")) {
        return 0; /* match defaults to CREATE and UPDATE */
    }
    if (s->namespaces.n && !strlist_has_glob(&s->namespaces, e->ns))
        return 0;
    if (s->names.n && !strlist_has_glob(&s->names, e->name))
        return 0;
    if (s->users.n && !strlist_has_glob(&s->users, e->req->username))
        return 0;
    if (s->groups.n) {
        int any = 0;
        for (size_t i = 0; !any && i < json_array_size(e->req->groups); i++)
            any = strlist_has_glob(&s->groups, json_string_value(json_array_get(e->req->groups, i)));
        if (!any)
            return 0;
    }
    if (s->service_accounts.n) {
        char sa[512];
        if (!sa_of(e->req->username, sa, sizeof sa) || !strlist_has_glob(&s->service_accounts, sa))
            return 0;
    }
    if (s->obj_labels.n &&
        !labels_match(&s->obj_labels, json_object_get(json_object_get(e->object, "metadata"), "labels")))
        return 0;
    if (s->ns_labels.n) {
        json_t *nsobj = view && view->get && *e->ns ? view->get(view->ctx, "namespaces", "", e->ns) : NULL;
        if (!nsobj) {
            *unknown = 1;
            return is_match; /* unknown labels: a match applies, an exclusion does not */
        }
        int ok = labels_match(&s->ns_labels, json_object_get(json_object_get(nsobj, "metadata"), "labels"));
        json_decref(nsobj);
        if (!ok)
            return 0;
    }
    return 1;
}

int exception_applies(const policy *pol, const eval_ctx *e, const char *control)
{
    for (size_t i = 0; i < pol->nexc; i++) {
        const exception_ *x = &pol->exc[i];
        if (x->expires && e->now >= x->expires)
            continue;
        int named = 0;
        for (size_t j = 0; !named && j < x->controls.n; j++)
            named = control_matches(x->controls.v[j], control);
        if (!named)
            continue;
        if (x->namespaces.n && !strlist_has_glob(&x->namespaces, e->ns))
            continue;
        if (x->names.n && !strlist_has_glob(&x->names, e->name))
            continue;
        if (x->users.n && !strlist_has_glob(&x->users, e->req->username))
            continue;
        if (x->kinds.n && !kind_matches(&x->kinds, e->group, e->kind))
            continue;
        if (e->decision) {
            char key[128], val[512];
            snprintf(key, sizeof key, "%s.exception.%s", pol->name, control);
            snprintf(val, sizeof val, "waived by exception at %s: %s", x->where, x->reason);
            ag_decision_annotate(e->decision, key, val);
        }
        return 1;
    }
    return 0;
}

void vlist_add(vlist *l, const policy *pol, const char *rule, const char *control, int action,
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
}

void vlist_clear(vlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].rule);
        free(l->v[i].message);
        free(l->v[i].path);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void validate_pss(const policy *pol, eval_ctx *e, vlist *out, ag_error *err)
{
    for (size_t i = 0; i < e->nspecs; i++) {
        ag_pss_result res = {0};
        if (ag_pss_check_pod((ag_pss_level)pol->pss_level, &e->specs[i], &res, err)) {
            out->oom = 1;
            ag_pss_result_clear(&res);
            return;
        }
        for (size_t j = 0; j < res.count; j++) {
            if (exception_applies(pol, e, res.items[j].check))
                continue;
            /* the rule names the level and the PSA check: podSecurity/restricted/runAsNonRoot */
            char rule[96];
            snprintf(rule, sizeof rule, "podSecurity/%s/%s",
                     ag_pss_level_name((ag_pss_level)pol->pss_level), res.items[j].check);
            vlist_add(out, pol, rule, res.items[j].check, pol->action, res.items[j].message,
                      res.items[j].path);
        }
        ag_pss_result_clear(&res);
    }
}

static void describe(ag_buf *b, const violation *v)
{
    ag_buf_add(b, "[policy ");
    ag_buf_add(b, v->pol->name);
    ag_buf_add(b, ", rule ");
    ag_buf_add(b, v->rule);
    ag_buf_add(b, "] ");
    ag_buf_add(b, v->message);
    if (v->path) {
        ag_buf_add(b, " (field ");
        ag_buf_add(b, v->path);
        ag_buf_add(b, ")");
    }
}

/* An UPDATE that leaves every pod spec as it was (a label, an annotation, a finalizer
 * removed by the garbage collector, a scale by a controller) judges and changes
 * nothing: the specs were judged when they were written. Mutating them here would
 * roll out a controller's pods on an unrelated edit (or make a ReplicaSet's template
 * differ from its Deployment's), and denying would block metadata-only updates of
 * objects admitted before a policy existed. PSA exempts such updates the same way. */
static int pod_specs_unchanged(const eval_ctx *e)
{
    if (strcmp(e->operation, "UPDATE") || !e->req->old_object || !e->req->object)
        return 0;
    ag_podspec_ref now[AG_PODSPEC_MAX], before[AG_PODSPEC_MAX];
    size_t n = ag_podspec_find(e->group, e->kind, e->req->object, now, AG_PODSPEC_MAX);
    size_t m = ag_podspec_find(e->group, e->kind, e->req->old_object, before, AG_PODSPEC_MAX);
    if (n == 0 || n != m || n > AG_PODSPEC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(now[i].path, before[i].path) || !json_equal(now[i].spec, before[i].spec))
            return 0;
    return 1;
}

static int uses_podspec(const generic_rule *r)
{
    return r->nsegs && r->segs[0].type == SEG_PODSPEC;
}

int ag_decide(const ag_policy_set *set, const ag_request *req, const ag_view *view,
              ag_mode mode, time_t now, ag_decision *out, ag_error *err)
{
    ag_decision_init(out);
    const char *sub = req->subresource ? req->subresource : "";
    /* Only the object itself and the ephemeralcontainers subresource can change a pod
     * spec; status, scale, binding, eviction... carry nothing policies judge. */
    if (*sub && strcmp(sub, "ephemeralcontainers"))
        return 0;
    eval_ctx e = {0};
    e.req = req;
    e.group = req->group;
    e.kind = req->kind;
    e.ns = req->namespace_ ? req->namespace_ : "";
    e.operation = req->operation;
    e.now = now;
    e.decision = out;
    e.view = view;
    e.mctx = set->mctx;
    e.object = req->object ? req->object : req->old_object;
    e.pod_update = !strcmp(req->operation, "UPDATE") && !strcmp(req->kind, "Pod") && !*req->group;
    const char *name = meta_str(e.object, "name");
    if (!name || !*name)
        name = meta_str(e.object, "generateName");
    e.name = name ? name : req->name;
    if (!e.object)
        return 0;

    const policy **matched = calloc(set->n ? set->n : 1, sizeof *matched);
    if (!matched)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    size_t nm = 0;
    for (size_t i = 0; i < set->n; i++) {
        const policy *p = &set->v[i];
        int unknown = 0;
        if (!selector_matches(&p->match, &e, view, 1, &unknown))
            continue;
        if (p->exclude.present && selector_matches(&p->exclude, &e, view, 0, &unknown))
            continue;
        if (unknown) {
            char w[384];
            snprintf(w, sizeof w, "aimguard: labels of namespace %s are unknown (no cluster view); "
                     "policy %s applied as if they matched", e.ns, p->name);
            ag_decision_warn(out, w);
        }
        matched[nm++] = p;
    }

    e.nspecs = ag_podspec_find(e.group, e.kind, e.object, e.specs, AG_PODSPEC_MAX);
    if (nm && e.nspecs > AG_PODSPEC_MAX) {
        /* judging only some of its pods would admit the rest unseen */
        free(matched);
        out->allowed = 0;
        out->code = 403;
        ag_buf msg = {0};
        ag_buf_printf(&msg, "aimguard denied %s %s%s%s: it carries %zu pod specs; aimguard judges at most %d "
                      "in one object", e.kind, e.ns, *e.ns ? "/" : "", e.name ? e.name : "", e.nspecs,
                      AG_PODSPEC_MAX);
        out->message = ag_buf_take(&msg);
        return out->message ? 0 : ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    int specs_unchanged = pod_specs_unchanged(&e);
    int mutating = (mode & AG_MODE_MUTATE) && !specs_unchanged &&
                   (!strcmp(req->operation, "CREATE") || !strcmp(req->operation, "UPDATE"));
    json_t *work = NULL;
    if (mutating && nm) {
        /* a consumable request is mutated in place: copying a whole object (managedFields
         * and all) is a large part of a mutation's cost */
        work = req->consumable ? json_incref(req->object) : json_deep_copy(req->object);
        if (!work) {
            free(matched);
            return ag_error_set(err, AG_ENOMEM, "out of memory");
        }
        ag_patch patch = {0};
        e.object = work;
        ag_podspec_find(e.group, e.kind, work, e.specs, AG_PODSPEC_MAX); /* the same specs, in the copy */
        for (size_t i = 0; i < nm; i++) {
            mutate_harden(matched[i], &e, &patch);
            mutate_gpu(matched[i], &e, &patch);
        }
        if (patch.oom) {
            json_decref(patch.ops);
            json_decref(work);
            free(matched);
            return ag_error_set(err, AG_ENOMEM, "out of memory while building the patch");
        }
        out->patch = patch.ops;
        out->object_after = json_incref(work);
    } else if (mode & AG_MODE_MUTATE && req->object) {
        out->object_after = json_incref(req->object);
    }

    int rc = 0;
    if (mode & AG_MODE_VALIDATE) {
        vlist vl = {0};
        int skip_spec = specs_unchanged;
        for (size_t i = 0; i < nm && !vl.oom; i++) {
            const policy *p = matched[i];
            if (p->pss_level > 0 && !skip_spec)
                validate_pss(p, &e, &vl, err);
            if (p->images.present && !skip_spec)
                validate_images(p, &e, &vl);
            if (p->secrets.present && !skip_spec)
                validate_secrets(p, &e, &vl);
            if (p->rbac.present)
                validate_rbac(p, &e, &vl);
            if (p->aim.present)
                validate_aim(p, &e, &vl);
            for (size_t r = 0; r < p->nrules; r++) {
                if (skip_spec && uses_podspec(&p->rules[r]))
                    continue;
                validate_generic(p, &p->rules[r], &e, &vl);
            }
        }
        if (vl.oom) {
            rc = ag_error_set(err, AG_ENOMEM, "out of memory while validating");
        } else {
            ag_buf deny = {0};
            size_t ndeny = 0;
            for (size_t i = 0; i < vl.n && !deny.oom; i++) {
                violation *v = &vl.v[i];
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
                ag_buf_free(&one);
            }
            if (deny.oom) {
                rc = ag_error_set(err, AG_ENOMEM, "out of memory while describing violations");
            } else if (ndeny) {
                out->allowed = 0;
                out->code = 403;
                ag_buf msg = {0};
                ag_buf_printf(&msg, "aimguard denied %s %s%s%s: ", e.kind, *e.ns ? e.ns : "", *e.ns ? "/" : "",
                              e.name ? e.name : "");
                ag_buf_addn(&msg, deny.p, deny.len);
                out->message = ag_buf_take(&msg);
                if (!out->message)
                    rc = ag_error_set(err, AG_ENOMEM, "out of memory");
                /* a denied request gets no patch */
                json_decref(out->patch);
                out->patch = NULL;
            }
            ag_buf_free(&deny);
        }
        vlist_clear(&vl);
    }
    json_decref(work);
    free(matched);
    return rc;
}
