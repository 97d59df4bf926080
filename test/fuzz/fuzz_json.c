/* libFuzzer target: include/aimguard/jsonio.h against jansson, differentially. For every
 * input (aborting on the first difference):
 *   - ag_json_read (max_depth 2048, jansson's own limit) accepts exactly what
 *     json_loadb(JSON_REJECT_DUPLICATES) accepts, and builds an equal value: json_equal,
 *     and the same json_dumps text both sorted and in insertion order (which the writer
 *     and every policy iterating an object see); a rejection reports a place inside the
 *     input and a text;
 *   - ag_json_write of the value is json_dumps(JSON_COMPACT | JSON_ENCODE_ANY), byte for
 *     byte;
 *   - ag_json_write_prec(v, 9) is json_dumps(... | JSON_REAL_PRECISION(9)) (the log line);
 *   - ag_json_write_text of the input as text is ag_json_write(ag_decision_text()) (the
 *     denial's message, the log line's strings: invalid UTF-8 bytes as U+FFFD);
 *   - the spans ag_json_read_spans reports are the bytes of jansson's member at that path,
 *     and ag_json_span finds the same bytes (or says it cannot tell);
 *   - read with a prune table (the admission path's, and a short-keyed one the fuzzer
 *     reaches easily), the input is accepted exactly when jansson accepts it (pruned
 *     members are still checked), and the value equals jansson's with those members
 *     removed or blanked, in the same order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/decision.h"
#include "aimguard/jsonio.h"
#include "aimguard/jsonspan.h"

static const char *const p_obj_mf[] = {"request", "object", "metadata", "managedFields", NULL};
static const char *const p_obj_st[] = {"request", "object", "status", NULL};
static const char *const p_obj_la[] = {"request", "object", "metadata", "annotations",
                                       "kubectl.kubernetes.io/last-applied-configuration", NULL};
static const char *const p_old_mf[] = {"request", "oldObject", "metadata", "managedFields", NULL};
static const char *const p_old_st[] = {"request", "oldObject", "status", NULL};
static const char *const p_old_la[] = {"request", "oldObject", "metadata", "annotations",
                                       "kubectl.kubernetes.io/last-applied-configuration", NULL};
static const ag_json_prune review_prune[] = {
    {p_obj_mf, AG_JSON_DROP}, {p_obj_st, AG_JSON_DROP}, {p_obj_la, AG_JSON_BLANK},
    {p_old_mf, AG_JSON_DROP}, {p_old_st, AG_JSON_DROP}, {p_old_la, AG_JSON_BLANK},
};

/* the webhook's table (admission/review.c): the old object dropped, both objects' bytes */
static const char *const p_old[] = {"request", "oldObject", NULL};
static const char *const p_obj[] = {"request", "object", NULL};
static const char *const p_spec[] = {"request", "object", "spec", NULL};
static const ag_json_prune span_prune[] = {
    {p_obj_mf, AG_JSON_DROP}, {p_obj_st, AG_JSON_DROP}, {p_obj_la, AG_JSON_BLANK},
    {p_old, AG_JSON_DROP}, {p_obj, AG_JSON_SPAN}, {p_spec, AG_JSON_SPAN},
};
static const char *const ptrs[] = {"", "/request/oldObject", "/request/object", "/request/object/spec"};

static const char *const p_a[] = {"a", NULL};
static const char *const p_bc[] = {"b", "c", NULL};
static const char *const p_bd[] = {"b", "d", NULL};
static const char *const p_efg[] = {"e", "f", "g", NULL};
static const char *const p_x[] = {"", "x", NULL};
static const ag_json_prune short_prune[] = {
    {p_a, AG_JSON_DROP}, {p_bc, AG_JSON_BLANK}, {p_bd, AG_JSON_DROP},
    {p_efg, AG_JSON_BLANK}, {p_x, AG_JSON_DROP},
};

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_json: %s\n", what);
        abort();
    }
}

/* 1 when both dumps (with these flags) exist and are the same text */
static int same_dump(const json_t *a, const json_t *b, size_t flags)
{
    char *x = json_dumps(a, flags), *y = json_dumps(b, flags);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

/* jansson's value with the table's members removed or blanked (a path through anything
 * but objects matches nothing). The table has no entry that is a prefix of another, so
 * the order of the entries does not matter. */
static void prune_dom(json_t *root, const ag_json_prune *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *o = root;
        const char *const *k = t[i].path;
        for (; o && json_is_object(o) && k[1]; k++)
            o = json_object_get(o, k[0]);
        if (!o || !json_is_object(o) || !json_object_get(o, k[0]))
            continue;
        if (t[i].action == AG_JSON_DROP)
            json_object_del(o, k[0]);
        else
            json_object_set_new(o, k[0], json_string("")); /* keeps the member's place */
    }
}

