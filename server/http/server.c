/* The webhook and metrics listeners (libmicrohttpd + GnuTLS) and the admission route. */
#include "aimguard/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <errno.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "aimguard/admission.h"
#include "aimguard/buf.h"
#include "aimguard/jsonio.h"
#include "aimguard/log.h"
#include "aimguard/policy.h"
#include "aimguard/tls.h"

/* The listeners' state; request threads read it, serve's control loop sets it. */
struct ag_http {
    ag_http_config cfg;
    ag_policy_holder *policies;
    ag_metrics *metrics;
    atomic_int ready, stopping, inflight;
    atomic_ullong generation;
    _Atomic(const ag_view *) view; /* published once the cluster view is complete */
    struct MHD_Daemon *web, *mon;
    /* libmicrohttpd's last message, kept so a listener that cannot start says why */
    pthread_mutex_t mhd_log_mu;
    char mhd_last[256];
};
typedef struct ag_http srv;

enum route { R_NONE, R_MUTATE, R_VALIDATE, R_HEALTHZ, R_READYZ, R_METRICS };

typedef struct req_ctx {
    enum route route;
    char *body;
    size_t len, cap;
    int too_large;
    unsigned reject; /* an HTTP status to answer with once the request is read */
    struct timespec start;
    int counted;
} req_ctx;

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *type,
                               char *body, size_t len, int must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "POST");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *const route_names[] = {"other", "mutate", "validate", "healthz", "readyz", "metrics"};

/* One request as the finishing point sees it: where it went and when it started. */
typedef struct exchange {
    enum route route;
    const char *method, *url;
    const struct timespec *start; /* NULL: refused before anything was read (0 s) */
} exchange;

static void count_audits(srv *s, const ag_decision *d)
{
    const char *key;
    json_t *v;
    json_object_foreach(d->audit, key, v) {
        const char *dot = strchr(key, '.');
        if (dot && strncmp(dot, ".exception.", 11)) {
            char pol[64];
            snprintf(pol, sizeof pol, "%.*s", (int)(dot - key), key);
            ag_metrics_audit(s->metrics, pol);
        }
    }
}

/* Per-rule results from the decision's findings (one per violation): one result per
 * (policy, rule) of the request, fail when any of its violations is enforce or audit,
 * warn when all are warn. The decider walks policy by policy and block by block (a
 * generic rule at a time), so the violations of one rule are next to each other. Passing
 * rules are not counted here: AG_MODE_RESULTS would give them, at a cost to every request
 * (test/bench/bench_results.c; docs/operations.md). */
static void count_results(srv *s, const ag_decision *d)
{
    for (size_t i = 0; i < d->nfindings;) {
        const ag_finding *f = &d->findings[i];
        int fail = 0;
        size_t j = i;
        for (; j < d->nfindings && !strcmp(d->findings[j].policy, f->policy) && !strcmp(d->findings[j].rule, f->rule);
             j++)
            fail |= d->findings[j].action != AG_ACTION_WARN;
        ag_metrics_policy_result(s->metrics, f->policy, f->rule, f->severity, fail ? "fail" : "warn");
        i = j;
    }
}

/* The findings as the log line's `violations`: policy, rule, check, action, field,
 * severity and category, written as one JSON array. */
static void write_findings(ag_buf *b, const ag_decision *d)
{
    static const char *const actions[] = {"enforce", "warn", "audit"};
    ag_buf_addn(b, "[", 1);
    for (size_t i = 0; i < d->nfindings; i++) {
        const ag_finding *f = &d->findings[i];
        ag_buf_add(b, i ? ",{\"policy\":" : "{\"policy\":");
        ag_json_write_text(b, f->policy);
        ag_buf_add(b, ",\"rule\":");
        ag_json_write_text(b, f->rule);
        ag_buf_add(b, ",\"check\":");
        ag_json_write_text(b, f->check);
        ag_buf_add(b, ",\"action\":\"");
        ag_buf_add(b, actions[f->action >= 0 && f->action <= 2 ? f->action : 0]);
        ag_buf_add(b, "\"");
        if (f->field) {
            ag_buf_add(b, ",\"field\":");
            ag_json_write_text(b, f->field);
        }
        if (f->severity) {
            ag_buf_add(b, ",\"severity\":");
            ag_json_write_text(b, f->severity);
        }
        if (f->category) {
            ag_buf_add(b, ",\"category\":");
            ag_json_write_text(b, f->category);
        }
        ag_buf_addn(b, "}", 1);
    }
    ag_buf_addn(b, "]", 1);
}

