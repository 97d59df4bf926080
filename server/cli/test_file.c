/* An `aimguard test` file (aimguard-test.yaml): which policies, which resources, what
 * each (policy, rule, resource) must come to. A test that silently checks nothing is worse
 * than none, so every field is checked where it is written: unknown fields, a resource
 * reference that names no resource (or several), a policy or rule the policies do not
 * have, a pattern that does not compile are errors with file:line:column. */
#include "test_int.h"

#include "aimguard/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const tr_names[4] = {"pass", "fail", "warn", "skip"};

#define TEST_API "cli.aimguard.io/v1alpha1"
#define TEST_KIND "Test"

void tf_diag(ag_diags *d, const char *fmt, ...)
{
    char buf[AG_ERROR_MSG_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nv = realloc(d->items, (d->count + 1) * sizeof *nv);
    if (!nv)
        return;
    d->items = nv;
    if ((nv[d->count] = strdup(buf)))
        d->count++;
}

typedef struct rd {
    const char *file;
    ag_diags *errors;
    tf_test *t;
} rd;

__attribute__((format(printf, 3, 4))) static void err_at(rd *r, const ag_ynode *n, const char *fmt, ...)
{
    char msg[AG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tf_diag(r->errors, "%s:%u:%u: %s", r->file, n ? n->line : 1, n ? n->column : 1, msg);
}

static int is_str(const ag_ynode *n)
{
    return n && n->type == AG_YNODE_SCALAR && (n->quoted || (n->len && strcmp(n->value, "null") &&
                                                              strcmp(n->value, "~")));
}

/* Every key of map must be one of allowed (NULL-terminated); the others are errors. */
static void check_fields(rd *r, const ag_ynode *map, const char *what, const char *const *allowed)
{
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const ag_ynode *k = map->items[i];
        for (size_t j = 0; j < i; j += 2)
            if (k->type == AG_YNODE_SCALAR && map->items[j]->type == AG_YNODE_SCALAR &&
                !strcmp(k->value, map->items[j]->value)) {
                err_at(r, k, "duplicate field '%.200s' (first at line %u)", k->value, map->items[j]->line);
                break;
            }
        int ok = 0;
        for (size_t a = 0; allowed[a] && !ok; a++)
            ok = k->type == AG_YNODE_SCALAR && !strcmp(k->value, allowed[a]);
        if (ok)
            continue;
        char list[512] = "";
        for (size_t a = 0; allowed[a]; a++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", a ? ", " : "", allowed[a]);
        }
        err_at(r, k, "unknown field '%.200s' in %s (known: %s)", k->type == AG_YNODE_SCALAR ? k->value : "?",
               what, list);
    }
}

static const ag_ynode *want_map(rd *r, const ag_ynode *n, const char *what)
{
    if (n && n->type == AG_YNODE_MAP)
        return n;
    if (n)
        err_at(r, n, "%s must be a mapping", what);
    return NULL;
}

static const ag_ynode *want_seq(rd *r, const ag_ynode *n, const char *what, int required, const ag_ynode *parent)
{
    if (!n) {
        if (required)
            err_at(r, parent, "%s is required", what);
        return NULL;
    }
    if (n->type != AG_YNODE_SEQ || (required && !n->count)) {
        err_at(r, n, "%s must be a%s list", what, required ? " non-empty" : "");
        return NULL;
    }
    return n;
}

static const char *want_str(rd *r, const ag_ynode *n, const char *what, int required, const ag_ynode *parent)
{
    if (!n) {
        if (required)
            err_at(r, parent, "%s is required", what);
        return NULL;
    }
    if (!is_str(n)) {
        err_at(r, n, "%s must be a non-empty string", what);
        return NULL;
    }
    return n->value;
}

/* A path written in the test file, relative to the file's directory. */
static char *resolve(const char *file, const char *rel)
{
    const char *slash = strrchr(file, '/');
    size_t dl = rel[0] == '/' || !slash ? 0 : (size_t)(slash - file) + 1;
    char *p = malloc(dl + strlen(rel) + 1);
    if (p) {
        memcpy(p, file, dl);
        strcpy(p + dl, rel);
    }
    return p;
}

/* A list of objects: each entry a path (a file, multi-document, Lists, or a directory) or
 * an object written in place. Unreadable entries are errors at the entry. */
static void read_objects(rd *r, const ag_ynode *list, eval_items *out, const char *what)
{
    for (size_t i = 0; list && i < list->count; i++) {
        const ag_ynode *e = list->items[i];
        size_t from = out->n;
        ag_error err = {0};
        if (e->type == AG_YNODE_MAP) {
            json_t *obj = NULL;
            char where[1100];
            ag_strfmt(where, sizeof where, "%s:%u:%u", r->file, e->line, e->column);
            if (ag_ynode_to_json(e, r->file, &obj, &err))
                tf_diag(r->errors, "%s", err.msg);
            else if (cli_items_add(out, where, obj))
                tf_diag(r->errors, "%s: out of memory", where);
        } else if (is_str(e)) {
            char *p = resolve(r->file, e->value);
            if (!p || cli_collect(p, out, &err))
                err_at(r, e, "%s", p ? err.msg : "out of memory");
            else if (out->n == from)
                err_at(r, e, "%s entry '%.300s': no objects found there", what, e->value);
            free(p);
        } else {
            err_at(r, e, "%s entries are paths (relative to the test file) or objects", what);
        }
        for (size_t k = from; k < out->n; k++) {
            const eval_item *it = &out->v[k];
            if (it->error) {
                char w[1200];
                cli_item_where(it, w, sizeof w);
                /* a YAML error already says file:line:column; the entry says where it was named */
                err_at(r, e, "%s: %s", w, it->error);
            } else if (!json_is_object(it->obj) || !json_string_value(json_object_get(it->obj, "kind")) ||
                       !json_string_value(json_object_get(json_object_get(it->obj, "metadata"), "name"))) {
                char w[1200];
                cli_item_where(it, w, sizeof w);
                err_at(r, e, "%s %s: an object needs kind and metadata.name", what, w);
            }
        }
    }
}

/* The objects a reference names: "name", "namespace/name" or "Kind/namespace/name" (an empty
 * namespace for a cluster-scoped object: "Namespace//team-a"). */
static int ref_matches(const char *ref, const json_t *obj)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    if (!ns)
        ns = "";
    const char *s1 = strchr(ref, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s1)
        return !strcmp(ref, name);
    if (s2 && strchr(s2 + 1, '/'))
        return 0;
    if (!s2)
        return strlen(ns) == (size_t)(s1 - ref) && !strncmp(ref, ns, (size_t)(s1 - ref)) && !strcmp(s1 + 1, name);
    return strlen(kind) == (size_t)(s1 - ref) && !strncmp(ref, kind, (size_t)(s1 - ref)) &&
           strlen(ns) == (size_t)(s2 - s1 - 1) && !strncmp(s1 + 1, ns, (size_t)(s2 - s1 - 1)) &&
           !strcmp(s2 + 1, name);
}

