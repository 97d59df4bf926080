/* Policy YAML -> compiled policy. Every error names file:line:column; unknown fields
 * are errors (a typo such as runAsNonroot must never be silently ignored). */
#include "policy_int.h"

#include "aimguard/imageref.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cctx_err(cctx *c, const ag_ynode *n, const char *fmt, ...)
{
    char msg[768], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s:%u:%u: %s", c->file, n ? n->line : 1, n ? n->column : 1, msg);
    c->errors++;
    char **ni = realloc(c->diags->items, (c->diags->count + 1) * sizeof *ni);
    if (!ni)
        return;
    c->diags->items = ni;
    if ((ni[c->diags->count] = strdup(line)))
        c->diags->count++;
}

/* Levenshtein distance, for "did you mean" on unknown fields. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + cost;
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
    return d[la][lb];
}

/* Reports unknown keys and duplicate keys of a map; 0 when the node is a map. */
static int check_map(cctx *c, const ag_ynode *n, const char *where, const char *const *allowed)
{
    if (!n || n->type != AG_YNODE_MAP) {
        cctx_err(c, n, "%s must be a mapping", where);
        return -1;
    }
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const ag_ynode *k = n->items[i];
        if (k->type != AG_YNODE_SCALAR) {
            cctx_err(c, k, "%s: keys must be strings", where);
            continue;
        }
        for (size_t j = 0; j < i; j += 2)
            if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
                cctx_err(c, k, "%s: duplicate field '%s'", where, k->value);
        if (!allowed)
            continue;
        const char *best = NULL;
        size_t bestd = 99;
        int ok = 0;
        for (const char *const *a = allowed; *a; a++) {
            if (!strcmp(*a, k->value)) {
                ok = 1;
                break;
            }
            size_t dd = distance(*a, k->value);
            if (dd < bestd)
                bestd = dd, best = *a;
        }
        if (!ok) {
            if (best && bestd <= 3)
                cctx_err(c, k, "unknown field '%s' in %s (did you mean '%s'?)", k->value, where, best);
            else
                cctx_err(c, k, "unknown field '%s' in %s", k->value, where);
        }
    }
    return 0;
}

static const char *scalar(cctx *c, const ag_ynode *n, const char *where)
{
    if (!n || n->type != AG_YNODE_SCALAR) {
        cctx_err(c, n, "%s must be a string", where);
        return NULL;
    }
    return n->value;
}

static int get_bool(cctx *c, const ag_ynode *n, const char *where, int *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted) {
        if (!strcmp(n->value, "true")) { *out = 1; return 0; }
        if (!strcmp(n->value, "false")) { *out = 0; return 0; }
    }
    cctx_err(c, n, "%s must be true or false", where);
    return -1;
}

static int get_int(cctx *c, const ag_ynode *n, const char *where, long long lo, long long hi,
                   long long *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted && n->value[0]) {
        char *end;
        long long v = strtoll(n->value, &end, 10);
        if (*end == '\0' && v >= lo && v <= hi) {
            *out = v;
            return 0;
        }
    }
    cctx_err(c, n, "%s must be an integer between %lld and %lld", where, lo, hi);
    return -1;
}

static int get_number(cctx *c, const ag_ynode *n, const char *where, double *out)
{
    if (n && n->type == AG_YNODE_SCALAR && !n->quoted && n->value[0]) {
        char *end;
        double v = strtod(n->value, &end);
        if (*end == '\0') {
            *out = v;
            return 0;
        }
    }
    cctx_err(c, n, "%s must be a number", where);
    return -1;
}

static char *xstrdup(cctx *c, const ag_ynode *n, const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        cctx_err(c, n, "out of memory");
    return d;
}

void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void kvlist_free(kvlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->k[i]);
        free(l->v[i]);
    }
    free(l->k);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int strlist_add(strlist *l, const char *s)
{
    char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    l->v = nv;
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static int get_strlist(cctx *c, const ag_ynode *n, const char *where, strlist *out)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of strings", where);
        return -1;
    }
    for (size_t i = 0; i < n->count; i++) {
        const char *s = scalar(c, n->items[i], where);
        if (s && strlist_add(out, s))
            cctx_err(c, n, "out of memory");
    }
    return 0;
}

static int get_kv(cctx *c, const ag_ynode *n, const char *where, kvlist *out)
{
    if (check_map(c, n, where, NULL))
        return -1;
    for (size_t i = 0; i + 1 < n->count; i += 2) {
        const char *k = scalar(c, n->items[i], where), *v = scalar(c, n->items[i + 1], where);
        if (!k || !v)
            continue;
        char **nk = realloc(out->k, (out->n + 1) * sizeof *nk);
        if (nk) out->k = nk;
        char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
        if (nv) out->v = nv;
        if (!nk || !nv) {
            cctx_err(c, n, "out of memory");
            return -1;
        }
        out->k[out->n] = strdup(k);
        out->v[out->n] = strdup(v);
        out->n++;
    }
    return 0;
}

/* 1 when the key at items[i] already appeared earlier in the map (check_map reported
 * it; the later copy is not compiled, so nothing is built twice). */
static int dup_key(const ag_ynode *n, size_t i)
{
    const ag_ynode *k = n->items[i];
    for (size_t j = 0; k->type == AG_YNODE_SCALAR && j < i; j += 2)
        if (n->items[j]->type == AG_YNODE_SCALAR && !strcmp(n->items[j]->value, k->value))
            return 1;
    return k->type != AG_YNODE_SCALAR;
}

#define KEY_EACH(n, k, v) \
    for (size_t i_ = 0; (n) && (n)->type == AG_YNODE_MAP && i_ + 1 < (n)->count; i_ += 2) \
        if (!dup_key((n), i_)) \
            for (const ag_ynode *k = (n)->items[i_], *v = (n)->items[i_ + 1]; k; k = NULL)

static const char *const operations[] = {"CREATE", "UPDATE", "DELETE", "CONNECT", "*", NULL};

