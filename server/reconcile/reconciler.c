/* The reconciler's threads: watch caches that turn events into keys, and the worker
 * that reconciles keys while this replica leads. See include/aimguard/reconcile.h. */
#include "reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/log.h"

void ag_reconcile_config_defaults(ag_reconcile_config *c)
{
    memset(c, 0, sizeof *c);
    c->username = "system:serviceaccount:aimguard-system:aimguard";
    c->field_manager = "aimguard";
    c->network_policies = 1;
    c->gateway_namespaces = "";
    /* model downloads over HTTPS, never to cluster-private ranges or the metadata service */
    c->download_egress = "0.0.0.0/0:443";
    c->pss_labels = "enforce=restricted,warn=restricted,audit=restricted";
    c->download_sa = "aim-artifact-downloader";
    c->status_role = "aim-engine-artifact-status-updater";
    c->default_download_image = "ghcr.io/silogen/aim-artifact-downloader:0.2.0";
    c->default_artifact_size = "50Gi";
    c->resync_seconds = 600;
    c->exempt_namespaces = "kube-system,kube-public,kube-node-lease";
    /* the label that already keeps a namespace away from the webhooks (deploy/base) */
    c->exempt_label = "aimguard.io/webhook=exempt";
    c->system_namespace = "aimguard-system";
}

static int dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* "a.b.c.d/len" with an optional ":port" */
static int egress_entry(const char *e)
{
    unsigned a, b, c, d, len, port = 443;
    char tail[8] = "";
    int n = sscanf(e, "%u.%u.%u.%u/%u%7s", &a, &b, &c, &d, &len, tail);
    if (n < 5 || a > 255 || b > 255 || c > 255 || d > 255 || len > 32)
        return 0;
    if (n == 6 && (sscanf(tail, ":%u", &port) != 1 || port == 0 || port > 65535))
        return 0;
    return 1;
}

int ag_reconcile_config_check(const ag_reconcile_config *c, ag_error *err)
{
    char one[256];
    for (const char *l = c->download_egress; rc_next_item(&l, one, sizeof one);)
        if (!egress_entry(one))
            return ag_error_set(err, AG_EINVAL, "--download-egress: '%s' is not CIDR[:PORT] "
                                "(e.g. 0.0.0.0/0:443)", one);
    for (const char *l = c->pss_labels; rc_next_item(&l, one, sizeof one);) {
        char *eq = strchr(one, '=');
        if (eq)
            *eq = '\0';
        if (!eq || (strcmp(one, "enforce") && strcmp(one, "warn") && strcmp(one, "audit")) ||
            (strcmp(eq + 1, "privileged") && strcmp(eq + 1, "baseline") && strcmp(eq + 1, "restricted")))
            return ag_error_set(err, AG_EINVAL, "--pod-security-labels: '%s%s%s' is not MODE=LEVEL with MODE "
                                "enforce, warn or audit and LEVEL privileged, baseline or restricted", one,
                                eq ? "=" : "", eq ? eq + 1 : "");
    }
    for (const char *l = c->gateway_namespaces; rc_next_item(&l, one, sizeof one);)
        if (!dns_label(one))
            return ag_error_set(err, AG_EINVAL, "--gateway-namespaces: '%s' is not a namespace name", one);
    for (const char *l = c->exempt_namespaces; rc_next_item(&l, one, sizeof one);)
        if (!dns_label(one))
            return ag_error_set(err, AG_EINVAL, "--exempt-namespaces: '%s' is not a namespace name", one);
    if (c->exempt_label && *c->exempt_label) {
        const char *eq = strchr(c->exempt_label, '=');
        if (!eq || eq == c->exempt_label || strchr(eq + 1, '=') || strchr(c->exempt_label, ','))
            return ag_error_set(err, AG_EINVAL, "--exempt-label: '%s' is not KEY=VALUE", c->exempt_label);
    }
    if (!c->download_sa || !dns_label(c->download_sa))
        return ag_error_set(err, AG_EINVAL, "--download-service-account: '%s' is not a valid name",
                            c->download_sa ? c->download_sa : "");
    if (!c->status_role || !*c->status_role)
        return ag_error_set(err, AG_EINVAL, "--status-updater-role must name a ClusterRole");
    if (!c->username || !*c->username)
        return ag_error_set(err, AG_EINVAL, "--reconciler-username must not be empty");
    return 0;
}

/* ---- keys ---- */

static void enqueue_how(ag_reconciler *r, const char *type, const char *ns, const char *name, int bulk)
{
    char key[600];
    if (ns)
        snprintf(key, sizeof key, "%s/%s/%s", type, ns, name);
    else
        snprintf(key, sizeof key, "%s/%s", type, name);
    if (bulk)
        rq_add_resync(r->queue, key);
    else
        rq_add(r->queue, key);
}