static void ref_name(const json_t *obj, char *buf, size_t cap)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    ag_strfmt(buf, cap, "%s/%s/%s", json_string_value(json_object_get(obj, "kind")), ns ? ns : "",
              json_string_value(json_object_get(meta, "name")));
}

/* The index of the one resource ref names, or (size_t)-1 after an error at n. */
static size_t find_resource(rd *r, const ag_ynode *n)
{
    const char *ref = want_str(r, n, "a resource reference", 1, n);
    if (!ref)
        return (size_t)-1;
    size_t found = (size_t)-1, count = 0;
    const eval_items *res = &r->t->resources;
    for (size_t i = 0; i < res->n; i++)
        if (res->v[i].obj && ref_matches(ref, res->v[i].obj)) {
            if (!count++)
                found = i;
        }
    if (count == 1)
        return found;
    char known[700] = "";
    for (size_t i = 0, shown = 0; i < res->n && shown < 8; i++) {
        if (!res->v[i].obj || (count && !ref_matches(ref, res->v[i].obj)))
            continue;
        char one[300];
        ref_name(res->v[i].obj, one, sizeof one);
        size_t l = strlen(known);
        snprintf(known + l, sizeof known - l, "%s%s", shown++ ? ", " : "", one);
    }
    if (count)
        err_at(r, n, "resource '%.200s' names %zu resources (%s): write Kind/namespace/name", ref, count, known);
    else
        err_at(r, n, "resource '%.200s' names no resource of the test (they are: %s)", ref,
               *known ? known : "none");
    return (size_t)-1;
}

