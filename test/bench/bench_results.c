/* What counting per-rule results costs on the webhook's /validate path, per request
 * through the admission flow (decode -> decide -> encode):
 *   findings  what `serve` does: AG_MODE_VALIDATE, then one aimguard_policy_results_total
 *             increment per (policy, rule) with violations, from ag_decision.findings
 *   results   the alternative: AG_MODE_VALIDATE | AG_MODE_RESULTS (a result object for every
 *             matched rule, passes included), one increment per result
 * Process CPU time, in alternating blocks so another process on the machine moves neither
 * figure much. With AG_BENCH_MODE=findings|results only that one runs (ITERATIONS times):
 * for an instruction count, `valgrind --tool=callgrind build/test/bench_results ...`.
 * usage: bench_results POLICIES ITERATIONS BODY.json [BODY.json ...]
 * (bodies: test/bench/make_bodies.py; policies: policies/default) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "aimguard/admission.h"
#include "aimguard/metrics.h"
#include "aimguard/policy.h"

enum { FINDINGS, RESULTS };

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One block of n requests in one mode; its CPU seconds. */
static double block(const ag_policy_set *set, ag_metrics *m, int mode, const char *body, size_t len, int n)
{
    ag_admission_options opt = {AG_MODE_VALIDATE | (mode == RESULTS ? AG_MODE_RESULTS : 0), time(NULL), 1, 0,
                                JSON_COMPACT, 1, 1};
    double t0 = bench_cpu_now();
    for (int i = 0; i < n; i++) {
        ag_admission_result res;
        ag_admission_handle(set, NULL, &opt, body, len, &res);
        json_t *r;
        size_t k;
        if (mode == RESULTS) {
            json_array_foreach(res.decision.results, k, r)
                ag_metrics_policy_result(m, str(r, "policy"), str(r, "rule"), NULL, str(r, "result"));
        } else {
            /* as server/http/server.c: one count per run of findings of one (policy, rule) */
            const ag_decision *d = &res.decision;
            for (k = 0; k < d->nfindings; k++)
                if (!k || strcmp(d->findings[k - 1].policy, d->findings[k].policy) ||
                    strcmp(d->findings[k - 1].rule, d->findings[k].rule))
                    ag_metrics_policy_result(m, d->findings[k].policy, d->findings[k].rule, d->findings[k].severity, "fail");
        }
        ag_admission_result_clear(&res);
    }
    return bench_cpu_now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_results POLICIES ITERATIONS BODY.json [BODY.json ...]\n");
        return 2;
    }
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options lo = {1, -1};
    if (ag_policy_load(argv[1], &lo, &set, &d, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int iters = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
    const char *only = getenv("AG_BENCH_MODE");
    ag_metrics *m = ag_metrics_new();
    if (!only)
        printf("| body | findings (serve, us/request) | results (us/request) | results cost more by |\n"
               "|---|---|---|---|\n");
    for (int b = 3; b < argc; b++) {
        size_t len;
        char *body = bench_slurp(argv[b], &len);
        if (!body) {
            fprintf(stderr, "cannot read %s\n", argv[b]);
            return 1;
        }
        const char *name = strrchr(argv[b], '/');
        name = name ? name + 1 : argv[b];
        if (only) {
            int mode = !strcmp(only, "results") ? RESULTS : FINDINGS;
            double t = block(set, m, mode, body, len, iters);
            printf("%s %s: %.2f us/request\n", name, mode == RESULTS ? "results" : "findings", t / iters * 1e6);
            free(body);
            continue;
        }
        int per = iters / 20 > 0 ? iters / 20 : 1;
        double t[2] = {0, 0};
        block(set, m, FINDINGS, body, len, per); /* warm up */
        block(set, m, RESULTS, body, len, per);
        for (int round = 0; round < 20; round++)
            for (int k = 0; k < 2; k++) {
                int mode = (round + k) % 2; /* A B, then B A: neither always runs second */
                t[mode] += block(set, m, mode, body, len, per);
            }
        double a = t[FINDINGS] / (per * 20) * 1e6, r = t[RESULTS] / (per * 20) * 1e6;
        printf("| %s | %.2f | %.2f | %+.1f%% |\n", name, a, r, (r - a) / a * 100.0);
        free(body);
    }
    ag_metrics_free(m);
    ag_policy_set_unref(set);
    ag_diags_clear(&d);
    return 0;
}
