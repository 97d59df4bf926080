/* The admission path's JSON cost, jansson against include/aimguard/jsonio.h, on real
 * review bodies: process CPU µs per read (the read and the json_decref of its value) with
 *   json_loadb(JSON_REJECT_DUPLICATES), ag_json_read, ag_json_read with the prune table of
 *   the admission path (managedFields and status dropped, last-applied-configuration
 *   blanked, in request.object and request.oldObject)
 * and per write of the whole review: json_dumps(JSON_COMPACT | JSON_ENCODE_ANY) (and its
 * free) against ag_json_write into a reused buffer. Each figure is the best of 5 blocks,
 * so another process on the machine moves it little. Exits 1 if the two disagree.
 * AG_BENCH_PHASE=jansson|read|prune|dumps|write runs only that one (for valgrind
 * --tool=callgrind).
 * usage: bench_json ITERATIONS FILE.json [FILE.json ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "aimguard/jsonio.h"

static const char *const p_obj_mf[] = {"request", "object", "metadata", "managedFields", NULL};
static const char *const p_obj_st[] = {"request", "object", "status", NULL};
static const char *const p_obj_la[] = {"request", "object", "metadata", "annotations",
                                       "kubectl.kubernetes.io/last-applied-configuration", NULL};
static const char *const p_old_mf[] = {"request", "oldObject", "metadata", "managedFields", NULL};
static const char *const p_old_st[] = {"request", "oldObject", "status", NULL};
static const char *const p_old_la[] = {"request", "oldObject", "metadata", "annotations",
                                       "kubectl.kubernetes.io/last-applied-configuration", NULL};
static const ag_json_prune review_prune[] = {
    {p_obj_mf, AG_JSON_DROP}, {p_obj_st, AG_JSON_DROP}, {p_obj_la, AG_JSON_BLANK},
    {p_old_mf, AG_JSON_DROP}, {p_old_st, AG_JSON_DROP}, {p_old_la, AG_JSON_BLANK},
};

enum { JANSSON, OURS, PRUNED, DUMPS, WRITE, NKINDS };

static int run(int kind, const char *body, size_t len, const json_t *v, int n)
{
    int bad = 0;
    ag_buf b = {0};
    for (int i = 0; i < n; i++) {
        json_t *r = NULL;
        if (kind == JANSSON) {
            json_error_t e;
            r = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
        } else if (kind == OURS) {
            r = ag_json_read(body, len, 128, NULL, 0, NULL);
        } else if (kind == PRUNED) {
            r = ag_json_read(body, len, 128, review_prune, sizeof review_prune / sizeof *review_prune, NULL);
        } else if (kind == DUMPS) {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            bad |= !s;
            free(s);
            continue;
        } else {
            b.len = 0; /* reused, as a request's response buffer would be */
            bad |= ag_json_write(&b, v);
            continue;
        }
        bad |= !r;
        json_decref(r);
    }
    ag_buf_clear(&b);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_json ITERATIONS FILE.json [FILE.json ...]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    if (n <= 0)
        n = 1;
    static const char *names[NKINDS] = {"json_loadb", "ag_json_read", "ag_json_read+prune",
                                        "json_dumps", "ag_json_write"};
    static const char *phases[NKINDS] = {"jansson", "read", "prune", "dumps", "write"};
    const char *only = getenv("AG_BENCH_PHASE");
    int status = 0;
    for (int f = 2; f < argc; f++) {
        size_t len;
        char *body = bench_slurp(argv[f], &len);
        json_error_t e;
        json_t *v = body ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &e) : NULL;
        json_t *mine = body ? ag_json_read(body, len, 128, NULL, 0, NULL) : NULL;
        if (!v || !mine || !json_equal(v, mine)) {
            fprintf(stderr, "%s: unreadable, or the readers disagree\n", argv[f]);
            status = 1;
            goto next;
        }
        ag_buf b = {0};
        char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (ag_json_write(&b, v) || !d || strcmp(d, b.p)) {
            fprintf(stderr, "%s: the writers disagree\n", argv[f]);
            status = 1;
        }
        json_t *pr = ag_json_read(body, len, 128, review_prune, 6, NULL);
        ag_buf pb = {0};
        ag_json_write(&pb, pr);
        printf("%s (%zu bytes, %zu pruned)\n", argv[f], len, pb.p ? len - pb.len : 0);
        json_decref(pr);
        ag_buf_clear(&pb);
        free(d);
        ag_buf_clear(&b);
        double best[NKINDS];
        for (int k = 0; k < NKINDS; k++)
            best[k] = 1e30;
        for (int block = 0; block < 5; block++)
            for (int k = 0; k < NKINDS; k++) {
                if (only && strcmp(only, phases[k]))
                    continue;
                double t0 = bench_cpu_now();
                status |= run(k, body, len, v, n);
                double t = (bench_cpu_now() - t0) / n * 1e6;
                if (t < best[k])
                    best[k] = t;
            }
        for (int k = 0; k < NKINDS && !only; k++) {
            int base = k < DUMPS ? JANSSON : DUMPS;
            printf("  %-20s %8.2f us  (%.2fx)\n", names[k], best[k], best[base] / best[k]);
        }
    next:
        json_decref(v);
        json_decref(mine);
        free(body);
    }
    return status;
}
