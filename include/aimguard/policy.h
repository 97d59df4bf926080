/* Policies: load YAML, compile into an immutable snapshot, decide admission.
 *
 * A snapshot (ag_policy_set) is immutable once loaded and reference counted, so any
 * number of request threads may evaluate it while a reload compiles the next one.
 * ag_policy_holder publishes the current snapshot: readers acquire without locks;
 * a reload swaps the pointer and drops the holder's reference.
 *
 * ag_decide() is the pure admission decision (no I/O; `now` is passed in so exception
 * expiry is testable). The HTTP server, `aimguard eval` and the tests all call it. */
#ifndef AIMGUARD_POLICY_H
#define AIMGUARD_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "aimguard/decision.h"
#include "aimguard/error.h"
#include "aimguard/kinds.h"
#include "aimguard/view.h"

typedef struct ag_policy_set ag_policy_set;

/* Every problem found in a policy source, each "file:line:column: message". */
typedef struct ag_diags {
    char **items;
    size_t count;
} ag_diags;
void ag_diags_clear(ag_diags *d);

/* AG_MODE_RESULTS is or-ed in: ag_decide() also fills ag_decision.results (one result per
 * matched policy's validate rule: pass/fail/warn/skip, for reports, tests and audits) */
/* AG_MODE_PATCH_TEXT is or-ed in: the patch only as text (ag_decision.patch_text), no
 * JSON ops array (the webhook, which sends the text) */
typedef enum { AG_MODE_MUTATE = 1, AG_MODE_VALIDATE = 2, AG_MODE_BOTH = 3, AG_MODE_RESULTS = 4,
               AG_MODE_PATCH_TEXT = 8 } ag_mode;
typedef enum { AG_ACTION_ENFORCE = 0, AG_ACTION_WARN = 1, AG_ACTION_AUDIT = 2 } ag_action;

typedef struct ag_load_options {
    uint64_t generation;
    /* When set, every "enforce" becomes this action (serve --default-action warn). */
    int action_override; /* -1 for none */
} ag_load_options;

/* Loads a directory (every .yaml and .yml file below it, dotfiles and dot-directories
 * skipped, in byte order of their relative paths) or a single file. Returns 0 and a
 * snapshot, or <0 with every error in diags (a summary in err). */
int ag_policy_load(const char *path, const ag_load_options *opts, ag_policy_set **out,
                   ag_diags *diags, ag_error *err);
/* The same for several paths (files or directories) loaded as one snapshot: the files of
 * each path in the order the paths are given (`aimguard test` loads a test's policies so). */
int ag_policy_load_paths(const char *const *paths, size_t npaths, const ag_load_options *opts,
                         ag_policy_set **out, ag_diags *diags, ag_error *err);
/* The same from one in-memory YAML text; `name` stands for the file in messages. */
int ag_policy_load_buffer(const char *buf, size_t len, const char *name,
                          const ag_load_options *opts, ag_policy_set **out, ag_diags *diags,
                          ag_error *err);
void ag_policy_set_ref(ag_policy_set *set);
void ag_policy_set_unref(ag_policy_set *set); /* NULL is a no-op */
uint64_t ag_policy_set_generation(const ag_policy_set *set);
size_t ag_policy_set_count(const ag_policy_set *set);
/* 1 when a loaded policy can read an object's bookkeeping — its metadata.managedFields,
 * its status or the value of its kubectl.kubernetes.io/last-applied-configuration
 * annotation (a generic rule's path that reaches them, or a mutation that sets that
 * annotation). When none can, the webhook does not build them while reading a review
 * (docs/performance.md): they are most of a real object and no decision depends on them. */
int ag_policy_set_reads_bookkeeping(const ag_policy_set *set);
/* Generic rules plus the podSecurity, securityContext and gpu blocks (historical count, kept
 * for the serve log and the benchmark; `check` prints ag_policy_set_stats). */
size_t ag_policy_set_rule_count(const ag_policy_set *set);

/* What a snapshot holds, each count named for what it counts (aimguard check's summary). */
typedef struct ag_policy_stats {
    size_t policies;        /* AdmissionPolicy documents */
    size_t files;           /* YAML files read */
    size_t skipped;         /* documents skipped: another apiVersion than policy.aimguard.io/ */
    size_t mutate_blocks;   /* spec.mutate blocks (securityContext, gpu, rules) */
    size_t validate_blocks; /* spec.validate blocks but rules (podSecurity, images, secrets, rbac, aim) */
    size_t rules;           /* spec.validate.rules entries */
    size_t exceptions;      /* spec.exceptions entries */
} ag_policy_stats;
void ag_policy_set_stats(const ag_policy_set *set, ag_policy_stats *out);
/* One "file:line:col: note: skipped: ..." line per skipped document (owned by the set). */
const ag_diags *ag_policy_set_notes(const ag_policy_set *set);
/* Appends to out, sorted by file and line, every "file:line:col: warning: ..." of the set:
 * a kind the shipped webhook configurations never send to the blocks of its policy, an
 * exception without `expires`, and an exception expired at `now`. Returns how many. */