/* The request's log line, written field by field (ag_log_begin). Beside the decision:
 * `reason`, the text the client was given (the denial, else the warnings, else the audit
 * annotations: policy, rule, message and field, never a value), and `violations`, each
 * violation's policy, rule, check, action, field, severity and category (when the policy
 * gives them) for machines. */
static void log_decision(const exchange *x, const ag_admission_result *a, double dur)
{
    const ag_request *req = &a->req;
    const ag_decision *d = &a->decision;
    ag_log_line l;
    if (ag_log_begin(&l, AG_LOG_INFO, "admission"))
        return;
    ag_log_str(&l, "uid", req->uid);
    ag_log_str(&l, "route", route_names[x->route]);
    ag_log_str(&l, "kind", req->kind);
    ag_log_str(&l, "namespace", req->namespace_);
    ag_log_str(&l, "name", req->name);
    ag_log_str(&l, "operation", req->operation);
    ag_log_str(&l, "user", req->username);
    ag_log_str(&l, "decision", ag_outcome_name(a->outcome));
    ag_log_real(&l, "duration_ms", dur * 1000.0);
    ag_log_int(&l, "policyGeneration", (long long)a->generation);
    ag_log_bool(&l, "dryRun", req->dry_run);
    if (d->message) {
        ag_log_str(&l, "reason", d->message);
    } else if (json_array_size(d->warnings) || d->nfindings) {
        ag_buf why = {0};
        for (size_t i = 0; i < json_array_size(d->warnings); i++)
            ag_buf_printf(&why, "%s%s", why.len ? "; " : "", json_string_value(json_array_get(d->warnings, i)));
        const char *key;
        json_t *v;
        json_object_foreach(d->audit, key, v) {
            if (!strstr(key, ".exception."))
                ag_buf_printf(&why, "%s%s", why.len ? "; " : "", json_string_value(v));
        }
        if (why.len && !why.oom)
            ag_log_str(&l, "reason", why.p);
        ag_buf_clear(&why);
    }
    if (d->nfindings)
        write_findings(ag_log_value(&l, "violations"), d);
    if (d->patch_ops)
        ag_log_int(&l, "patchOps", (long long)d->patch_ops);
    ag_log_end(&l);
}

/* Every answer of both listeners ends here, once: it is counted (by route and status,
 * and admission routes also by decision), logged, then queued. A decided admission
 * logs its decision at info; a refusal (404, 405, 413, 415, a bad body, no policies)
 * logs why at warn (error for 5xx); probes and scrapes log at debug only, since the
 * kubelet and Prometheus ask every few seconds. */
static enum MHD_Result finish(srv *s, struct MHD_Connection *c, const exchange *x, unsigned status,
                              const char *type, char *body, size_t len, int must_free,
                              const ag_admission_result *adm)
{
    if (!body && must_free) { /* its maker ran out of memory */
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        type = "text/plain; charset=utf-8";
        body = (char *)"out of memory\n";
        len = strlen(body);
        must_free = 0;
    }
    double dur = x->start ? since(x->start) : 0.0;
    const char *route = route_names[x->route];
    ag_metrics_response(s->metrics, route, status);
    int admission = x->route == R_MUTATE || x->route == R_VALIDATE;
    int decided = adm && adm->decided;
    if (admission) {
        ag_metrics_request(s->metrics, route, decided ? adm->req.kind : "", decided ? adm->req.operation : "",
                           decided ? ag_outcome_name(adm->outcome) : "error", dur);
        if (decided) {
            count_audits(s, &adm->decision);
            count_results(s, &adm->decision);
        }
    }
    if (decided) {
        if (ag_log_enabled(AG_LOG_INFO))
            log_decision(x, adm, dur);
    } else if (adm && !adm->decoded) {
        ag_log(AG_LOG_WARN, "bad admission request", "route", route, "reason", adm->err.msg, NULL);
    } else {
        int probe = x->route == R_HEALTHZ || x->route == R_READYZ || x->route == R_METRICS;
        ag_log_level lv = probe || status < 400 ? AG_LOG_DEBUG : status >= 500 ? AG_LOG_ERROR : AG_LOG_WARN;
        if (ag_log_enabled(lv)) {
            char code[8], ms[32], path[160], reason[256] = "";
            snprintf(code, sizeof code, "%u", status);
            snprintf(ms, sizeof ms, "%.3f", dur * 1000.0);
            /* the path is the client's text: cut, never used as a label */
            snprintf(path, sizeof path, "%.128s", x->url ? x->url : "");
            if (status >= 400 && body && !strncmp(type, "text/", 5))
                snprintf(reason, sizeof reason, "%.*s", (int)strcspn(body, "\n"), body);
            ag_log(lv, status >= 400 ? "request refused" : "request", "route", route, "method",
                   x->method ? x->method : "", "path", path, "status", code, "duration_ms", ms, "reason",
                   *reason ? reason : NULL, NULL);
        }
    }
    return respond(c, status, type, body, len, must_free);
}

