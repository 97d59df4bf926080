/* include/aimguard/jsonio.h: the admission path's JSON reader and writer give what jansson
 * gives. Every case is checked against jansson itself (json_loadb with
 * JSON_REJECT_DUPLICATES, json_dumps with JSON_COMPACT | JSON_ENCODE_ANY), plus the place
 * and kind of each rejection and the pruned values the admission path reads. */
#include "agtest.h"
#include "aimguard/decision.h"
#include "aimguard/jsonio.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

/* one text the reader must refuse, where, like jansson */
typedef struct reject_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    size_t position;
    const char *why; /* a part of the error text */
} reject_case;

#define R(t, pos, why) {t, sizeof t - 1, pos, why}

static const reject_case rejects[] = {
    /* the top level is an object or an array, followed by whitespace only */
    R("", 0, "'[' or '{' expected"),
    R("1", 0, "'[' or '{' expected"),
    R("\"a\"", 0, "'[' or '{' expected"),
    R("null", 0, "'[' or '{' expected"),
    R(" {} x", 4, "end of input expected"),
    R("{}\v", 2, "end of input expected"),       /* \v and \f are not JSON whitespace */
    R("[]\f", 2, "end of input expected"),
    R("[]\0", 2, "end of input expected"),
    R("[", 1, "premature end of input"),
    R("{\"a\":", 5, "premature end of input"),
    /* strings */
    R("[\"abc", 5, "premature end of input"),
    R("[\"a\x01\"]", 3, "control character"),
    R("[\"a\nb\"]", 3, "control character"),
    R("[\"a\0\"]", 3, "control character"),
    R("[\"\x80\"]", 2, "invalid UTF-8"),               /* a lone continuation byte */
    R("[\"\xc0\x80\"]", 2, "invalid UTF-8"),           /* overlong U+0000 */
    R("[\"\xc1\xbf\"]", 2, "invalid UTF-8"),           /* overlong U+007F */
    R("[\"\xe0\x9f\xbf\"]", 2, "invalid UTF-8"),       /* overlong U+07FF */
    R("[\"\xf0\x8f\xbf\xbf\"]", 2, "invalid UTF-8"),   /* overlong U+FFFF */
    R("[\"\xed\xa0\x80\"]", 2, "invalid UTF-8"),       /* U+D800 encoded */
    R("[\"\xed\xbf\xbf\"]", 2, "invalid UTF-8"),       /* U+DFFF encoded */
    R("[\"\xf4\x90\x80\x80\"]", 2, "invalid UTF-8"),   /* U+110000 */
    R("[\"\xf5\x80\x80\x80\"]", 2, "invalid UTF-8"),
    R("[\"\xe2\x82\"]", 2, "invalid UTF-8"),           /* cut short by the quote */
    R("[\"\xe2\x82", 2, "invalid UTF-8"),              /* cut short by the end */
    R("[\xc3\xa9]", 1, "invalid token"),               /* non-ASCII outside a string */
    R("[\"\\x\"]", 2, "invalid escape"),
    R("[\"\\U0041\"]", 2, "invalid escape"),
    R("[\"\\u12G4\"]", 2, "invalid escape"),
    R("[\"\\u12\"]", 2, "invalid escape"),
    R("[\"\\", 2, "premature end of input"),
    R("[\"\\ud800\"]", 2, "lone high surrogate"),
    R("[\"\\ud800\\u0041\"]", 2, "lone high surrogate"),
    R("[\"\\ud800\\ud800\"]", 2, "lone high surrogate"),
    R("[\"\\udbff\\n\"]", 2, "lone high surrogate"),
    R("[\"\\udc00\"]", 2, "lone low surrogate"),
    R("[\"\\udfff\\ud800\"]", 2, "lone low surrogate"),
    R("[\"\\u0000\"]", 2, "\\u0000"),
    R("[\"\\ud800\\u0000\"]", 2, "lone high surrogate"),
    /* keys */
    R("{\"a\\u0000\":1}", 3, "\\u0000"),
    R("{\"a\":1,\"a\":2}", 7, "duplicate object key"),
    R("{\"a\":1,\"\\u0061\":2}", 7, "duplicate object key"),
    R("{\"\xc3\xa9\":1,\"\\u00E9\":2}", 8, "duplicate object key"),
    R("{\"a\":{},\"b\":{\"a\":1,\"a\":1}}", 19, "duplicate object key"),
    R("{1:2}", 1, "string expected"),
    R("{\"a\" 1}", 5, "':' expected"),
    R("{\"a\":1,}", 7, "string expected"),
    R("{\"a\":1 \"b\":2}", 7, "',' or '}' expected"),
    /* numbers */
    R("[01]", 2, "',' or ']' expected"),
    R("[-01]", 3, "',' or ']' expected"),
    R("[1.]", 1, "invalid number"),
    R("[1.e5]", 1, "invalid number"),
    R("[1e]", 1, "invalid number"),
    R("[1e+]", 1, "invalid number"),
    R("[-]", 1, "invalid number"),
    R("[-a]", 1, "invalid number"),
    R("[+1]", 1, "invalid token"),
    R("[.5]", 1, "invalid token"),
    R("[0x10]", 2, "',' or ']' expected"),
    R("[9223372036854775808]", 1, "too big integer"),
    R("[-9223372036854775809]", 1, "too big integer"),
    R("[123456789012345678901234567890]", 1, "too big integer"),
    R("[1e309]", 1, "real number overflow"),
    R("[-1e309]", 1, "real number overflow"),
    R("[1.5e99999999999999999999]", 1, "real number overflow"),
    /* literals and punctuation */
    R("[tru]", 1, "invalid token"),
    R("[True]", 1, "invalid token"),
    R("[nul]", 1, "invalid token"),
    R("[truex]", 5, "',' or ']' expected"),
    R("[1,]", 3, "invalid token"),
    R("[,1]", 1, "invalid token"),
    R("[1 2]", 3, "',' or ']' expected"),
    R("[1]]", 3, "end of input expected"),
    R("[1\0\0]", 3, "',' or ']' expected"), /* only one NUL is skipped after a number (jansson) */
};

