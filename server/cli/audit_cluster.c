/* What `aimguard audit --kubeconfig` reads from a cluster: the kinds the policies judge,
 * found through the API's discovery documents (which group version serves a kind, under
 * which resource, whether it can be listed), then listed page by page so that memory
 * holds one page at a time, whatever the size of the cluster. A kind the cluster does
 * not serve (a CRD not installed) is said once on stderr and skipped: policies name kinds
 * for every cluster they may meet. */
#include "cli_int.h"

#include "aimguard/kube.h"

#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 30000

typedef struct cluster {
    ag_kube *k;
    json_t *groups;    /* GET /apis: the APIGroupList */
    json_t *resources; /* "group/version" -> APIResourceList (fetched once each) */
    const char *server;
} cluster;

/* The group version that serves `group` ("" core: v1), or NULL when none does. */
static const char *preferred_version(cluster *c, const char *group)
{
    if (!*group)
        return "v1";
    json_t *g;
    size_t i;
    json_array_foreach(json_object_get(c->groups, "groups"), i, g) {
        const char *name = json_string_value(json_object_get(g, "name"));
        if (name && !strcmp(name, group))
            return json_string_value(json_object_get(json_object_get(g, "preferredVersion"), "version"));
    }
    return NULL;
}

/* The APIResourceList of group/version; NULL when it cannot be had (err set). */
static json_t *resource_list(cluster *c, const char *group, const char *version, ag_error *err)
{
    char gv[512], path[600];
    ag_strfmt(gv, sizeof gv, "%s%s%s", group, *group ? "/" : "", version);
    json_t *have = json_object_get(c->resources, gv);
    if (have)
        return have;
    if (ag_strfmt(path, sizeof path, "%s/%s", *group ? "/apis" : "/api", gv))
        return ag_error_set(err, AG_EINVAL, "group version %s: name too long", gv), NULL;
    json_t *list = NULL;
    ag_kube_status st = {0};
    if (ag_kube_get(c->k, path, &list, &st, err))
        return NULL;
    json_object_set_new(c->resources, gv, list ? list : json_object());
    return json_object_get(c->resources, gv);
}

static int can_list(json_t *res)
{
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(res, "verbs"), i, v)
        if (json_string_value(v) && !strcmp(json_string_value(v), "list"))
            return 1;
    return 0;
}

/* Lists one resource page by page and hands each item to the sink. Items of a list come
 * without apiVersion and kind: they are set from the list's group version and kind. */
static int list_resource(cluster *c, const char *gv, const char *kind, const char *resource, int namespaced,
                         const char *ns, long chunk, const cli_sink *sink, ag_error *err)
{
    char base[1024];
    if (ag_strfmt(base, sizeof base, "%s/%s%s%s/%s", strchr(gv, '/') ? "/apis" : "/api", gv,
                  namespaced && ns ? "/namespaces/" : "", namespaced && ns ? ns : "", resource))
        return ag_error_set(err, AG_EINVAL, "path too long");
    char cont[2048] = "";
    for (;;) {
        char path[4096];
        char *esc = NULL;
        if (*cont) {
            /* a continue token is opaque: escape every byte that is not unreserved */
            size_t n = strlen(cont);
            esc = malloc(n * 3 + 1);
            if (!esc)
                return ag_error_set(err, AG_ENOMEM, "out of memory");
            char *o = esc;
            for (const unsigned char *p = (const unsigned char *)cont; *p; p++) {
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                    *o++ = (char)*p;
                else
                    o += sprintf(o, "%%%02X", *p);
            }
            *o = '\0';
        }
        int bad = ag_strfmt(path, sizeof path, "%s?limit=%ld%s%s", base, chunk, esc ? "&continue=" : "",
                            esc ? esc : "");
        free(esc);
        if (bad)
            return ag_error_set(err, AG_EINVAL, "continue token too long");
        json_t *page = NULL;
        ag_kube_status st = {0};
        if (ag_kube_get(c->k, path, &page, &st, err))
            return err->code ? err->code : AG_ERR;
        json_t *item;
        size_t i;
        json_array_foreach(json_object_get(page, "items"), i, item) {
            if (!json_is_object(item))
                continue;
            json_object_set_new(item, "apiVersion", json_string(gv));
            json_object_set_new(item, "kind", json_string(kind));
            sink->object(sink->ctx, item);
        }
        const char *next = json_string_value(json_object_get(json_object_get(page, "metadata"), "continue"));
        int more = next && *next;
        if (more && ag_strfmt(cont, sizeof cont, "%s", next)) {
            json_decref(page);
            return ag_error_set(err, AG_EINVAL, "continue token too long");
        }
        json_decref(page);
        if (!more)
            return 0;
    }
}

