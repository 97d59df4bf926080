/* A watch cache ("informer") for one resource: list, then watch from the list's
 * resourceVersion; relist on 410 Expired or a broken stream, with exponential backoff
 * and jitter. Readers get objects from an immutable, reference-counted snapshot that the
 * informer thread replaces on every change: a reader never waits for the network or for
 * the writer. Cached objects carry no metadata.managedFields (never needed here, often
 * half of an object's size).
 *
 * One cache per resource serves every reader in the process (client-go's SharedInformer):
 * several handlers may be told of its events, and aimguard/informers.h creates each
 * resource's cache once for the cluster view and the reconciler alike.
 *
 * Threads: ag_informer_run() (or _start()) starts one thread that owns its ag_kube
 * client; handlers are added before it, from the thread that created the informer;
 * get() and snapshot() are safe from any thread. Ownership: get() returns a new
 * reference (caller decrefs). */
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
    int not_served; /* the last list answered 404 (a CRD not installed): retried every 60 s,
                     * logged once, not counted as an error */
} ag_informer_stats;

/* path: the list path, e.g. "/api/v1/namespaces". Objects are keyed "name" for
 * cluster-scoped resources and "namespace/name" for namespaced ones. */
ag_informer *ag_informer_start(const ag_kube_config *cfg, const char *path, ag_error *err);

/* Told on the informer thread after each change is published: type is "ADDED",
 * "MODIFIED" or "DELETED" with the object (borrowed), or "SYNC" with NULL after every
 * (re)list, when objects may have gone without a DELETED event. Must not block long:
 * the other handlers of the resource wait for it. */
typedef void (*ag_informer_handler)(void *ctx, const char *type, json_t *obj);

#define AG_INFORMER_MAX_HANDLERS 4
/* Created, not started: no thread, no request yet. */
ag_informer *ag_informer_new(const ag_kube_config *cfg, const char *path, ag_error *err);
/* Adds a handler (called in the order added); only before ag_informer_run(): AG_EINVAL
 * after it, or past AG_INFORMER_MAX_HANDLERS. ctx must outlive the informer's thread
 * (ag_informer_stop()). */
int ag_informer_add_handler(ag_informer *inf, ag_informer_handler fn, void *ctx, ag_error *err);
/* Events only, no cache (before ag_informer_run): a relist reads one item (for the
 * resourceVersion to watch from) and tells "SYNC"; events reach the handlers but no
 * object is kept, so snapshot() and get() answer NULL. For a resource too numerous to
 * hold whose readers list it in pages when they need it (the background audit's Pods). */
int ag_informer_set_cacheless(ag_informer *inf, ag_error *err);
/* Starts the thread (list, then watch); a second call is a no-op. */
int ag_informer_run(ag_informer *inf, ag_error *err);
/* new + add_handler (fn may be NULL) + run */
ag_informer *ag_informer_start_handler(const ag_kube_config *cfg, const char *path,
                                       ag_informer_handler fn, void *ctx, ag_error *err);
/* The whole current snapshot, key -> object: a new reference (caller decrefs) to an
 * object nobody changes; NULL before the first list. Do not modify it. */
json_t *ag_informer_snapshot(ag_informer *inf);
void ag_informer_stop(ag_informer *inf); /* joins the thread (if it ran) and frees; NULL is a no-op */
/* Asks the thread to stop without waiting for it (a watch notices within about a
 * second), so that many informers stop in parallel; ag_informer_stop() still frees. */
void ag_informer_request_stop(ag_informer *inf);
/* Stops the thread and waits for it, keeping the cache readable (ag_informer_stop()
 * frees it): after it, no handler runs. */
void ag_informer_join(ag_informer *inf);
json_t *ag_informer_get(ag_informer *inf, const char *key);
void ag_informer_stats_get(ag_informer *inf, ag_informer_stats *out);

#endif