static void check_pruned(const unsigned char *data, size_t size, const json_t *full,
                         const ag_json_prune *t, size_t n)
{
    ag_json_read_error err;
    json_t *mine = ag_json_read((const char *)data, size, 2048, t, n, &err);
    must(!mine == !full, "pruned read: accepts what jansson rejects or the reverse");
    if (!mine)
        return;
    json_t *want = json_deep_copy(full);
    must(want != NULL, "out of memory");
    prune_dom(want, t, n);
    must(json_equal(mine, want), "pruned read: not jansson's value with the members pruned");
    must(same_dump(mine, want, JSON_COMPACT), "pruned read: a different member order");
    json_decref(want);
    json_decref(mine);
}

/* jansson's value at path (object keys), or NULL */
static json_t *member_at(json_t *root, const char *const *k)
{
    for (; root && *k; k++)
        root = json_is_object(root) ? json_object_get(root, *k) : NULL;
    return root;
}

/* The spans ag_json_read_spans reports: each is the member jansson has at that path,
 * byte for byte readable as its value; and ag_json_span finds the same bytes. */
static void check_spans(const unsigned char *data, size_t size, json_t *full)
{
    size_t spans[2 * sizeof span_prune / sizeof *span_prune];
    ag_json_read_error err;
    json_t *mine = ag_json_read_spans((const char *)data, size, 2048, span_prune,
                                      sizeof span_prune / sizeof *span_prune, spans, &err);
    must(!mine == !full, "read with spans: accepts what jansson rejects or the reverse");
    if (!mine)
        return;
    for (size_t i = 3; i < sizeof span_prune / sizeof *span_prune; i++) {
        json_t *want = member_at(full, span_prune[i].path);
        /* a member of a pruned object is not looked for: request.object.spec is when
         * request.object is an object */
        if (!want || (i == 5 && !json_is_object(member_at(full, p_obj))))
            continue;
        must(spans[2 * i + 1] > 0, "span: a member was not reported");
        must(spans[2 * i] + spans[2 * i + 1] <= size, "span: out of the text");
        json_error_t je;
        json_t *got = json_loadb((const char *)data + spans[2 * i], spans[2 * i + 1],
                                 JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
        must(got && json_equal(got, want), "span: the bytes are not the member");
        json_decref(got);
        size_t off, n;
        ag_span_result r = ag_json_span((const char *)data, size, ptrs[i - 2], &off, &n);
        must(r == AG_SPAN_UNSURE || (r == AG_SPAN_FOUND && off == spans[2 * i] && n == spans[2 * i + 1]),
             "ag_json_span: not the reader's span");
    }
    json_decref(mine);
}

/* ag_json_write_text against ag_json_write(ag_decision_text()) on the input as text */
static void check_text(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    ag_buf got = {0}, want = {0};
    json_t *v = ag_decision_text(s);
    int rc = ag_json_write_text(&got, s);
    must(v && rc == 0 && ag_json_write(&want, v) == 0, "ag_json_write_text: out of memory");
    must(got.len == want.len && !memcmp(got.p, want.p, got.len), "ag_json_write_text is not ag_decision_text");
    json_decref(v);
    ag_buf_clear(&got);
    ag_buf_clear(&want);
    free(s);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    check_text(data, size);
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    ag_json_read_error err;
    memset(&err, 0xA5, sizeof err);
    json_t *m = ag_json_read((const char *)data, size, 2048, NULL, 0, &err);
    if (!j && m)
        fprintf(stderr, "jansson: %s\n", je.text);
    if (j && !m)
        fprintf(stderr, "ag_json_read: %s at %zu\n", err.text, err.position);
    must(!j == !m, "ag_json_read accepts what jansson rejects or the reverse");
    if (!m) {
        must(err.position <= size && err.line >= 1 && err.column >= 1, "error place");
        must(memchr(err.text, '\0', sizeof err.text) && err.text[0], "error text");
        check_pruned(data, size, NULL, short_prune, sizeof short_prune / sizeof *short_prune);
        return 0;
    }
    must(json_equal(j, m), "ag_json_read built a value jansson does not");
    must(same_dump(j, m, JSON_COMPACT | JSON_SORT_KEYS), "different values (sorted dump)");
    must(same_dump(j, m, JSON_COMPACT), "different member order");

    ag_buf b = {0};
    char *d = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
    must(d && ag_json_write(&b, m) == 0, "write failed");
    must(b.len == strlen(d) && !memcmp(b.p, d, b.len), "ag_json_write differs from json_dumps");
    free(d);
    ag_buf_clear(&b);
    d = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
    must(d && ag_json_write_prec(&b, m, 9) == 0, "write failed");
    must(b.len == strlen(d) && !memcmp(b.p, d, b.len), "ag_json_write_prec differs from json_dumps");
    free(d);
    ag_buf_clear(&b);
    check_spans(data, size, j);

    check_pruned(data, size, j, review_prune, sizeof review_prune / sizeof *review_prune);
    check_pruned(data, size, j, short_prune, sizeof short_prune / sizeof *short_prune);
    json_decref(j);
    json_decref(m);
    return 0;
}
