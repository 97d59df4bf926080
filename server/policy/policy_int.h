/* The policy module's internal types and its layers (not public).
 *
 * Files of server/policy/ call only downwards, never in a circle
 * (test/deploy/test_policy_layers.py checks it):
 *   5  load.c, explain.c, set_kinds.c   snapshot, check/explain, the kinds audits judge
 *   4  document.c, decide.c                    one document -> policy; ag_decide()
 *   3  blocks.c                                the block table
 *   2  block_*.c                               one file per block: compile, run, free
 *   1  select.c, exception.c, verdict.c, results.c, kinds.c, cond_*.c  the rule conditions
 *   0  lists.c, schema.c, regex.c, decision.c, podspec.c, patch.c, pss.c, imageref.c, quantity.c
 * Cross-file functions are pol_*; ag_* is the public API (include/aimguard/). */
#ifndef AIMGUARD_POLICY_INT_H
#define AIMGUARD_POLICY_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <time.h>

#include "aimguard/policy.h"
#include "aimguard/patch.h"
#include "aimguard/podspec.h"
#include "aimguard/pss.h"
#include "aimguard/yaml.h"

typedef struct strlist {
    char **v;
    size_t n;
} strlist;

typedef struct kvlist {
    char **k, **v;
    size_t n;
} kvlist;

typedef struct selector {
    int present;
    strlist kinds, operations, namespaces, users, groups, service_accounts, names;
    kvlist ns_labels, obj_labels;
} selector;

typedef struct writable_dir {
    char *path, *medium, *size_limit, *volume;
} writable_dir;

typedef struct harden {
    int present;
    int run_as_non_root, allow_priv_esc, read_only_root, automount_token; /* -1 unset */
    int has_uid, has_gid, has_fsgroup;
    long long uid, gid, fsgroup;
    char *seccomp;
    strlist drop_caps;
    writable_dir *dirs;
    size_t ndirs;
} harden;

typedef struct gpu_cfg {
    int present;
    strlist resources;
    kvlist node_selector;
    json_t *match_expressions; /* array of NodeSelectorRequirement */
    json_t *tolerations;       /* array of Toleration */
    json_t *non_gpu_expressions;
} gpu_cfg;

typedef enum { SEG_KEY, SEG_ANY, SEG_INDEX, SEG_PODSPEC, SEG_ALLCONTAINERS, SEG_PODMETA } seg_type;
typedef struct path_seg {
    seg_type type;
    char *key;
    size_t index;
} path_seg;

/* Where a condition's path starts. Outside forEach a path starts at the object; inside,
 * at the element ($this), unless it names another root. */
typedef enum { ROOT_OBJECT, ROOT_THIS, ROOT_KEY, ROOT_PODSPEC, ROOT_OLD } path_root;

typedef struct rpath {
    path_root root;
    char *text;     /* as written */
    path_seg *segs;
    size_t nsegs;
    int many;       /* has [*], podSpec or allContainers: visits several values */
} rpath;

/* A Kubernetes quantity, exactly, in units of 10^-9 (Kubernetes' own precision: finer
 * values round up). */
typedef struct quantity {
    __int128 nano;
} quantity;

typedef enum { COND_ABSENT, COND_EQUALS, COND_ONEOF, COND_MATCHES, COND_NOTMATCHES, COND_RANGE,
               COND_EXISTS /* required: true alone */, COND_CONTAINS, COND_KEYSIN, COND_KEYSMATCH,
               COND_KEYSNOTMATCH, COND_TYPE, COND_LENGTH, COND_LT, COND_LE, COND_GT, COND_GE,
               COND_UNCHANGED } cond_type;

typedef enum { CN_LEAF, CN_ALL, CN_ANY, CN_NOT, CN_FOREACH } cnode_type;

/* The JSON types `type:` names */
typedef enum { JT_OBJECT, JT_LIST, JT_STRING, JT_NUMBER, JT_INTEGER, JT_BOOLEAN } json_type_want;

/* One condition: a leaf (a path and what its value must be), a composition (all, any,
 * not) or a forEach (every element of a path, optionally filtered and joined). */
