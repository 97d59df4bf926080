/* Compare-and-apply: the reconciler writes only what differs from what exists.
 *
 * A child is "up to date" when every field we want is present with our value
 * (rc_subset), so fields the API server or other controllers add (defaults, status,
 * their labels) never cause a write. An existing object that is not ours (ownership.c)
 * is never written. When something differs on one of ours, one JSON merge patch carries
 * exactly the difference: our labels and annotations (others' keys are left alone), and
 * for every other top-level field the RFC 7386 diff, which also removes what we no
 * longer want. ownerReferences are never in a patch: a merge patch naming them replaces
 * the whole list (dropping others' references), and ours is there already, or the
 * object would not be ours. */
#include "reconcile_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/admission.h"
#include "aimguard/log.h"

int rc_subset(json_t *want, json_t *have)
{
    if (json_is_object(want)) {
        if (!json_is_object(have))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
            if (!rc_subset(v, json_object_get(have, k)))
                return 0;
        return 1;
    }
    if (json_is_array(want)) {
        if (!json_is_array(have) || json_array_size(want) != json_array_size(have))
            return 0;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!rc_subset(json_array_get(want, i), json_array_get(have, i)))
                return 0;
        return 1;
    }
    return have && json_equal(want, have);
}

/* RFC 7386 patch turning have into want; NULL when they are equal. A key of have that
 * want lacks is removed only when `mine` (what we applied last time, NULL: everything is
 * ours) holds it: what other controllers or defaulting added stays. */
static json_t *merge_diff3(json_t *have, json_t *want, json_t *mine, int all_mine)
{
    if (json_is_object(have) && json_is_object(want)) {
        json_t *d = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v) {
            json_t *h = json_object_get(have, k);
            json_t *sub = h ? merge_diff3(h, v, json_object_get(mine, k), all_mine) : json_deep_copy(v);
            if (sub)
                json_object_set_new(d, k, sub);
        }
        json_object_foreach(have, k, v)
            if (!json_object_get(want, k) && (all_mine || json_object_get(mine, k)))
                json_object_set_new(d, k, json_null());
        if (json_object_size(d) == 0) {
            json_decref(d);
            return NULL;
        }
        return d;
    }
    /* null cannot be a value in a merge patch: our objects never hold one */
    return json_equal(have, want) ? NULL : json_deep_copy(want);
}

static json_t *merge_diff(json_t *have, json_t *want) { return merge_diff3(have, want, NULL, 1); }

/* The fields we last applied, kept on the object (as kubectl apply does), so that a
 * later patch removes only what we set and no longer want. */
#define LAST_APPLIED "aimguard.io/last-applied"

static json_t *applied_fields(json_t *want)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
        if (strcmp(k, "metadata") && strcmp(k, "status") && strcmp(k, "apiVersion") && strcmp(k, "kind"))
            json_object_set(out, k, v);
    return out;
}

static void count_write(rctx *c) { atomic_fetch_add(&c->r->writes, 1); }

static int api_error(ag_error *err, const char *what, const char *path, const ag_kube_status *st,
                     const ag_error *e)
{
    /* the API server said no (403 Forbidden, 422 Invalid, a webhook's denial): the owner's
     * status says so; 409 and 429 are only "try again" */
    int refused = st->code >= 400 && st->code < 500 && st->code != 409 && st->code != 429;
    return ag_error_set(err, refused ? RC_EREFUSED : AG_ERR, "%s %s: %s%s%s", what, path, st->code ? st->reason : "",
                        st->code ? ": " : "", st->code ? st->message : e->msg);
}

/* Our cache may still hold a parent the API server has already deleted (its child's
 * DELETED event can come first): before creating a child, read its owner live. A child
 * created for a gone owner would only wait for the garbage collector. */
static int owner_alive(rctx *c, json_t *want, const char *ns)
{
    json_t *ref = json_array_get(rc_at(want, "metadata.ownerReferences"), 0);
    const char *kind = rc_str(ref, "kind"), *name = rc_str(ref, "name"), *uid = rc_str(ref, "uid");
    if (!kind || !name)
        return 1;
    for (int i = 0; i < W_COUNT; i++) {
        if (strcmp(ag_rc_resources[i].kind, kind))
            continue;
        char path[700];
        rc_path(path, sizeof path, i, ns, name, NULL);
        json_t *live = NULL;
        ag_kube_status st = {0};
        ag_error e = {0};
        int rc = ag_kube_get(c->kube, path, &live, &st, &e);
        int alive = rc != 0 ? st.code != 404 : /* unsure (API error): let the create say */
                    !uid || !strcmp(uid, rc_or(json_string_value(rc_at(live, "metadata.uid"))));
        json_decref(live);
        return alive;
    }
    return 1;
}

