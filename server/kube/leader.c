/* Lease-based leader election: see include/aimguard/leader.h. */
#include "aimguard/leader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "aimguard/log.h"

struct ag_leader {
    ag_kube *kube;
    ag_leader_config cfg;
    char *path, *identity, *ns, *name;
    pthread_t thread;
    atomic_int stop, leading;
};

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void micro_time(char *out, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%06ldZ", (long)tv.tv_usec);
}

static double parse_micro_time(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!end)
        return 0;
    double frac = 0;
    if (*end == '.')
        frac = strtod(end, NULL);
    return (double)timegm(&tm) + frac;
}

static void set_leading(ag_leader *l, int v)
{
    if (atomic_exchange(&l->leading, v) == v)
        return;
    ag_log(AG_LOG_INFO, v ? "became the leader: reconciling" : "lost the leadership: reconciling stops",
           "identity", l->identity, "lease", l->path, NULL);
    if (l->cfg.on_change)
        l->cfg.on_change(l->cfg.ctx, v);
}

/* One attempt to acquire or renew; 1 when this replica holds the lease afterwards. */
static int try_acquire(ag_leader *l)
{
    ag_error err = {0};
    ag_kube_status st;
    json_t *lease = NULL;
    char t[40];
    micro_time(t, sizeof t);
    int rc = ag_kube_get(l->kube, l->path, &lease, &st, &err);
    if (rc == AG_ENOTFOUND) {
        json_t *fresh = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                                  "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", l->name,
                                  "namespace", l->ns, "spec", "holderIdentity", l->identity,
                                  "leaseDurationSeconds", l->cfg.lease_seconds, "acquireTime", t,
                                  "renewTime", t, "leaseTransitions", 0);
        char coll[600];
        snprintf(coll, sizeof coll, "%.*s", (int)(strrchr(l->path, '/') - l->path), l->path);
        rc = ag_kube_create(l->kube, coll, fresh, NULL, &st, &err);
        json_decref(fresh);
        return rc == 0;
    }
    if (rc)
        return 0;
    json_t *spec = json_object_get(lease, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(lease, "spec", spec);
    }
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    double renewed = parse_micro_time(json_string_value(json_object_get(spec, "renewTime")));
    json_int_t dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    int mine = holder && !strcmp(holder, l->identity);
    int expired = !holder || !*holder || now_s() > renewed + (double)(dur > 0 ? dur : l->cfg.lease_seconds);
    if (!mine && !expired) {
        json_decref(lease);
        return 0;
    }
    if (!mine) {
        json_object_set_new(spec, "holderIdentity", json_string(l->identity));
        json_object_set_new(spec, "acquireTime", json_string(t));
        json_object_set_new(spec, "leaseTransitions",
                            json_integer(json_integer_value(json_object_get(spec, "leaseTransitions")) + 1));
    }
    json_object_set_new(spec, "renewTime", json_string(t));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(l->cfg.lease_seconds));
    /* the update carries the resourceVersion we read: a concurrent taker gets 409 */
    rc = ag_kube_update(l->kube, l->path, lease, NULL, &st, &err);
    json_decref(lease);
    return rc == 0;
}

static void release(ag_leader *l)
{
    ag_error err = {0};
    ag_kube_status st;
    json_t *lease = NULL;
    if (ag_kube_get(l->kube, l->path, &lease, &st, &err))
        return;
    json_t *spec = json_object_get(lease, "spec");
    const char *holder = json_string_value(json_object_get(spec, "holderIdentity"));
    if (holder && !strcmp(holder, l->identity)) {
        json_object_set_new(spec, "holderIdentity", json_string(""));
        ag_kube_update(l->kube, l->path, lease, NULL, &st, &err);
    }
    json_decref(lease);
}

double ag_leader_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    ag_leader *l = arg;
    double last_renew = 0;
    while (!atomic_load(&l->stop)) {
        double attempt = ag_leader_monotonic();
        int ok = try_acquire(l);
        double t = now_s();
        if (ok) {
            last_renew = t;
            /* before set_leading: the reconciler may write from the moment it leads */
            if (l->cfg.on_renew)
                l->cfg.on_renew(l->cfg.ctx, attempt + l->cfg.renew_deadline_seconds);
            set_leading(l, 1);
        } else if (atomic_load(&l->leading) && t - last_renew > l->cfg.renew_deadline_seconds) {
            set_leading(l, 0); /* could not renew in time: someone else may hold it now */
        } else if (!atomic_load(&l->leading)) {
            set_leading(l, 0);
        }
        for (int i = 0; i < l->cfg.retry_seconds * 20 && !atomic_load(&l->stop); i++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (atomic_load(&l->leading)) {
        release(l);
        set_leading(l, 0);
    }
    return NULL;
}

ag_leader *ag_leader_start(const ag_kube_config *kc, const ag_leader_config *cfg, ag_error *err)
{
    const char *p = cfg->lease_path;
    const char *nsp = p ? strstr(p, "/namespaces/") : NULL;
    const char *lp = p ? strstr(p, "/leases/") : NULL;
    if (!nsp || !lp || lp < nsp) {
        ag_error_set(err, AG_EINVAL, "lease path must be /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME");
        return NULL;
    }
    ag_leader *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->cfg = *cfg;
    if (l->cfg.lease_seconds <= 0) l->cfg.lease_seconds = 15;
    if (l->cfg.renew_deadline_seconds <= 0) l->cfg.renew_deadline_seconds = 10;
    if (l->cfg.retry_seconds <= 0) l->cfg.retry_seconds = 2;
    l->path = strdup(p);
    l->identity = strdup(cfg->identity);
    l->ns = strndup(nsp + 12, (size_t)(lp - nsp - 12));
    l->name = strdup(lp + 8);
    l->kube = ag_kube_new(kc, 5000, err);
    if (!l->path || !l->identity || !l->ns || !l->name || !l->kube ||
        pthread_create(&l->thread, NULL, run, l)) {
        ag_kube_free(l->kube);
        free(l->path);
        free(l->identity);
        free(l->ns);
        free(l->name);
        free(l);
        ag_error_set(err, AG_ERR, "cannot start leader election");
        return NULL;
    }
    return l;
}

void ag_leader_stop(ag_leader *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
    ag_kube_free(l->kube);
    free(l->path);
    free(l->identity);
    free(l->ns);
    free(l->name);
    free(l);
}

int ag_leader_is_leader(const ag_leader *l)
{
    return l ? atomic_load(&((ag_leader *)l)->leading) : 0;
}
