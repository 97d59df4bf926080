/* A watch cache ("informer") for one resource: list, then watch from the list's
 * resourceVersion; relist on 410 Expired or a broken stream, with exponential backoff
 * and jitter. Readers get objects from an immutable, reference-counted snapshot that the
 * informer thread replaces on every change: a reader never waits for the network or for
 * the writer.
 *
 * Threads: ag_informer_start() starts one thread that owns its ag_kube client; get() is
 * safe from any thread. Ownership: get() returns a new reference (caller decrefs). */
#ifndef AIMGUARD_INFORMER_H
#define AIMGUARD_INFORMER_H

#include <stdint.h>
#include <jansson.h>
#include "aimguard/error.h"
#include "aimguard/kube.h"

typedef struct ag_informer ag_informer;

typedef struct ag_informer_stats {
    uint64_t events, lists, watch_restarts, errors;
    int synced;
} ag_informer_stats;

/* path: the list path, e.g. "/api/v1/namespaces". Objects are keyed "name" for
 * cluster-scoped resources and "namespace/name" for namespaced ones. */
ag_informer *ag_informer_start(const ag_kube_config *cfg, const char *path, ag_error *err);
void ag_informer_stop(ag_informer *inf); /* joins the thread; NULL is a no-op */
json_t *ag_informer_get(ag_informer *inf, const char *key);
void ag_informer_stats_get(ag_informer *inf, ag_informer_stats *out);

#endif