int rc_apply(rctx *c, int res, json_t *want, int create_only, ag_error *err)
{
    if (res != W_NAMESPACES && !create_only) {
        json_t *fields = applied_fields(want);
        char *text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(fields);
        json_t *meta = json_object_get(want, "metadata");
        json_t *ann = json_object_get(meta, "annotations");
        if (!ann)
            json_object_set_new(meta, "annotations", ann = json_object());
        if (text)
            json_object_set_new(ann, LAST_APPLIED, json_string(text));
        free(text);
    }
    const char *ns = json_string_value(rc_at(want, "metadata.namespace"));
    const char *name = json_string_value(rc_at(want, "metadata.name"));
    char path[700];
    json_t *have = rc_get(c, res, ns ? ns : "", name);
    ag_kube_status st = {0};
    ag_error e = {0};
    if (!have) {
        if (!owner_alive(c, want, ns)) {
            ag_log(AG_LOG_INFO, "reconciler: owner gone; not creating its child", "kind", ag_rc_resources[res].kind,
                   "namespace", ns, "name", name, NULL);
            return 0;
        }
        rc_path(path, sizeof path, res, ns, NULL, NULL);
        if (rc_may_write(c, err))
            return AG_ERR;
        count_write(c);
        json_t *out = NULL;
        if (ag_kube_create(c->kube, path, want, &out, &st, &e) == 0) {
            rc_wrote(c, res, ns, name, out);
            json_decref(out);
            rc_conflict_over(c, res, want);
            ag_log(AG_LOG_INFO, "reconciler: created", "kind", ag_rc_resources[res].kind, "namespace", ns,
                   "name", name, NULL);
            return 0;
        }
        if (st.code != 409)
            return api_error(err, "create", path, &st, &e);
        /* our cache had not seen it yet: compare with the live object */
        rc_path(path, sizeof path, res, ns, name, NULL);
        if (ag_kube_get(c->kube, path, &have, &st, &e))
            return api_error(err, "get", path, &st, &e);
    }
    int rc = 0;
    /* the Namespace is everybody's: only our labels are ever patched on it */
    if (res != W_NAMESPACES && !rc_controls(want, have)) {
        rc = rc_not_ours(c, res, want, have, err);
        goto out;
    }
    rc_conflict_over(c, res, want);
    json_t *refs = json_object_get(json_object_get(want, "metadata"), "ownerReferences");
    if (refs)
        json_incref(refs), json_object_del(json_object_get(want, "metadata"), "ownerReferences");
    int same = create_only || rc_subset(want, have);
    if (refs)
        json_object_set_new(json_object_get(want, "metadata"), "ownerReferences", refs);
    if (same)
        goto out;
    json_t *patch = json_object();
    json_t *meta = json_object();
    json_object_set_new(patch, "metadata", meta);
    const char *k;
    json_t *v;
    json_t *wm = json_object_get(want, "metadata");
    json_object_foreach(wm, k, v) {
        if (!strcmp(k, "labels") || !strcmp(k, "annotations")) {
            json_t *hv = rc_at(have, "metadata");
            json_t *cur = json_object_get(hv, k);
            json_t *d = json_object();
            const char *lk;
            json_t *lv;
            json_object_foreach(v, lk, lv)
                if (!json_equal(lv, json_object_get(cur, lk)))
                    json_object_set(d, lk, lv);
            if (json_object_size(d))
                json_object_set_new(meta, k, d);
            else
                json_decref(d);
        }
    }
    if (json_object_size(meta) == 0)
        json_object_del(patch, "metadata");
    /* what we applied last time (an object of ours from before this annotation: its
     * fields are taken as ours, as before) */
    const char *last_text = json_string_value(json_object_get(rc_at(have, "metadata.annotations"), LAST_APPLIED));
    json_t *last = last_text ? json_loads(last_text, 0, NULL) : NULL;
    if (!last)
        last = applied_fields(have);
    json_object_foreach(want, k, v) {
        if (!strcmp(k, "metadata") || !strcmp(k, "status") || !strcmp(k, "apiVersion") || !strcmp(k, "kind"))
            continue;
        json_t *h = json_object_get(have, k);
        json_t *d = h ? merge_diff3(h, v, json_object_get(last, k), 0) : json_deep_copy(v);
        if (d)
            json_object_set_new(patch, k, d);
    }
    if (json_object_size(patch)) {
        rc_path(path, sizeof path, res, ns, name, NULL);
        json_t *out = NULL;
        if (rc_may_write(c, err))
            rc = AG_ERR;
        else if (count_write(c), ag_kube_merge_patch(c->kube, path, patch, &out, &st, &e))
            rc = api_error(err, "patch", path, &st, &e);
        else {
            rc_wrote(c, res, ns, name, out);
            ag_log(AG_LOG_INFO, "reconciler: patched", "kind", ag_rc_resources[res].kind, "namespace", ns,
                   "name", name, NULL);
        }
        json_decref(out);
    }
    json_decref(patch);
    json_decref(last);
out:
    json_decref(have);
    return rc;
}