size_t ag_policy_warnings(const ag_policy_set *set, time_t now, ag_diags *out);
/* Exceptions that expire within `within` seconds of now, one line each (caller frees). */
char *ag_policy_expiring(const ag_policy_set *set, time_t now, time_t within);
/* The known kinds table (aimguard/kinds.h) as `aimguard check --kinds` prints it: a header
 * line, then one whitespace-separated row per kind: GROUP (core for ""), KIND, RESOURCE,
 * SCOPE, WEBHOOKS (mutate,validate | mutate | validate | -), POD-SPEC (yes|no). Caller frees. */
char *ag_policy_kinds_text(void);
/* Human-readable: per kind and operation, which policies and rules apply. */
char *ag_policy_explain(const ag_policy_set *set);
/* What the set reads from the cluster: *ns_labels names the first policy with a
 * namespaceSelector (match or exclude), *refs the first with
 * validate.rbac.clusterReferences (*refs); each NULL when none (names borrowed from set). */
void ag_policy_cluster_needs(const ag_policy_set *set, const char **ns_labels, const char **refs);
/* The cluster data policies read as allowlist entries (validate.images.allowFrom):
 * *ns_annotations names the first policy reading a namespace annotation, *configmaps the
 * first reading a ConfigMap; each NULL when none (names borrowed from set). */
void ag_policy_cluster_data(const ag_policy_set *set, const char **ns_annotations, const char **configmaps);
/* Calls fn (when not NULL) once for each distinct ConfigMap the set reads, and returns
 * how many there are: the server watches exactly these, never every ConfigMap. */
size_t ag_policy_configmaps(const ag_policy_set *set, void (*fn)(void *ctx, const char *ns, const char *name),
                            void *ctx);

/* A kind a policy set can judge in an existing object (ag_policy_set_kinds). */
typedef struct ag_kind_ref {
    char *group; /* "" for the core group (owned) */
    char *kind;  /* "Deployment"; "*" for every kind of a custom group (owned) */
    int known;   /* 1: a row of the known kinds table (aimguard/kinds.h); 0: a custom kind */
} ag_kind_ref;
/* The kinds the validate blocks of set match in objects that already exist (judged as a
 * CREATE by no user, as ag_decide_existing does: policies that match only other
 * operations or only some users, groups or service accounts add none), for `aimguard
 * audit`: the kinds ag_policy_audit_kinds gives, plus each custom kind a policy names
 * ("example.com/Widget", "example.com/<any>"), as written with known = 0. Sorted by group,
 * then kind, without duplicates. *out: a new array (ag_kind_refs_free), NULL when *n is 0.
 * 0 or AG_ENOMEM. Reentrant. */
int ag_policy_set_kinds(const ag_policy_set *set, ag_kind_ref **out, size_t *n, ag_error *err);
void ag_kind_refs_free(ag_kind_ref *refs, size_t n); /* NULL is a no-op */

/* What the background audit judges (server/audit/): the rows of the known kinds table
 * (aimguard/kinds.h) that a policy with a validate block matches as the CREATE of an
 * existing object would be matched (a policy whose match.operations leaves CREATE out
 * judges none; exclude.kinds given alone removes kinds). A kind a policy names counts;
 * a wildcard (a star alone, or a star for the kind or the group) counts only the kinds the shipped validating
 * webhook receives (AG_SENT_VALIDATE): `kinds: ["*"]` audits what admission judges, not
 * Events or Leases. Stores up to cap rows (static) in out and returns how many there
 * are (may exceed cap). A custom kind a policy names (example.com/Widget) has no row:
 * each is appended once to custom (may be NULL; the caller clears it), so the caller can
 * say it skips them. Reentrant. */
size_t ag_policy_audit_kinds(const ag_policy_set *set, const ag_kind_info **out, size_t cap, ag_diags *custom);

/* Glob match of s against pattern ("*" any run, "?" one character); 1 on match. The
 * matching policies use for names and namespaces (reconcile/ uses it for the same). */
int ag_glob(const char *pattern, const char *s);

int ag_decide(const ag_policy_set *set, const ag_request *req, const ag_view *view,
              ag_mode mode, time_t now, ag_decision *out, ag_error *err);

/* Judges an object that already exists (background audit, `aimguard audit`, tests of
 * resources given without a request): as a CREATE of `object` by no user (username "", no
 * groups, not a dry run), validate blocks only. Policies whose match needs a user, group
 * or service account do not select it. *results: a new reference to the results array
 * (ag_decision.results). 0 or a negative ag_error code (AG_EINVAL: not an object with
 * apiVersion and kind). Pure, reentrant; `object` is not changed. */
int ag_decide_existing(const ag_policy_set *set, json_t *object, const ag_view *view, time_t now,
                       json_t **results, ag_error *err);

/* The published snapshot. */
typedef struct ag_policy_holder ag_policy_holder;
ag_policy_holder *ag_policy_holder_new(void);
void ag_policy_holder_free(ag_policy_holder *h);
/* Takes over the caller's reference to set; the previous snapshot is released once
 * every reader that acquired it has released it. */
void ag_policy_holder_publish(ag_policy_holder *h, ag_policy_set *set);
/* A new reference to the current snapshot (NULL before the first publish). */
ag_policy_set *ag_policy_holder_acquire(ag_policy_holder *h);

#endif
