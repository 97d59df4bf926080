/* The reconciler's internals, shared by the files of server/reconcile/ (not public). */
#ifndef AIMGUARD_RECONCILE_INT_H
#define AIMGUARD_RECONCILE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <jansson.h>

#include "aimguard/informer.h"
#include "aimguard/informers.h"
#include "aimguard/reconcile.h"
#include "desired.h"

/* ---- work queue (queue.c) ---- */
typedef struct rq rq;
rq *rq_new(double base_backoff, double max_backoff);
void rq_free(rq *q);
void rq_add(rq *q, const char *key);
void rq_add_after(rq *q, const char *key, double seconds);
/* As rq_add, for bulk re-queues (resync, relist, a new leader): a key waiting out its
 * backoff keeps waiting, so a periodic resync cannot turn backoff into a hot loop. */
void rq_add_resync(rq *q, const char *key);
/* Blocks for the next key (caller frees), NULL after shutdown. */
char *rq_get(rq *q);
/* The worker is done with key; failed: retry after the key's backoff (returned). */
double rq_done(rq *q, const char *key, int failed);
/* As rq_done; a key that succeeded with requeue_after > 0 comes back after that many
 * seconds (sooner when it is added again meanwhile: a change is looked at at once). */
double rq_done_after(rq *q, const char *key, int failed, double requeue_after);
size_t rq_depth(rq *q);
void rq_shutdown(rq *q);
double rq_now(void);

/* ---- watched resources ---- */
enum {
    W_NAMESPACES, W_SERVICES, W_MODELS, W_CLUSTER_MODELS, W_TEMPLATES, W_CLUSTER_TEMPLATES,
    W_RUNTIME_CONFIGS, W_CLUSTER_RUNTIME_CONFIGS, W_ARTIFACTS, W_ISVCS, W_ROUTES, W_PVCS,
    W_JOBS, W_SAS, W_ROLEBINDINGS, W_NETPOLS, W_COUNT
};

typedef struct resource_info {
    const char *group, *version, *plural, *kind;
    int namespaced;
} resource_info;
extern const resource_info ag_rc_resources[W_COUNT];

typedef struct watch_ctx {
    struct ag_reconciler *r;
    int res;
} watch_ctx;

struct ag_reconciler {
    ag_reconcile_config cfg;       /* strings owned (copied) */
    char *strings[12];
    ag_kube_config kc;             /* owned copy */
    watch_ctx wctx[W_COUNT];       /* which resource an informer callback is for */
    ag_informer *inf[W_COUNT];     /* borrowed from the process's ag_informers */
    rq *queue;
    pthread_t worker;
    int worker_started;
    atomic_int leading;
    _Atomic double lease_until;    /* monotonic; writes stop past it (0: no deadline) */
    atomic_int stopping;
    pthread_mutex_t lead_mu;
    pthread_cond_t lead_cv;
    atomic_ullong reconciles, errors, writes;
    json_t *written;               /* worker only: "res/ns/name" -> [object, monotonic time] */
    json_t *conflicts;             /* worker only: conflicts already told by an Event (ownership.c) */
    double last_resync;
};

/* One pass of a reconcile function: its own client, the reconciler, the world as the
 * caches see it. Returns 0 when done, <0 to retry with backoff. */
typedef struct rctx {
    ag_reconciler *r;
    ag_kube *kube;
    time_t now;
} rctx;

/* 0 when this replica may write now: it leads and its lease's renew deadline has not
 * passed (a paused leader must not act once another may hold the lease); else <0
 * with err. Checked before every write. */
int rc_may_write(rctx *c, ag_error *err);

/* cache reads: new references or NULL. Objects this worker wrote in the last seconds
 * are read as written until the cache shows that version (read your own writes: a
 * pass that runs before the watch delivers our write must not write it again). */
json_t *rc_get(rctx *c, int res, const char *ns, const char *name);
json_t *rc_snapshot(rctx *c, int res);

/* path of a resource collection or object ("" ns for cluster scope, NULL name for
 * the collection) */
void rc_path(char *out, size_t cap, int res, const char *ns, const char *name, const char *sub);

/* Makes the object at (res, ns, name) hold every field of `want` (created when absent,
 * merge-patched when a field differs, left alone otherwise). create_only: never
 * patched once it exists (Jobs, PVCs: their specs are immutable). 0, or <0 with err. */
int rc_apply(rctx *c, int res, json_t *want, int create_only, ag_error *err);
/* rc_apply's answer when the object exists and is not ours (err says whose it is) */
#define RC_ENOTOURS (-20)
/* a write the API server refused (4xx but 409/429): shown in the owner's status, retried */
#define RC_EREFUSED (-21)