/* One kind of the policies: every resource of the group serving it (every listable
 * resource of the group for "*"). */
static int audit_kind(cluster *c, const ag_kind_ref *kr, const char *ns, long chunk, const cli_sink *sink,
                      ag_error *err)
{
    char label[512];
    ag_strfmt(label, sizeof label, "%s%s%s", kr->group, *kr->group ? "/" : "", kr->kind);
    const char *version = preferred_version(c, kr->group);
    if (!version) {
        fprintf(stderr, "aimguard audit: %s: the cluster does not serve the API group %s; not audited\n", label,
                kr->group);
        return 0;
    }
    ag_error e = {0};
    json_t *list = resource_list(c, kr->group, version, &e);
    if (!list) {
        char what[600];
        ag_strfmt(what, sizeof what, "list %s", label);
        sink->error(sink->ctx, what, e.msg);
        return 0;
    }
    const char *gv = json_string_value(json_object_get(list, "groupVersion"));
    char gvbuf[512];
    if (!gv) {
        ag_strfmt(gvbuf, sizeof gvbuf, "%s%s%s", kr->group, *kr->group ? "/" : "", version);
        gv = gvbuf;
    }
    int found = 0;
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(list, "resources"), i, r) {
        const char *name = json_string_value(json_object_get(r, "name"));
        const char *kind = json_string_value(json_object_get(r, "kind"));
        if (!name || !kind || strchr(name, '/') || (strcmp(kr->kind, "*") && strcmp(kr->kind, kind)))
            continue; /* subresources (deployments/status) are not objects */
        found = 1;
        int namespaced = json_is_true(json_object_get(r, "namespaced"));
        if (!can_list(r) || (ns && !namespaced))
            continue;
        e = (ag_error){0};
        if (list_resource(c, gv, kind, name, namespaced, ns, chunk, sink, &e)) {
            if (e.code == AG_ENOMEM)
                return ag_error_set(err, AG_ENOMEM, "out of memory");
            char what[600];
            ag_strfmt(what, sizeof what, "list %s (%s)", label, name);
            sink->error(sink->ctx, what, e.msg);
        }
    }
    if (!found)
        fprintf(stderr, "aimguard audit: %s: the cluster does not serve this kind (%s has no such resource); not "
                "audited\n", label, gv);
    return 0;
}

static void put_namespace(void *ctx, json_t *obj)
{
    ag_error e = {0};
    if (cli_view_put(ctx, obj, &e))
        fprintf(stderr, "aimguard audit: Namespace: %s\n", e.msg);
}

static void namespace_error(void *ctx, const char *what, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "aimguard audit: notice: %s: %s: namespace labels are unknown (policies selecting "
            "namespaces by label apply as if they matched)\n", what, msg);
}

int cli_cluster_each(const char *kubeconfig, const ag_kind_ref *kinds, size_t nkinds, const char *ns,
                     long chunk, eval_view *view, const cli_sink *sink, ag_error *err)
{
    ag_kube_config cfg = {0};
    if (ag_kube_config_load(kubeconfig, &cfg, err)) {
        ag_error_prefix(err, "--kubeconfig %s", kubeconfig);
        return err->code;
    }
    cluster c = {0};
    c.server = cfg.server;
    int rc = 0;
    c.k = ag_kube_new(&cfg, CALL_TIMEOUT_MS, err);
    if (!c.k) {
        rc = err->code ? err->code : AG_ERR;
        goto out;
    }
    if (!(c.resources = json_object())) {
        rc = ag_error_set(err, AG_ENOMEM, "out of memory");
        goto out;
    }
    ag_kube_status st = {0};
    if ((rc = ag_kube_get(c.k, "/apis", &c.groups, &st, err))) {
        ag_error_prefix(err, "cannot use the cluster at %s (API discovery, GET /apis)", c.server ? c.server : "?");
        goto out;
    }
    if (view) {
        static const ag_kind_ref nsref = {"", "Namespace", 1};
        cli_sink nsink = {view, put_namespace, namespace_error};
        if ((rc = audit_kind(&c, &nsref, NULL, chunk, &nsink, err)))
            goto out;
    }
    for (size_t i = 0; !rc && i < nkinds; i++) {
        if (ns && !*kinds[i].group && !strcmp(kinds[i].kind, "Namespace"))
            continue;
        rc = audit_kind(&c, &kinds[i], ns, chunk, sink, err);
    }
out:
    json_decref(c.groups);
    json_decref(c.resources);
    ag_kube_free(c.k);
    ag_kube_config_clear(&cfg);
    return rc;
}
