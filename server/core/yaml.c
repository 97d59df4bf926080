/* libyaml event stream -> ag_ynode trees with marks, and ag_ynode -> jansson. */
#include "aimguard/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct arena {
    ag_ynode **nodes;
    size_t count, cap;
    struct anchor { char *name; ag_ynode *node; } *anchors;
    size_t nanchors, capanchors;
} arena;

static ag_ynode *arena_node(arena *a, ag_ynode_type type, const yaml_mark_t *m)
{
    if (a->count >= AG_YAML_MAX_NODES)
        return NULL;
    if (a->count == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        ag_ynode **nn = realloc(a->nodes, nc * sizeof *nn);
        if (!nn)
            return NULL;
        a->nodes = nn;
        a->cap = nc;
    }
    ag_ynode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->type = type;
    n->line = (unsigned)m->line + 1;
    n->column = (unsigned)m->column + 1;
    a->nodes[a->count++] = n;
    return n;
}

static int node_push(ag_ynode *parent, ag_ynode *child)
{
    /* capacity is tracked implicitly: grow at powers of two */
    size_t c = parent->count;
    if ((c & (c - 1)) == 0) {
        size_t nc = c ? c * 2 : 4;
        ag_ynode **ni = realloc(parent->items, nc * sizeof *ni);
        if (!ni)
            return -1;
        parent->items = ni;
    }
    parent->items[parent->count++] = child;
    return 0;
}

static int arena_anchor(arena *a, const unsigned char *name, ag_ynode *node)
{
    if (!name)
        return 0;
    if (a->nanchors == a->capanchors) {
        size_t nc = a->capanchors ? a->capanchors * 2 : 8;
        struct anchor *na = realloc(a->anchors, nc * sizeof *na);
        if (!na)
            return -1;
        a->anchors = na;
        a->capanchors = nc;
    }
    char *dup = strdup((const char *)name);
    if (!dup)
        return -1;
    a->anchors[a->nanchors].name = dup;
    a->anchors[a->nanchors].node = node;
    a->nanchors++;
    return 0;
}

static ag_ynode *arena_alias(arena *a, const unsigned char *name)
{
    for (size_t i = a->nanchors; i-- > 0;)
        if (strcmp(a->anchors[i].name, (const char *)name) == 0)
            return a->anchors[i].node;
    return NULL;
}

static void arena_free(arena *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->count; i++) {
        free(a->nodes[i]->value);
        free(a->nodes[i]->tag);
        free(a->nodes[i]->items);
        free(a->nodes[i]);
    }
    for (size_t i = 0; i < a->nanchors; i++)
        free(a->anchors[i].name);
    free(a->anchors);
    free(a->nodes);
    free(a);
}

void ag_ydocs_free(ag_ydocs *docs)
{
    if (!docs)
        return;
    arena_free(docs->arena);
    free(docs->docs);
    free(docs->file);
    free(docs);
}

static int parse_error(ag_error *err, const char *file, const yaml_parser_t *p)
{
    const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
    return ag_error_set(err, AG_EINVAL, "%s:%zu:%zu: YAML: %s%s%s", file,
                        (size_t)m->line + 1, (size_t)m->column + 1,
                        p->problem ? p->problem : "syntax error",
                        p->context ? " " : "", p->context ? p->context : "");
}

