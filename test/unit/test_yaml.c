#include "agtest.h"
#include "aimguard/yaml.h"

#include <stdlib.h>

static json_t *parse1(const char *src, ag_error *err)
{
    ag_ydocs *d = NULL;
    json_t *j = NULL;
    if (ag_yaml_parse(src, strlen(src), "t.yaml", &d, err) == 0 && d->count > 0)
        ag_ynode_to_json(d->docs[0], "t.yaml", &j, err);
    ag_ydocs_free(d);
    return j;
}

static void test_core_schema(void)
{
    ag_error err = {0};
    json_t *j = parse1("a: true\nb: yes\nc: 12\nd: '12'\ne: ~\nf: 1.5\ng: 0x1f\nh: on\ni: 1e3\nj: \"\"\nk:\n", &err);
    CHECK(j != NULL);
    if (!j) return;
    CHECK(json_is_true(json_object_get(j, "a")));
    CHECK_STR(json_string_value(json_object_get(j, "b")), "yes");
    CHECK_INT(json_integer_value(json_object_get(j, "c")), 12);
    CHECK_STR(json_string_value(json_object_get(j, "d")), "12");
    CHECK(json_is_null(json_object_get(j, "e")));
    CHECK(json_is_real(json_object_get(j, "f")));
    CHECK_INT(json_integer_value(json_object_get(j, "g")), 31);
    CHECK_STR(json_string_value(json_object_get(j, "h")), "on");
    CHECK(json_is_real(json_object_get(j, "i")));
    CHECK_STR(json_string_value(json_object_get(j, "j")), "");
    CHECK(json_is_null(json_object_get(j, "k")));
    json_decref(j);
}

static void test_marks_and_errors(void)
{
    ag_error err = {0};
    ag_ydocs *d = NULL;
    const char *src = "a: 1\nb:\n  c: [1, 2\n";
    CHECK(ag_yaml_parse(src, strlen(src), "bad.yaml", &d, &err) != 0);
    CHECK_CONTAINS(err.msg, "bad.yaml:4:1:");
    CHECK(d == NULL);

    json_t *j = parse1("a: 1\nb:\n  x: 1\n  x: 2\n", &err);
    CHECK(j == NULL);
    CHECK_STR(err.msg, "t.yaml:4:3: duplicate key 'x'");

    src = "---\nk: v\n---\nspec:\n  deep: [a, b]\n";
    CHECK(ag_yaml_parse(src, strlen(src), "m.yaml", &d, &err) == 0);
    CHECK_INT(d->count, 2);
    const ag_ynode *spec = ag_ynode_get(d->docs[1], "spec");
    const ag_ynode *deep = ag_ynode_get(spec, "deep");
    CHECK(deep && deep->type == AG_YNODE_SEQ && deep->count == 2);
    CHECK_INT(deep->items[1]->line, 5);
    CHECK_INT(deep->items[1]->column, 13);
    ag_ydocs_free(d);
}

static void test_alias_bomb_bounded(void)
{
    /* a billion-laughs document must fail cleanly, not exhaust memory */
    const char *src =
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
    ag_error err = {0};
    json_t *j = parse1(src, &err);
    CHECK(j == NULL);
    CHECK_CONTAINS(err.msg, "too large");
}

static void test_load_object_file(void)
{
    ag_error err = {0};
    json_t *pod = NULL;
    CHECK(ag_load_object_file(agt_path("AG_SHARED", "conformance/psa/restricted/pass/base.yaml"),
                              &pod, &err) == 0);
    CHECK_STR(json_string_value(json_object_get(pod, "kind")), "Pod");
    json_decref(pod);
    CHECK(ag_load_object_file("/nonexistent/x.yaml", &pod, &err) != 0);
    CHECK_CONTAINS(err.msg, "/nonexistent/x.yaml: No such file");
}

int main(void)
{
    RUN(test_core_schema);
    RUN(test_marks_and_errors);
    RUN(test_alias_bomb_bounded);
    RUN(test_load_object_file);
    return agt_finish();
}