static void compile_selector(cctx *c, const ag_ynode *n, const char *where, selector *s, int is_match)
{
    static const char *const keys[] = {"kinds", "operations", "namespaces", "names",
                                       "namespaceSelector", "objectSelector", "users", "groups",
                                       "serviceAccounts", NULL};
    static const char *const label_keys[] = {"matchLabels", NULL};
    if (check_map(c, n, where, keys))
        return;
    s->present = 1;
    char w[128];
    KEY_EACH(n, k, v) {
        snprintf(w, sizeof w, "%s.%s", where, k->value);
        if (!strcmp(k->value, "kinds")) get_strlist(c, v, w, &s->kinds);
        else if (!strcmp(k->value, "operations")) {
            get_strlist(c, v, w, &s->operations);
            for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++) {
                int ok = 0;
                for (const char *const *o = operations; *o; o++)
                    ok |= v->items[i]->value && !strcmp(*o, v->items[i]->value);
                if (!ok)
                    cctx_err(c, v->items[i], "%s: unknown operation '%s' (CREATE, UPDATE, DELETE, "
                             "CONNECT or *)", w, v->items[i]->value ? v->items[i]->value : "");
            }
        }
        else if (!strcmp(k->value, "namespaces")) get_strlist(c, v, w, &s->namespaces);
        else if (!strcmp(k->value, "names")) get_strlist(c, v, w, &s->names);
        else if (!strcmp(k->value, "users")) get_strlist(c, v, w, &s->users);
        else if (!strcmp(k->value, "groups")) get_strlist(c, v, w, &s->groups);
        else if (!strcmp(k->value, "serviceAccounts")) {
            get_strlist(c, v, w, &s->service_accounts);
            for (size_t i = 0; i < s->service_accounts.n; i++)
                if (!strchr(s->service_accounts.v[i], '/'))
                    cctx_err(c, v, "%s: '%s' must be NAMESPACE/NAME (globs allowed)", w,
                             s->service_accounts.v[i]);
        } else if (!strcmp(k->value, "namespaceSelector") || !strcmp(k->value, "objectSelector")) {
            if (check_map(c, v, w, label_keys))
                continue;
            const ag_ynode *ml = ag_ynode_get(v, "matchLabels");
            char w2[160];
            snprintf(w2, sizeof w2, "%s.matchLabels", w);
            if (ml)
                get_kv(c, ml, w2, !strcmp(k->value, "namespaceSelector") ? &s->ns_labels : &s->obj_labels);
        }
    }
    if (is_match && s->kinds.n == 0)
        cctx_err(c, n, "%s.kinds is required (use [\"*\"] for every kind)", where);
}

static int parse_action(cctx *c, const ag_ynode *n, const char *where)
{
    const char *s = scalar(c, n, where);
    if (!s)
        return -1;
    if (!strcmp(s, "enforce")) return AG_ACTION_ENFORCE;
    if (!strcmp(s, "warn")) return AG_ACTION_WARN;
    if (!strcmp(s, "audit")) return AG_ACTION_AUDIT;
    cctx_err(c, n, "%s must be enforce, warn or audit", where);
    return -1;
}

/* A volume name for a writable directory: DNS-1123 label from the path. */
static char *dir_volume_name(const char *path)
{
    char buf[64] = "aimguard-writable";
    size_t o = strlen(buf);
    int dash = 0;
    for (const char *p = path; *p && o < 62; p++) {
        char ch = (char)tolower((unsigned char)*p);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            if (dash || o == strlen("aimguard-writable"))
                buf[o++] = '-';
            dash = 0;
            if (o < 62)
                buf[o++] = ch;
        } else {
            dash = 1;
        }
    }
    buf[o] = '\0';
    return strdup(buf);
}

static void compile_dirs(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {"path", "medium", "sizeLimit", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "spec.mutate.securityContext.writableDirs must be a list");
        return;
    }
    h->dirs = calloc(n->count ? n->count : 1, sizeof *h->dirs);
    if (!h->dirs)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        writable_dir *d = &h->dirs[h->ndirs];
        const char *path = NULL;
        if (e->type == AG_YNODE_SCALAR) {
            path = e->value;
        } else if (!check_map(c, e, "writableDirs entry", keys)) {
            path = scalar(c, ag_ynode_get(e, "path"), "writableDirs[].path");
            const ag_ynode *m = ag_ynode_get(e, "medium");
            if (m) {
                const char *ms = scalar(c, m, "writableDirs[].medium");
                if (ms && strcmp(ms, "Memory") && strcmp(ms, ""))
                    cctx_err(c, m, "writableDirs[].medium must be \"\" (node disk) or Memory");
                else if (ms)
                    d->medium = strdup(ms);
            }
            const ag_ynode *sl = ag_ynode_get(e, "sizeLimit");
            if (sl) {
                const char *ss = scalar(c, sl, "writableDirs[].sizeLimit");
                if (ss)
                    d->size_limit = strdup(ss);
            }
        }
        if (!path)
            continue;
        if (path[0] != '/' || strstr(path, "..") || strlen(path) > 200) {
            cctx_err(c, e, "writableDirs: '%s' must be an absolute path without '..'", path);
            continue;
        }
        for (size_t j = 0; j < h->ndirs; j++)
            if (!strcmp(h->dirs[j].path, path))
                cctx_err(c, e, "writableDirs: '%s' is listed twice", path);
        d->path = strdup(path);
        d->volume = dir_volume_name(path);
        h->ndirs++;
    }
}

