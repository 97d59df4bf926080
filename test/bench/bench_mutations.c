/* Per-request cost of the generic mutations (spec.mutate.rules): the five mutation
 * recipes of docs/policy-cookbook-more.md (21-25) loaded together, deciding (mutate +
 * validate) on recipe 24's Deployment, which every one of them changes, and on its
 * already mutated form, which none changes (the idempotent path: only the checks).
 * usage: bench_mutations [ITERATIONS]   (default 20000; AG_SRC finds test/cookbook) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aimguard/admission.h"
#include "aimguard/policy.h"
#include "aimguard/yaml.h"

static const char *const recipes[] = {"21-default-resources", "22-hardened-marker", "23-pull-always",
                                      "24-zone-spread", "25-append-unless-present"};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = in ? fopen(to, "w") : NULL;
    char buf[4096];
    size_t n;
    while (out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    int ok = in && out;
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    return ok ? 0 : -1;
}

/* mean microseconds of one decision on the object in file, and its patch length */
static double decide_us(const ag_policy_set *set, const char *file, int iters, size_t *ops)
{
    json_t *obj = NULL;
    ag_error err = {0};
    if (ag_load_object_file(file, &obj, &err)) {
        fprintf(stderr, "%s: %s\n", file, err.msg);
        exit(1);
    }
    ag_request req;
    ag_request_synthesize(&req, obj, NULL, "CREATE", "team-a", "alice", NULL, 0, &err);
    double t0 = now();
    for (int i = 0; i < iters; i++) {
        ag_decision dec;
        ag_decide(set, &req, NULL, AG_MODE_BOTH, time(NULL), &dec, &err);
        if (i == 0)
            *ops = json_array_size(dec.patch);
        ag_decision_clear(&dec);
    }
    double per = (now() - t0) / iters;
    ag_request_clear(&req);
    json_decref(obj);
    return per * 1e6;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    const char *src = getenv("AG_SRC") ? getenv("AG_SRC") : ".";
    char dir[] = "/tmp/ag-bench-mut-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char from[1024], to[1024];
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        snprintf(from, sizeof from, "%s/test/cookbook/%s/policy.yaml", src, recipes[i]);
        snprintf(to, sizeof to, "%s/%s.yaml", dir, recipes[i]);
        if (copy(from, to)) {
            fprintf(stderr, "cannot copy %s (set AG_SRC to the source tree)\n", from);
            return 1;
        }
    }
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    if (ag_policy_load(dir, &o, &set, &d, &err)) {
        for (size_t j = 0; j < d.count; j++)
            fprintf(stderr, "%s\n", d.items[j]);
        return 1;
    }
    size_t ops_in = 0, ops_out = 0;
    snprintf(from, sizeof from, "%s/test/cookbook/24-zone-spread/input.yaml", src);
    double in = decide_us(set, from, iters, &ops_in);
    /* its mutated form: write what the five policies make of it, then decide on that */
    snprintf(to, sizeof to, "%s/mutated.json", dir);
    {
        json_t *obj = NULL;
        ag_load_object_file(from, &obj, &err);
        ag_request req;
        ag_request_synthesize(&req, obj, NULL, "CREATE", "team-a", "alice", NULL, 0, &err);
        ag_decision dec;
        ag_decide(set, &req, NULL, AG_MODE_BOTH, time(NULL), &dec, &err);
        json_dump_file(dec.object_after, to, 0);
        ag_decision_clear(&dec);
        ag_request_clear(&req);
        json_decref(obj);
    }
    double out = decide_us(set, to, iters, &ops_out);
    printf("| object (5 mutation policies, recipes 21-25) | patch ops | decide per request (mutate+validate) |\n"
           "|---|---|---|\n| recipe 24 input (every rule adds) | %zu | %.1f us |\n"
           "| its mutated form (idempotent: nothing to add) | %zu | %.1f us |\n",
           ops_in, in, ops_out, out);
    ag_policy_set_unref(set);
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        snprintf(to, sizeof to, "%s/%s.yaml", dir, recipes[i]);
        unlink(to);
    }
    snprintf(to, sizeof to, "%s/mutated.json", dir);
    unlink(to);
    rmdir(dir);
    return ops_out == 0 ? 0 : 1;
}
