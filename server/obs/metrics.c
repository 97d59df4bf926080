#include "aimguard/metrics.h"

#include "aimguard/buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 512
#define LABEL_MAX 64
#define NBUCKETS 12

static const double buckets[NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                         0.01,   0.025,   0.05,   0.1,   0.5,    1.0};

typedef struct series {
    char route[16], kind[LABEL_MAX], operation[16], decision[16];
    atomic_ullong count;
} series;

typedef struct histo {
    atomic_ullong bucket[NBUCKETS];
    atomic_ullong count;
    atomic_ullong sum_ns;
} histo;

typedef struct audit_series {
    char policy[LABEL_MAX];
    atomic_ullong count;
} audit_series;

/* Per-rule results of validations, by policy, rule and result: the label values come from
 * the loaded policies (finite), and the table is bounded anyway: a reload renaming rules
 * keeps the old series (counters are never removed), so past RESULT_SERIES_MAX distinct
 * series further ones count under policy="_other", rule="_other". An open-addressing hash
 * table: a request counts each of its results without a lock; a new series is added under
 * `grow` and published by its `used` flag. */
#define RESULT_SLOTS 2048 /* a power of two, twice RESULT_SERIES_MAX: probes stay short */
#define RESULT_SERIES_MAX 1024
typedef struct result_series {
    atomic_int used;
    char policy[LABEL_MAX], rule[LABEL_MAX], result[8], severity[10];
    atomic_ullong count;
} result_series;

/* Responses by route and status: a fixed grid, so neither a hostile path nor a status
 * aimguard never sends can grow it. */
static const char *const resp_routes[] = {"mutate", "validate", "healthz", "readyz", "metrics", "other"};
static const unsigned resp_codes[] = {200, 400, 404, 405, 413, 415, 500, 503, 0};
#define NROUTES (sizeof resp_routes / sizeof resp_routes[0])
#define NCODES (sizeof resp_codes / sizeof resp_codes[0])

struct ag_metrics {
    pthread_mutex_t grow;
    atomic_ullong responses[NROUTES][NCODES];
    series req[MAX_SERIES];
    atomic_size_t nreq;
    audit_series audit[64];
    atomic_size_t naudit;
    result_series results[RESULT_SLOTS];
    size_t nresults;                /* under `grow` */
    histo lat_mutate, lat_validate;
    atomic_llong inflight;
    atomic_ullong reload_ok, reload_fail, generation;
    atomic_llong reload_when;
    atomic_int last_reload_ok;      /* -1 before the first load */
    atomic_ullong failing_files;
    char digest[80];                /* of the serving set, under `grow` */
    atomic_ullong policy_warnings;
    atomic_ullong tls_fail;
    atomic_llong tls_not_after;
    atomic_int tls_ok;              /* -1 before the first pair */
    atomic_int leader;
    atomic_int reconciler;          /* 1 once a reconciler reports */
    atomic_ullong rec_ok, rec_err, rec_writes, rec_watch_restarts;
    atomic_llong rec_depth;
    histo rec_lat;
};

ag_metrics *ag_metrics_new(void)
{
    ag_metrics *m = calloc(1, sizeof *m);
    if (m) {
        pthread_mutex_init(&m->grow, NULL);
        atomic_store(&m->leader, -1);
        atomic_store(&m->last_reload_ok, -1);
        atomic_store(&m->tls_ok, -1);
    }
    return m;
}

void ag_metrics_free(ag_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->grow);
    free(m);
}

/* Label values end up inside quotes in the exposition: keep them to a safe alphabet
 * so a crafted kind cannot inject series or break the format. */
static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src && *src && i + 1 < cap; src++) {
        char c = *src;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_' || c == '/';
        dst[i++] = ok ? c : '_';
    }
    dst[i] = '\0';
}

