/* libFuzzer target: AdmissionReview bytes -> the admission flow the webhook runs
 * (ag_admission_handle: decode -> decide -> encode; mutate, validate, both) with the
 * default policies and PSS restricted -> response JSON.
 * Properties checked on every input that decodes:
 *   - a response is always produced, with the request's uid, and a denial has a message;
 *   - the answer is the same, byte for byte, when the review is read as the server reads
 *     it (AG_DECODE_PRUNE_BOOKKEEPING: managedFields, status and the last-applied value
 *     left out), and it is jansson's dump of ag_review_response();
 *   - applying the mutation patch to the object gives exactly the object the mutators
 *     produced (the patch is complete and its paths are right);
 *   - mutation is idempotent: mutating the mutated object yields no patch;
 *   - mutation never makes an object worse: every [policy, rule] the validators report on
 *     the mutated object was already reported on the original (the patch only removes
 *     violations; objects that only lacked defaults pass — see the conformance tests).
 *     The [policy, rule] pairs are read from a second copy of the policies loaded with
 *     every enforce turned into warn, one warning per violation, each starting with its
 *     tag: a denial message joins the violations and echoes the object's values
 *     (capability names, container names, images...), in which the fuzzer writes text
 *     that looks like a tag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aimguard/admission.h"
#include "aimguard/policy.h"

static ag_policy_set *policies;
static ag_policy_set *judges; /* the same policies, enforce -> warn */

/* 1 when every line of after also is a line of before (both "\n"-terminated) */
static int rules_subset(const char *after, const char *before)
{
    for (const char *p = after; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p + 1);
        int found = 0;
        for (const char *q = before; *q && !found;) {
            const char *qn = strchr(q, '\n');
            found = (size_t)(qn - q + 1) == n && !memcmp(p, q, n);
            q = qn + 1;
        }
        if (!found)
            return 0;
        p = nl + 1;
    }
    return 1;
}

/* appends "[policy P, rule R]\n" when text starts with a violation's tag (the tag is
 * the policy's own text; it ends at the first ']') */
static void add_tag(char **tags, size_t *len, const char *text)
{
    if (!text || strncmp(text, "[policy ", 8))
        return;
    const char *end = strchr(text, ']');
    if (!end)
        abort(); /* describe() always closes the tag */
    size_t n = (size_t)(end - text + 1);
    char *t = realloc(*tags, *len + n + 2);
    if (!t)
        abort();
    memcpy(t + *len, text, n);
    *len += n;
    t[(*len)++] = '\n';
    t[*len] = '\0';
    *tags = t;
}

/* The [policy, rule] tags the validators report on object, one per line; NULL when
 * the object cannot be judged. */
static char *validate_tags(json_t *object, const ag_request *like)
{
    ag_request r;
    ag_error err = {0};
    char *tags = strdup("");
    size_t len = 0;
    if (!tags)
        abort();
    if (ag_request_synthesize(&r, object, NULL, "CREATE", "x", like->username, NULL, 0,
                              &err)) {
        free(tags);
        return NULL;
    }
    ag_decision d;
    if (ag_decide(judges, &r, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err) == 0) {
        if (!d.allowed)
            abort(); /* nothing enforces in judges */
        size_t i;
        json_t *w;
        json_array_foreach(d.warnings, i, w)
            add_tag(&tags, &len, json_string_value(w));
        const char *key;
        json_object_foreach(d.audit, key, w)
            add_tag(&tags, &len, json_string_value(w));
    } else {
        free(tags);
        tags = NULL;
    }
    ag_decision_clear(&d);
    ag_request_clear(&r);
    return tags;
}

