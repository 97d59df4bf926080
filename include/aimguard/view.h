/* The read-only cluster view the admission path consults (namespaces and their labels,
 * AIM models, templates, runtime configs). Filled by the watch caches when a cluster
 * is configured; absent otherwise.
 *
 * Contract for implementations: get() never blocks on the network or on a lock held
 * by a slow writer; it returns a new reference (caller decrefs) or NULL when the object
 * is unknown. Thread-safety: get() is called from request threads concurrently. */
#ifndef AIMGUARD_VIEW_H
#define AIMGUARD_VIEW_H

#include <jansson.h>

typedef struct ag_view {
    void *ctx;
    /* resource: "namespaces", "aimmodels", ...; ns "" for cluster-scoped objects */
    json_t *(*get)(void *ctx, const char *resource, const char *ns, const char *name);
} ag_view;

#endif
