/* The process: what `aimguard serve` starts, in order (policies, certificate,
 * listeners, cluster view, SubjectAccessReview cache, reconciler, leader election),
 * the control loop, and the graceful stop. Runs on the thread that called
 * ag_serve_run(); it is the only writer of the published policy snapshot and of the
 * certificate store. */
#include "serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "aimguard/audit.h"
#include "aimguard/authz.h"
#include "aimguard/http.h"
#include "aimguard/informers.h"
#include "aimguard/leader.h"
#include "aimguard/log.h"
#include "aimguard/metrics.h"
#include "aimguard/reconcile.h"
#include "aimguard/tls.h"

/* The process's parts; owned by ag_serve_run's frame. */
typedef struct srv {
    const ag_serve_config *cfg;
    ag_policy_holder *policies;
    ag_metrics *metrics;
    ag_tls *tls;
    ag_http *http;               /* the webhook and metrics listeners */
    ag_informers *informers;     /* the watch caches (cluster view, reconciler), when a cluster is configured */
    ag_leader *leader;           /* leader election, when a cluster is configured */
    ag_reconciler *reconciler;   /* when a cluster is configured and --reconcile on */
    ag_auditor *auditor;         /* when a cluster is configured and --audit-interval is not 0 */
    ag_authz *authz;             /* SubjectAccessReviews (view.access), with a cluster */
    ag_view view;
    int ifd;                     /* inotify: a wake-up for the reload jobs, or -1 */
    uint64_t fp;                 /* fingerprint of the policy files serving (or refused) */
    uint64_t generation;         /* of the policies serving */
} srv;

/* A burst of writes (an editor, a ConfigMap's ..data swap) settles for this long before
 * the reload jobs look at the files. */
#define RELOAD_DEBOUNCE_MS 150

static void on_lease_renewed(void *ctx, double until)
{
    srv *s = ctx;
    ag_reconciler_lease_until(s->reconciler, until);
    ag_audit_lease_until(s->auditor, until);
}

static void on_leadership(void *ctx, int leading)
{
    srv *s = ctx;
    ag_metrics_leader(s->metrics, leading);
    ag_reconciler_set_leader(s->reconciler, leading);
    ag_audit_set_leader(s->auditor, leading);
}

/* FNV-1a over what identifies the policy files' contents: their paths and what stat
 * says of each (symlinks followed, so a ConfigMap ..data swap shows). */
static void fp_mix(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 1099511628211ull;
    }
}

static void fp_walk(const char *dir, int depth, uint64_t *h)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        fp_mix(h, "missing", 7);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        fp_mix(h, dir, strlen(dir));
        fp_mix(h, &st.st_ino, sizeof st.st_ino);
        fp_mix(h, &st.st_size, sizeof st.st_size);
        fp_mix(h, &st.st_mtim, sizeof st.st_mtim);
        return;
    }
    if (depth > 8)
        return;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char path[4096];
            if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < sizeof path)
                fp_walk(path, depth + 1, h);
        }
        free(names[i]);
    }
    free(names);
    if (n < 0)
        fp_mix(h, "unreadable", 10);
}

static uint64_t policy_fingerprint(const char *dir)
{
    uint64_t h = 1469598103934665603ull;
    fp_walk(dir, 0, &h);
    return h;
}

/* Exceptions expiring within a week are logged, and the policy warnings (an exception
 * expired since the load among them) are counted; a load also logs each warning, the
 * daily job only recounts them. */
static void report_exceptions(srv *s, ag_policy_set *set, int log_each)
{
    time_t now = time(NULL);
    char *soon = ag_policy_expiring(set, now, 7 * 24 * 3600);
    if (soon && *soon)
        ag_log(AG_LOG_WARN, "policy exceptions expire within a week", "exceptions", soon, NULL);
    free(soon);
    ag_diags warns = {0};
    ag_metrics_policy_warnings(s->metrics, ag_policy_warnings(set, now, &warns));
    for (size_t i = 0; log_each && i < warns.count; i++)
        ag_log(AG_LOG_WARN, "policy warning", "warning", warns.items[i], NULL);
    ag_diags_clear(&warns);
}

