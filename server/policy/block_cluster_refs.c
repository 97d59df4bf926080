/* spec.validate.rbac.clusterReferences, compiled and run for the rbac block (block_rbac.c):
 * a namespaced AIM object that names a cluster-scoped model, template or runtime config
 * needs the requester to be allowed to use it, which the API server answers (a
 * SubjectAccessReview through ag_view.access).
 *
 * Resolution follows the operator (namespace wins): a model name is an AIMModel of the
 * object's namespace, else the AIMClusterModel; a template name likewise. A runtime
 * config is different: the AIMClusterRuntimeConfig of that name is merged *under* the
 * namespaced one, so it contributes even when a namespaced one exists, and is always
 * checked (otherwise an empty namespaced AIMRuntimeConfig would let anyone pull in a
 * cluster config's settings). An empty runtimeConfigName means "default". */
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* validate.rbac.clusterReferences, for compile_rbac (block_rbac.c) */
void pol_cluster_refs_compile(cctx *c, const ag_ynode *n, cluster_refs *r)
{
    static const char *const keys[] = {"enabled", "verb", "failClosed", "references", NULL};
    static const char *const kinds[] = {"models", "templates", "runtimeConfigs", NULL};
    const char *w = "rbac.clusterReferences";
    r->enabled = r->fail_closed = 1;
    r->models = r->templates = r->runtime_configs = 1;
    r->verb = strdup("use");
    if (!r->verb)
        pol_err(c, n, "out of memory");
    if (pol_check_map(c, n, w, keys))
        return;
    r->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "enabled"))) pol_get_bool(c, v, "rbac.clusterReferences.enabled", &r->enabled);
    if ((v = ag_ynode_get(n, "failClosed"))) pol_get_bool(c, v, "rbac.clusterReferences.failClosed", &r->fail_closed);
    if ((v = ag_ynode_get(n, "verb")) && pol_scalar(c, v, "rbac.clusterReferences.verb")) {
        size_t len = strlen(v->value);
        int ok = len > 0 && len <= 63;
        for (size_t i = 0; ok && i < len; i++)
            ok = (v->value[i] >= 'a' && v->value[i] <= 'z') || (i && v->value[i] >= 'A' && v->value[i] <= 'Z');
        if (!ok) {
            pol_err(c, v, "rbac.clusterReferences.verb: '%s' is not a verb (letters only, e.g. use or get; "
                     "'*' would ask nothing)", v->value);
        } else {
            free(r->verb);
            if (!(r->verb = strdup(v->value)))
                pol_err(c, v, "out of memory");
        }
    }
    if ((v = ag_ynode_get(n, "references"))) {
        r->models = r->templates = r->runtime_configs = 0;
        if (v->type != AG_YNODE_SEQ || v->count == 0) {
            pol_err(c, v, "rbac.clusterReferences.references must be a non-empty list of models, templates, "
                     "runtimeConfigs");
            return;
        }
        for (size_t i = 0; i < v->count; i++) {
            const char *k = pol_scalar(c, v->items[i], "rbac.clusterReferences.references[]");
            if (!k)
                continue;
            if (!strcmp(k, kinds[0])) r->models = 1;
            else if (!strcmp(k, kinds[1])) r->templates = 1;
            else if (!strcmp(k, kinds[2])) r->runtime_configs = 1;
            else {
                const char *best = pol_closest(k, kinds);
                pol_err(c, v->items[i], "rbac.clusterReferences.references: unknown reference '%s' (models, "
                         "templates or runtimeConfigs%s%s%s)", k, best ? "; did you mean '" : "",
                         best ? best : "", best ? "'?" : "");
            }
        }
    }
}

enum { REF_MODEL, REF_TEMPLATE, REF_RUNTIME };

