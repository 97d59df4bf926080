/* The control loop's periodic work as named jobs with a period, as Redis's serverCron
 * runs its tasks with run_with_period: the loop sleeps until the next job is due (or a
 * signal or a file event wakes it), then runs every job whose time has come. A job can
 * be brought forward (a file event asks for a reload after the debounce), never pushed
 * back, so a burst of events cannot starve it. Monotonic milliseconds: a wall-clock step
 * changes no schedule. Used by the control loop's thread only. */
#include "serve_int.h"

#include <time.h>

long long serve_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void serve_jobs_start(serve_job *jobs, size_t n, long long now)
{
    for (size_t i = 0; i < n; i++)
        jobs[i].due = now + jobs[i].period_ms;
}

int serve_jobs_timeout(const serve_job *jobs, size_t n, long long now)
{
    long long next = -1;
    for (size_t i = 0; i < n; i++)
        if (next < 0 || jobs[i].due < next)
            next = jobs[i].due;
    if (next < 0)
        return -1;
    long long wait = next - now;
    return wait < 0 ? 0 : wait > 60 * 1000 ? 60 * 1000 : (int)wait;
}

void serve_jobs_kick(serve_job *jobs, size_t n, long long at)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].on_file_event && at < jobs[i].due)
            jobs[i].due = at;
}

void serve_jobs_run_due(serve_job *jobs, size_t n, long long now, void *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (jobs[i].due <= now) {
            jobs[i].run(ctx);
            jobs[i].runs++;
            jobs[i].due = now + jobs[i].period_ms;
        }
}