static void enqueue(ag_reconciler *r, const char *type, const char *ns, const char *name)
{
    enqueue_how(r, type, ns, name, 0);
}

/* every AIMService (and artifact) of ns, or of every namespace when ns is NULL */
static void enqueue_kind_how(ag_reconciler *r, int res, const char *type, const char *ns, int bulk)
{
    json_t *all = ag_informer_snapshot(r->inf[res]);
    const char *k;
    json_t *o;
    json_object_foreach(all, k, o) {
        const char *ons = json_string_value(rc_at(o, "metadata.namespace"));
        const char *name = json_string_value(rc_at(o, "metadata.name"));
        if (ons && name && (!ns || !strcmp(ns, ons)))
            enqueue_how(r, type, ons, name, bulk);
    }
    json_decref(all);
}

static void enqueue_kind(ag_reconciler *r, int res, const char *type, const char *ns)
{
    enqueue_kind_how(r, res, type, ns, 0);
}

/* resync, relist, a new leader: everything, but failing keys keep their backoff */
static void enqueue_all(ag_reconciler *r)
{
    enqueue_kind_how(r, W_SERVICES, "svc", NULL, 1);
    enqueue_kind_how(r, W_ARTIFACTS, "art", NULL, 1);
    json_t *all = ag_informer_snapshot(r->inf[W_NAMESPACES]);
    const char *k;
    json_t *o;
    json_object_foreach(all, k, o)
        enqueue_how(r, "ns", NULL, k, 1);
    json_decref(all);
}

static void on_event(void *ctx, const char *type, json_t *obj)
{
    watch_ctx *w = ctx;
    ag_reconciler *r = w->r;
    if (atomic_load(&r->stopping))
        return;
    if (!strcmp(type, "SYNC")) {
        /* a (re)list: objects may have gone without a DELETED event */
        enqueue_all(r);
        return;
    }
    const char *ns = json_string_value(rc_at(obj, "metadata.namespace"));
    const char *name = json_string_value(rc_at(obj, "metadata.name"));
    if (!name)
        return;
    switch (w->res) {
    case W_NAMESPACES:
        enqueue(r, "ns", NULL, name);
        break;
    case W_SERVICES:
        enqueue(r, "svc", ns, name);
        enqueue(r, "ns", NULL, ns);
        break;
    case W_ARTIFACTS:
        enqueue(r, "art", ns, name);
        enqueue(r, "ns", NULL, ns);
        break;
    case W_MODELS: case W_TEMPLATES: case W_RUNTIME_CONFIGS:
        /* a reference may have appeared, changed or gone: the namespace's services */
        enqueue_kind(r, W_SERVICES, "svc", ns);
        if (w->res == W_RUNTIME_CONFIGS)
            enqueue_kind(r, W_ARTIFACTS, "art", ns);
        break;
    case W_CLUSTER_MODELS: case W_CLUSTER_TEMPLATES: case W_CLUSTER_RUNTIME_CONFIGS:
        enqueue_kind(r, W_SERVICES, "svc", NULL);
        if (w->res == W_CLUSTER_RUNTIME_CONFIGS)
            enqueue_kind(r, W_ARTIFACTS, "art", NULL);
        break;
    default: {
        /* children: their owner; namespace objects: the namespace */
        json_t *owners = rc_at(obj, "metadata.ownerReferences");
        size_t i;
        json_t *ref;
        int owned = 0;
        json_array_foreach(owners, i, ref) {
            const char *kind = rc_str(ref, "kind"), *oname = rc_str(ref, "name");
            if (!kind || !oname || !ns)
                continue;
            if (!strcmp(kind, "AIMService"))
                enqueue(r, "svc", ns, oname), owned = 1;
            else if (!strcmp(kind, "AIMArtifact"))
                enqueue(r, "art", ns, oname), owned = 1;
        }
        if (!owned && ns) {
            enqueue(r, "ns", NULL, ns);
            /* someone else's object of a name we want: its owner-to-be reports the
             * conflict and must look again when it changes or goes (names are
             * predictable: <service>, <artifact>-cache, <artifact>-download) */
            size_t n = strlen(name);
            char art[300];
            if (w->res == W_ISVCS || w->res == W_ROUTES)
                enqueue(r, "svc", ns, name);
            else if (w->res == W_PVCS && n > 6 && n < sizeof art && !strcmp(name + n - 6, "-cache"))
                snprintf(art, sizeof art, "%.*s", (int)(n - 6), name), enqueue(r, "art", ns, art);
            else if (w->res == W_JOBS && n > 9 && n < sizeof art && !strcmp(name + n - 9, "-download"))
                snprintf(art, sizeof art, "%.*s", (int)(n - 9), name), enqueue(r, "art", ns, art);
        }
    }
    }
}

