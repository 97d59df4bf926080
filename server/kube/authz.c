/* SubjectAccessReview answers with a bounded TTL cache (see include/aimguard/authz.h). */
#include "aimguard/authz.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/view.h"

#define WAYS 4

enum { E_EMPTY = 0, E_ALLOWED, E_DENIED, E_UNKNOWN };

typedef struct entry {
    char *key;
    size_t klen;
    uint64_t hash;
    int64_t stored_ms, expires_ms;
    int state;
    char reason[256];
} entry;

struct ag_authz {
    ag_authz_options o;
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* a handle was given back */
    entry *slots;
    size_t nslots;            /* a multiple of WAYS */
    ag_kube **kubes;
    unsigned char *busy;
    size_t nkubes;
    ag_authz_stats st;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ag_authz_free(ag_authz *a)
{
    if (!a)
        return;
    for (size_t i = 0; a->kubes && i < a->nkubes; i++)
        ag_kube_free(a->kubes[i]);
    free(a->kubes);
    free(a->busy);
    for (size_t i = 0; a->slots && i < a->nslots; i++)
        free(a->slots[i].key);
    free(a->slots);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

ag_authz *ag_authz_new(const ag_kube_config *cfg, const ag_authz_options *opts, ag_error *err)
{
    ag_authz *a = calloc(1, sizeof *a);
    if (!a) {
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    if (opts)
        a->o = *opts;
    if (a->o.timeout_ms <= 0) a->o.timeout_ms = 2000;
    if (a->o.ttl_ms == 0) a->o.ttl_ms = 10000;
    if (a->o.unknown_ttl_ms == 0) a->o.unknown_ttl_ms = 1000;
    if (a->o.max_entries == 0) a->o.max_entries = 4096;
    if (a->o.handles == 0) a->o.handles = 4;
    a->nslots = (a->o.max_entries + WAYS - 1) / WAYS * WAYS;
    a->nkubes = a->o.handles;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int bad = pthread_mutex_init(&a->mu, NULL) | pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (bad) {
        free(a);
        ag_error_set(err, AG_ERR, "cannot set up the SubjectAccessReview cache's lock");
        return NULL;
    }
    a->slots = calloc(a->nslots, sizeof *a->slots);
    a->kubes = calloc(a->nkubes, sizeof *a->kubes);
    a->busy = calloc(a->nkubes, 1);
    if (!a->slots || !a->kubes || !a->busy) {
        ag_error_set(err, AG_ENOMEM, "out of memory");
        ag_authz_free(a);
        return NULL;
    }
    for (size_t i = 0; i < a->nkubes; i++)
        if (!(a->kubes[i] = ag_kube_new(cfg, a->o.timeout_ms, err))) {
            ag_authz_free(a);
            return NULL;
        }
    return a;
}

/* Length-prefixed fields: no two different questions share a key, whatever bytes the
 * names hold. */
static char *make_key(const char *user, const json_t *groups, const char *verb, const char *group,
                      const char *resource, const char *ns, const char *name, size_t *len)
{
    const char *f[6] = {user, verb, group, resource, ns, name};
    size_t n = 64;
    for (int i = 0; i < 6; i++)
        n += strlen(f[i] ? f[i] : "") + 24;
    for (size_t i = 0; i < json_array_size(groups); i++) {
        const char *g = json_string_value(json_array_get(groups, i));
        n += strlen(g ? g : "") + 24;
    }
    char *k = malloc(n);
    if (!k)
        return NULL;
    size_t o = 0;
    for (int i = 0; i < 6; i++)
        o += (size_t)snprintf(k + o, n - o, "%zu:%s", strlen(f[i] ? f[i] : ""), f[i] ? f[i] : "");
    o += (size_t)snprintf(k + o, n - o, "g%zu", json_array_size(groups));
    for (size_t i = 0; i < json_array_size(groups); i++) {
        const char *g = json_string_value(json_array_get(groups, i));
        o += (size_t)snprintf(k + o, n - o, "%zu:%s", strlen(g ? g : ""), g ? g : "");
    }
    *len = o;
    return k;
}

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static entry *set_of(ag_authz *a, uint64_t h)
{
    return &a->slots[(size_t)(h % (a->nslots / WAYS)) * WAYS];
}

/* under mu */
static entry *lookup(ag_authz *a, const char *key, size_t klen, uint64_t h)
{
    entry *s = set_of(a, h);
    for (int i = 0; i < WAYS; i++)
        if (s[i].state != E_EMPTY && s[i].hash == h && s[i].klen == klen && !memcmp(s[i].key, key, klen))
            return &s[i];
    return NULL;
}

/* under mu; takes over key */
static void store(ag_authz *a, char *key, size_t klen, uint64_t h, int state, const char *reason,
                  int64_t now, long ttl)
{
    if (ttl < 0) {
        free(key);
        return;
    }
    entry *e = lookup(a, key, klen, h);
    if (!e) {
        entry *s = set_of(a, h);
        for (int i = 0; !e && i < WAYS; i++)
            if (s[i].state == E_EMPTY || s[i].expires_ms <= now)
                e = &s[i];
        if (!e) {
            e = &s[0];
            for (int i = 1; i < WAYS; i++)
                if (s[i].stored_ms < e->stored_ms)
                    e = &s[i];
            a->st.evictions++;
        }
    }
    free(e->key);
    e->key = key;
    e->klen = klen;
    e->hash = h;
    e->state = state;
    e->stored_ms = now;
    e->expires_ms = now + ttl;
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
}

/* A free API handle, waiting at most half the call timeout for one; under mu. */
static int acquire(ag_authz *a, size_t *idx)
{
    int64_t deadline = now_ms() + a->o.timeout_ms / 2;
    struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000};
    for (;;) {
        for (size_t i = 0; i < a->nkubes; i++)
            if (!a->busy[i]) {
                a->busy[i] = 1;
                *idx = i;
                return 0;
            }
        if (pthread_cond_timedwait(&a->cv, &a->mu, &ts) == ETIMEDOUT)
            return -1;
    }
}

int ag_authz_check(ag_authz *a, const char *user, const json_t *groups, const char *verb,
                   const char *group, const char *resource, const char *ns, const char *name, int *allowed,
                   char *reason, size_t reason_cap, ag_error *err)
{
    *allowed = 0;
    if (reason && reason_cap)
        reason[0] = '\0';
    size_t klen = 0;
    char *key = make_key(user, groups, verb, group, resource, ns ? ns : "", name, &klen);
    if (!key)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    uint64_t h = fnv(key, klen);

    pthread_mutex_lock(&a->mu);
    int64_t now = now_ms();
    entry *e = lookup(a, key, klen, h);
    if (e && e->expires_ms > now) {
        int state = e->state;
        long age = (long)(now - e->stored_ms);
        char cached[256];
        memcpy(cached, e->reason, sizeof cached);
        a->st.hits++;
        pthread_mutex_unlock(&a->mu);
        free(key);
        if (reason && reason_cap)
            snprintf(reason, reason_cap, "%s", cached);
        if (state == E_UNKNOWN)
            return ag_error_set(err, AG_EIO, "%s (%ld ms ago; not asked again yet)", cached, age);
        *allowed = state == E_ALLOWED;
        return 0;
    }
    a->st.misses++;
    size_t idx = 0;
    if (acquire(a, &idx)) {
        pthread_mutex_unlock(&a->mu);
        free(key);
        return ag_error_set(err, AG_EIO, "all %zu SubjectAccessReview connections stayed busy for %ld ms",
                            a->nkubes, a->o.timeout_ms / 2);
    }
    a->st.calls++;
    pthread_mutex_unlock(&a->mu);

    /* the network call, outside the cache lock, on a handle no other thread holds */
    char why[256] = "";
    ag_error kerr = {0};
    int ok = 0;
    int rc = ag_kube_access(a->kubes[idx], user ? user : "", groups, verb, group, resource, ns, name, &ok,
                            why, sizeof why, &kerr);

    pthread_mutex_lock(&a->mu);
    a->busy[idx] = 0;
    pthread_cond_signal(&a->cv);
    now = now_ms();
    if (rc) {
        a->st.unknown++;
        store(a, key, klen, h, E_UNKNOWN, kerr.msg, now, a->o.unknown_ttl_ms);
    } else {
        store(a, key, klen, h, ok ? E_ALLOWED : E_DENIED, why, now, a->o.ttl_ms);
    }
    pthread_mutex_unlock(&a->mu);
    if (rc) {
        if (reason && reason_cap)
            snprintf(reason, reason_cap, "%s", kerr.msg);
        return ag_error_set(err, rc, "%s", kerr.msg);
    }
    *allowed = ok;
    if (reason && reason_cap)
        snprintf(reason, reason_cap, "%s", why);
    return 0;
}

int ag_authz_view_access(void *ctx, const char *user, const json_t *groups, const char *verb,
                         const char *group, const char *resource, const char *ns, const char *name,
                         char *reason, size_t reason_cap)
{
    ag_error err = {0};
    int allowed = 0;
    if (ag_authz_check(ctx, user, groups, verb, group, resource, ns, name, &allowed, reason, reason_cap, &err)) {
        if (reason && reason_cap)
            snprintf(reason, reason_cap, "%s", err.msg);
        return AG_ACCESS_UNKNOWN;
    }
    return allowed ? AG_ACCESS_ALLOWED : AG_ACCESS_DENIED;
}

void ag_authz_stats_get(ag_authz *a, ag_authz_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->st;
    pthread_mutex_unlock(&a->mu);
}
