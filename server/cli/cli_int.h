/* Internals of the offline CLI (server/cli): the objects eval was given, the offline
 * cluster view, and a JSON-to-YAML printer. Not thread-safe; one CLI run at a time. */
#ifndef AG_CLI_INT_H
#define AG_CLI_INT_H

#include <stdio.h>
#include <jansson.h>

#include "aimguard/error.h"
#include "aimguard/policy.h"
#include "aimguard/view.h"

/* One object to judge, or one thing that could not be read as one. */
typedef struct eval_item {
    char *file;      /* path as given or found, "<stdin>" for - (owned) */
    size_t doc;      /* 1-based YAML document within file; 0: the file as a whole */
    char *item;      /* "items[3]" (nested: "items[0].items[2]") inside a List, or NULL (owned) */
    json_t *obj;     /* the object (owned), NULL when error is set */
    char *error;     /* why it could not be read (owned), or NULL */
} eval_item;

typedef struct eval_items {
    eval_item *v;
    size_t n, cap;
} eval_items;

/* Adds every object found at path: "-" (stdin), a file (any name), or a directory
 * (recursively: *.yaml, *.yml and *.json, dotfiles and dot-directories skipped, in byte
 * order of their paths). Lists (kind: List or FooList with items) are opened item by
 * item. What cannot be read becomes an item with an error; only running out of memory
 * fails (<0). */
int cli_collect(const char *path, eval_items *out, ag_error *err);
void cli_items_free(eval_items *items);
/* Adds obj (takes the reference), or each item of a List, as found at `where` (doc 0).
 * Only running out of memory fails (<0). */
int cli_items_add(eval_items *out, const char *where, json_t *obj);

/* "file#doc" or "file#doc items[2]" or "file": where an item came from (caller's buffer). */
void cli_item_where(const eval_item *it, char *buf, size_t cap);

/* The offline cluster view built from --cluster-objects: Namespaces, AIM objects and any
 * other object, served by resource (lower-case plural of the kind), namespace and name.
 * access: AG_ACCESS_ALLOWED / AG_ACCESS_DENIED answer every SubjectAccessReview so;
 * -1 leaves ag_view.access unset (no answer, as without a cluster). */
typedef struct eval_view eval_view;
int cli_view_new(eval_view **out, int access, ag_error *err);
/* Adds the objects found at path (as cli_collect); an unreadable one is an error. */
int cli_view_add(eval_view *v, const char *path, ag_error *err);
/* Adds one object (a new reference is taken); it needs kind and metadata.name. */
int cli_view_put(eval_view *v, json_t *obj, ag_error *err);
const ag_view *cli_view_get(const eval_view *v);
void cli_view_free(eval_view *v);

/* Where `aimguard audit` sends what it reads from a cluster: each object (borrowed, with
 * apiVersion and kind set), and each kind that could not be listed (audit goes on with
 * the others). */
typedef struct cli_sink {
    void *ctx;
    void (*object)(void *ctx, json_t *obj);
    void (*error)(void *ctx, const char *what, const char *msg);
} cli_sink;

/* Lists, page by page (limit=chunk, continue=...), every object of every kind in kinds
 * that the cluster behind kubeconfig serves, in namespace ns (NULL: all namespaces;
 * cluster-scoped kinds are then skipped) and hands each to sink. The API's discovery
 * documents say which group version serves a kind; a kind it does not serve is one
 * line on stderr, not an error. When view is not NULL the cluster's Namespaces are put
 * in it first (policies' namespaceSelector). 0, or <0 when the cluster cannot be used
 * at all (kubeconfig, unreachable, discovery refused): err says why, never the token. */
int cli_cluster_each(const char *kubeconfig, const ag_kind_ref *kinds, size_t nkinds, const char *ns,
                     long chunk, eval_view *view, const cli_sink *sink, ag_error *err);

/* Writes a JSON value as one YAML document (block style, keys in their order). */
int cli_yaml_print(FILE *f, const json_t *value, ag_error *err);

/* eval_input.c: loads the policies at path for command `cmd` ("eval", "audit"); on a
 * refused set prints every diagnostic (file:line:column) and "aimguard CMD: why" on stderr
 * and returns NULL (the command then exits 2). */
ag_policy_set *cli_load_policies(const char *cmd, const char *path);

#endif
