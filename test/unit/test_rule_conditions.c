/* The generic rule's conditions (issue 14): each one on a missing field, a field of the
 * wrong type and a null, through ag_decide (agt_validate), plus the quantity parser
 * against known values. Compile errors with positions are in test_policy_load.c. */
#include "agtest.h"
#include "aimguard/policy.h"
#include "../../server/policy/policy_int.h"

#include <stdlib.h>

#define HEAD "apiVersion: policy.aimguard.io/v1alpha2\nkind: AdmissionPolicy\nmetadata: {name: p}\n" \
             "spec:\n  match: {kinds: [Pod], operations: [CREATE, UPDATE]}\n  validate:\n    rules:\n"
#define POD(spec) "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}," \
                  "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]" spec "}}"

typedef struct row {
    const char *what;
    const char *rule;    /* one rules[] entry, indented by 6 */
    const char *missing; /* the object without the field: never denied (the condition does not apply) */
    const char *null_;   /* the field set to null: the same as missing */
    const char *wrong;   /* the field of the wrong type */
    int wrong_allowed;
    const char *wrong_msg;
} row;

static const row rows[] = {
    {"contains", "      - {name: r, path: spec.x, contains: ALL}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":\"ALL\""), 0, "spec.x must be a list"},
    {"keysIn", "      - {name: r, path: spec.x, keysIn: [a]}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":[\"a\"]"), 0, "spec.x must be a mapping"},
    {"keysMatch", "      - {name: r, path: spec.x, keysMatch: '^a'}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":\"a\""), 0, "spec.x must be a mapping"},
    {"keysNotMatch", "      - {name: r, path: spec.x, keysNotMatch: '^a'}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":7"), 0, "spec.x must be a mapping"},
    {"type", "      - {name: r, path: spec.x, type: object}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":3"), 0, "spec.x must be an object"},
    {"length", "      - {name: r, path: spec.x, length: {min: 1}}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":5"), 0, "spec.x must be a list, a mapping or a string"},
    {"lessThan", "      - {name: r, path: spec.x, lessThan: 2Gi}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":true"), 0, "spec.x must be a Kubernetes quantity"},
    {"lessOrEqual text", "      - {name: r, path: spec.x, lessOrEqual: 4}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":\"four\""), 0, "spec.x must be a Kubernetes quantity"},
    {"greaterThan", "      - {name: r, path: spec.x, greaterThan: 500m}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":[1]"), 0, "spec.x must be a Kubernetes quantity"},
    {"greaterOrEqual", "      - {name: r, path: spec.x, greaterOrEqual: 1e3}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":{}"), 0, "spec.x must be a Kubernetes quantity"},
    {"lessOrEqual path", "      - {name: r, path: spec.x, lessOrEqual: {path: spec.y}}\n", POD(",\"x\":\"1\""),
     POD(",\"x\":\"1\",\"y\":null"), POD(",\"x\":\"1\",\"y\":[2]"), 0, "spec.y is not a Kubernetes quantity"},
    {"effective", "      - {name: r, effective: [spec.x, spec.y], equals: true}\n", POD(""),
     POD(",\"x\":null,\"y\":true"), POD(",\"x\":\"true\",\"y\":true"), 0, "spec.x must equal"},
    {"forEach", "      - {name: r, forEach: 'spec.x[*]', assert: {path: a, equals: 1}}\n", POD(""),
     POD(",\"x\":null"), POD(",\"x\":\"abc\""), 1, NULL},
    {"forEach element", "      - {name: r, forEach: 'spec.x[*]', assert: {path: a, equals: 1}}\n",
     POD(",\"x\":[{}]"), POD(",\"x\":[{\"a\":null}]"), POD(",\"x\":[{\"a\":\"1\"}]"), 0, "spec.x[0].a must equal"},
    {"join",
     "      - name: r\n        forEach: 'spec.v[*]'\n        assert:\n          forEach: '$object.spec.m[*]'\n"
     "          joinOn: name\n          assert: {path: ro, required: true, equals: true}\n",
     POD(",\"v\":[{\"name\":\"a\"}]"), POD(",\"v\":[{\"name\":\"a\"}],\"m\":[{\"name\":\"a\",\"ro\":true},null]"),
     POD(",\"v\":[{\"name\":\"a\"}],\"m\":[{\"name\":\"a\",\"ro\":\"true\"}]"), 0, "spec.m[0].ro must equal"},
    {"join key of the wrong type", "      - name: r\n        forEach: 'spec.v[*]'\n        assert:\n"
     "          forEach: '$object.spec.m[*]'\n          joinOn: name\n          assert: {path: ro, equals: true}\n",
     POD(",\"v\":[{}]"), POD(",\"v\":[{\"name\":null}],\"m\":[{\"name\":null,\"ro\":false}]"),
     POD(",\"v\":[{\"name\":1}],\"m\":[{\"name\":1,\"ro\":false}]"), 1, NULL},
    {"where", "      - {name: r, where: {path: spec.x, equals: 1}, assert: {path: spec.y, required: true}}\n",
     POD(""), POD(",\"x\":null"), POD(",\"x\":\"1\""), 1, NULL},
    {"not", "      - {name: r, assert: {not: {path: spec.x, equals: 1}}}\n", POD(""), POD(",\"x\":null"),
     POD(",\"x\":\"1\""), 1, NULL},
    {"any", "      - {name: r, assert: {any: [{path: spec.x, equals: 0}, {path: spec.x, range: {min: 5}}]}}\n",
     POD(""), POD(",\"x\":null"), POD(",\"x\":\"7\""), 0, "none of 2 alternatives holds; the first: spec.x must equal"},
    {"all", "      - {name: r, assert: {all: [{path: spec.x, type: list}, {path: spec.x, length: {max: 1}}]}}\n",
     POD(""), POD(",\"x\":null"), POD(",\"x\":\"ab\""), 0, "spec.x must be a list"},
    {"podMeta and $key", "      - {name: r, forEach: 'podMeta.labels[*]', where: {path: $key, matches: '^t'}, "
     "assert: {path: $this, matches: '^[a-z]+$'}}\n", POD(""),
     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"team\":null}},"
     "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"team\":[\"a\"],\"x\":1}},"
     "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}", 0, "metadata.labels.team must be a string"},
};

static void test_missing_null_and_wrong_type(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        char text[2048];
        snprintf(text, sizeof text, HEAD "%s", r->rule);
        ag_policy_set *set = agt_policy_text("p.yaml", text);
        CHECK(set != NULL);
        if (!set) {
            fprintf(stderr, "  (row %s)\n", r->what);
            continue;
        }
        int allowed;
        char *m = agt_validate(set, r->missing, "CREATE", "a", "alice", &allowed);
        if (allowed != 1) fprintf(stderr, "  row %s, missing: %s\n", r->what, m);
        CHECK_INT(allowed, 1);
        free(m);
        m = agt_validate(set, r->null_, "CREATE", "a", "alice", &allowed);
        if (allowed != 1) fprintf(stderr, "  row %s, null: %s\n", r->what, m);
        CHECK_INT(allowed, 1);
        free(m);
        m = agt_validate(set, r->wrong, "CREATE", "a", "alice", &allowed);
        if (allowed != r->wrong_allowed) fprintf(stderr, "  row %s, wrong type: %s\n", r->what, m);
        CHECK_INT(allowed, r->wrong_allowed);
        if (r->wrong_msg)
            CHECK_CONTAINS(m, r->wrong_msg);
        free(m);
        ag_policy_set_unref(set);
    }
}

/* required turns "does not apply" into a denial naming the full path, null included */
static void test_required_missing_and_null(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", HEAD
        "      - {name: r, forEach: 'spec.containers[*]', assert: {path: resources.limits.memory, required: true, lessOrEqual: 8Gi}}\n");
    CHECK(set != NULL);
    int allowed;
    char *m = agt_validate(set, POD(""), "CREATE", "a", "alice", &allowed);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(m, "spec.containers[0].resources.limits.memory is required");
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                          "[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":null}}}]}}", "CREATE", "a", "alice", &allowed);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(m, "spec.containers[0].resources.limits.memory is required");
    free(m);
    m = agt_validate(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":"
                          "[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"8192Mi\"}}}]}}", "CREATE", "a", "alice", &allowed);
    CHECK_INT(allowed, 1);
    free(m);
    ag_policy_set_unref(set);
}

