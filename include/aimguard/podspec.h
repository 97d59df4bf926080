/* Where the pod specs are inside every kind that carries one ("pod carriers").
 *
 * One table (DESIGN.md: "Pod specs are found once") maps a group/kind to the JSON
 * paths of its pod spec(s), so every mutator and validator works on the same view and
 * a rule written for pods covers every controller. Thread-safety: reentrant; the
 * returned refs borrow from the object. */
#ifndef AIMGUARD_PODSPEC_H
#define AIMGUARD_PODSPEC_H

#include <stddef.h>
#include <jansson.h>

#define AG_PODSPEC_MAX 4

typedef struct ag_podspec_ref {
    json_t *spec;              /* the PodSpec object (borrowed) */
    json_t *meta;              /* the pod (template) metadata, NULL when absent */
    const char *ptr;           /* JSON pointer of spec, e.g. "/spec/template/spec" (static) */
    const char *path;          /* dotted path of spec, e.g. "spec.template.spec" (static) */
} ag_podspec_ref;

/* 1 when group/kind is a pod carrier. */
int ag_podspec_is_carrier(const char *group, const char *kind);
/* Fills out[] with the pod specs present in object (0..AG_PODSPEC_MAX). */
size_t ag_podspec_find(const char *group, const char *kind, json_t *object,
                       ag_podspec_ref *out);
/* The carrier table for docs/explain: NULL-terminated "group/Kind -> path" lines. */
const char *const *ag_podspec_table(void);

/* Container lists of a pod spec, in the order rules visit them. */
extern const char *const ag_container_lists[3]; /* containers, initContainers, ephemeralContainers */

#endif
