/* A watch cache ("informer") for one resource: list, then watch from the list's
 * resourceVersion; relist on 410 Expired or a broken stream, with exponential backoff
 * and jitter. Readers get objects from an immutable, reference-counted snapshot that the
 * informer thread replaces on every change: a reader never waits for the network or for
 * the writer. Cached objects carry no metadata.managedFields (never needed here, often
 * half of an object's size).
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

/* Told on the informer thread after each change is published: type is "ADDED",
 * "MODIFIED" or "DELETED" with the object (borrowed), or "SYNC" with NULL after every
 * (re)list, when objects may have gone without a DELETED event. Must not block long. */
typedef void (*ag_informer_handler)(void *ctx, const char *type, json_t *obj);
ag_informer *ag_informer_start_handler(const ag_kube_config *cfg, const char *path,
                                       ag_informer_handler fn, void *ctx, ag_error *err);
/* The whole current snapshot, key -> object: a new reference (caller decrefs) to an
 * object nobody changes; NULL before the first list. Do not modify it. */
json_t *ag_informer_snapshot(ag_informer *inf);
void ag_informer_stop(ag_informer *inf); /* joins the thread; NULL is a no-op */
/* Asks the thread to stop without waiting for it (a watch notices within about a
 * second), so that many informers stop in parallel; ag_informer_stop() still frees. */
void ag_informer_request_stop(ag_informer *inf);
json_t *ag_informer_get(ag_informer *inf, const char *key);
void ag_informer_stats_get(ag_informer *inf, ag_informer_stats *out);

#endif