typedef struct cnode {
    cnode_type type;
    unsigned line, column;      /* where it is written (check warnings, explain) */
    /* leaf */
    rpath path;
    rpath *effective;           /* effective: [P1, P2]: the first that is set */
    size_t neffective;
    cond_type cond;
    int required;
    json_t *value;              /* equals, oneOf, contains: the value(s) */
    pcre2_code *re;             /* matches, notMatches, keysMatch, keysNotMatch */
    char *pattern;
    int has_min, has_max;       /* range, length */
    double min, max;
    strlist keys;               /* keysIn */
    json_type_want want;        /* type */
    quantity q;                 /* lessThan...: the literal, */
    char *q_text;
    rpath other;                /* or the path compared with (other.text set) */
    /* all, any: kids; not: kids[0]; forEach: kids[0] is the assertion */
    struct cnode *kids;
    size_t nkids;
    /* forEach */
    rpath each;
    struct cnode *where;        /* NULL: every element */
    char *on;                   /* joinOn: elements whose key equals the outer element's */
} cnode;

/* when: preconditions on the request */
typedef struct when_cfg {
    int present;
    strlist operations, users, not_users, groups, not_groups, sas, not_sas;
    int dry_run;                /* -1: either */
} when_cfg;

typedef struct generic_rule {
    char *name;
    int action; /* -1: the policy's */
    when_cfg when;
    rpath each;                 /* forEach (each.text NULL: the object itself) */
    cnode *where;               /* NULL: always */
    cnode *assert;              /* the condition (path + one condition is a leaf) */
    char *message;
    int v2;                     /* uses a v1alpha2 field (forEach, when, where, assert, new conditions) */
    int severity;       /* 0: the policy's; 1..4 low..critical (pol_severities) */
    char *category;     /* NULL: the policy's */
} generic_rule;

typedef struct exception_ {
    strlist controls, namespaces, names, users, kinds;
    strlist images;     /* image patterns (ag_imageref_match): waives per container only */
    char *reason;
    time_t expires; /* 0: never */
    char *expires_text;
    char *where;    /* file:line:column of the entry */
} exception_;

typedef struct regex_list {
    pcre2_code **re;
    char **text;
    size_t n;
} regex_list;

typedef struct image_allow {
    strlist namespaces;       /* globs; empty for the policy-wide list */
    strlist prefixes;         /* registry[/path] prefixes, compared on parsed parts */
    regex_list patterns;      /* on "registry/repository" */
} image_allow;

/* validate.images.allowFrom: allowlist entries read from the cluster view (recipe 12) */
typedef struct images_from {
    int present;
    char *ns_annotation;          /* annotation of the request's namespace, or NULL */
    char *cm_namespace, *cm_name, *cm_key; /* a ConfigMap's key, or NULL */
    int fail_closed;              /* unknown data: deny (1, default) or admit with a warning */
} images_from;

typedef struct images_cfg {
    int present;
    int require_digest, forbid_latest, forbid_tagless;
    image_allow global;
    image_allow *per_ns;      /* first entry whose namespaces match replaces global */
    size_t nper_ns;
    images_from from;         /* entries from the cluster (namespace annotation, ConfigMap) */
} images_cfg;

typedef struct secret_ns {
    strlist namespaces;
    regex_list allow;
} secret_ns;

typedef struct secrets_cfg {
    int present;
    int has_allow;            /* allowNames given: a reference must match one */
    regex_list allow, reserved, credential_names;
    int forbid_literal;
    secret_ns *per_ns;
    size_t nper_ns;
} secrets_cfg;

/* validate.rbac.clusterReferences: a namespaced AIM object naming a cluster-scoped
 * model, template or runtime config needs a SubjectAccessReview for it */
typedef struct cluster_refs {
    int present, enabled;
    char *verb;                    /* "use" unless configured */
    int fail_closed;               /* when the API cannot answer (default 1) */
    int models, templates, runtime_configs; /* which references are checked */
} cluster_refs;

typedef struct rbac_cfg {
    int present;
    cluster_refs refs;
    strlist protected_roles;       /* globs of role names */
    strlist broad_subjects;        /* group names (globs) */
    char *status_role;             /* e.g. aim-engine-artifact-status-updater */
    strlist status_binders;        /* usernames (globs) allowed to bind it */
    strlist status_sas;            /* ServiceAccount names (globs, binding's namespace) it may go to */
    strlist reserved_sas;          /* "namespace/name" globs */
    char *operator_namespace;      /* where AIMClusterModel discovery Jobs run */
} rbac_cfg;

typedef struct aim_cfg {
    int present;
    strlist allowed_resources;     /* resource names allowed in spec.resources */
    strlist allowed_gateways;      /* "namespace/name" globs */
    long long max_ns_len;          /* 0: no limit */
    int path_under_namespace;
} aim_cfg;

/* validate.podSecurity.exempt[]: containers the named checks skip (block_pss.c) */
typedef struct pss_exempt {
    strlist controls;   /* PSS check IDs or their prefixes (as exceptions name them) */
    strlist images;     /* image patterns (ag_imageref_match), any of */
    strlist containers; /* container name globs, any of; both given: both must match */
} pss_exempt;

