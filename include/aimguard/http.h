/* The HTTP layer: the webhook listener (POST /mutate, /validate; GET /healthz, /readyz)
 * and the metrics listener (GET /metrics), libmicrohttpd over GnuTLS. It answers; the
 * process around it (policies, certificates, cluster view, reloads) is serve/'s.
 *
 * Ownership: ag_http_new() returns a handle the caller frees with ag_http_free(), which
 * stops whatever listener still runs. The policy holder, metrics and view are borrowed
 * and must outlive the listeners. TLS certificates come from the store installed with
 * ag_tls_install() (aimguard/tls.h).
 *
 * Threads: libmicrohttpd's pool (one epoll thread per request thread) answers the
 * webhook, one thread the metrics; they read immutable snapshots and atomics only. The
 * setters below are for the one thread that owns the process (serve's control loop). */
#ifndef AIMGUARD_HTTP_H
#define AIMGUARD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "aimguard/error.h"
#include "aimguard/metrics.h"
#include "aimguard/policy.h"
#include "aimguard/view.h"

typedef struct ag_http_config {
    size_t max_body;             /* larger admission bodies get 413 */
    unsigned threads;            /* webhook request threads, at least 1 */
    unsigned conn_timeout;       /* seconds a connection may stay idle */
    unsigned max_connections;    /* webhook connections at once */
    ag_policy_holder *policies;  /* the snapshot each admission acquires (borrowed) */
    ag_metrics *metrics;         /* borrowed */
} ag_http_config;

typedef struct ag_http ag_http;

/* NULL when memory runs out. c is copied. */
ag_http *ag_http_new(const ag_http_config *c);
/* Starts the webhook (metrics 0) or the metrics listener on "ADDR:PORT" ("[::1]:PORT"),
 * TLS when tls is set; the error says what the kernel or libmicrohttpd said. */
int ag_http_listen(ag_http *h, const char *listen, int tls, int metrics, ag_error *err);
/* The bound port of a started listener (port 0 asks the kernel), else 0. */
unsigned ag_http_port(const ag_http *h, int metrics);
/* The cluster view admission decisions read, once it is complete (NULL: none). */
void ag_http_set_view(ag_http *h, const ag_view *view);
/* What /readyz reports: the serving policy generation, and ready once there is one. */
void ag_http_set_generation(ag_http *h, uint64_t generation);
void ag_http_set_ready(ag_http *h);
int ag_http_ready(const ag_http *h);
/* Stopping: /readyz answers 503 and the webhook accepts no new connection; requests in
 * flight finish. */
void ag_http_quiesce(ag_http *h);
unsigned ag_http_inflight(const ag_http *h);
/* Stops the webhook listener (after this no request reads the view or the policies). */
void ag_http_stop_webhook(ag_http *h);
void ag_http_free(ag_http *h); /* NULL is a no-op */

#endif
