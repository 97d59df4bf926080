/* The decision types' life cycle (aimguard/decision.h). Warnings and annotations quote
 * the object's values, so their text is made valid UTF-8 here, once. */
#include "aimguard/decision.h"
#include "aimguard/error.h"
#include "aimguard/jsonarena.h"
#include "aimguard/jsonio.h"

#include <stdlib.h>
#include <string.h>

void ag_request_clear(ag_request *req)
{
    if (!req)
        return;
    json_decref(req->review);
    ag_json_arena_release(req->arena); /* after every value it holds */
    memset(req, 0, sizeof *req);
}

/* as admission/review.c reads the object: what no policy reads is not built */
static const char *const o_mf[] = {AG_BOOKKEEPING_MANAGED_FIELDS, NULL};
static const char *const o_st[] = {AG_BOOKKEEPING_STATUS, NULL};
static const char *const o_la[] = {AG_BOOKKEEPING_LAST_APPLIED, NULL};
static const ag_json_prune old_bookkeeping[] = {
    {o_mf, AG_JSON_DROP}, {o_st, AG_JSON_DROP}, {o_la, AG_JSON_BLANK},
};

json_t *ag_request_old_object(const ag_request *req, ag_error *err)
{
    if (!req->old_deferred)
        return json_incref(req->old_object);
    ag_json_read_error jerr;
    /* the whole body was read within the webhook's depth limit: these bytes are within it */
    int fill = req->arena && ag_json_arena_fill(req->arena) == 0;
    json_t *old = ag_json_read(req->raw + req->old_off, req->old_len, 1 << 20, old_bookkeeping,
                               sizeof old_bookkeeping / sizeof old_bookkeeping[0], &jerr);
    if (fill)
        ag_json_arena_stop(req->arena);
    if (!old) /* the reader accepted these bytes once: only memory can fail now */
        ag_error_set(err, AG_ENOMEM, "reading the old object: %s", jerr.text);
    return old;
}

void ag_decision_init(ag_decision *d)
{
    memset(d, 0, sizeof *d);
    d->allowed = 1;
    d->code = 200;
}

void ag_decision_clear(ag_decision *d)
{
    if (!d)
        return;
    free(d->message);
    json_decref(d->patch);
    free(d->patch_text);
    json_decref(d->warnings);
    json_decref(d->audit);
    json_decref(d->object_after);
    json_decref(d->results);
    free(d->findings);
    memset(d, 0, sizeof *d);
}

/* A JSON string of text for a response. Messages quote the object's values and cut
 * them to fixed buffers, which can split a multi-byte character; jansson refuses
 * invalid UTF-8 (json_string returns NULL), which silently dropped the denial's status
 * (a 403 with no reason), a warning or an audit annotation. Each invalid byte becomes
 * U+FFFD. */
json_t *ag_decision_text(const char *text)
{
    if (!text)
        text = "";
    json_t *j = json_string(text);
    if (j)
        return j;
    size_t len = strlen(text);
    char *clean = malloc(3 * len + 1);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t n = ag_utf8_seq(p);
        if (n) {
            memcpy(clean + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    clean[o] = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

void ag_decision_warn(ag_decision *d, const char *text)
{
    if (!d->warnings)
        d->warnings = json_array();
    if (d->warnings)
        json_array_append_new(d->warnings, ag_decision_text(text));
}

void ag_decision_annotate(ag_decision *d, const char *key, const char *value)
{
    if (!d->audit)
        d->audit = json_object();
    if (d->audit)
        json_object_set_new(d->audit, key, ag_decision_text(value));
}

