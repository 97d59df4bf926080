/* AIMArtifact -> PersistentVolumeClaim + download Job. The Job runs as the namespace's
 * dedicated download ServiceAccount (guardrails.c), never as `default`, and is hardened
 * to `restricted` from birth, then passed through the loaded policies. */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/log.h"

#define AIM_API "aim.eai.amd.com/v1alpha1"

/* "2.2Gi", "500M", "1073741824" -> bytes; <0 when not a quantity */
static double bytes_of(const char *q)
{
    char *end;
    double v = strtod(q, &end);
    if (end == q || v < 0)
        return -1;
    static const struct { const char *s; double m; } units[] = {
        {"", 1}, {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
        {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].s))
            return v * units[i].m;
    return -1;
}

static json_t *artifact_labels(json_t *art, json_t *rcfg, const char *name, int pod)
{
    json_t *l = rc_child_labels(art, rcfg, "artifact");
    char v[64];
    rc_label_value(name, v, sizeof v);
    json_object_set_new(l, "aim.eai.amd.com/cache.name", json_string(v));
    json_object_set_new(l, "aim.eai.amd.com/artifact.name", json_string(v));
    if (pod) {
        json_object_del(l, "app.kubernetes.io/managed-by");
        json_object_set_new(l, "aim.eai.amd.com/cache.type", json_string("artifact"));
        json_object_set_new(l, "aim.eai.amd.com/component", json_string("download"));
    }
    return l;
}

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

int rc_reconcile_artifact(rctx *c, const char *ns, const char *name)
{
    json_t *art = rc_get(c, W_ARTIFACTS, ns, name);
    if (rc_skip(art)) {
        json_decref(art);
        return 0;
    }
    char scope[400];
    if (c->r->cfg.unmanaged_only) {
        double in = 0;
        int m = rc_managed_elsewhere(c, art, &in);
        if (m) {
            if (m < 0) {
                snprintf(scope, sizeof scope, "art/%s/%s", ns, name);
                rq_add_after(c->r->queue, scope, in);
            }
            json_decref(art);
            return 0; /* the AIM operator's: not a byte written, status included */
        }
    }
    if (rc_exempt(c, ns, scope, sizeof scope)) {
        ag_error serr = {0};
        int src = rc_status_not_provisioned(c, W_ARTIFACTS, art, "NamespaceExempt", scope, &serr);
        json_decref(art);
        return src;
    }
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
    double bytes = bytes_of(size);
    if (bytes <= 0) {
        json_array_append_new(conds, rc_cond("Resolved", 0, "InvalidSize", "spec.size %s is not a quantity", size));
        json_array_append_new(conds, rc_cond("Provisioned", 0, "Unresolved", "no size for the volume"));
        json_array_append_new(conds, rc_cond("Ready", 0, "Unresolved", "no size for the volume"));
        json_object_set_new(extra, "status", json_string("Failed"));
        goto status;
    }
    json_array_append_new(conds, rc_cond("Resolved", 1, "Resolved", "source %s, %s",
                                         rc_str(spec, "sourceUri") ? rc_str(spec, "sourceUri") : "?", size));
    json_t *headroom = rc_at(rcfg, "storage.pvcHeadroomPercent");
    if (!headroom)
        headroom = json_object_get(rcfg, "pvcHeadroomPercent");
    long long pct = json_is_integer(headroom) ? json_integer_value(headroom) : 10;
    char storage[64];
    double mib = bytes * (100.0 + (double)pct) / 100.0 / 1048576.0;
    long long whole = (long long)mib;
    snprintf(storage, sizeof storage, "%lldMi", whole + (mib > (double)whole)); /* rounded up */
    const char *sc = rc_str(spec, "storageClassName");
    if (!sc)
        sc = json_string_value(rc_at(rcfg, "storage.defaultStorageClassName"));
    if (!sc)
        sc = rc_str(rcfg, "defaultStorageClassName");
    json_t *pvc = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:[s], s:{s:{s:s}}}}", "apiVersion", "v1",
                            "kind", "PersistentVolumeClaim", "metadata", "name", pvc_name, "namespace", ns,
                            "labels", artifact_labels(art, rcfg, name, 0), "ownerReferences",
                            rc_owner(art, AIM_API, "AIMArtifact"), "spec", "accessModes", "ReadWriteMany",
                            "resources", "requests", "storage", storage);
    if (sc)
        json_object_set_new(json_object_get(pvc, "spec"), "storageClassName", json_string(sc));
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
        json_t *env = json_pack("[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}, {s:s, s:s}]",
                                "name", "AIM_ARTIFACT_NAME", "value", name, "name", "AIM_ARTIFACT_NAMESPACE",
                                "value", ns, "name", "AIM_SOURCE_URI", "value",
                                rc_str(spec, "sourceUri") ? rc_str(spec, "sourceUri") : "", "name",
                                "AIM_MODEL_ID", "value", rc_str(spec, "modelId") ? rc_str(spec, "modelId") : "",
                                "name", "AIM_CACHE_PATH", "value", "/cache");
        rc_env_merge(env, json_object_get(rcfg, "env"));
        rc_env_merge(env, json_object_get(spec, "env"));
        const char *image = rc_str(spec, "modelDownloadImage") ? rc_str(spec, "modelDownloadImage")
                                                               : cfg->default_download_image;
        json_t *container = json_pack(
            "{s:s, s:s, s:o, s:{s:b, s:b, s:b, s:{s:[s]}}, s:[{s:s, s:s}]}", "name", "model-download", "image",
            image, "env", env, "securityContext", "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1,
            "runAsNonRoot", 1, "capabilities", "drop", "ALL", "volumeMounts", "name", "cache", "mountPath", "/cache");
        json_t *pod = json_pack(
            "{s:s, s:s, s:{s:b, s:i, s:i, s:i, s:{s:s}}, s:[o], s:[{s:s, s:{s:s}}]}", "serviceAccountName",
            cfg->download_sa, "restartPolicy", "Never", "securityContext", "runAsNonRoot", 1, "runAsUser", 1000,
            "runAsGroup", 1000, "fsGroup", 1000, "seccompProfile", "type", "RuntimeDefault", "containers", container,
            "volumes", "name", "cache", "persistentVolumeClaim", "claimName", pvc_name);
        if (json_array_size(json_object_get(spec, "imagePullSecrets")))
            json_object_set(pod, "imagePullSecrets", json_object_get(spec, "imagePullSecrets"));
        job = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:[o]}, s:{s:i, s:i, s:{s:{s:o}, s:o}}}", "apiVersion",
                        "batch/v1", "kind", "Job", "metadata", "name", job_name, "namespace", ns, "labels",
                        artifact_labels(art, rcfg, name, 0), "ownerReferences", rc_owner(art, AIM_API, "AIMArtifact"),
                        "spec", "backoffLimit", 2, "ttlSecondsAfterFinished", 600, "template", "metadata",
                        "labels", artifact_labels(art, rcfg, name, 1), "spec", pod);
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
