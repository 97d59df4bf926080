/* libFuzzer target: AdmissionReview bytes -> decode -> decide (mutate, validate, both)
 * with the default policies and PSS restricted -> response JSON.
 * Properties checked on every input that decodes:
 *   - a response is always produced, with the request's uid;
 *   - applying the mutation patch to the object gives exactly the object the mutators
 *     produced (the patch is complete and its paths are right);
 *   - mutation is idempotent: mutating the mutated object yields no patch;
 *   - mutation never makes an object worse: every [policy, rule] the validators report on
 *     the mutated object was already reported on the original (the patch only removes
 *     violations; objects that only lacked defaults pass — see the conformance tests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/admission.h"
#include "aimguard/policy.h"

static ag_policy_set *policies;

/* 1 when every "[policy P, rule R]" of after also appears in before */
static int rules_subset(const char *after, const char *before)
{
    const char *p = after;
    while (p && (p = strstr(p, "[policy "))) {
        const char *end = strchr(p, ']');
        if (!end)
            break;
        char tag[400];
        size_t n = (size_t)(end - p + 1);
        if (n >= sizeof tag)
            n = sizeof tag - 1;
        memcpy(tag, p, n);
        tag[n] = '\0';
        if (!before || !strstr(before, tag))
            return 0;
        p = end;
    }
    return 1;
}

static char *validate_message(json_t *object, const ag_request *like)
{
    ag_request r;
    ag_error err = {0};
    char *msg = NULL;
    /* the denial's header repeats the object's name, which the fuzzer can fill with text
     * that looks like "[policy ..., rule ...]": judge a copy with a plain name */
    json_t *copy = json_deep_copy(object);
    json_t *meta = json_object_get(copy, "metadata");
    if (json_is_object(meta)) {
        json_object_set_new(meta, "name", json_string("x"));
        json_object_del(meta, "generateName");
    }
    int rc = ag_request_synthesize(&r, copy, NULL, "CREATE", "x", like->username, NULL, 0, &err);
    json_decref(copy);
    if (rc)
        return NULL;
    ag_decision d;
    if (ag_decide(policies, &r, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err) == 0 && d.message)
        msg = strdup(d.message);
    ag_decision_clear(&d);
    ag_request_clear(&r);
    return msg ? msg : strdup("");
}

static ag_policy_set *load(void)
{
    const char *src = getenv("AG_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/policies/default", src ? src : ".");
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    ag_policy_set *set = NULL;
    if (ag_policy_load(path, &o, &set, &d, &err)) {
        fprintf(stderr, "fuzz_review: cannot load %s (set AG_SRC): %s\n", path, err.msg);
        abort();
    }
    return set;
}

/* Applies RFC 6902 "add" operations (the only op aimguard emits); 0 on success. */
static int unescape(char *seg)
{
    char *o = seg;
    for (char *p = seg; *p; p++) {
        if (*p == '~') {
            if (p[1] == '0') *o++ = '~';
            else if (p[1] == '1') *o++ = '/';
            else return -1;
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return 0;
}

static int apply_add(json_t *doc, const char *path, json_t *value)
{
    char buf[2048];
    if (strlen(path) >= sizeof buf || path[0] != '/')
        return -1;
    strcpy(buf, path + 1);
    json_t *cur = doc;
    char *seg = buf;
    for (;;) {
        char *slash = strchr(seg, '/');
        if (slash)
            *slash = '\0';
        if (unescape(seg))
            return -1;
        if (!slash) {
            if (json_is_object(cur))
                return json_object_set(cur, seg, value);
            if (json_is_array(cur) && !strcmp(seg, "-"))
                return json_array_append(cur, value);
            return -1;
        }
        cur = json_is_object(cur) ? json_object_get(cur, seg)
              : json_is_array(cur) ? json_array_get(cur, strtoul(seg, NULL, 10)) : NULL;
        if (!cur)
            return -1;
        seg = slash + 1;
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!policies)
        policies = load();
    ag_request req;
    ag_error err = {0};
    if (ag_request_decode((const char *)data, size, &req, &err))
        return 0;
    static const ag_mode modes[] = {AG_MODE_MUTATE, AG_MODE_VALIDATE, AG_MODE_BOTH};
    for (int m = 0; m < 3; m++) {
        ag_decision d;
        if (ag_decide(policies, &req, NULL, modes[m], (time_t)1800000000, &d, &err) == 0) {
            json_t *resp = ag_review_response(&req, &d);
            if (!resp || strcmp(json_string_value(json_object_get(json_object_get(resp, "response"), "uid")), req.uid))
                abort();
            char *text = json_dumps(resp, JSON_COMPACT);
            free(text);
            json_decref(resp);
            if (modes[m] == AG_MODE_MUTATE && d.patch && req.object) {
                json_t *copy = json_deep_copy(req.object);
                size_t i;
                json_t *op;
                json_array_foreach(d.patch, i, op) {
                    if (apply_add(copy, json_string_value(json_object_get(op, "path")),
                                  json_object_get(op, "value")))
                        abort(); /* the patch does not apply to the object it was made for */
                }
                if (!json_equal(copy, d.object_after))
                    abort(); /* the patch does not reproduce the mutated object */
                json_decref(copy);
                if (!strcmp(req.operation, "CREATE")) {
                    char *before = validate_message(req.object, &req);
                    char *after = validate_message(d.object_after, &req);
                    if (before && after && !rules_subset(after, before))
                        abort(); /* the mutation introduced a violation */
                    free(before);
                    free(after);
                }
                /* idempotence */
                ag_request again;
                if (ag_request_synthesize(&again, d.object_after, NULL, req.operation, req.namespace_,
                                          req.username, NULL, 0, &err) == 0) {
                    ag_decision d2;
                    if (!strcmp(req.operation, "CREATE") &&
                        ag_decide(policies, &again, NULL, AG_MODE_MUTATE, (time_t)1800000000, &d2, &err) == 0) {
                        if (d2.patch && json_array_size(d2.patch))
                            abort(); /* a second mutation changed something */
                    }
                    if (!strcmp(req.operation, "CREATE"))
                        ag_decision_clear(&d2);
                    ag_request_clear(&again);
                }
            }
        }
        ag_decision_clear(&d);
    }
    ag_request_clear(&req);
    return 0;
}
