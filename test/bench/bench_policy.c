/* Policy compile time for N generic rules and the per-request evaluation cost, for three
 * sets: the v1alpha1 mix (one path, one condition), the same number of v1alpha2 rules
 * using the condition vocabulary (forEach, all/any, quantities, contains, keysIn,
 * effective values, joins), and the cookbook's recipes (test/cookbook/NN-name/policy.yaml).
 * usage: bench_policy [RULES] [ITERATIONS] [SET]     (defaults 1000, 20000, all three;
 *        SET 0, 1 or 2 runs only that one) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aimguard/admission.h"
#include "aimguard/policy.h"
#include "aimguard/yaml.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void write_v1(FILE *f, int rules)
{
    /* 1000 rules spread over 10 policies: a mix of every condition kind */
    for (int p = 0; p < 10; p++) {
        fprintf(f, "---\napiVersion: policy.aimguard.io/v1alpha1\nkind: AdmissionPolicy\n"
                   "metadata: {name: bench-%d}\nspec:\n  match: {kinds: [Pod, apps/Deployment]}\n"
                   "  validate:\n    rules:\n", p);
        for (int r = 0; r < rules / 10; r++) {
            int k = r % 5;
            fprintf(f, "      - name: r%d\n        path: 'podSpec.allContainers[*].%s'\n", r,
                    k == 0 ? "ports[*].hostPort" : k == 1 ? "image" : k == 2 ? "imagePullPolicy"
                    : k == 3 ? "resources.limits.cpu" : "securityContext.privileged");
            if (k == 0) fprintf(f, "        absent: true\n");
            else if (k == 1) fprintf(f, "        matches: '^(registry%d\\.example\\.com|registry\\.k8s\\.io)/'\n        action: audit\n", r);
            else if (k == 2) fprintf(f, "        oneOf: [Always, IfNotPresent]\n");
            else if (k == 3) fprintf(f, "        notMatches: '^[0-9]{3,}$'\n");
            else fprintf(f, "        equals: false\n");
        }
    }
}

/* the same number of rules with the v1alpha2 vocabulary, in the shapes the cookbook uses */
static void write_v2(FILE *f, int rules)
{
    for (int p = 0; p < 10; p++) {
        fprintf(f, "---\napiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\n"
                   "metadata: {name: bench2-%d}\nspec:\n  match: {kinds: [Pod, apps/Deployment]}\n"
                   "  validate:\n    rules:\n", p);
        for (int r = 0; r < rules / 10; r++) {
            int k = r % 6;
            fprintf(f, "      - name: r%d\n        action: audit\n", r);
            if (k == 0)
                fprintf(f, "        forEach: podSpec.allContainers[*]\n        assert:\n          all:\n"
                           "            - {path: resources.limits.cpu, lessOrEqual: %d}\n"
                           "            - {path: resources.limits.memory, lessOrEqual: %dGi}\n"
                           "            - {path: resources.requests.cpu, lessOrEqual: {path: resources.limits.cpu}}\n",
                        1 + r % 8, 1 + r % 16);
            else if (k == 1)
                fprintf(f, "        forEach: podSpec.allContainers[*]\n        assert:\n"
                           "          effective: [securityContext.runAsNonRoot, $podSpec.securityContext.runAsNonRoot]\n"
                           "          equals: true\n");
            else if (k == 2)
                fprintf(f, "        path: podSpec.allContainers[*].securityContext.capabilities.drop\n"
                           "        contains: ALL\n");
            else if (k == 3)
                fprintf(f, "        path: podSpec.volumes[*]\n        keysIn: [name, emptyDir, configMap, secret, "
                           "projected, persistentVolumeClaim]\n");
            else if (k == 4)
                fprintf(f, "        forEach: podSpec.volumes[*]\n        where: {path: emptyDir, type: object}\n"
                           "        assert:\n          forEach: $podSpec.allContainers[*].volumeMounts[*]\n"
                           "          joinOn: name\n          assert: {path: readOnly, equals: false}\n");
            else
                fprintf(f, "        forEach: podSpec.allContainers[*].ports[*]\n        assert:\n          any:\n"
                           "            - {path: hostPort, equals: 0}\n"
                           "            - {path: hostPort, range: {min: 8000, max: %d}}\n", 8000 + r);
        }
    }
}

