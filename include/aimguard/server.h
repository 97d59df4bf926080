/* `aimguard serve`: the webhook listener, the metrics listener and the control loop
 * (signals, certificate and policy reloads) that runs on the calling thread.
 *
 * Threads: libmicrohttpd's pool (one epoll thread per CPU) answers requests; the
 * caller's thread runs the control loop until SIGTERM/SIGINT. Request threads only
 * read immutable snapshots (policies, certificate pairs) and atomic counters. */
#ifndef AIMGUARD_SERVER_H
#define AIMGUARD_SERVER_H

#include <stddef.h>
#include "aimguard/error.h"
#include "aimguard/reconcile.h"

typedef struct ag_server_config {
    const char *listen;          /* "0.0.0.0:9443", "127.0.0.1:9443", "[::1]:9443" */
    const char *metrics_listen;  /* "" or "off" disables the metrics listener */
    int metrics_insecure;        /* metrics over plain HTTP */
    const char *tls_cert, *tls_key;
    const char *policies;
    size_t max_body;             /* bytes */
    unsigned threads;            /* 0: one per CPU */
    int default_action;          /* -1 none, else ag_action replacing enforce */
    unsigned shutdown_grace;     /* seconds to let in-flight requests finish */
    unsigned conn_timeout;       /* idle connection timeout, seconds */
    unsigned max_connections;
    const char *ready_file;      /* optional: written once ready (for tests and benches) */
    const char *kubeconfig;      /* cluster access; NULL: in-cluster when in a pod, else none */
    const char *system_namespace;/* where the leader Lease lives; NULL: the pod's namespace */
    const char *identity;        /* this replica in the Lease; NULL: POD_NAME or host-pid */
    unsigned lease_seconds;      /* leader lease duration */
    unsigned watch_timeout_s;    /* watches end after this, jittered to twice it (0: 300) */
    int reconcile;               /* run the reconciler when a cluster is configured */
    ag_reconcile_config reconcile_cfg; /* policies and metrics are filled in by the server */
    long sar_timeout_ms;         /* one SubjectAccessReview on the request path (2000) */
    long sar_cache_ms;           /* how long its allowed/denied answers are kept (10000) */
} ag_server_config;

void ag_server_config_defaults(ag_server_config *c);
/* Runs until SIGTERM or SIGINT; 0 on a clean stop. */
int ag_server_run(const ag_server_config *c, ag_error *err);

#endif
