/* Watch cache: see include/aimguard/informer.h. */
#include "aimguard/informer.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/log.h"

typedef struct snapshot {
    atomic_int refs;
    json_t *objects; /* key -> object; never changed once published */
} snapshot;

struct ag_informer {
    ag_kube *kube;
    char *path;
    pthread_t thread;
    atomic_int stop; /* set by the stopping thread, read by the watch thread (and curl's progress callback) */
    _Atomic(snapshot *) cur;
    atomic_int readers;
    atomic_ullong events, lists, restarts, errors;
    atomic_int synced;
    atomic_int not_served; /* the last list answered 404: the cluster lacks the resource */
    json_t *work;   /* the writer's current map (informer thread only) */
    struct { ag_informer_handler fn; void *ctx; } handlers[AG_INFORMER_MAX_HANDLERS];
    int nhandlers;  /* fixed once the thread runs: read without a lock */
    int started;
    int cacheless;  /* events only: no objects kept (fixed before the thread runs) */
    char rv[64];
};

static void snap_unref(snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        json_decref(s->objects);
        free(s);
    }
}

/* Same scheme as the policy holder: readers announce themselves while they turn the
 * pointer into a reference; the writer waits for that window to close once. */
static void publish(ag_informer *inf)
{
    snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return;
    atomic_init(&s->refs, 1);
    s->objects = json_copy(inf->work); /* shallow: values are shared, never mutated */
    snapshot *old = atomic_exchange(&inf->cur, s);
    while (atomic_load(&inf->readers) != 0)
        sched_yield();
    snap_unref(old);
}

static snapshot *acquire(ag_informer *inf)
{
    atomic_fetch_add(&inf->readers, 1);
    snapshot *s = atomic_load(&inf->cur);
    if (s)
        atomic_fetch_add(&s->refs, 1);
    atomic_fetch_sub(&inf->readers, 1);
    return s;
}

json_t *ag_informer_get(ag_informer *inf, const char *key)
{
    if (!inf)
        return NULL;
    snapshot *s = acquire(inf);
    json_t *o = s ? json_incref(json_object_get(s->objects, key)) : NULL;
    snap_unref(s);
    return o;
}

json_t *ag_informer_snapshot(ag_informer *inf)
{
    if (!inf)
        return NULL;
    snapshot *s = acquire(inf);
    json_t *o = s ? json_incref(s->objects) : NULL;
    snap_unref(s);
    return o;
}

static void key_of(json_t *obj, char *out, size_t cap)
{
    json_t *m = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(m, "namespace"));
    const char *name = json_string_value(json_object_get(m, "name"));
    snprintf(out, cap, "%s%s%s", ns ? ns : "", ns ? "/" : "", name ? name : "");
}

/* What no reader needs is not kept: managedFields (server-side apply bookkeeping) are
 * often the largest part of an object the API server sends, on every replica's cache. */
static void trim(json_t *obj)
{
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
}

static void note_rv(ag_informer *inf, json_t *obj)
{
    const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv)
        snprintf(inf->rv, sizeof inf->rv, "%s", rv);
}

/* every handler, in the order they were added, after the change is published */
static void tell(ag_informer *inf, const char *type, json_t *obj)
{
    for (int i = 0; i < inf->nhandlers; i++)
        inf->handlers[i].fn(inf->handlers[i].ctx, type, obj);
}

static int on_event(void *ctx, const char *type, json_t *obj)
{
    ag_informer *inf = ctx;
    atomic_fetch_add(&inf->events, 1);
    note_rv(inf, obj);
    if (!strcmp(type, "BOOKMARK"))
        return 0;
    char key[512];
    key_of(obj, key, sizeof key);
    trim(obj);
    if (!inf->cacheless) {
        if (!strcmp(type, "DELETED"))
            json_object_del(inf->work, key);
        else
            json_object_set(inf->work, key, obj);
        publish(inf);
    }
    tell(inf, type, obj);
    return inf->stop;
}

