/* Compiled policy structures shared by the policy module's files (not public). */
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

typedef enum { SEG_KEY, SEG_ANY, SEG_INDEX, SEG_PODSPEC, SEG_ALLCONTAINERS } seg_type;
typedef struct path_seg {
    seg_type type;
    char *key;
    size_t index;
} path_seg;

typedef enum { COND_ABSENT, COND_EQUALS, COND_ONEOF, COND_MATCHES, COND_NOTMATCHES, COND_RANGE,
               COND_EXISTS /* required: true alone */ } cond_type;

typedef struct generic_rule {
    char *name;
    int action; /* -1: the policy's */
    char *path_text;
    path_seg *segs;
    size_t nsegs;
    cond_type cond;
    json_t *value;  /* equals: the value; oneOf: array */
    pcre2_code *re;
    char *pattern;
    int has_min, has_max;
    double min, max;
    int required;
    char *message;
} generic_rule;

typedef struct exception_ {
    strlist controls, namespaces, names, users, kinds;
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

typedef struct images_cfg {
    int present;
    int require_digest, forbid_latest, forbid_tagless;
    image_allow global;
    image_allow *per_ns;      /* first entry whose namespaces match replaces global */
    size_t nper_ns;
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

typedef struct policy {
    char *name, *where;
    int action;
    selector match, exclude;
    harden hard;
    gpu_cfg gpu;
    int pss_level; /* -1: none */
    images_cfg images;
    secrets_cfg secrets;
    rbac_cfg rbac;
    aim_cfg aim;
    generic_rule *rules;
    size_t nrules;
    exception_ *exc;
    size_t nexc;
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

/* compile-time context */
typedef struct cctx {
    const char *file;
    ag_diags *diags;
    int errors;
    ag_diags *warnings; /* "file:line:col: warning: ..." lines; NULL: not collected */
} cctx;

void cctx_err(cctx *c, const ag_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A problem that does not refuse the policy (it cannot fire as written). */
void cctx_warn(cctx *c, const ag_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* glob match ("*" and "?"); 1 on match */
int ag_glob(const char *pattern, const char *s);
int strlist_has_glob(const strlist *l, const char *s);

void policy_free(policy *p);
void strlist_free(strlist *l);
int strlist_add(strlist *l, const char *s);
int policy_compile(cctx *c, const ag_ynode *doc, policy *out);

/* evaluation helpers (decide.c, mutate.c, rules.c) */
typedef struct violation {
    const policy *pol;
    char *rule;          /* rule name for messages (owned) */
    const char *control; /* control name for exceptions */
    int action;
    char *message;
    char *path;
} violation;

typedef struct vlist {
    violation *v;
    size_t n, cap;
    int oom;
} vlist;

void vlist_add(vlist *l, const policy *pol, const char *rule, const char *control, int action,
               const char *message, const char *path);
void vlist_clear(vlist *l);

typedef struct eval_ctx {
    const ag_request *req;
    const char *group, *kind, *ns, *name, *operation;
    json_t *object;      /* object judged (working copy after mutation in BOTH mode) */
    time_t now;
    ag_decision *decision;
    pcre2_match_context *mctx;
    int pod_update;      /* UPDATE of a Pod: spec fields are immutable */
    const ag_view *view; /* the cluster view, or NULL (aimguard eval, no cluster) */
    ag_podspec_ref specs[AG_PODSPEC_MAX]; /* the pod specs of object, found once */
    size_t nspecs;
} eval_ctx;

/* 1 when an exception of pol waives `control` for this request (records the reason) */
int exception_applies(const policy *pol, const eval_ctx *e, const char *control);
void mutate_harden(const policy *pol, eval_ctx *e, ag_patch *patch);
void mutate_gpu(const policy *pol, eval_ctx *e, ag_patch *patch);
void validate_generic(const policy *pol, const generic_rule *r, eval_ctx *e, vlist *out);
void validate_images(const policy *pol, eval_ctx *e, vlist *out);
void validate_secrets(const policy *pol, eval_ctx *e, vlist *out);
void secrets_free(secrets_cfg *c);
void validate_rbac(const policy *pol, eval_ctx *e, vlist *out);
void validate_aim(const policy *pol, eval_ctx *e, vlist *out);
void rbac_free(rbac_cfg *c);
/* validate.rbac.clusterReferences (cluster_refs.c) */
void validate_cluster_refs(const policy *pol, eval_ctx *e, vlist *out);
void aim_free(aim_cfg *c);
/* compiles a list of PCRE2 patterns into l; errors to c */
void compile_regex_list(cctx *c, const ag_ynode *n, const char *where, regex_list *l);
int regex_list_any(const regex_list *l, const char *s, pcre2_match_context *mctx);
void regex_list_free(regex_list *l);
void images_free(images_cfg *c);
/* 1 when `control` (e.g. "seccompProfile_restricted") is waived by an exception entry
 * naming `name` ("seccompProfile" waives every seccompProfile_* check). */
int control_matches(const char *name, const char *control);
int kind_matches(const strlist *kinds, const char *group, const char *kind);

#endif
