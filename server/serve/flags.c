/* `aimguard serve`'s flags, each described once in the table below (as curl's
 * easyoptions and Redis's config table do): name, argument, environment variable,
 * default, range or choices, help, and where the value lands in ag_serve_config. The
 * defaults, the environment, the command line, the range checks, the usage text and
 * `--help=tsv` (which test/deploy/test_docs_match_code.py holds docs/cli.md to) all
 * come from it, so a flag cannot exist in one of them and not in another. */
#include "serve_int.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aimguard/log.h"

typedef enum {
    V_STR,      /* a string, kept as given */
    V_STR_NONE, /* a string; "none" stands for "" (an empty list, no label) */
    V_SWITCH,   /* no argument; its variable turns it on with "1" */
    V_NUM,      /* a whole number within [lo, hi], stored as `num` says */
    V_CUSTOM,   /* an enum with its own setter */
} vtype;

typedef enum { N_SIZE, N_UNSIGNED, N_DOUBLE, N_LONG, N_MS_OR_NEVER /* seconds -> ms, 0 -> -1 */ } ntype;

typedef struct parse_state {
    int pss_given; /* --pod-security-labels was set: the default action does not change it */
} parse_state;

typedef struct serve_flag {
    const char *name, *arg, *env;
    const char *dflt;     /* taken when neither flag nor variable is given (parsed like them); NULL: none */
    const char *dflt_doc; /* the default as usage and docs/cli.md say it, when dflt cannot */
    vtype type;
    ntype num;
    unsigned long long lo, hi;
    const char *choices;  /* V_CUSTOM: what usage and --help=tsv list */
    int (*set)(ag_serve_config *c, const char *v, parse_state *ps);
    const char *field;    /* where the value lands in ag_serve_config */
    size_t offset;
    const char *help;
    const char *section;  /* a heading usage prints before this flag */
} serve_flag;

static int set_log_level(ag_serve_config *c, const char *v, parse_state *ps)
{
    (void)ps;
    int lv = ag_log_level_parse(v);
    if (lv < 0) {
        fprintf(stderr, "aimguard serve: --log-level must be debug, info, warn or error\n");
        return -1;
    }
    c->log_level = lv;
    return 0;
}

static int set_default_action(ag_serve_config *c, const char *v, parse_state *ps)
{
    (void)ps;
    if (!strcmp(v, "warn"))
        c->default_action = AG_ACTION_WARN;
    else if (!strcmp(v, "audit"))
        c->default_action = AG_ACTION_AUDIT;
    else if (!strcmp(v, "enforce"))
        c->default_action = -1;
    else {
        fprintf(stderr, "aimguard serve: --default-action must be enforce, warn or audit\n");
        return -1;
    }
    return 0;
}

static int set_reconcile(ag_serve_config *c, const char *v, parse_state *ps)
{
    (void)ps;
    if (!strcmp(v, "unmanaged")) {
        c->reconcile = 1;
        c->reconcile_cfg.unmanaged_only = 1;
    } else if (strcmp(v, "on") && strcmp(v, "off")) {
        fprintf(stderr, "aimguard serve: --reconcile must be on, off or unmanaged, not '%s'\n", v);
        return -1;
    } else {
        c->reconcile = !strcmp(v, "on");
        c->reconcile_cfg.unmanaged_only = 0;
    }
    return 0;
}

static int set_network_policies(ag_serve_config *c, const char *v, parse_state *ps)
{
    (void)ps;
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1"))
        c->reconcile_cfg.network_policies = 1;
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0"))
        c->reconcile_cfg.network_policies = 0;
    else {
        fprintf(stderr, "aimguard serve: %s must be on or off, not '%s'\n", "--network-policies", v);
        return -1;
    }
    return 0;
}

static int set_pss_labels(ag_serve_config *c, const char *v, parse_state *ps)
{
    c->reconcile_cfg.pss_labels = strcmp(v, "none") ? v : "";
    ps->pss_given = 1;
    return 0;
}

