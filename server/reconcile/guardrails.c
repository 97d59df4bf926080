/* Namespace guardrails for every namespace holding AIMServices or AIMArtifacts:
 * default-deny NetworkPolicies with explicit allows, the Pod Security labels, and (where
 * artifacts are downloaded) the dedicated download ServiceAccount with the one
 * RoleBinding that lets it write AIMArtifact status. These are shared by the
 * namespace's workloads, so they carry no owner references and stay when the
 * workloads go. */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/log.h"

static json_t *guard_labels(void)
{
    return json_pack("{s:s, s:s}", "app.kubernetes.io/managed-by", "aimguard", "app.kubernetes.io/part-of",
                     "aim-guardrails");
}

static json_t *netpol(const char *ns, const char *name, json_t *spec)
{
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:o}", "apiVersion", "networking.k8s.io/v1", "kind",
                     "NetworkPolicy", "metadata", "name", name, "namespace", ns, "labels", guard_labels(), "spec",
                     spec);
}

static json_t *ns_selector(const char *ns)
{
    return json_pack("{s:{s:{s:s}}}", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name", ns);
}

static void add_unique(json_t *set, const char *s)
{
    if (s && *s)
        json_object_set_new(set, s, json_true());
}

/* gateway namespaces: the configured ones and those the namespace's services route through */
static json_t *gateway_namespaces(rctx *c, const char *ns)
{
    json_t *set = json_object();
    char one[256];
    for (const char *l = c->r->cfg.gateway_namespaces; rc_next_item(&l, one, sizeof one);)
        add_unique(set, one);
    json_t *svcs = rc_snapshot(c, W_SERVICES);
    const char *k;
    json_t *svc;
    json_object_foreach(svcs, k, svc) {
        if (strcmp(rc_or(json_string_value(rc_at(svc, "metadata.namespace"))), ns))
            continue;
        json_t *rcfg = NULL, *ref = NULL;
        char why[300];
        rc_runtime_config(c, ns, json_string_value(rc_at(svc, "spec.runtimeConfigName")), &rcfg, &ref, why, sizeof why);
        json_t *eff = rc_merge_over(json_object_get(rcfg, "routing"), rc_at(svc, "spec.routing"));
        if (json_is_true(json_object_get(eff, "enabled"))) {
            const char *gw = json_string_value(rc_at(eff, "gatewayRef.namespace"));
            add_unique(set, gw ? gw : ns);
        }
        json_decref(eff);
        json_decref(rcfg);
        json_decref(ref);
    }
    json_decref(svcs);
    return set;
}

static int count_in(rctx *c, int res, const char *ns)
{
    json_t *all = rc_snapshot(c, res);
    const char *k;
    json_t *o;
    int n = 0;
    json_object_foreach(all, k, o)
        n += !strcmp(rc_or(json_string_value(rc_at(o, "metadata.namespace"))), ns);
    json_decref(all);
    return n;
}

static int network_policies(rctx *c, const char *ns, ag_error *err)
{
    json_t *want[4] = {0};
    want[0] = netpol(ns, "aimguard-default-deny",
                     json_pack("{s:{}, s:[s, s]}", "podSelector", "policyTypes", "Ingress", "Egress"));
    want[1] = netpol(ns, "aimguard-allow-dns", json_pack(
        "{s:{}, s:[s], s:[{s:[{s:{s:{s:s}}, s:{s:{s:s}}}], s:[{s:s, s:i}, {s:s, s:i}]}]}", "podSelector",
        "policyTypes", "Egress", "egress", "to", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name",
        "kube-system", "podSelector", "matchLabels", "k8s-app", "kube-dns", "ports", "protocol", "UDP", "port", 53,
        "protocol", "TCP", "port", 53));
    json_t *gws = gateway_namespaces(c, ns);
    if (json_object_size(gws)) {
        json_t *from = json_array();
        const char *g;
        json_t *v;
        json_object_foreach(gws, g, v)
            json_array_append_new(from, ns_selector(g));
        want[2] = netpol(ns, "aimguard-allow-gateway", json_pack(
            "{s:{s:{s:s}}, s:[s], s:[{s:o, s:[{s:s, s:i}]}]}", "podSelector", "matchLabels",
            "app.kubernetes.io/component", "inference", "policyTypes", "Ingress", "ingress", "from", from, "ports",
            "protocol", "TCP", "port", 8000));
    }
    json_decref(gws);
    json_t *rules = json_array();
    char one[128];
    for (const char *l = c->r->cfg.download_egress; rc_next_item(&l, one, sizeof one);) {
        char *port = strrchr(one, ':');
        json_t *rule = json_pack("{s:[{s:{s:s}}]}", "to", "ipBlock", "cidr", one);
        if (port) {
            *port = '\0';
            json_object_set_new(json_array_get(json_object_get(rule, "to"), 0), "ipBlock",
                                json_pack("{s:s}", "cidr", one));
            json_object_set_new(rule, "ports", json_pack("[{s:s, s:i}]", "protocol", "TCP", "port", atoi(port + 1)));
        }
        json_array_append_new(rules, rule);
    }
    if (json_array_size(rules))
        want[3] = netpol(ns, "aimguard-allow-egress",
                         json_pack("{s:{}, s:[s], s:o}", "podSelector", "policyTypes", "Egress", "egress", rules));
    else
        json_decref(rules);
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        if (want[i] && !rc) {
            rc = rc_apply(c, W_NETPOLS, want[i], 0, err);
            if (rc == RC_ENOTOURS) /* someone else's policy of that name: told once, left alone */
                rc = 0, ag_error_clear(err);
        }
        json_decref(want[i]);
    }
    return rc;
}

