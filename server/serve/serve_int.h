/* serve/'s internals: shared by the process wiring (serve.c), its flag table (flags.c),
 * its periodic jobs (jobs.c) and the policy digest (policy_digest.c). Not public. */
#ifndef AIMGUARD_SERVE_INT_H
#define AIMGUARD_SERVE_INT_H

#include <stddef.h>

#include "aimguard/policy.h"
#include "aimguard/serve.h"

/* policy_digest.c: "sha256-<hex>" of the policy files at path (0, or -1), and how many
 * files a refused load's diagnostics blame (at least 1). */
int serve_policy_digest(const char *path, char *out, size_t cap);
size_t serve_policy_failing_files(const ag_diags *d);

/* jobs.c: the control loop's periodic work, one named job per task, each with a period
 * (Redis's run_with_period). Control-loop thread only. */
typedef struct serve_job {
    const char *name;
    long long period_ms;
    int on_file_event;    /* brought forward by a file event, after the debounce */
    void (*run)(void *ctx);
    long long due;        /* next run, monotonic ms */
    unsigned long long runs;
} serve_job;

long long serve_now_ms(void);
/* Each job first runs one period after now. */
void serve_jobs_start(serve_job *jobs, size_t n, long long now);
/* Milliseconds until the next job is due (0 when one is late; at most 60 s). */
int serve_jobs_timeout(const serve_job *jobs, size_t n, long long now);
/* The file-event jobs run at `at` at the latest (never later than already due). */
void serve_jobs_kick(serve_job *jobs, size_t n, long long at);
/* Runs every job due at now; each is next due one period after now. */
void serve_jobs_run_due(serve_job *jobs, size_t n, long long now, void *ctx);

#endif