static void compile_harden(cctx *c, const ag_ynode *n, harden *h)
{
    static const char *const keys[] = {
        "runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile",
        "allowPrivilegeEscalation", "dropCapabilities", "readOnlyRootFilesystem", "writableDirs",
        "automountServiceAccountToken", NULL};
    const char *w = "spec.mutate.securityContext";
    h->run_as_non_root = h->allow_priv_esc = h->read_only_root = h->automount_token = -1;
    if (check_map(c, n, w, keys))
        return;
    h->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "runAsNonRoot")) get_bool(c, v, "runAsNonRoot", &h->run_as_non_root);
        else if (!strcmp(f, "allowPrivilegeEscalation")) get_bool(c, v, f, &h->allow_priv_esc);
        else if (!strcmp(f, "readOnlyRootFilesystem")) get_bool(c, v, f, &h->read_only_root);
        else if (!strcmp(f, "automountServiceAccountToken")) get_bool(c, v, f, &h->automount_token);
        else if (!strcmp(f, "runAsUser")) h->has_uid = !get_int(c, v, f, 0, 2147483647, &h->uid);
        else if (!strcmp(f, "runAsGroup")) h->has_gid = !get_int(c, v, f, 0, 2147483647, &h->gid);
        else if (!strcmp(f, "fsGroup")) h->has_fsgroup = !get_int(c, v, f, 0, 2147483647, &h->fsgroup);
        else if (!strcmp(f, "seccompProfile")) {
            const char *s = scalar(c, v, f);
            if (s && strcmp(s, "RuntimeDefault"))
                cctx_err(c, v, "seccompProfile must be RuntimeDefault (Localhost profiles are set "
                               "per workload, Unconfined is never a default)");
            else if (s)
                h->seccomp = strdup(s);
        } else if (!strcmp(f, "dropCapabilities")) {
            get_strlist(c, v, f, &h->drop_caps);
            for (size_t i = 0; i < h->drop_caps.n; i++)
                for (char *p = h->drop_caps.v[i]; *p; p++)
                    if (!(isupper((unsigned char)*p) || *p == '_' || isdigit((unsigned char)*p)))
                        cctx_err(c, v, "dropCapabilities: '%s' is not a capability name "
                                       "(upper case, e.g. ALL or NET_RAW)", h->drop_caps.v[i]);
        } else if (!strcmp(f, "writableDirs")) compile_dirs(c, v, h);
    }
    if (h->ndirs && h->read_only_root != 1)
        cctx_err(c, n, "writableDirs only makes sense with readOnlyRootFilesystem: true");
}

static json_t *to_json_checked(cctx *c, const ag_ynode *n)
{
    json_t *j = NULL;
    ag_error err = {0};
    if (ag_ynode_to_json(n, c->file, &j, &err)) {
        c->errors++;
        char **ni = realloc(c->diags->items, (c->diags->count + 1) * sizeof *ni);
        if (ni) {
            c->diags->items = ni;
            if ((ni[c->diags->count] = strdup(err.msg)))
                c->diags->count++;
        }
    }
    return j;
}

static json_t *compile_exprs(cctx *c, const ag_ynode *n, const char *where)
{
    static const char *const keys[] = {"key", "operator", "values", NULL};
    static const char *const ops[] = {"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", NULL};
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of {key, operator, values}", where);
        return NULL;
    }
    for (size_t i = 0; i < n->count; i++) {
        const ag_ynode *e = n->items[i];
        if (check_map(c, e, where, keys))
            continue;
        if (!scalar(c, ag_ynode_get(e, "key"), "key"))
            continue;
        const char *op = scalar(c, ag_ynode_get(e, "operator"), "operator");
        int ok = 0;
        for (const char *const *o = ops; op && *o; o++)
            ok |= !strcmp(*o, op);
        if (op && !ok)
            cctx_err(c, ag_ynode_get(e, "operator"), "%s: unknown operator '%s'", where, op);
        const ag_ynode *vals = ag_ynode_get(e, "values");
        int needs = op && (!strcmp(op, "In") || !strcmp(op, "NotIn") || !strcmp(op, "Gt") || !strcmp(op, "Lt"));
        if (needs && (!vals || vals->type != AG_YNODE_SEQ || vals->count == 0))
            cctx_err(c, e, "%s: operator %s needs a non-empty values list", where, op);
        if (!needs && vals)
            cctx_err(c, vals, "%s: operator %s takes no values", where, op);
        if (vals) {
            strlist tmp = {0};
            get_strlist(c, vals, "values", &tmp);
            strlist_free(&tmp);
        }
    }
    return to_json_checked(c, n);
}

static void compile_gpu(cctx *c, const ag_ynode *n, gpu_cfg *g)
{
    static const char *const keys[] = {"resources", "nodeSelector", "nodeAffinity", "tolerations",
                                       "nonGpuPods", NULL};
    static const char *const tkeys[] = {"key", "operator", "value", "effect", "tolerationSeconds", NULL};
    static const char *const nkeys[] = {"nodeAffinity", NULL};
    if (check_map(c, n, "spec.mutate.gpu", keys))
        return;
    g->present = 1;
    KEY_EACH(n, k, v) {
        const char *f = k->value;
        if (!strcmp(f, "resources")) get_strlist(c, v, "gpu.resources", &g->resources);
        else if (!strcmp(f, "nodeSelector")) get_kv(c, v, "gpu.nodeSelector", &g->node_selector);
        else if (!strcmp(f, "nodeAffinity")) g->match_expressions = compile_exprs(c, v, "gpu.nodeAffinity");
        else if (!strcmp(f, "nonGpuPods")) {
            if (!check_map(c, v, "gpu.nonGpuPods", nkeys) && ag_ynode_get(v, "nodeAffinity"))
                g->non_gpu_expressions = compile_exprs(c, ag_ynode_get(v, "nodeAffinity"),
                                                       "gpu.nonGpuPods.nodeAffinity");
        } else if (!strcmp(f, "tolerations")) {
            if (!v || v->type != AG_YNODE_SEQ) {
                cctx_err(c, v, "gpu.tolerations must be a list");
                continue;
            }
            for (size_t i = 0; i < v->count; i++) {
                if (check_map(c, v->items[i], "gpu.tolerations[]", tkeys))
                    continue;
                const ag_ynode *op = ag_ynode_get(v->items[i], "operator");
                const char *ops = op ? scalar(c, op, "operator") : "Equal";
                if (ops && strcmp(ops, "Equal") && strcmp(ops, "Exists"))
                    cctx_err(c, op, "gpu.tolerations[].operator must be Equal or Exists");
                const ag_ynode *ef = ag_ynode_get(v->items[i], "effect");
                const char *efs = ef ? scalar(c, ef, "effect") : NULL;
                if (efs && strcmp(efs, "NoSchedule") && strcmp(efs, "PreferNoSchedule") &&
                    strcmp(efs, "NoExecute") && strcmp(efs, ""))
                    cctx_err(c, ef, "gpu.tolerations[].effect must be NoSchedule, "
                                    "PreferNoSchedule or NoExecute");
            }
            g->tolerations = to_json_checked(c, v);
        }
    }
    if (g->resources.n == 0 && strlist_add(&g->resources, "amd.com/gpu"))
        cctx_err(c, n, "out of memory");
}

