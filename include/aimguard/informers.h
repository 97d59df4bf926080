/* The process's watch caches: one ag_informer per resource, whoever reads it (client-go's
 * SharedInformerFactory). The process wiring creates the set once; the cluster view
 * (ag_informers_view) and the reconciler ask it for the resources they read and add
 * their handlers; then ag_informers_start() lists and watches each resource once.
 * Namespaces, read by both the policies' namespaceSelector and the reconciler, are
 * listed and watched once, not twice; and admission's view of AIM objects does not
 * depend on the reconciler running (--reconcile off keeps it).
 *
 * Life cycle: new -> for()/view()/add handlers -> start -> stop -> free. Between stop
 * and free the caches stay readable (snapshots) but no handler runs any more, so a
 * handler's ctx (e.g. the reconciler) may be freed after stop and before free.
 *
 * Threads: new, for, view, start, stop and free from one thread (the process wiring);
 * get() and the view's get from any thread, lock-free (see aimguard/informer.h).
 * Ownership: the set copies the config; informers returned by for()/lookup() are
 * borrowed and live until ag_informers_free(). */
#ifndef AIMGUARD_INFORMERS_H
#define AIMGUARD_INFORMERS_H

#include <stddef.h>
#include <jansson.h>
#include "aimguard/error.h"
#include "aimguard/informer.h"
#include "aimguard/kube.h"
#include "aimguard/view.h"

typedef struct ag_informers ag_informers;

ag_informers *ag_informers_new(const ag_kube_config *cfg, ag_error *err);
/* The cache of a resource (group "" for the core API), created on the first ask and the
 * same one after; only before ag_informers_start() (AG_EINVAL after: a cache created
 * late would never be started). NULL with err on failure. */
ag_informer *ag_informers_for(ag_informers *f, const char *group, const char *version, const char *plural,
                              int namespaced, ag_error *err);
/* A cache of one named object of a namespaced core resource (version "v1", plural
 * "configmaps"): a list and watch with fieldSelector=metadata.name=NAME in namespace ns,
 * so the API server sends that object only (a policy naming one ConfigMap never makes
 * the process watch every ConfigMap). Read through ag_informers_get(plural, ns, name)
 * like a whole resource's cache. Unlike ag_informers_for it may be asked for after
 * ag_informers_start() (a reloaded policy names a new ConfigMap): it then starts at
 * once. ns and name must be DNS-1123 names. NULL with err on failure. */
ag_informer *ag_informers_for_one(ag_informers *f, const char *version, const char *plural, const char *ns,
                                  const char *name, ag_error *err);
/* The cache of a plural resource name ("namespaces", "aimmodels"), or NULL when nobody
 * asked for it. */
ag_informer *ag_informers_lookup(ag_informers *f, const char *plural);
/* An object from the caches (ns "" or NULL for cluster scope): a new reference, or NULL
 * when unknown or not watched. Never waits on the network. */
json_t *ag_informers_get(ag_informers *f, const char *plural, const char *ns, const char *name);
/* Starts every cache's thread. */
int ag_informers_start(ag_informers *f, ag_error *err);
/* Ends every watch at once and joins the threads: afterwards no handler runs. */
void ag_informers_stop(ag_informers *f);
void ag_informers_free(ag_informers *f); /* stops first if needed; NULL is a no-op */
size_t ag_informers_count(ag_informers *f);
/* lists and watch (re)starts summed over the caches */
void ag_informers_stats(ag_informers *f, ag_informer_stats *out);

/* The admission path's cluster view over these caches: asks for the resources the
 * policies read (namespaces for namespaceSelector; AIMModels, AIMServiceTemplates and
 * AIMRuntimeConfigs for clusterReferences' shadowing) and sets v->ctx and v->get
 * (v->access is left alone). Call before ag_informers_start(). */
int ag_informers_view(ag_informers *f, ag_view *v, ag_error *err);

#endif