static const struct {
    const char *ns_res, *ns_kind, *cl_res, *cl_kind;
} cats[] = {
    {"aimmodels", "AIMModel", "aimclustermodels", "AIMClusterModel"},
    {"aimservicetemplates", "AIMServiceTemplate", "aimclusterservicetemplates", "AIMClusterServiceTemplate"},
    {"aimruntimeconfigs", "AIMRuntimeConfig", "aimclusterruntimeconfigs", "AIMClusterRuntimeConfig"},
};

/* The name references of the namespaced AIM kinds. */
static const struct {
    const char *kind, *path;
    int cat;
} refs[] = {
    {"AIMService", "spec.model.name", REF_MODEL},
    {"AIMService", "spec.template.name", REF_TEMPLATE},
    {"AIMService", "spec.runtimeConfigName", REF_RUNTIME},
    {"AIMServiceTemplate", "spec.modelName", REF_MODEL},
    {"AIMServiceTemplate", "spec.runtimeConfigName", REF_RUNTIME},
    {"AIMModel", "spec.runtimeConfigName", REF_RUNTIME},
    {"AIMTemplateCache", "spec.templateName", REF_TEMPLATE},
    {"AIMTemplateCache", "spec.runtimeConfigName", REF_RUNTIME},
    {"AIMArtifact", "spec.runtimeConfigName", REF_RUNTIME},
};

#define AIM_GROUP "aim.eai.amd.com"

/* The string at a dotted path, or NULL. */
static const char *at(json_t *obj, const char *path)
{
    char key[64];
    const char *p = path;
    json_t *cur = obj;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n + (p[n] == '.');
    }
    return json_string_value(cur);
}

/* The name a reference resolves by ("" when there is none); runtime configs default. */
static const char *ref_name(json_t *obj, const char *path, int cat, int *implicit)
{
    const char *v = obj ? at(obj, path) : NULL;
    *implicit = 0;
    if (v && *v)
        return v;
    if (cat == REF_RUNTIME && obj) {
        *implicit = 1;
        return "default";
    }
    return "";
}

static int checked(const cluster_refs *r, int cat)
{
    return cat == REF_MODEL ? r->models : cat == REF_TEMPLATE ? r->templates : r->runtime_configs;
}

/* 1 when the view knows a namespaced object of that name: the reference resolves to it. */
static int shadowed(const eval_ctx *e, int cat, const char *name)
{
    if (!e->view || !e->view->get)
        return 0;
    json_t *o = e->view->get(e->view->ctx, cats[cat].ns_res, e->ns, name);
    json_decref(o);
    return o != NULL;
}

/* *unreachable: set once the API server could not answer; later references of the same
 * request are not asked (one slow API server costs a request one timeout, not three) */