/* ---- the worker ---- */

static int all_synced(ag_reconciler *r)
{
    for (int i = 0; i < W_COUNT; i++) {
        ag_informer_stats st;
        ag_informer_stats_get(r->inf[i], &st);
        if (!st.synced)
            return 0;
    }
    return 1;
}

static void wait_leading(ag_reconciler *r)
{
    pthread_mutex_lock(&r->lead_mu);
    while (!atomic_load(&r->stopping) && !atomic_load(&r->leading)) {
        pthread_cond_wait(&r->lead_cv, &r->lead_mu);
    }
    pthread_mutex_unlock(&r->lead_mu);
}

static void publish_state(ag_reconciler *r)
{
    uint64_t restarts = 0;
    for (int i = 0; i < W_COUNT; i++) {
        ag_informer_stats st;
        ag_informer_stats_get(r->inf[i], &st);
        restarts += st.watch_restarts;
    }
    ag_metrics_reconcile_state(r->cfg.metrics, rq_depth(r->queue), atomic_load(&r->writes), restarts);
}

static void *worker(void *arg)
{
    ag_reconciler *r = arg;
    ag_error err = {0};
    ag_kube *kube = ag_kube_new(&r->kc, 10000, &err);
    if (!kube) {
        ag_log(AG_LOG_ERROR, "reconciler: cannot create its API client; reconciling is off",
               "reason", err.msg, NULL);
        return NULL;
    }
    int logged_wait = 0;
    while (!atomic_load(&r->stopping)) {
        wait_leading(r);
        if (atomic_load(&r->stopping))
            break;
        if (!all_synced(r)) {
            if (!logged_wait++)
                ag_log(AG_LOG_INFO, "reconciler: waiting for the watch caches to list", NULL);
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        char *key = rq_get(r->queue);
        if (!key)
            break;
        if (!atomic_load(&r->leading)) {
            /* leadership went while we waited: give the key back, reconcile nothing */
            rq_done(r->queue, key, 0);
            rq_add(r->queue, key);
            free(key);
            continue;
        }
        double t0 = rq_now();
        rctx c = {r, kube, time(NULL)};
        int rc = 0;
        rc_result res = {0};
        if (!strcmp(key, "resync")) {
            enqueue_all(r);
            rq_done_after(r->queue, key, 0, r->cfg.resync_seconds);
            free(key);
            publish_state(r);
            continue;
        }
        char type[8] = "", a[300] = "", b[300] = "";
        const char *p1 = strchr(key, '/');
        if (p1 && (size_t)(p1 - key) < sizeof type) {
            memcpy(type, key, (size_t)(p1 - key));
            const char *p2 = strchr(p1 + 1, '/');
            if (p2) {
                snprintf(a, sizeof a, "%.*s", (int)(p2 - p1 - 1), p1 + 1);
                snprintf(b, sizeof b, "%s", p2 + 1);
            } else {
                snprintf(a, sizeof a, "%s", p1 + 1);
            }
        }
        if (!strcmp(type, "svc"))
            rc = rc_reconcile_service(&c, a, b, &res);
        else if (!strcmp(type, "art"))
            rc = rc_reconcile_artifact(&c, a, b, &res);
        else if (!strcmp(type, "ns"))
            rc = rc_reconcile_namespace(&c, a, &res);
        double secs = rq_now() - t0;
        atomic_fetch_add(&r->reconciles, 1);
        if (rc)
            atomic_fetch_add(&r->errors, 1);
        ag_metrics_reconcile(r->cfg.metrics, rc == 0, secs);
        double retry = rq_done_after(r->queue, key, rc != 0, rc ? 0 : res.requeue_after);
        if (rc) {
            char when[32];
            snprintf(when, sizeof when, "%.1f", retry);
            ag_log(AG_LOG_WARN, "reconcile failed; retrying", "key", key, "retryInSeconds", when, NULL);
        }
        free(key);
        publish_state(r);
    }
    ag_kube_free(kube);
    return NULL;
}

/* ---- life cycle ---- */

static const char *own(ag_reconciler *r, int slot, const char *s)
{
    if (!s)
        return NULL;
    r->strings[slot] = strdup(s);
    return r->strings[slot] ? r->strings[slot] : "";
}

ag_reconciler *ag_reconciler_start(const ag_kube_config *kc, const ag_reconcile_config *cfg,
                                   ag_informers *informers, ag_error *err)
{
    ag_reconciler *r = calloc(1, sizeof *r);
    if (!r) {
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->cfg.username = own(r, 0, cfg->username);
    r->cfg.field_manager = own(r, 1, cfg->field_manager);
    r->cfg.gateway_namespaces = own(r, 2, cfg->gateway_namespaces);
    r->cfg.download_egress = own(r, 3, cfg->download_egress);
    r->cfg.pss_labels = own(r, 4, cfg->pss_labels);
    r->cfg.download_sa = own(r, 5, cfg->download_sa);
    r->cfg.status_role = own(r, 6, cfg->status_role);
    r->cfg.default_download_image = own(r, 7, cfg->default_download_image);
    r->cfg.default_artifact_size = own(r, 8, cfg->default_artifact_size);
    r->cfg.exempt_namespaces = own(r, 9, cfg->exempt_namespaces);
    r->cfg.exempt_label = own(r, 10, cfg->exempt_label);
    r->cfg.system_namespace = own(r, 11, cfg->system_namespace);
    pthread_mutex_init(&r->lead_mu, NULL);
    pthread_cond_init(&r->lead_cv, NULL);
    if (ag_kube_config_copy(&r->kc, kc) || !(r->queue = rq_new(0.5, 120)) || !(r->written = json_object()) ||
        !(r->conflicts = json_object())) {
        ag_reconciler_stop(r);
        ag_error_set(err, AG_ENOMEM, "out of memory");
        return NULL;
    }
    /* the process's caches (the cluster view reads namespaces and AIM objects from the
     * same ones): ours are asked for and told to call on_event; the caller starts them */
    for (int i = 0; i < W_COUNT; i++) {
        const resource_info *ri = &ag_rc_resources[i];
        r->wctx[i].r = r;
        r->wctx[i].res = i;
        if (!(r->inf[i] = ag_informers_for(informers, ri->group, ri->version, ri->plural, ri->namespaced, err)) ||
            ag_informer_add_handler(r->inf[i], on_event, &r->wctx[i], err)) {
            ag_reconciler_stop(r);
            return NULL;
        }
    }
    if (pthread_create(&r->worker, NULL, worker, r)) {
        ag_reconciler_stop(r);
        ag_error_set(err, AG_ERR, "cannot start the reconciler thread");
        return NULL;
    }
    r->worker_started = 1;
    if (r->cfg.resync_seconds > 0)
        rq_add_after(r->queue, "resync", r->cfg.resync_seconds);
    return r;
}

void ag_reconciler_lease_until(ag_reconciler *r, double until)
{
    if (r)
        atomic_store(&r->lease_until, until);
}

void ag_reconciler_set_leader(ag_reconciler *r, int leading)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lead_mu);
    int was = atomic_exchange(&r->leading, leading ? 1 : 0);
    pthread_cond_broadcast(&r->lead_cv);
    pthread_mutex_unlock(&r->lead_mu);
    if (leading && !was)
        enqueue_all(r); /* the world may have changed while another replica led */
}

