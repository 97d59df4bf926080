/* The background audit's thread: which kinds it watches, the events that mark a scope
 * changed, and the passes (full, or over the changed scopes). See aimguard/audit.h. */
#include "audit_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/log.h"

/* A scope changed by an event waits this long for its neighbours (a rollout changes
 * many pods of a namespace at once) before it is judged again: judging lists the
 * namespace's pods, so a namespace whose pods keep changing is listed at most once in
 * this period (the API server's load against how soon a fix shows). */
#define SETTLE_S 2.0
/* The PolicyReport CRDs missing (or another failure of a full pass): tried again after this. */
#define RETRY_S 60

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The API version each group is read at (the served version every current cluster has). */
static const char *version_of(const ag_kind_info *k)
{
    static const struct { const char *group, *kind, *version; } v[] = {
        {"aim.eai.amd.com", NULL, "v1alpha1"},
        {"serving.kserve.io", "InferenceService", "v1beta1"},
        {"serving.kserve.io", NULL, "v1alpha1"},
        {"autoscaling", NULL, "v2"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!strcmp(v[i].group, k->group) && (!v[i].kind || !strcmp(v[i].kind, k->kind)))
            return v[i].version;
    return "v1";
}

/* Pods are listed, not cached: they are the most numerous objects of a cluster (and the
 * largest, with their status), and nothing else in the process reads them. A full pass
 * lists each namespace's pods in pages; a cacheless watch marks a namespace changed. The
 * other kinds are few and mostly cached for the reconciler or the view anyway. */
static int listed_kind(const ag_kind_info *k)
{
    return !*k->group && !strcmp(k->kind, "Pod");
}

/* ---- events (on the caches' threads: only mark, never judge) ---- */

static void on_event(void *ctx, const char *type, json_t *obj)
{
    audit_kind *ak = ctx;
    ag_auditor *a = ak->a;
    pthread_mutex_lock(&a->mu);
    if (!strcmp(type, "SYNC")) {
        a->resync = 1; /* a relist: objects may have gone without an event */
    } else {
        const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
        if (!json_object_size(a->dirty))
            a->dirty_since = now_s();
        json_object_set_new(a->dirty, ak->k->scope == AG_SCOPE_CLUSTER || !ns ? "" : ns, json_true());
    }
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* ---- passes ---- */

/* Every cache of ours has listed (or found its resource not served), and the
 * namespaces cache, which names the scopes the listed kinds are read in. */
static int caches_ready(ag_auditor *a)
{
    for (size_t i = 0; i <= a->nkinds; i++) {
        ag_informer *inf = i < a->nkinds ? a->kinds[i].inf : ag_informers_lookup(a->informers, "namespaces");
        ag_informer_stats st;
        ag_informer_stats_get(inf, &st);
        if (inf && !st.synced && !st.not_served)
            return 0;
    }
    return 1;
}

/* The objects to judge, by scope: every scope (only NULL), or those of `only`. The arrays
 * hold references to the caches' immutable objects. */
static json_t *collect(ag_auditor *a, json_t *only)
{
    json_t *by = json_object();
    for (size_t i = 0; by && i < a->nkinds; i++) {
        json_t *snap = ag_informer_snapshot(a->kinds[i].inf);
        const char *key;
        json_t *obj;
        json_object_foreach(snap, key, obj) {
            const char *ns = "";
            if (a->kinds[i].k->scope == AG_SCOPE_NAMESPACED) {
                ns = json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
                if (!ns)
                    continue;
            }
            if (only && !json_object_get(only, ns))
                continue;
            json_t *arr = json_object_get(by, ns);
            if (!arr) {
                arr = json_array();
                json_object_set_new(by, ns, arr);
            }
            if (json_object_get(obj, "kind") && json_object_get(obj, "apiVersion")) {
                json_array_append(arr, obj);
                continue;
            }
            /* a real API server's LIST leaves apiVersion and kind out of built-in items
             * (its watch events carry them): the cache's object gets them on a shallow
             * copy, for this pass */
            const audit_kind *ak = &a->kinds[i];
            json_t *typed = json_copy(obj);
            char api[160];
            snprintf(api, sizeof api, "%s%s%s", ak->k->group, *ak->k->group ? "/" : "", ak->version);
            json_object_set_new(typed, "apiVersion", json_string(api));
            json_object_set_new(typed, "kind", json_string(ak->k->kind));
            json_array_append_new(arr, typed);
        }
        json_decref(snap);
    }
    /* namespaces whose listed kinds (pods) are looked at when the scope is judged */
    int listed = 0;
    for (size_t i = 0; i < a->nkinds; i++)
        listed |= a->kinds[i].listed && a->kinds[i].k->scope == AG_SCOPE_NAMESPACED;
    if (listed && !only) {
        json_t *nss = ag_informer_snapshot(ag_informers_lookup(a->informers, "namespaces"));
        const char *name;
        json_t *ns;
        json_object_foreach(nss, name, ns)
            if (!json_object_get(by, name))
                json_object_set_new(by, name, json_array());
        json_decref(nss);
    }
    /* scopes that had reports and have no object left: their reports go */
    const char *scope;
    json_t *v;
    json_object_foreach(a->state, scope, v)
        if ((!only || json_object_get(only, scope)) && !json_object_get(by, scope))
            json_object_set_new(by, scope, json_array());
    if (only) {
        json_object_foreach(only, scope, v)
            if (!json_object_get(by, scope))
                json_object_set_new(by, scope, json_array());
    }
    return by;
}

/* Kinds the policies judge now but the audit does not watch (they came with a reload):
 * said once per generation. */
static void note_unwatched(ag_auditor *a, const ag_policy_set *set)
{
    const ag_kind_info *want[AUDIT_MAX_KINDS];
    ag_diags custom = {0};
    size_t n = ag_policy_audit_kinds(set, want, AUDIT_MAX_KINDS, &custom);
    char list[2048] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && i < AUDIT_MAX_KINDS; i++) {
        int have = 0;
        for (size_t j = 0; j < a->nkinds && !have; j++)
            have = a->kinds[j].k == want[i];
        if (!have && len + 80 < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s%s%s", len ? ", " : "", want[i]->group,
                                    *want[i]->group ? "/" : "", want[i]->kind);
    }
    if (len)
        ag_log(AG_LOG_WARN, "audit: the policies judge kinds not watched since the start; they are audited "
               "after a restart", "kinds", list, NULL);
    len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < custom.count; i++)
        if (len + strlen(custom.items[i]) + 3 < sizeof list)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", custom.items[i]);
    if (len)
        ag_log(AG_LOG_INFO, "audit: custom kinds are judged at admission only, not audited", "kinds", list, NULL);
    ag_diags_clear(&custom);
}