static void observe(histo *h, double seconds)
{
    for (int i = 0; i < NBUCKETS; i++)
        if (seconds <= buckets[i])
            atomic_fetch_add(&h->bucket[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (unsigned long long)(seconds * 1e9));
}

static series *find_series(ag_metrics *m, const char *r, const char *k, const char *o,
                           const char *d)
{
    size_t n = atomic_load_explicit(&m->nreq, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        series *s = &m->req[i];
        if (!strcmp(s->kind, k) && !strcmp(s->route, r) && !strcmp(s->operation, o) &&
            !strcmp(s->decision, d))
            return s;
    }
    return NULL;
}

void ag_metrics_request(ag_metrics *m, const char *route, const char *kind,
                        const char *operation, const char *decision, double seconds)
{
    if (!m)
        return;
    char r[16], k[LABEL_MAX], o[16], d[16];
    sanitize(r, sizeof r, route);
    sanitize(k, sizeof k, kind && *kind ? kind : "_none");
    sanitize(o, sizeof o, operation && *operation ? operation : "_none");
    sanitize(d, sizeof d, decision);
    series *s = find_series(m, r, k, o, d);
    if (!s) {
        pthread_mutex_lock(&m->grow);
        s = find_series(m, r, k, o, d);
        size_t n = atomic_load(&m->nreq);
        if (!s && n >= MAX_SERIES - 1) {
            snprintf(k, sizeof k, "_other");
            s = find_series(m, r, k, o, d);
        }
        if (!s && n < MAX_SERIES) {
            s = &m->req[n];
            memcpy(s->route, r, sizeof r);
            memcpy(s->kind, k, sizeof k);
            memcpy(s->operation, o, sizeof o);
            memcpy(s->decision, d, sizeof d);
            atomic_store_explicit(&m->nreq, n + 1, memory_order_release);
        }
        pthread_mutex_unlock(&m->grow);
    }
    if (s)
        atomic_fetch_add(&s->count, 1);
    observe(strcmp(r, "mutate") == 0 ? &m->lat_mutate : &m->lat_validate, seconds);
}

void ag_metrics_response(ag_metrics *m, const char *route, unsigned code)
{
    if (!m)
        return;
    size_t r = 0, c = 0;
    while (r + 1 < NROUTES && strcmp(resp_routes[r], route ? route : ""))
        r++;
    while (c + 1 < NCODES && resp_codes[c] != code)
        c++;
    atomic_fetch_add(&m->responses[r][c], 1);
}

static void render_responses(ag_buf *b, ag_metrics *m)
{
    ag_buf_printf(b, "# HELP aimguard_http_responses_total HTTP responses of the webhook and metrics listeners by "
                     "route and status code, refusals (404, 405, 413, 415, 400) included.\n"
                     "# TYPE aimguard_http_responses_total counter\n");
    for (size_t r = 0; r < NROUTES; r++)
        for (size_t c = 0; c < NCODES; c++) {
            unsigned long long n = atomic_load(&m->responses[r][c]);
            if (!n)
                continue;
            char code[16] = "other";
            if (resp_codes[c])
                snprintf(code, sizeof code, "%u", resp_codes[c]);
            ag_buf_printf(b, "aimguard_http_responses_total{route=\"%s\",code=\"%s\"} %llu\n", resp_routes[r],
                          code, n);
        }
}

void ag_metrics_inflight(ag_metrics *m, int delta)
{
    if (m)
        atomic_fetch_add(&m->inflight, delta);
}

void ag_metrics_policy_reload(ag_metrics *m, int ok, uint64_t generation, int64_t when)
{
    if (!m)
        return;
    if (ok) {
        atomic_fetch_add(&m->reload_ok, 1);
        atomic_store(&m->generation, generation);
        atomic_store(&m->reload_when, when);
    } else {
        atomic_fetch_add(&m->reload_fail, 1);
    }
}

void ag_metrics_policy_state(ag_metrics *m, int ok, size_t failing_files, const char *digest)
{
    if (!m)
        return;
    atomic_store(&m->last_reload_ok, ok ? 1 : 0);
    atomic_store(&m->failing_files, (unsigned long long)failing_files);
    if (ok && digest) {
        pthread_mutex_lock(&m->grow);
        sanitize(m->digest, sizeof m->digest, digest);
        pthread_mutex_unlock(&m->grow);
    }
}

void ag_metrics_policy_warnings(ag_metrics *m, size_t count)
{
    if (m)
        atomic_store(&m->policy_warnings, (unsigned long long)count);
}

void ag_metrics_audit(ag_metrics *m, const char *policy)
{
    if (!m)
        return;
    char p[LABEL_MAX];
    sanitize(p, sizeof p, policy);
    size_t n = atomic_load_explicit(&m->naudit, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m->audit[i].policy, p)) {
            atomic_fetch_add(&m->audit[i].count, 1);
            return;
        }
    pthread_mutex_lock(&m->grow);
    n = atomic_load(&m->naudit);
    size_t i = 0;
    for (; i < n && strcmp(m->audit[i].policy, p); i++)
        ;
    if (i == n && n < 64) {
        memcpy(m->audit[n].policy, p, sizeof p);
        atomic_store_explicit(&m->naudit, n + 1, memory_order_release);
    }
    if (i < 64)
        atomic_fetch_add(&m->audit[i].count, 1);
    pthread_mutex_unlock(&m->grow);
}