static void test_rejections_match_jansson_with_the_place(void)
{
    for (size_t i = 0; i < sizeof rejects / sizeof *rejects; i++) {
        const reject_case *c = &rejects[i];
        ag_json_read_error err;
        json_t *v = ag_json_read(c->text, c->len, 128, NULL, 0, &err);
        json_t *j = json_loadb(c->text, c->len, JSON_REJECT_DUPLICATES, NULL);
        if (v || j || err.position != c->position || !strstr(err.text, c->why) || err.too_deep)
            fprintf(stderr, "  reject case %zu: got %s at %zu, jansson %s\n", i,
                    v ? "accepted" : err.text, err.position, j ? "accepts" : "rejects");
        CHECK(v == NULL);
        CHECK(j == NULL);
        CHECK_INT(err.position, c->position);
        CHECK_CONTAINS(err.text, c->why);
        CHECK_INT(err.too_deep, 0);
        CHECK_INT(err.out_of_memory, 0);
        json_decref(v);
        json_decref(j);
    }
}

static void test_error_line_and_column(void)
{
    const char t[] = "{\n  \"a\": 1,\n  \"b\": x\n}";
    ag_json_read_error err;
    CHECK(ag_json_read(t, sizeof t - 1, 128, NULL, 0, &err) == NULL);
    CHECK_INT(err.line, 3);
    CHECK_INT(err.column, 8);
    CHECK_INT(err.position, 19);
    /* the text never quotes the input: a token may be a secret */
    const char s[] = "{\"token\": sEcReT}";
    CHECK(ag_json_read(s, sizeof s - 1, 128, NULL, 0, &err) == NULL);
    CHECK(!strstr(err.text, "sEcReT") && !strstr(err.text, "sEc"));
    CHECK_INT(err.line, 1);
    CHECK_INT(err.column, 11);
    /* err may be NULL */
    CHECK(ag_json_read("[", 1, 128, NULL, 0, NULL) == NULL);
}

