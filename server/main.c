/* aimguard: serve | eval | check | explain | version */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aimguard/admission.h"
#include "aimguard/cli.h"
#include "aimguard/log.h"
#include "aimguard/podspec.h"
#include "aimguard/policy.h"
#include "aimguard/server.h"
#include "aimguard/yaml.h"

static const char usage[] =
    "usage: aimguard <command> [flags]\n"
    "\n"
    "commands:\n"
    "  serve     run the admission webhook server\n"
    "  eval      decide objects offline: aimguard eval -p POLICIES -f FILE|DIR|-\n"
    "  check     lint policies: aimguard check PATH\n"
    "  explain   show which policies and rules apply per kind and operation\n"
    "  version   print the version, commit, build date and library versions\n"
    "\n"
    "run 'aimguard <command> --help' for the flags of a command\n";

static const char serve_usage[] =
    "usage: aimguard serve [flags]   (each flag also reads the environment variable shown)\n"
    "  --listen ADDR:PORT          webhook listener, TLS (AIMGUARD_LISTEN, 0.0.0.0:9443)\n"
    "  --tls-cert FILE             PEM certificate chain (AIMGUARD_TLS_CERT, /etc/aimguard/tls/tls.crt)\n"
    "  --tls-key FILE              PEM private key (AIMGUARD_TLS_KEY, /etc/aimguard/tls/tls.key)\n"
    "  --policies DIR              policy directory, reloaded live (AIMGUARD_POLICIES, /etc/aimguard/policies)\n"
    "  --metrics-listen ADDR:PORT  metrics listener, TLS unless --metrics-insecure; 'off' disables\n"
    "                              (AIMGUARD_METRICS_LISTEN, 0.0.0.0:8443)\n"
    "  --metrics-insecure          serve /metrics over plain HTTP (AIMGUARD_METRICS_INSECURE=1)\n"
    "  --log-level LEVEL           debug, info, warn or error (AIMGUARD_LOG_LEVEL, info)\n"
    "  --max-body BYTES            largest AdmissionReview accepted (AIMGUARD_MAX_BODY, 3145728)\n"
    "  --threads N                 request threads (AIMGUARD_THREADS, one per CPU)\n"
    "  --default-action ACTION     turn every enforce into warn or audit, e.g. for a dry run\n"
    "                              (AIMGUARD_DEFAULT_ACTION)\n"
    "  --shutdown-grace SECONDS    time for in-flight requests after SIGTERM (AIMGUARD_SHUTDOWN_GRACE, 10)\n"
    "  --idle-timeout SECONDS      close a connection idle this long, mid-request included\n"
    "                              (AIMGUARD_IDLE_TIMEOUT, 30)\n"
    "  --max-connections N         concurrent connections (AIMGUARD_MAX_CONNECTIONS, 4096)\n"
    "  --ready-file FILE           write the pid to FILE once ready (AIMGUARD_READY_FILE)\n"
    "  --kubeconfig FILE           cluster access for the cluster view (AIMGUARD_KUBECONFIG); without\n"
    "                              it: in-cluster in a pod, else no cluster view\n"
    "  --system-namespace NS       namespace of the leader Lease (AIMGUARD_SYSTEM_NAMESPACE; default:\n"
    "                              the pod's namespace, else aimguard-system)\n"
    "  --identity NAME             this replica in the Lease (AIMGUARD_IDENTITY; default: POD_NAME)\n"
    "  --lease-seconds N           leader lease duration (AIMGUARD_LEASE_SECONDS, 15)\n"
    "  --watch-timeout-seconds N   watch streams end after N to 2N s and are resumed from the last\n"
    "                              resourceVersion, no relist (AIMGUARD_WATCH_TIMEOUT_SECONDS, 300)\n"
    "  --sar-timeout-ms N          bound of one SubjectAccessReview a policy asks for on the request\n"
    "                              path (AIMGUARD_SAR_TIMEOUT_MS, 2000)\n"
    "  --sar-cache-seconds N       how long its allowed/denied answers are kept (AIMGUARD_SAR_CACHE_SECONDS,\n"
    "                              10; 0: never kept)\n"
    "reconciler (runs with a cluster, on the leader only; docs/reconciler.md):\n"
    "  --reconcile on|off|unmanaged  provision AIM workloads and namespace guardrails; unmanaged: only\n"
    "                              AIM objects no other controller (the AIM operator) manages\n"
    "                              (AIMGUARD_RECONCILE, on)\n"
    "  --exempt-namespaces LIST    never provisioned nor given guardrails, besides aimguard's own\n"
    "                              (AIMGUARD_EXEMPT_NAMESPACES, kube-system,kube-public,kube-node-lease)\n"
    "  --exempt-label KEY=VALUE    namespaces so labelled are exempt too (AIMGUARD_EXEMPT_LABEL,\n"
    "                              aimguard.io/webhook=exempt); 'none' for no label\n"
    "  --reconciler-username NAME  the identity admission sees for the reconciler's writes\n"
    "                              (AIMGUARD_RECONCILER_USERNAME, system:serviceaccount:aimguard-system:aimguard)\n"
    "  --network-policies on|off   default-deny NetworkPolicies with explicit allows in AIM namespaces\n"
    "                              (AIMGUARD_NETWORK_POLICIES, on)\n"
    "  --gateway-namespaces LIST   namespaces whose gateways may reach inference pods, besides the ones\n"
    "                              AIMServices route through (AIMGUARD_GATEWAY_NAMESPACES)\n"
    "  --download-egress LIST      CIDR[:PORT],... AIM pods may reach (AIMGUARD_DOWNLOAD_EGRESS,\n"
    "                              0.0.0.0/0:443); 'none' for no egress beyond DNS\n"
    "  --pod-security-labels LIST  MODE=LEVEL,... set on AIM namespaces (AIMGUARD_POD_SECURITY_LABELS,\n"
    "                              enforce=restricted,warn=restricted,audit=restricted; with\n"
    "                              --default-action warn: warn+audit only, audit: audit only); 'none' for off\n"
    "  --download-service-account NAME  the ServiceAccount download Jobs run as\n"
    "                              (AIMGUARD_DOWNLOAD_SERVICE_ACCOUNT, aim-artifact-downloader)\n"
    "  --status-updater-role NAME  ClusterRole bound to it per namespace\n"
    "                              (AIMGUARD_STATUS_UPDATER_ROLE, aim-engine-artifact-status-updater)\n"
    "  --resync-seconds N          reconcile everything again this often (AIMGUARD_RESYNC_SECONDS, 600)\n";