static enum MHD_Result reply_text(srv *s, struct MHD_Connection *c, const exchange *x, unsigned code,
                                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result reply_text(srv *s, struct MHD_Connection *c, const exchange *x, unsigned code,
                                  const char *fmt, ...)
{
    char *buf = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return finish(s, c, x, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", NULL, 0, 1, NULL);
    return finish(s, c, x, code, "text/plain; charset=utf-8", buf, (size_t)n, 1, NULL);
}

static enum route route_of(const char *url)
{
    if (!strcmp(url, "/mutate")) return R_MUTATE;
    if (!strcmp(url, "/validate")) return R_VALIDATE;
    if (!strcmp(url, "/healthz")) return R_HEALTHZ;
    if (!strcmp(url, "/readyz")) return R_READYZ;
    return R_NONE;
}

static int json_content_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return !strncasecmp(ct, "application/json", n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The admission route: the one flow of admission/ (decode -> decide -> encode) on the
 * current snapshot and cluster view, then the finishing point. */
static enum MHD_Result admit(srv *s, struct MHD_Connection *c, const exchange *x, req_ctx *r)
{
    ag_policy_set *set = ag_policy_holder_acquire(s->policies);
    ag_admission_options opt = {x->route == R_MUTATE ? AG_MODE_MUTATE | AG_MODE_PATCH_TEXT : AG_MODE_VALIDATE, time(NULL), 1, 0,
                                JSON_COMPACT, 1, 1};
    ag_admission_result res;
    ag_admission_handle(set, atomic_load(&s->view), &opt, r->body, r->len, &res);
    ag_policy_set_unref(set);
    char *body = res.body;
    res.body = NULL; /* handed to libmicrohttpd, which frees it */
    enum MHD_Result ret = finish(s, c, x, (unsigned)res.status, res.content_type, body, res.len, 1, &res);
    ag_admission_result_clear(&res);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv *s = cls;
    req_ctx *r = *con_cls;
    if (!r) {
        /* The answer is given on the last call, once the request is complete:
         * libmicrohttpd closes a connection whose answer came before its body, and
         * the API server keeps its connections alive. Only an announced body over the
         * limit is refused at once, so that it is never read. */
        enum route rt = route_of(url);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if ((rt == R_MUTATE || rt == R_VALIDATE) && cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            exchange x = {rt, method, url, NULL};
            return reply_text(s, c, &x, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than the limit of %zu bytes\n",
                              s->cfg.max_body);
        }
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->route = rt;
        int is_post = !strcmp(method, "POST");
        int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        if (rt == R_NONE)
            r->reject = MHD_HTTP_NOT_FOUND;
        else if ((rt == R_HEALTHZ || rt == R_READYZ) && !is_get)
            r->reject = MHD_HTTP_METHOD_NOT_ALLOWED;
        else if ((rt == R_MUTATE || rt == R_VALIDATE) && !is_post)
            r->reject = MHD_HTTP_METHOD_NOT_ALLOWED;
        else if ((rt == R_MUTATE || rt == R_VALIDATE) &&
                 !json_content_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")))
            r->reject = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        if (rt == R_MUTATE || rt == R_VALIDATE) {
            atomic_fetch_add(&s->inflight, 1);
            ag_metrics_inflight(s->metrics, 1);
            r->counted = 1;
        }
        *con_cls = r;
        return MHD_YES;
    }
    exchange x = {r->route, method, url, &r->start};
    if (r->reject || r->route == R_HEALTHZ || r->route == R_READYZ) {
        if (*upload_size) {
            *upload_size = 0; /* the body of a rejected request is read and dropped */
            return MHD_YES;
        }
        if (r->reject == MHD_HTTP_NOT_FOUND)
            return reply_text(s, c, &x, MHD_HTTP_NOT_FOUND, "not found: POST /mutate, POST /validate, "
                                                           "GET /healthz, GET /readyz\n");
        if (r->reject == MHD_HTTP_METHOD_NOT_ALLOWED)
            return reply_text(s, c, &x, MHD_HTTP_METHOD_NOT_ALLOWED,
                              r->route == R_HEALTHZ || r->route == R_READYZ
                                  ? "use GET\n" : "%s takes POST with an AdmissionReview\n", url);
        if (r->reject == MHD_HTTP_UNSUPPORTED_MEDIA_TYPE)
            return reply_text(s, c, &x, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "Content-Type must be application/json\n");
        if (r->route == R_HEALTHZ)
            return reply_text(s, c, &x, MHD_HTTP_OK, "ok\n");
        int ready = atomic_load(&s->ready) && !atomic_load(&s->stopping);
        return reply_text(s, c, &x, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                          "{\"ready\":%s,\"policyGeneration\":%llu,\"stopping\":%s}\n",
                          ready ? "true" : "false",
                          (unsigned long long)atomic_load(&s->generation),
                          atomic_load(&s->stopping) ? "true" : "false");
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large || r->len + n > s->cfg.max_body) {
            r->too_large = 1;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t nc = r->cap ? r->cap : 16384;
            while (nc < r->len + n + 1)
                nc *= 2;
            if (nc > s->cfg.max_body + 1)
                nc = s->cfg.max_body + 1;
            char *nb = realloc(r->body, nc);
            if (!nb)
                return MHD_NO;
            r->body = nb;
            r->cap = nc;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_large)
        return reply_text(s, c, &x, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than the limit of %zu bytes\n",
                          s->cfg.max_body);
    return admit(s, c, &x, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    srv *s = cls;
    req_ctx *r = *con_cls;
    if (!r)
        return;
    if (r->counted) {
        atomic_fetch_sub(&s->inflight, 1);
        ag_metrics_inflight(s->metrics, -1);
    }
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload_data, (void)upload_size, (void)con_cls;
    srv *s = cls;
    exchange x = {R_METRICS, method, url, NULL};
    if (strcmp(url, "/metrics")) {
        x.route = R_NONE;
        return reply_text(s, c, &x, MHD_HTTP_NOT_FOUND, "not found: GET /metrics\n");
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply_text(s, c, &x, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
    char *text = ag_metrics_render(s->metrics);
    return finish(s, c, &x, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, text ? strlen(text) : 0,
                  1, NULL);
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    srv *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (s) {
        pthread_mutex_lock(&s->mhd_log_mu);
        (void)ag_strfmt(s->mhd_last, sizeof s->mhd_last, "%s", msg); /* a cut message still says why */
        pthread_mutex_unlock(&s->mhd_log_mu);
    }
    ag_log(AG_LOG_DEBUG, "libmicrohttpd", "detail", msg, NULL);
}

/* What an operator can do about a bind or listen failure. */
static const char *bind_hint(int e, const struct sockaddr_storage *ss)
{
    unsigned port = ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                                    : ((const struct sockaddr_in *)ss)->sin_port);
    switch (e) {
    case EADDRINUSE:
        return " (another process listens on this port: 'ss -ltnp' shows which)";
    case EACCES:
    case EPERM:
        return port < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE; the defaults are 9443 "
                             "and 8443)"
                           : " (not permitted here: a security policy refuses the bind)";
    case EADDRNOTAVAIL:
        return " (the address is not one of this host's)";
    default:
        return "";
    }
}

/* The listening socket is made here, not by libmicrohttpd, so a failure says what the
 * kernel said (errno). SO_REUSEADDR lets a restart bind while old connections sit in
 * TIME_WAIT; SO_REUSEPORT is deliberately not set: a second aimguard on the same port
 * must fail loudly, not silently take half of the connections. */
static int open_listener(const char *listen_spec, const struct sockaddr_storage *ss, socklen_t len,
                         ag_error *err)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ag_error_set(err, AG_EIO, "cannot listen on %s: socket: %s", listen_spec, strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, SOMAXCONN)) {
        int e = errno;
        close(fd);
        ag_error_set(err, AG_EIO, "cannot listen on %s: %s%s", listen_spec, strerror(e), bind_hint(e, ss));
        return -1;
    }
    return fd;
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, int *v6,
                 ag_error *err)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return ag_error_set(err, AG_EINVAL, "listen address '%s': expected [IPv6]:PORT", spec);
        snprintf(host, sizeof host, "%.*s", (int)(close - spec - 1), spec + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon)
            return ag_error_set(err, AG_EINVAL, "listen address '%s': expected HOST:PORT", spec);
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return ag_error_set(err, AG_EINVAL, "listen address '%s': bad port", spec);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int g = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (g || !res)
        return ag_error_set(err, AG_EINVAL, "listen address '%s': %s", spec, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

/* TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, server's order. */
#define AG_TLS_PRIORITIES \
    "SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:" \
    "+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:" \
    "-RSA-PSK:-DHE-RSA:%SERVER_PRECEDENCE"

static struct MHD_Daemon *start_daemon(srv *s, const char *listen, int tls, int metrics, ag_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int v6 = 0;
    if (parse_listen(listen, &ss, &len, &v6, err))
        return NULL;
    int fd = open_listener(listen, &ss, len, err);
    if (fd < 0)
        return NULL;
    pthread_mutex_lock(&s->mhd_log_mu);
    s->mhd_last[0] = '\0';
    pthread_mutex_unlock(&s->mhd_log_mu);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0) | (v6 ? MHD_USE_IPv6 : 0);
    unsigned threads = metrics ? 1 : s->cfg.threads;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s}, /* first: it logs the rest */
        {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
        {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_CONNECTION_MEMORY_INCREMENT,
         threads > 1 ? threads : 1024, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.conn_timeout, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, metrics ? 64 : s->cfg.max_connections, NULL},
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
        {tls ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0, (void *)AG_TLS_PRIORITIES},
        {tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, 0, ag_tls_callback()},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL,
                                            metrics ? on_metrics : on_request, s,
                                            MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!d) {
        close(fd);
        pthread_mutex_lock(&s->mhd_log_mu);
        ag_error_set(err, AG_EIO, "cannot start the %s listener on %s: %s%s", metrics ? "metrics" : "webhook",
                     listen, *s->mhd_last ? s->mhd_last : "libmicrohttpd gave no reason",
                     tls ? " (TLS: the certificate pair, or the TLS priorities of this GnuTLS)" : "");
        pthread_mutex_unlock(&s->mhd_log_mu);
    }
    return d;
}

ag_http *ag_http_new(const ag_http_config *c)
{
    ag_http *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->cfg = *c;
    h->policies = c->policies;
    h->metrics = c->metrics;
    pthread_mutex_init(&h->mhd_log_mu, NULL);
    return h;
}

int ag_http_listen(ag_http *h, const char *listen, int tls, int metrics, ag_error *err)
{
    struct MHD_Daemon *d = start_daemon(h, listen, tls, metrics, err);
    if (!d)
        return AG_EIO;
    if (metrics)
        h->mon = d;
    else
        h->web = d;
    return 0;
}

unsigned ag_http_port(const ag_http *h, int metrics)
{
    struct MHD_Daemon *d = h ? (metrics ? h->mon : h->web) : NULL;
    const union MHD_DaemonInfo *i = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    return i ? i->port : 0;
}

void ag_http_set_view(ag_http *h, const ag_view *view)
{
    atomic_store(&h->view, view);
}

void ag_http_set_generation(ag_http *h, uint64_t generation)
{
    atomic_store(&h->generation, generation);
}

void ag_http_set_ready(ag_http *h)
{
    atomic_store(&h->ready, 1);
}

int ag_http_ready(const ag_http *h)
{
    return atomic_load(&((ag_http *)h)->ready);
}

void ag_http_quiesce(ag_http *h)
{
    atomic_store(&h->stopping, 1);
    MHD_socket lsock = h->web ? MHD_quiesce_daemon(h->web) : MHD_INVALID_SOCKET;
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
}

unsigned ag_http_inflight(const ag_http *h)
{
    int n = atomic_load(&((ag_http *)h)->inflight);
    return n > 0 ? (unsigned)n : 0;
}

void ag_http_stop_webhook(ag_http *h)
{
    if (h && h->web) {
        MHD_stop_daemon(h->web);
        h->web = NULL;
    }
}

void ag_http_free(ag_http *h)
{
    if (!h)
        return;
    ag_http_stop_webhook(h);
    if (h->mon)
        MHD_stop_daemon(h->mon);
    pthread_mutex_destroy(&h->mhd_log_mu);
    free(h);
}