static uint32_t key_hash(const char *p, const char *r, const char *res)
{
    uint32_t h = 2166136261u; /* FNV-1a over the three labels, each with its NUL */
    const char *parts[] = {p, r, res};
    for (int i = 0; i < 3; i++) {
        const char *c = parts[i];
        do {
            h ^= (unsigned char)*c;
            h *= 16777619u;
        } while (*c++);
    }
    return h;
}

/* The series of the labels, or the empty slot where it would go (*empty), or NULL when
 * the table is full of other series. */
static result_series *find_result(ag_metrics *m, const char *p, const char *r, const char *res, const char *sev,
                                  uint32_t h, result_series **empty)
{
    *empty = NULL;
    for (size_t i = 0; i < RESULT_SLOTS; i++) {
        result_series *s = &m->results[(h + i) & (RESULT_SLOTS - 1)];
        if (!atomic_load_explicit(&s->used, memory_order_acquire)) {
            *empty = s;
            return NULL;
        }
        if (!strcmp(s->policy, p) && !strcmp(s->rule, r) && !strcmp(s->result, res) && !strcmp(s->severity, sev))
            return s;
    }
    return NULL;
}

void ag_metrics_policy_result(ag_metrics *m, const char *policy, const char *rule, const char *severity,
                              const char *result)
{
    if (!m)
        return;
    char p[LABEL_MAX], r[LABEL_MAX], res[8], sev[10];
    sanitize(p, sizeof p, policy && *policy ? policy : "_none");
    sanitize(r, sizeof r, rule && *rule ? rule : "_none");
    sanitize(res, sizeof res, result && *result ? result : "_none");
    sanitize(sev, sizeof sev, severity ? severity : "");
    result_series *empty, *s = find_result(m, p, r, res, sev, key_hash(p, r, res), &empty);
    if (!s) {
        pthread_mutex_lock(&m->grow);
        s = find_result(m, p, r, res, sev, key_hash(p, r, res), &empty);
        if (!s && m->nresults >= RESULT_SERIES_MAX) {
            /* full: the overflow series (room is left for them: 4 results at most) */
            snprintf(p, sizeof p, "_other");
            snprintf(r, sizeof r, "_other");
            sev[0] = '\0';
            s = find_result(m, p, r, res, sev, key_hash(p, r, res), &empty);
        }
        if (!s && empty && m->nresults < RESULT_SERIES_MAX + 8) {
            s = empty;
            memcpy(s->policy, p, sizeof p);
            memcpy(s->rule, r, sizeof r);
            memcpy(s->result, res, sizeof res);
            memcpy(s->severity, sev, sizeof sev);
            m->nresults++;
            atomic_store_explicit(&s->used, 1, memory_order_release);
        }
        pthread_mutex_unlock(&m->grow);
    }
    if (s)
        atomic_fetch_add(&s->count, 1);
}

static void render_results(ag_buf *b, ag_metrics *m)
{
    ag_buf_printf(b, "# HELP aimguard_policy_results_total Rules of validated admission requests that found violations, "
                     "by policy, rule, severity (empty when the policy gives none) and result (fail, warn).\n"
                     "# TYPE aimguard_policy_results_total counter\n");
    for (size_t i = 0; i < RESULT_SLOTS; i++) {
        result_series *s = &m->results[i];
        if (atomic_load_explicit(&s->used, memory_order_acquire))
            ag_buf_printf(b, "aimguard_policy_results_total{policy=\"%s\",rule=\"%s\",severity=\"%s\",result=\"%s\"} %llu\n",
                          s->policy, s->rule, s->severity, s->result, atomic_load(&s->count));
    }
}

void ag_metrics_tls(ag_metrics *m, int ok, int64_t not_after)
{
    if (!m)
        return;
    atomic_store(&m->tls_ok, ok ? 1 : 0);
    if (ok)
        atomic_store(&m->tls_not_after, not_after);
    else
        atomic_fetch_add(&m->tls_fail, 1);
}

void ag_metrics_leader(ag_metrics *m, int leading)
{
    if (m)
        atomic_store(&m->leader, leading);
}