/* "spec.containers[*].ports[*].hostPort", "podSpec.allContainers[*].image",
 * "metadata.labels['app.kubernetes.io/name']" */
static int compile_path(cctx *c, const ag_ynode *n, generic_rule *r)
{
    const char *p = r->path_text;
    size_t cap = 16;
    r->segs = calloc(cap, sizeof *r->segs);
    if (!r->segs)
        return -1;
    int first = 1;
    while (*p) {
        if (r->nsegs + 1 >= cap) {
            cctx_err(c, n, "path '%s' has too many segments (max 15)", r->path_text);
            return -1;
        }
        path_seg *s = &r->segs[r->nsegs];
        if (*p == '[') {
            p++;
            if (*p == '*' && p[1] == ']') {
                s->type = SEG_ANY;
                p += 2;
            } else if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *e = strchr(p, q);
                if (!e || e[1] != ']') {
                    cctx_err(c, n, "path '%s': unterminated quoted key", r->path_text);
                    return -1;
                }
                s->type = SEG_KEY;
                s->key = strndup(p, (size_t)(e - p));
                p = e + 2;
            } else if (isdigit((unsigned char)*p)) {
                char *end;
                s->type = SEG_INDEX;
                s->index = strtoul(p, &end, 10);
                if (*end != ']') {
                    cctx_err(c, n, "path '%s': bad index", r->path_text);
                    return -1;
                }
                p = end + 1;
            } else {
                cctx_err(c, n, "path '%s': expected [*], [N] or ['key']", r->path_text);
                return -1;
            }
        } else {
            if (*p == '.') {
                if (first) {
                    cctx_err(c, n, "path '%s' must not start with '.'", r->path_text);
                    return -1;
                }
                p++;
            }
            size_t len = strcspn(p, ".[");
            if (len == 0) {
                cctx_err(c, n, "path '%s' has an empty segment", r->path_text);
                return -1;
            }
            s->type = SEG_KEY;
            s->key = strndup(p, len);
            if (first && !strcmp(s->key, "podSpec"))
                s->type = SEG_PODSPEC;
            else if (r->nsegs == 1 && r->segs[0].type == SEG_PODSPEC && !strcmp(s->key, "allContainers"))
                s->type = SEG_ALLCONTAINERS;
            p += len;
        }
        first = 0;
        r->nsegs++;
    }
    if (r->nsegs == 0) {
        cctx_err(c, n, "path must not be empty");
        return -1;
    }
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].type == SEG_ALLCONTAINERS && (i + 1 >= r->nsegs || r->segs[i + 1].type != SEG_ANY)) {
            cctx_err(c, n, "path '%s': allContainers must be followed by [*]", r->path_text);
            return -1;
        }
    return 0;
}

static void compile_rule(cctx *c, const ag_ynode *n, policy *p, generic_rule *r)
{
    static const char *const keys[] = {"name", "action", "path", "absent", "equals", "oneOf",
                                       "matches", "notMatches", "range", "required", "message", NULL};
    r->action = -1;
    if (check_map(c, n, "spec.validate.rules[]", keys))
        return;
    const ag_ynode *nm = ag_ynode_get(n, "name"), *pa = ag_ynode_get(n, "path");
    if (!nm) cctx_err(c, n, "rule: name is required");
    else if (scalar(c, nm, "rule name")) r->name = strdup(nm->value);
    if (!pa) cctx_err(c, n, "rule %s: path is required", r->name ? r->name : "");
    else if (scalar(c, pa, "path")) {
        r->path_text = strdup(pa->value);
        compile_path(c, pa, r);
    }
    for (size_t i = 0; r->name && i < p->nrules; i++)
        if (p->rules[i].name && !strcmp(p->rules[i].name, r->name))
            cctx_err(c, nm, "rule name '%s' is used twice in policy %s", r->name, p->name);
    const ag_ynode *a = ag_ynode_get(n, "action");
    if (a) r->action = parse_action(c, a, "rule action");
    const ag_ynode *req = ag_ynode_get(n, "required");
    if (req) get_bool(c, req, "required", &r->required);
    const ag_ynode *msg = ag_ynode_get(n, "message");
    if (msg && scalar(c, msg, "message")) r->message = strdup(msg->value);

    int nconds = 0;
    const ag_ynode *cn;
    if ((cn = ag_ynode_get(n, "absent"))) {
        int b = 0;
        if (!get_bool(c, cn, "absent", &b) && !b)
            cctx_err(c, cn, "absent: false says nothing; use required: true");
        r->cond = COND_ABSENT, nconds++;
    }
    if ((cn = ag_ynode_get(n, "equals"))) {
        r->cond = COND_EQUALS, nconds++;
        json_decref(r->value);
        r->value = to_json_checked(c, cn);
    }
    if ((cn = ag_ynode_get(n, "oneOf"))) {
        r->cond = COND_ONEOF, nconds++;
        if (cn->type != AG_YNODE_SEQ || cn->count == 0)
            cctx_err(c, cn, "oneOf must be a non-empty list");
        else {
            json_decref(r->value);
            r->value = to_json_checked(c, cn);
        }
    }
    const ag_ynode *mt = ag_ynode_get(n, "matches"), *nmt = ag_ynode_get(n, "notMatches");
    if (mt || nmt) {
        const ag_ynode *pn = mt ? mt : nmt;
        r->cond = mt ? COND_MATCHES : COND_NOTMATCHES;
        nconds += (mt != NULL) + (nmt != NULL);
        const char *pat = scalar(c, pn, "pattern");
        if (pat) {
            int ec;
            PCRE2_SIZE off;
            r->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
            if (!r->re) {
                PCRE2_UCHAR buf[256];
                pcre2_get_error_message(ec, buf, sizeof buf);
                cctx_err(c, pn, "pattern '%s': %s at offset %zu", pat, (char *)buf, (size_t)off);
            } else {
                pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
                r->pattern = strdup(pat);
            }
        }
    }
    if ((cn = ag_ynode_get(n, "range"))) {
        static const char *const rkeys[] = {"min", "max", NULL};
        r->cond = COND_RANGE, nconds++;
        if (!check_map(c, cn, "range", rkeys)) {
            const ag_ynode *mn = ag_ynode_get(cn, "min"), *mx = ag_ynode_get(cn, "max");
            if (mn) r->has_min = !get_number(c, mn, "range.min", &r->min);
            if (mx) r->has_max = !get_number(c, mx, "range.max", &r->max);
            if (!mn && !mx) cctx_err(c, cn, "range needs min, max or both");
            if (r->has_min && r->has_max && r->min > r->max) cctx_err(c, cn, "range: min > max");
        }
    }
    if (nconds != 1 && !(nconds == 0 && r->required))
        cctx_err(c, n, "rule %s: exactly one condition is needed (absent, equals, oneOf, "
                       "matches, notMatches or range)", r->name ? r->name : "");
}

