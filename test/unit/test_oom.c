/* Out of memory on any allocation of the JSON layer (an allocator hook fails the Nth
 * allocation, for every N a whole decision makes): decoding, deciding and answering
 * must fail cleanly — an error the server turns into a denial — never crash or leak
 * (ASan/LSan watch). */
#include "agtest.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <time.h>

static long countdown = -1; /* allocations left before failing; -1 never fails */
static long allocations;

static void *failing_malloc(size_t n)
{
    allocations++;
    if (countdown == 0)
        return NULL;
    if (countdown > 0)
        countdown--;
    return malloc(n);
}

/* outcome: 0 answered, 1 bad request, 2 no response built, 3 evaluation error;
 * *allowed is set when an answer was produced */
static int one_decision(ag_policy_set *set, const char *body, size_t len, int *outcome, int *allowed)
{
    ag_request req;
    ag_error err = {0};
    if (ag_request_decode(body, len, &req, &err)) {
        *outcome = 1;
        return 0;
    }
    ag_decision d;
    int rc = ag_decide(set, &req, NULL, AG_MODE_BOTH, time(NULL), &d, &err);
    if (rc == 0) {
        json_t *resp = ag_review_response(&req, &d);
        char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
        free(text);
        json_decref(resp);
        *outcome = resp ? 0 : 2;
        *allowed = d.allowed;
    } else {
        CHECK(err.msg[0] != '\0'); /* a failure always says why */
        *outcome = 3;
    }
    ag_decision_clear(&d);
    ag_request_clear(&req);
    return 0;
}

static void run_all_failures(const char *fixture, int want_allowed)
{
    ag_policy_set *set = NULL;
    ag_diags dg = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    CHECK_INT(ag_policy_load(agt_path("AG_SRC", "policies/default"), &o, &set, &dg, &err), 0);
    size_t len = 0;
    char *body = agt_read_file(agt_path("AG_SHARED", fixture), &len);
    CHECK(body && set);
    if (!body || !set)
        return;
    json_set_alloc_funcs(failing_malloc, free);
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
        if (outcome == 0 && !want_allowed)
            CHECK_INT(allowed, 0); /* a failure must never turn a denial into an admission */
    }
    countdown = -1;
    json_set_alloc_funcs(malloc, free);
    fprintf(stderr, "%s: %ld allocation points, %d failed cleanly\n", fixture, total, failed_cleanly);
    CHECK(failed_cleanly > 0);
    free(body);
    ag_policy_set_unref(set);
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
    return agt_finish();
}
