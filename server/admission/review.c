#include "aimguard/admission.h"
#include "aimguard/buf.h"
#include "aimguard/jsonarena.h"
#include "aimguard/jsonio.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *str_at(json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

/* What a review carries that no decision reads, unless a loaded policy says it does
 * (ag_policy_set_reads_bookkeeping): the objects' managedFields, status and
 * last-applied-configuration value are most of a real object (docs/performance.md). The
 * reader still checks them (syntax, UTF-8, duplicate keys, depth); it does not build
 * them. The annotation keeps its key, so a rule on which annotations exist sees it. */
static const char *const p_obj_mf[] = {"request", "object", AG_BOOKKEEPING_MANAGED_FIELDS, NULL};
static const char *const p_obj_st[] = {"request", "object", AG_BOOKKEEPING_STATUS, NULL};
static const char *const p_obj_la[] = {"request", "object", AG_BOOKKEEPING_LAST_APPLIED, NULL};
/* The old object is not built at all: the reader reports where its bytes are (and the
 * object's), and it is built, pruned the same way, only when a decision needs it
 * (ag_request_old_object; an UPDATE whose pod specs are the same bytes needs none). */
static const char *const p_old[] = {"request", "oldObject", NULL};
static const char *const p_obj[] = {"request", "object", NULL};
enum { SPAN_OLD = 3, SPAN_OBJ = 4 };
static const ag_json_prune bookkeeping[] = {
    {p_obj_mf, AG_JSON_DROP}, {p_obj_st, AG_JSON_DROP}, {p_obj_la, AG_JSON_BLANK}, {p_old, AG_JSON_DROP},
    {p_obj, AG_JSON_SPAN},
};

/* After a pruned read: 0, or -1 when the old object is neither an object nor null */
static int defer_old(const char *body, size_t len, const size_t *spans, ag_request *req)
{
    size_t off = spans[2 * SPAN_OLD], n = spans[2 * SPAN_OLD + 1];
    if (n == 0 || body[off] == 'n')
        return 0;
    if (body[off] != '{')
        return -1;
    req->raw = body;
    req->raw_len = len;
    req->old_off = off;
    req->old_len = n;
    req->old_deferred = 1;
    if (spans[2 * SPAN_OBJ + 1] && body[spans[2 * SPAN_OBJ]] == '{') {
        req->obj_off = spans[2 * SPAN_OBJ];
        req->obj_len = spans[2 * SPAN_OBJ + 1];
    }
    return 0;
}