static int pod_security_labels(rctx *c, json_t *nsobj, const char *ns, ag_error *err)
{
    json_t *labels = json_object();
    char one[128], key[160];
    for (const char *l = c->r->cfg.pss_labels; rc_next_item(&l, one, sizeof one);) {
        char *eq = strchr(one, '=');
        if (!eq)
            continue;
        *eq = '\0';
        snprintf(key, sizeof key, "pod-security.kubernetes.io/%s", one);
        json_object_set_new(labels, key, json_string(eq + 1));
    }
    int rc = 0;
    if (json_object_size(labels)) {
        json_t *want = json_pack("{s:s, s:s, s:{s:s, s:O}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
                                 "name", ns, "labels", labels);
        if (!rc_subset(want, nsobj))
            rc = rc_apply(c, W_NAMESPACES, want, 0, err);
        json_decref(want);
    }
    json_decref(labels);
    return rc;
}

static int download_identity(rctx *c, const char *ns, ag_error *err)
{
    ag_reconcile_config *cfg = &c->r->cfg;
    json_t *sa = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:b}", "apiVersion", "v1", "kind", "ServiceAccount",
                           "metadata", "name", cfg->download_sa, "namespace", ns, "labels", guard_labels(),
                           "automountServiceAccountToken", 1);
    int rc = rc_apply(c, W_SAS, sa, 0, err);
    json_decref(sa);
    if (rc == RC_ENOTOURS) /* e.g. the team's own, automount off: told once, left alone */
        rc = 0, ag_error_clear(err);
    if (rc)
        return rc;
    json_t *rb = json_pack("{s:s, s:s, s:{s:s, s:s, s:o}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}", "apiVersion",
                           "rbac.authorization.k8s.io/v1", "kind", "RoleBinding", "metadata", "name",
                           "aim-engine-artifact-status-updater", "namespace", ns, "labels", guard_labels(),
                           "roleRef", "apiGroup", "rbac.authorization.k8s.io", "kind", "ClusterRole", "name",
                           cfg->status_role, "subjects", "kind", "ServiceAccount", "name", cfg->download_sa,
                           "namespace", ns);
    rc = rc_apply(c, W_ROLEBINDINGS, rb, 0, err);
    json_decref(rb);
    if (rc == RC_ENOTOURS) /* e.g. the AIM operator's binding for its own Jobs: left alone */
        rc = 0, ag_error_clear(err);
    return rc;
}

int rc_reconcile_namespace(rctx *c, const char *ns, rc_result *res)
{
    (void)res; /* guardrails follow events only */
    char why[400];
    if (rc_exempt(c, ns, why, sizeof why))
        return 0; /* no guardrail ever: kube-system's DNS and system pods must keep working */
    json_t *nsobj = rc_get(c, W_NAMESPACES, "", ns);
    const char *phase = json_string_value(rc_at(nsobj, "status.phase"));
    if (!nsobj || rc_at(nsobj, "metadata.deletionTimestamp") || (phase && !strcmp(phase, "Terminating"))) {
        json_decref(nsobj);
        return 0;
    }
    int services = count_in(c, W_SERVICES, ns), artifacts = count_in(c, W_ARTIFACTS, ns);
    ag_error err = {0};
    int rc = 0;
    if (services + artifacts > 0) {
        if (c->r->cfg.network_policies)
            rc = network_policies(c, ns, &err);
        if (!rc)
            rc = pod_security_labels(c, nsobj, ns, &err);
        if (!rc && artifacts > 0)
            rc = download_identity(c, ns, &err);
    }
    if (rc)
        ag_log(AG_LOG_WARN, "reconciler: namespace guardrails not applied", "namespace", ns, "reason", err.msg, NULL);
    json_decref(nsobj);
    return rc;
}