/* Appends the objects of the listed kinds in scope to objs, read in pages of
 * AUDIT_PAGE: 0, or an error (the scope must then not be written: its reports would
 * lose the objects not read). */
static int list_scope(ag_auditor *a, const char *scope, json_t *objs, ag_error *err)
{
    for (size_t i = 0; i < a->nkinds; i++) {
        const audit_kind *ak = &a->kinds[i];
        if (!ak->listed || (ak->k->scope == AG_SCOPE_NAMESPACED) != (*scope != '\0'))
            continue;
        ag_informer_stats st;
        ag_informer_stats_get(ak->inf, &st);
        if (st.not_served) {
            ag_log(AG_LOG_DEBUG, "audit: not listed (not served)", "namespace", scope, "kind", ak->k->kind, NULL);
            continue;
        }
        char api[200], cont[2048] = "";
        if (*ak->k->group)
            snprintf(api, sizeof api, "/apis/%s/%s", ak->k->group, ak->version);
        else
            snprintf(api, sizeof api, "/api/%s", ak->version);
        do {
            char path[4096], ce[3000] = "";
            size_t o = 0;
            for (const char *c = cont; *c && o + 4 < sizeof ce; c++)
                o += (size_t)snprintf(ce + o, sizeof ce - o, (isalnum((unsigned char)*c) || strchr("-._~", *c)) ?
                                      "%c" : "%%%02X", (unsigned char)*c);
            if (*scope)
                snprintf(path, sizeof path, "%s/namespaces/%s/%s?limit=%d%s%s", api, scope, ak->k->resource,
                         AUDIT_PAGE, *ce ? "&continue=" : "", ce);
            else
                snprintf(path, sizeof path, "%s/%s?limit=%d%s%s", api, ak->k->resource, AUDIT_PAGE,
                         *ce ? "&continue=" : "", ce);
            json_t *page = NULL;
            ag_kube_status kst;
            int rc = ag_kube_get(a->kube, path, &page, &kst, err);
            if (rc)
                return kst.code == 404 ? 0 : rc;
            size_t j;
            json_t *obj;
            json_array_foreach(json_object_get(page, "items"), j, obj) {
                json_object_del(json_object_get(obj, "metadata"), "managedFields");
                /* list items of built-in kinds come without apiVersion and kind */
                json_object_set_new(obj, "apiVersion", json_string(api + (*ak->k->group ? 6 : 5)));
                json_object_set_new(obj, "kind", json_string(ak->k->kind));
                json_array_append(objs, obj);
            }
            const char *next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
            snprintf(cont, sizeof cont, "%s", next ? next : "");
            json_decref(page);
        } while (*cont);
    }
    return 0;
}