/* reads t with both readers; 1 when both accept and build the same value */
static json_t *read_same(const char *t, size_t len)
{
    ag_json_read_error err;
    json_t *v = ag_json_read(t, len, 128, NULL, 0, &err);
    json_t *j = json_loadb(t, len, JSON_REJECT_DUPLICATES, NULL);
    CHECK(v != NULL);
    CHECK(j != NULL);
    if (v && j) {
        CHECK(json_equal(v, j));
        char *a = json_dumps(v, JSON_COMPACT), *b = json_dumps(j, JSON_COMPACT);
        CHECK_STR(a, b); /* same order, same reals to the last bit */
        free(a);
        free(b);
    } else {
        fprintf(stderr, "  not accepted: %s (%s)\n", t, v ? "jansson" : err.text);
    }
    json_decref(j);
    return v;
}

#define READ(lit) read_same(lit, sizeof lit - 1)

static void test_numbers(void)
{
    json_t *v = READ("[0,-0,1,-1,9223372036854775807,-9223372036854775808,-0.0,0.1,1E+2,"
                     "1e-7,1e-400,-1e-400,1.7976931348623157e308,4.9e-324,123456789012345678.0,"
                     "2.5e+0,10000000000000000000000e-3]");
    CHECK_INT(json_array_size(v), 17);
    CHECK(json_is_integer(json_array_get(v, 1)) && json_integer_value(json_array_get(v, 1)) == 0);
    CHECK(json_integer_value(json_array_get(v, 4)) == LLONG_MAX);
    CHECK(json_integer_value(json_array_get(v, 5)) == LLONG_MIN);
    CHECK(json_is_real(json_array_get(v, 6)) && signbit(json_real_value(json_array_get(v, 6))));
    CHECK(json_real_value(json_array_get(v, 7)) == 0.1);
    CHECK(json_real_value(json_array_get(v, 8)) == 100.0);
    CHECK(json_real_value(json_array_get(v, 10)) == 0.0); /* an underflow is accepted */
    CHECK(json_is_real(json_array_get(v, 16)) && json_real_value(json_array_get(v, 16)) == 1e19);
    json_decref(v);
    /* jansson skips one NUL byte after a number or a literal; so do we */
    v = READ("[1\0,true\0,2.5\0]");
    CHECK_INT(json_array_size(v), 3);
    json_decref(v);
}

static void test_strings_and_escapes(void)
{
    json_t *v = READ("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u00e9\\u00E9\\u0041\",\"\\ud83d\\ude00\","
                     "\"\\uD83D\\uDE00\",\"a x\x7f\",\"\"]");
    CHECK_STR(json_string_value(json_array_get(v, 0)), "\"\\/\b\f\n\r\t");
    CHECK_STR(json_string_value(json_array_get(v, 1)), "\xc3\xa9\xc3\xa9" "A");
    CHECK_STR(json_string_value(json_array_get(v, 2)), "\xf0\x9f\x98\x80");
    CHECK_STR(json_string_value(json_array_get(v, 3)), "\xf0\x9f\x98\x80");
    CHECK_STR(json_string_value(json_array_get(v, 4)), "a x\x7f"); /* a space is a plain byte */
    CHECK_INT(json_string_length(json_array_get(v, 5)), 0);
    json_decref(v);

    /* the UTF-8 boundaries, raw and escaped, give the same bytes */
    static const struct { const char *raw, *esc; } b[] = {
        {"\x7f", "\\u007f"}, {"\xc2\x80", "\\u0080"}, {"\xdf\xbf", "\\u07ff"},
        {"\xe0\xa0\x80", "\\u0800"}, {"\xef\xbf\xbf", "\\uffff"},
        {"\xf0\x90\x80\x80", "\\ud800\\udc00"}, {"\xf4\x8f\xbf\xbf", "\\udbff\\udfff"},
        {"\xed\x9f\xbf", "\\ud7ff"}, {"\xee\x80\x80", "\\ue000"},
    };
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
        char t[64];
        snprintf(t, sizeof t, "{\"%s\":\"%s\"}", b[i].raw, b[i].esc);
        v = read_same(t, strlen(t));
        CHECK_STR(json_string_value(json_object_get(v, b[i].raw)), b[i].raw);
        json_decref(v);
    }

    /* a long escaped string: decoded past the reader's stack scratch */
    size_t n = 100000;
    char *t = malloc(n * 6 + 8);
    strcpy(t, "[\"");
    for (size_t i = 0; i < n; i++)
        memcpy(t + 2 + i * 6, i % 2 ? "\\u00e9" : "\\n\\tab", 6);
    strcpy(t + 2 + n * 6, "\"]");
    v = read_same(t, strlen(t));
    CHECK_INT(json_string_length(json_array_get(v, 0)), n / 2 * 4 + n / 2 * 2);
    json_decref(v);
    free(t);
}

