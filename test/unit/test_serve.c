/* serve/'s control-loop jobs: each runs once per period, a file event brings the
 * reload jobs forward to the debounce and never pushes a job back, and the loop's
 * sleep is the time to the next due job. */
#include "agtest.h"
#include "../../server/serve/serve_int.h"

static int runs_a, runs_b;
static void job_a(void *ctx) { (void)ctx; runs_a++; }
static void job_b(void *ctx) { (void)ctx; runs_b++; }

static void test_periods_and_timeout(void)
{
    serve_job jobs[] = {{"a", 1000, 1, job_a, 0, 0}, {"b", 86400000LL, 0, job_b, 0, 0}};
    runs_a = runs_b = 0;
    serve_jobs_start(jobs, 2, 0);
    CHECK_INT(serve_jobs_timeout(jobs, 2, 0), 1000);
    CHECK_INT(serve_jobs_timeout(jobs, 2, 400), 600);
    serve_jobs_run_due(jobs, 2, 999, NULL);
    CHECK_INT(runs_a, 0);
    serve_jobs_run_due(jobs, 2, 1000, NULL);
    CHECK_INT(runs_a, 1);
    CHECK_INT(runs_b, 0);
    CHECK(jobs[0].due == 2000); /* one period after it ran */
    CHECK_INT(serve_jobs_timeout(jobs, 2, jobs[0].due + 5), 0); /* late: at once */
}

static void test_file_event_brings_reloads_forward_only(void)
{
    serve_job jobs[] = {{"a", 1000, 1, job_a, 0, 0}, {"b", 86400000LL, 0, job_b, 0, 0}};
    runs_a = runs_b = 0;
    serve_jobs_start(jobs, 2, 0);
    serve_jobs_kick(jobs, 2, 150);
    CHECK(jobs[0].due == 150);
    CHECK(jobs[1].due == 86400000LL); /* not a file-event job */
    serve_jobs_kick(jobs, 2, 290); /* a later event of the same burst: no postponing */
    CHECK(jobs[0].due == 150);
    CHECK_INT(serve_jobs_timeout(jobs, 2, 100), 50);
    serve_jobs_run_due(jobs, 2, 150, NULL);
    CHECK_INT(runs_a, 1);
    CHECK_INT(runs_b, 0);
}

int main(void)
{
    RUN(test_periods_and_timeout);
    RUN(test_file_event_brings_reloads_forward_only);
    return agt_finish();
}