static char *decide_update(ag_policy_set *set, const char *now, const char *before, int *allowed)
{
    json_t *o = json_loads(now, 0, NULL), *b = json_loads(before, 0, NULL);
    ag_request req;
    ag_error err = {0};
    CHECK_INT(ag_request_synthesize(&req, o, b, "UPDATE", "a", "alice", NULL, 0, &err), 0);
    ag_decision d;
    CHECK_INT(ag_decide(set, &req, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err), 0);
    *allowed = d.allowed;
    char *m = strdup(d.message ? d.message : "");
    ag_decision_clear(&d);
    ag_request_clear(&req);
    json_decref(o);
    json_decref(b);
    return m;
}

static void test_unchanged(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", HEAD "      - {name: r, path: spec.x, unchanged: true}\n");
    CHECK(set != NULL);
    int allowed;
    char *m = decide_update(set, POD(""), POD(""), &allowed); /* missing before and after */
    CHECK_INT(allowed, 1);
    free(m);
    m = decide_update(set, POD(",\"x\":null"), POD(",\"x\":\"a\""), &allowed); /* null: removed */
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(m, "spec.x may not change on UPDATE");
    free(m);
    m = decide_update(set, POD(",\"x\":1"), POD(",\"x\":\"1\""), &allowed); /* another type */
    CHECK_INT(allowed, 0);
    free(m);
    m = decide_update(set, POD(",\"x\":{\"a\":[1]}"), POD(",\"x\":{\"a\":[1]}"), &allowed);
    CHECK_INT(allowed, 1);
    free(m);
    m = agt_validate(set, POD(",\"x\":1"), "CREATE", "a", "alice", &allowed); /* no old object */
    CHECK_INT(allowed, 1);
    free(m);
    ag_policy_set_unref(set);
}

