/* spec.validate.rbac: who may be granted what (RoleBindings), which service accounts
 * workloads may run as; its clusterReferences part is block_cluster_refs.c. */
#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/podspec.h"

static void compile_rbac(cctx *c, const ag_ynode *n, rbac_cfg *r)
{
    static const char *const keys[] = {"protectedRoles", "broadSubjects", "statusUpdaterRole",
                                       "statusUpdaterBinders", "statusUpdaterServiceAccounts",
                                       "reservedServiceAccounts", "operatorNamespace",
                                       "clusterReferences", NULL};
    if (pol_check_map(c, n, "spec.validate.rbac", keys))
        return;
    r->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "protectedRoles"))) pol_get_strlist(c, v, "rbac.protectedRoles", &r->protected_roles);
    if ((v = ag_ynode_get(n, "broadSubjects"))) {
        pol_get_strlist(c, v, "rbac.broadSubjects", &r->broad_subjects);
    } else {
        static const char *const broad[] = {"system:authenticated", "system:unauthenticated",
                                            "system:serviceaccounts", "system:serviceaccounts:*", NULL};
        for (const char *const *b = broad; *b; b++)
            if (pol_strlist_add(&r->broad_subjects, *b))
                pol_err(c, n, "out of memory");
    }
    if ((v = ag_ynode_get(n, "statusUpdaterRole")) && pol_scalar(c, v, "rbac.statusUpdaterRole"))
        r->status_role = strdup(v->value);
    if ((v = ag_ynode_get(n, "statusUpdaterBinders"))) pol_get_strlist(c, v, "rbac.statusUpdaterBinders", &r->status_binders);
    if (r->status_role && !r->status_binders.n)
        pol_err(c, n, "rbac.statusUpdaterRole needs statusUpdaterBinders (the identities that may bind it)");
    if ((v = ag_ynode_get(n, "statusUpdaterServiceAccounts")))
        pol_get_strlist(c, v, "rbac.statusUpdaterServiceAccounts", &r->status_sas);
    else if (pol_strlist_add(&r->status_sas, "default"))
        pol_err(c, n, "out of memory");
    if ((v = ag_ynode_get(n, "reservedServiceAccounts"))) {
        pol_get_strlist(c, v, "rbac.reservedServiceAccounts", &r->reserved_sas);
        for (size_t i = 0; i < r->reserved_sas.n; i++)
            if (!strchr(r->reserved_sas.v[i], '/'))
                pol_err(c, v, "rbac.reservedServiceAccounts: '%s' must be NAMESPACE/NAME (globs allowed)",
                         r->reserved_sas.v[i]);
    }
    v = ag_ynode_get(n, "operatorNamespace");
    r->operator_namespace = strdup(v && pol_scalar(c, v, "rbac.operatorNamespace") ? v->value : "aim-system");
    if ((v = ag_ynode_get(n, "clusterReferences")))
        pol_cluster_refs_compile(c, v, &r->refs);
    if (!r->protected_roles.n && !r->status_role && !r->reserved_sas.n && !r->refs.present)
        pol_err(c, n, "spec.validate.rbac says nothing: give protectedRoles, statusUpdaterRole, "
                       "reservedServiceAccounts or clusterReferences");
}

static void rbac_free(rbac_cfg *c)
{
    pol_strlist_free(&c->protected_roles);
    pol_strlist_free(&c->broad_subjects);
    pol_strlist_free(&c->status_binders);
    pol_strlist_free(&c->status_sas);
    pol_strlist_free(&c->reserved_sas);
    free(c->status_role);
    free(c->operator_namespace);
    free(c->refs.verb);
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
    pol_vlist_add(out, pol, rule, "rbac", pol->action, msg, path);
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
    if (pol_strlist_has_glob(&r->protected_roles, role) && !pol_exception_applies(pol, e, "rbac")) {
        size_t i;
        json_t *s;
        json_array_foreach(subjects, i, s) {
            const char *kind = str(s, "kind"), *name = str(s, "name"), *ns = str(s, "namespace");
            char path[64];
            snprintf(path, sizeof path, "subjects[%zu]", i);
            if (kind && !strcmp(kind, "Group") && pol_strlist_has_glob(&r->broad_subjects, name))
                deny(pol, out, "rbac/protectedRole", path, "%s grants the protected role \"%s\" to the broad "
                     "group \"%s\"", e->kind, role, name ? name : "");
            else if (!cluster && kind && !strcmp(kind, "ServiceAccount") && ns && *e->ns && strcmp(ns, e->ns))
                deny(pol, out, "rbac/protectedRole", path, "RoleBinding in %s grants the protected role \"%s\" "
                     "to a service account of another namespace (%s/%s)", e->ns, role, ns, name ? name : "");
        }
    }
    if (r->status_role && !strcmp(role, r->status_role) && !pol_exception_applies(pol, e, "rbac")) {
        if (!pol_strlist_has_glob(&r->status_binders, e->req->username))
            deny(pol, out, "rbac/statusUpdater", "roleRef.name", "only the reconciler may bind \"%s\" "
                 "(requested by %s)", role, e->req->username);
        if (cluster)
            deny(pol, out, "rbac/statusUpdater", "roleRef.name", "\"%s\" may only be bound per namespace "
                 "(a RoleBinding), never cluster-wide", role);
        size_t i;
        json_t *s;
        json_array_foreach(subjects, i, s) {
            const char *kind = str(s, "kind"), *name = str(s, "name"), *ns = str(s, "namespace");
            int ok = kind && !strcmp(kind, "ServiceAccount") && name && pol_strlist_has_glob(&r->status_sas, name) &&
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
    if (pol_strlist_has_glob(&pol->rbac.reserved_sas, full) && !pol_exception_applies(pol, e, "rbac"))
        deny(pol, out, "rbac/reservedServiceAccount", path, "%s may not run as the reserved service "
             "account %s", e->kind, full);
}

static void validate_rbac(const policy *pol, eval_ctx *e, vlist *out)
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
            pol_cluster_refs_validate(pol, e, out);
    }
}

static void rbac_compile(cctx *c, const ag_ynode *n, policy *p) { compile_rbac(c, n, &p->rbac); }

static int rbac_present(const policy *p) { return p->rbac.present; }

static void rbac_validate(const policy *p, eval_ctx *e, vlist *out, ag_error *err)
{
    (void)err;
    if (p->rbac.present)
        validate_rbac(p, e, out);
}

static void rbac_free_block(policy *p) { rbac_free(&p->rbac); }

static int rbac_uses(const policy *p, const char *control)
{
    return (p->rbac.present && pol_control_matches(control, "rbac")) ||
           (p->rbac.refs.present && pol_control_matches(control, "rbac_clusterReferences"));
}

static const char *const rbac_controls[] = {"rbac", "rbac_clusterReferences", NULL};

const pol_block pol_block_rbac = {
    .key = "rbac", .phase = POL_VALIDATE, .controls = rbac_controls,
    .compile = rbac_compile, .present = rbac_present, .validate = rbac_validate,
    .free = rbac_free_block, .uses = rbac_uses,
};