/* ---- ownership (ownership.c) ---- */
/* 1 when `have` is ours to change: a controller ownerReference with the uid of want's
 * owner, or (objects without owner) want's app.kubernetes.io/managed-by label. */
int rc_controls(json_t *want, json_t *have);
void rc_describe_holder(json_t *have, char *out, size_t cap);
/* RC_ENOTOURS with err naming the object and its holder; records a Warning Event (on
 * want's owner, else on the object itself) the first time this conflict is seen. */
int rc_not_ours(rctx *c, int res, json_t *want, json_t *have, ag_error *err);
/* the conflict over want's object ended (it is ours now, or was created) */
void rc_conflict_over(rctx *c, int res, json_t *want);
/* A Warning Event about `involved` (an ObjectReference) in ns. Best effort: an API
 * failure is logged (0); -1 when this replica may not write now (rc_may_write). */
int rc_event(rctx *c, json_t *involved, const char *ns, const char *reason, const char *message);

/* Writes status conditions + extra status fields when they differ from the object's. */
int rc_status(rctx *c, int res, json_t *obj, json_t *conds, json_t *extra, ag_error *err);
/* A condition {type, status, reason, message}; lastTransitionTime is kept by rc_status
 * when the status did not change. */
json_t *rc_cond(const char *type, int ok, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* ownerReference to obj (controller true) */
json_t *rc_owner(json_t *obj, const char *api_version, const char *kind);
/* desired ⊆ have: every field of want equals have's (arrays element by element) */
int rc_subset(json_t *want, json_t *have);

/* Passes a generated object through the loaded policies like the webhook would for
 * `username`: mutate (the result replaces *obj), then validate. 0 when allowed; <0
 * with the denial in err. */
/* Remembers what a write returned (obj may be NULL for a delete). */
void rc_wrote(rctx *c, int res, const char *ns, const char *name, json_t *obj);

int rc_harden(rctx *c, json_t **obj, const char *ns, ag_error *err);

/* ---- scope (lookup.c) ---- */
/* 1 when ns is never touched (system namespaces, aimguard's own, the exempt label),
 * with why for the AIM objects' status. */
int rc_exempt(rctx *c, const char *ns, char *why, size_t cap);
/* --reconcile unmanaged: 1 when another controller manages obj (stand aside, write
 * nothing); 0 to reconcile it; -1 when it is too new to tell yet (look again in
 * *retry_in seconds: the caller's rc_result.requeue_after). */
int rc_managed_elsewhere(rctx *c, json_t *obj, double *retry_in);
/* Provisioned=False with reason/why (exempt namespace) on an AIM object's status */
int rc_status_not_provisioned(rctx *c, int res, json_t *obj, const char *reason, const char *why,
                              ag_error *err);

/* ---- per kind (service.c, artifact.c, guardrails.c) ---- */
/* What a pass asks of the work queue besides success or failure (controller-runtime's
 * reconcile.Result): requeue_after > 0 looks at the key again after that many seconds
 * even if nothing changes (e.g. an object too new to tell whose it is). The worker
 * hands it to the queue; a reconcile function never queues its own key. */
typedef struct rc_result {
    double requeue_after;
} rc_result;
/* The gate every AIM object's pass starts with (lookup.c): 1 when the pass must stop here —
 * obj gone, being deleted or paused; managed by another controller (--reconcile unmanaged;
 * too new to tell: out->requeue_after says when to look again); or in an exempt namespace
 * (its status says so; *rc is that write's result). obj is released when it returns 1. */
int rc_pass_stops(rctx *c, int res, json_t *obj, const char *ns, rc_result *out, int *rc);

/* Each returns 0 when done (res says when to look again, if at all), <0 to retry with
 * the key's backoff. res is zeroed by the caller. */
int rc_reconcile_service(rctx *c, const char *ns, const char *name, rc_result *res);
int rc_reconcile_artifact(rctx *c, const char *ns, const char *name, rc_result *res);
int rc_reconcile_namespace(rctx *c, const char *ns, rc_result *res);

/* shared by the kinds (context.c: rc_skip; lookup.c: rc_runtime_config) */
int rc_skip(json_t *obj);
int rc_runtime_config(rctx *c, const char *ns, const char *name, json_t **spec, json_t **ref,
                      char *why, size_t cap);
int ag_glob(const char *pattern, const char *s); /* policy module */

/* The next item of a comma list into out (cut to cap); 0 when the list is done. */
int rc_next_item(const char **list, char *out, size_t cap);

/* small JSON helpers */
static inline const char *rc_or(const char *s) { return s ? s : ""; }
const char *rc_str(json_t *o, const char *key);
json_t *rc_at(json_t *o, const char *dotted); /* "spec.model.name" (borrowed) */
const char *rc_label_of(json_t *obj, const char *key);

#endif