int ag_yaml_parse(const char *buf, size_t len, const char *file, ag_ydocs **out,
                  ag_error *err)
{
    *out = NULL;
    ag_ydocs *docs = calloc(1, sizeof *docs);
    arena *a = calloc(1, sizeof *a);
    if (!docs || !a || !(docs->file = strdup(file ? file : "<input>"))) {
        free(a);
        if (docs) free(docs->file);
        free(docs);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    docs->arena = a;

    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    ag_ynode *stack[AG_YAML_MAX_DEPTH + 1];
    size_t depth = 0;
    int rc = 0, done = 0;
    size_t capdocs = 0;

    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parse_error(err, docs->file, &parser);
            break;
        }
        ag_ynode *node = NULL;
        int is_container = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            depth = 0;
            break;
        case YAML_SCALAR_EVENT:
            node = arena_node(a, AG_YNODE_SCALAR, &ev.start_mark);
            if (node) {
                node->value = malloc(ev.data.scalar.length + 1);
                if (!node->value) {
                    node = NULL;
                    break;
                }
                memcpy(node->value, ev.data.scalar.value, ev.data.scalar.length);
                node->value[ev.data.scalar.length] = '\0';
                node->len = ev.data.scalar.length;
                node->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                               ev.data.scalar.style != YAML_ANY_SCALAR_STYLE;
                if (ev.data.scalar.tag && !(node->tag = strdup((char *)ev.data.scalar.tag)))
                    node = NULL;
                if (node && arena_anchor(a, ev.data.scalar.anchor, node))
                    node = NULL;
            }
            if (!node)
                rc = ag_error_set(err, AG_ENOMEM, "%s: too many YAML nodes or out of memory",
                                  docs->file);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            node = arena_node(a, ev.type == YAML_SEQUENCE_START_EVENT ? AG_YNODE_SEQ : AG_YNODE_MAP,
                              &ev.start_mark);
            if (node && arena_anchor(a, ev.type == YAML_SEQUENCE_START_EVENT
                                            ? ev.data.sequence_start.anchor
                                            : ev.data.mapping_start.anchor, node))
                node = NULL;
            if (!node)
                rc = ag_error_set(err, AG_ENOMEM, "%s: too many YAML nodes or out of memory",
                                  docs->file);
            is_container = 1;
            break;
        case YAML_ALIAS_EVENT:
            node = arena_alias(a, ev.data.alias.anchor);
            if (!node)
                rc = ag_error_set(err, AG_EINVAL, "%s:%zu:%zu: YAML: unknown alias '%s'",
                                  docs->file, (size_t)ev.start_mark.line + 1,
                                  (size_t)ev.start_mark.column + 1,
                                  (const char *)ev.data.alias.anchor);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        if (!rc && node) {
            if (depth == 0) {
                if (docs->count == capdocs) {
                    size_t nc = capdocs ? capdocs * 2 : 4;
                    ag_ynode **nd = realloc(docs->docs, nc * sizeof *nd);
                    if (!nd)
                        rc = ag_error_set(err, AG_ENOMEM, "out of memory");
                    else {
                        docs->docs = nd;
                        capdocs = nc;
                    }
                }
                if (!rc)
                    docs->docs[docs->count++] = node;
            } else if (node_push(stack[depth - 1], node)) {
                rc = ag_error_set(err, AG_ENOMEM, "out of memory");
            }
            if (!rc && is_container) {
                if (depth >= AG_YAML_MAX_DEPTH)
                    rc = ag_error_set(err, AG_EINVAL, "%s:%u:%u: YAML: nesting deeper than %d",
                                      docs->file, node->line, node->column, AG_YAML_MAX_DEPTH);
                else
                    stack[depth++] = node;
            }
        }
        yaml_event_delete(&ev);
        if (rc)
            break;
    }
    yaml_parser_delete(&parser);
    if (rc) {
        ag_ydocs_free(docs);
        return rc;
    }
    *out = docs;
    return 0;
}

int ag_yaml_parse_file(const char *path, ag_ydocs **out, ag_error *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return ag_error_set(err, AG_EIO, "%s: %s", path, strerror(errno));
    size_t cap = 8192, n = 0, r;
    char *buf = malloc(cap);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int ioerr = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf)
        return ag_error_set(err, AG_ENOMEM, "%s: out of memory", path);
    if (ioerr) {
        free(buf);
        return ag_error_set(err, AG_EIO, "%s: read error", path);
    }
    int rc = ag_yaml_parse(buf, n, path, out, err);
    free(buf);
    return rc;
}

