/* Policy compile time for N generic rules and the per-request evaluation cost.
 * usage: bench_policy [RULES] [ITERATIONS]     (defaults 1000, 20000) */
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

int main(int argc, char **argv)
{
    int rules = argc > 1 ? atoi(argv[1]) : 1000;
    int iters = argc > 2 ? atoi(argv[2]) : 20000;
    char dir[] = "/tmp/ag-bench-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/rules.yaml", dir);
    FILE *f = fopen(path, "w");
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
    fclose(f);

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
    double compile = (now() - t0) / runs;

    json_t *obj = NULL;
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
    t0 = now();
    for (int i = 0; i < iters; i++) {
        ag_decision dec;
        ag_decide(set, &req, NULL, AG_MODE_BOTH, time(NULL), &dec, &err);
        ag_decision_clear(&dec);
    }
    double per = (now() - t0) / iters;
    printf("| policy rules | compile (load+parse+compile, mean of %d) | decide per request (mutate+validate, %s) |\n"
           "|---|---|---|\n| %zu | %.2f ms | %.1f us |\n", runs, fixture, ag_policy_set_rule_count(set),
           compile * 1e3, per * 1e6);
    ag_request_clear(&req);
    json_decref(obj);
    ag_policy_set_unref(set);
    unlink(path);
    rmdir(dir);
    return 0;
}
