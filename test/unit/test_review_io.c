/* The webhook's reading and writing of a review (issue 18):
 *   - which policies may read an object's bookkeeping (managedFields, status, the
 *     last-applied-configuration value): then the webhook reads them too;
 *   - the server's answer with the bookkeeping left out is the answer without pruning,
 *     byte for byte, on every captured review, for mutate, validate and both;
 *   - a policy that reads the last-applied value still sees it through the server's flow;
 *   - the answer written straight into a buffer is jansson's dump of the response. */
#include "agtest.h"
#include "aimguard/buf.h"
#include "aimguard/jsonspan.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <string.h>

#define HEAD "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\nmetadata: {name: p}\n" \
             "spec:\n  match: {kinds: [Pod, Deployment]}\n  validate:\n    rules:\n"

static void test_which_paths_read_bookkeeping(void)
{
    static const struct { const char *rule; int reads; } rows[] = {
        {"      - {name: r, path: metadata.managedFields, absent: true}\n", 1},
        {"      - {name: r, path: 'metadata.managedFields[*].manager', notMatches: x}\n", 1},
        {"      - {name: r, path: status.phase, absent: true}\n", 1},
        {"      - {name: r, path: metadata, type: object}\n", 1},
        {"      - {name: r, path: 'metadata[*]', absent: true}\n", 1},
        {"      - {name: r, path: 'metadata.annotations[*]', notMatches: secret}\n", 1},
        {"      - {name: r, path: metadata.annotations, keysNotMatch: '^x'}\n", 1},
        {"      - {name: r, path: \"metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']\", "
         "notMatches: privileged}\n", 1},
        {"      - {name: r, path: \"podMeta.annotations['kubectl.kubernetes.io/last-applied-configuration']\", "
         "absent: true}\n", 1},
        {"      - {name: r, path: '$object', type: object}\n", 1},
        {"      - {name: r, forEach: 'metadata.annotations[*]', assert: {path: '$this', notMatches: x}}\n", 1},
        {"      - {name: r, path: metadata.managedFields, unchanged: true}\n", 1},
        {"      - {name: r, path: \"$old.status.phase\", absent: true}\n", 1},
        /* what no bookkeeping is under */
        {"      - {name: r, path: \"metadata.annotations['team']\", equals: a}\n", 0},
        {"      - {name: r, path: metadata.labels, keysIn: [app]}\n", 0},
        {"      - {name: r, path: metadata.name, matches: '^a'}\n", 0},
        {"      - {name: r, path: 'spec.template.spec.containers[*].image', matches: '^a'}\n", 0},
        {"      - {name: r, path: 'podSpec.allContainers[*].image', matches: '^a'}\n", 0},
        {"      - {name: r, forEach: 'podSpec.allContainers[*]', assert: {path: '$podSpec.hostPID', absent: true}}\n", 0},
        {"      - {name: r, path: spec.status, absent: true}\n", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", HEAD, rows[i].rule);
        ag_policy_set *set = agt_policy_text("p.yaml", text);
        CHECK(set != NULL);
        if (set && ag_policy_set_reads_bookkeeping(set) != rows[i].reads)
            fprintf(stderr, "  reads_bookkeeping wrong for: %s", rows[i].rule);
        CHECK_INT(set ? ag_policy_set_reads_bookkeeping(set) : -1, rows[i].reads);
        ag_policy_set_unref(set);
    }
    /* a mutation that sets the annotation compares its value */
    ag_policy_set *m = agt_policy_text("m.yaml",
        "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\nmetadata: {name: m}\n"
        "spec:\n  match: {kinds: [Pod]}\n  mutate:\n    rules:\n      - name: r\n        target: podMetadata\n"
        "        set: {annotations: {kubectl.kubernetes.io/last-applied-configuration: x}}\n");
    CHECK(m != NULL);
    CHECK_INT(m ? ag_policy_set_reads_bookkeeping(m) : -1, 1);
    ag_policy_set_unref(m);
    /* the shipped policies read none of it: the server prunes with them */
    ag_policy_set *def = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    ag_policy_set *ex = agt_policy_path(agt_path("AG_SRC", "policies/examples"));
    CHECK_INT(def ? ag_policy_set_reads_bookkeeping(def) : -1, 0);
    CHECK_INT(ex ? ag_policy_set_reads_bookkeeping(ex) : -1, 0);
    ag_policy_set_unref(def);
    ag_policy_set_unref(ex);
}

typedef struct answer {
    int rc, status, decoded;
    char *body;
    size_t len;
    int has_managed_fields;
} answer;

static answer handle(ag_policy_set *set, int mode, int prune, const char *body, size_t len)
{
    ag_admission_options opt = {mode, (time_t)1800000000, 0, 0, JSON_COMPACT, prune, prune};
    ag_admission_result res;
    answer a = {0};
    a.rc = ag_admission_handle(set, NULL, &opt, body, len, &res);
    a.status = res.status;
    a.decoded = res.decoded;
    a.len = res.len;
    a.body = res.body ? strndup(res.body, res.len) : NULL;
    a.has_managed_fields = json_object_get(json_object_get(res.req.object, "metadata"), "managedFields") != NULL;
    if (res.status == 200) {
        /* the direct writer against jansson's dump of the same response */
        json_t *resp = ag_review_response(&res.req, &res.decision);
        char *want = json_dumps(resp, JSON_COMPACT);
        CHECK_STR(res.body, want);
        free(want);
        json_decref(resp);
    }
    ag_admission_result_clear(&res);
    return a;
}

typedef struct pruned_ctx {
    ag_policy_set *sets[2];
    int pruned_seen;
} pruned_ctx;

static void pruned_same(const char *name, const char *body, size_t len, void *ctx)
{
    (void)name;
    pruned_ctx *c = ctx;
    for (size_t s = 0; s < 2; s++)
        for (int mode = AG_MODE_MUTATE; mode <= AG_MODE_BOTH; mode++) {
            /* the server's way: pruned, into the arena, and the patch only as text */
            answer full = handle(c->sets[s], mode, 0, body, len),
                   pruned = handle(c->sets[s], mode | AG_MODE_PATCH_TEXT, 1, body, len);
            CHECK_INT(pruned.rc, full.rc);
            CHECK_INT(pruned.status, full.status);
            CHECK_STR(pruned.body, full.body);
            if (full.has_managed_fields) {
                CHECK(!pruned.has_managed_fields); /* it was pruned */
                c->pruned_seen++;
            }
            free(full.body);
            free(pruned.body);
        }
}

static void test_pruned_answers_are_the_same(void)
{
    pruned_ctx c = {{agt_policy_path(agt_path("AG_SRC", "policies/default")),
                     agt_policy_path(agt_path("AG_SRC", "policies/examples"))}, 0};
    CHECK(c.sets[0] && c.sets[1]);
    if (c.sets[0] && c.sets[1])
        CHECK(agt_each_file(agt_path("AG_SHARED", "conformance/admissionreview"), ".json", pruned_same, &c) >= 20);
    CHECK(c.pruned_seen > 0);
    ag_policy_set_unref(c.sets[0]);
    ag_policy_set_unref(c.sets[1]);
}

static void test_a_policy_reading_last_applied_still_sees_it(void)
{
    ag_policy_set *set = agt_policy_text("la.yaml", HEAD
        "      - name: no-privileged-history\n"
        "        path: \"metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']\"\n"
        "        notMatches: '\"privileged\": *true'\n");
    CHECK(set != NULL);
    const char *body =
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u1\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"resource\":{\"group\":\"\",\"version\":\"v1\","
        "\"resource\":\"pods\"},\"namespace\":\"a\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":\"u\"},"
        "\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\","
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"privileged\\\": true}\"},"
        "\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]},"
        "\"status\":{\"phase\":\"Pending\"}}}}";
    answer a = handle(set, AG_MODE_VALIDATE, 1, body, strlen(body));
    CHECK_INT(a.status, 200);
    CHECK_CONTAINS(a.body, "\"allowed\":false");
    CHECK_CONTAINS(a.body, "no-privileged-history");
    CHECK(a.has_managed_fields); /* this set reads bookkeeping: nothing was pruned */
    free(a.body);
    ag_policy_set_unref(set);

    /* malformed JSON inside what would be pruned is still a 400 */
    ag_policy_set *def = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    const char *bad =
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u1\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"CREATE\","
        "\"object\":{\"metadata\":{\"managedFields\":[{\"a\":1,\"a\":2}]}}}}";
    answer b = handle(def, AG_MODE_VALIDATE, 1, bad, strlen(bad));
    CHECK_INT(b.status, 400);
    CHECK_CONTAINS(b.body, "malformed JSON");
    free(b.body);
    ag_policy_set_unref(def);
}

/* The server defers the old object: an UPDATE whose pod specs are the same bytes builds
 * none, unless a rule reads it; specs written differently but equal are still unchanged. */
static void test_update_with_a_deferred_old_object(void)
{
#define REVIEW(newspec, oldspec, newteam) \
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u2\"," \
    "\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"},\"namespace\":\"a\"," \
    "\"operation\":\"UPDATE\",\"userInfo\":{\"username\":\"u\"}," \
    "\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"labels\":{\"team\":\"" newteam "\"}}," \
    "\"spec\":{\"replicas\":2,\"template\":{\"spec\":" newspec "}}}," \
    "\"oldObject\":{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"d\",\"labels\":{\"team\":\"a\"}," \
    "\"managedFields\":[{\"manager\":\"m\"}]},\"spec\":{\"replicas\":1,\"template\":{\"spec\":" oldspec "}}}}}"
    ag_policy_set *def = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    /* same bytes: unchanged, admitted without a patch (the spec was judged when written) */
    const char *same = REVIEW("{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"securityContext\":{\"privileged\":true}}]}",
                              "{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"securityContext\":{\"privileged\":true}}]}", "a");
    for (int mode = AG_MODE_MUTATE; mode <= AG_MODE_BOTH; mode++) {
        answer full = handle(def, mode, 0, same, strlen(same)), lazy = handle(def, mode | AG_MODE_PATCH_TEXT, 1, same, strlen(same));
        CHECK_STR(lazy.body, full.body);
        CHECK_CONTAINS(lazy.body, "\"allowed\":true");
        CHECK(!strstr(lazy.body, "\"patch\""));
        free(full.body);
        free(lazy.body);
    }
    /* equal values written differently: the bytes prove nothing, the values do */
    const char *respaced = REVIEW("{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"securityContext\":{\"privileged\":true}}]}",
                                  "{ \"containers\": [ {\"image\":\"i\", \"name\":\"c\",\"securityContext\":{\"privileged\":true}}]}", "a");
    answer r1 = handle(def, AG_MODE_VALIDATE, 1, respaced, strlen(respaced));
    CHECK_CONTAINS(r1.body, "\"allowed\":true");
    free(r1.body);
    /* a changed spec is judged: privileged is denied */
    const char *changed = REVIEW("{\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"securityContext\":{\"privileged\":true}}]}",
                                 "{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}", "a");
    answer r2 = handle(def, AG_MODE_VALIDATE, 1, changed, strlen(changed));
    CHECK_CONTAINS(r2.body, "\"allowed\":false");
    free(r2.body);
    ag_policy_set_unref(def);
    /* a rule on the old object gets it, though the pod specs are the same bytes */
    ag_policy_set *keep = agt_policy_text("keep.yaml",
        "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\nmetadata: {name: keep-team}\n"
        "spec:\n  match: {kinds: [apps/Deployment]}\n  validate:\n    rules:\n"
        "      - {name: team-is-fixed, path: metadata.labels.team, unchanged: true}\n");
    const char *relabel = REVIEW("{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}",
                                 "{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}", "b");
    answer r3 = handle(keep, AG_MODE_VALIDATE, 1, relabel, strlen(relabel));
    CHECK_CONTAINS(r3.body, "\"allowed\":false");
    CHECK_CONTAINS(r3.body, "team-is-fixed");
    free(r3.body);
    const char *kept = REVIEW("{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}",
                              "{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]}", "a");
    answer r4 = handle(keep, AG_MODE_VALIDATE, 1, kept, strlen(kept));
    CHECK_CONTAINS(r4.body, "\"allowed\":true");
    free(r4.body);
    ag_policy_set_unref(keep);
#undef REVIEW
}