#define AT(m) #m, offsetof(ag_serve_config, m)
#define NUM(kind, lo, hi) V_NUM, kind, lo, hi, NULL, NULL
#define STR V_STR, 0, 0, 0, NULL, NULL
#define STR_NONE V_STR_NONE, 0, 0, 0, NULL, NULL
#define CUSTOM(choices, fn) V_CUSTOM, 0, 0, 0, choices, fn

static const serve_flag flags[] = {
    {"listen", "ADDR:PORT", "AIMGUARD_LISTEN", "0.0.0.0:9443", NULL, STR, AT(listen),
     "webhook listener, always TLS; [::1]:9443 for IPv6; port 0 picks a free port", NULL},
    {"tls-cert", "FILE", "AIMGUARD_TLS_CERT", "/etc/aimguard/tls/tls.crt", NULL, STR, AT(tls_cert),
     "PEM certificate chain, leaf first", NULL},
    {"tls-key", "FILE", "AIMGUARD_TLS_KEY", "/etc/aimguard/tls/tls.key", NULL, STR, AT(tls_key),
     "PEM private key", NULL},
    {"policies", "DIR", "AIMGUARD_POLICIES", "/etc/aimguard/policies", NULL, STR, AT(policies),
     "policy directory (or file), reloaded live", NULL},
    {"metrics-listen", "ADDR:PORT", "AIMGUARD_METRICS_LISTEN", "0.0.0.0:8443", NULL, STR, AT(metrics_listen),
     "metrics listener, TLS unless --metrics-insecure; 'off' disables", NULL},
    {"metrics-insecure", NULL, "AIMGUARD_METRICS_INSECURE", NULL, "off", V_SWITCH, 0, 0, 0, NULL, NULL,
     AT(metrics_insecure), "serve /metrics over plain HTTP (its variable: 1)", NULL},
    {"log-level", "LEVEL", "AIMGUARD_LOG_LEVEL", "info", NULL, CUSTOM("debug, info, warn, error", set_log_level),
     AT(log_level), "log threshold", NULL},
    {"max-body", "BYTES", "AIMGUARD_MAX_BODY", "3145728", NULL, NUM(N_SIZE, 1024, 1ull << 30), AT(max_body),
     "largest AdmissionReview accepted; larger ones get 413", NULL},
    {"threads", "N", "AIMGUARD_THREADS", NULL, "one per CPU", NUM(N_UNSIGNED, 1, 256), AT(threads),
     "request threads", NULL},
    {"default-action", "ACTION", "AIMGUARD_DEFAULT_ACTION", "enforce", NULL,
     CUSTOM("enforce, warn, audit", set_default_action), AT(default_action),
     "warn or audit turns every enforce into that, e.g. for a dry run", NULL},
    {"shutdown-grace", "SECONDS", "AIMGUARD_SHUTDOWN_GRACE", "10", NULL, NUM(N_UNSIGNED, 0, 3600),
     AT(shutdown_grace), "time in-flight requests get after SIGTERM", NULL},
    {"idle-timeout", "SECONDS", "AIMGUARD_IDLE_TIMEOUT", "30", NULL, NUM(N_UNSIGNED, 1, 3600), AT(conn_timeout),
     "close a connection idle this long, mid-request included (slow clients)", NULL},
    {"max-connections", "N", "AIMGUARD_MAX_CONNECTIONS", "4096", NULL, NUM(N_UNSIGNED, 16, 65536),
     AT(max_connections), "concurrent connections; more are refused at accept", NULL},
    {"ready-file", "FILE", "AIMGUARD_READY_FILE", NULL, "none", STR, AT(ready_file),
     "written once ready: pid webhook-port metrics-port", NULL},
    {"kubeconfig", "FILE", "AIMGUARD_KUBECONFIG", NULL, "none", STR, AT(kubeconfig),
     "cluster access for the cluster view; without it: in-cluster in a pod, else no cluster view", NULL},
    {"system-namespace", "NS", "AIMGUARD_SYSTEM_NAMESPACE", NULL, "the pod's namespace, else aimguard-system", STR,
     AT(system_namespace), "namespace of the leader Lease aimguard-leader", NULL},
    {"identity", "NAME", "AIMGUARD_IDENTITY", NULL, "POD_NAME, else host-pid", STR, AT(identity),
     "this replica's name in the Lease", NULL},
    {"lease-seconds", "N", "AIMGUARD_LEASE_SECONDS", "15", NULL, NUM(N_UNSIGNED, 3, 600), AT(lease_seconds),
     "leader lease duration (renew deadline 2/3 of it)", NULL},
    {"watch-timeout-seconds", "N", "AIMGUARD_WATCH_TIMEOUT_SECONDS", "300", NULL, NUM(N_UNSIGNED, 5, 3600),
     AT(watch_timeout_s), "watch streams end after N to 2N s and are resumed from the last resourceVersion, "
     "no relist", NULL},
    {"sar-timeout-ms", "N", "AIMGUARD_SAR_TIMEOUT_MS", "2000", NULL, NUM(N_LONG, 50, 10000), AT(sar_timeout_ms),
     "bound of one SubjectAccessReview a policy asks for on the request path", NULL},
    {"sar-cache-seconds", "N", "AIMGUARD_SAR_CACHE_SECONDS", "10", NULL, NUM(N_MS_OR_NEVER, 0, 3600),
     AT(sar_cache_ms), "how long its allowed/denied answers are kept (0: never)", NULL},
    {"reconcile", "on|off|unmanaged", "AIMGUARD_RECONCILE", "on", NULL,
     CUSTOM("on, off, unmanaged", set_reconcile), AT(reconcile),
     "provision AIM workloads and namespace guardrails; unmanaged: only AIM objects no other controller "
     "(the AIM operator) manages",
     "reconciler (runs with a cluster, on the leader only; docs/reconciler.md):"},
    {"exempt-namespaces", "LIST", "AIMGUARD_EXEMPT_NAMESPACES", "kube-system,kube-public,kube-node-lease", NULL,
     STR, AT(reconcile_cfg.exempt_namespaces),
     "never provisioned nor given guardrails, besides aimguard's own", NULL},
    {"exempt-label", "KEY=VALUE", "AIMGUARD_EXEMPT_LABEL", "aimguard.io/webhook=exempt", NULL, STR_NONE,
     AT(reconcile_cfg.exempt_label), "namespaces so labelled are exempt too; 'none' for no label", NULL},
    {"reconciler-username", "NAME", "AIMGUARD_RECONCILER_USERNAME",
     "system:serviceaccount:aimguard-system:aimguard", NULL, STR, AT(reconcile_cfg.username),
     "the identity admission sees for the reconciler's writes", NULL},
    {"network-policies", "on|off", "AIMGUARD_NETWORK_POLICIES", "on", NULL,
     CUSTOM("on, off", set_network_policies), AT(reconcile_cfg.network_policies),
     "default-deny NetworkPolicies with explicit allows in AIM namespaces", NULL},
    {"gateway-namespaces", "LIST", "AIMGUARD_GATEWAY_NAMESPACES", NULL, "none", STR,
     AT(reconcile_cfg.gateway_namespaces),
     "namespaces whose gateways may reach inference pods, besides the ones AIMServices route through", NULL},
    {"download-egress", "LIST", "AIMGUARD_DOWNLOAD_EGRESS", "0.0.0.0/0:443", NULL, STR_NONE,
     AT(reconcile_cfg.download_egress), "CIDR[:PORT],... AIM pods may reach; 'none' for no egress beyond DNS",
     NULL},
    {"pod-security-labels", "LIST", "AIMGUARD_POD_SECURITY_LABELS", NULL,
     "enforce=restricted,warn=restricted,audit=restricted; with --default-action warn: "
     "warn=restricted,audit=restricted; with audit: audit=restricted",
     CUSTOM(NULL, set_pss_labels), AT(reconcile_cfg.pss_labels),
     "MODE=LEVEL,... set on AIM namespaces; 'none' for off", NULL},
    {"download-service-account", "NAME", "AIMGUARD_DOWNLOAD_SERVICE_ACCOUNT", "aim-artifact-downloader", NULL, STR,
     AT(reconcile_cfg.download_sa), "the ServiceAccount download Jobs run as", NULL},
    {"status-updater-role", "NAME", "AIMGUARD_STATUS_UPDATER_ROLE", "aim-engine-artifact-status-updater", NULL,
     STR, AT(reconcile_cfg.status_role), "ClusterRole bound to it per namespace", NULL},
    {"resync-seconds", "N", "AIMGUARD_RESYNC_SECONDS", "600", NULL, NUM(N_DOUBLE, 0, 86400),
     AT(reconcile_cfg.resync_seconds), "reconcile everything again this often (0: never)", NULL},
    {"audit-interval", "SECONDS", "AIMGUARD_AUDIT_INTERVAL", "3600", NULL, NUM(N_DOUBLE, 0, 604800),
     AT(audit_interval_s), "judge every existing object again this often; also at start, on a policy change "
     "and when an object changes (0: no background audit, no PolicyReports)",
     "background audit (runs with a cluster, on the leader only; docs/operations.md):"},
    {"audit-report-max-results", "N", "AIMGUARD_AUDIT_REPORT_MAX_RESULTS", "500", NULL, NUM(N_UNSIGNED, 1, 1000),
     AT(audit_report_max), "results per PolicyReport (each at most about 1.5 KiB); a namespace with more gets several reports", NULL},
};
#define NFLAGS (sizeof flags / sizeof flags[0])

