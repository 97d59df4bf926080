/* The per-request arena the webhook reads a review into (aimguard/jsonarena.h):
 *   - values read into it are jansson's values, on every captured review, and the
 *     server's answer is the same with and without it;
 *   - heap values and arena values mix in one tree (a mutation sets heap values into
 *     arena objects, replaces arena values), and releasing frees every heap value (ASan's
 *     leak check and valgrind watch this binary);
 *   - a large body grows it past its first chunk; the newest allocation freed first gives
 *     its bytes back; fills do not nest; arenas released out of order;
 *   - what jansson returns to be freed with free() (json_dumps) is never arena memory
 *     outside a fill. */
#include "agtest.h"
#include "aimguard/buf.h"
#include "aimguard/jsonarena.h"
#include "aimguard/jsonio.h"
#include "aimguard/policy.h"

#include <stdlib.h>
#include <string.h>

static json_t *read_into(ag_json_arena *a, const char *text, size_t len)
{
    CHECK_INT(ag_json_arena_fill(a), 0);
    ag_json_read_error err;
    json_t *v = ag_json_read(text, len, 128, NULL, 0, &err);
    ag_json_arena_stop(a);
    return v;
}

static void test_installed(void)
{
    json_malloc_t m = NULL;
    json_free_t f = NULL;
    json_get_alloc_funcs(&m, &f);
    /* aimguard's functions, installed before main */
    CHECK(m != NULL && m != malloc);
    CHECK(f != NULL && f != free);
}

static void read_the_same(const char *name, const char *body, size_t len, void *ctx)
{
    (void)name;
    json_t *want = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    ag_json_arena *a = ag_json_arena_open(len * 4);
    CHECK(a != NULL);
    json_t *got = read_into(a, body, len);
    CHECK((want == NULL) == (got == NULL));
    if (want && got) {
        CHECK(json_equal(want, got));
        CHECK(ag_json_arena_used(a) > len); /* the values are in it */
        CHECK(ag_json_arena_used(a) <= ag_json_arena_reserved(a));
        ++*(int *)ctx;
    }
    json_decref(got);
    ag_json_arena_release(a);
    json_decref(want);
}

static void test_captured_reviews_read_the_same(void)
{
    int read = 0;
    agt_each_file(agt_path("AG_SHARED", "conformance/admissionreview"), ".json", read_the_same, &read);
    CHECK(read >= 5);
}

/* The server's flow with and without the arena: the same answer, byte for byte. */
static void test_server_answers_the_same(void)
{
    ag_policy_set *set = agt_policy_path(agt_path("AG_SRC", "policies/default"));
    CHECK(set != NULL);
    const char *names[] = {"apiserver124-create-deployment-llama-3-2-1b-predictor.json",
                           "apiserver124-update-deployment-replicas.json"};
    for (size_t i = 0; set && i < sizeof names / sizeof names[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "conformance/admissionreview/%s", names[i]);
        size_t len = 0;
        char *body = agt_read_file(agt_path("AG_SHARED", rel), &len);
        CHECK(body != NULL);
        for (int m = 0; body && m < 2; m++) {
            int mode = m ? AG_MODE_VALIDATE : AG_MODE_MUTATE | AG_MODE_PATCH_TEXT;
            ag_admission_options heap = {mode, (time_t)1800000000, 1, 0, JSON_COMPACT, 1, 0};
            ag_admission_options arena = heap;
            arena.arena = 1;
            ag_admission_result a, b;
            ag_admission_handle(set, NULL, &heap, body, len, &a);
            ag_admission_handle(set, NULL, &arena, body, len, &b);
            CHECK_INT(a.status, 200);
            CHECK_INT(b.status, a.status);
            CHECK(b.req.arena != NULL && a.req.arena == NULL);
            CHECK_STR(b.body, a.body);
            /* both results alive at once on this thread, released in creation order */
            ag_admission_result_clear(&a);
            ag_admission_result_clear(&b);
        }
        free(body);
    }
    ag_policy_set_unref(set);
}

