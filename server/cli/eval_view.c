/* The cluster view `aimguard eval --cluster-objects` builds from files, so policies that
 * read the cluster (namespaceSelector, validate.rbac.clusterReferences) can be tested both
 * ways in CI without one. It serves exactly what the files hold: an object not in them is
 * unknown, just as the server's watch cache answers for an object it has not seen.
 * SubjectAccessReviews have no offline answer unless --assume-access gives one. */
#include "cli_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct eval_view {
    json_t *objects; /* "resource/namespace/name" -> object */
    int access;
    ag_view view;
};

/* The resource a kind is served under: its lower-case plural (Namespace -> namespaces,
 * AIMClusterModel -> aimclustermodels, NetworkPolicy -> networkpolicies). */
static void resource_of(const char *kind, char *out, size_t cap)
{
    size_t n = 0;
    for (; kind[n] && n + 4 < cap; n++)
        out[n] = (char)tolower((unsigned char)kind[n]);
    out[n] = '\0';
    if (n && out[n - 1] == 'y' && n > 1 && !strchr("aeiou", out[n - 2]))
        strcpy(out + n - 1, "ies");
    else if (n && (out[n - 1] == 's' || out[n - 1] == 'x'))
        strcpy(out + n, "es");
    else
        strcpy(out + n, "s");
}

static int key_of(char *buf, size_t cap, const char *resource, const char *ns, const char *name)
{
    return ag_strfmt(buf, cap, "%s/%s/%s", resource, ns ? ns : "", name);
}

static json_t *view_get(void *ctx, const char *resource, const char *ns, const char *name)
{
    eval_view *v = ctx;
    char k[1024];
    if (key_of(k, sizeof k, resource, ns, name))
        return NULL;
    return json_incref(json_object_get(v->objects, k));
}

static int view_access(void *ctx, const char *user, const json_t *groups, const char *verb, const char *group,
                       const char *resource, const char *ns, const char *name, char *reason, size_t cap)
{
    (void)user, (void)groups, (void)verb, (void)group, (void)resource, (void)ns, (void)name;
    eval_view *v = ctx;
    if (cap)
        snprintf(reason, cap, "aimguard eval --assume-access %s", v->access == AG_ACCESS_ALLOWED ? "allowed"
                                                                                                  : "denied");
    return v->access;
}

int cli_view_new(eval_view **out, int access, ag_error *err)
{
    eval_view *v = calloc(1, sizeof *v);
    if (!v || !(v->objects = json_object())) {
        free(v);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    v->access = access;
    v->view.ctx = v;
    v->view.get = view_get;
    if (access >= 0) {
        v->view.access_ctx = v;
        v->view.access = view_access;
    }
    *out = v;
    return 0;
}

int cli_view_add(eval_view *v, const char *path, ag_error *err)
{
    eval_items items = {0};
    int rc = cli_collect(path, &items, err);
    for (size_t i = 0; !rc && i < items.n; i++) {
        const eval_item *it = &items.v[i];
        char where[1200];
        cli_item_where(it, where, sizeof where);
        if (it->error) {
            rc = ag_error_set(err, AG_EINVAL, "--cluster-objects %s: %s", where, it->error);
            break;
        }
        if (cli_view_put(v, it->obj, err)) {
            ag_error_prefix(err, "--cluster-objects %s", where);
            rc = err->code;
        }
    }
    cli_items_free(&items);
    return rc;
}

int cli_view_put(eval_view *v, json_t *obj, ag_error *err)
{
    json_t *meta = json_object_get(obj, "metadata");
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!kind || !*kind || !name || !*name)
        return ag_error_set(err, AG_EINVAL, "an object needs kind and metadata.name");
    char res[256], k[1024];
    resource_of(kind, res, sizeof res);
    if (key_of(k, sizeof k, res, ns, name))
        return ag_error_set(err, AG_EINVAL, "name too long");
    if (json_object_set(v->objects, k, obj))
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    return 0;
}

const ag_view *cli_view_get(const eval_view *v)
{
    return &v->view;
}

void cli_view_free(eval_view *v)
{
    if (!v)
        return;
    json_decref(v->objects);
    free(v);
}
