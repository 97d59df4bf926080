/* Where one admission review's CPU goes, phase by phase, on real review bodies (the
 * captures in ../shared/conformance/admissionreview or make_bodies.py's), through the
 * same calls the webhook route makes:
 *   decode   ag_request_decode + ag_request_clear (reading the body into the request, with
 *            the bookkeeping left out when the policies allow it, as the server does)
 *   handle   ag_admission_handle + ag_admission_result_clear (decode, decide, encode, free)
 * and the difference of the two (decide + encode). Process CPU time over ITERATIONS, in
 * alternating blocks so another process on the machine moves neither figure much.
 * AG_BENCH_PHASE=decode|handle runs only that one (for valgrind --tool=callgrind);
 * AG_BENCH_ARENA=0 reads without the per-request arena (the server reads into one).
 * usage: bench_review POLICIES ITERATIONS mutate|validate BODY.json [BODY.json ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"

static int use_arena = 1;

static double run_decode(const ag_policy_set *set, const char *body, size_t len, int n)
{
    unsigned flags = (ag_policy_set_reads_bookkeeping(set) ? 0 : AG_DECODE_PRUNE_BOOKKEEPING) |
                     (use_arena ? AG_DECODE_ARENA : 0);
    double t0 = bench_cpu_now();
    for (int i = 0; i < n; i++) {
        ag_request req;
        ag_error err = {0};
        if (ag_request_decode(body, len, flags, &req, &err) == 0)
            ag_request_clear(&req);
    }
    return bench_cpu_now() - t0;
}

static double run_handle(const ag_policy_set *set, int mode, const char *body, size_t len, int n)
{
    ag_admission_options opt = {mode, time(NULL), 1, 0, JSON_COMPACT, 1, use_arena};
    double t0 = bench_cpu_now();
    for (int i = 0; i < n; i++) {
        ag_admission_result res;
        ag_admission_handle(set, NULL, &opt, body, len, &res);
        ag_admission_result_clear(&res);
    }
    return bench_cpu_now() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_review POLICIES ITERATIONS mutate|validate BODY.json...\n");
        return 2;
    }
    int iters = atoi(argv[2]);
    /* as the server: the patch of /mutate only as the text it sends */
    int mode = !strcmp(argv[3], "validate") ? AG_MODE_VALIDATE : AG_MODE_MUTATE | AG_MODE_PATCH_TEXT;
    const char *only = getenv("AG_BENCH_PHASE");
    if (getenv("AG_BENCH_ARENA"))
        use_arena = atoi(getenv("AG_BENCH_ARENA")) != 0;
    ag_error err = {0};
    ag_policy_set *set = NULL;
    ag_load_options lo = {1, -1};
    ag_diags d = {0};
    if (ag_policy_load(argv[1], &lo, &set, &d, &err)) {
        fprintf(stderr, "bench_review: %s\n", err.msg);
        return 2;
    }
    if (!only)
        printf("%-60s %9s %9s %9s %9s\n", "body", "bytes", "decode", "rest", "handle");
    for (int b = 4; b < argc; b++) {
        size_t len;
        char *body = bench_slurp(argv[b], &len);
        if (!body) {
            fprintf(stderr, "bench_review: cannot read %s\n", argv[b]);
            return 2;
        }
        ag_admission_options opt = {mode, time(NULL), 1, 0, JSON_COMPACT, 1, use_arena};
        ag_admission_result res;
        ag_admission_handle(set, NULL, &opt, body, len, &res);
        int status = res.status;
        ag_admission_result_clear(&res);
        if (status != 200) {
            fprintf(stderr, "bench_review: %s answered %d\n", argv[b], status);
            return 1;
        }
        double dec = 0, all = 0;
        int blocks = 10, per = iters / blocks > 0 ? iters / blocks : 1;
        for (int k = 0; k < blocks; k++) {
            if (!only || !strcmp(only, "decode"))
                dec += run_decode(set, body, len, per);
            if (!only || !strcmp(only, "handle"))
                all += run_handle(set, mode, body, len, per);
        }
        int n = per * blocks;
        const char *name = strrchr(argv[b], '/');
        if (!only)
            printf("%-60s %9zu %7.1fus %7.1fus %7.1fus\n", name ? name + 1 : argv[b], len, dec / n * 1e6,
                   (all - dec) / n * 1e6, all / n * 1e6);
        free(body);
    }
    ag_policy_set_unref(set);
    ag_diags_clear(&d);
    return 0;
}
