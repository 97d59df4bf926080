/* What `aimguard eval` is given, object by object: stdin, files, directory trees,
 * multi-document YAML and Lists. A CI gate must never judge a wrapper instead of what
 * it wraps (a List of Deployments is not itself matched by any policy), so every List
 * is opened and every document read; what cannot be read is reported where it is. */
#include "cli_int.h"

#include "aimguard/yaml.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* kubectl nests Lists rarely; a hostile file could nest them deeply */
#define MAX_LIST_DEPTH 8
#define MAX_DIR_DEPTH 32

static int push(eval_items *out, const char *file, size_t doc, const char *item, json_t *obj,
                const char *error)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        eval_item *nv = realloc(out->v, cap * sizeof *nv);
        if (!nv) {
            json_decref(obj);
            return AG_ENOMEM;
        }
        out->v = nv;
        out->cap = cap;
    }
    eval_item *it = &out->v[out->n];
    it->file = strdup(file);
    it->doc = doc;
    it->item = item ? strdup(item) : NULL;
    it->obj = obj;
    it->error = error ? strdup(error) : NULL;
    if (!it->file || (item && !it->item) || (error && !it->error)) {
        free(it->file);
        free(it->item);
        free(it->error);
        json_decref(obj);
        return AG_ENOMEM;
    }
    out->n++;
    return 0;
}

void cli_items_free(eval_items *items)
{
    if (!items)
        return;
    for (size_t i = 0; i < items->n; i++) {
        free(items->v[i].file);
        free(items->v[i].item);
        free(items->v[i].error);
        json_decref(items->v[i].obj);
    }
    free(items->v);
    memset(items, 0, sizeof *items);
}

void cli_item_where(const eval_item *it, char *buf, size_t cap)
{
    if (!it->doc)
        ag_strfmt(buf, cap, "%s%s%s", it->file, it->item ? " " : "", it->item ? it->item : "");
    else
        ag_strfmt(buf, cap, "%s#%zu%s%s", it->file, it->doc, it->item ? " " : "", it->item ? it->item : "");
}

static int is_list(const json_t *obj)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    size_t n = kind ? strlen(kind) : 0;
    return n >= 4 && !strcmp(kind + n - 4, "List") && json_is_array(json_object_get(obj, "items"));
}

/* Adds obj, or each item of a List. Items of a typed list (DeploymentList) come from the
 * API server without apiVersion and kind: they are the list's, less "List". */
static int add_object(eval_items *out, const char *file, size_t doc, const char *prefix, json_t *obj,
                      int depth)
{
    if (!is_list(obj))
        return push(out, file, doc, *prefix ? prefix : NULL, obj, NULL);
    if (depth >= MAX_LIST_DEPTH) {
        json_decref(obj);
        return push(out, file, doc, *prefix ? prefix : NULL, NULL, "Lists nested too deeply");
    }
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *api = json_string_value(json_object_get(obj, "apiVersion"));
    char item_kind[256] = "";
    if (strcmp(kind, "List"))
        ag_strfmt(item_kind, sizeof item_kind, "%.*s", (int)(strlen(kind) - 4), kind);
    json_t *items = json_object_get(obj, "items");
    int rc = 0;
    for (size_t i = 0; !rc && i < json_array_size(items); i++) {
        char where[512];
        ag_strfmt(where, sizeof where, "%s%sitems[%zu]", prefix, *prefix ? "." : "", i);
        json_t *o = json_array_get(items, i);
        if (!json_is_object(o)) {
            rc = push(out, file, doc, where, NULL, "a List item is not an object");
            continue;
        }
        json_incref(o);
        if (*item_kind && !json_object_get(o, "kind")) {
            /* copy: the item is shared with the list */
            json_t *c = json_copy(o);
            json_decref(o);
            if (!c || json_object_set_new(c, "kind", json_string(item_kind)) ||
                (api && !json_object_get(c, "apiVersion") &&
                 json_object_set_new(c, "apiVersion", json_string(api)))) {
                json_decref(c);
                rc = AG_ENOMEM;
                break;
            }
            o = c;
        }
        rc = add_object(out, file, doc, where, o, depth + 1);
    }
    json_decref(obj);
    return rc;
}

