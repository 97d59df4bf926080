/* A tiny assertion harness for aimguard's C unit tests: each failed check prints
 * file:line and the expression; main returns non-zero if any check failed. */
#ifndef AGTEST_H
#define AGTEST_H
#include <stdio.h>
#include <string.h>
/* the decision tests build requests the way the offline evaluator does */
#include "aimguard/admission.h"

extern int agt_failures;
extern int agt_checks;

#define CHECK(cond) do { agt_checks++; if (!(cond)) { agt_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { agt_checks++; const char *agt_a = (a), *agt_b = (b); \
    if (!agt_a || !agt_b || strcmp(agt_a, agt_b) != 0) { agt_failures++; \
    fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n   got: %s\n  want: %s\n", __FILE__, \
    __LINE__, #a, agt_a ? agt_a : "(null)", agt_b ? agt_b : "(null)"); } } while (0)
#define CHECK_CONTAINS(hay, needle) do { agt_checks++; const char *agt_h = (hay); \
    if (!agt_h || !strstr(agt_h, (needle))) { agt_failures++; \
    fprintf(stderr, "%s:%d: CHECK_CONTAINS failed: %s\n   got: %s\n  want substring: %s\n", \
    __FILE__, __LINE__, #hay, agt_h ? agt_h : "(null)", (needle)); } } while (0)
#define CHECK_INT(a, b) do { agt_checks++; long long agt_x = (long long)(a), agt_y = (long long)(b); \
    if (agt_x != agt_y) { agt_failures++; fprintf(stderr, "%s:%d: CHECK_INT failed: %s: got %lld want %lld\n", \
    __FILE__, __LINE__, #a, agt_x, agt_y); } } while (0)

/* Runs a test function and reports it by name. */
#define RUN(fn) do { int agt_before = agt_failures; fn(); \
    fprintf(stderr, "%s %s\n", agt_failures == agt_before ? "ok  " : "FAIL", #fn); } while (0)

int agt_finish(void);
/* Reads a whole file into a NUL-terminated buffer (caller frees); NULL on error. */
char *agt_read_file(const char *path, size_t *len);
/* Calls fn(name, body, len, ctx) for each file of dir whose name ends in suffix, read
 * whole (a file that cannot be read, or a missing dir, fails a check); returns how many. */
int agt_each_file(const char *dir, const char *suffix,
                  void (*fn)(const char *name, const char *body, size_t len, void *ctx), void *ctx);
/* Joins an environment variable holding a directory with a relative path. */
const char *agt_path(const char *env, const char *rel);

/* Policies and decisions, for the tests of the policy engine. The loaders print the
 * loader's diagnostics (file:line:column) and return NULL when the policy is refused. */
struct ag_policy_set;
struct ag_policy_set *agt_policy_path(const char *path);
struct ag_policy_set *agt_policy_text(const char *name, const char *text);
/* Validates obj_json (a whole object) as if `user` sent it with `op` in `ns`, at a fixed
 * time (2027-01-15); sets *allowed and returns the denial message ("" if none; caller frees). */
char *agt_validate(struct ag_policy_set *set, const char *obj_json, const char *op, const char *ns,
                   const char *user, int *allowed);

#endif
