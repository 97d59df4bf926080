/* validate.rbac and validate.aim: who may be granted what, which service accounts
 * workloads may run as, and the AIM fields the CRDs leave unchecked. */
#include "policy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

void rbac_free(rbac_cfg *c)
{
    strlist_free(&c->protected_roles);
    strlist_free(&c->broad_subjects);
    strlist_free(&c->status_binders);
    strlist_free(&c->status_sas);
    strlist_free(&c->reserved_sas);
    free(c->status_role);
    free(c->operator_namespace);
    free(c->refs.verb);
    memset(c, 0, sizeof *c);
}

void aim_free(aim_cfg *c)
{
    strlist_free(&c->allowed_resources);
    strlist_free(&c->allowed_gateways);
    memset(c, 0, sizeof *c);
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int is_aim(const eval_ctx *e) { return e->group && !strcmp(e->group, "aim.eai.amd.com"); }

static void deny(const policy *pol, vlist *out, const char *rule, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void deny(const policy *pol, vlist *out, const char *rule, const char *path, const char *fmt, ...)
{
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vlist_add(out, pol, rule, "rbac", pol->action, msg, path);
}

static void bindings(const policy *pol, eval_ctx *e, vlist *out)
{
    const rbac_cfg *r = &pol->rbac;
    int cluster = !strcmp(e->kind, "ClusterRoleBinding");
    json_t *ref = json_object_get(e->object, "roleRef");
    const char *role = str(ref, "name");
    if (!role)
        return;
    json_t *subjects = json_object_get(e->object, "subjects");
    if (strlist_has_glob(&r->protected_roles, role) && !exception_applies(pol, e, "rbac")) {
        size_t i;
        json_t *s;
        json_array_foreach(subjects, i, s) {
            const char *kind = str(s, "kind"), *name = str(s, "name"), *ns = str(s, "namespace");
            char path[64];
            snprintf(path, sizeof path, "subjects[%zu]", i);
            if (kind && !strcmp(kind, "Group") && strlist_has_glob(&r->broad_subjects, name))
                deny(pol, out, "rbac/protectedRole", path, "%s grants the protected role \"%s\" to the broad "
                     "group \"%s\"", e->kind, role, name ? name : "");
            else if (!cluster && kind && !strcmp(kind, "ServiceAccount") && ns && *e->ns && strcmp(ns, e->ns))
                deny(pol, out, "rbac/protectedRole", path, "RoleBinding in %s grants the protected role \"%s\" "
                     "to a service account of another namespace (%s/%s)", e->ns, role, ns, name ? name : "");
        }
    }
    if (r->status_role && !strcmp(role, r->status_role) && !exception_applies(pol, e, "rbac")) {
        if (!strlist_has_glob(&r->status_binders, e->req->username))
            deny(pol, out, "rbac/statusUpdater", "roleRef.name", "only the reconciler may bind \"%s\" "
                 "(requested by %s)", role, e->req->username);
        if (cluster)
            deny(pol, out, "rbac/statusUpdater", "roleRef.name", "\"%s\" may only be bound per namespace "
                 "(a RoleBinding), never cluster-wide", role);
        size_t i;
        json_t *s;
        json_array_foreach(subjects, i, s) {
            const char *kind = str(s, "kind"), *name = str(s, "name"), *ns = str(s, "namespace");
            int ok = kind && !strcmp(kind, "ServiceAccount") && name && strlist_has_glob(&r->status_sas, name) &&
                     (!ns || !strcmp(ns, e->ns));
            if (!ok) {
                char path[64], allowed[256] = "";
                snprintf(path, sizeof path, "subjects[%zu]", i);
                for (size_t j = 0; j < r->status_sas.n; j++)
                    snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", j ? ", " : "",
                             r->status_sas.v[j]);
                deny(pol, out, "rbac/statusUpdater", path, "\"%s\" may only be bound to a ServiceAccount of the "
                     "binding's namespace (%s) named %s, not to %s %s%s%s", role, e->ns, allowed,
                     kind ? kind : "?", ns ? ns : "", ns ? "/" : "", name ? name : "");
            }
        }
    }
}

/* The ServiceAccount a workload runs as: "namespace/name". */
static void service_account(const policy *pol, eval_ctx *e, vlist *out, const char *sa, const char *ns,
                            const char *path)
{
    if (!sa || !*sa || !pol->rbac.reserved_sas.n)
        return;
    char full[512];
    snprintf(full, sizeof full, "%s/%s", ns, sa);
    if (strlist_has_glob(&pol->rbac.reserved_sas, full) && !exception_applies(pol, e, "rbac"))
        deny(pol, out, "rbac/reservedServiceAccount", path, "%s may not run as the reserved service "
             "account %s", e->kind, full);
}

void validate_rbac(const policy *pol, eval_ctx *e, vlist *out)
{
    if (!strcmp(e->group ? e->group : "", "rbac.authorization.k8s.io") &&
        (!strcmp(e->kind, "RoleBinding") || !strcmp(e->kind, "ClusterRoleBinding"))) {
        bindings(pol, e, out);
        return;
    }
    const ag_podspec_ref *refs = e->specs;
    for (size_t i = 0; i < e->nspecs; i++) {
        char path[256];
        ag_strfmt(path, sizeof path, "%s.serviceAccountName", refs[i].path);
        const char *sa = str(refs[i].spec, "serviceAccountName");
        if (!sa)
            sa = str(refs[i].spec, "serviceAccount");
        service_account(pol, e, out, sa, e->ns, path);
    }
    if (is_aim(e)) {
        /* an AIMClusterModel's discovery Jobs run in the operator's namespace */
        const char *ns = !strcmp(e->kind, "AIMClusterModel") || !strcmp(e->kind, "AIMClusterServiceTemplate")
                             ? pol->rbac.operator_namespace : e->ns;
        service_account(pol, e, out, str(json_object_get(e->object, "spec"), "serviceAccountName"), ns,
                        "spec.serviceAccountName");
        if (pol->rbac.refs.present && pol->rbac.refs.enabled)
            validate_cluster_refs(pol, e, out);
    }
}

/* Renders the few JSONPath pieces a pathTemplate uses; others stay as written. */
static void render_path(const char *tpl, json_t *obj, char *out, size_t cap)
{
    json_t *meta = json_object_get(obj, "metadata");
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < cap;) {
        const char *sub = NULL;
        size_t skip = 0;
        if (!strncmp(p, "{.metadata.namespace}", 21)) sub = str(meta, "namespace"), skip = 21;
        else if (!strncmp(p, "{.metadata.name}", 16)) sub = str(meta, "name"), skip = 16;
        if (skip) {
            int w = snprintf(out + o, cap - o, "%s", sub ? sub : "");
            o += w > 0 ? (size_t)w : 0;
            if (o >= cap) o = cap - 1;
            p += skip;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

void validate_aim(const policy *pol, eval_ctx *e, vlist *out)
{
    const aim_cfg *a = &pol->aim;
    if (!is_aim(e) || exception_applies(pol, e, "aim"))
        return;
    json_t *spec = json_object_get(e->object, "spec");
    char msg[800];
    if (a->allowed_resources.n) {
        static const char *const lists[] = {"limits", "requests"};
        for (int l = 0; l < 2; l++) {
            const char *k;
            json_t *v;
            json_object_foreach(json_object_get(json_object_get(spec, "resources"), lists[l]), k, v) {
                if (strlist_has_glob(&a->allowed_resources, k))
                    continue;
                char path[300];
                ag_strfmt(path, sizeof path, "spec.resources.%s['%s']", lists[l], k);
                ag_strfmt(msg, sizeof msg, "%s asks for the resource \"%s\", which is not on the allowed list",
                          e->kind, k);
                vlist_add(out, pol, "aim/resources", "aim", pol->action, msg, path);
            }
        }
        const char *rn = str(json_object_get(json_object_get(spec, "hardware"), "gpu"), "resourceName");
        if (rn && !strlist_has_glob(&a->allowed_resources, rn)) {
            ag_strfmt(msg, sizeof msg, "%s names the GPU resource \"%s\", which is not on the allowed list", e->kind, rn);
            vlist_add(out, pol, "aim/resources", "aim", pol->action, msg, "spec.hardware.gpu.resourceName");
        }
    }
    if (strcmp(e->kind, "AIMService"))
        return;
    json_t *routing = json_object_get(spec, "routing");
    json_t *gw = json_object_get(routing, "gatewayRef");
    if (a->allowed_gateways.n && gw) {
        const char *gns = str(gw, "namespace"), *gname = str(gw, "name");
        char full[512];
        snprintf(full, sizeof full, "%s/%s", gns && *gns ? gns : e->ns, gname ? gname : "");
        if (!strlist_has_glob(&a->allowed_gateways, full)) {
            ag_strfmt(msg, sizeof msg, "AIMService routes through the Gateway %s, which is not on the allowed list", full);
            vlist_add(out, pol, "aim/gateway", "aim", pol->action, msg, "spec.routing.gatewayRef");
        }
    }
    const char *tpl = str(routing, "pathTemplate");
    if (a->path_under_namespace && tpl && *e->ns) {
        char path[512];
        render_path(tpl, e->object, path, sizeof path);
        size_t nl = strlen(e->ns);
        int ok = path[0] == '/' && !strncmp(path + 1, e->ns, nl) && (path[1 + nl] == '/' || path[1 + nl] == '\0') &&
                 !strstr(path, "/../") && !strstr(path, "//");
        if (!ok) {
            ag_strfmt(msg, sizeof msg, "AIMService pathTemplate renders \"%s\": a route must stay under "
                      "/%s/ on a shared gateway", path, e->ns);
            vlist_add(out, pol, "aim/pathTemplate", "aim", pol->action, msg, "spec.routing.pathTemplate");
        }
    }
    if (a->max_ns_len && (long long)strlen(e->ns) > a->max_ns_len && !strcmp(e->operation, "CREATE")) {
        ag_strfmt(msg, sizeof msg, "the namespace name \"%s\" has %zu characters; AIMServices need at most %lld "
                  "(the operator fails later on longer ones)", e->ns, strlen(e->ns), a->max_ns_len);
        vlist_add(out, pol, "aim/namespaceLength", "aim", pol->action, msg, "metadata.namespace");
    }
}