/* spec.mutate.rules[] (block_mutations.c): a generic, idempotent mutation */
enum { MUT_POD = 1, MUT_POD_METADATA = 2, MUT_CONTAINERS = 3 };
typedef struct mutation_rule {
    char *name;
    int target;           /* MUT_* */
    int overwrite;        /* set replaces explicit values too (never an equal one) */
    long long min_replicas; /* when.minReplicas, 0: no condition */
    int image_digest;     /* when.imageHasDigest: -1 any, 0 without, 1 with */
    json_t *set;          /* object merged where absent, or NULL */
    json_t *append;       /* object: list key -> elements appended unless present, or NULL */
} mutation_rule;

typedef struct policy {
    char *name, *where;
    int action;
    int severity;       /* 0: none; 1..4 low..critical (pol_severities) */
    char *category;     /* NULL: none */
    selector match, exclude;
    harden hard;
    gpu_cfg gpu;
    int pss_level; /* -1: none */
    pss_exempt *pss_exempt;
    size_t npss_exempt;
    images_cfg images;
    secrets_cfg secrets;
    rbac_cfg rbac;
    aim_cfg aim;
    generic_rule *rules;
    size_t nrules;
    mutation_rule *mutations;
    size_t nmutations;
    exception_ *exc;
    size_t nexc;
    /* a path or a mutation of this policy can reach an object's bookkeeping (its
     * metadata.managedFields, its status, the value of its last-applied-configuration
     * annotation): the webhook then reads those too (ag_policy_set_reads_bookkeeping) */
    int reads_bookkeeping;
    int reads_old;       /* a path from $old or an `unchanged` condition: needs the old object */
} policy;

struct ag_policy_set {
    atomic_int refs;
    pcre2_match_context *mctx; /* match and depth limits for every pattern */
    uint64_t generation;
    policy *v;
    size_t n;
    size_t files, skipped;     /* YAML files read; documents skipped (not policies) */
    ag_diags warnings;         /* load-time warnings (expiry ones are computed on demand) */
    ag_diags notes;            /* one line per skipped document */
};

/* 1 when a path from the object (or the old object) can reach its bookkeeping: the
 * object itself, its status, metadata, metadata.managedFields, metadata.annotations or
 * its last-applied-configuration value, through a key or a [*] (cond_compile.c). */
int pol_path_reads_bookkeeping(const rpath *r);
#define POL_LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* compile-time context */
typedef struct cctx {
    const char *file;
    ag_diags *diags;
    int errors;
    ag_diags *warnings; /* "file:line:col: warning: ..." lines; NULL: not collected */
    int version;        /* the document's policy.aimguard.io/v1alphaN (1 or 2) */
} cctx;

/* "", "low", "medium", "high", "critical", NULL: a severity's name by its number */
extern const char *const pol_severities[];


/* A violation found by a validator; the verdict (verdict.c) turns them into the decision. */
typedef struct violation {
    const policy *pol;
    char *rule;          /* rule name for messages (owned) */
    const char *control; /* control name for exceptions */
    int action;
    char *message;
    char *path;
    const char *block;   /* the block that found it (its key; set by the decider) */
    int per_rule;        /* the block reports each rule apart (generic rules): rule is one */
    int severity;        /* its tags, resolved once by the decider (pol_violation_tags) */
    const char *category;
} violation;

typedef struct vlist {
    violation *v;
    size_t n, cap;
    int oom;
} vlist;

/* An exception that waived a control during this decision (for the per-rule results) */
typedef struct waiver {
    const policy *pol;
    const char *control;
    const exception_ *x;
} waiver;
#define POL_MAX_WAIVERS 64

typedef struct eval_ctx {
    const ag_request *req;
    json_t *old;         /* the old object, or NULL (CREATE, or deferred and not needed) */
    const char *group, *kind, *ns, *name, *operation;
    json_t *object;      /* object judged (working copy after mutation in BOTH mode) */
    time_t now;
    ag_decision *decision;
    pcre2_match_context *mctx;
    int pod_update;      /* UPDATE of a Pod: spec fields are immutable */
    int specs_unchanged; /* UPDATE leaving every pod spec as it was: pod-spec checks skip */
    const ag_view *view; /* the cluster view, or NULL (aimguard eval, no cluster) */
    ag_podspec_ref specs[AG_PODSPEC_MAX]; /* the pod specs of object, found once */
    size_t nspecs;
    int want_results;    /* record waivers (AG_MODE_RESULTS) */
    waiver waived[POL_MAX_WAIVERS]; /* distinct (policy, control, exception) waived */
    size_t nwaived;
} eval_ctx;


