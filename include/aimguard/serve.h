/* `aimguard serve`: the process. It loads the policies and the certificate, starts the
 * listeners (aimguard/http.h), the cluster view, the SubjectAccessReview cache, the
 * reconciler and leader election, then runs the control loop on the calling thread:
 * signals, and periodic jobs (certificate and policy reloads, exception expiry notes)
 * until SIGTERM/SIGINT.
 *
 * Threads: libmicrohttpd's pool answers requests; the caller's thread runs the control
 * loop, the only writer of the published policy snapshot and the certificate store.
 * Request threads only read immutable snapshots and atomic counters. */
#ifndef AIMGUARD_SERVE_H
#define AIMGUARD_SERVE_H

#include <stddef.h>
#include "aimguard/error.h"
#include "aimguard/reconcile.h"

/* Every field a flag sets is named, with its flag, environment variable, default and
 * range, in the one flag table of server/serve/flags.c (`aimguard serve --help=tsv`). */
typedef struct ag_serve_config {
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
    double audit_interval_s;     /* background audit: a full pass this often; 0: no audit */
    unsigned audit_report_max;   /* results per PolicyReport before it splits */
    int log_level;               /* ag_log_level */
} ag_serve_config;

/* The flag table's defaults (and the reconciler's for what no flag sets). */
void ag_serve_config_defaults(ag_serve_config *c);
/* Defaults, then the environment, then argv (a flag wins over its variable), each value
 * checked against the table. 0: run with c (which points into argv and the
 * environment). -1: do not run; *exit_code is 0 after --help, 2 after a usage error
 * printed on stderr. */
int ag_serve_config_parse(ag_serve_config *c, int argc, char **argv, int *exit_code);
/* Runs until SIGTERM or SIGINT; 0 on a clean stop. */
int ag_serve_run(const ag_serve_config *c, ag_error *err);
/* `aimguard serve` (argv[0] is "serve"): parse, set the log level, run. The exit status:
 * 0 stopped cleanly (or --help), 1 cannot serve, 2 usage error. */
int ag_serve_main(int argc, char **argv);

#endif