const ag_ynode *ag_ynode_get(const ag_ynode *map, const char *key)
{
    if (!map || map->type != AG_YNODE_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->count; i += 2) {
        const ag_ynode *k = map->items[i];
        if (k->type == AG_YNODE_SCALAR && strcmp(k->value, key) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

static int is_tag(const ag_ynode *n, const char *t)
{
    return n->tag && strcmp(n->tag, t) == 0;
}

static int all_digits(const char *s, const char *set)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static json_t *scalar_to_json(const ag_ynode *n)
{
    const char *v = n->value;
    if (n->quoted || is_tag(n, YAML_STR_TAG) || n->len != strlen(v))
        return json_stringn(v, n->len);
    if (is_tag(n, YAML_NULL_TAG) || !*v || !strcmp(v, "~") || !strcmp(v, "null") ||
        !strcmp(v, "Null") || !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return json_false();
    const char *d = v + (*v == '-' || *v == '+');
    int base = 0;
    const char *digits = NULL;
    if (d == v && v[0] == '0' && v[1] == 'x' && all_digits(v + 2, "0123456789abcdefABCDEF"))
        base = 16, digits = v + 2;
    else if (d == v && v[0] == '0' && v[1] == 'o' && all_digits(v + 2, "01234567"))
        base = 8, digits = v + 2;
    else if (all_digits(d, "0123456789"))
        base = 10, digits = v;
    if (base) {
        errno = 0;
        char *end;
        long long x = strtoll(digits, &end, base);
        if (errno == 0 && *end == '\0')
            return json_integer((json_int_t)x);
        return json_real(strtod(v, NULL)); /* out of int64 range: keep magnitude */
    }
    if (!strcmp(d, ".inf") || !strcmp(d, ".Inf") || !strcmp(d, ".INF") ||
        !strcmp(v, ".nan") || !strcmp(v, ".NaN") || !strcmp(v, ".NAN"))
        return json_stringn(v, n->len); /* JSON has no Inf/NaN: keep the text */
    /* float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    const char *p = d;
    int mant = 0;
    while (*p >= '0' && *p <= '9') p++, mant++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') p++, mant++;
    }
    if (mant && (*p == 'e' || *p == 'E')) {
        p++;
        if (*p == '-' || *p == '+') p++;
        if (!(*p >= '0' && *p <= '9'))
            return json_stringn(v, n->len);
        while (*p >= '0' && *p <= '9') p++;
    }
    if (mant && *p == '\0' && strpbrk(d, ".eE")) {
        double x = strtod(v, NULL);
        if (isfinite(x))
            return json_real(x);
    }
    return json_stringn(v, n->len);
}

typedef struct conv {
    const char *file;
    size_t budget; /* nodes left to emit: bounds alias expansion */
    ag_error *err;
} conv;

static json_t *to_json(const ag_ynode *n, conv *c, unsigned depth)
{
    if (c->budget == 0 || depth > AG_YAML_MAX_DEPTH) {
        ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: YAML: document too large or too deep "
                     "(alias expansion?)", c->file, n->line, n->column);
        return NULL;
    }
    c->budget--;
    if (n->type == AG_YNODE_SCALAR) {
        json_t *j = scalar_to_json(n);
        if (!j)
            ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: scalar is not valid UTF-8", c->file,
                         n->line, n->column);
        return j;
    }
    if (n->type == AG_YNODE_SEQ) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n->count; i++) {
            json_t *e = to_json(n->items[i], c, depth + 1);
            if (!e || json_array_append_new(arr, e)) {
                json_decref(arr);
                return NULL;
            }
        }
        return arr;
    }
    json_t *obj = json_object();
    for (size_t i = 0; obj && i + 1 < n->count; i += 2) {
        const ag_ynode *k = n->items[i];
        if (k->type != AG_YNODE_SCALAR) {
            ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: map keys must be scalars", c->file,
                         k->line, k->column);
            goto fail;
        }
        if (!strcmp(k->value, "<<") && !k->quoted) {
            ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: YAML merge keys (<<) are not supported",
                         c->file, k->line, k->column);
            goto fail;
        }
        if (json_object_get(obj, k->value)) {
            ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: duplicate key '%s'", c->file, k->line,
                         k->column, k->value);
            goto fail;
        }
        json_t *v = to_json(n->items[i + 1], c, depth + 1);
        if (!v)
            goto fail;
        if (json_object_set_new(obj, k->value, v)) {
            ag_error_set(c->err, AG_EINVAL, "%s:%u:%u: key is not valid UTF-8", c->file,
                         k->line, k->column);
            goto fail;
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

int ag_ynode_to_json(const ag_ynode *node, const char *file, json_t **out, ag_error *err)
{
    conv c = {file ? file : "<input>", AG_YAML_MAX_NODES, err};
    *out = to_json(node, &c, 0);
    if (!*out)
        return err && err->code ? err->code : AG_EINVAL;
    return 0;
}

int ag_load_object_file(const char *path, json_t **out, ag_error *err)
{
    *out = NULL;
    ag_ydocs *docs = NULL;
    int rc = ag_yaml_parse_file(path, &docs, err);
    if (rc)
        return rc;
    const ag_ynode *doc = NULL;
    size_t n = 0;
    for (size_t i = 0; i < docs->count; i++) {
        const ag_ynode *d = docs->docs[i];
        if (d->type == AG_YNODE_SCALAR && d->len == 0 && !d->quoted)
            continue; /* empty document */
        if (!doc)
            doc = d;
        n++;
    }
    if (n != 1) {
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_EINVAL, "%s: expected exactly one object, found %zu documents",
                            path, n);
    }
    if (doc->type != AG_YNODE_MAP) {
        ag_error_set(err, AG_EINVAL, "%s:%u:%u: expected a mapping (a Kubernetes object)", path,
                     doc->line, doc->column);
        ag_ydocs_free(docs);
        return AG_EINVAL;
    }
    rc = ag_ynode_to_json(doc, path, out, err);
    ag_ydocs_free(docs);
    return rc;
}