static void test_json_span(void)
{
    const char *t = " {\"a\": {\"b\\\"\": [1, {\"c\": \"x\\\\\"}], \"b\": [10, 20, {\"d~/e\": null}], \"k\": \"}]\"}, "
                    "\"s\\u0070ec\": 1, \"z\": true } ";
    static const struct { const char *ptr; int want; const char *value; } rows[] = {
        {"", AG_SPAN_FOUND, NULL},
        {"/a/b/1", AG_SPAN_FOUND, "20"},
        {"/a/b/2/d~0~1e", AG_SPAN_FOUND, "null"},
        {"/a/b/2", AG_SPAN_FOUND, "{\"d~/e\": null}"},
        {"/a/k", AG_SPAN_FOUND, "\"}]\""},
        {"/a/b\"", AG_SPAN_UNSURE, NULL},   /* the key is written with an escape: not matched */
        {"/a/b/3", AG_SPAN_ABSENT, NULL},
        {"/a/b/01", AG_SPAN_ABSENT, NULL},
        {"/a/x", AG_SPAN_UNSURE, NULL},      /* absent, but an escaped key could have been it */
        {"/spec", AG_SPAN_UNSURE, NULL},     /* "s\u0070ec" is "spec": the bytes cannot say */
        {"/z", AG_SPAN_FOUND, "true"},
        {"/z/y", AG_SPAN_ABSENT, NULL},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t off = 0, n = 0;
        int r = ag_json_span(t, strlen(t), rows[i].ptr, &off, &n);
        if (r != rows[i].want)
            fprintf(stderr, "  span of '%s'\n", rows[i].ptr);
        CHECK_INT(r, rows[i].want);
        if (r == AG_SPAN_FOUND && rows[i].value) {
            CHECK_INT(n, strlen(rows[i].value));
            CHECK(!strncmp(t + off, rows[i].value, n));
        }
    }
    size_t off = 0, n = 0;
    CHECK_INT(ag_json_span(t, strlen(t), "", &off, &n), AG_SPAN_FOUND);
    CHECK_INT(off, 1);
    CHECK_INT(n, strlen(t) - 2);
}

static void test_direct_answer_escapes_like_jansson(void)
{
    ag_request req = {0};
    req.uid = "u\"1\\\x01";
    ag_decision d;
    ag_decision_init(&d);
    d.allowed = 0;
    d.code = 403;
    d.message = strdup("denied: \"quoted\" \t tab, non-ASCII é, invalid \xff byte, control \x02");
    ag_decision_warn(&d, "a warning with / slash and \n newline");
    ag_decision_annotate(&d, "aimguard.io/violations", "x\x7f y");
    ag_buf b = {0};
    CHECK_INT(ag_review_response_write(&req, &d, &b), 0);
    json_t *resp = ag_review_response(&req, &d);
    char *want = json_dumps(resp, JSON_COMPACT);
    CHECK_STR(b.p, want);
    free(want);
    json_decref(resp);
    ag_buf_clear(&b);
    ag_decision_clear(&d);
}

int main(void)
{
    RUN(test_which_paths_read_bookkeeping);
    RUN(test_pruned_answers_are_the_same);
    RUN(test_a_policy_reading_last_applied_still_sees_it);
    RUN(test_json_span);
    RUN(test_update_with_a_deferred_old_object);
    RUN(test_direct_answer_escapes_like_jansson);
    return agt_finish();
}
