/* Where the pod specs are inside every kind that carries one ("pod carriers").
 *
 * One table (DESIGN.md: "Pod specs are found once") maps a group/kind to the paths of
 * its pod spec(s) and of the single-container specs that become a pod's first container
 * (KServe's spec.predictor.model, .huggingface, ...), so every mutator and validator works
 * on the same view and a rule written for pods covers every controller and every KServe
 * shape. Paths may cross lists (spec.canary[*].predictor): every element is visited.
 * Thread-safety: reentrant; the returned refs borrow from the object. */
#ifndef AIMGUARD_PODSPEC_H
#define AIMGUARD_PODSPEC_H

#include <stddef.h>
#include <jansson.h>

/* Pod specs judged in one object; an object holding more is refused whole (see
 * ag_podspec_find), never judged in part. */
#define AG_PODSPEC_MAX 16
#define AG_PODSPEC_PATH 192

typedef struct ag_podspec_ref {
    json_t *spec;                /* the PodSpec object (borrowed) */
    json_t *meta;                /* the pod (template) metadata, NULL when absent */
    json_t *meta_parent;         /* the object holding that metadata (the object itself, or
                                    the template beside spec): where a mutator adds it */
    char meta_ptr[AG_PODSPEC_PATH]; /* JSON pointer of that metadata, present or not */
    const char *const *singles;  /* keys of spec holding a single container (KServe's
                                    model, huggingface, ...); NULL-terminated, or NULL */
    char ptr[AG_PODSPEC_PATH];   /* JSON pointer of spec, e.g. "/spec/template/spec" */
    char path[AG_PODSPEC_PATH];  /* dotted path of spec, e.g. "spec.canary[0].predictor" */
} ag_podspec_ref;

/* 1 when group/kind is a pod carrier. */
int ag_podspec_is_carrier(const char *group, const char *kind);
/* Fills out[] with the pod specs present in object and returns how many the object
 * holds. A return above max means the object holds more than out[] could take: the
 * caller must refuse to judge it (never judge the first max alone). */
/* 1 when the bytes of two objects (JSON texts the reader accepted: a review's object and
 * old object) prove that now carries every pod spec of its kind exactly as old does: each
 * subtree the carrier table looks in is absent from both or the same bytes in both. 0
 * when they cannot prove it (different bytes may still be equal values: compare the
 * values then). The webhook's UPDATE proof without building the old object. */
int ag_podspec_raw_unchanged(const char *group, const char *kind, const char *now, size_t now_len,
                             const char *old, size_t old_len);

size_t ag_podspec_find(const char *group, const char *kind, json_t *object,
                       ag_podspec_ref *out, size_t max);

/* The carrier table, row by row, for docs, explain and the consistency tests. */
typedef struct ag_carrier_info {
    const char *group, *kind; /* "" for the core group */
    const char *resource;     /* the plural resource the API server names in webhook rules */
} ag_carrier_info;
/* Row i of the table, or NULL past the end. */
const ag_carrier_info *ag_podspec_carrier(size_t i);
/* One place of row i: a pod spec (single NULL) or a single container spec at path.single. */
typedef struct ag_carrier_path {
    const char *path;   /* dotted, "[*]" for every element of a list */
    const char *single; /* e.g. "model", or NULL */
} ag_carrier_path;
/* Fills out[] with the places of row i (at most max) and returns how many it has. */
size_t ag_podspec_carrier_paths(size_t i, ag_carrier_path *out, size_t max);

/* Container lists of a pod spec, in the order rules visit them. */
extern const char *const ag_container_lists[3]; /* containers, initContainers, ephemeralContainers */

/* Every container of one pod spec: the three lists, then the single-container specs
 * (which KServe merges into the pod's first container, so they count as "containers"). */
typedef struct ag_container_ref {
    json_t *c;           /* the container object (borrowed) */
    int list;            /* index into ag_container_lists (a single-container spec: 0) */
    size_t index;        /* index in its list (a single-container spec: 0) */
    const char *single;  /* the key of a single-container spec, NULL for list elements */
    const ag_podspec_ref *ref;       /* the pod spec holding it */
    char path[AG_PODSPEC_PATH + 48]; /* filled by ag_container_path, on demand */
} ag_container_ref;

typedef struct ag_container_iter {
    const ag_podspec_ref *ref;
    int list;
    size_t i, s;
} ag_container_iter;

void ag_container_iter_init(ag_container_iter *it, const ag_podspec_ref *ref);
/* Fills out with the next container; 0 when there is none left. */
int ag_container_next(ag_container_iter *it, ag_container_ref *out);
/* The container's name for messages: its `name`, else the key of a single-container spec
 * ("model": KServe names that container itself), else "". */
const char *ag_container_name(const ag_container_ref *c);
/* The dotted path of a container ("spec.containers[1]", "spec.predictor.model"), built on
 * first use (messages only need it on a violation: rules walk thousands of containers). */
const char *ag_container_path(ag_container_ref *c);
/* The JSON pointer of a container ("/spec/containers/1", "/spec/predictor/model"). */
void ag_container_ptr(const ag_podspec_ref *ref, const ag_container_ref *c, char *buf, size_t cap);

#endif
