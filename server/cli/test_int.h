/* Internals of `aimguard test` (server/cli/test*.c): a test file read into what it asks
 * (test_file.c), and the structural comparison of an expected object with the one the
 * admission flow produced (test_diff.c). test.c runs them and prints the outcomes.
 *
 * Ownership: tf_load() allocates a tf_test, tf_free() releases it with everything it
 * holds. Not thread-safe; one CLI run at a time. */
#ifndef AG_CLI_TEST_INT_H
#define AG_CLI_TEST_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <time.h>

#include "cli_int.h"
#include "aimguard/policy.h"

/* the results a rule can have, as the per-rule results API names them */
enum { TR_NONE = -1, TR_PASS = 0, TR_FAIL, TR_WARN, TR_SKIP };
extern const char *const tr_names[4];

/* One expectation: a (policy, rule, resource) and what it should come to. */
typedef struct tf_expect {
    char *policy, *rule;   /* as written (owned) */
    char *ref;             /* the resource reference as written (owned) */
    size_t res;            /* index of the resource in tf_test.resources */
    unsigned line, col;    /* of the reference: where a failure points */
    unsigned pline, pcol, rline, rcol; /* of the policy and the rule */
    int result;            /* TR_PASS..TR_SKIP, or TR_NONE (a mutate block: patched only) */
    json_t *patched;       /* the expected object after mutation (owned), or NULL */
    char *patched_where;   /* where it was written (owned) */
    pcre2_code *message;   /* the expected message pattern (owned), or NULL */
    char *message_text;    /* its text (owned) */
} tf_expect;

/* How one resource is submitted (default: CREATE by no user, no groups). */
typedef struct tf_request {
    const char *operation; /* static string: CREATE, UPDATE, DELETE */
    size_t old;            /* UPDATE: index of the old object, (size_t)-1 for the object itself */
    char *user;            /* owned, "" for none */
    json_t *groups;        /* array of strings (owned) */
} tf_request;

typedef struct tf_test {
    char *path;            /* the test file (owned) */
    char *name;            /* metadata.name (owned) */
    char **policies;       /* paths, relative ones resolved against the test file's directory */
    size_t npolicies;
    eval_items resources;
    tf_request *requests;  /* one per resource */
    eval_view *view;       /* clusterObjects / assumeAccess, or NULL */
    time_t now;            /* the clock exceptions expire by */
    tf_expect *ex;
    size_t nex;
} tf_test;

/* Reads and checks a test file. Every problem found is appended to errors as
 * "file:line:column: message"; returns 0, or <0 when the file cannot be used (*out NULL).
 * now: the clock when the file does not set `now`. */
int tf_load(const char *path, time_t now, tf_test **out, ag_diags *errors, ag_error *err);
/* Checks that each expectation names a policy of the test's policies and one of its rules,
 * and that a result is given exactly for validate rules. Problems go to errors; returns
 * how many. Call after the policies loaded. */
size_t tf_check_names(tf_test *t, ag_diags *errors);
void tf_free(tf_test *t);

/* Appends a formatted line to d (nothing when memory runs out). */
void tf_diag(ag_diags *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The differences between an expected and an actual object, one line each
 * ("spec.containers[0].image: expected \"a\", got \"b\""), at most `max` lines then a count of
 * the rest; NULL when they are equal (numbers compare by value: 1 equals 1.0). Values of
 * env vars and of Secrets are never printed. Caller frees. */
char *tf_diff(const json_t *expected, const json_t *got, size_t max);

#endif