static void render_histo(ag_buf *b, const char *route, histo *h)
{
    for (int i = 0; i < NBUCKETS; i++)
        ag_buf_printf(b, "aimguard_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                      route, buckets[i], atomic_load(&h->bucket[i]));
    unsigned long long c = atomic_load(&h->count);
    ag_buf_printf(b, "aimguard_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route,
                  c);
    ag_buf_printf(b, "aimguard_request_duration_seconds_sum{route=\"%s\"} %.9f\n", route,
                  (double)atomic_load(&h->sum_ns) / 1e9);
    ag_buf_printf(b, "aimguard_request_duration_seconds_count{route=\"%s\"} %llu\n", route, c);
}

void ag_metrics_reconcile(ag_metrics *m, int ok, double seconds)
{
    if (!m)
        return;
    atomic_store(&m->reconciler, 1);
    atomic_fetch_add(ok ? &m->rec_ok : &m->rec_err, 1);
    observe(&m->rec_lat, seconds);
}

void ag_metrics_reconcile_state(ag_metrics *m, size_t depth, uint64_t writes, uint64_t watch_restarts)
{
    if (!m)
        return;
    atomic_store(&m->reconciler, 1);
    atomic_store(&m->rec_depth, (long long)depth);
    atomic_store(&m->rec_writes, writes);
    atomic_store(&m->rec_watch_restarts, watch_restarts);
}

static void render_reconciler(ag_buf *b, ag_metrics *m)
{
    ag_buf_printf(b, "# HELP aimguard_reconcile_queue_depth Keys waiting in the reconciler's work queue.\n"
                     "# TYPE aimguard_reconcile_queue_depth gauge\naimguard_reconcile_queue_depth %lld\n",
                  atomic_load(&m->rec_depth));
    ag_buf_printf(b, "# HELP aimguard_reconcile_total Reconcile passes by result.\n"
                     "# TYPE aimguard_reconcile_total counter\n"
                     "aimguard_reconcile_total{result=\"success\"} %llu\n"
                     "aimguard_reconcile_total{result=\"error\"} %llu\n",
                  atomic_load(&m->rec_ok), atomic_load(&m->rec_err));
    ag_buf_printf(b, "# HELP aimguard_reconcile_writes_total Writes (create, patch, status) the "
                     "reconciler sent to the API server.\n# TYPE aimguard_reconcile_writes_total counter\n"
                     "aimguard_reconcile_writes_total %llu\n", atomic_load(&m->rec_writes));
    ag_buf_printf(b, "# HELP aimguard_watch_restarts_total Watch streams restarted by the reconciler's "
                     "caches.\n# TYPE aimguard_watch_restarts_total counter\n"
                     "aimguard_watch_restarts_total %llu\n", atomic_load(&m->rec_watch_restarts));
    histo *h = &m->rec_lat;
    ag_buf_printf(b, "# HELP aimguard_reconcile_duration_seconds Time of one reconcile pass.\n"
                     "# TYPE aimguard_reconcile_duration_seconds histogram\n");
    for (int i = 0; i < NBUCKETS; i++)
        ag_buf_printf(b, "aimguard_reconcile_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i],
                      atomic_load(&h->bucket[i]));
    unsigned long long c = atomic_load(&h->count);
    ag_buf_printf(b, "aimguard_reconcile_duration_seconds_bucket{le=\"+Inf\"} %llu\n", c);
    ag_buf_printf(b, "aimguard_reconcile_duration_seconds_sum %.9f\n", (double)atomic_load(&h->sum_ns) / 1e9);
    ag_buf_printf(b, "aimguard_reconcile_duration_seconds_count %llu\n", c);
}

char *ag_metrics_render(ag_metrics *m)
{
    ag_buf b = {0};
    ag_buf_printf(&b, "# HELP aimguard_build_info Build information.\n# TYPE aimguard_build_info gauge\n"
                      "aimguard_build_info{version=\"%s\"} 1\n", AG_VERSION);
    ag_buf_printf(&b, "# HELP aimguard_requests_total Admission requests by route, kind, operation and "
                      "decision.\n# TYPE aimguard_requests_total counter\n");
    size_t n = atomic_load_explicit(&m->nreq, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        series *s = &m->req[i];
        ag_buf_printf(&b, "aimguard_requests_total{route=\"%s\",kind=\"%s\",operation=\"%s\","
                          "decision=\"%s\"} %llu\n", s->route, s->kind, s->operation, s->decision,
                      atomic_load(&s->count));
    }
    ag_buf_printf(&b, "# HELP aimguard_request_duration_seconds Admission decision latency, from body "
                      "received to response queued.\n# TYPE aimguard_request_duration_seconds histogram\n");
    render_histo(&b, "mutate", &m->lat_mutate);
    render_histo(&b, "validate", &m->lat_validate);
    render_responses(&b, m);
    render_results(&b, m);
    ag_buf_printf(&b, "# HELP aimguard_inflight_requests Admission requests being decided.\n"
                      "# TYPE aimguard_inflight_requests gauge\naimguard_inflight_requests %lld\n",
                  atomic_load(&m->inflight));
    ag_buf_printf(&b, "# HELP aimguard_audit_events_total Violations admitted under action audit.\n"
                      "# TYPE aimguard_audit_events_total counter\n");
    n = atomic_load_explicit(&m->naudit, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        ag_buf_printf(&b, "aimguard_audit_events_total{policy=\"%s\"} %llu\n", m->audit[i].policy,
                      atomic_load(&m->audit[i].count));
    ag_buf_printf(&b, "# HELP aimguard_policy_reload_total Successful policy loads.\n"
                      "# TYPE aimguard_policy_reload_total counter\naimguard_policy_reload_total %llu\n",
                  atomic_load(&m->reload_ok));
    ag_buf_printf(&b, "# HELP aimguard_policy_reload_failures_total Policy loads rejected (the previous "
                      "policies kept serving).\n# TYPE aimguard_policy_reload_failures_total counter\n"
                      "aimguard_policy_reload_failures_total %llu\n", atomic_load(&m->reload_fail));
    ag_buf_printf(&b, "# HELP aimguard_policy_generation Generation of the policy snapshot serving.\n"
                      "# TYPE aimguard_policy_generation gauge\naimguard_policy_generation %llu\n",
                  atomic_load(&m->generation));
    ag_buf_printf(&b, "# HELP aimguard_policy_warnings Warnings of the serving policies: parts that cannot fire as "
                      "written (aimguard check lists them).\n"
                      "# TYPE aimguard_policy_warnings gauge\naimguard_policy_warnings %llu\n",
                  atomic_load(&m->policy_warnings));
    ag_buf_printf(&b, "# HELP aimguard_policy_last_reload_success_timestamp_seconds When the serving "
                      "policies were loaded.\n# TYPE aimguard_policy_last_reload_success_timestamp_seconds"
                      " gauge\naimguard_policy_last_reload_success_timestamp_seconds %lld\n",
                  atomic_load(&m->reload_when));
    /* state, not events: an alert on these fires exactly while the files on disk are
     * refused, whatever happened before (a counter's increase() clears after its window
     * while the broken file is still deployed) */
    if (atomic_load(&m->last_reload_ok) >= 0)
        ag_buf_printf(&b, "# HELP aimguard_policy_last_reload_ok 1 when the policy files on disk were "
                          "loaded, 0 while they are refused (the last good set keeps serving).\n"
                          "# TYPE aimguard_policy_last_reload_ok gauge\naimguard_policy_last_reload_ok %d\n"
                          "# HELP aimguard_policy_failing_files Policy files the last load refused (0 "
                          "when it succeeded).\n# TYPE aimguard_policy_failing_files gauge\n"
                          "aimguard_policy_failing_files %llu\n",
                      atomic_load(&m->last_reload_ok), atomic_load(&m->failing_files));
    pthread_mutex_lock(&m->grow);
    if (m->digest[0])
        ag_buf_printf(&b, "# HELP aimguard_policy_info The serving policy set: digest of its files' "
                          "names and contents (equal on replicas serving the same policies).\n"
                          "# TYPE aimguard_policy_info gauge\naimguard_policy_info{digest=\"%s\"} 1\n",
                      m->digest);
    pthread_mutex_unlock(&m->grow);
    ag_buf_printf(&b, "# HELP aimguard_tls_cert_expiry_timestamp_seconds notAfter of the serving "
                      "certificate.\n# TYPE aimguard_tls_cert_expiry_timestamp_seconds gauge\n"
                      "aimguard_tls_cert_expiry_timestamp_seconds %lld\n", atomic_load(&m->tls_not_after));
    ag_buf_printf(&b, "# HELP aimguard_tls_reload_failures_total Certificate pairs refused on reload.\n"
                      "# TYPE aimguard_tls_reload_failures_total counter\n"
                      "aimguard_tls_reload_failures_total %llu\n", atomic_load(&m->tls_fail));
    if (atomic_load(&m->tls_ok) >= 0)
        ag_buf_printf(&b, "# HELP aimguard_tls_last_reload_ok 0 while the certificate pair on disk is refused "
                          "(the previous pair keeps serving), 1 once a pair is loaded.\n"
                          "# TYPE aimguard_tls_last_reload_ok gauge\naimguard_tls_last_reload_ok %d\n",
                      atomic_load(&m->tls_ok));
    if (atomic_load(&m->leader) >= 0)
        ag_buf_printf(&b, "# HELP aimguard_leader 1 while this replica holds the leader Lease (only the "
                          "leader reconciles).\n# TYPE aimguard_leader gauge\naimguard_leader %d\n",
                      atomic_load(&m->leader));
    if (atomic_load(&m->reconciler))
        render_reconciler(&b, m);
    return ag_buf_take(&b);
}