static void compile_allow(cctx *c, const ag_ynode *n, const char *where, image_allow *a)
{
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allow"))) {
        get_strlist(c, v, "images.allow", &a->prefixes);
        ag_imageref probe;
        ag_error err = {0};
        ag_imageref_parse("docker.io/library/probe", &probe, &err);
        for (size_t i = 0; v->type == AG_YNODE_SEQ && i < v->count; i++)
            if (v->items[i]->type == AG_YNODE_SCALAR && ag_imageref_under(&probe, v->items[i]->value) < 0)
                cctx_err(c, v->items[i], "%s.allow: '%s' is not a registry[/repository path] prefix "
                         "(e.g. docker.io/amdenterpriseai/)", where, v->items[i]->value);
        ag_imageref_clear(&probe);
    }
    if ((v = ag_ynode_get(n, "allowPatterns"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "%s.allowPatterns must be a list of patterns", where);
            return;
        }
        a->patterns = calloc(v->count ? v->count : 1, sizeof *a->patterns);
        a->pattern_text = calloc(v->count ? v->count : 1, sizeof *a->pattern_text);
        if (!a->patterns || !a->pattern_text)
            return;
        for (size_t i = 0; i < v->count; i++) {
            const char *pat = scalar(c, v->items[i], "allowPatterns[]");
            if (!pat)
                continue;
            int ec;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
            if (!re) {
                PCRE2_UCHAR buf[256];
                pcre2_get_error_message(ec, buf, sizeof buf);
                cctx_err(c, v->items[i], "pattern '%s': %s at offset %zu", pat, (char *)buf, (size_t)off);
                continue;
            }
            if (pat[0] != '^')
                cctx_err(c, v->items[i], "%s.allowPatterns: '%s' must be anchored with '^' (an "
                         "unanchored pattern lets evil.io/registry.example.com/... through)", where, pat);
            pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
            a->patterns[a->npatterns] = re;
            a->pattern_text[a->npatterns++] = strdup(pat);
        }
    }
}

static void compile_images(cctx *c, const ag_ynode *n, images_cfg *im)
{
    static const char *const keys[] = {"allow", "allowPatterns", "requireDigest", "forbidLatest",
                                       "forbidTagless", "namespaces", NULL};
    static const char *const nkeys[] = {"namespaces", "allow", "allowPatterns", NULL};
    if (check_map(c, n, "spec.validate.images", keys))
        return;
    im->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "requireDigest"))) get_bool(c, v, "requireDigest", &im->require_digest);
    if ((v = ag_ynode_get(n, "forbidLatest"))) get_bool(c, v, "forbidLatest", &im->forbid_latest);
    if ((v = ag_ynode_get(n, "forbidTagless"))) get_bool(c, v, "forbidTagless", &im->forbid_tagless);
    compile_allow(c, n, "images", &im->global);
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "images.namespaces must be a list of {namespaces, allow, allowPatterns}");
            return;
        }
        im->per_ns = calloc(v->count ? v->count : 1, sizeof *im->per_ns);
        for (size_t i = 0; im->per_ns && i < v->count; i++) {
            if (check_map(c, v->items[i], "images.namespaces[]", nkeys))
                continue;
            image_allow *a = &im->per_ns[im->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces");
            if (!ns)
                cctx_err(c, v->items[i], "images.namespaces[] needs namespaces");
            else
                get_strlist(c, ns, "images.namespaces[].namespaces", &a->namespaces);
            compile_allow(c, v->items[i], "images.namespaces[]", a);
        }
    }
    if (!im->global.prefixes.n && !im->global.npatterns && !im->nper_ns && !im->require_digest &&
        !im->forbid_latest && !im->forbid_tagless)
        cctx_err(c, n, "spec.validate.images says nothing: give allow, allowPatterns, "
                       "requireDigest, forbidLatest or forbidTagless");
}