static void test_containers_and_whitespace(void)
{
    json_t *v = READ(" \t\n\r{ \"z\" : [ 1 , { } , [ ] , true , false , null ] , \"a\":{\"\":\"\"} } \r\n");
    CHECK(json_is_array(json_object_get(v, "z")));
    json_decref(v);
    /* insertion order is kept, as jansson keeps it (json_dumps without sorting) */
    v = READ("{\"b\":1,\"a\":2,\"c\":{\"y\":1,\"x\":2}}");
    char *d = json_dumps(v, JSON_COMPACT);
    CHECK_STR(d, "{\"b\":1,\"a\":2,\"c\":{\"y\":1,\"x\":2}}");
    free(d);
    json_decref(v);
}

/* n nested arrays around inner */
static char *nest(int n, const char *inner)
{
    size_t il = strlen(inner);
    char *t = malloc((size_t)n * 2 + il + 1);
    memset(t, '[', (size_t)n);
    memcpy(t + n, inner, il);
    memset(t + n + il, ']', (size_t)n);
    t[2 * n + il] = '\0';
    return t;
}

static void test_depth(void)
{
    ag_json_read_error err;
    char *t = nest(128, "");
    json_t *v = ag_json_read(t, strlen(t), 128, NULL, 0, &err);
    CHECK(v != NULL);
    json_decref(v);
    free(t);
    t = nest(129, "");
    CHECK(ag_json_read(t, strlen(t), 128, NULL, 0, &err) == NULL);
    CHECK_INT(err.too_deep, 1);
    CHECK_INT(err.position, 128);
    free(t);
    /* objects count too */
    t = nest(127, "{\"a\":{}}");
    CHECK(ag_json_read(t, strlen(t), 128, NULL, 0, &err) == NULL);
    CHECK_INT(err.too_deep, 1);
    free(t);
    /* at jansson's own limit: 2048 values deep, scalars included */
    t = nest(2048, "");
    v = ag_json_read(t, strlen(t), 4096, NULL, 0, &err);
    json_t *j = json_loadb(t, strlen(t), 0, NULL);
    CHECK(v != NULL && j != NULL);
    json_decref(v);
    json_decref(j);
    free(t);
    t = nest(2048, "1");
    CHECK(ag_json_read(t, strlen(t), 4096, NULL, 0, &err) == NULL);
    CHECK_INT(err.too_deep, 1);
    CHECK(json_loadb(t, strlen(t), 0, NULL) == NULL);
    free(t);
}

static const char *const p_a[] = {"a", NULL};
static const char *const p_bc[] = {"b", "c", NULL};
static const ag_json_prune short_prune[] = {{p_a, AG_JSON_DROP}, {p_bc, AG_JSON_BLANK}};

/* reads t with short_prune; checks the result's compact dump (NULL: rejected) */
static void check_pruned(const char *t, const char *want, size_t position)
{
    ag_json_read_error err;
    json_t *v = ag_json_read(t, strlen(t), 128, short_prune, 2, &err);
    char *d = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (want) {
        CHECK_STR(d, want);
    } else {
        CHECK(v == NULL);
        if (!v)
            CHECK_INT(err.position, position);
        /* jansson refuses the whole text too: pruning changes what is built, never what
         * is accepted */
        CHECK(json_loadb(t, strlen(t), JSON_REJECT_DUPLICATES, NULL) == NULL);
    }
    free(d);
    json_decref(v);
}

