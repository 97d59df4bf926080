/* What the reconciler may touch: only what it created and controls.
 *
 * An existing object of the name the reconciler wants is left alone unless it is ours:
 * an owned child (InferenceService, HTTPRoute, PVC, Job) must carry a controller
 * ownerReference to the very owner (same uid); a shared guardrail object (NetworkPolicy,
 * ServiceAccount, RoleBinding) must carry app.kubernetes.io/managed-by=aimguard. A team's
 * own InferenceService `llama`, the AIM operator's RoleBinding or a ServiceAccount with
 * automount off are someone else's: rewriting them (or adopting them with an owner
 * reference, after which deleting the AIMService makes the garbage collector delete
 * them) is what a platform team cannot accept. The conflict is reported instead: the
 * caller puts it in the owner's status, and a Warning Event is recorded once per
 * conflict (on the owner, or for shared objects on the object itself: an Event must
 * live in its object's namespace, so `kubectl get events -n NS` shows it). */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/log.h"

int rc_controls(json_t *want, json_t *have)
{
    json_t *mine = json_array_get(rc_at(want, "metadata.ownerReferences"), 0);
    if (mine) {
        const char *uid = rc_str(mine, "uid");
        size_t i;
        json_t *ref;
        json_array_foreach(rc_at(have, "metadata.ownerReferences"), i, ref)
            if (json_is_true(json_object_get(ref, "controller")) && uid && rc_str(ref, "uid") &&
                !strcmp(uid, rc_str(ref, "uid")))
                return 1;
        return 0;
    }
    const char *by = rc_label_of(want, "app.kubernetes.io/managed-by");
    const char *have_by = rc_label_of(have, "app.kubernetes.io/managed-by");
    return by && have_by && !strcmp(by, have_by);
}

void rc_describe_holder(json_t *have, char *out, size_t cap)
{
    size_t i;
    json_t *ref;
    json_array_foreach(rc_at(have, "metadata.ownerReferences"), i, ref)
        if (json_is_true(json_object_get(ref, "controller"))) {
            ag_strfmt(out, cap, "controlled by %s %s", rc_or(rc_str(ref, "kind")), rc_or(rc_str(ref, "name")));
            return;
        }
    const char *by = rc_label_of(have, "app.kubernetes.io/managed-by");
    if (by)
        ag_strfmt(out, cap, "managed by %s", by);
    else
        ag_strfmt(out, cap, "not created by aimguard");
}

static void rfc3339_now(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int rc_event(rctx *c, json_t *involved, const char *ns, const char *reason, const char *message)
{
    char path[400], name[300], now[32];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", ns);
    snprintf(name, sizeof name, "%.200s.%lx%llx", rc_or(json_string_value(json_object_get(involved, "name"))),
             (unsigned long)time(NULL), (unsigned long long)atomic_load(&c->r->writes));
    rfc3339_now(now, sizeof now);
    json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:s, s:s, s:s, s:{s:s}, s:s, s:s, s:i, s:s, s:s}",
                           "apiVersion", "v1", "kind", "Event", "metadata", "name", name, "namespace", ns,
                           "involvedObject", involved, "reason", reason, "message", message, "type", "Warning",
                           "source", "component", "aimguard", "firstTimestamp", now, "lastTimestamp", now, "count",
                           1, "reportingComponent", "aimguard", "reportingInstance", "aimguard");
    ag_kube_status st = {0};
    ag_error e = {0};
    if (rc_may_write(c, &e)) {
        json_decref(ev);
        return -1; /* not now (not leading, or past the renew deadline): the caller tells it later */
    }
    atomic_fetch_add(&c->r->writes, 1);
    if (ev && ag_kube_create(c->kube, path, ev, NULL, &st, &e))
        ag_log(AG_LOG_WARN, "reconciler: could not record an Event", "namespace", ns, "reason", reason,
               "error", st.code ? st.message : e.msg, NULL);
    json_decref(ev);
    return 0;
}