/* the cookbook's policies, copied into one directory */
static int write_recipes(const char *dir)
{
    char cmd[1024];
    const char *src = getenv("AG_SRC") ? getenv("AG_SRC") : ".";
    snprintf(cmd, sizeof cmd, "for f in '%s'/test/cookbook/*/policy.yaml; do cp \"$f\" '%s'/$(basename \"$(dirname \"$f\")\").yaml; done",
             src, dir);
    return system(cmd);
}

typedef struct figures {
    size_t rules;
    double compile, per;
} figures;

static int measure(const char *dir, ag_request *req, int iters, figures *out)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    double t0 = now();
    int runs = 20;
    for (int i = 0; i < runs; i++) {
        ag_policy_set_unref(set);
        set = NULL;
        if (ag_policy_load(dir, &o, &set, &d, &err)) {
            for (size_t j = 0; j < d.count; j++) fprintf(stderr, "%s\n", d.items[j]);
            return 1;
        }
    }
    out->compile = (now() - t0) / runs;
    t0 = now();
    for (int i = 0; i < iters; i++) {
        ag_decision dec;
        ag_decide(set, req, NULL, AG_MODE_BOTH, time(NULL), &dec, &err);
        ag_decision_clear(&dec);
    }
    out->per = (now() - t0) / iters;
    out->rules = ag_policy_set_rule_count(set);
    ag_policy_set_unref(set);
    ag_diags_clear(&d);
    return 0;
}

int main(int argc, char **argv)
{
    int rules = argc > 1 ? atoi(argv[1]) : 1000;
    int iters = argc > 2 ? atoi(argv[2]) : 20000;
    int only = argc > 3 ? atoi(argv[3]) : -1;
    char dirs[3][32] = {"/tmp/ag-bench-XXXXXX", "/tmp/ag-bench-XXXXXX", "/tmp/ag-bench-XXXXXX"};
    for (int i = 0; i < 3; i++)
        if (!mkdtemp(dirs[i]))
            return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/rules.yaml", dirs[0]);
    FILE *f = fopen(path, "w");
    write_v1(f, rules);
    fclose(f);
    snprintf(path, sizeof path, "%s/rules.yaml", dirs[1]);
    f = fopen(path, "w");
    write_v2(f, rules);
    fclose(f);
    if (write_recipes(dirs[2]))
        return 1;

    json_t *obj = NULL;
    ag_error err = {0};
    const char *fixture = getenv("AG_BENCH_OBJECT");
    char fallback[512];
    if (!fixture) {
        if (getenv("AG_SHARED"))
            snprintf(fallback, sizeof fallback, "%s/conformance/psa/restricted/pass/base.yaml", getenv("AG_SHARED"));
        else
            snprintf(fallback, sizeof fallback, "%s/../shared/conformance/psa/restricted/pass/base.yaml",
                     getenv("AG_SRC") ? getenv("AG_SRC") : ".");
        fixture = fallback;
    }
    if (ag_load_object_file(fixture, &obj, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ag_request req;
    ag_request_synthesize(&req, obj, NULL, "CREATE", "team-a", "alice", NULL, 0, &err);
    static const char *const names[] = {"v1alpha1 mix", "v1alpha2 vocabulary", "cookbook recipes"};
    printf("| rule set | policy rules | compile (load+parse+compile, mean of 20) | decide per request "
           "(mutate+validate, %s) |\n|---|---|---|---|\n", fixture);
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        if (only >= 0 && i != only)
            continue;
        figures fg;
        rc = measure(dirs[i], &req, iters, &fg);
        if (!rc)
            printf("| %s | %zu | %.2f ms | %.1f us |\n", names[i], fg.rules, fg.compile * 1e3, fg.per * 1e6);
    }
    ag_request_clear(&req);
    json_decref(obj);
    for (int i = 0; i < 3; i++) {
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dirs[i]);
        if (system(cmd) != 0)
            rc = 1;
    }
    return rc;
}