/* A whole number within [lo, hi]; says which flag and range otherwise. */
static int number_flag(const char *flag, const char *text, unsigned long long lo,
                       unsigned long long hi, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || !*text || *end || *text == '-' || v < lo || v > hi) {
        fprintf(stderr, "aimguard serve: %s must be a whole number from %llu to %llu\n", flag, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Converts v for f, checks it and stores it where f says. */
static int apply(ag_serve_config *c, const serve_flag *f, const char *v, parse_state *ps)
{
    char *at = (char *)c + f->offset;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", f->name);
    unsigned long long n;
    switch (f->type) {
    case V_STR:
        *(const char **)at = v;
        return 0;
    case V_STR_NONE:
        *(const char **)at = strcmp(v, "none") ? v : "";
        return 0;
    case V_SWITCH:
        *(int *)at = !strcmp(v, "1");
        return 0;
    case V_CUSTOM:
        return f->set(c, v, ps);
    case V_NUM:
        if (number_flag(flag, v, f->lo, f->hi, &n))
            return -1;
        switch (f->num) {
        case N_SIZE: *(size_t *)at = (size_t)n; break;
        case N_UNSIGNED: *(unsigned *)at = (unsigned)n; break;
        case N_DOUBLE: *(double *)at = (double)n; break;
        case N_LONG: *(long *)at = (long)n; break;
        case N_MS_OR_NEVER: *(long *)at = n ? (long)n * 1000 : -1; break;
        }
        return 0;
    }
    return -1;
}

void ag_serve_config_defaults(ag_serve_config *c)
{
    memset(c, 0, sizeof *c);
    ag_reconcile_config_defaults(&c->reconcile_cfg);
    parse_state ps = {0};
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags[i].dflt && apply(c, &flags[i], flags[i].dflt, &ps))
            abort(); /* a default the table cannot parse: a bug in this file */
}

static const char *range_text(const serve_flag *f, char *buf, size_t cap)
{
    if (f->type == V_NUM)
        snprintf(buf, cap, "%llu..%llu", f->lo, f->hi);
    else
        snprintf(buf, cap, "%s", f->type == V_CUSTOM && f->choices ? f->choices : "");
    return buf;
}

static const char *default_text(const serve_flag *f)
{
    return f->dflt_doc ? f->dflt_doc : f->dflt ? f->dflt : "none";
}

/* Words of text after a column of `indent`, wrapped before `width`. */
static void wrap(FILE *out, const char *text, int col, int indent, int width)
{
    const char *p = text;
    while (*p) {
        size_t w = strcspn(p, " ");
        if (col > indent && col + 1 + (int)w > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fprintf(out, "%.*s", (int)w, p);
        col += (int)w;
        p += w;
        while (*p == ' ')
            p++;
    }
    fputc('\n', out);
}

static void usage(FILE *out)
{
    fputs("usage: aimguard serve [flags]   (each flag also reads the environment variable shown;\n"
          "                                 the flag wins)\n", out);
    for (size_t i = 0; i < NFLAGS; i++) {
        const serve_flag *f = &flags[i];
        if (f->section)
            fprintf(out, "%s\n", f->section);
        char head[80], range[64], text[1024];
        int n = snprintf(head, sizeof head, "  --%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        range_text(f, range, sizeof range);
        snprintf(text, sizeof text, "%s (%s, default %s%s%s)", f->help, f->env, default_text(f),
                 *range ? "; " : "", range);
        fprintf(out, "%s%*s", head, n < 30 ? 30 - n : 1, "");
        wrap(out, text, n < 30 ? 30 : n + 1, 30, 110);
    }
    fputs("  --help[=tsv]                the flags above (tsv: flag, argument, env, default, range,\n"
          "                              config field, help; tab-separated)\n", out);
}

/* The table itself, for scripts and for the test that holds docs/cli.md to it. */
static void usage_tsv(FILE *out)
{
    fputs("flag\targument\tenv\tdefault\trange\tfield\thelp\n", out);
    for (size_t i = 0; i < NFLAGS; i++) {
        const serve_flag *f = &flags[i];
        char range[64];
        fprintf(out, "--%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f->name, f->arg ? f->arg : "", f->env, default_text(f),
                range_text(f, range, sizeof range), f->field, f->help);
    }
}

int ag_serve_config_parse(ag_serve_config *c, int argc, char **argv, int *exit_code)
{
    ag_serve_config_defaults(c);
    const char *given[NFLAGS] = {0};
    for (size_t i = 0; i < NFLAGS; i++) {
        const char *v = getenv(flags[i].env);
        if (v && *v)
            given[i] = v;
    }
    struct option opts[NFLAGS + 2];
    for (size_t i = 0; i < NFLAGS; i++)
        opts[i] = (struct option){flags[i].name, flags[i].type == V_SWITCH ? no_argument : required_argument, 0,
                                  1000 + (int)i};
    opts[NFLAGS] = (struct option){"help", optional_argument, 0, 'h'};
    opts[NFLAGS + 1] = (struct option){0, 0, 0, 0};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o >= 1000 && o < 1000 + (int)NFLAGS) {
            given[o - 1000] = flags[o - 1000].type == V_SWITCH ? "1" : optarg;
        } else if (o == 'h' && (!optarg || !strcmp(optarg, "tsv"))) {
            optarg ? usage_tsv(stdout) : usage(stdout);
            *exit_code = 0;
            return -1;
        } else {
            usage(stderr);
            *exit_code = 2;
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "aimguard serve: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        *exit_code = 2;
        return -1;
    }
    parse_state ps = {0};
    for (size_t i = 0; i < NFLAGS; i++)
        if (given[i] && apply(c, &flags[i], given[i], &ps)) {
            *exit_code = 2;
            return -1;
        }
    ag_error ferr = {0};
    if (ag_reconcile_config_check(&c->reconcile_cfg, &ferr)) {
        fprintf(stderr, "aimguard serve: %s\n", ferr.msg);
        *exit_code = 2;
        return -1;
    }
    /* warn/audit means nothing is denied: the namespace labels the reconciler sets must
     * not make Pod Security deny what the policies only warn about */
    if (!ps.pss_given && c->default_action == AG_ACTION_WARN)
        c->reconcile_cfg.pss_labels = "warn=restricted,audit=restricted";
    else if (!ps.pss_given && c->default_action == AG_ACTION_AUDIT)
        c->reconcile_cfg.pss_labels = "audit=restricted";
    if (!c->threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    return 0;
}

int ag_serve_main(int argc, char **argv)
{
    ag_serve_config c;
    int code = 0;
    if (ag_serve_config_parse(&c, argc, argv, &code))
        return code;
    ag_log_set_level((ag_log_level)c.log_level);
    ag_error err = {0};
    if (ag_serve_run(&c, &err)) {
        ag_log(AG_LOG_ERROR, "aimguard cannot serve", "reason", err.msg, NULL);
        return 1;
    }
    return 0;
}