static int load_policies(srv *s, uint64_t generation)
{
    ag_policy_set *set = NULL;
    ag_diags diags = {0};
    ag_error err = {0};
    ag_load_options opts = {generation, s->cfg->default_action};
    char gen[32];
    snprintf(gen, sizeof gen, "%llu", (unsigned long long)generation);
    char digest[80];
    int have_digest = serve_policy_digest(s->cfg->policies, digest, sizeof digest) == 0;
    if (ag_policy_load(s->cfg->policies, &opts, &set, &diags, &err)) {
        for (size_t i = 0; i < diags.count; i++)
            ag_log(AG_LOG_ERROR, "policy error", "error", diags.items[i], NULL);
        ag_log(AG_LOG_ERROR, "policy reload refused; the previous policies keep serving",
               "policies", s->cfg->policies, "reason", err.msg, NULL);
        ag_metrics_policy_state(s->metrics, 0, serve_policy_failing_files(&diags), NULL);
        ag_diags_clear(&diags);
        ag_metrics_policy_reload(s->metrics, 0, 0, 0);
        return -1;
    }
    char count[32], rules[32];
    snprintf(count, sizeof count, "%zu", ag_policy_set_count(set));
    snprintf(rules, sizeof rules, "%zu", ag_policy_set_rule_count(set));
    report_exceptions(s, set, 1);
    const ag_diags *notes = ag_policy_set_notes(set);
    for (size_t i = 0; i < notes->count; i++)
        ag_log(AG_LOG_INFO, "policy document skipped", "note", notes->items[i], NULL);
    ag_policy_holder_publish(s->policies, set);
    ag_http_set_generation(s->http, generation);
    ag_metrics_policy_reload(s->metrics, 1, generation, (int64_t)time(NULL));
    ag_metrics_policy_state(s->metrics, 1, 0, have_digest ? digest : NULL);
    ag_log(AG_LOG_INFO, "policies loaded", "policies", s->cfg->policies, "generation", gen,
           "count", count, "rules", rules, NULL);
    return 0;
}

static void reload_tls(srv *s)
{
    int changed = 0;
    ag_error err = {0};
    ag_tls_reload(s->tls, &changed, &err);
    if (changed > 0) {
        ag_metrics_tls(s->metrics, 1, ag_tls_not_after(s->tls));
        ag_log(AG_LOG_INFO, "serving certificate reloaded", "certificate", ag_tls_describe(s->tls), NULL);
    } else if (changed < 0) {
        ag_metrics_tls(s->metrics, 0, 0);
        ag_log(AG_LOG_ERROR, "new certificate refused; the previous one keeps serving", "reason",
               err.msg, NULL);
    }
}

/* inotify is a wake-up only: what changed is decided by the fingerprints, so missed
 * or coalesced events (symlink swaps, editors' write-rename) cannot lose a change. */
static int watch_setup(srv *s)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -1;
    uint32_t mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO |
                    IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    const char *dirs[3] = {s->cfg->policies, NULL, NULL};
    char certdir[4096], keydir[4096];
    snprintf(certdir, sizeof certdir, "%s", s->cfg->tls_cert);
    snprintf(keydir, sizeof keydir, "%s", s->cfg->tls_key);
    char *slash = strrchr(certdir, '/');
    if (slash) { *slash = '\0'; dirs[1] = certdir; }
    slash = strrchr(keydir, '/');
    if (slash) { *slash = '\0'; dirs[2] = keydir; }
    for (int i = 0; i < 3; i++)
        if (dirs[i] && *dirs[i])
            inotify_add_watch(fd, dirs[i], mask);
    /* sub-directories of the policy directory, one level of ConfigMap-style nesting */
    struct dirent **names = NULL;
    int n = scandir(s->cfg->policies, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..") &&
            (size_t)snprintf(path, sizeof path, "%s/%s", s->cfg->policies, names[i]->d_name) < sizeof path &&
            stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            inotify_add_watch(fd, path, mask);
        free(names[i]);
    }
    free(names);
    return fd;
}

/* The ConfigMaps the serving policies read (validate.images.allowFrom.configMap): one
 * field-selector watch cache each, never a watch of every ConfigMap. A reload that names
 * a new one starts its cache at once; until its first list the data is unknown and the
 * policy's failClosed decides. */