static void test_when(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", HEAD
        "      - {name: r, when: {operations: [CREATE], notServiceAccounts: ['kube-system/*'], notUsers: [root]}, "
        "path: spec.x, absent: true}\n");
    CHECK(set != NULL);
    int allowed;
    char *m = agt_validate(set, POD(",\"x\":1"), "CREATE", "a", "alice", &allowed);
    CHECK_INT(allowed, 0);
    free(m);
    m = agt_validate(set, POD(",\"x\":1"), "CREATE", "a", "system:serviceaccount:kube-system:ctl", &allowed);
    CHECK_INT(allowed, 1);
    free(m);
    m = agt_validate(set, POD(",\"x\":1"), "CREATE", "a", "root", &allowed);
    CHECK_INT(allowed, 1);
    free(m);
    m = decide_update(set, POD(",\"x\":1"), POD(",\"x\":2"), &allowed);
    CHECK_INT(allowed, 1);
    free(m);
    ag_policy_set_unref(set);
    /* dryRun: false judges real writes only */
    set = agt_policy_text("p.yaml", HEAD "      - {name: r, when: {dryRun: false}, path: spec.x, absent: true}\n");
    CHECK(set != NULL);
    for (int dry = 0; dry < 2; dry++) {
        json_t *o = json_loads(POD(",\"x\":1"), 0, NULL);
        ag_request req;
        ag_error err = {0};
        CHECK_INT(ag_request_synthesize(&req, o, NULL, "CREATE", "a", "alice", NULL, 0, &err), 0);
        req.dry_run = dry;
        ag_decision d;
        CHECK_INT(ag_decide(set, &req, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err), 0);
        CHECK_INT(d.allowed, dry);
        ag_decision_clear(&d);
        ag_request_clear(&req);
        json_decref(o);
    }
    ag_policy_set_unref(set);
}

/* {value} of a failure recorded inside a composition, on $key (a string that lives only
 * during the walk): the message is rendered from a copy (ASan caught a use after free) */