/* Judges the scopes of `by` and writes their reports; 0, or the first error.
 * *interrupted: the leadership went (or its lease is not certain) before the end. */
static int run_scopes(ag_auditor *a, const ag_policy_set *set, json_t *by, size_t *failed, int *interrupted)
{
    time_t now = time(NULL);
    const char *scope;
    json_t *objs;
    int first = 0;
    *interrupted = 0;
    json_object_foreach(by, scope, objs) {
        if (!audit_may_write(a)) {
            *interrupted = 1;
            return AG_ERR;
        }
        ag_error err = {0};
        int rc = list_scope(a, scope, objs, &err) || audit_scope(a, set, scope, objs, now, &err);
        json_array_clear(objs); /* one namespace's listed objects at a time */
        if (rc) {
            (*failed)++;
            if (!first) {
                first = AG_ERR;
                ag_log(AG_LOG_WARN, "audit: writing the reports of a scope failed; retried at the next pass",
                       "namespace", *scope ? scope : "(cluster)", "reason", err.msg, NULL);
            }
        }
    }
    return first;
}

/* CPU time of the calling thread: a pass's own cost, apart from waiting on the API */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_pass(ag_auditor *a, const char *what, double t0, double cpu0, size_t scopes, uint64_t objs0,
                     uint64_t writes0, uint64_t deletes0, ag_log_level level)
{
    char secs[32], cpu[32], sc[32], ob[32], wr[32], de[32];
    snprintf(secs, sizeof secs, "%.3f", now_s() - t0);
    snprintf(cpu, sizeof cpu, "%.3f", cpu_s() - cpu0);
    snprintf(sc, sizeof sc, "%zu", scopes);
    snprintf(ob, sizeof ob, "%llu", (unsigned long long)(atomic_load(&a->objects) - objs0));
    snprintf(wr, sizeof wr, "%llu", (unsigned long long)(atomic_load(&a->writes) - writes0));
    snprintf(de, sizeof de, "%llu", (unsigned long long)(atomic_load(&a->deletes) - deletes0));
    ag_log(level, what, "seconds", secs, "cpuSeconds", cpu, "scopes", sc, "objects", ob, "reportWrites", wr, "reportDeletes", de,
           NULL);
}