static void read_requests(rd *r, const ag_ynode *list)
{
    static const char *const fields[] = {"resource", "operation", "oldResource", "userInfo", NULL};
    static const char *const ui_fields[] = {"username", "groups", NULL};
    for (size_t i = 0; list && i < list->count; i++) {
        const ag_ynode *e = want_map(r, list->items[i], "a requests entry");
        if (!e)
            continue;
        check_fields(r, e, "a requests entry", fields);
        const ag_ynode *rn = ag_ynode_get(e, "resource");
        if (!rn) {
            err_at(r, e, "resource is required");
            continue;
        }
        size_t idx = find_resource(r, rn);
        if (idx == (size_t)-1)
            continue;
        tf_request *q = &r->t->requests[idx];
        const char *op = want_str(r, ag_ynode_get(e, "operation"), "operation", 0, e);
        if (op) {
            static const char *const ops[] = {"CREATE", "UPDATE", "DELETE"};
            q->operation = NULL;
            for (int k = 0; k < 3; k++)
                if (!strcmp(op, ops[k]))
                    q->operation = ops[k];
            if (!q->operation) {
                err_at(r, ag_ynode_get(e, "operation"), "operation must be CREATE, UPDATE or DELETE");
                q->operation = "CREATE";
            }
        }
        const ag_ynode *old = ag_ynode_get(e, "oldResource");
        if (old) {
            if (strcmp(q->operation, "UPDATE"))
                err_at(r, old, "oldResource is for operation UPDATE");
            q->old = find_resource(r, old);
        }
        const ag_ynode *ui = want_map(r, ag_ynode_get(e, "userInfo"), "userInfo");
        if (ui) {
            check_fields(r, ui, "userInfo", ui_fields);
            const char *u = want_str(r, ag_ynode_get(ui, "username"), "userInfo.username", 0, ui);
            if (u) {
                free(q->user);
                q->user = strdup(u);
            }
            const ag_ynode *g = want_seq(r, ag_ynode_get(ui, "groups"), "userInfo.groups", 0, ui);
            for (size_t k = 0; g && k < g->count; k++) {
                const char *gs = want_str(r, g->items[k], "a group", 1, g);
                if (gs)
                    json_array_append_new(q->groups, json_string(gs));
            }
        }
    }
}

static int parse_result(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, tr_names[i]))
            return i;
    return TR_NONE;
}

/* The expected object after mutation: a path to a file holding exactly one object, or the
 * object in place. */
static json_t *read_patched(rd *r, const ag_ynode *n, char **where)
{
    eval_items items = {0};
    const ag_ynode list = {AG_YNODE_SEQ, n->line, n->column, NULL, 0, 0, NULL, (ag_ynode **)&n, 1};
    size_t before = r->errors->count;
    read_objects(r, &list, &items, "patchedResource");
    json_t *obj = NULL;
    if (r->errors->count == before) {
        if (items.n != 1) {
            err_at(r, n, "patchedResource must be one object (found %zu)", items.n);
        } else {
            char w[1200];
            cli_item_where(&items.v[0], w, sizeof w);
            obj = json_incref(items.v[0].obj);
            *where = strdup(w);
        }
    }
    cli_items_free(&items);
    return obj;
}

