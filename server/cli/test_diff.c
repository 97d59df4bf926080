/* The structural comparison behind `aimguard test`'s patchedResource: which paths of the
 * object differ, expected against got, one line each. A whole-object dump would hide the one
 * field that matters among hundreds of lines; a path says where to look. */
#include "test_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef struct dctx {
    char *text;
    size_t len, cap;
    size_t lines, max, more;
    int secret;        /* the objects are Secrets: their data is never printed */
} dctx;

static void put(dctx *c, const char *s, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *nt = realloc(c->text, cap);
        if (!nt)
            return;
        c->text = nt;
        c->cap = cap;
    }
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len] = '\0';
}

static void puts_(dctx *c, const char *s)
{
    put(c, s, strlen(s));
}

/* A value as compact JSON, cut to a readable length; hidden where it may be a credential. */
static void put_value(dctx *c, const json_t *v, int hidden)
{
    if (!v) {
        puts_(c, "nothing");
        return;
    }
    if (hidden) {
        puts_(c, "(a value, not shown)");
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    if (!s) {
        puts_(c, "?");
        return;
    }
    size_t n = strlen(s);
    if (n > 160) {
        put(c, s, 150);
        puts_(c, "...");
    } else {
        put(c, s, n);
    }
    free(s);
}

static int numbers_equal(const json_t *a, const json_t *b)
{
    return json_is_number(a) && json_is_number(b) && json_number_value(a) == json_number_value(b);
}

/* path with one more key: .key, or ["key"] when it is not a plain name */
static void path_key(char *out, size_t cap, const char *path, const char *key)
{
    int plain = *key != '\0';
    for (const char *k = key; *k && plain; k++)
        plain = isalnum((unsigned char)*k) || *k == '_' || *k == '-';
    if (plain)
        ag_strfmt(out, cap, "%s%s%s", path, *path ? "." : "", key);
    else
        ag_strfmt(out, cap, "%s[\"%s\"]", path, key);
}

/* env values and a Secret's data may hold credentials; the diff names the path only */
static int hidden_path(const dctx *c, const char *path)
{
    if (c->secret && (!strncmp(path, "data", 4) || !strncmp(path, "stringData", 10)))
        return 1;
    const char *env = strstr(path, "env[");
    return env && strstr(env, "].value") && !strstr(env, "].valueFrom");
}

static void line(dctx *c, const char *path, const json_t *want, const json_t *got)
{
    if (c->lines >= c->max) {
        c->more++;
        return;
    }
    c->lines++;
    int hidden = hidden_path(c, path);
    puts_(c, *path ? path : "(the object)");
    if (!got) {
        puts_(c, ": expected ");
        put_value(c, want, hidden);
        puts_(c, ", got nothing (missing)\n");
    } else if (!want) {
        puts_(c, ": not expected, got ");
        put_value(c, got, hidden);
        puts_(c, "\n");
    } else {
        puts_(c, ": expected ");
        put_value(c, want, hidden);
        puts_(c, ", got ");
        put_value(c, got, hidden);
        puts_(c, "\n");
    }
}

static void diff(dctx *c, const char *path, const json_t *want, const json_t *got, int depth)
{
    char sub[2048];
    if (json_is_object(want) && json_is_object(got) && depth < 64) {
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)want, k, v) {
            path_key(sub, sizeof sub, path, k);
            diff(c, sub, v, json_object_get(got, k), depth + 1);
        }
        json_object_foreach((json_t *)got, k, v) {
            if (!json_object_get(want, k)) {
                path_key(sub, sizeof sub, path, k);
                line(c, sub, NULL, v);
            }
        }
        return;
    }
    if (json_is_array(want) && json_is_array(got) && depth < 64) {
        size_t nw = json_array_size(want), ng = json_array_size(got);
        for (size_t i = 0; i < nw || i < ng; i++) {
            ag_strfmt(sub, sizeof sub, "%s[%zu]", path, i);
            if (i < nw && i < ng)
                diff(c, sub, json_array_get(want, i), json_array_get(got, i), depth + 1);
            else
                line(c, sub, i < nw ? json_array_get(want, i) : NULL, i < ng ? json_array_get(got, i) : NULL);
        }
        return;
    }
    if (!got || !want || !(json_equal((json_t *)want, (json_t *)got) || numbers_equal(want, got)))
        line(c, path, want, got);
}

char *tf_diff(const json_t *expected, const json_t *got, size_t max)
{
    dctx c = {0};
    c.max = max;
    const char *k1 = json_string_value(json_object_get(expected, "kind"));
    const char *k2 = json_string_value(json_object_get(got, "kind"));
    c.secret = (k1 && !strcmp(k1, "Secret")) || (k2 && !strcmp(k2, "Secret"));
    diff(&c, "", expected, got, 0);
    if (!c.lines) {
        free(c.text);
        return NULL;
    }
    if (c.more) {
        char tail[64];
        ag_strfmt(tail, sizeof tail, "... and %zu more difference%s\n", c.more, c.more == 1 ? "" : "s");
        puts_(&c, tail);
    }
    if (!c.text)
        return strdup("the objects differ (out of memory describing how)\n");
    return c.text;
}
