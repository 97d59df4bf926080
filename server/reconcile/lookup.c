/* What an AIM object resolves to in the caches, and where the reconciler must not act:
 * shared by the service, artifact and namespace reconcilers (above the context and the
 * pure builders, below the reconcilers). */
#include "reconcile_int.h"
#include "desired.h"

#include <stdio.h>
#include <string.h>

/* runtimeConfigName (empty = default): the cluster config with the namespaced one over
 * it. 0 when resolved (an absent "default" is fine: AIM treats it as optional). */
int rc_runtime_config(rctx *c, const char *ns, const char *name, json_t **spec, json_t **ref,
                      char *why, size_t cap)
{
    const char *n = name && *name ? name : "default";
    json_t *nsrc = rc_get(c, W_RUNTIME_CONFIGS, ns, n);
    json_t *crc = rc_get(c, W_CLUSTER_RUNTIME_CONFIGS, "", n);
    int rc = 0;
    if (!nsrc && !crc && strcmp(n, "default")) {
        snprintf(why, cap, "no AIMRuntimeConfig %s/%s and no AIMClusterRuntimeConfig %s", ns, n, n);
        rc = -1;
    }
    json_t *empty = json_object();
    *spec = rc_merge_over(crc ? json_object_get(crc, "spec") : empty, nsrc ? json_object_get(nsrc, "spec") : empty);
    json_decref(empty);
    const char *scope = nsrc && crc ? "Merged" : nsrc ? "Namespace" : crc ? "Cluster" : "Unknown";
    *ref = json_pack("{s:s, s:s, s:s}", "name", n, "namespace", nsrc ? ns : "", "scope", scope);
    json_decref(nsrc);
    json_decref(crc);
    return rc;
}

int rc_exempt(rctx *c, const char *ns, char *why, size_t cap)
{
    ag_reconcile_config *cfg = &c->r->cfg;
    char one[256];
    if (cfg->system_namespace && !strcmp(ns, cfg->system_namespace)) {
        ag_strfmt(why, cap, "namespace %s is aimguard's own: the reconciler provisions nothing there", ns);
        return 1;
    }
    for (const char *l = cfg->exempt_namespaces; rc_next_item(&l, one, sizeof one);)
        if (!strcmp(one, ns)) {
            ag_strfmt(why, cap, "namespace %s is a system namespace (--exempt-namespaces): the reconciler "
                      "provisions nothing there and sets no guardrails", ns);
            return 1;
        }
    if (cfg->exempt_label && *cfg->exempt_label) {
        snprintf(one, sizeof one, "%s", cfg->exempt_label);
        char *eq = strchr(one, '=');
        if (eq) {
            *eq = '\0';
            json_t *nsobj = rc_get(c, W_NAMESPACES, "", ns);
            const char *v = rc_label_of(nsobj, one);
            int hit = v && !strcmp(v, eq + 1);
            json_decref(nsobj);
            if (hit) {
                ag_strfmt(why, cap, "namespace %s is labelled %s (--exempt-label): the reconciler provisions "
                          "nothing there and sets no guardrails", ns, cfg->exempt_label);
                return 1;
            }
        }
    }
    return 0;
}

int rc_pass_stops(rctx *c, int res, json_t *obj, const char *ns, rc_result *out, int *rc)
{
    *rc = 0;
    if (rc_skip(obj)) {
        json_decref(obj);
        return 1;
    }
    if (c->r->cfg.unmanaged_only) {
        double in = 0;
        int m = rc_managed_elsewhere(c, obj, &in);
        if (m) {
            if (m < 0)
                out->requeue_after = in; /* too new to tell: look again once it is not */
            json_decref(obj);
            return 1; /* the AIM operator's: not a byte written, status included */
        }
    }
    char why[400];
    if (rc_exempt(c, ns, why, sizeof why)) {
        ag_error serr = {0};
        *rc = rc_status_not_provisioned(c, res, obj, "NamespaceExempt", why, &serr);
        json_decref(obj);
        return 1;
    }
    return 0;
}