static int on_off(const char *flag, const char *v)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1"))
        return 1;
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0"))
        return 0;
    fprintf(stderr, "aimguard serve: %s must be on or off, not '%s'\n", flag, v);
    return -1;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static int parse_action(const char *s)
{
    if (!strcmp(s, "warn")) return AG_ACTION_WARN;
    if (!strcmp(s, "audit")) return AG_ACTION_AUDIT;
    if (!strcmp(s, "enforce")) return -1;
    return -2;
}

/* A whole number within [lo, hi] for a serve flag; says which flag and range otherwise. */
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

static int cmd_serve(int argc, char **argv)
{
    ag_server_config c;
    ag_server_config_defaults(&c);
    c.listen = env_or("AIMGUARD_LISTEN", c.listen);
    c.tls_cert = env_or("AIMGUARD_TLS_CERT", c.tls_cert);
    c.tls_key = env_or("AIMGUARD_TLS_KEY", c.tls_key);
    c.policies = env_or("AIMGUARD_POLICIES", c.policies);
    c.metrics_listen = env_or("AIMGUARD_METRICS_LISTEN", c.metrics_listen);
    c.metrics_insecure = !strcmp(env_or("AIMGUARD_METRICS_INSECURE", "0"), "1");
    c.ready_file = env_or("AIMGUARD_READY_FILE", NULL);
    c.kubeconfig = env_or("AIMGUARD_KUBECONFIG", NULL);
    c.system_namespace = env_or("AIMGUARD_SYSTEM_NAMESPACE", NULL);
    c.identity = env_or("AIMGUARD_IDENTITY", NULL);
    const char *lease = env_or("AIMGUARD_LEASE_SECONDS", NULL);
    const char *watch_timeout = env_or("AIMGUARD_WATCH_TIMEOUT_SECONDS", NULL);
    const char *sar_timeout = env_or("AIMGUARD_SAR_TIMEOUT_MS", NULL);
    const char *sar_cache = env_or("AIMGUARD_SAR_CACHE_SECONDS", NULL);
    const char *level = env_or("AIMGUARD_LOG_LEVEL", "info");
    const char *max_body = env_or("AIMGUARD_MAX_BODY", NULL);
    const char *threads = env_or("AIMGUARD_THREADS", NULL);
    const char *action = env_or("AIMGUARD_DEFAULT_ACTION", NULL);
    const char *grace = env_or("AIMGUARD_SHUTDOWN_GRACE", NULL);
    const char *idle = env_or("AIMGUARD_IDLE_TIMEOUT", NULL);
    const char *maxconn = env_or("AIMGUARD_MAX_CONNECTIONS", NULL);
    ag_reconcile_config *rc = &c.reconcile_cfg;
    const char *reconcile = env_or("AIMGUARD_RECONCILE", "on");
    const char *pss_env = env_or("AIMGUARD_POD_SECURITY_LABELS", NULL);
    const char *netpols = env_or("AIMGUARD_NETWORK_POLICIES", "on");
    const char *resync = env_or("AIMGUARD_RESYNC_SECONDS", NULL);
    rc->username = env_or("AIMGUARD_RECONCILER_USERNAME", rc->username);
    rc->gateway_namespaces = env_or("AIMGUARD_GATEWAY_NAMESPACES", rc->gateway_namespaces);
    rc->download_egress = env_or("AIMGUARD_DOWNLOAD_EGRESS", rc->download_egress);
    rc->pss_labels = pss_env ? pss_env : rc->pss_labels;
    int pss_given = pss_env != NULL;
    rc->exempt_namespaces = env_or("AIMGUARD_EXEMPT_NAMESPACES", rc->exempt_namespaces);
    rc->exempt_label = env_or("AIMGUARD_EXEMPT_LABEL", rc->exempt_label);
    rc->download_sa = env_or("AIMGUARD_DOWNLOAD_SERVICE_ACCOUNT", rc->download_sa);
    rc->status_role = env_or("AIMGUARD_STATUS_UPDATER_ROLE", rc->status_role);
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},       {"tls-cert", required_argument, 0, 'c'},
        {"tls-key", required_argument, 0, 'k'},      {"policies", required_argument, 0, 'p'},
        {"metrics-listen", required_argument, 0, 'm'}, {"metrics-insecure", no_argument, 0, 'i'},
        {"log-level", required_argument, 0, 'v'},    {"max-body", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 't'},      {"default-action", required_argument, 0, 'a'},
        {"shutdown-grace", required_argument, 0, 'g'}, {"ready-file", required_argument, 0, 'r'},
        {"idle-timeout", required_argument, 0, 'I'}, {"max-connections", required_argument, 0, 'C'},
        {"kubeconfig", required_argument, 0, 'K'}, {"system-namespace", required_argument, 0, 'N'},
        {"identity", required_argument, 0, 'D'}, {"lease-seconds", required_argument, 0, 'L'},
        {"watch-timeout-seconds", required_argument, 0, 10},
        {"exempt-namespaces", required_argument, 0, 11}, {"exempt-label", required_argument, 0, 12},
        {"reconcile", required_argument, 0, 1}, {"reconciler-username", required_argument, 0, 2},
        {"network-policies", required_argument, 0, 3}, {"gateway-namespaces", required_argument, 0, 4},
        {"download-egress", required_argument, 0, 5}, {"pod-security-labels", required_argument, 0, 6},
        {"download-service-account", required_argument, 0, 7},
        {"status-updater-role", required_argument, 0, 8}, {"resync-seconds", required_argument, 0, 9},
        {"sar-timeout-ms", required_argument, 0, 'S'}, {"sar-cache-seconds", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'l': c.listen = optarg; break;
        case 'c': c.tls_cert = optarg; break;
        case 'k': c.tls_key = optarg; break;
        case 'p': c.policies = optarg; break;
        case 'm': c.metrics_listen = optarg; break;
        case 'i': c.metrics_insecure = 1; break;
        case 'v': level = optarg; break;
        case 'b': max_body = optarg; break;
        case 't': threads = optarg; break;
        case 'a': action = optarg; break;
        case 'g': grace = optarg; break;
        case 'r': c.ready_file = optarg; break;
        case 'I': idle = optarg; break;
        case 'C': maxconn = optarg; break;
        case 'K': c.kubeconfig = optarg; break;
        case 'N': c.system_namespace = optarg; break;
        case 'D': c.identity = optarg; break;
        case 'L': lease = optarg; break;
        case 1: reconcile = optarg; break;
        case 2: rc->username = optarg; break;
        case 3: netpols = optarg; break;
        case 4: rc->gateway_namespaces = optarg; break;
        case 5: rc->download_egress = optarg; break;
        case 6: rc->pss_labels = optarg, pss_given = 1; break;
        case 7: rc->download_sa = optarg; break;
        case 8: rc->status_role = optarg; break;
        case 9: resync = optarg; break;
        case 10: watch_timeout = optarg; break;
        case 11: rc->exempt_namespaces = optarg; break;
        case 12: rc->exempt_label = optarg; break;
        case 'S': sar_timeout = optarg; break;
        case 'T': sar_cache = optarg; break;
        case 'h': fputs(serve_usage, stdout); return 0;
        default: fputs(serve_usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "aimguard serve: unexpected argument '%s'\n%s", argv[optind], serve_usage);
        return 2;
    }
    int lv = ag_log_level_parse(level);
    if (lv < 0) {
        fprintf(stderr, "aimguard serve: --log-level must be debug, info, warn or error\n");
        return 2;
    }
    ag_log_set_level((ag_log_level)lv);
    unsigned long long v;
    if (max_body) {
        if (number_flag("--max-body", max_body, 1024, 1ull << 30, &v))
            return 2;
        c.max_body = (size_t)v;
    }
    if (threads) {
        if (number_flag("--threads", threads, 1, 256, &v))
            return 2;
        c.threads = (unsigned)v;
    }
    if (grace) {
        if (number_flag("--shutdown-grace", grace, 0, 3600, &v))
            return 2;
        c.shutdown_grace = (unsigned)v;
    }
    if (idle) {
        if (number_flag("--idle-timeout", idle, 1, 3600, &v))
            return 2;
        c.conn_timeout = (unsigned)v;
    }
    if (maxconn) {
        if (number_flag("--max-connections", maxconn, 16, 65536, &v))
            return 2;
        c.max_connections = (unsigned)v;
    }
    if (lease) {
        if (number_flag("--lease-seconds", lease, 3, 600, &v))
            return 2;
        c.lease_seconds = (unsigned)v;
    }
    if (watch_timeout) {
        if (number_flag("--watch-timeout-seconds", watch_timeout, 5, 3600, &v))
            return 2;
        c.watch_timeout_s = (unsigned)v;
    }
    if (resync) {
        if (number_flag("--resync-seconds", resync, 0, 86400, &v))
            return 2;
        rc->resync_seconds = (double)v;
    }
    if (!strcmp(reconcile, "unmanaged")) {
        c.reconcile = 1;
        rc->unmanaged_only = 1;
    } else if (strcmp(reconcile, "on") && strcmp(reconcile, "off")) {
        fprintf(stderr, "aimguard serve: --reconcile must be on, off or unmanaged, not '%s'\n", reconcile);
        return 2;
    } else {
        c.reconcile = !strcmp(reconcile, "on");
    }
    if ((rc->network_policies = on_off("--network-policies", netpols)) < 0)
        return 2;
    if (!strcmp(rc->exempt_label, "none"))
        rc->exempt_label = "";
    if (!strcmp(rc->download_egress, "none"))
        rc->download_egress = "";
    if (!strcmp(rc->pss_labels, "none"))
        rc->pss_labels = "";
    ag_error ferr = {0};
    if (ag_reconcile_config_check(rc, &ferr)) {
        fprintf(stderr, "aimguard serve: %s\n", ferr.msg);
        return 2;
    }
    if (sar_timeout) {
        if (number_flag("--sar-timeout-ms", sar_timeout, 50, 10000, &v))
            return 2;
        c.sar_timeout_ms = (long)v;
    }
    if (sar_cache) {
        if (number_flag("--sar-cache-seconds", sar_cache, 0, 3600, &v))
            return 2;
        c.sar_cache_ms = v ? (long)v * 1000 : -1;
    }
    if (action && (c.default_action = parse_action(action)) == -2) {
        fprintf(stderr, "aimguard serve: --default-action must be enforce, warn or audit\n");
        return 2;
    }
    /* warn/audit means nothing is denied: the namespace labels the reconciler sets must
     * not make Pod Security deny what the policies only warn about */
    if (!pss_given && c.default_action == AG_ACTION_WARN)
        rc->pss_labels = "warn=restricted,audit=restricted";
    else if (!pss_given && c.default_action == AG_ACTION_AUDIT)
        rc->pss_labels = "audit=restricted";
    if (!c.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    ag_error err = {0};
    if (ag_server_run(&c, &err)) {
        ag_log(AG_LOG_ERROR, "aimguard cannot serve", "reason", err.msg, NULL);
        return 1;
    }
    return 0;
}

