/* Out of memory on any allocation of the JSON layer (an allocator hook fails the Nth
 * allocation, for every N a whole decision makes): the admission flow the server runs
 * (decoding, deciding and answering) must fail cleanly — an error the server turns into a denial — never crash or leak
 * (ASan/LSan watch). */
#include "agtest.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

static long countdown = -1; /* allocations left before failing; -1 never fails */
static long allocations;
/* aimguard's own functions (the per-request arena's, aimguard/jsonarena.h): the failing
 * one fails in front of them, so the server's reading into an arena is what is tested */
static json_malloc_t real_malloc;
static json_free_t real_free;

static void *failing_malloc(size_t n)
{
    allocations++;
    if (countdown == 0)
        return NULL;
    if (countdown > 0)
        countdown--;
    return real_malloc(n);
}

/* One request through the admission flow the server runs (ag_admission_handle).
 * outcome: 0 decided and answered, 1 bad request (400), 2 no response built (500),
 * 3 evaluation error answered as a denial (200); *allowed is what the answer sent says,
 * read back from the body, when one was sent. */
static int one_decision(ag_policy_set *set, const char *body, size_t len, int *outcome, int *allowed)
{
    ag_admission_options opt = {AG_MODE_BOTH, time(NULL), 1, 0, JSON_COMPACT, 1, 1}; /* the server's */
    ag_admission_result res;
    int rc = ag_admission_handle(set, NULL, &opt, body, len, &res);
    long left = countdown;
    countdown = -1; /* reading the answer back must not fail */
    if (rc)
        CHECK(res.err.msg[0] != '\0'); /* a failure always says why */
    CHECK(res.status == 500 || res.body != NULL);
    *outcome = res.status == 400 ? 1 : res.status == 500 ? 2 : rc ? 3 : 0;
    if (res.status == 200) {
        json_t *sent = json_loadb(res.body, res.len, 0, NULL);
        json_t *a = json_object_get(json_object_get(sent, "response"), "allowed");
        CHECK(json_is_boolean(a));
        *allowed = json_is_true(a);
        CHECK(!rc || !*allowed); /* an evaluation failure is a denial */
        json_decref(sent);
    }
    ag_admission_result_clear(&res);
    countdown = left;
    return 0;
}

static void run_all_failures_with(const char *policies, const char *fixture, int want_allowed)
{
    ag_policy_set *set = NULL;
    ag_diags dg = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    CHECK_INT(ag_policy_load(agt_path("AG_SRC", policies), &o, &set, &dg, &err), 0);
    ag_diags_clear(&dg);
    size_t len = 0;
    char *body = agt_read_file(agt_path("AG_SHARED", fixture), &len);
    CHECK(body && set);
    if (!body || !set)
        return;
    json_get_alloc_funcs(&real_malloc, &real_free);
    json_set_alloc_funcs(failing_malloc, real_free);
    allocations = 0;
    countdown = -1;
    int outcome = -1, allowed = -1;
    one_decision(set, body, len, &outcome, &allowed);
    long total = allocations;
    CHECK_INT(outcome, 0);
    CHECK_INT(allowed, want_allowed);
    CHECK(total > 50);
    int failed_cleanly = 0;
    for (long n = 0; n < total; n++) {
        countdown = n;
        outcome = -1;
        allowed = -1;
        one_decision(set, body, len, &outcome, &allowed);
        failed_cleanly += outcome != 0;
        CHECK(outcome != 1); /* the body is valid: memory running out is never the client's 400 */
        if ((outcome == 0 || outcome == 3) && !want_allowed)
            CHECK_INT(allowed, 0); /* a failure must never turn a denial into an admission */
    }
    countdown = -1;
    json_set_alloc_funcs(real_malloc, real_free);
    fprintf(stderr, "%s: %ld allocation points, %d failed cleanly\n", fixture, total, failed_cleanly);
    CHECK(failed_cleanly > 0);
    free(body);
    ag_policy_set_unref(set);
}

static void run_all_failures(const char *fixture, int want_allowed)
{
    run_all_failures_with("policies/default", fixture, want_allowed);
}

/* the generic mutations (recipe 25: append, and recipe 21: set) and the Pod Security
 * exemptions (recipe 5), each on a request it acts on */
static void test_mutations_and_exemptions(void)
{
    run_all_failures_with("test/cookbook/25-append-unless-present", "conformance/admissionreview/deployment-create.json", 1);
    run_all_failures_with("test/cookbook/21-default-resources", "conformance/admissionreview/deployment-create.json", 1);
    run_all_failures_with("test/cookbook/05-pss-exemptions", "conformance/admissionreview/real-pod-create-privileged.json",
                          0);
}

static void test_allowed_request(void)
{
    run_all_failures("conformance/admissionreview/deployment-create.json", 1);
}

static void test_denied_request_is_never_admitted(void)
{
    run_all_failures("conformance/admissionreview/real-pod-create-privileged.json", 0);
}

int main(void)
{
    RUN(test_allowed_request);
    RUN(test_denied_request_is_never_admitted);
    RUN(test_mutations_and_exemptions);
    return agt_finish();
}