static void test_heap_and_arena_values_mix(void)
{
    const char t[] = "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]},\"keep\":[1,2,3]}";
    ag_json_arena *a = ag_json_arena_open(0);
    json_t *root = read_into(a, t, sizeof t - 1);
    CHECK(root != NULL);
    /* outside a fill, new values come from the heap: a mutation sets them into arena
     * objects (the object's table grows on the heap too), and replaces arena values */
    json_t *c = json_array_get(json_object_get(json_object_get(root, "spec"), "containers"), 0);
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(c, k, json_pack("{s:[i,s]}", "v", i, "heap"));
    }
    json_object_set_new(c, "image", json_string("replaced"));
    json_object_del(root, "keep");
    /* a heap value shared with something that outlives the arena */
    json_t *shared = json_object_get(c, "k7");
    json_incref(shared);
    char *text = json_dumps(root, JSON_COMPACT); /* malloc'd: free() is right for it */
    CHECK_CONTAINS(text, "\"image\":\"replaced\"");
    CHECK_CONTAINS(text, "\"k39\":{\"v\":[39,\"heap\"]}");
    free(text);
    json_decref(root);
    ag_json_arena_release(a);
    CHECK_STR(json_string_value(json_array_get(json_object_get(shared, "v"), 1)), "heap");
    json_decref(shared);
}

static void test_large_body_grows_the_arena(void)
{
    /* about 1.3 MB: 60,000 objects in one array */
    ag_buf b = {0};
    ag_buf_add(&b, "{\"items\":[");
    for (int i = 0; i < 60000; i++)
        ag_buf_printf(&b, "%s{\"name\":\"item-%d\",\"n\":%d}", i ? "," : "", i, i);
    ag_buf_add(&b, "]}");
    CHECK(b.p != NULL);
    json_t *want = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
    ag_json_arena *a = ag_json_arena_open(0);
    json_t *got = read_into(a, b.p, b.len);
    CHECK(got != NULL && want != NULL);
    CHECK(json_equal(got, want));
    CHECK(ag_json_arena_reserved(a) > 64u * 1024u); /* past the first chunk */
    CHECK_INT(json_array_size(json_object_get(got, "items")), 60000);
    json_decref(got);
    ag_json_arena_release(a);
    json_decref(want);
    ag_buf_clear(&b);
}

static void test_newest_allocation_given_back(void)
{
    ag_json_arena *a = ag_json_arena_open(0);
    CHECK_INT(ag_json_arena_fill(a), 0);
    json_t *keep = json_string("kept");
    size_t before = ag_json_arena_used(a);
    json_t *tmp = json_integer(7); /* the newest: freed first, its bytes come back */
    CHECK(ag_json_arena_used(a) > before);
    json_decref(tmp);
    CHECK_INT(ag_json_arena_used(a), before);
    ag_json_arena_stop(a);
    CHECK_STR(json_string_value(keep), "kept");
    json_decref(keep);
    ag_json_arena_release(a);
}

static void test_fills_do_not_nest_and_release_out_of_order(void)
{
    ag_json_arena *a = ag_json_arena_open(0), *b = ag_json_arena_open(0), *c = ag_json_arena_open(0);
    CHECK(a && b && c);
    CHECK_INT(ag_json_arena_fill(a), 0);
    CHECK_INT(ag_json_arena_fill(b), -1); /* a is filling */
    json_t *va = json_pack("{s:s}", "in", "a");
    ag_json_arena_stop(a);
    CHECK_INT(ag_json_arena_fill(b), 0);
    json_t *vb = json_pack("[s,i]", "in b", 2);
    ag_json_arena_stop(b);
    CHECK_INT(ag_json_arena_fill(c), 0);
    json_t *vc = json_pack("{s:[i]}", "c", 3);
    ag_json_arena_stop(c);
    CHECK(ag_json_arena_used(a) > 0 && ag_json_arena_used(b) > 0 && ag_json_arena_used(c) > 0);
    /* the middle one first, then the others: each free finds its arena */
    json_decref(vb);
    ag_json_arena_release(b);
    json_decref(va);
    json_decref(vc);
    ag_json_arena_release(a);
    ag_json_arena_release(c);
    ag_json_arena_release(NULL);
    /* with none open, jansson's memory is the heap's again */
    json_t *h = json_string("heap");
    char *s = json_dumps(h, JSON_ENCODE_ANY);
    CHECK_STR(s, "\"heap\"");
    free(s);
    json_decref(h);
}

int main(void)
{
    RUN(test_installed);
    RUN(test_captured_reviews_read_the_same);
    RUN(test_server_answers_the_same);
    RUN(test_heap_and_arena_values_mix);
    RUN(test_large_body_grows_the_arena);
    RUN(test_newest_allocation_given_back);
    RUN(test_fills_do_not_nest_and_release_out_of_order);
    return agt_finish();
}