void ag_reconciler_resync(ag_reconciler *r)
{
    if (r)
        enqueue_all(r);
}

void ag_reconciler_stop(ag_reconciler *r)
{
    if (!r)
        return;
    atomic_store(&r->stopping, 1);
    pthread_mutex_lock(&r->lead_mu);
    pthread_cond_broadcast(&r->lead_cv);
    pthread_mutex_unlock(&r->lead_mu);
    if (r->queue)
        rq_shutdown(r->queue);
    if (r->worker_started)
        pthread_join(r->worker, NULL);
    /* the caches are the process's (ag_informers): stopped and freed by their owner */
    rq_free(r->queue);
    json_decref(r->written);
    json_decref(r->conflicts);
    ag_kube_config_clear(&r->kc);
    for (int i = 0; i < 12; i++)
        free(r->strings[i]);
    pthread_mutex_destroy(&r->lead_mu);
    pthread_cond_destroy(&r->lead_cv);
    free(r);
}

void ag_reconciler_stats(ag_reconciler *r, ag_reconcile_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!r)
        return;
    out->reconciles = atomic_load(&r->reconciles);
    out->errors = atomic_load(&r->errors);
    out->writes = atomic_load(&r->writes);
    out->depth = rq_depth(r->queue);
    out->synced = all_synced(r);
    for (int i = 0; i < W_COUNT; i++) {
        ag_informer_stats st;
        ag_informer_stats_get(r->inf[i], &st);
        out->watch_restarts += st.watch_restarts;
    }
}
