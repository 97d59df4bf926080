/* AIMArtifact -> PersistentVolumeClaim + download Job. The Job runs as the namespace's
 * dedicated download ServiceAccount (guardrails.c), never as `default`, and is hardened
 * to `restricted` from birth, then passed through the loaded policies. */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/log.h"


static const char *job_state(json_t *job, const char **msg)
{
    *msg = NULL;
    if (!job)
        return "Pending";
    size_t i;
    json_t *cd;
    json_array_foreach(rc_at(job, "status.conditions"), i, cd) {
        const char *t = rc_str(cd, "type"), *s = rc_str(cd, "status");
        if (t && s && !strcmp(s, "True") && (!strcmp(t, "Complete") || !strcmp(t, "Failed"))) {
            *msg = rc_str(cd, "message");
            return !strcmp(t, "Complete") ? "Ready" : "Failed";
        }
    }
    if (json_integer_value(rc_at(job, "status.succeeded")) > 0)
        return "Ready";
    return json_integer_value(rc_at(job, "status.active")) > 0 ? "Downloading" : "Pending";
}

int rc_reconcile_artifact(rctx *c, const char *ns, const char *name, rc_result *res)
{
    json_t *art = rc_get(c, W_ARTIFACTS, ns, name);
    int stop_rc = 0;
    if (rc_pass_stops(c, W_ARTIFACTS, art, ns, res, &stop_rc))
        return stop_rc;
    ag_reconcile_config *cfg = &c->r->cfg;
    json_t *spec = json_object_get(art, "spec");
    json_t *conds = json_array(), *extra = json_object(), *rcfg = NULL, *rref = NULL;
    ag_error err = {0};
    int rc = 0;
    char why[1200], pvc_name[300], job_name[300];
    snprintf(pvc_name, sizeof pvc_name, "%s-cache", name);
    snprintf(job_name, sizeof job_name, "%s-download", name);
    if (rc_runtime_config(c, ns, rc_str(spec, "runtimeConfigName"), &rcfg, &rref, why, sizeof why)) {
        json_array_append_new(conds, rc_cond("Resolved", 0, "RuntimeConfigNotFound", "%s", why));
        json_array_append_new(conds, rc_cond("Provisioned", 0, "Unresolved", "waiting for the runtime config"));
        json_array_append_new(conds, rc_cond("Ready", 0, "Unresolved", "waiting for the runtime config"));
        json_object_set_new(extra, "status", json_string("Pending"));
        goto status;
    }
    const char *size = rc_str(spec, "size") ? rc_str(spec, "size") : cfg->default_artifact_size;
    double bytes = rc_quantity_bytes(size);
    if (bytes <= 0) {
        json_array_append_new(conds, rc_cond("Resolved", 0, "InvalidSize", "spec.size %s is not a quantity", size));
        json_array_append_new(conds, rc_cond("Provisioned", 0, "Unresolved", "no size for the volume"));
        json_array_append_new(conds, rc_cond("Ready", 0, "Unresolved", "no size for the volume"));
        json_object_set_new(extra, "status", json_string("Failed"));
        goto status;
    }
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "source %s, %s",
                                         rc_str(spec, "sourceUri") ? rc_str(spec, "sourceUri") : "?", size));
    json_t *pvc = rc_desired_pvc(art, rcfg, cfg->default_artifact_size);
    rc = rc_apply(c, W_PVCS, pvc, 1, &err);
    json_decref(pvc);
    if (rc == RC_ENOTOURS)
        goto conflict;
    if (rc == RC_EREFUSED)
        goto refused;
    if (rc)
        goto out;
    json_object_set_new(extra, "persistentVolumeClaim", json_string(pvc_name));

    json_t *job = rc_get(c, W_JOBS, ns, job_name);
    const char *prev = rc_str(json_object_get(art, "status"), "status");
    if (!job && prev && !strcmp(prev, "Ready")) {
        /* downloaded; the finished Job went with its TTL: nothing to run again */
        json_array_append_new(conds, rc_cond("Provisioned", 1, "Provisioned", "volume %s", pvc_name));
        json_array_append_new(conds, rc_cond("Ready", 1, "Downloaded", "the model is on %s", pvc_name));
        json_object_set_new(extra, "status", json_string("Ready"));
        goto status;
    }
    if (!job) {
        job = rc_desired_download_job(art, rcfg, cfg->download_sa, cfg->default_download_image);
        if (rc_harden(c, &job, ns, &err)) {
            json_decref(job);
            json_array_append_new(conds, rc_cond("Provisioned", 0, "PolicyDenied",
                                                 "the policies would deny the download Job: %s", err.msg));
            json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the download Job was not written"));
            json_object_set_new(extra, "status", json_string("Failed"));
            err.msg[0] = '\0';
            goto status;
        }
        rc = rc_apply(c, W_JOBS, job, 1, &err);
        json_decref(job);
        if (rc == RC_ENOTOURS)
            goto conflict;
        if (rc == RC_EREFUSED)
            goto refused;
        if (rc)
            goto out;
        job = NULL;
    }
    const char *msg;
    const char *state = job_state(job, &msg);
    json_decref(job);
    json_array_append_new(conds, rc_cond("Provisioned", 1, "Provisioned", "volume %s and Job %s", pvc_name, job_name));
    int ready = !strcmp(state, "Ready");
    json_array_append_new(conds, rc_cond("Ready", ready, ready ? "Downloaded" : !strcmp(state, "Failed") ?
                                         "DownloadFailed" : "Downloading", "%s", ready ? "the model is downloaded" :
                                         msg ? msg : "the download Job has not finished"));
    json_object_set_new(extra, "status", json_string(state));
    goto status;
conflict:
    /* someone else's volume or Job of this name: said, never touched */
    json_array_append_new(conds, rc_cond("Provisioned", 0, "ChildConflict", "%s", err.msg));
    json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "the volume or download Job is not ours"));
    json_object_set_new(extra, "status", json_string("Failed"));
    ag_error_clear(&err);
    goto status;
refused:
    /* the API server said no (e.g. no update on aimartifacts/finalizers under
     * OwnerReferencesPermissionEnforcement): in the status, and retried with backoff */
    json_array_clear(conds);
    json_array_append_new(conds, rc_cond("Provisioned", 0, "WriteRefused", "%s", err.msg));
    json_array_append_new(conds, rc_cond("Ready", 0, "NotProvisioned", "a write was refused"));
    json_object_set_new(extra, "status", json_string("Failed"));
    if (rc_status(c, W_ARTIFACTS, art, conds, extra, &err) == 0)
        rc = RC_EREFUSED;
    goto out;
status:
    rc = rc_status(c, W_ARTIFACTS, art, conds, extra, &err);
out:
    if (rc)
        ag_log(AG_LOG_WARN, "reconciler: AIMArtifact not reconciled", "namespace", ns, "name", name,
               "reason", err.msg, NULL);
    json_decref(conds);
    json_decref(extra);
    json_decref(rcfg);
    json_decref(rref);
    json_decref(art);
    return rc;
}
