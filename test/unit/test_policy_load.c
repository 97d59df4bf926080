/* Policy loader and compiler: every error class with its exact file:line:column. */
#include "agtest.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void reset_dir(void)
{
    char cmd[600];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    }
    snprintf(dir, sizeof dir, "/tmp/ag-policy-XXXXXX");
    if (!mkdtemp(dir)) abort();
}

/* Loads `text` as dir/p.yaml; returns all diagnostics joined by newlines. */
static char *load_errors(const char *text, int *rc_out)
{
    reset_dir();
    write_file("p.yaml", text);
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load(dir, &o, &set, &d, &err);
    if (rc_out) *rc_out = rc;
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < d.count; i++) cap += strlen(d.items[i]) + 1;
    char *all = calloc(1, cap);
    for (size_t i = 0; i < d.count; i++) {
        memcpy(all + len, d.items[i], strlen(d.items[i]));
        len += strlen(d.items[i]);
        all[len++] = '\n';
    }
    ag_diags_clear(&d);
    ag_policy_set_unref(set);
    return all;
}

#define HEAD "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata:\n  name: p\n"

static void expect_error(const char *text, const char *want)
{
    int rc = 0;
    char *errs = load_errors(text, &rc);
    char full[512];
    snprintf(full, sizeof full, "%s/p.yaml:%s", dir, want);
    CHECK(rc != 0);
    CHECK_CONTAINS(errs, full);
    free(errs);
}

static void test_valid_policy_loads(void)
{
    int rc = -1;
    char *errs = load_errors(HEAD "spec:\n  match:\n    kinds: [Pod]\n  validate:\n    podSecurity: {level: baseline}\n", &rc);
    CHECK_INT(rc, 0);
    CHECK_STR(errs, "");
    free(errs);
}

static void test_error_positions(void)
{
    /* YAML syntax */
    expect_error(HEAD "spec: [unclosed\n", "6:1: YAML:");
    /* a typo in a field name, with a suggestion */
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n      runAsNonroot: true\n",
                 "9:7: unknown field 'runAsNonroot' in spec.mutate.securityContext (did you mean 'runAsNonRoot'?)");
    expect_error("apiVersion: policy.aimguard.io/v1\nkind: AdmissionPolicy\nmetadata: {name: p}\nspec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n",
                 "1:13: apiVersion must be policy.aimguard.io/v1alpha2 or policy.aimguard.io/v1alpha1");
    expect_error("apiVersion: policy.aimguard.io/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n",
                 "2:7: kind must be AdmissionPolicy");
    expect_error("apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: Bad_Name}\nspec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n",
                 "3:18: metadata.name 'Bad_Name' must be a DNS label");
    expect_error(HEAD "spec:\n  validate: {podSecurity: {level: baseline}}\n", "6:3: spec.match is required");
    expect_error(HEAD "spec:\n  match: {operations: [CREATE]}\n  validate: {podSecurity: {level: baseline}}\n",
                 "6:10: spec.match.kinds is required");
    expect_error(HEAD "spec:\n  action: deny\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n",
                 "6:11: spec.action must be enforce, warn or audit");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod], operations: [CREATE, PATCH]}\n  validate: {podSecurity: {level: baseline}}\n",
                 "6:46: spec.match.operations: unknown operation 'PATCH'");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: strict}}\n",
                 "7:35: podSecurity.level must be baseline, restricted or privileged");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline, version: v1.25}}\n",
                 "7:54: podSecurity.version: only latest");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n", "6:3: a policy needs a mutate or a validate block");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n",
                 "7:3: spec: duplicate field 'match'");
}

static void test_rule_errors(void)
{
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - name: img\n        path: spec.containers[*].image\n        matches: '(unclosed'\n",
                 "11:18: pattern '(unclosed': missing closing parenthesis");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - name: two\n        path: spec.hostNetwork\n        absent: true\n        equals: false\n",
                 "9:9: rule two: exactly one condition is needed");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - name: bad\n        path: spec.containers[x].image\n        absent: true\n",
                 "10:15: path 'spec.containers[x].image': expected [*], [N] or ['key']");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - name: r\n        path: spec.x\n        range: {min: 5, max: 1}\n",
                 "11:16: range: min > max");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - {name: r, path: spec.x, absent: true}\n      - {name: r, path: spec.y, absent: true}\n",
                 "10:16: rule name 'r' is used twice");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - {name: r, path: podSpec.allContainers.image, absent: true}\n",
                 "9:25: path 'podSpec.allContainers.image': allContainers must be followed by [*]");
}