/* ---- the generic rule's evaluation (cond_value.c, cond_eval.c) ---- */
#define POL_PATHMAX 512
#define POL_MAXFRAMES 40

/* The path walked so far, kept as frames and only turned into text when a violation is
 * reported: formatting every visited path dominated evaluation time. */
typedef struct frame {
    const char *text; /* a key, or a dotted prefix (pod spec base) */
    size_t index;
    enum { F_KEY, F_INDEX, F_BASE } type;
} frame;

typedef struct wpath {
    frame f[POL_MAXFRAMES];
    int n;
    const ag_podspec_ref *ref; /* the pod spec walked into */
} wpath;

/* where a condition stands: the object, or an element of a forEach */
typedef struct cscope {
    json_t *elem;
    const char *key;           /* the element's key when it is a map value */
    const ag_podspec_ref *ref; /* the pod spec it lies in */
    const wpath *wp;           /* its path */
    const struct cscope *outer;
} cscope;

/* what a walk needs from the request; embedded first in the evaluator's state */
typedef struct pol_walker {
    eval_ctx *e;
    /* path of each pod spec's metadata, allocated on first use (podMeta) and freed by the
     * walker's owner: kept off the stack of every rule run */
    char (*meta)[AG_PODSPEC_PATH];
} pol_walker;

/* v: the value reached (NULL: missing from segment `from` of p on) */
typedef void (*pol_visit_fn)(pol_walker *w, void *arg, json_t *v, wpath *wp, const rpath *p, size_t from);

/* ---- the block table (blocks.c; each row defined by its block_*.c) ----
 * A block is one key of spec.mutate or spec.validate. The document compiler, the
 * decider, the exception checks and the free walk this table in its order (which is
 * the order blocks compile, mutate and validate in). */
typedef enum { POL_MUTATE = 1, POL_VALIDATE = 2 } pol_phase;

typedef struct pol_block {
    const char *key;             /* YAML key under spec.mutate or spec.validate */
    pol_phase phase;
    /* exception controls this block reports or sets, NULL-terminated (or NULL) */
    const char *const *controls;
    void (*init)(policy *p);     /* optional: defaults before any block compiles */
    void (*compile)(cctx *c, const ag_ynode *n, policy *p);
    int (*present)(const policy *p); /* the policy has this block */
    /* run (one of them, by phase); each returns at once when the policy lacks the block */
    void (*mutate)(const policy *p, eval_ctx *e, ag_patch *patch);
    void (*validate)(const policy *p, eval_ctx *e, vlist *out, ag_error *err);
    void (*free)(policy *p);     /* optional: releases what compile allocated */
    /* optional: controls known only at run time (PSS check IDs, rule names): stores up
     * to all of them in out (when not NULL) and returns how many there are */
    size_t (*names)(const policy *p, const char **out);
    /* optional: 1 when p's block checks `control` (default: present and one of controls) */
    int (*uses)(const policy *p, const char *control);
    /* optional: the block's rules as results and reports name them (the generic rules:
     * each by its name; a violation's `rule` is one of them). Default: one rule, the key. */
    size_t (*report_rules)(const policy *p, const char **out);
} pol_block;

/* The table, NULL-terminated; at most POL_MAX_BLOCKS rows. */
#define POL_MAX_BLOCKS 16
extern const pol_block *const pol_blocks[];

/* ---- layer 0 ---- */
/* lists.c (and ag_glob, aimguard/policy.h) */
int pol_strlist_has_glob(const strlist *l, const char *s);
int pol_strlist_add(strlist *l, const char *s);
void pol_strlist_free(strlist *l);
void pol_kvlist_free(kvlist *l);
/* regex.c */
int pol_regex_any(const regex_list *l, const char *s, pcre2_match_context *mctx);
void pol_regex_list_free(regex_list *l);

/* ---- layer 1 ---- */
/* select.c */
int pol_kind_matches(const strlist *kinds, const char *group, const char *kind);
/* 1 when every field the selector sets matches. *unknown is set when the answer
 * depended on namespace labels that the cluster view could not provide. */
int pol_selector_matches(const selector *s, const eval_ctx *e, const ag_view *view, int is_match,
                         int *unknown);
void pol_selector_free(selector *s);
/* exception.c: 1 when `control` (e.g. "seccompProfile_restricted") is waived by an
 * exception entry naming `name` ("seccompProfile" waives every seccompProfile_* check). */
int pol_control_matches(const char *name, const char *control);
/* 1 when an exception of pol waives `control` for this request (records the reason);
 * exceptions scoped by images never waive a whole request */
