/* aimguard: serve | eval | test | audit | check | explain | version */
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
#include "aimguard/serve.h"
#include "aimguard/yaml.h"

static const char usage[] =
    "usage: aimguard <command> [flags]\n"
    "\n"
    "commands:\n"
    "  serve     run the admission webhook server\n"
    "  eval      decide objects offline: aimguard eval -p POLICIES -f FILE|DIR|-\n"
    "  test      run policy tests (aimguard-test.yaml files): aimguard test [PATH ...]\n"
    "  audit     what policies would deny among existing objects: aimguard audit -p POLICIES\n"
    "            (--kubeconfig FILE | PATH...)\n"
    "  check     lint policies: aimguard check PATH\n"
    "  explain   show which policies and rules apply per kind and operation\n"
    "  version   print the version, commit, build date and library versions\n"
    "\n"
    "run 'aimguard <command> --help' for the flags of a command\n";

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
        return ag_serve_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval"))
        return ag_cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "audit"))
        return ag_cli_audit(argc - 1, argv + 1);
    if (!strcmp(cmd, "test"))
        return ag_cli_test(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "explain"))
        return cmd_explain(argc - 1, argv + 1);
    fprintf(stderr, "aimguard: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