/* A cacheless informer needs only where to watch from: the resourceVersion of a list,
 * which its first page of one item carries. */
static int relist_cacheless(ag_informer *inf, long *code, ag_error *err)
{
    char path[1200];
    if (ag_strfmt(path, sizeof path, "%s%climit=1", inf->path, strchr(inf->path, '?') ? '&' : '?'))
        return ag_error_set(err, AG_EINVAL, "list path too long");
    json_t *page = NULL;
    ag_kube_status st = {0};
    int rc = ag_kube_get(inf->kube, path, &page, &st, err);
    *code = st.code;
    if (rc)
        return rc;
    atomic_store(&inf->not_served, 0);
    const char *rv = json_string_value(json_object_get(json_object_get(page, "metadata"), "resourceVersion"));
    snprintf(inf->rv, sizeof inf->rv, "%s", rv ? rv : "");
    json_decref(page);
    atomic_fetch_add(&inf->lists, 1);
    atomic_store(&inf->synced, 1);
    tell(inf, "SYNC", NULL);
    return 0;
}

static int relist(ag_informer *inf, long *code, ag_error *err)
{
    if (inf->cacheless)
        return relist_cacheless(inf, code, err);
    json_t *items = NULL;
    char *rv = NULL;
    ag_kube_status st = {0};
    int rc = ag_kube_list(inf->kube, inf->path, NULL, 500, &items, &rv, &st, err);
    *code = st.code;
    if (rc)
        return rc;
    atomic_store(&inf->not_served, 0);
    json_decref(inf->work);
    inf->work = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o) {
        char key[512];
        key_of(o, key, sizeof key);
        trim(o);
        json_object_set(inf->work, key, o);
    }
    snprintf(inf->rv, sizeof inf->rv, "%s", rv ? rv : "");
    free(rv);
    json_decref(items);
    publish(inf);
    atomic_fetch_add(&inf->lists, 1);
    atomic_store(&inf->synced, 1);
    tell(inf, "SYNC", NULL);
    return 0;
}

static void nap(ag_informer *inf, double seconds)
{
    for (double t = 0; t < seconds && !inf->stop; t += 0.05) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void *run(void *arg)
{
    ag_informer *inf = arg;
    double backoff = 0.2;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)inf;
    while (!inf->stop) {
        ag_error err = {0};
        long code = 0;
        if (relist(inf, &code, &err)) {
            if (code == 404) {
                /* a kind whose CRD is not installed (KServe, LeaderWorkerSet): not an
                 * error, said once; looked for again now and then, as a CRD may come */
                if (!atomic_exchange(&inf->not_served, 1))
                    ag_log(AG_LOG_INFO, "watch cache: the cluster does not serve this resource; not "
                           "watched (looked for again every 60 s)", "path", inf->path, NULL);
                nap(inf, 60);
                continue;
            }
            atomic_fetch_add(&inf->errors, 1);
            ag_log(AG_LOG_WARN, "watch cache: list failed; retrying", "path", inf->path, "reason", err.msg, NULL);
            nap(inf, backoff * (0.5 + (double)rand_r(&seed) / RAND_MAX)); /* jitter: replicas do not stampede */
            backoff = backoff * 2 > 30 ? 30 : backoff * 2;
            continue;
        }
        backoff = 0.2;
        while (!inf->stop) {
            ag_kube_status st;
            int rc = ag_kube_watch(inf->kube, inf->path, inf->rv, on_event, inf, &inf->stop, &st, &err);
            if (inf->stop)
                break;
            atomic_fetch_add(&inf->restarts, 1);
            if (rc == 0)
                continue; /* the server ended the stream: watch again from the last version */
            if (st.code == 410) {
                ag_log(AG_LOG_INFO, "watch cache: resourceVersion expired; relisting", "path", inf->path, NULL);
                break;
            }
            atomic_fetch_add(&inf->errors, 1);
            ag_log(AG_LOG_WARN, "watch cache: watch failed; relisting", "path", inf->path, "reason", err.msg, NULL);
            nap(inf, backoff * (0.5 + (double)rand_r(&seed) / RAND_MAX));
            backoff = backoff * 2 > 30 ? 30 : backoff * 2;
            break;
        }
    }
    return NULL;
}