static void read_results(rd *r, const ag_ynode *list)
{
    static const char *const fields[] = {"policy", "rule", "resource", "resources", "result",
                                         "patchedResource", "message", NULL};
    for (size_t i = 0; list && i < list->count; i++) {
        const ag_ynode *e = want_map(r, list->items[i], "a results entry");
        if (!e)
            continue;
        size_t before = r->errors->count;
        check_fields(r, e, "a results entry", fields);
        const char *policy = want_str(r, ag_ynode_get(e, "policy"), "policy", 1, e);
        const char *rule = want_str(r, ag_ynode_get(e, "rule"), "rule", 1, e);
        const ag_ynode *one = ag_ynode_get(e, "resource"), *many = ag_ynode_get(e, "resources");
        if (one && many)
            err_at(r, many, "give resource or resources, not both");
        else if (!one && !many)
            err_at(r, e, "resource (or resources) is required");
        const ag_ynode *rs = many ? want_seq(r, many, "resources", 1, e) : NULL;
        const ag_ynode *resn = ag_ynode_get(e, "result");
        int result = TR_NONE;
        const char *rv = want_str(r, resn, "result", 0, e);
        if (rv && (result = parse_result(rv)) == TR_NONE)
            err_at(r, resn, "result must be pass, fail, warn or skip (got '%.100s')", rv);
        const ag_ynode *pn = ag_ynode_get(e, "patchedResource");
        char *pwhere = NULL;
        json_t *patched = pn ? read_patched(r, pn, &pwhere) : NULL;
        const ag_ynode *mn = ag_ynode_get(e, "message");
        const char *mv = want_str(r, mn, "message", 0, e);
        pcre2_code *re = NULL;
        if (mv) {
            int ec;
            PCRE2_SIZE off;
            re = pcre2_compile((PCRE2_SPTR)mv, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
            if (!re) {
                PCRE2_UCHAR m[256];
                pcre2_get_error_message(ec, m, sizeof m);
                err_at(r, mn, "message is not a valid pattern (PCRE2): %s at offset %zu", (char *)m, (size_t)off);
            }
        }
        if (!resn && !pn)
            err_at(r, e, "an entry needs result (pass, fail, warn, skip) or patchedResource");
        const ag_ynode *const *refs = rs ? (const ag_ynode *const *)rs->items : &one;
        size_t nrefs = rs ? rs->count : one ? 1 : 0;
        for (size_t k = 0; k < nrefs; k++) {
            size_t idx = find_resource(r, refs[k]);
            if (idx == (size_t)-1 || r->errors->count != before)
                continue;
            tf_expect *nv = realloc(r->t->ex, (r->t->nex + 1) * sizeof *nv);
            if (!nv)
                break;
            r->t->ex = nv;
            tf_expect *x = &nv[r->t->nex++];
            memset(x, 0, sizeof *x);
            x->policy = strdup(policy);
            x->rule = strdup(rule);
            x->ref = strdup(refs[k]->value);
            x->res = idx;
            x->pline = ag_ynode_get(e, "policy")->line;
            x->pcol = ag_ynode_get(e, "policy")->column;
            x->rline = ag_ynode_get(e, "rule")->line;
            x->rcol = ag_ynode_get(e, "rule")->column;
            x->line = refs[k]->line;
            x->col = refs[k]->column;
            x->result = result;
            x->patched = json_incref(patched);
            x->patched_where = pwhere ? strdup(pwhere) : NULL;
            x->message = re ? pcre2_code_copy(re) : NULL;
            x->message_text = mv ? strdup(mv) : NULL;
            if (!x->policy || !x->rule || !x->ref)
                tf_diag(r->errors, "%s: out of memory", r->file);
        }
        json_decref(patched);
        free(pwhere);
        pcre2_code_free(re);
    }
}

/* now: "2026-03-01" or "2026-03-01T12:00:00Z" (UTC) */
static int parse_now(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *e = strptime(s, "%Y-%m-%d", &tm);
    if (e && *e == 'T')
        e = strptime(e + 1, "%H:%M:%SZ", &tm);
    if (!e || *e)
        return -1;
    *out = timegm(&tm);
    return 0;
}

static void read_test(rd *r, const ag_ynode *doc)
{
    static const char *const fields[] = {"apiVersion", "kind", "metadata", "policies", "resources",
                                         "clusterObjects", "assumeAccess", "now", "requests", "results", NULL};
    static const char *const meta_fields[] = {"name", "description", NULL};
    tf_test *t = r->t;
    check_fields(r, doc, "a test", fields);
    const char *api = want_str(r, ag_ynode_get(doc, "apiVersion"), "apiVersion", 1, doc);
    if (api && strcmp(api, TEST_API))
        err_at(r, ag_ynode_get(doc, "apiVersion"), "apiVersion must be " TEST_API);
    const char *kind = want_str(r, ag_ynode_get(doc, "kind"), "kind", 1, doc);
    if (kind && strcmp(kind, TEST_KIND))
        err_at(r, ag_ynode_get(doc, "kind"), "kind must be " TEST_KIND);
    const ag_ynode *meta = want_map(r, ag_ynode_get(doc, "metadata"), "metadata");
    if (!meta)
        err_at(r, doc, "metadata.name is required");
    else {
        check_fields(r, meta, "metadata", meta_fields);
        const char *name = want_str(r, ag_ynode_get(meta, "name"), "metadata.name", 1, meta);
        t->name = strdup(name ? name : "");
        want_str(r, ag_ynode_get(meta, "description"), "metadata.description", 0, meta);
    }
    const ag_ynode *pol = want_seq(r, ag_ynode_get(doc, "policies"), "policies", 1, doc);
    if (pol && (t->policies = calloc(pol->count, sizeof *t->policies))) {
        for (size_t i = 0; i < pol->count; i++) {
            const char *p = want_str(r, pol->items[i], "a policies entry (a path)", 1, pol);
            char *full = p ? resolve(r->file, p) : NULL;
            if (full && access(full, F_OK)) {
                err_at(r, pol->items[i], "policy path '%.300s': %s", full, strerror(errno));
                free(full);
            } else if (full) {
                t->policies[t->npolicies++] = full;
            }
        }
    }
    size_t before = r->errors->count;
    read_objects(r, want_seq(r, ag_ynode_get(doc, "resources"), "resources", 1, doc), &t->resources, "resources");
    const ag_ynode *an = ag_ynode_get(doc, "assumeAccess");
    const char *access = want_str(r, an, "assumeAccess", 0, doc);
    int answer = -1;
    if (access && !strcmp(access, "allowed"))
        answer = AG_ACCESS_ALLOWED;
    else if (access && !strcmp(access, "denied"))
        answer = AG_ACCESS_DENIED;
    else if (access)
        err_at(r, an, "assumeAccess must be allowed or denied");
    const ag_ynode *cl = want_seq(r, ag_ynode_get(doc, "clusterObjects"), "clusterObjects", 0, doc);
    if (cl || answer >= 0) {
        eval_items objs = {0};
        ag_error err = {0};
        read_objects(r, cl, &objs, "clusterObjects");
        if (cli_view_new(&t->view, answer, &err))
            tf_diag(r->errors, "%s: %s", r->file, err.msg);
        for (size_t i = 0; t->view && i < objs.n; i++)
            if (objs.v[i].obj && cli_view_put(t->view, objs.v[i].obj, &err))
                tf_diag(r->errors, "%s: %s", r->file, err.msg);
        cli_items_free(&objs);
    }
    const ag_ynode *nn = ag_ynode_get(doc, "now");
    const char *now = want_str(r, nn, "now", 0, doc);
    if (now && parse_now(now, &t->now))
        err_at(r, nn, "now must be a date (2026-03-01) or a UTC time (2026-03-01T12:00:00Z)");
    if (r->errors->count != before)
        return; /* references into resources that could not be read would only add noise */
    t->requests = calloc(t->resources.n ? t->resources.n : 1, sizeof *t->requests);
    if (!t->requests) {
        tf_diag(r->errors, "%s: out of memory", r->file);
        return;
    }
    for (size_t i = 0; i < t->resources.n; i++) {
        t->requests[i].operation = "CREATE";
        t->requests[i].old = (size_t)-1;
        t->requests[i].user = strdup("");
        t->requests[i].groups = json_array();
    }
    read_requests(r, want_seq(r, ag_ynode_get(doc, "requests"), "requests", 0, doc));
    read_results(r, want_seq(r, ag_ynode_get(doc, "results"), "results", 1, doc));
}

int tf_load(const char *path, time_t now, tf_test **out, ag_diags *errors, ag_error *err)
{
    *out = NULL;
    ag_ydocs *docs = NULL;
    if (ag_yaml_parse_file(path, &docs, err)) {
        tf_diag(errors, "%s", err->msg);
        return err->code ? err->code : AG_EINVAL;
    }
    tf_test *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    t->now = now;
    rd r = {t->path, errors, t};
    size_t before = errors->count;
    const ag_ynode *doc = NULL;
    for (size_t i = 0; i < docs->count; i++) {
        const ag_ynode *d = docs->docs[i];
        if (d->type == AG_YNODE_SCALAR && d->len == 0 && !d->quoted)
            continue;
        if (doc) {
            err_at(&r, d, "a test file holds one test (one YAML document)");
            break;
        }
        doc = d;
    }
    if (!doc)
        tf_diag(errors, "%s:1:1: the file is empty: expected a test (apiVersion " TEST_API ", kind " TEST_KIND
                ")", path);
    else if (doc->type != AG_YNODE_MAP)
        err_at(&r, doc, "a test must be a mapping");
    else
        read_test(&r, doc);
    ag_ydocs_free(docs);
    if (errors->count != before) {
        tf_free(t);
        return ag_error_set(err, AG_EINVAL, "%s: %zu error(s)", path, errors->count - before);
    }
    *out = t;
    return 0;
}

/* The rules of a policy document as the results name them: each typed validate block by its
 * key, each generic rule by its name; mutate blocks separately. */
static int policy_has_rule(const json_t *pol, const char *rule, int *mutate)
{
    const json_t *spec = json_object_get(pol, "spec");
    const json_t *val = json_object_get(spec, "validate"), *mut = json_object_get(spec, "mutate");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)val, k, v) {
        if (strcmp(k, "rules") && !strcmp(k, rule))
            return *mutate = 0, 1;
    }
    size_t i;
    json_array_foreach(json_object_get(val, "rules"), i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && !strcmp(n, rule))
            return *mutate = 0, 1;
    }
    if (json_object_get(mut, rule))
        return *mutate = 1, 1;
    return 0;
}