int pol_exception_applies(const policy *pol, const eval_ctx *e, const char *control);
/* The image-scoped exception that covers `control` for one container running `image`
 * (NULL: none, or image NULL), without recording it: the caller records it with
 * pol_exception_record only when it waived a violation (a waiver that changed nothing
 * is not one). Entries without images are pol_exception_applies'. */
const exception_ *pol_exception_for_image(const policy *pol, const eval_ctx *e, const char *control,
                                          const char *image);
/* Records a waiver: the audit annotation and, for the results, the waiver list */
void pol_exception_record(const policy *pol, const eval_ctx *e, const exception_ *x, const char *control);
/* verdict.c */
void pol_vlist_add(vlist *l, const policy *pol, const char *rule, const char *control, int action,
                   const char *message, const char *path);
void pol_vlist_clear(vlist *l);
/* Writes the violations into the decision by their action: enforce denies (one message,
 * no patch), warn warns, audit annotates. 0 or AG_ENOMEM. */
int pol_verdict(const vlist *vl, const eval_ctx *e, ag_decision *out, ag_error *err);
/* The severity (0 none, 1..4) and category (NULL none) of a violation: its generic rule's,
 * else its policy's. The decider stores them in the violation once (messages, findings and
 * results read the fields). */
void pol_violation_tags(const violation *v, int *severity, const char **category);
/* results.c: appends to `out` (AG_MODE_RESULTS) the result of `rule` of policy p's block
 * `block` (rule NULL: the block is one rule named by its key), from the violations
 * vl->v[vfrom..] and the waivers e->waived[wfrom..] the block produced; `skipped` (or NULL)
 * says why the rule did not apply to this request, making a result without violations a
 * skip. 0 or -1 (memory). */
int pol_results_add(json_t *out, const policy *p, const char *block, const char *rule, int action,
                    const vlist *vl, size_t vfrom, const eval_ctx *e, size_t wfrom, const char *skipped);

/* quantity.c: "500m", "2Gi", "1.5", "1e3", 4 -> exact value; 0 or -1 (not a quantity) */
int pol_quantity_parse(const char *s, quantity *out);
int pol_quantity_of_json(json_t *v, quantity *out);
int pol_quantity_cmp(const quantity *a, const quantity *b);

/* select.c: the request's service account as "namespace/name" into out; 0 when the
 * user is not a service account */
int pol_request_sa(const char *user, char *out, size_t cap);

/* cond_compile.c: a rule's condition vocabulary (schema.h has the compile functions) */
void pol_cnode_free(cnode *n);
void pol_rpath_free(rpath *p);
void pol_when_free(when_cfg *w);
/* cond_value.c: walking a condition's path and judging one value */
void pol_walk_from(pol_walker *w, const cscope *sc, const rpath *p, pol_visit_fn fn, void *arg);
/* the one value at p (compiled single-valued), borrowed, or NULL */
json_t *pol_value_at(pol_walker *w, const cscope *sc, const rpath *p);
void pol_path_format(const wpath *w, char *out, size_t cap);
/* the path of a missing field: the walked part, then p's segments from `from` on */
void pol_path_format_missing(const wpath *wp, const rpath *p, size_t from, char *full, size_t cap);
/* a value as short text for {value} (strings unquoted, cut at 120 characters) */
void pol_value_text(json_t *v, char *out, size_t cap);
/* the message template with {path}, {value} (text, NULL: ""), {rule} and {policy} filled in */
void pol_render(const policy *pol, const generic_rule *r, const char *path, const char *value, const char *tpl,
                char *out, size_t cap);
/* NULL when v meets leaf n's condition, else the default message template (maybe in why) */
const char *pol_judge(pol_walker *w, const cscope *sc, const cnode *n, json_t *v, char *why, size_t cap);
/* cond_eval.c: runs one generic rule on the request, adding its violations to out */
void pol_rule_run(const policy *pol, const generic_rule *r, eval_ctx *e, vlist *out);
/* 0 when the rule's `when` excludes this request (its result is then skip) */
int pol_rule_applies(const generic_rule *r, const eval_ctx *e);

/* ---- layer 2 ---- */
/* block_cluster_refs.c: validate.rbac.clusterReferences, a part of the rbac block */
void pol_cluster_refs_compile(cctx *c, const ag_ynode *n, cluster_refs *r);
void pol_cluster_refs_validate(const policy *pol, eval_ctx *e, vlist *out);

/* ---- layer 4 ---- */
/* document.c */
int pol_policy_compile(cctx *c, const ag_ynode *doc, policy *out);
void pol_policy_free(policy *p);

#endif