static int print_diags(const ag_diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        fprintf(stderr, "%s\n", d->items[i]);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    /* --strict (a CI gate that refuses warnings too) may come before or after PATH */
    int strict = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--strict")) {
            strict = 1;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i - 1) * sizeof *argv);
            argc--;
            break;
        }
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: aimguard check [--strict] PATH\n"
                "       aimguard check --kinds\n"
                "  lints a policy file or directory; prints file:line:column: message for each\n"
                "  error, file:line:column: warning: message for each policy that cannot fire as\n"
                "  written, a note for each document skipped (another apiVersion than\n"
                "  policy.aimguard.io/), and a summary; exit 0 when there is no error (warnings\n"
                "  included), 1 when there is one, 2 on usage errors or a missing PATH\n"
                "  --strict  exit 1 when there is a warning too\n"
                "  --kinds   print the kinds aimguard knows: group, kind, resource, scope, the\n"
                "            shipped webhooks that send it, whether it carries a pod spec\n");
        return argc == 2 ? 0 : 2;
    }
    if (!strcmp(argv[1], "--kinds")) {
        char *text = ag_policy_kinds_text();
        fputs(text ? text : "", stdout);
        free(text);
        return text ? 0 : 1;
    }
    if (access(argv[1], F_OK) != 0) {
        fprintf(stderr, "aimguard check: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options opts = {1, -1};
    if (ag_policy_load(argv[1], &opts, &set, &d, &err)) {
        print_diags(&d);
        fprintf(stderr, "%s\n", err.msg);
        ag_diags_clear(&d);
        return 1;
    }
    print_diags(ag_policy_set_notes(set));
    size_t nwarn = ag_policy_warnings(set, time(NULL), &d);
    print_diags(&d);
    ag_diags_clear(&d);
    ag_policy_stats st;
    ag_policy_set_stats(set, &st);
#define PL(n, one, many) (n), (n) == 1 ? (one) : (many)
    char skipped[64] = "";
    if (st.skipped)
        snprintf(skipped, sizeof skipped, " (%zu %s skipped)", PL(st.skipped, "document", "documents"));
    printf("%s: ok: %zu %s in %zu %s%s; %zu mutate %s, %zu validate %s, %zu %s, %zu %s; %zu %s\n", argv[1],
           PL(st.policies, "policy", "policies"), PL(st.files, "file", "files"), skipped,
           PL(st.mutate_blocks, "block", "blocks"), PL(st.validate_blocks, "block", "blocks"),
           PL(st.rules, "rule", "rules"), PL(st.exceptions, "exception", "exceptions"),
           PL(nwarn, "warning", "warnings"));
#undef PL
    char *soon = ag_policy_expiring(set, time(NULL), 7 * 24 * 3600);
    for (const char *line = soon; line && *line;) {
        size_t len = strcspn(line, "\n");
        fprintf(stderr, "note: %.*s\n", (int)len, line);
        line += len + (line[len] == '\n');
    }
    free(soon);
    ag_policy_set_unref(set);
    if (strict && nwarn) {
        fprintf(stderr, "aimguard check: --strict: %zu %s\n", nwarn, nwarn == 1 ? "warning" : "warnings");
        return 1;
    }
    return 0;
}

/* The pod carrier table: one line per place a kind carries a pod spec or a single
 * container ("group/Kind  resource  podspec|container  path"), for people and for the
 * test that holds policies and webhook configurations to it. */
static int explain_carriers(void)
{
    const ag_carrier_info *c;
    for (size_t i = 0; (c = ag_podspec_carrier(i)); i++) {
        ag_carrier_path p[32];
        size_t n = ag_podspec_carrier_paths(i, p, 32);
        for (size_t k = 0; k < n && k < 32; k++)
            printf("%s%s%s\t%s\t%s\t%s%s%s\n", c->group, *c->group ? "/" : "", c->kind, c->resource,
                   p[k].single ? "container" : "podspec", p[k].path, p[k].single ? "." : "",
                   p[k].single ? p[k].single : "");
    }
    return 0;
}

static int cmd_explain(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--carriers"))
        return explain_carriers();
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: aimguard explain POLICY_DIR\n"
                "       aimguard explain --carriers   the kinds that carry pod specs, and where\n");
        return argc == 2 ? 0 : 2;
    }
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options opts = {1, -1};
    if (ag_policy_load(argv[1], &opts, &set, &d, &err)) {
        print_diags(&d);
        ag_diags_clear(&d);
        return 1;
    }
    char *text = ag_policy_explain(set);
    fputs(text ? text : "", stdout);
    free(text);
    ag_policy_set_unref(set);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        return ag_cli_version();
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return ag_cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "explain"))
        return cmd_explain(argc - 1, argv + 1);
    fprintf(stderr, "aimguard: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