static void test_prune_drop_and_blank(void)
{
    check_pruned("{\"x\":1,\"a\":{\"big\":[1,2,3]},\"b\":{\"c\":[1,{\"d\":2}],\"e\":3}}",
                 "{\"x\":1,\"b\":{\"c\":\"\",\"e\":3}}", 0);
    /* only at the exact path from the root: not deeper, not through an array */
    check_pruned("{\"x\":{\"a\":1},\"b\":[{\"c\":1}],\"c\":2}",
                 "{\"x\":{\"a\":1},\"b\":[{\"c\":1}],\"c\":2}", 0);
    check_pruned("[{\"a\":1}]", "[{\"a\":1}]", 0);
    /* a blanked member keeps its place */
    check_pruned("{\"b\":{\"z\":1,\"c\":{},\"y\":2}}", "{\"b\":{\"z\":1,\"c\":\"\",\"y\":2}}", 0);
    /* pruned members are still checked: duplicates inside them, their own key repeated,
     * syntax, strings, numbers */
    check_pruned("{\"a\":{\"x\":1,\"y\":{\"x\":1},\"x\":2}}", NULL, 24);
    check_pruned("{\"a\":[{\"x\":1},{\"x\":{\"x\":{}},\"x\":1}]}", NULL, 28);
    check_pruned("{\"a\":1,\"a\":2}", NULL, 7);
    check_pruned("{\"b\":{\"c\":1,\"c\":2}}", NULL, 12);
    check_pruned("{\"a\":[1,]}", NULL, 8);
    check_pruned("{\"a\":\"\\ud800\"}", NULL, 6);
    check_pruned("{\"a\":\"\xc0\x80\"}", NULL, 6);
    check_pruned("{\"a\":[1e999]}", NULL, 6);
    check_pruned("{\"a\":[99999999999999999999]}", NULL, 6);
    check_pruned("{\"a\":{\"k\\u0000\":1}}", NULL, 8);
    check_pruned("{\"a\":{\"\\u0078\":1,\"x\":2}}", NULL, 17);
    /* the same key in different pruned objects is no duplicate */
    check_pruned("{\"a\":[{\"x\":1},{\"x\":2,\"y\":{\"x\":3}}],\"x\":0}", "{\"x\":0}", 0);
    /* depth inside a pruned member counts */
    char *t = nest(130, "");
    char *o = malloc(strlen(t) + 8);
    sprintf(o, "{\"a\":%s}", t);
    ag_json_read_error err;
    CHECK(ag_json_read(o, strlen(o), 128, short_prune, 2, &err) == NULL);
    CHECK_INT(err.too_deep, 1);
    free(o);
    free(t);
}

/* 100,000 keys in a pruned object: read (their duplicates checked through a key table,
 * not a scan per key), and one repeated key at the end found */
static void test_prune_many_keys(void)
{
    size_t n = 100000;
    char *t = malloc(n * 16 + 64);
    size_t len = (size_t)sprintf(t, "{\"a\":{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(t + len, "%s\"k%zu\":%zu", i ? "," : "", i, i);
    size_t dup_at = len + 1;
    strcpy(t + len, "}}");
    ag_json_read_error err;
    json_t *v = ag_json_read(t, len + 2, 128, short_prune, 2, &err);
    CHECK(v != NULL && json_object_size(v) == 0);
    json_decref(v);
    strcpy(t + len, ",\"k77777\":0}}");
    CHECK(ag_json_read(t, strlen(t), 128, short_prune, 2, &err) == NULL);
    CHECK_INT(err.position, dup_at);
    CHECK_CONTAINS(err.text, "duplicate object key");
    free(t);
}

