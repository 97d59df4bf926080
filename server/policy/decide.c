/* The admission decision: match policies, then walk the block table (blocks.c) for each
 * matched policy, mutators first, then validators; the verdict (verdict.c) composes the
 * answer. Pure: no I/O, no globals. */
#include "policy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/buf.h"
#include "aimguard/podspec.h"

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* An UPDATE that leaves every pod spec as it was (a label, an annotation, a finalizer
 * removed by the garbage collector, a scale by a controller) judges and changes
 * nothing: the specs were judged when they were written. Mutating them here would
 * roll out a controller's pods on an unrelated edit (or make a ReplicaSet's template
 * differ from its Deployment's), and denying would block metadata-only updates of
 * objects admitted before a policy existed. PSA exempts such updates the same way. */
static int pod_specs_unchanged(const eval_ctx *e)
{
    if (strcmp(e->operation, "UPDATE") || !e->old || !e->req->object)
        return 0;
    /* the object's specs are e->specs (found once per request) */
    ag_podspec_ref before[AG_PODSPEC_MAX];
    size_t n = e->nspecs;
    size_t m = ag_podspec_find(e->group, e->kind, e->old, before, AG_PODSPEC_MAX);
    if (n == 0 || n != m || n > AG_PODSPEC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(e->specs[i].path, before[i].path) || !json_equal(e->specs[i].spec, before[i].spec))
            return 0;
    return 1;
}

/* The results of block b of policy p: one per rule it reports (AG_MODE_RESULTS). */
static int block_results(const pol_block *b, const policy *p, const vlist *vl, size_t vfrom,
                         const eval_ctx *e, size_t wfrom, json_t *out)
{
    if (!b->report_rules)
        return pol_results_add(out, p, b->key, NULL, p->action, vl, vfrom, e, wfrom, NULL);
    size_t n = b->report_rules(p, NULL);
    const char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return -1;
    b->report_rules(p, names);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int action = p->action, applies = 1;
        for (size_t j = 0; j < p->nrules; j++)
            if (p->rules[j].name && !strcmp(p->rules[j].name, names[i])) {
                if (p->rules[j].action >= 0)
                    action = p->rules[j].action;
                applies = pol_rule_applies(&p->rules[j], e);
            }
        rc = pol_results_add(out, p, b->key, names[i], action, vl, vfrom, e, wfrom,
                             applies ? NULL : "the rule's when: does not hold for this request");
    }
    free(names);
    return rc;
}

/* The decision; *old receives the old object when it is built here (the caller releases
 * it, whatever the outcome). */