static ag_policy_set *load(int action_override)
{
    const char *src = getenv("AG_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/policies/default", src ? src : ".");
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, action_override};
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
            /* copies: a later op that adds inside this value must not change the patch */
            if (json_is_object(cur))
                return json_object_set_new(cur, seg, json_deep_copy(value));
            if (json_is_array(cur) && !strcmp(seg, "-"))
                return json_array_append_new(cur, json_deep_copy(value));
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
    if (!policies) {
        policies = load(-1);
        judges = load(AG_ACTION_WARN);
    }
    ag_error err = {0};
    static const ag_mode modes[] = {AG_MODE_MUTATE, AG_MODE_VALIDATE, AG_MODE_BOTH};
    for (int m = 0; m < 3; m++) {
        /* the flow the webhook runs: decode -> decide -> encode */
        ag_admission_options opt = {modes[m], (time_t)1800000000, 0, 0, JSON_COMPACT, 0, 0};
        ag_admission_result res;
        int rc = ag_admission_handle(policies, NULL, &opt, (const char *)data, size, &res);
        /* the server's reading leaves the bookkeeping out (the default policies do not
         * read it) and reads into an arena: the answer must be the same, byte for byte,
         * and so must its status */
        ag_admission_options popt = opt;
        popt.prune = 1;
        popt.arena = 1; /* and into the per-request arena, as the server reads */
        ag_admission_result pres;
        int prc = ag_admission_handle(policies, NULL, &popt, (const char *)data, size, &pres);
        if (prc != rc || pres.status != res.status || pres.decoded != res.decoded || pres.len != res.len ||
            (res.body && memcmp(pres.body, res.body, res.len)))
            abort(); /* pruning changed an answer */
        ag_admission_result_clear(&pres);
        if (!res.decoded) {
            if (res.status != 400 || !res.body || rc == 0)
                abort(); /* a body that does not decode is a 400 that says why */
            ag_admission_result_clear(&res);
            return 0;
        }
        if (res.status == 200) {
            /* the answer written straight into a buffer is jansson's dump of the response */
            json_t *resp = ag_review_response(&res.req, &res.decision);
            char *want = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
            if (want && (strlen(want) != res.len || memcmp(want, res.body, res.len)))
                abort();
            free(want);
            json_decref(resp);
        }
        const ag_request *req = &res.req;
        const ag_decision *d = &res.decision;
        if (rc == 0) {
            /* the bytes sent: a response with the request's uid; a denial says why (its
             * message quotes the object's values) */
            json_t *resp = res.status == 200 ? json_loadb(res.body, res.len, 0, NULL) : NULL;
            json_t *r = json_object_get(resp, "response");
            const char *uid = json_string_value(json_object_get(r, "uid"));
            if (!uid || strcmp(uid, req->uid))
                abort();
            if (!d->allowed && !json_is_string(json_object_get(json_object_get(r, "status"), "message")))
                abort();
            json_decref(resp);
            if (modes[m] == AG_MODE_MUTATE && d->patch && req->object) {
                json_t *copy = json_deep_copy(req->object);
                size_t i;
                json_t *op;
                json_array_foreach(d->patch, i, op) {
                    if (apply_add(copy, json_string_value(json_object_get(op, "path")),
                                  json_object_get(op, "value")))
                        abort(); /* the patch does not apply to the object it was made for */
                }
                if (!json_equal(copy, d->object_after))
                    abort(); /* the patch does not reproduce the mutated object */
                json_decref(copy);
                if (!strcmp(req->operation, "CREATE")) {
                    char *before = validate_tags(req->object, req);
                    char *after = validate_tags(d->object_after, req);
                    if (before && after && !rules_subset(after, before))
                        abort(); /* the mutation introduced a violation */
                    free(before);
                    free(after);
                }
                /* idempotence */
                ag_request again;
                if (ag_request_synthesize(&again, d->object_after, NULL, req->operation, req->namespace_,
                                          req->username, NULL, 0, &err) == 0) {
                    ag_decision d2;
                    if (!strcmp(req->operation, "CREATE") &&
                        ag_decide(policies, &again, NULL, AG_MODE_MUTATE, (time_t)1800000000, &d2, &err) == 0) {
                        if (d2.patch && json_array_size(d2.patch))
                            abort(); /* a second mutation changed something */
                    }
                    if (!strcmp(req->operation, "CREATE"))
                        ag_decision_clear(&d2);
                    ag_request_clear(&again);
                }
            }
        } else if (res.status == 200 && d->allowed) {
            abort(); /* an evaluation failure must be a denial */
        }
        ag_admission_result_clear(&res);
    }
    return 0;
}