int rc_not_ours(rctx *c, int res, json_t *want, json_t *have, ag_error *err)
{
    const char *ns = rc_or(json_string_value(rc_at(want, "metadata.namespace")));
    const char *name = rc_or(json_string_value(rc_at(want, "metadata.name")));
    json_t *owner = json_array_get(rc_at(want, "metadata.ownerReferences"), 0);
    char holder[300];
    rc_describe_holder(have, holder, sizeof holder);
    ag_error_set(err, RC_ENOTOURS, "%s %s/%s already exists and is %s: aimguard does not take over, "
                 "adopt or change an object it did not create (rename or remove it)",
                 ag_rc_resources[res].kind, ns, name, holder);
    /* one Event per conflict, not one per retry: remembered until the conflict ends */
    char key[700];
    snprintf(key, sizeof key, "%d/%s/%s/%s", res, ns, name, rc_or(rc_str(owner, "uid")));
    if (json_object_get(c->r->conflicts, key))
        return RC_ENOTOURS;
    json_t *involved = owner ? json_pack("{s:s, s:s, s:s, s:s, s:s}", "apiVersion", rc_or(rc_str(owner, "apiVersion")),
                                         "kind", rc_or(rc_str(owner, "kind")), "name", rc_or(rc_str(owner, "name")),
                                         "namespace", ns, "uid", rc_or(rc_str(owner, "uid")))
                             : json_pack("{s:s, s:s, s:s, s:s, s:s}", "apiVersion",
                                         rc_or(json_string_value(json_object_get(want, "apiVersion"))), "kind",
                                         ag_rc_resources[res].kind, "name", name, "namespace", ns, "uid",
                                         rc_or(json_string_value(rc_at(have, "metadata.uid"))));
    /* remembered once told: an Event skipped because this replica may not write just
     * now (its renew deadline passed under load) is told by a later pass */
    if (rc_event(c, involved, ns, "ChildConflict", err->msg) == 0)
        json_object_set_new(c->r->conflicts, key, json_true());
    json_decref(involved);
    ag_log(AG_LOG_WARN, "reconciler: not ours; left alone", "kind", ag_rc_resources[res].kind, "namespace", ns,
           "name", name, "holder", holder, NULL);
    return RC_ENOTOURS;
}

void rc_conflict_over(rctx *c, int res, json_t *want)
{
    if (!json_object_size(c->r->conflicts))
        return;
    json_t *owner = json_array_get(rc_at(want, "metadata.ownerReferences"), 0);
    char key[700];
    snprintf(key, sizeof key, "%d/%s/%s/%s", res, rc_or(json_string_value(rc_at(want, "metadata.namespace"))),
             rc_or(json_string_value(rc_at(want, "metadata.name"))), rc_or(rc_str(owner, "uid")));
    json_object_del(c->r->conflicts, key);
}

/* --reconcile unmanaged. The AIM operator puts its finalizer (aim.eai.amd.com/...) on
 * what it manages; an object without one may simply not have been seen by the operator
 * yet, so a new object is looked at again once it is a few seconds old rather than
 * raced for. */
#define UNMANAGED_GRACE 10.0

int rc_managed_elsewhere(rctx *c, json_t *obj, double *retry_in)
{
    size_t i;
    json_t *f;
    json_array_foreach(rc_at(obj, "metadata.finalizers"), i, f) {
        const char *s = json_string_value(f);
        if (s && !strncmp(s, "aim.eai.amd.com/", 16))
            return 1;
    }
    const char *created = json_string_value(rc_at(obj, "metadata.creationTimestamp"));
    struct tm tm = {0};
    if (created && strptime(created, "%Y-%m-%dT%H:%M:%S", &tm)) {
        double age = difftime(c->now, timegm(&tm));
        if (age < UNMANAGED_GRACE) {
            *retry_in = UNMANAGED_GRACE - age + 0.5;
            return -1;
        }
    }
    return 0;
}