static void *run(void *arg)
{
    ag_auditor *a = arg;
    uint64_t generation = 0;
    double last_full = 0, retry_at = 0;
    int full_due = 1, logged_wait = 0;
    pthread_mutex_lock(&a->mu);
    while (!a->stopping) {
        /* events wake us; the policy generation and the interval are looked at every second */
        double wait = 1.0;
        if (json_object_size(a->dirty)) {
            double left = a->dirty_since + SETTLE_S - now_s();
            wait = left < 0.05 ? 0.05 : left < wait ? left : wait;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long)(wait * 1e9);
        until.tv_sec += (time_t)(ns / 1000000000LL);
        until.tv_nsec = (long)(ns % 1000000000LL);
        pthread_cond_timedwait(&a->cv, &a->mu, &until);
        if (a->stopping)
            break;
        if (!a->leading) {
            a->adopted = 0; /* another replica may write meanwhile: read its reports when we lead again */
            full_due = 1;
            json_object_clear(a->dirty); /* the full pass on leadership covers them */
            continue;
        }
        double t = now_s();
        if (a->resync)
            full_due = 1, a->resync = 0;
        int dirty_ready = json_object_size(a->dirty) && t - a->dirty_since >= SETTLE_S;
        pthread_mutex_unlock(&a->mu);

        ag_policy_set *set = ag_policy_holder_acquire(a->cfg.policies);
        int ready = set && caches_ready(a);
        if (!ready && !logged_wait++)
            ag_log(AG_LOG_INFO, "audit: waiting for policies and the watch caches", NULL);
        uint64_t gen = set ? ag_policy_set_generation(set) : 0;
        int full = ready && t >= retry_at && (full_due || gen != generation || t - last_full >= a->cfg.interval_s);
        /* just elected, or a renewal late: wait until the lease is certain (the next renewal) */
        int certain = audit_may_write(a);
        if (full && !certain) {
            full = 0;
        } else if (full) {
            double t0 = now_s(), c0 = cpu_s();
            uint64_t o0 = atomic_load(&a->objects), w0 = atomic_load(&a->writes), d0 = atomic_load(&a->deletes);
            ag_error err = {0};
            if (gen != generation)
                note_unwatched(a, set);
            generation = gen;
            if (!a->adopted) {
                int rc = audit_adopt(a, &err);
                if (rc) {
                    atomic_fetch_add(&a->errors, 1);
                    if (rc == AG_ENOTFOUND) {
                        if (!a->crd_missing_logged++)
                            ag_log(AG_LOG_WARN, "audit: the PolicyReport CRDs (wgpolicyk8s.io/v1alpha2) are not "
                                   "installed: results are not written (deploy/ installs them); looked for again "
                                   "every 60 s", NULL);
                    } else {
                        ag_log(AG_LOG_WARN, "audit: cannot read the existing PolicyReports; retrying in 60 s",
                               "reason", err.msg, NULL);
                    }
                    retry_at = t + RETRY_S;
                    ag_policy_set_unref(set);
                    pthread_mutex_lock(&a->mu);
                    continue;
                }
                a->adopted = 1;
            }
            pthread_mutex_lock(&a->mu);
            json_object_clear(a->dirty); /* the full pass covers them */
            pthread_mutex_unlock(&a->mu);
            json_t *by = collect(a, NULL);
            size_t failed = 0;
            int interrupted = 0;
            int rc = run_scopes(a, set, by, &failed, &interrupted);
            if (!interrupted) {
                atomic_fetch_add(&a->passes, 1);
                log_pass(a, "audit pass", t0, c0, json_object_size(by), o0, w0, d0, AG_LOG_INFO);
            } else {
                log_pass(a, "audit pass interrupted: the leadership went or its lease is not certain", t0, c0,
                         json_object_size(by), o0, w0, d0, AG_LOG_INFO);
            }
            json_decref(by);
            last_full = t;
            full_due = 0;
            if (rc) {
                retry_at = t + (failed ? 5 : 0); /* a failed write: soon again, not in a loop */
                full_due = 1;
            }
        } else if (ready && dirty_ready && certain && a->adopted) {
            double t0 = now_s(), c0 = cpu_s();
            uint64_t o0 = atomic_load(&a->objects), w0 = atomic_load(&a->writes), d0 = atomic_load(&a->deletes);
            pthread_mutex_lock(&a->mu);
            json_t *only = a->dirty;
            a->dirty = json_object();
            pthread_mutex_unlock(&a->mu);
            json_t *by = collect(a, only);
            size_t failed = 0;
            int interrupted = 0;
            if (run_scopes(a, set, by, &failed, &interrupted))
                full_due = 1;
            atomic_fetch_add(&a->scope_passes, 1);
            log_pass(a, "audit of changed objects", t0, c0, json_object_size(by), o0, w0, d0, AG_LOG_DEBUG);
            json_decref(by);
            json_decref(only);
        }
        ag_policy_set_unref(set);
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- life cycle ---- */

ag_auditor *ag_audit_start(const ag_kube_config *kc, const ag_audit_config *cfg, ag_informers *informers,
                           ag_error *err)
{
    ag_auditor *a = calloc(1, sizeof *a);
    if (!a) {
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    a->cfg = *cfg;
    a->informers = informers;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if (ag_kube_config_copy(&a->kc, kc) || !(a->dirty = json_object()) || !(a->state = json_object()) ||
        !(a->kube = ag_kube_new(kc, 10000, err))) {
        ag_audit_stop(a);
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    if (ag_informers_view(informers, &a->view, err)) {
        ag_audit_stop(a);
        return NULL;
    }
    a->view.access = NULL; /* an existing object has no requesting user to ask about */
    a->view.access_ctx = NULL;
    /* the kinds the policies judge now; with none loaded yet, what the validating webhook sends */
    ag_policy_set *set = ag_policy_holder_acquire(cfg->policies);
    const ag_kind_info *want[AUDIT_MAX_KINDS];
    size_t n;
    if (set) {
        n = ag_policy_audit_kinds(set, want, AUDIT_MAX_KINDS, NULL);
    } else {
        size_t nt;
        const ag_kind_info *t = ag_kinds_table(&nt);
        n = 0;
        for (size_t i = 0; i < nt && n < AUDIT_MAX_KINDS; i++)
            if (t[i].sent & AG_SENT_VALIDATE)
                want[n++] = &t[i];
    }
    ag_policy_set_unref(set);
    for (size_t i = 0; i < n && i < AUDIT_MAX_KINDS; i++) {
        audit_kind *ak = &a->kinds[a->nkinds];
        ak->a = a;
        ak->k = want[i];
        ak->version = version_of(want[i]);
        ak->listed = listed_kind(want[i]);
        if (ak->listed) {
            char path[300];
            if (*ak->k->group)
                snprintf(path, sizeof path, "/apis/%s/%s/%s", ak->k->group, ak->version, ak->k->resource);
            else
                snprintf(path, sizeof path, "/api/%s/%s", ak->version, ak->k->resource);
            ak->inf = ag_informer_new(kc, path, err);
            a->nkinds++; /* owned from here: ag_audit_stop frees it */
            if (!ak->inf || ag_informer_set_cacheless(ak->inf, err) ||
                ag_informer_add_handler(ak->inf, on_event, ak, err) || ag_informer_run(ak->inf, err)) {
                ag_audit_stop(a);
                return NULL;
            }
            continue;
        }
        if (!(ak->inf = ag_informers_for(informers, ak->k->group, ak->version, ak->k->resource,
                                         ak->k->scope == AG_SCOPE_NAMESPACED, err)) ||
            ag_informer_add_handler(ak->inf, on_event, ak, err)) {
            ag_audit_stop(a);
            return NULL;
        }
        a->nkinds++;
    }
    if (pthread_create(&a->thread, NULL, run, a)) {
        ag_audit_stop(a);
        ag_error_set(err, AG_ERR, "cannot start the audit thread");
        return NULL;
    }
    a->started = 1;
    return a;
}

void ag_audit_set_leader(ag_auditor *a, int leading)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->leading = leading ? 1 : 0;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

void ag_audit_lease_until(ag_auditor *a, double until)
{
    if (a)
        atomic_store(&a->lease_until, until);
}

void ag_audit_stop(ag_auditor *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (a->started)
        pthread_join(a->thread, NULL);
    /* our own (cacheless) watches: after the thread (it reads their stats), before the
     * state their handler marks */
    for (size_t i = 0; i < a->nkinds; i++)
        if (a->kinds[i].listed)
            ag_informer_request_stop(a->kinds[i].inf);
    for (size_t i = 0; i < a->nkinds; i++)
        if (a->kinds[i].listed)
            ag_informer_stop(a->kinds[i].inf);
    ag_kube_free(a->kube);
    ag_kube_config_clear(&a->kc);
    json_decref(a->dirty);
    json_decref(a->state);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}

void ag_audit_stats_get(ag_auditor *a, ag_audit_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return;
    out->passes = atomic_load(&a->passes);
    out->scope_passes = atomic_load(&a->scope_passes);
    out->objects = atomic_load(&a->objects);
    out->writes = atomic_load(&a->writes);
    out->deletes = atomic_load(&a->deletes);
    out->errors = atomic_load(&a->errors);
    out->kinds = a->nkinds;
}
