/* The reconciler's work queue, with the semantics of client-go's rate-limited queue:
 * a key is queued at most once; a key being processed that is added again is queued
 * once more after it is done (never processed by two workers at a time); a failed key
 * comes back after a per-key exponential backoff that resets when it succeeds. */
#include "reconcile_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct item {
    char *key;
    double due;        /* monotonic seconds; 0 when ready now */
    struct item *next;
} item;

struct rq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item *ready_head, *ready_tail; /* FIFO of keys ready now */
    item *delayed;                 /* keys waiting for their backoff, unordered */
    json_t *queued;                /* key -> true: in ready or delayed */
    json_t *active;                /* key -> true while a worker holds it */
    json_t *dirty;                 /* key -> true: added while active */
    json_t *failures;              /* key -> number of consecutive failures */
    double base, max;
    int shutdown;
};

double rq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

rq *rq_new(double base_backoff, double max_backoff)
{
    rq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cv, &ca);
    pthread_condattr_destroy(&ca);
    q->queued = json_object();
    q->active = json_object();
    q->dirty = json_object();
    q->failures = json_object();
    q->base = base_backoff;
    q->max = max_backoff;
    if (!q->queued || !q->active || !q->dirty || !q->failures) {
        rq_free(q);
        return NULL;
    }
    return q;
}

static void items_free(item *i)
{
    while (i) {
        item *n = i->next;
        free(i->key);
        free(i);
        i = n;
    }
}

void rq_free(rq *q)
{
    if (!q)
        return;
    items_free(q->ready_head);
    items_free(q->delayed);
    json_decref(q->queued);
    json_decref(q->active);
    json_decref(q->dirty);
    json_decref(q->failures);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q);
}

/* under the lock */
static void push(rq *q, const char *key, double due)
{
    item *it = calloc(1, sizeof *it);
    if (!it || !(it->key = strdup(key))) {
        free(it);
        return; /* out of memory: the next resync brings the key back */
    }
    it->due = due;
    if (due > 0) {
        it->next = q->delayed;
        q->delayed = it;
    } else {
        if (q->ready_tail)
            q->ready_tail->next = it;
        else
            q->ready_head = it;
        q->ready_tail = it;
    }
    json_object_set_new(q->queued, key, json_true());
    pthread_cond_signal(&q->cv);
}

static void add_locked(rq *q, const char *key, double due, int keep_backoff)
{
    if (json_object_get(q->active, key)) {
        /* true: something changed (a failed pass retries at once); false: only a resync */
        if (!keep_backoff || !json_object_get(q->dirty, key))
            json_object_set_new(q->dirty, key, keep_backoff ? json_false() : json_true());
        return;
    }
    if (json_object_get(q->queued, key)) {
        if (due > 0 || keep_backoff)
            return; /* a resync does not cut a failing key's backoff short */
        /* a delayed key asked for now: move it to the ready list */
        for (item **pp = &q->delayed; *pp; pp = &(*pp)->next) {
            if (!strcmp((*pp)->key, key)) {
                item *it = *pp;
                *pp = it->next;
                free(it->key);
                free(it);
                json_object_del(q->queued, key);
                push(q, key, 0);
                return;
            }
        }
        return; /* already ready */
    }
    push(q, key, due);
}

void rq_add(rq *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutdown)
        add_locked(q, key, 0, 0);
    pthread_mutex_unlock(&q->mu);
}

void rq_add_resync(rq *q, const char *key)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutdown)
        add_locked(q, key, 0, 1);
    pthread_mutex_unlock(&q->mu);
}

void rq_add_after(rq *q, const char *key, double seconds)
{
    pthread_mutex_lock(&q->mu);
    if (!q->shutdown)
        add_locked(q, key, seconds > 0 ? rq_now() + seconds : 0, 0);
    pthread_mutex_unlock(&q->mu);
}

/* under the lock: move due delayed keys to the ready list; the earliest other due time */
static double promote(rq *q, double now)
{
    double next = 0;
    for (item **pp = &q->delayed; *pp;) {
        item *it = *pp;
        if (it->due <= now) {
            *pp = it->next;
            it->next = NULL;
            it->due = 0;
            if (q->ready_tail)
                q->ready_tail->next = it;
            else
                q->ready_head = it;
            q->ready_tail = it;
        } else {
            if (next == 0 || it->due < next)
                next = it->due;
            pp = &it->next;
        }
    }
    return next;
}

char *rq_get(rq *q)
{
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (q->shutdown) {
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        double next = promote(q, rq_now());
        if (q->ready_head) {
            item *it = q->ready_head;
            q->ready_head = it->next;
            if (!q->ready_head)
                q->ready_tail = NULL;
            char *key = it->key;
            free(it);
            json_object_del(q->queued, key);
            json_object_set_new(q->active, key, json_true());
            pthread_mutex_unlock(&q->mu);
            return key;
        }
        if (next > 0) {
            struct timespec ts;
            ts.tv_sec = (time_t)next;
            ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&q->cv, &q->mu, &ts);
        } else {
            pthread_cond_wait(&q->cv, &q->mu);
        }
    }
}

double rq_done(rq *q, const char *key, int failed)
{
    double delay = 0;
    pthread_mutex_lock(&q->mu);
    json_object_del(q->active, key);
    if (failed) {
        json_int_t n = json_integer_value(json_object_get(q->failures, key)) + 1;
        json_object_set_new(q->failures, key, json_integer(n));
        delay = q->base;
        for (json_int_t i = 1; i < n && delay < q->max; i++)
            delay *= 2;
        if (delay > q->max)
            delay = q->max;
    } else {
        json_object_del(q->failures, key);
    }
    json_t *d = json_object_get(q->dirty, key);
    int again = d != NULL, changed = json_is_true(d);
    json_object_del(q->dirty, key);
    if (!q->shutdown) {
        if (failed)
            add_locked(q, key, changed ? 0 : rq_now() + delay, 0);
        else if (again)
            add_locked(q, key, 0, 0);
    }
    pthread_mutex_unlock(&q->mu);
    return delay;
}

size_t rq_depth(rq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = json_object_size(q->queued);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void rq_shutdown(rq *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutdown = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}