static int add_docs(eval_items *out, const char *name, const ag_ydocs *docs)
{
    for (size_t i = 0; i < docs->count; i++) {
        const ag_ynode *d = docs->docs[i];
        if (d->type == AG_YNODE_SCALAR && d->len == 0 && !d->quoted)
            continue; /* an empty document: a leading or trailing --- */
        char msg[AG_ERROR_MSG_MAX + 64];
        if (d->type != AG_YNODE_MAP) {
            ag_strfmt(msg, sizeof msg, "%s:%u:%u: expected a mapping (a Kubernetes object)", name, d->line,
                      d->column);
            if (push(out, name, i + 1, NULL, NULL, msg))
                return AG_ENOMEM;
            continue;
        }
        json_t *obj = NULL;
        ag_error e = {0};
        if (ag_ynode_to_json(d, name, &obj, &e)) {
            if (e.code == AG_ENOMEM || push(out, name, i + 1, NULL, NULL, e.msg))
                return AG_ENOMEM;
            continue;
        }
        if (add_object(out, name, i + 1, "", obj, 0))
            return AG_ENOMEM;
    }
    return 0;
}

static int read_all(FILE *f, char **buf, size_t *len)
{
    size_t cap = 65536, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return AG_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (!b)
        return AG_ENOMEM;
    if (ferror(f)) {
        free(b);
        return AG_EIO;
    }
    *buf = b;
    *len = n;
    return 0;
}

static int add_file(eval_items *out, const char *path)
{
    int is_stdin = !strcmp(path, "-");
    const char *name = is_stdin ? "<stdin>" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        char msg[4200];
        ag_strfmt(msg, sizeof msg, "cannot open: %s", strerror(errno));
        return push(out, name, 0, NULL, NULL, msg);
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(f, &buf, &len);
    if (!is_stdin)
        fclose(f);
    if (rc == AG_ENOMEM)
        return rc;
    if (rc)
        return push(out, name, 0, NULL, NULL, "read error");
    ag_ydocs *docs = NULL;
    ag_error e = {0};
    rc = ag_yaml_parse(buf, len, name, &docs, &e);
    free(buf);
    if (rc)
        return e.code == AG_ENOMEM ? AG_ENOMEM : push(out, name, 0, NULL, NULL, e.msg);
    rc = add_docs(out, name, docs);
    ag_ydocs_free(docs);
    return rc;
}

static int manifest_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")) ||
           (l > 5 && !strcmp(n + l - 5, ".json"));
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int add_dir(eval_items *out, const char *dir, int depth)
{
    if (depth > MAX_DIR_DEPTH)
        return push(out, dir, 0, NULL, NULL, "directories nested too deeply (a symlink loop?)");
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) {
        char msg[300];
        ag_strfmt(msg, sizeof msg, "cannot read directory: %s", strerror(errno));
        return push(out, dir, 0, NULL, NULL, msg);
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        if (!rc && nm[0] != '.') {
            size_t need = strlen(dir) + strlen(nm) + 2;
            char *p = malloc(need);
            struct stat st;
            if (!p) {
                rc = AG_ENOMEM;
            } else {
                snprintf(p, need, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", nm);
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
                    rc = add_dir(out, p, depth + 1);
                else if (manifest_name(nm))
                    rc = add_file(out, p);
                free(p);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int cli_items_add(eval_items *out, const char *where, json_t *obj)
{
    return add_object(out, where, 0, "", obj, 0);
}

int cli_collect(const char *path, eval_items *out, ag_error *err)
{
    struct stat st;
    int rc;
    if (strcmp(path, "-") && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = add_dir(out, path, 0);
    else
        rc = add_file(out, path);
    if (rc)
        return ag_error_set(err, rc, "out of memory reading %s", path);
    return 0;
}

ag_policy_set *cli_load_policies(const char *cmd, const char *path)
{
    ag_error err = {0};
    ag_diags d = {0};
    ag_policy_set *set = NULL;
    ag_load_options lo = {1, -1};
    if (ag_policy_load(path, &lo, &set, &d, &err)) {
        for (size_t i = 0; i < d.count; i++)
            fprintf(stderr, "%s\n", d.items[i]);
        fprintf(stderr, "aimguard %s: %s\n", cmd, err.msg);
        set = NULL;
    }
    ag_diags_clear(&d);
    return set;
}