static void test_mutate_and_exception_errors(void)
{
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n"
                 "      readOnlyRootFilesystem: true\n      writableDirs: [tmp]\n",
                 "10:22: writableDirs: 'tmp' must be an absolute path");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n      writableDirs: [/tmp]\n",
                 "9:7: writableDirs only makes sense with readOnlyRootFilesystem: true");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n      seccompProfile: Unconfined\n",
                 "9:23: seccompProfile must be RuntimeDefault");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n      runAsUser: -1\n",
                 "9:18: runAsUser must be an integer between 0 and 2147483647");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    gpu:\n      nodeAffinity:\n"
                 "        - {key: amd.com/gpu.device-id, operator: In}\n",
                 "10:11: gpu.nodeAffinity: operator In needs a non-empty values list");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n"
                 "  exceptions:\n    - {controls: [seccompProfile], namespaces: [dev]}\n",
                 "9:7: an exception needs a reason");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n"
                 "  exceptions:\n    - {controls: [seccompProfile], namespaces: [dev], reason: x, expires: next-week}\n",
                 "9:75: expires must be a date");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n"
                 "  exceptions:\n    - {controls: ['*'], namespaces: [dev], reason: x}\n",
                 "9:18: an exception cannot waive every control");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate: {podSecurity: {level: baseline}}\n"
                 "  exceptions:\n    - {controls: [privileged], reason: x}\n",
                 "9:7: an exception must be scoped by namespaces, names, users or images");
}

/* found by fuzz_policy: a repeated key used to be compiled twice and leak the first */
static void test_duplicate_keys_are_reported_and_not_compiled_twice(void)
{
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    gpu:\n"
                 "      tolerations: [{key: a, operator: Exists}]\n"
                 "      tolerations: [{key: b, operator: Exists}]\n",
                 "10:7: spec.mutate.gpu: duplicate field 'tolerations'");
    expect_error(HEAD "spec:\n  match: {kinds: [Pod]}\n  validate:\n    rules:\n"
                 "      - {name: r, path: spec.x, equals: 1, oneOf: [1, 2]}\n",
                 "9:9: rule r: exactly one condition is needed");
}

static void test_every_error_is_reported(void)
{
    int rc = 0;
    char *errs = load_errors(HEAD "spec:\n  action: nope\n  match: {kinds: [Pod], colour: red}\n"
                             "  validate: {podSecurity: {level: x}}\n", &rc);
    CHECK(rc != 0);
    CHECK_CONTAINS(errs, "p.yaml:6:11: spec.action");
    CHECK_CONTAINS(errs, "p.yaml:7:25: unknown field 'colour'");
    CHECK_CONTAINS(errs, "p.yaml:8:35: podSecurity.level");
    free(errs);
}

static void test_directory_rules(void)
{
    reset_dir();
    char sub[400], dot[400];
    snprintf(sub, sizeof sub, "%s/team", dir);
    snprintf(dot, sizeof dot, "%s/..data", dir);
    mkdir(sub, 0755);
    mkdir(dot, 0755);
    write_file("a.yaml", HEAD "spec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n");
    write_file("team/b.yml", "apiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: b}\n"
               "spec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n---\n");
    write_file("..data/c.yaml", "this: is: not: loaded\n");
    write_file(".hidden.yaml", "nor: [this\n");
    write_file("notes.txt", "ignored\n");
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {7, -1};
    CHECK_INT(ag_policy_load(dir, &o, &set, &d, &err), 0);
    CHECK_INT(ag_policy_set_count(set), 2);
    CHECK_INT(ag_policy_set_generation(set), 7);
    ag_policy_set_unref(set);
    /* the same name twice is an error that points at both */
    write_file("z.yaml", HEAD "spec: {match: {kinds: [Pod]}, validate: {podSecurity: {level: baseline}}}\n");
    CHECK(ag_policy_load(dir, &o, &set, &d, &err) != 0);
    CHECK(d.count == 1);
    if (d.count) {
        CHECK_CONTAINS(d.items[0], "z.yaml:4:9: policy name 'p' is already used at ");
        CHECK_CONTAINS(d.items[0], "a.yaml:1:1");
    }
    ag_diags_clear(&d);
    /* an empty directory is not a valid policy set */
    reset_dir();
    CHECK(ag_policy_load(dir, &o, &set, &d, &err) != 0);
    CHECK_CONTAINS(err.msg, "no policies found");
    ag_diags_clear(&d);
}

/* An entry of writableDirs refused after its medium or sizeLimit was read (no path, a
 * relative path) leaked them (found by fuzz_policy, LeakSanitizer): the slot of a
 * refused entry is now cleared. A leak fails this test in the sanitizer builds. */
static void test_refused_writable_dirs_do_not_leak(void)
{
    const char *text = HEAD "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    securityContext:\n"
        "      readOnlyRootFilesystem: true\n      writableDirs:\n"
        "        - {sizeLimit: 1Gi, medium: Memory}\n"
        "        - {path: tmp, medium: Memory, sizeLimit: 2Gi}\n"
        "        - /ok\n";
    expect_error(text, "11:11: writableDirs[].path is required");
    expect_error(text, "12:11: writableDirs: 'tmp' must be an absolute path");
}

int main(void)
{
    RUN(test_valid_policy_loads);
    RUN(test_error_positions);
    RUN(test_rule_errors);
    RUN(test_mutate_and_exception_errors);
    RUN(test_duplicate_keys_are_reported_and_not_compiled_twice);
    RUN(test_every_error_is_reported);
    RUN(test_directory_rules);
    RUN(test_refused_writable_dirs_do_not_leak);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return agt_finish();
}