ag_informer *ag_informer_new(const ag_kube_config *cfg, const char *path, ag_error *err)
{
    ag_informer *inf = calloc(1, sizeof *inf);
    if (!inf || !(inf->path = strdup(path)) || !(inf->kube = ag_kube_new(cfg, 10000, err)) ||
        !(inf->work = json_object())) {
        if (inf) {
            ag_kube_free(inf->kube);
            free(inf->path);
        }
        free(inf);
        ag_error_set(err, AG_ENOMEM, "cannot create the watch cache for %s", path);
        return NULL;
    }
    atomic_init(&inf->cur, NULL);
    return inf;
}

int ag_informer_add_handler(ag_informer *inf, ag_informer_handler fn, void *ctx, ag_error *err)
{
    if (inf->started)
        return ag_error_set(err, AG_EINVAL, "watch cache %s: a handler must be added before it starts", inf->path);
    if (inf->nhandlers == AG_INFORMER_MAX_HANDLERS)
        return ag_error_set(err, AG_EINVAL, "watch cache %s: more than %d handlers", inf->path,
                            AG_INFORMER_MAX_HANDLERS);
    inf->handlers[inf->nhandlers].fn = fn;
    inf->handlers[inf->nhandlers].ctx = ctx;
    inf->nhandlers++;
    return 0;
}

int ag_informer_set_cacheless(ag_informer *inf, ag_error *err)
{
    if (inf->started)
        return ag_error_set(err, AG_EINVAL, "watch cache %s: cacheless only before it starts", inf->path);
    inf->cacheless = 1;
    return 0;
}

int ag_informer_run(ag_informer *inf, ag_error *err)
{
    if (inf->started)
        return 0;
    if (pthread_create(&inf->thread, NULL, run, inf))
        return ag_error_set(err, AG_ERR, "cannot start the watch cache thread for %s", inf->path);
    inf->started = 1;
    return 0;
}

ag_informer *ag_informer_start(const ag_kube_config *cfg, const char *path, ag_error *err)
{
    return ag_informer_start_handler(cfg, path, NULL, NULL, err);
}

ag_informer *ag_informer_start_handler(const ag_kube_config *cfg, const char *path,
                                       ag_informer_handler fn, void *ctx, ag_error *err)
{
    ag_informer *inf = ag_informer_new(cfg, path, err);
    if (!inf)
        return NULL;
    if ((fn && ag_informer_add_handler(inf, fn, ctx, err)) || ag_informer_run(inf, err)) {
        ag_informer_stop(inf);
        return NULL;
    }
    return inf;
}

void ag_informer_request_stop(ag_informer *inf)
{
    if (inf)
        inf->stop = 1;
}

void ag_informer_join(ag_informer *inf)
{
    if (!inf)
        return;
    inf->stop = 1;
    if (inf->started)
        pthread_join(inf->thread, NULL);
    inf->started = 0;
}

void ag_informer_stop(ag_informer *inf)
{
    if (!inf)
        return;
    ag_informer_join(inf);
    snap_unref(atomic_load(&inf->cur));
    json_decref(inf->work);
    ag_kube_free(inf->kube);
    free(inf->path);
    free(inf);
}

void ag_informer_stats_get(ag_informer *inf, ag_informer_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!inf)
        return;
    out->events = atomic_load(&inf->events);
    out->lists = atomic_load(&inf->lists);
    out->watch_restarts = atomic_load(&inf->restarts);
    out->errors = atomic_load(&inf->errors);
    out->synced = atomic_load(&inf->synced);
    out->not_served = atomic_load(&inf->not_served);
}