static int decide(const ag_policy_set *set, const ag_request *req, const ag_view *view, ag_mode mode,
                  time_t now, ag_decision *out, ag_error *err, json_t **old)
{
    ag_decision_init(out);
    if ((mode & AG_MODE_RESULTS) && !(out->results = json_array()))
        return ag_error_set(err, AG_ENOMEM, "out of memory");
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
    e.want_results = out->results != NULL;
    /* A deferred old object (the server's reading) is built here, unless this is an
     * UPDATE of a pod carrier, whose bytes may prove its pod specs unchanged first. */
    int proof = req->old_deferred && req->obj_len && req->object && !strcmp(req->operation, "UPDATE") &&
                ag_podspec_is_carrier(req->group, req->kind);
    if (!proof && !(e.old = *old = ag_request_old_object(req, err)) && req->old_deferred)
        return err->code ? err->code : ag_error_set(err, AG_ENOMEM, "out of memory");
    e.object = req->object ? req->object : e.old;
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
        if (!pol_selector_matches(&p->match, &e, view, 1, &unknown))
            continue;
        if (p->exclude.present && pol_selector_matches(&p->exclude, &e, view, 0, &unknown))
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
    if (proof) {
        /* the bytes first: equal pod specs need no old object, unless a rule reads it */
        e.specs_unchanged = e.nspecs > 0 && e.nspecs <= AG_PODSPEC_MAX &&
                            ag_podspec_raw_unchanged(e.group, e.kind, req->raw + req->obj_off, req->obj_len,
                                                     req->raw + req->old_off, req->old_len);
        int need = !e.specs_unchanged;
        for (size_t i = 0; i < nm && !need; i++)
            need = matched[i]->reads_old;
        if (need && !(e.old = *old = ag_request_old_object(req, err))) {
            free(matched);
            return err->code ? err->code : ag_error_set(err, AG_ENOMEM, "out of memory");
        }
    }
    if (!e.specs_unchanged)
        e.specs_unchanged = pod_specs_unchanged(&e);
    int mutating = (mode & AG_MODE_MUTATE) && !e.specs_unchanged &&
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
        patch.text_only = (mode & AG_MODE_PATCH_TEXT) != 0;
        if (work != e.object) /* a copy: the same specs, in it */
            ag_podspec_find(e.group, e.kind, work, e.specs, AG_PODSPEC_MAX);
        e.object = work;
        for (size_t i = 0; i < nm; i++)
            for (const pol_block *const *b = pol_blocks; *b; b++)
                if ((*b)->phase == POL_MUTATE)
                    (*b)->mutate(matched[i], &e, &patch);
        char *text = ag_patch_finish(&patch, &out->patch_len);
        if (patch.oom) {
            free(text);
            json_decref(patch.ops);
            json_decref(work);
            free(matched);
            return ag_error_set(err, AG_ENOMEM, "out of memory while building the patch");
        }
        out->patch = patch.ops;
        out->patch_text = text;
        out->patch_ops = patch.n;
        out->object_after = json_incref(work);
    } else if (mode & AG_MODE_MUTATE && req->object) {
        out->object_after = json_incref(req->object);
    }

    int rc = 0;
    if (mode & AG_MODE_VALIDATE) {
        vlist vl = {0};
        int results_oom = 0;
        for (size_t i = 0; i < nm && !vl.oom; i++)
            for (const pol_block *const *b = pol_blocks; *b; b++) {
                if ((*b)->phase != POL_VALIDATE)
                    continue;
                size_t vfrom = vl.n, wfrom = e.nwaived;
                (*b)->validate(matched[i], &e, &vl, err);
                for (size_t k = vfrom; k < vl.n; k++) {
                    vl.v[k].block = (*b)->key;
                    vl.v[k].per_rule = (*b)->report_rules != NULL;
                    pol_violation_tags(&vl.v[k], &vl.v[k].severity, &vl.v[k].category);
                }
                if (out->results && (*b)->present(matched[i]))
                    results_oom |= block_results(*b, matched[i], &vl, vfrom, &e, wfrom, out->results);
            }
        rc = vl.oom || results_oom ? ag_error_set(err, AG_ENOMEM, "out of memory while validating")
                                   : pol_verdict(&vl, &e, out, err);
        pol_vlist_clear(&vl);
    }
    json_decref(work);
    free(matched);
    return rc;
}

int ag_decide(const ag_policy_set *set, const ag_request *req, const ag_view *view,
              ag_mode mode, time_t now, ag_decision *out, ag_error *err)
{
    json_t *old = NULL;
    int rc = decide(set, req, view, mode, now, out, err, &old);
    json_decref(old);
    return rc;
}

int ag_decide_existing(const ag_policy_set *set, json_t *object, const ag_view *view, time_t now,
                       json_t **results, ag_error *err)
{
    *results = NULL;
    if (!json_is_object(object))
        return ag_error_set(err, AG_EINVAL, "the object is not a JSON object");
    const char *api = json_string_value(json_object_get(object, "apiVersion"));
    const char *kind = json_string_value(json_object_get(object, "kind"));
    if (!api || !*api || !kind || !*kind)
        return ag_error_set(err, AG_EINVAL, "the object has no apiVersion or kind");
    char group[256];
    const char *slash = strchr(api, '/');
    size_t glen = slash ? (size_t)(slash - api) : 0;
    if (glen >= sizeof group)
        return ag_error_set(err, AG_EINVAL, "apiVersion '%.64s...' is too long", api);
    memcpy(group, api, glen);
    group[glen] = 0;
    json_t *groups = json_array();
    if (!groups)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    ag_request req = {0};
    req.uid = "";
    req.group = group;
    req.version = slash ? slash + 1 : api;
    req.kind = kind;
    req.resource = "";
    req.subresource = "";
    req.name = meta_str(object, "name");
    req.namespace_ = meta_str(object, "namespace");
    if (!req.namespace_)
        req.namespace_ = "";
    req.operation = "CREATE";
    req.username = "";
    req.groups = groups;
    req.object = object;
    ag_decision d;
    int rc = ag_decide(set, &req, view, AG_MODE_VALIDATE | AG_MODE_RESULTS, now, &d, err);
    if (!rc) {
        *results = d.results;
        d.results = NULL;
    }
    ag_decision_clear(&d);
    json_decref(groups);
    return rc;
}