static void check_one(const policy *pol, eval_ctx *e, vlist *out, int cat, const char *path, const char *name,
                      int implicit, int cluster_only, int *waived, int *unreachable)
{
    const cluster_refs *r = &pol->rbac.refs;
    char what[512];
    if (cat == REF_RUNTIME)
        ag_strfmt(what, sizeof what, "%s uses the %s \"%s\"%s (merged under any namespaced %s of that name)",
                  e->kind, cats[cat].cl_kind, name, implicit ? " (runtimeConfigName is empty: default)" : "",
                  cats[cat].ns_kind);
    else if (cluster_only)
        ag_strfmt(what, sizeof what, "%s references the %s \"%s\" (templateScope: Cluster)", e->kind,
                  cats[cat].cl_kind, name);
    else
        ag_strfmt(what, sizeof what, "%s references the %s \"%s\" (no %s of that name is known in %s)",
                  e->kind, cats[cat].cl_kind, name, cats[cat].ns_kind, e->ns);
    if (*waived < 0)
        *waived = pol_exception_applies(pol, e, "rbac_clusterReferences");
    if (*waived)
        return;

    const char *user = e->req->username;
    char reason[512] = "", why[700];
    int answer = AG_ACCESS_UNKNOWN;
    if (!user || !*user) {
        ag_strfmt(why, sizeof why, "the request names no user to ask about");
    } else if (!e->view || !e->view->access) {
        ag_strfmt(why, sizeof why, "no cluster is configured (aimguard eval, or serve without a cluster), "
                  "so no SubjectAccessReview can be asked");
    } else if (*unreachable) {
        ag_strfmt(why, sizeof why, "the Kubernetes API could not be reached for an earlier reference of this "
                  "request, so it was not asked again");
    } else {
        answer = e->view->access(e->view->access_ctx, user, e->req->groups, r->verb, AIM_GROUP,
                                 cats[cat].cl_res, e->ns, name, reason, sizeof reason);
        ag_strfmt(why, sizeof why, "the Kubernetes API could not be reached (%s)", reason);
        *unreachable = answer != AG_ACCESS_ALLOWED && answer != AG_ACCESS_DENIED;
    }
    if (!user)
        user = "";
    char msg[1400];
    if (answer == AG_ACCESS_ALLOWED)
        return;
    if (answer == AG_ACCESS_DENIED) {
        ag_strfmt(msg, sizeof msg, "%s, and %s may not %s it (SubjectAccessReview: verb %s on %s.%s \"%s\": "
                  "denied%s%s)", what, user, r->verb, r->verb, cats[cat].cl_res, AIM_GROUP, name,
                  *reason ? ": " : "", reason);
        pol_vlist_add(out, pol, "rbac/clusterReference", "rbac_clusterReferences", pol->action, msg, path);
    } else if (r->fail_closed) {
        ag_strfmt(msg, sizeof msg, "%s; whether %s may %s it is unknown: %s; failClosed: true denies", what,
                  *user ? user : "the requester", r->verb, why);
        pol_vlist_add(out, pol, "rbac/clusterReference", "rbac_clusterReferences", pol->action, msg, path);
    } else {
        ag_strfmt(msg, sizeof msg, "%s; admitted without knowing whether %s may %s it: %s; failClosed: false "
                  "admits", what, *user ? user : "the requester", r->verb, why);
        pol_vlist_add(out, pol, "rbac/clusterReference", "rbac_clusterReferences",
                  pol->action == AG_ACTION_ENFORCE ? AG_ACTION_WARN : pol->action, msg, path);
    }
}

void pol_cluster_refs_validate(const policy *pol, eval_ctx *e, vlist *out)
{
    const cluster_refs *r = &pol->rbac.refs;
    if (!*e->ns || (strcmp(e->operation, "CREATE") && strcmp(e->operation, "UPDATE")))
        return; /* cluster-scoped objects are cluster administrators' business */
    int waived = -1, unreachable = 0;
    int update = !strcmp(e->operation, "UPDATE");
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        if (strcmp(refs[i].kind, e->kind) || !checked(r, refs[i].cat))
            continue;
        int cat = refs[i].cat, implicit = 0, old_implicit = 0;
        const char *name = ref_name(e->object, refs[i].path, cat, &implicit);
        if (!*name)
            continue;
        int cluster_only = 0;
        const char *scope = NULL;
        if (!strcmp(e->kind, "AIMTemplateCache") && cat == REF_TEMPLATE) {
            scope = at(e->object, "spec.templateScope");
            if (scope && !strcmp(scope, "Namespace"))
                continue;
            cluster_only = scope && !strcmp(scope, "Cluster");
        }
        /* an UPDATE that keeps a reference was judged when it was written: the operator's
         * own updates (finalizers, labels) must not need the requester's permission */
        if (update && e->old && !strcmp(name, ref_name(e->old, refs[i].path, cat, &old_implicit))) {
            const char *old_scope = scope ? at(e->old, "spec.templateScope") : NULL;
            if (!strcmp(scope ? scope : "", old_scope ? old_scope : ""))
                continue;
        }
        if (cat != REF_RUNTIME && !cluster_only && shadowed(e, cat, name))
            continue;
        check_one(pol, e, out, cat, refs[i].path, name, implicit, cluster_only, &waived, &unreachable);
    }
}