static const char *const p_obj_mf[] = {"request", "object", "metadata", "managedFields", NULL};
static const char *const p_obj_st[] = {"request", "object", "status", NULL};
static const char *const p_obj_la[] = {"request", "object", "metadata", "annotations",
                                       "kubectl.kubernetes.io/last-applied-configuration", NULL};

static void test_prune_a_real_review(void)
{
    static const ag_json_prune review_prune[] = {
        {p_obj_mf, AG_JSON_DROP}, {p_obj_st, AG_JSON_DROP}, {p_obj_la, AG_JSON_BLANK}};
    size_t len;
    char *body = agt_read_file(agt_path("AG_SHARED", "conformance/admissionreview/"
                               "apiserver124-create-deployment-llama-3-2-1b-predictor.json"), &len);
    CHECK(body != NULL);
    if (!body)
        return;
    json_t *full = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *v = ag_json_read(body, len, 128, review_prune, 3, NULL);
    CHECK(full && v);
    json_t *meta = json_object_get(json_object_get(json_object_get(v, "request"), "object"), "metadata");
    json_t *fmeta = json_object_get(json_object_get(json_object_get(full, "request"), "object"), "metadata");
    CHECK(json_object_get(fmeta, "managedFields") != NULL); /* the capture has them */
    CHECK(json_object_get(meta, "managedFields") == NULL);
    CHECK(json_object_get(json_object_get(json_object_get(v, "request"), "object"), "status") == NULL);
    const char *la = "kubectl.kubernetes.io/last-applied-configuration";
    CHECK(strlen(json_string_value(json_object_get(json_object_get(fmeta, "annotations"), la))) > 100);
    CHECK_STR(json_string_value(json_object_get(json_object_get(meta, "annotations"), la)), "");
    /* everything else is jansson's */
    json_object_del(fmeta, "managedFields");
    json_object_del(json_object_get(json_object_get(full, "request"), "object"), "status");
    json_object_set_new(json_object_get(fmeta, "annotations"), la, json_string(""));
    CHECK(json_equal(v, full));
    json_decref(v);
    json_decref(full);
    free(body);
}

/* jansson allocations fail one after the other: NULL + "out of memory", no leak (ASan,
 * valgrind) */
static long countdown = -1;
static json_malloc_t real_malloc; /* aimguard's (jsonarena.c), restored after */
static json_free_t real_free;
static void *failing_malloc(size_t n)
{
    if (countdown == 0)
        return NULL;
    if (countdown > 0)
        countdown--;
    return real_malloc(n);
}

static void test_out_of_memory(void)
{
    const char t[] = "{\"a\":[1,2.5,\"x\\n\",{\"b\":null}],\"c\":{\"d\":true},\"e\":{\"f\":1}}";
    json_get_alloc_funcs(&real_malloc, &real_free);
    json_set_alloc_funcs(failing_malloc, real_free);
    int failed = 0, ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        countdown = n;
        ag_json_read_error err;
        json_t *v = ag_json_read(t, sizeof t - 1, 128, short_prune, 2, &err);
        countdown = -1;
        if (v) {
            ok = 1;
            json_decref(v);
        } else {
            failed++;
            CHECK_STR(err.text, "out of memory");
            CHECK_INT(err.out_of_memory, 1);
        }
    }
    json_set_alloc_funcs(real_malloc, real_free);
    CHECK(ok);
    CHECK(failed > 10);
}

static void check_write(const json_t *v)
{
    ag_buf b = {0};
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK_INT(ag_json_write(&b, v), 0);
    CHECK_STR(b.p, d);
    free(d);
    ag_buf_clear(&b);
}

/* ag_json_write_text writes what ag_json_write(ag_decision_text(s)) does: valid UTF-8
 * as it is (escaped as jansson escapes), each byte that does not start a valid sequence
 * as U+FFFD */