static void rule_list(const json_t *pol, char *buf, size_t cap)
{
    const json_t *spec = json_object_get(pol, "spec");
    const json_t *val = json_object_get(spec, "validate");
    const char *k;
    const json_t *v;
    size_t i;
    buf[0] = '\0';
#define ADD(s) do { size_t l = strlen(buf); snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", (s)); } while (0)
    json_object_foreach((json_t *)val, k, v) {
        if (strcmp(k, "rules"))
            ADD(k);
    }
    json_array_foreach(json_object_get(val, "rules"), i, v) {
        if (json_string_value(json_object_get(v, "name")))
            ADD(json_string_value(json_object_get(v, "name")));
    }
    json_object_foreach(json_object_get(spec, "mutate"), k, v) {
        ADD(k);
    }
#undef ADD
}

size_t tf_check_names(tf_test *t, ag_diags *errors)
{
    eval_items pols = {0};
    ag_error err = {0};
    size_t before = errors->count;
    for (size_t i = 0; i < t->npolicies; i++)
        if (cli_collect(t->policies[i], &pols, &err))
            tf_diag(errors, "%s: %s", t->path, err.msg);
    for (size_t e = 0; e < t->nex; e++) {
        tf_expect *x = &t->ex[e];
        const json_t *pol = NULL;
        char known[600] = "";
        for (size_t i = 0; i < pols.n && !pol; i++) {
            const json_t *o = pols.v[i].obj;
            const char *api = json_string_value(json_object_get(o, "apiVersion"));
            const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
            if ((api && strncmp(api, "policy.aimguard.io/", 19)) || !name)
                continue;
            if (!strcmp(name, x->policy))
                pol = o;
            size_t l = strlen(known);
            snprintf(known + l, sizeof known - l, "%s%s", l ? ", " : "", name);
        }
        if (!pol) {
            tf_diag(errors, "%s:%u:%u: policy '%s' is not among the test's policies (%s)", t->path, x->pline, x->pcol,
                    x->policy, known);
            continue;
        }
        int mutate = 0;
        if (!policy_has_rule(pol, x->rule, &mutate)) {
            rule_list(pol, known, sizeof known);
            tf_diag(errors, "%s:%u:%u: policy '%s' has no rule '%s' (its rules: %s)", t->path, x->rline, x->rcol,
                    x->policy, x->rule, known);
        } else if (mutate && x->result != TR_NONE) {
            tf_diag(errors, "%s:%u:%u: rule '%s' of policy '%s' is a mutate block: it has no result, give "
                    "patchedResource only", t->path, x->rline, x->rcol, x->rule, x->policy);
        } else if (!mutate && x->result == TR_NONE) {
            tf_diag(errors, "%s:%u:%u: rule '%s' of policy '%s' validates: give its result (pass, fail, warn, skip)",
                    t->path, x->rline, x->rcol, x->rule, x->policy);
        }
    }
    cli_items_free(&pols);
    return errors->count - before;
}

void tf_free(tf_test *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nex; i++) {
        tf_expect *x = &t->ex[i];
        free(x->policy);
        free(x->rule);
        free(x->ref);
        json_decref(x->patched);
        free(x->patched_where);
        pcre2_code_free(x->message);
        free(x->message_text);
    }
    free(t->ex);
    for (size_t i = 0; t->requests && i < t->resources.n; i++) {
        free(t->requests[i].user);
        json_decref(t->requests[i].groups);
    }
    free(t->requests);
    for (size_t i = 0; i < t->npolicies; i++)
        free(t->policies[i]);
    free(t->policies);
    cli_items_free(&t->resources);
    cli_view_free(t->view);
    free(t->name);
    free(t->path);
    free(t);
}