void compile_regex_list(cctx *c, const ag_ynode *n, const char *where, regex_list *l)
{
    if (!n || n->type != AG_YNODE_SEQ) {
        cctx_err(c, n, "%s must be a list of patterns", where);
        return;
    }
    l->re = calloc(n->count ? n->count : 1, sizeof *l->re);
    l->text = calloc(n->count ? n->count : 1, sizeof *l->text);
    if (!l->re || !l->text)
        return;
    for (size_t i = 0; i < n->count; i++) {
        const char *pat = scalar(c, n->items[i], where);
        if (!pat)
            continue;
        int ec;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
        if (!re) {
            PCRE2_UCHAR buf[256];
            pcre2_get_error_message(ec, buf, sizeof buf);
            cctx_err(c, n->items[i], "pattern '%s': %s at offset %zu", pat, (char *)buf, (size_t)off);
            continue;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        l->re[l->n] = re;
        l->text[l->n++] = strdup(pat);
    }
}

/* The names that mark an env var as a credential when nothing else is configured. */
static const char *const default_credential_names[] = {
    "(?i)(^|_)(token|secret|password|passwd|pwd|apikey|api_key|access_key|private_key|credentials?)($|_)",
    "(?i)^(hf_token|hugging_face_hub_token|aws_secret_access_key|aws_session_token)$",
    "(?i)_key$", NULL};

static void compile_secrets(cctx *c, const ag_ynode *n, secrets_cfg *sc)
{
    static const char *const keys[] = {"allowNames", "reserved", "forbidLiteralEnv",
                                       "credentialEnvNames", "namespaces", NULL};
    static const char *const nkeys[] = {"namespaces", "allowNames", NULL};
    if (check_map(c, n, "spec.validate.secrets", keys))
        return;
    sc->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowNames"))) {
        sc->has_allow = 1;
        compile_regex_list(c, v, "secrets.allowNames", &sc->allow);
    }
    if ((v = ag_ynode_get(n, "reserved")))
        compile_regex_list(c, v, "secrets.reserved", &sc->reserved);
    if ((v = ag_ynode_get(n, "forbidLiteralEnv")))
        get_bool(c, v, "forbidLiteralEnv", &sc->forbid_literal);
    if ((v = ag_ynode_get(n, "credentialEnvNames"))) {
        compile_regex_list(c, v, "secrets.credentialEnvNames", &sc->credential_names);
    } else {
        size_t k = 0;
        while (default_credential_names[k]) k++;
        sc->credential_names.re = calloc(k, sizeof *sc->credential_names.re);
        sc->credential_names.text = calloc(k, sizeof *sc->credential_names.text);
        for (size_t i = 0; sc->credential_names.re && sc->credential_names.text && i < k; i++) {
            int ec;
            PCRE2_SIZE off;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)default_credential_names[i], PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF, &ec, &off, NULL);
            if (!re)
                continue;
            pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
            sc->credential_names.re[sc->credential_names.n] = re;
            sc->credential_names.text[sc->credential_names.n++] = strdup(default_credential_names[i]);
        }
    }
    if ((v = ag_ynode_get(n, "namespaces"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "secrets.namespaces must be a list of {namespaces, allowNames}");
            return;
        }
        sc->per_ns = calloc(v->count ? v->count : 1, sizeof *sc->per_ns);
        for (size_t i = 0; sc->per_ns && i < v->count; i++) {
            if (check_map(c, v->items[i], "secrets.namespaces[]", nkeys))
                continue;
            secret_ns *e = &sc->per_ns[sc->nper_ns++];
            const ag_ynode *ns = ag_ynode_get(v->items[i], "namespaces"), *an = ag_ynode_get(v->items[i], "allowNames");
            if (!ns || !an)
                cctx_err(c, v->items[i], "secrets.namespaces[] needs namespaces and allowNames");
            if (ns)
                get_strlist(c, ns, "secrets.namespaces[].namespaces", &e->namespaces);
            if (an)
                compile_regex_list(c, an, "secrets.namespaces[].allowNames", &e->allow);
        }
    }
    if (!sc->has_allow && !sc->reserved.n && !sc->forbid_literal && !sc->nper_ns)
        cctx_err(c, n, "spec.validate.secrets says nothing: give allowNames, reserved, "
                       "forbidLiteralEnv or namespaces");
}

static void compile_rbac(cctx *c, const ag_ynode *n, rbac_cfg *r)
{
    static const char *const keys[] = {"protectedRoles", "broadSubjects", "statusUpdaterRole",
                                       "statusUpdaterBinders", "reservedServiceAccounts",
                                       "operatorNamespace", NULL};
    if (check_map(c, n, "spec.validate.rbac", keys))
        return;
    r->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "protectedRoles"))) get_strlist(c, v, "rbac.protectedRoles", &r->protected_roles);
    if ((v = ag_ynode_get(n, "broadSubjects"))) {
        get_strlist(c, v, "rbac.broadSubjects", &r->broad_subjects);
    } else {
        static const char *const broad[] = {"system:authenticated", "system:unauthenticated",
                                            "system:serviceaccounts", "system:serviceaccounts:*", NULL};
        for (const char *const *b = broad; *b; b++)
            if (strlist_add(&r->broad_subjects, *b))
                cctx_err(c, n, "out of memory");
    }
    if ((v = ag_ynode_get(n, "statusUpdaterRole")) && scalar(c, v, "rbac.statusUpdaterRole"))
        r->status_role = strdup(v->value);
    if ((v = ag_ynode_get(n, "statusUpdaterBinders"))) get_strlist(c, v, "rbac.statusUpdaterBinders", &r->status_binders);
    if (r->status_role && !r->status_binders.n)
        cctx_err(c, n, "rbac.statusUpdaterRole needs statusUpdaterBinders (the identities that may bind it)");
    if ((v = ag_ynode_get(n, "reservedServiceAccounts"))) {
        get_strlist(c, v, "rbac.reservedServiceAccounts", &r->reserved_sas);
        for (size_t i = 0; i < r->reserved_sas.n; i++)
            if (!strchr(r->reserved_sas.v[i], '/'))
                cctx_err(c, v, "rbac.reservedServiceAccounts: '%s' must be NAMESPACE/NAME (globs allowed)",
                         r->reserved_sas.v[i]);
    }
    v = ag_ynode_get(n, "operatorNamespace");
    r->operator_namespace = strdup(v && scalar(c, v, "rbac.operatorNamespace") ? v->value : "aim-system");
    if (!r->protected_roles.n && !r->status_role && !r->reserved_sas.n)
        cctx_err(c, n, "spec.validate.rbac says nothing: give protectedRoles, statusUpdaterRole or "
                       "reservedServiceAccounts");
}

