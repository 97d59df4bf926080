/* A Kubernetes API client on libcurl: configuration (kubeconfig or in-cluster),
 * the verbs aimguard needs, watch streams, SubjectAccessReview.
 *
 * Ownership: ag_kube_config strings are owned by the config (ag_kube_config_clear);
 * returned json_t are new references. Thread-safety: an ag_kube holds one CURL handle
 * (connections are reused) and must be used by one thread at a time; create one per
 * thread. Secrets: the bearer token is never logged or put in an error message. */
#ifndef AIMGUARD_KUBE_H
#define AIMGUARD_KUBE_H

#include <stdatomic.h>
#include <stddef.h>
#include <jansson.h>
#include "aimguard/error.h"

typedef struct ag_kube_config {
    char *server;        /* https://host:port */
    char *token;         /* bearer token, or NULL */
    char *token_file;    /* re-read when it changes on disk (service account token rotation) */
    char *ca_file;       /* PEM bundle to verify the server, or NULL with ca_pem */
    char *ca_pem;        /* PEM text (kubeconfig certificate-authority-data) */
    char *client_cert_pem, *client_key_pem; /* kubeconfig client-certificate/key(-data) */
    int watch_timeout_s; /* watches ask the server to end them after this many seconds,
                          * jittered up to twice that (0: 300, as client-go's 5 min) */
} ag_kube_config;

/* Reads a kubeconfig (its current-context). */
int ag_kube_config_load(const char *kubeconfig, ag_kube_config *out, ag_error *err);
/* KUBERNETES_SERVICE_HOST/PORT and the service account files under dir
 * (default /var/run/secrets/kubernetes.io/serviceaccount). */
int ag_kube_config_in_cluster(const char *dir, ag_kube_config *out, ag_error *err);
void ag_kube_config_clear(ag_kube_config *c);
/* A deep copy (dst is overwritten; clear it with ag_kube_config_clear): 0 or AG_ENOMEM. */
int ag_kube_config_copy(ag_kube_config *dst, const ag_kube_config *src);

typedef struct ag_kube ag_kube;

/* The API's answer to a failed call: HTTP code, metav1.Status reason and message. */
typedef struct ag_kube_status {
    long code;
    char reason[64];
    char message[512];
} ag_kube_status;

ag_kube *ag_kube_new(const ag_kube_config *cfg, long timeout_ms, ag_error *err);
void ag_kube_free(ag_kube *k);

/* One call. body may be NULL; content_type defaults to application/json. On a 2xx
 * answer *out is the decoded body (NULL when empty); otherwise st says why and the
 * call returns AG_ERR (AG_ENOTFOUND for 404). */
int ag_kube_call(ag_kube *k, const char *method, const char *path, const char *content_type,
                 const json_t *body, json_t **out, ag_kube_status *st, ag_error *err);
int ag_kube_get(ag_kube *k, const char *path, json_t **out, ag_kube_status *st, ag_error *err);
/* Every page of a list (limit/continue): a new array of items, and the list's
 * resourceVersion (caller frees). */
int ag_kube_list(ag_kube *k, const char *path, const char *label_selector, long page_size,
                 json_t **items, char **resource_version, ag_kube_status *st, ag_error *err);
int ag_kube_create(ag_kube *k, const char *path, const json_t *obj, json_t **out,
                   ag_kube_status *st, ag_error *err);
/* PUT with the object's resourceVersion: 409 Conflict when someone wrote in between. */
int ag_kube_update(ag_kube *k, const char *path, const json_t *obj, json_t **out,
                   ag_kube_status *st, ag_error *err);
int ag_kube_merge_patch(ag_kube *k, const char *path, const json_t *patch, json_t **out,
                        ag_kube_status *st, ag_error *err);
int ag_kube_json_patch(ag_kube *k, const char *path, const json_t *ops, json_t **out,
                       ag_kube_status *st, ag_error *err);
int ag_kube_delete(ag_kube *k, const char *path, const char *propagation, ag_kube_status *st,
                   ag_error *err);

/* SubjectAccessReview: may `user` (with groups) `verb` the resource? */
int ag_kube_access(ag_kube *k, const char *user, const json_t *groups, const char *verb,
                   const char *group, const char *resource, const char *ns, const char *name,
                   int *allowed, char *reason, size_t reason_cap, ag_error *err);

/* Watch stream parsing, separate from the transport so it can be tested and fuzzed:
 * bytes arrive in arbitrary pieces; every complete line is one event. */
typedef int (*ag_watch_event_fn)(void *ctx, const char *type, json_t *object);
typedef struct ag_watch_parser {
    char *buf;
    size_t len, cap;
    size_t max_line;          /* a longer line is an error (default 16 MiB) */
    ag_watch_event_fn fn;
    void *ctx;
    char error[256];          /* set when the stream is broken */
} ag_watch_parser;
void ag_watch_parser_init(ag_watch_parser *p, ag_watch_event_fn fn, void *ctx);
/* 0 to go on, <0 when the stream is broken (bad JSON, line too long) or fn said stop. */
int ag_watch_parser_feed(ag_watch_parser *p, const char *data, size_t n);
void ag_watch_parser_clear(ag_watch_parser *p);

/* Watches path from resource_version until fn returns non-zero, *stop becomes
 * non-zero (another thread sets it: hence atomic), or the stream ends. The server is asked to end the stream after
 * timeoutSeconds (the config's watch_timeout_s, jittered to [1, 2) times it, so that many
 * watches do not end together): a real API server may send no byte at all on an idle
 * watch for minutes, which is healthy; only silence well past that promise is a broken
 * stream. Returns 0 on a clean end (watch again from the last resourceVersion), AG_ERR
 * with st->code 410 when the resourceVersion is too old (relist), other errors otherwise. */
int ag_kube_watch(ag_kube *k, const char *path, const char *resource_version,
                  ag_watch_event_fn fn, void *ctx, atomic_int *stop, ag_kube_status *st,
                  ag_error *err);

#endif
