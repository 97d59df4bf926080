/* The reconciler's builders: what an AIM object's children should be, as pure functions.
 *
 * Each rc_desired_*() turns an AIM object, and what it resolved to (its model, template
 * and merged runtime config, found by the caller in the watch caches), into the child
 * object the reconciler wants to exist. No I/O, no globals, no clock, no policies:
 * the same inputs give the same JSON, so a builder is unit-tested without an API server
 * (test/reconcile/test_desired.c) and the reconcile functions (service.c, artifact.c)
 * only look things up, harden (ag_decide) and apply.
 *
 * Ownership: every json_t argument is borrowed; every json_t returned is a new reference
 * the caller decrefs. Thread-safety: reentrant. */
#ifndef AIMGUARD_RECONCILE_DESIRED_H
#define AIMGUARD_RECONCILE_DESIRED_H

#include <stddef.h>
#include <jansson.h>

/* What an AIMService resolved to. The json_t members are borrowed by the builders;
 * service.c owns model, tmpl, rcfg (and the *_ref status fields, which builders ignore). */
typedef struct rc_resolved {
    const char *image;          /* the model image */
    json_t *model, *tmpl;       /* the AIM(Cluster)Model and AIM(Cluster)ServiceTemplate, may be NULL */
    json_t *hardware;           /* from model, template or overrides (inside the objects above or svc) */
    const char *metric, *precision, *profile;
    json_t *rcfg;               /* the merged runtime config spec ({} when none) */
    json_t *rcfg_ref, *model_ref, *tmpl_ref;
    char reason[64], why[512];
} rc_resolved;

/* The KServe InferenceService (raw deployment) of svc (metadata.namespace and name are
 * the child's); NULL with why when no node affinity can be derived (an unknown GPU
 * model). Not yet passed through the policies: the caller hardens it. */
json_t *rc_desired_inference_service(json_t *svc, const rc_resolved *r, char *why, size_t cap);

/* The Gateway API HTTPRoute of svc under the effective routing (runtime config's routing
 * with the service's over it). NULL with reason (NoGateway, InvalidPath; reason holds at
 * least 64 bytes) and why when it cannot be built; path gets the rendered path prefix. */
json_t *rc_desired_http_route(json_t *svc, json_t *routing, json_t *rcfg, char *reason, char *why,
                              size_t cap, char *path, size_t path_cap);

/* The artifact's PersistentVolumeClaim `<name>-cache`: spec.size (else default_size) plus
 * the runtime config's pvcHeadroomPercent (10), rounded up to MiB. NULL when the size is
 * not a quantity (rc_quantity_bytes() <= 0). */
json_t *rc_desired_pvc(json_t *art, json_t *rcfg, const char *default_size);

/* The artifact's download Job `<name>-download`, run as download_sa, hardened to
 * `restricted` by construction (the policies still pass over it). */
json_t *rc_desired_download_job(json_t *art, json_t *rcfg, const char *download_sa,
                                const char *default_image);

/* "2.2Gi", "500M", "1073741824" -> bytes; <0 when not a quantity */
double rc_quantity_bytes(const char *q);

/* b merged over a, recursively for objects (b wins); new reference */
json_t *rc_merge_over(json_t *a, json_t *b);
/* env entries, a later one of the same name replacing an earlier one in place */
void rc_env_merge(json_t *list, json_t *more);
/* A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
void rc_label_value(const char *in, char *out, size_t cap);
/* labels every child gets: AIM's managed-by / parent name, the parent's aim.eai.amd.com
 * labels, and the ones the runtime config's labelPropagation matches */
json_t *rc_child_labels(json_t *parent, json_t *rcfg, const char *controller);

#endif