static void compile_aim(cctx *c, const ag_ynode *n, aim_cfg *a)
{
    static const char *const keys[] = {"allowedResources", "allowedGateways", "maxNamespaceLength",
                                       "pathUnderNamespace", NULL};
    if (check_map(c, n, "spec.validate.aim", keys))
        return;
    a->present = 1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "allowedResources"))) get_strlist(c, v, "aim.allowedResources", &a->allowed_resources);
    if ((v = ag_ynode_get(n, "allowedGateways"))) {
        get_strlist(c, v, "aim.allowedGateways", &a->allowed_gateways);
        for (size_t i = 0; i < a->allowed_gateways.n; i++)
            if (!strchr(a->allowed_gateways.v[i], '/'))
                cctx_err(c, v, "aim.allowedGateways: '%s' must be NAMESPACE/NAME (globs allowed)",
                         a->allowed_gateways.v[i]);
    }
    if ((v = ag_ynode_get(n, "maxNamespaceLength"))) get_int(c, v, "aim.maxNamespaceLength", 1, 63, &a->max_ns_len);
    if ((v = ag_ynode_get(n, "pathUnderNamespace"))) get_bool(c, v, "aim.pathUnderNamespace", &a->path_under_namespace);
}

/* "2027-03-01" (that day 00:00 UTC) or RFC 3339 "2027-03-01T12:00:00Z" */
static time_t parse_date(const char *s)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end)
        return 0;
    if (*end == 'T') {
        end = strptime(end + 1, "%H:%M:%S", &tm);
        if (!end || strcmp(end, "Z"))
            return 0;
    } else if (*end) {
        return 0;
    }
    return timegm(&tm);
}

static void compile_exception(cctx *c, const ag_ynode *n, exception_ *x)
{
    static const char *const keys[] = {"controls", "namespaces", "names", "users", "kinds",
                                       "reason", "expires", NULL};
    if (check_map(c, n, "spec.exceptions[]", keys))
        return;
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, n->line, n->column);
    x->where = strdup(where);
    const ag_ynode *v;
    if ((v = ag_ynode_get(n, "controls"))) get_strlist(c, v, "exceptions[].controls", &x->controls);
    if (x->controls.n == 0)
        cctx_err(c, n, "an exception must name the controls it waives");
    for (size_t i = 0; i < x->controls.n; i++)
        if (!strcmp(x->controls.v[i], "*"))
            cctx_err(c, v, "an exception cannot waive every control ('*'): narrow the policy's "
                           "match instead");
    if ((v = ag_ynode_get(n, "namespaces"))) get_strlist(c, v, "exceptions[].namespaces", &x->namespaces);
    if ((v = ag_ynode_get(n, "names"))) get_strlist(c, v, "exceptions[].names", &x->names);
    if ((v = ag_ynode_get(n, "users"))) get_strlist(c, v, "exceptions[].users", &x->users);
    if ((v = ag_ynode_get(n, "kinds"))) get_strlist(c, v, "exceptions[].kinds", &x->kinds);
    if (!x->namespaces.n && !x->names.n && !x->users.n)
        cctx_err(c, n, "an exception must be scoped by namespaces, names or users");
    v = ag_ynode_get(n, "reason");
    const char *reason = v ? scalar(c, v, "reason") : NULL;
    if (!reason || !*reason)
        cctx_err(c, v ? v : n, "an exception needs a reason");
    else
        x->reason = strdup(reason);
    if ((v = ag_ynode_get(n, "expires"))) {
        const char *e = scalar(c, v, "expires");
        if (e && !(x->expires = parse_date(e)))
            cctx_err(c, v, "expires must be a date (2027-03-01) or an RFC 3339 UTC time "
                           "(2027-03-01T12:00:00Z)");
        else if (e)
            x->expires_text = strdup(e);
    }
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

