/* AIMService -> KServe InferenceService (+ HTTPRoute), resolved the way AIM resolves it
 * (namespace wins over cluster scope), hardened by the loaded policies before it is
 * written. docs/reconciler.md describes the shapes and what differs from upstream. */
#include "reconcile_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/log.h"


static json_t *resolved_ref(json_t *obj, const char *kind, const char *scope)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", json_string_value(rc_at(obj, "metadata.name")),
                     "namespace", json_string_value(rc_at(obj, "metadata.namespace")) ?
                         json_string_value(rc_at(obj, "metadata.namespace")) : "",
                     "scope", scope, "kind", kind, "uid",
                     json_string_value(rc_at(obj, "metadata.uid")) ? json_string_value(rc_at(obj, "metadata.uid")) : "");
}

typedef rc_resolved resolved;

static void resolved_clear(resolved *r)
{
    json_decref(r->model);
    json_decref(r->tmpl);
    json_decref(r->rcfg);
    json_decref(r->rcfg_ref);
    json_decref(r->model_ref);
    json_decref(r->tmpl_ref);
}

static int fail(resolved *r, const char *reason, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(resolved *r, const char *reason, const char *fmt, ...)
{
    snprintf(r->reason, sizeof r->reason, "%s", reason);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return -1;
}

static int resolve(rctx *c, json_t *svc, const char *ns, resolved *r)
{
    json_t *spec = json_object_get(svc, "spec");
    json_t *model = json_object_get(spec, "model");
    const char *mname = rc_str(model, "name");
    if (strlen(ns) > 42)
        return fail(r, "NamespaceTooLong", "namespace %s is longer than 42 characters (KServe host names)", ns);
    if (mname) {
        if ((r->model = rc_get(c, W_MODELS, ns, mname)))
            r->model_ref = resolved_ref(r->model, "AIMModel", "Namespace");
        else if ((r->model = rc_get(c, W_CLUSTER_MODELS, "", mname)))
            r->model_ref = resolved_ref(r->model, "AIMClusterModel", "Cluster");
        else
            return fail(r, "ModelNotFound", "no AIMModel %s in this namespace and no AIMClusterModel %s",
                    mname, mname);
        r->image = json_string_value(rc_at(r->model, "spec.image"));
        if (!r->image)
            return fail(r, "ModelInvalid", "model %s has no spec.image", mname);
        r->hardware = rc_at(r->model, "spec.custom.hardware");
    } else if (rc_str(model, "image")) {
        r->image = rc_str(model, "image");
    } else if (json_object_get(model, "custom")) {
        r->image = json_string_value(rc_at(model, "custom.baseImage"));
        r->hardware = rc_at(model, "custom.hardware");
        if (!r->image)
            return fail(r, "ModelInvalid", "spec.model.custom has no baseImage");
    } else {
        return fail(r, "ModelNotSpecified", "spec.model names no model, image or custom model");
    }
    const char *tname = json_string_value(rc_at(spec, "template.name"));
    if (!tname && r->model)
        tname = json_string_value(rc_at(r->model, "spec.defaultServiceTemplate"));
    if (tname) {
        if ((r->tmpl = rc_get(c, W_TEMPLATES, ns, tname)))
            r->tmpl_ref = resolved_ref(r->tmpl, "AIMServiceTemplate", "Namespace");
        else if ((r->tmpl = rc_get(c, W_CLUSTER_TEMPLATES, "", tname)))
            r->tmpl_ref = resolved_ref(r->tmpl, "AIMClusterServiceTemplate", "Cluster");
        else
            return fail(r, "TemplateNotFound", "no AIMServiceTemplate %s in this namespace and no "
                        "AIMClusterServiceTemplate %s", tname, tname);
        json_t *ts = json_object_get(r->tmpl, "spec");
        if (json_object_get(ts, "hardware"))
            r->hardware = json_object_get(ts, "hardware");
        r->metric = rc_str(ts, "metric");
        r->precision = rc_str(ts, "precision");
        r->profile = rc_str(ts, "profileId");
    }
    json_t *ov = json_object_get(spec, "overrides");
    if (json_object_get(ov, "hardware"))
        r->hardware = json_object_get(ov, "hardware");
    if (rc_str(ov, "metric"))
        r->metric = rc_str(ov, "metric");
    if (rc_str(ov, "precision"))
        r->precision = rc_str(ov, "precision");
    if (!r->hardware)
        return fail(r, "TemplateNotResolved", "no template names the hardware: set spec.template.name "
                    "(aimguard does not run AIM's template discovery)");
    if (rc_runtime_config(c, ns, rc_str(spec, "runtimeConfigName"), &r->rcfg, &r->rcfg_ref, r->why, sizeof r->why)) {
        snprintf(r->reason, sizeof r->reason, "RuntimeConfigNotFound");
        return -1;
    }
    return 0;
}

static int owned_by(json_t *child, json_t *owner)
{
    size_t i;
    json_t *ref;
    const char *uid = json_string_value(rc_at(owner, "metadata.uid"));
    json_array_foreach(rc_at(child, "metadata.ownerReferences"), i, ref)
        if (uid && rc_str(ref, "uid") && !strcmp(uid, rc_str(ref, "uid")))
            return 1;
    return 0;
}

static int ready_of(json_t *obj, const char **msg)
{
    size_t i;
    json_t *cd;
    json_array_foreach(rc_at(obj, "status.conditions"), i, cd)
        if (rc_str(cd, "type") && !strcmp(rc_str(cd, "type"), "Ready")) {
            *msg = rc_str(cd, "message");
            return rc_str(cd, "status") && !strcmp(rc_str(cd, "status"), "True");
        }
    *msg = NULL;
    return 0;
}

int rc_reconcile_service(rctx *c, const char *ns, const char *name, rc_result *res)
{
    json_t *svc = rc_get(c, W_SERVICES, ns, name);
    int stop_rc = 0;
    if (rc_pass_stops(c, W_SERVICES, svc, ns, res, &stop_rc))
        return stop_rc;
    resolved r = {0};
    json_t *conds = json_array(), *extra = json_object();
    ag_error err = {0};
    int rc = 0;
    char why[1200] = "", reason[64] = "PolicyDenied", path[512] = "";
    if (resolve(c, svc, ns, &r)) {
        json_array_append_new(conds, rc_cond("Resolved", 0, r.reason, "%s", r.why));
        json_array_append_new(conds, rc_cond("Provisioned", 0, "Unresolved", "waiting for the references to resolve"));
        json_array_append_new(conds, rc_cond("Ready", 0, "Unresolved", "waiting for the references to resolve"));
        json_object_set_new(extra, "status", json_string("Pending"));
        goto status;
    }
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "model image %s", r.image));
    if (r.model_ref)
        json_object_set(extra, "resolvedModel", r.model_ref);
    if (r.tmpl_ref)
        json_object_set(extra, "resolvedTemplate", r.tmpl_ref);
    json_object_set(extra, "resolvedRuntimeConfig", r.rcfg_ref);
    json_t *isvc = rc_desired_inference_service(svc, &r, why, sizeof why);
    if (isvc && rc_harden(c, &isvc, ns, &err)) {
        snprintf(why, sizeof why, "the policies would deny the InferenceService: %s", err.msg);
        ag_error_clear(&err);
        json_decref(isvc);
        isvc = NULL;
    }
    if (!isvc) {
        if (!strncmp(why, "GPU model", 9))
            snprintf(reason, sizeof reason, "UnknownGPUModel");
        json_array_append_new(conds, rc_cond("Provisioned", 0, reason, "%s", why));
        json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the InferenceService was not written"));
        json_object_set_new(extra, "status", json_string("Failed"));
        goto status;
    }
    rc = rc_apply(c, W_ISVCS, isvc, 0, &err);
    json_decref(isvc);
    if (rc == RC_ENOTOURS) {
        /* someone else's InferenceService of this name: said, never touched; looked at
         * again when it changes or goes (its events queue this service) */
        json_array_append_new(conds, rc_cond("Provisioned", 0, "ChildConflict", "%s", err.msg));
        json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the InferenceService was not written"));
        json_object_set_new(extra, "status", json_string("Failed"));
        ag_error_clear(&err);
        goto status;
    }
    if (rc == RC_EREFUSED)
        goto refused;
    if (rc)
        goto out; /* retried with backoff; status is written once the API answers */
    json_t *eff = rc_merge_over(json_object_get(r.rcfg, "routing"), rc_at(svc, "spec.routing"));
    int enabled = json_is_true(json_object_get(eff, "enabled"));
    json_t *old = rc_get(c, W_ROUTES, ns, name);
    int provisioned = 1;
    if (enabled) {
        json_t *route = rc_desired_http_route(svc, eff, r.rcfg, reason, why, sizeof why, path, sizeof path);
        if (!route) {
            provisioned = 0;
            json_array_append_new(conds, rc_cond("Provisioned", 0, reason, "%s", why));
        } else {
            rc = rc_apply(c, W_ROUTES, route, 0, &err);
            json_decref(route);
            if (rc == RC_ENOTOURS) {
                provisioned = 0;
                json_array_append_new(conds, rc_cond("Provisioned", 0, "ChildConflict", "%s", err.msg));
                ag_error_clear(&err);
                rc = 0;
            } else {
                json_object_set_new(extra, "routing", json_pack("{s:s}", "path", path));
            }
        }
    } else if (old && owned_by(old, svc)) {
        /* routing was switched off: the route we made goes */
        char p[700];
        rc_path(p, sizeof p, W_ROUTES, ns, name, NULL);
        ag_kube_status st = {0};
        if (rc_may_write(c, &err))
            rc = -1;
        else if (atomic_fetch_add(&c->r->writes, 1),
                 ag_kube_delete(c->kube, p, "Background", &st, &err) && st.code != 404)
            rc = -1;
        else
            rc_wrote(c, W_ROUTES, ns, name, NULL);
    }
    json_decref(old);
    json_decref(eff);
    if (rc == RC_EREFUSED)
        goto refused;
    if (rc)
        goto out;
    if (provisioned)
        json_array_append_new(conds, rc_cond("Provisioned", 1, "Provisioned", "InferenceService %s%s",
                                             name, enabled ? " and HTTPRoute written" : " written"));
    json_t *live = rc_get(c, W_ISVCS, ns, name);
    const char *msg = NULL;
    int ready = provisioned && live && ready_of(live, &msg);
    json_array_append_new(conds, rc_cond("Ready", ready, ready ? "Ready" : "InferenceServiceNotReady", "%s",
                                         ready ? "the InferenceService is ready" :
                                         msg ? msg : "waiting for the InferenceService to become ready"));
    json_object_set_new(extra, "status", json_string(!provisioned ? "Failed" : ready ? "Running" : "Starting"));
    json_decref(live);
    goto status;
refused:
    /* e.g. OwnerReferencesPermissionEnforcement without update on aimservices/finalizers:
     * the owner's status says what the API server answered; retried with backoff */
    json_array_clear(conds);
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "model image %s", r.image));
    json_array_append_new(conds, rc_cond("Provisioned", 0, "WriteRefused", "%s", err.msg));
    json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "a write was refused"));
    json_object_set_new(extra, "status", json_string("Failed"));
    if (rc_status(c, W_SERVICES, svc, conds, extra, &err) == 0)
        rc = RC_EREFUSED;
    goto out;
status:
    rc = rc_status(c, W_SERVICES, svc, conds, extra, &err);
out:
    if (rc)
        ag_log(AG_LOG_WARN, "reconciler: AIMService not reconciled", "namespace", ns, "name", name,
               "reason", err.msg, NULL);
    json_decref(conds);
    json_decref(extra);
    resolved_clear(&r);
    json_decref(svc);
    return rc;
}
