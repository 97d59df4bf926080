/* The reconciler's lowest layer, used by every other file of reconcile/: the resource
 * table, paths, reads through the watch caches (with this replica's own recent writes
 * over them), whether this replica may write now, and small JSON accessors. It calls
 * nothing else of reconcile/ but the queue's clock, so the files above it form no circle
 * (test/deploy/test_policy_layers.py checks). */
#include "reconcile_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const resource_info ag_rc_resources[W_COUNT] = {
    [W_NAMESPACES] = {"", "v1", "namespaces", "Namespace", 0},
    [W_SERVICES] = {"aim.eai.amd.com", "v1alpha1", "aimservices", "AIMService", 1},
    [W_MODELS] = {"aim.eai.amd.com", "v1alpha1", "aimmodels", "AIMModel", 1},
    [W_CLUSTER_MODELS] = {"aim.eai.amd.com", "v1alpha1", "aimclustermodels", "AIMClusterModel", 0},
    [W_TEMPLATES] = {"aim.eai.amd.com", "v1alpha1", "aimservicetemplates", "AIMServiceTemplate", 1},
    [W_CLUSTER_TEMPLATES] = {"aim.eai.amd.com", "v1alpha1", "aimclusterservicetemplates",
                             "AIMClusterServiceTemplate", 0},
    [W_RUNTIME_CONFIGS] = {"aim.eai.amd.com", "v1alpha1", "aimruntimeconfigs", "AIMRuntimeConfig", 1},
    [W_CLUSTER_RUNTIME_CONFIGS] = {"aim.eai.amd.com", "v1alpha1", "aimclusterruntimeconfigs",
                                   "AIMClusterRuntimeConfig", 0},
    [W_ARTIFACTS] = {"aim.eai.amd.com", "v1alpha1", "aimartifacts", "AIMArtifact", 1},
    [W_ISVCS] = {"serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService", 1},
    [W_ROUTES] = {"gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", 1},
    [W_PVCS] = {"", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", 1},
    [W_JOBS] = {"batch", "v1", "jobs", "Job", 1},
    [W_SAS] = {"", "v1", "serviceaccounts", "ServiceAccount", 1},
    [W_ROLEBINDINGS] = {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", 1},
    [W_NETPOLS] = {"networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", 1},
};

int rc_next_item(const char **list, char *out, size_t cap)
{
    const char *l = *list ? *list : "";
    if (!*l)
        return 0;
    size_t n = strcspn(l, ",");
    snprintf(out, cap, "%.*s", (int)n, l);
    *list = l + n + (l[n] == ',');
    return 1;
}

void rc_path(char *out, size_t cap, int res, const char *ns, const char *name, const char *sub)
{
    const resource_info *ri = &ag_rc_resources[res];
    char base[200];
    if (*ri->group)
        snprintf(base, sizeof base, "/apis/%s/%s", ri->group, ri->version);
    else
        snprintf(base, sizeof base, "/api/%s", ri->version);
    char nspart[300] = "";
    if (ri->namespaced && ns && *ns)
        snprintf(nspart, sizeof nspart, "/namespaces/%s", ns);
    snprintf(out, cap, "%s%s/%s%s%s%s%s", base, nspart, ri->plural, name ? "/" : "", name ? name : "",
             sub ? "/" : "", sub ? sub : "");
}

#define WRITTEN_TTL 10.0 /* seconds: longer than any watch delay we expect */

static void written_key(char *out, size_t cap, int res, const char *ns, const char *name)
{
    snprintf(out, cap, "%d/%s/%s", res, ag_rc_resources[res].namespaced && ns ? ns : "", name);
}

void rc_wrote(rctx *c, int res, const char *ns, const char *name, json_t *obj)
{
    char key[600];
    written_key(key, sizeof key, res, ns, name);
    json_object_set_new(c->r->written, key, json_pack("[O?, f]", obj, rq_now()));
}

json_t *rc_get(rctx *c, int res, const char *ns, const char *name)
{
    char key[512], wkey[600];
    if (ag_rc_resources[res].namespaced)
        snprintf(key, sizeof key, "%s/%s", ns, name);
    else
        snprintf(key, sizeof key, "%s", name);
    json_t *cached = ag_informer_get(c->r->inf[res], key);
    written_key(wkey, sizeof wkey, res, ns, name);
    json_t *w = json_object_get(c->r->written, wkey);
    if (!w)
        return cached;
    json_t *mine = json_array_get(w, 0);
    const char *rv_mine = json_string_value(rc_at(mine, "metadata.resourceVersion"));
    const char *rv_cache = json_string_value(rc_at(cached, "metadata.resourceVersion"));
    int caught_up = (mine && rv_mine && rv_cache && !strcmp(rv_mine, rv_cache)) || (!mine && !cached);
    if (caught_up || rq_now() - json_real_value(json_array_get(w, 1)) > WRITTEN_TTL) {
        json_object_del(c->r->written, wkey);
        return cached;
    }
    json_decref(cached);
    return json_incref(mine);
}

json_t *rc_snapshot(rctx *c, int res)
{
    json_t *s = ag_informer_snapshot(c->r->inf[res]);
    return s ? s : json_object();
}

const char *rc_str(json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

json_t *rc_at(json_t *o, const char *dotted)
{
    char part[128];
    while (o && *dotted) {
        size_t n = strcspn(dotted, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, dotted, n);
        part[n] = '\0';
        o = json_object_get(o, part);
        dotted += n + (dotted[n] == '.');
    }
    return o;
}

const char *rc_label_of(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(rc_at(obj, "metadata.labels"), key));
}

int rc_may_write(rctx *c, ag_error *err)
{
    double until = atomic_load(&c->r->lease_until);
    if (!atomic_load(&c->r->leading))
        return ag_error_set(err, AG_ERR, "not the leader: write skipped");
    if (until > 0 && rq_now() > until)
        return ag_error_set(err, AG_ERR, "the lease's renew deadline passed before it was renewed: "
                            "another replica may lead; write skipped");
    return 0;
}

json_t *rc_cond(const char *type, int ok, const char *reason, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_pack("{s:s, s:s, s:s, s:s}", "type", type, "status", ok ? "True" : "False", "reason",
                     reason, "message", msg);
}

json_t *rc_owner(json_t *obj, const char *api_version, const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", api_version, "kind", kind, "name",
                     json_string_value(rc_at(obj, "metadata.name")), "uid",
                     json_string_value(rc_at(obj, "metadata.uid")) ?
                         json_string_value(rc_at(obj, "metadata.uid")) : "",
                     "controller", 1, "blockOwnerDeletion", 1);
}

/* gone (children follow by owner references), being deleted, or paused by its owner */
int rc_skip(json_t *obj)
{
    const char *paused = json_string_value(
        json_object_get(rc_at(obj, "metadata.annotations"), "aim.eai.amd.com/reconciliation-paused"));
    return !obj || rc_at(obj, "metadata.deletionTimestamp") || (paused && !strcmp(paused, "true"));
}