int policy_compile(cctx *c, const ag_ynode *doc, policy *p)
{
    static const char *const top[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    static const char *const meta[] = {"name", "annotations", "labels", NULL};
    static const char *const spec[] = {"action", "match", "exclude", "mutate", "validate",
                                       "exceptions", NULL};
    static const char *const mut[] = {"securityContext", "gpu", NULL};
    static const char *const val[] = {"podSecurity", "images", "secrets", "rbac", "aim", "rules", NULL};
    static const char *const pss[] = {"level", "version", NULL};
    int before = c->errors;
    memset(p, 0, sizeof *p);
    p->pss_level = -1;
    p->hard.run_as_non_root = p->hard.allow_priv_esc = p->hard.read_only_root =
        p->hard.automount_token = -1;
    if (check_map(c, doc, "the document", top))
        return -1;
    const char *api = scalar(c, ag_ynode_get(doc, "apiVersion"), "apiVersion");
    if (api && strcmp(api, "policy.aimguard.io/v1alpha1"))
        cctx_err(c, ag_ynode_get(doc, "apiVersion"), "apiVersion must be policy.aimguard.io/v1alpha1");
    const char *kind = scalar(c, ag_ynode_get(doc, "kind"), "kind");
    if (kind && strcmp(kind, "AdmissionPolicy"))
        cctx_err(c, ag_ynode_get(doc, "kind"), "kind must be AdmissionPolicy");
    const ag_ynode *md = ag_ynode_get(doc, "metadata");
    if (!check_map(c, md, "metadata", meta)) {
        const ag_ynode *nm = ag_ynode_get(md, "name");
        const char *name = scalar(c, nm, "metadata.name");
        if (name && !valid_name(name))
            cctx_err(c, nm, "metadata.name '%s' must be a DNS label (a-z, 0-9, '-', at most 63)", name);
        p->name = xstrdup(c, nm, name);
    }
    char where[256];
    snprintf(where, sizeof where, "%s:%u:%u", c->file, doc->line, doc->column);
    p->where = strdup(where);
    const ag_ynode *sp = ag_ynode_get(doc, "spec");
    if (check_map(c, sp, "spec", spec))
        return -1;
    const ag_ynode *v;
    if ((v = ag_ynode_get(sp, "action"))) p->action = parse_action(c, v, "spec.action");
    if ((v = ag_ynode_get(sp, "match"))) compile_selector(c, v, "spec.match", &p->match, 1);
    else cctx_err(c, sp, "spec.match is required");
    if ((v = ag_ynode_get(sp, "exclude"))) compile_selector(c, v, "spec.exclude", &p->exclude, 0);
    const ag_ynode *m = ag_ynode_get(sp, "mutate");
    if (m && !check_map(c, m, "spec.mutate", mut)) {
        if ((v = ag_ynode_get(m, "securityContext"))) compile_harden(c, v, &p->hard);
        if ((v = ag_ynode_get(m, "gpu"))) compile_gpu(c, v, &p->gpu);
    }
    const ag_ynode *va = ag_ynode_get(sp, "validate");
    if (va && !check_map(c, va, "spec.validate", val)) {
        if ((v = ag_ynode_get(va, "podSecurity")) && !check_map(c, v, "spec.validate.podSecurity", pss)) {
            const ag_ynode *lv = ag_ynode_get(v, "level");
            const char *ls = scalar(c, lv, "podSecurity.level");
            if (ls && (p->pss_level = ag_pss_level_parse(ls)) < 0)
                cctx_err(c, lv, "podSecurity.level must be baseline, restricted or privileged");
            const ag_ynode *ver = ag_ynode_get(v, "version");
            const char *vs = ver ? scalar(c, ver, "podSecurity.version") : "latest";
            if (vs && strcmp(vs, "latest") && strcmp(vs, "v1.37"))
                cctx_err(c, ver, "podSecurity.version: only latest (= v1.37) is implemented");
        }
        if ((v = ag_ynode_get(va, "images")))
            compile_images(c, v, &p->images);
        if ((v = ag_ynode_get(va, "secrets")))
            compile_secrets(c, v, &p->secrets);
        if ((v = ag_ynode_get(va, "rbac")))
            compile_rbac(c, v, &p->rbac);
        if ((v = ag_ynode_get(va, "aim")))
            compile_aim(c, v, &p->aim);
        if ((v = ag_ynode_get(va, "rules"))) {
            if (v->type != AG_YNODE_SEQ) {
                cctx_err(c, v, "spec.validate.rules must be a list");
            } else if ((p->rules = calloc(v->count ? v->count : 1, sizeof *p->rules))) {
                for (size_t i = 0; i < v->count; i++) {
                    compile_rule(c, v->items[i], p, &p->rules[p->nrules]);
                    p->nrules++;
                }
            }
        }
    }
    if ((v = ag_ynode_get(sp, "exceptions"))) {
        if (v->type != AG_YNODE_SEQ) {
            cctx_err(c, v, "spec.exceptions must be a list");
        } else if ((p->exc = calloc(v->count ? v->count : 1, sizeof *p->exc))) {
            for (size_t i = 0; i < v->count; i++)
                compile_exception(c, v->items[i], &p->exc[p->nexc++]);
        }
    }
    if (!m && !va)
        cctx_err(c, sp, "a policy needs a mutate or a validate block");
    return c->errors > before ? -1 : 0;
}

static void selector_free(selector *s)
{
    strlist_free(&s->kinds);
    strlist_free(&s->operations);
    strlist_free(&s->namespaces);
    strlist_free(&s->users);
    strlist_free(&s->groups);
    strlist_free(&s->service_accounts);
    strlist_free(&s->names);
    kvlist_free(&s->ns_labels);
    kvlist_free(&s->obj_labels);
}

void policy_free(policy *p)
{
    if (!p)
        return;
    free(p->name);
    free(p->where);
    selector_free(&p->match);
    selector_free(&p->exclude);
    free(p->hard.seccomp);
    strlist_free(&p->hard.drop_caps);
    for (size_t i = 0; i < p->hard.ndirs; i++) {
        free(p->hard.dirs[i].path);
        free(p->hard.dirs[i].medium);
        free(p->hard.dirs[i].size_limit);
        free(p->hard.dirs[i].volume);
    }
    free(p->hard.dirs);
    strlist_free(&p->gpu.resources);
    kvlist_free(&p->gpu.node_selector);
    json_decref(p->gpu.match_expressions);
    json_decref(p->gpu.tolerations);
    json_decref(p->gpu.non_gpu_expressions);
    for (size_t i = 0; i < p->nrules; i++) {
        generic_rule *r = &p->rules[i];
        free(r->name);
        free(r->path_text);
        for (size_t j = 0; j < r->nsegs; j++)
            free(r->segs[j].key);
        free(r->segs);
        json_decref(r->value);
        pcre2_code_free(r->re);
        free(r->pattern);
        free(r->message);
    }
    free(p->rules);
    images_free(&p->images);
    secrets_free(&p->secrets);
    rbac_free(&p->rbac);
    aim_free(&p->aim);
    for (size_t i = 0; i < p->nexc; i++) {
        exception_ *x = &p->exc[i];
        strlist_free(&x->controls);
        strlist_free(&x->namespaces);
        strlist_free(&x->names);
        strlist_free(&x->users);
        strlist_free(&x->kinds);
        free(x->reason);
        free(x->expires_text);
        free(x->where);
    }
    free(p->exc);
    memset(p, 0, sizeof *p);
}