static void watch_configmap(void *ctx, const char *ns, const char *name)
{
    srv *s = ctx;
    ag_error err = {0};
    char what[600];
    snprintf(what, sizeof what, "%s/%s", ns, name);
    if (!ag_informers_for_one(s->informers, "v1", "configmaps", ns, name, &err))
        ag_log(AG_LOG_ERROR, "cannot watch a ConfigMap a policy reads: its data stays unknown (failClosed decides)",
               "configMap", what, "reason", err.msg, NULL);
}

static void watch_configmaps(srv *s)
{
    if (!s->informers)
        return;
    ag_policy_set *cur = ag_policy_holder_acquire(s->policies);
    ag_policy_configmaps(cur, watch_configmap, s);
    ag_policy_set_unref(cur);
}

/* "pid webhook-port metrics-port": lets tests and benchmarks listen on port 0 */
static void write_ready_file(srv *s, const char *path)
{
    if (!path || !*path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%d %u %u\n", (int)getpid(), ag_http_port(s->http, 0), ag_http_port(s->http, 1));
    fclose(f);
    rename(tmp, path);
}

/* The cluster view and the reconciler over one set of watch caches, when a cluster is
 * configured. */
static int start_cluster_view(srv *s, ag_error *err)
{
    ag_kube_config kc;
    ag_error kerr = {0};
    const char *how;
    if (s->cfg->kubeconfig && *s->cfg->kubeconfig) {
        if (ag_kube_config_load(s->cfg->kubeconfig, &kc, &kerr))
            return ag_error_set(err, AG_EINVAL, "--kubeconfig: %s", kerr.msg);
        how = "kubeconfig";
    } else if (ag_kube_config_in_cluster(NULL, &kc, &kerr) == 0) {
        how = "in-cluster";
    } else {
        ag_log(AG_LOG_INFO, "no cluster configured: admission is served from policies alone; the "
               "cluster view and the reconciler are off", NULL);
        return 0;
    }
    kc.watch_timeout_s = (int)s->cfg->watch_timeout_s;
    /* one cache per resource, whoever reads it (server/kube/informers.c) */
    ag_view view = {0};
    s->informers = ag_informers_new(&kc, &kerr);
    char *server = kc.server ? strdup(kc.server) : NULL;
    if (!s->informers || ag_informers_view(s->informers, &view, &kerr)) {
        ag_kube_config_clear(&kc);
        free(server);
        return ag_error_set(err, AG_ERR, "%s", kerr.msg);
    }
    ag_authz_options ao = {s->cfg->sar_timeout_ms, s->cfg->sar_cache_ms, 0, 0, 0};
    if (!(s->authz = ag_authz_new(&kc, &ao, &kerr))) {
        ag_kube_config_clear(&kc);
        free(server);
        return ag_error_set(err, AG_ERR, "%s", kerr.msg);
    }
    s->view.access_ctx = s->authz;
    s->view.access = ag_authz_view_access;
    watch_configmaps(s); /* before the caches start: they start with the others */

    /* every replica serves admission; only the Lease holder will reconcile */
    char ns[256] = "aimguard-system", ident[300], lease[600];
    if (s->cfg->system_namespace && *s->cfg->system_namespace) {
        snprintf(ns, sizeof ns, "%s", s->cfg->system_namespace);
    } else {
        FILE *f = fopen("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "r");
        if (f) {
            if (fgets(ns, sizeof ns, f))
                ns[strcspn(ns, "\n")] = '\0';
            fclose(f);
        }
    }
    const char *pod = getenv("POD_NAME");
    char host[200] = "aimguard";
    gethostname(host, sizeof host - 1);
    if (s->cfg->identity && *s->cfg->identity)
        snprintf(ident, sizeof ident, "%s", s->cfg->identity);
    else if (pod && *pod)
        snprintf(ident, sizeof ident, "%s", pod);
    else
        snprintf(ident, sizeof ident, "%s-%d", host, (int)getpid());
    snprintf(lease, sizeof lease, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/aimguard-leader", ns);
    if (s->cfg->reconcile) {
        ag_reconcile_config rcfg = s->cfg->reconcile_cfg;
        rcfg.system_namespace = ns; /* copied by the reconciler */
        rcfg.policies = s->policies;
        rcfg.metrics = s->metrics;
        if (!(s->reconciler = ag_reconciler_start(&kc, &rcfg, s->informers, &kerr))) {
            ag_kube_config_clear(&kc);
            free(server);
            return ag_error_set(err, AG_ERR, "%s", kerr.msg);
        }
    }
    if (s->cfg->audit_interval_s > 0) {
        ag_audit_config acfg = {s->cfg->audit_interval_s, s->cfg->audit_report_max, s->policies};
        if (!(s->auditor = ag_audit_start(&kc, &acfg, s->informers, &kerr))) {
            ag_kube_config_clear(&kc);
            free(server);
            return ag_error_set(err, AG_ERR, "%s", kerr.msg);
        }
    }
    if (ag_informers_start(s->informers, &kerr)) {
        ag_kube_config_clear(&kc);
        free(server);
        return ag_error_set(err, AG_ERR, "%s", kerr.msg);
    }
    /* the view reads the caches set up above: published once they all exist */
    s->view.ctx = view.ctx;
    s->view.get = view.get;
    ag_http_set_view(s->http, &s->view);
    ag_leader_config lc = {lease, ident, (int)s->cfg->lease_seconds, (int)(s->cfg->lease_seconds * 2 / 3),
                           s->cfg->lease_seconds >= 6 ? 2 : 1, on_leadership, s, on_lease_renewed};
    if (!(s->leader = ag_leader_start(&kc, &lc, &kerr))) {
        ag_kube_config_clear(&kc);
        free(server);
        return ag_error_set(err, AG_ERR, "%s", kerr.msg);
    }
    ag_metrics_leader(s->metrics, 0);
    ag_kube_config_clear(&kc);
    ag_log(AG_LOG_INFO, "cluster view on: watching namespaces and AIM objects (policies' namespaceSelector and "
           "clusterReferences); leader election on", "api", server, "config", how, "identity", ident, "lease", lease, "reconciler",
           !s->reconciler ? "off (--reconcile off)" : s->cfg->reconcile_cfg.unmanaged_only ?
           "unmanaged (reconciles, while this replica leads, only AIM objects no other controller manages)" :
           "on (reconciles while this replica leads)", "audit", s->auditor ?
           "on (judges existing objects into PolicyReports while this replica leads)" : "off (--audit-interval 0)",
           NULL);
    free(server);
    return 0;
}

/* job "certificates": a new certificate pair on disk is checked and swapped in */
static void job_certificates(void *ctx)
{
    reload_tls(ctx);
}

/* job "policies": the files' fingerprint changed: load them; a good set is published,
 * the reconciler resyncs (generated pod specs may change), and readiness turns on */
static void job_policies(void *ctx)
{
    srv *s = ctx;
    uint64_t nfp = policy_fingerprint(s->cfg->policies);
    if (nfp == s->fp)
        return;
    s->fp = nfp;
    if (load_policies(s, s->generation + 1) == 0) {
        s->generation++;
        watch_configmaps(s);
        ag_reconciler_resync(s->reconciler);
        if (!ag_http_ready(s->http)) {
            ag_http_set_ready(s->http);
            write_ready_file(s, s->cfg->ready_file);
        }
    }
    /* directories may have come or gone: watch the current ones */
    if (s->ifd >= 0)
        close(s->ifd);
    s->ifd = watch_setup(s);
}

/* job "exception-expiry" (daily): exceptions expiring within a week are logged, and
 * those expired since the load count as policy warnings from now on */
static void job_exception_expiry(void *ctx)
{
    srv *s = ctx;
    ag_policy_set *cur = ag_policy_holder_acquire(s->policies);
    report_exceptions(s, cur, 0);
    ag_policy_set_unref(cur);
}

int ag_serve_run(const ag_serve_config *cfg, ag_error *err)
{
    srv s = {0};
    s.cfg = cfg;
    int rc = 0;
    /* signals are taken synchronously by the control loop only */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    /* A review's memory (its body, its document, its answer) is freed when it is
     * answered, which leaves free space at the top of the request thread's heap; above
     * glibc's default 128 KiB it is handed back to the kernel and taken again by the next
     * review: a page fault per page per request (17 KB UPDATEs paid a third of their CPU
     * for it). Keep up to 8 MiB free per heap instead (the peak stays what the largest
     * review needed: docs/performance.md), and keep bodies up to 4 MiB (the largest
     * --max-body is 1 GiB, the default 3 MiB) in the heap rather than mmap'ing each. */
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    /* thousands of idle connections are a normal peak: make room for them */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    s.metrics = ag_metrics_new();
    s.policies = ag_policy_holder_new();
    ag_http_config hc = {cfg->max_body, cfg->threads, cfg->conn_timeout, cfg->max_connections, s.policies,
                         s.metrics};
    s.http = s.metrics && s.policies ? ag_http_new(&hc) : NULL;
    if (!s.http || sfd < 0) {
        rc = ag_error_set(err, AG_ENOMEM, "cannot set up the server (out of memory or fds)");
        goto out;
    }
    if (!(s.tls = ag_tls_new(cfg->tls_cert, cfg->tls_key, err))) {
        rc = err && err->code ? err->code : AG_ERR;
        goto out;
    }
    ag_tls_install(s.tls);
    ag_metrics_tls(s.metrics, 1, ag_tls_not_after(s.tls));
    s.generation = 1;
    s.fp = policy_fingerprint(cfg->policies);
    int have_policies = load_policies(&s, s.generation) == 0;
    if ((rc = ag_http_listen(s.http, cfg->listen, 1, 0, err)))
        goto out;
    int metrics_on = cfg->metrics_listen && *cfg->metrics_listen && strcmp(cfg->metrics_listen, "off");
    if (metrics_on && (rc = ag_http_listen(s.http, cfg->metrics_listen, !cfg->metrics_insecure, 1, err)))
        goto out;
    char when[32];
    snprintf(when, sizeof when, "%lld", (long long)ag_tls_not_after(s.tls));
    ag_log(AG_LOG_INFO, "aimguard serving", "version", AG_VERSION, "listen", cfg->listen,
           "metrics", metrics_on ? cfg->metrics_listen : "off", "metricsTLS",
           metrics_on && !cfg->metrics_insecure ? "true" : "false", "certificate",
           ag_tls_describe(s.tls), "certificateNotAfter", when, NULL);
    if ((rc = start_cluster_view(&s, err)))
        goto out;
    if (have_policies) {
        ag_http_set_ready(s.http);
        write_ready_file(&s, cfg->ready_file);
    } else {
        ag_log(AG_LOG_ERROR, "not ready: no valid policies yet; fix them and they load live",
               "policies", cfg->policies, NULL);
    }

    s.ifd = watch_setup(&s);
    /* the control loop's periodic work (docs/architecture.md lists it) */
    serve_job jobs[] = {
        {"certificates", 1000, 1, job_certificates, 0, 0},
        {"policies", 1000, 1, job_policies, 0, 0},
        {"exception-expiry", 24 * 3600 * 1000LL, 0, job_exception_expiry, 0, 0},
    };
    size_t njobs = sizeof jobs / sizeof jobs[0];
    serve_jobs_start(jobs, njobs, serve_now_ms());
    for (;;) {
        struct pollfd pf[2] = {{sfd, POLLIN, 0}, {s.ifd, POLLIN, 0}};
        int n = poll(pf, s.ifd >= 0 ? 2 : 1, serve_jobs_timeout(jobs, njobs, serve_now_ms()));
        if (n > 0 && (pf[0].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                ag_log(AG_LOG_INFO, "stopping: readiness off, finishing in-flight requests",
                       "signal", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
                break;
            }
        }
        if (n > 0 && s.ifd >= 0 && (pf[1].revents & POLLIN)) {
            char buf[8192];
            while (read(s.ifd, buf, sizeof buf) > 0)
                ;
            serve_jobs_kick(jobs, njobs, serve_now_ms() + RELOAD_DEBOUNCE_MS);
        }
        serve_jobs_run_due(jobs, njobs, serve_now_ms(), &s);
    }
    if (s.ifd >= 0)
        close(s.ifd);

    ag_http_quiesce(s.http);
    for (unsigned i = 0; i < cfg->shutdown_grace * 10 && ag_http_inflight(s.http) > 0; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ag_log(AG_LOG_INFO, "stopped", NULL);
out:
    ag_http_stop_webhook(s.http);
    ag_leader_stop(s.leader);
    ag_informers_stop(s.informers); /* no handler (the reconciler's) runs after this */
    ag_reconciler_stop(s.reconciler);
    ag_audit_stop(s.auditor);
    ag_informers_free(s.informers);
    ag_authz_free(s.authz);
    ag_http_free(s.http);
    ag_tls_free(s.tls);
    ag_policy_holder_free(s.policies);
    ag_metrics_free(s.metrics);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