static void test_text_is_decision_text(void)
{
    static const char *const texts[] = {
        "", "plain", "quote \" backslash \\ tab \t nl \n ctl \x01\x1f del \x7f",
        "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* 2, 3 and 4 bytes */
        "cut \xc3", "cut \xe2\x82", "cut \xf0\x9f\x98", "lone \x80\xbf cont", "\xc0\xaf overlong",
        "\xe0\x80\xaf overlong", "\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 too high", "\xf5\xff\xfe",
        "\xe2\x82\x22 quote inside", "end \xf0",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        ag_buf got = {0}, want = {0};
        CHECK_INT(ag_json_write_text(&got, texts[i]), 0);
        json_t *v = ag_decision_text(texts[i]);
        CHECK(v != NULL);
        CHECK_INT(ag_json_write(&want, v), 0);
        CHECK_STR(got.p, want.p);
        json_decref(v);
        ag_buf_clear(&got);
        ag_buf_clear(&want);
    }
    ag_buf n = {0};
    ag_json_write_text(&n, NULL);
    CHECK_STR(n.p, "\"\"");
    ag_buf_clear(&n);
}

static void test_writer_equals_json_dumps(void)
{
    static const double reals[] = {0.1, 1e300, -0.0, 0.0, 1e-7, 123456789012345678.0, 1.0, -2.5,
                                   1e22, 1e21, 1e16, 1e17, 5e-324, 1.7976931348623157e308,
                                   1e-5, 1e-4, 3.14159, 100.0, -1e-300, 2.5e-10};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++) {
        json_t *r = json_real(reals[i]);
        check_write(r);
        json_decref(r);
    }
    static const json_int_t ints[] = {0, -1, 42, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        json_t *n = json_integer(ints[i]);
        check_write(n);
        json_decref(n);
    }
    /* every control character, the escaped ones, '/', DEL, non-ASCII, an embedded NUL */
    char s[64];
    for (int c = 1; c < 0x20; c++)
        s[c - 1] = (char)c;
    memcpy(s + 31, "\"\\/\x7f\xc3\xa9\xf0\x9f\x98\x80z", 12);
    json_t *str = json_stringn(s, 43);
    check_write(str);
    json_t *nul = json_stringn("a\0b", 3);
    check_write(nul);
    json_t *o = json_pack("{s:i,s:[O,O,{},[],n,b,b,f],s:{s:s}}", "z", 1, "a", str, nul, 1, 0,
                          1.5, "\xc3\xa9\n", "k\"", "v/");
    check_write(o);
    check_write(json_object_get(o, "a"));
    json_decref(o);
    json_decref(str);
    json_decref(nul);

    ag_buf b = {0};
    CHECK_INT(ag_json_write_string(&b, "a\"b\x01", 4), 0);
    CHECK_STR(b.p, "\"a\\\"b\\u0001\"");
    ag_buf_clear(&b);
    CHECK_INT(ag_json_write(&b, NULL), -1);
    CHECK(b.oom);
    ag_buf_clear(&b);
}

/* what the reader builds, the writer writes as jansson does: the real reviews */
static void test_round_trip_of_the_captures(void)
{
    static const char *files[] = {
        "apiserver124-create-deployment-llama-3-2-1b-predictor.json",
        "apiserver124-update-deployment-replicas.json", "real-deployment-update-kubectl-patch.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "conformance/admissionreview/%s", files[i]);
        size_t len;
        char *body = agt_read_file(agt_path("AG_SHARED", rel), &len);
        CHECK(body != NULL);
        if (!body)
            continue;
        json_t *v = read_same(body, len);
        check_write(v);
        json_decref(v);
        free(body);
    }
}

int main(void)
{
    RUN(test_rejections_match_jansson_with_the_place);
    RUN(test_error_line_and_column);
    RUN(test_numbers);
    RUN(test_strings_and_escapes);
    RUN(test_containers_and_whitespace);
    RUN(test_depth);
    RUN(test_prune_drop_and_blank);
    RUN(test_prune_many_keys);
    RUN(test_prune_a_real_review);
    RUN(test_out_of_memory);
    RUN(test_writer_equals_json_dumps);
    RUN(test_text_is_decision_text);
    RUN(test_round_trip_of_the_captures);
    return agt_finish();
}