static void rfc3339(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The status fields the reconciler owns: each pass states all of them, so one it no
 * longer states (routing switched off: no routing.path) is removed, not left stale.
 * Fields others write (the AIM operator's, a download Job's) are kept. */
static const char *const owned_status[] = {"conditions", "observedGeneration", "status", "resolvedModel",
                                           "resolvedTemplate", "resolvedRuntimeConfig", "routing",
                                           "persistentVolumeClaim", NULL};

int rc_status(rctx *c, int res, json_t *obj, json_t *conds, json_t *extra, ag_error *err)
{
    json_t *cur = json_object_get(obj, "status");
    json_t *want = json_is_object(cur) ? json_deep_copy(cur) : json_object();
    for (int i = 0; owned_status[i]; i++)
        if (strcmp(owned_status[i], "conditions")) /* read below for lastTransitionTime */
            json_object_del(want, owned_status[i]);
    char now[32];
    rfc3339(c->now, now, sizeof now);
    json_t *old = json_object_get(cur, "conditions");
    json_t *list = json_array();
    size_t i;
    json_t *cd;
    json_array_foreach(conds, i, cd) {
        const char *type = rc_str(cd, "type");
        const char *when = now;
        size_t j;
        json_t *oc;
        json_array_foreach(old, j, oc)
            if (!strcmp(rc_str(oc, "type") ? rc_str(oc, "type") : "", type) &&
                json_equal(json_object_get(oc, "status"), json_object_get(cd, "status")) &&
                rc_str(oc, "lastTransitionTime"))
                when = rc_str(oc, "lastTransitionTime");
        json_t *n = json_deep_copy(cd);
        json_object_set_new(n, "lastTransitionTime", json_string(when));
        json_object_set_new(n, "observedGeneration",
                            json_integer(json_integer_value(rc_at(obj, "metadata.generation"))));
        json_array_append_new(list, n);
    }
    json_object_set_new(want, "conditions", list);
    json_object_set_new(want, "observedGeneration",
                        json_integer(json_integer_value(rc_at(obj, "metadata.generation"))));
    if (extra)
        json_object_update(want, extra);
    int rc = 0;
    json_t *empty = json_object();
    json_t *d = merge_diff(json_is_object(cur) ? cur : empty, want);
    json_decref(empty);
    if (d) {
        int res_ns = ag_rc_resources[res].namespaced;
        char path[700];
        rc_path(path, sizeof path, res, res_ns ? json_string_value(rc_at(obj, "metadata.namespace")) : NULL,
                json_string_value(rc_at(obj, "metadata.name")), "status");
        json_t *patch = json_pack("{s:o}", "status", d);
        if (ag_log_enabled(AG_LOG_DEBUG)) {
            json_t *f = json_pack("{s:s, s:s?, s:s?, s:O}", "kind", ag_rc_resources[res].kind, "namespace",
                                  json_string_value(rc_at(obj, "metadata.namespace")), "name",
                                  json_string_value(rc_at(obj, "metadata.name")), "patch", patch);
            ag_log_json(AG_LOG_DEBUG, "reconciler: status change", f);
            json_decref(f);
        }
        ag_kube_status st = {0};
        ag_error e = {0};
        json_t *out = NULL;
        const char *ons = json_string_value(rc_at(obj, "metadata.namespace"));
        const char *oname = json_string_value(rc_at(obj, "metadata.name"));
        if (rc_may_write(c, err))
            rc = AG_ERR;
        else if (count_write(c), ag_kube_merge_patch(c->kube, path, patch, &out, &st, &e))
            rc = st.code == 404 ? 0 : api_error(err, "status", path, &st, &e); /* gone: nothing to say */
        else
            rc_wrote(c, res, ons, oname, out);
        json_decref(out);
        json_decref(patch);
    }
    json_decref(want);
    return rc;
}

int rc_harden(rctx *c, json_t **obj, const char *ns, ag_error *err)
{
    ag_policy_set *set = ag_policy_holder_acquire(c->r->cfg.policies);
    if (!set)
        return 0; /* no policies loaded yet: nothing to apply (admission is not ready either) */
    ag_request req;
    int rc = ag_request_synthesize(&req, *obj, NULL, "CREATE", ns, c->r->cfg.username, NULL, 0, err);
    if (rc) {
        ag_policy_set_unref(set);
        return rc;
    }
    ag_decision d;
    ag_decision_init(&d);
    rc = ag_decide(set, &req, NULL, AG_MODE_BOTH, c->now, &d, err);
    if (rc == 0 && !d.allowed)
        rc = ag_error_set(err, AG_EINVAL, "%s", d.message ? d.message : "denied by the policies");
    if (rc == 0 && d.object_after) {
        json_t *after = json_deep_copy(d.object_after);
        json_decref(*obj);
        *obj = after;
    }
    ag_decision_clear(&d);
    ag_request_clear(&req);
    ag_policy_set_unref(set);
    return rc;
}

int rc_status_not_provisioned(rctx *c, int res, json_t *obj, const char *reason, const char *why, ag_error *err)
{
    json_t *conds = json_array(), *extra = json_pack("{s:s}", "status", "Failed");
    json_array_append_new(conds, rc_cond("Provisioned", 0, reason, "%s", why));
    json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "nothing is provisioned in this namespace"));
    int rc = rc_status(c, res, obj, conds, extra, err);
    json_decref(conds);
    json_decref(extra);
    return rc;
}