int ag_request_decode(const char *body, size_t len, unsigned flags, ag_request *req, ag_error *err)
{
    memset(req, 0, sizeof *req);
    ag_json_read_error jerr;
    int prune = (flags & AG_DECODE_PRUNE_BOOKKEEPING) != 0;
    size_t spans[2 * sizeof bookkeeping / sizeof bookkeeping[0]];
    if (flags & AG_DECODE_ARENA) {
        /* the first chunk: four times the text's bytes (a real review's values take 2.4
         * times, a pod of 2,000 env variables 6 times: docs/json.md) */
        req->arena = ag_json_arena_open(len <= SIZE_MAX / 4 ? len * 4 : len);
        if (!req->arena)
            return ag_error_set(err, AG_ENOMEM, "out of memory");
        ag_json_arena_fill(req->arena);
    }
    json_t *root = ag_json_read_spans(body, len, AG_MAX_JSON_DEPTH, prune ? bookkeeping : NULL,
                                      prune ? sizeof bookkeeping / sizeof bookkeeping[0] : 0, spans, &jerr);
    ag_json_arena_stop(req->arena);
    int deferred = root && prune ? defer_old(body, len, spans, req) : 0;
    if (!root) {
        ag_json_arena_release(req->arena);
        req->arena = NULL;
        if (jerr.too_deep)
            return ag_error_set(err, AG_EINVAL, "request body nests deeper than %d levels",
                                AG_MAX_JSON_DEPTH);
        if (jerr.out_of_memory) /* not the client's fault: a 500 (admission/flow.c) */
            return ag_error_set(err, AG_ENOMEM, "out of memory reading the body");
        /* the reader's text never quotes the body: it may be anything the client sent
         * (a token, a key), and this message is logged and echoed */
        return ag_error_set(err, AG_EINVAL, "malformed JSON at line %d column %d: %s", jerr.line,
                            jerr.column, jerr.text);
    }
    req->review = root;
    if (!json_is_object(root)) {
        ag_error_set(err, AG_EINVAL, "body is not a JSON object");
        goto fail;
    }
    const char *api = str_at(root, "apiVersion", NULL), *kind = str_at(root, "kind", NULL);
    if (!api || strcmp(api, "admission.k8s.io/v1") != 0) {
        ag_error_set(err, AG_EINVAL, "apiVersion must be admission.k8s.io/v1");
        goto fail;
    }
    if (!kind || strcmp(kind, "AdmissionReview") != 0) {
        ag_error_set(err, AG_EINVAL, "kind must be AdmissionReview");
        goto fail;
    }
    json_t *r = json_object_get(root, "request");
    if (!json_is_object(r)) {
        ag_error_set(err, AG_EINVAL, "request is missing or not an object");
        goto fail;
    }
    req->uid = str_at(r, "uid", NULL);
    if (!req->uid || !*req->uid) {
        ag_error_set(err, AG_EINVAL, "request.uid is missing");
        goto fail;
    }
    json_t *k = json_object_get(r, "kind");
    if (!json_is_object(k) || !json_is_string(json_object_get(k, "kind"))) {
        ag_error_set(err, AG_EINVAL, "request.kind is missing");
        goto fail;
    }
    req->group = str_at(k, "group", "");
    req->version = str_at(k, "version", "");
    req->kind = str_at(k, "kind", "");
    json_t *res = json_object_get(r, "resource");
    req->resource = str_at(res, "resource", "");
    req->subresource = str_at(r, "subResource", "");
    req->name = str_at(r, "name", "");
    req->namespace_ = str_at(r, "namespace", "");
    req->operation = str_at(r, "operation", NULL);
    if (!req->operation || (strcmp(req->operation, "CREATE") && strcmp(req->operation, "UPDATE") &&
                            strcmp(req->operation, "DELETE") && strcmp(req->operation, "CONNECT"))) {
        ag_error_set(err, AG_EINVAL, "request.operation must be CREATE, UPDATE, DELETE or CONNECT");
        goto fail;
    }
    json_t *ui = json_object_get(r, "userInfo");
    req->username = str_at(ui, "username", "");
    req->groups = json_object_get(ui, "groups");
    if (!json_is_array(req->groups)) {
        json_object_set_new(r, "_agGroups", json_array());
        req->groups = json_object_get(r, "_agGroups");
    }
    json_t *obj = json_object_get(r, "object"), *old = json_object_get(r, "oldObject");
    req->object = json_is_object(obj) ? obj : NULL;
    req->old_object = json_is_object(old) ? old : NULL;
    if ((obj && !json_is_null(obj) && !req->object) || (old && !json_is_null(old) && !req->old_object) ||
        deferred < 0) {
        ag_error_set(err, AG_EINVAL, "request.object and request.oldObject must be objects or null");
        goto fail;
    }
    if ((!strcmp(req->operation, "CREATE") || !strcmp(req->operation, "UPDATE")) && !req->object) {
        ag_error_set(err, AG_EINVAL, "request.object is required for %s", req->operation);
        goto fail;
    }
    req->dry_run = json_is_true(json_object_get(r, "dryRun"));
    return 0;
fail:
    json_decref(root);
    ag_json_arena_release(req->arena);
    memset(req, 0, sizeof *req);
    return AG_EINVAL;
}

static const char *meta_str(json_t *obj, const char *key)
{
    return str_at(json_object_get(obj, "metadata"), key, "");
}

int ag_request_synthesize(ag_request *req, json_t *object, json_t *old_object,
                          const char *operation, const char *namespace_,
                          const char *username, const char *const *groups, size_t ngroups,
                          ag_error *err)
{
    memset(req, 0, sizeof *req);
    json_t *src = object ? object : old_object;
    if (!src)
        return ag_error_set(err, AG_EINVAL, "no object to evaluate");
    const char *api = str_at(src, "apiVersion", ""), *kind = str_at(src, "kind", "");
    if (!*api || !*kind)
        return ag_error_set(err, AG_EINVAL, "the object has no apiVersion or kind");
    const char *slash = strchr(api, '/');
    json_t *garr = json_array();
    for (size_t i = 0; garr && i < ngroups; i++)
        json_array_append_new(garr, json_string(groups[i]));
    const char *ns = namespace_ && *namespace_ ? namespace_ : meta_str(src, "namespace");
    json_t *root = json_pack(
        "{s:s, s:s, s:{s:s, s:{s:s%, s:s, s:s}, s:{s:s%, s:s, s:s}, s:s, s:s, s:s, s:s,"
        " s:{s:s, s:o}, s:O?, s:O?, s:b}}",
        "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid",
        "00000000-0000-0000-0000-000000000000", "kind", "group", api,
        (size_t)(slash ? (size_t)(slash - api) : 0), "version", slash ? slash + 1 : api,
        "kind", kind, "resource", "group", api, (size_t)(slash ? (size_t)(slash - api) : 0),
        "version", slash ? slash + 1 : api, "resource", "", "subResource", "", "name",
        meta_str(src, "name"), "namespace", ns, "operation", operation, "userInfo",
        "username", username ? username : "", "groups", garr ? garr : json_array(),
        "object", object, "oldObject", old_object, "dryRun", 0);
    if (!root)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    int rc = ag_request_decode(text, strlen(text), 0, req, err);
    free(text);
    return rc;
}