static void test_value_of_a_key_in_a_message(void)
{
    ag_policy_set *set = agt_policy_text("p.yaml", HEAD
        "      - {name: r, forEach: 'metadata.labels[*]', assert: {all: [{path: $key, notMatches: '^x'}]}, "
        "message: 'label {value} at {path}'}\n");
    CHECK(set != NULL);
    int allowed;
    char *m = agt_validate(set, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\","
                           "\"labels\":{\"xy\":\"1\"}},\"spec\":{}}", "CREATE", "a", "alice", &allowed);
    CHECK_INT(allowed, 0);
    CHECK_CONTAINS(m, "label xy at metadata.labels.xy");
    free(m);
    ag_policy_set_unref(set);
}

static void quantity_is(const char *text, long long units, long long nano)
{
    quantity q;
    int rc = pol_quantity_parse(text, &q);
    if (rc) fprintf(stderr, "  quantity '%s' refused\n", text);
    CHECK_INT(rc, 0);
    __int128 want = (__int128)units * 1000000000 + nano;
    if (q.nano != want) fprintf(stderr, "  quantity '%s' read wrong\n", text);
    CHECK(q.nano == want);
}

static void test_quantities(void)
{
    quantity_is("0", 0, 0);
    quantity_is("1", 1, 0);
    quantity_is("1.5", 1, 500000000);
    quantity_is(".5", 0, 500000000);
    quantity_is("500m", 0, 500000000);
    quantity_is("100m", 0, 100000000);
    quantity_is("250u", 0, 250000);
    quantity_is("7n", 0, 7);
    quantity_is("1k", 1000, 0);
    quantity_is("100M", 100000000, 0);
    quantity_is("2G", 2000000000, 0);
    quantity_is("3T", 3000000000000LL, 0);
    quantity_is("1P", 1000000000000000LL, 0);
    quantity_is("1E", 1000000000000000000LL, 0);
    quantity_is("1Ki", 1024, 0);
    quantity_is("2Mi", 2097152, 0);
    quantity_is("8Gi", 8589934592LL, 0);
    quantity_is("1Ti", 1099511627776LL, 0);
    quantity_is("1Pi", 1125899906842624LL, 0);
    quantity_is("1Ei", 1152921504606846976LL, 0);
    quantity_is("1.5Gi", 1610612736, 0);
    quantity_is("1e3", 1000, 0);
    quantity_is("1E3", 1000, 0);
    quantity_is("5e-3", 0, 5000000);
    quantity_is("+2", 2, 0);
    quantity_is("-1", -1, 0);
    quantity_is("0.0000000001", 0, 1); /* below 1n: rounds up, as the API server does */
    const char *bad[] = {"", "m", "1.2.3", "1Kb", "1 Gi", "Gi", "1e", "ten", "1e99", "0x10", "1ki", NULL};
    for (int i = 0; bad[i]; i++) {
        quantity q;
        if (!pol_quantity_parse(bad[i], &q)) fprintf(stderr, "  quantity '%s' accepted\n", bad[i]);
        CHECK(pol_quantity_parse(bad[i], &q) != 0);
    }
    quantity a, b;
    CHECK_INT(pol_quantity_parse("8Gi", &a), 0);
    CHECK_INT(pol_quantity_parse("8192Mi", &b), 0);
    CHECK_INT(pol_quantity_cmp(&a, &b), 0);
    CHECK_INT(pol_quantity_parse("9000Mi", &b), 0);
    CHECK_INT(pol_quantity_cmp(&a, &b), -1);
    json_t *j = json_real(0.1);
    CHECK_INT(pol_quantity_of_json(j, &b), 0);
    CHECK_INT(pol_quantity_parse("100m", &a), 0);
    CHECK_INT(pol_quantity_cmp(&a, &b), 0); /* 0.1 read as text, not as a binary fraction */
    json_decref(j);
    j = json_integer(4);
    CHECK_INT(pol_quantity_of_json(j, &b), 0);
    CHECK_INT(pol_quantity_parse("4000m", &a), 0);
    CHECK_INT(pol_quantity_cmp(&a, &b), 0);
    json_decref(j);
}

int main(void)
{
    RUN(test_missing_null_and_wrong_type);
    RUN(test_required_missing_and_null);
    RUN(test_unchanged);
    RUN(test_when);
    RUN(test_value_of_a_key_in_a_message);
    RUN(test_quantities);
    return agt_finish();
}
