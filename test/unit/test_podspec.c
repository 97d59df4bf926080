/* The pod carrier table: where each kind's pod specs are, whose metadata they carry, every
 * element of a list path, the single-container specs, JSON pointers, and the count past
 * the caller's array (which the decider turns into a denial of the whole object). */
#include "agtest.h"
#include "aimguard/podspec.h"

#include <stdlib.h>

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    return j;
}

static void test_template_metadata_is_the_templates(void)
{
    json_t *o = parse("{\"metadata\":{\"name\":\"lws\",\"annotations\":{\"owner\":\"x\"}},"
                      "\"spec\":{\"leaderWorkerTemplate\":{"
                      "\"leaderTemplate\":{\"metadata\":{\"annotations\":{\"a\":\"leader\"}},\"spec\":{\"containers\":[]}},"
                      "\"workerTemplate\":{\"metadata\":{\"annotations\":{\"a\":\"worker\"}},\"spec\":{\"containers\":[]}}}}}");
    ag_podspec_ref r[AG_PODSPEC_MAX];
    CHECK_INT(ag_podspec_find("leaderworkerset.x-k8s.io", "LeaderWorkerSet", o, r, AG_PODSPEC_MAX), 2);
    CHECK_STR(r[0].path, "spec.leaderWorkerTemplate.leaderTemplate.spec");
    CHECK_STR(r[0].ptr, "/spec/leaderWorkerTemplate/leaderTemplate/spec");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r[0].meta, "annotations"), "a")), "leader");
    CHECK_STR(json_string_value(json_object_get(json_object_get(r[1].meta, "annotations"), "a")), "worker");
    /* a kind of another group is not this carrier */
    CHECK_INT(ag_podspec_find("example.com", "LeaderWorkerSet", o, r, AG_PODSPEC_MAX), 0);
    json_decref(o);
}

static void test_list_paths_visit_every_element_with_its_index(void)
{
    json_t *o = parse("{\"metadata\":{\"name\":\"isvc\"},\"spec\":{"
                      "\"predictor\":{\"model\":{\"image\":\"m\"},\"workerSpec\":{\"containers\":[{\"name\":\"w\"}]}},"
                      "\"canary\":[{\"predictor\":{\"containers\":[{\"name\":\"c0\"}]}}, 7,"
                      "{\"predictor\":{\"pytorch\":{\"image\":\"p\"},\"workerSpec\":{}}}]}}");
    ag_podspec_ref r[AG_PODSPEC_MAX];
    size_t n = ag_podspec_find("serving.kserve.io", "InferenceService", o, r, AG_PODSPEC_MAX);
    CHECK_INT(n, 5);
    CHECK_STR(r[0].path, "spec.predictor");
    CHECK_STR(r[1].path, "spec.predictor.workerSpec");
    CHECK_STR(r[2].path, "spec.canary[0].predictor");
    CHECK_STR(r[3].path, "spec.canary[2].predictor");
    CHECK_STR(r[3].ptr, "/spec/canary/2/predictor");
    CHECK_STR(r[4].path, "spec.canary[2].predictor.workerSpec");
    /* the InferenceService's own metadata is the pods' */
    CHECK_STR(json_string_value(json_object_get(r[2].meta, "name")), "isvc");

    /* containers of the predictor: the lists, then the single-container specs */
    ag_container_iter it;
    ag_container_ref c;
    ag_container_iter_init(&it, &r[0]);
    CHECK(ag_container_next(&it, &c));
    CHECK_STR(ag_container_path(&c), "spec.predictor.model");
    CHECK_STR(c.single, "model");
    char ptr[256];
    ag_container_ptr(&r[0], &c, ptr, sizeof ptr);
    CHECK_STR(ptr, "/spec/predictor/model");
    CHECK(!ag_container_next(&it, &c));
    /* the worker spec has no single-container specs of its own */
    ag_container_iter_init(&it, &r[1]);
    CHECK(ag_container_next(&it, &c));
    CHECK_STR(ag_container_path(&c), "spec.predictor.workerSpec.containers[0]");
    CHECK(c.single == NULL);
    ag_container_ptr(&r[1], &c, ptr, sizeof ptr);
    CHECK_STR(ptr, "/spec/predictor/workerSpec/containers/0");
    CHECK(!ag_container_next(&it, &c));
    ag_container_iter_init(&it, &r[3]);
    CHECK(ag_container_next(&it, &c));
    CHECK_STR(ag_container_path(&c), "spec.canary[2].predictor.pytorch");
    json_decref(o);
}

static void test_container_lists_in_order_and_non_objects_skipped(void)
{
    json_t *o = parse("{\"spec\":{\"ephemeralContainers\":[{\"name\":\"e\"}],\"initContainers\":[\"x\",{\"name\":\"i\"}],"
                      "\"containers\":[{\"name\":\"a\"},null,{\"name\":\"b\"}]}}");
    ag_podspec_ref r[1];
    CHECK_INT(ag_podspec_find("", "Pod", o, r, 1), 1);
    const char *want[] = {"spec.containers[0]", "spec.containers[2]", "spec.initContainers[1]",
                          "spec.ephemeralContainers[0]"};
    const int lists[] = {0, 0, 1, 2};
    ag_container_iter it;
    ag_container_ref c;
    ag_container_iter_init(&it, &r[0]);
    for (int i = 0; i < 4; i++) {
        CHECK(ag_container_next(&it, &c));
        CHECK_STR(ag_container_path(&c), want[i]);
        CHECK_INT(c.list, lists[i]);
    }
    CHECK(!ag_container_next(&it, &c));
    json_decref(o);
}

static void test_the_count_goes_past_the_array(void)
{
    json_t *canary = json_array();
    for (int i = 0; i < 20; i++)
        json_array_append_new(canary, json_pack("{s:{s:[]}}", "predictor", "containers"));
    json_t *o = json_pack("{s:{s:{s:[]}, s:o}}", "spec", "predictor", "containers", "canary", canary);
    ag_podspec_ref r[AG_PODSPEC_MAX];
    CHECK_INT(ag_podspec_find("serving.kserve.io", "InferenceService", o, r, AG_PODSPEC_MAX), 21);
    CHECK_STR(r[AG_PODSPEC_MAX - 1].path, "spec.canary[14].predictor");
    json_decref(o);
}

static void test_every_row_has_places_and_a_resource(void)
{
    const ag_carrier_info *c;
    size_t i;
    for (i = 0; (c = ag_podspec_carrier(i)); i++) {
        ag_carrier_path p[32];
        CHECK(ag_podspec_carrier_paths(i, p, 32) >= 1);
        CHECK(c->resource && *c->resource);
        CHECK(ag_podspec_is_carrier(c->group, c->kind));
    }
    CHECK_INT(i, 15);
    CHECK(!ag_podspec_is_carrier("", "Service"));
    CHECK(!ag_podspec_is_carrier("apps", "Pod"));
}

int main(void)
{
    RUN(test_template_metadata_is_the_templates);
    RUN(test_list_paths_visit_every_element_with_its_index);
    RUN(test_container_lists_in_order_and_non_objects_skipped);
    RUN(test_the_count_goes_past_the_array);
    RUN(test_every_row_has_places_and_a_resource);
    return agt_finish();
}