/* base64 of s (the patch, as the API server expects for patchType JSONPatch): whole
 * 3-byte groups in a loop without branches, through a stack chunk, then the tail */
static void base64(ag_buf *out, const char *s, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[1024];
    size_t o = 0, i = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (unsigned)u[i + 1] << 8 | u[i + 2];
        chunk[o] = tbl[v >> 18];
        chunk[o + 1] = tbl[(v >> 12) & 63];
        chunk[o + 2] = tbl[(v >> 6) & 63];
        chunk[o + 3] = tbl[v & 63];
        if ((o += 4) == sizeof chunk) {
            ag_buf_addn(out, chunk, o);
            o = 0;
        }
    }
    if (i < n) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < n ? (unsigned)u[i + 1] << 8 : 0);
        chunk[o] = tbl[v >> 18];
        chunk[o + 1] = tbl[(v >> 12) & 63];
        chunk[o + 2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        chunk[o + 3] = '=';
        o += 4;
    }
    ag_buf_addn(out, chunk, o);
}

json_t *ag_review_response(const ag_request *req, const ag_decision *d)
{
    json_t *resp = json_pack("{s:s, s:b}", "uid", req->uid ? req->uid : "", "allowed",
                             d->allowed);
    if (!resp)
        return NULL;
    /* without memory for the status, the denial still goes out (allowed: false): no
     * response at all would leave the outcome to the webhook's failurePolicy */
    if (!d->allowed)
        json_object_set_new(resp, "status",
                            json_pack("{s:i, s:s, s:o}", "code", d->code ? d->code : 403,
                                      "reason", "Forbidden", "message",
                                      ag_decision_text(d->message ? d->message : "denied by policy")));
    if (d->patch_ops && d->allowed) {
        /* jansson's own dump: this builder is what ag_review_response_write is held to */
        char *p = d->patch ? json_dumps(d->patch, JSON_COMPACT) : strdup(d->patch_text);
        ag_buf b = {0};
        if (p)
            base64(&b, p, strlen(p));
        if (p && !b.oom) {
            json_object_set_new(resp, "patchType", json_string("JSONPatch"));
            json_object_set_new(resp, "patch", json_stringn(b.p, b.len));
        }
        ag_buf_clear(&b);
        free(p);
    }
    if (d->warnings && json_array_size(d->warnings) > 0)
        json_object_set(resp, "warnings", d->warnings);
    if (d->audit && json_object_size(d->audit) > 0)
        json_object_set(resp, "auditAnnotations", d->audit);
    return json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                     "AdmissionReview", "response", resp);
}

/* The same answer as json_dumps(ag_review_response(req, d), JSON_COMPACT), byte for byte
 * (test_review_io and fuzz_review compare them), written straight into one buffer:
 * the webhook's answer without building a second document. */
int ag_review_response_write(const ag_request *req, const ag_decision *d, ag_buf *out)
{
    ag_buf_add(out, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":{\"uid\":");
    const char *uid = req->uid ? req->uid : "";
    ag_json_write_string(out, uid, strlen(uid));
    ag_buf_add(out, d->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
    if (!d->allowed) {
        ag_buf_printf(out, ",\"status\":{\"code\":%d,\"reason\":\"Forbidden\",\"message\":", d->code ? d->code : 403);
        ag_json_write_text(out, d->message ? d->message : "denied by policy");
        ag_buf_add(out, "}");
    }
    if (d->patch_ops && d->allowed) {
        /* the text the mutators recorded: the same bytes as jansson's dump of the ops */
        ag_buf_add(out, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
        base64(out, d->patch_text, d->patch_len);
        ag_buf_add(out, "\"");
    }
    if (d->warnings && json_array_size(d->warnings) > 0) {
        ag_buf_add(out, ",\"warnings\":");
        ag_json_write(out, d->warnings);
    }
    if (d->audit && json_object_size(d->audit) > 0) {
        ag_buf_add(out, ",\"auditAnnotations\":");
        ag_json_write(out, d->audit);
    }
    ag_buf_add(out, "}}");
    return out->oom ? -1 : 0;
}
