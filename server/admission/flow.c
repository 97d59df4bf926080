/* The admission flow: decode -> decide -> encode, the one sequence the webhook route,
 * `aimguard eval`, the OOM test and the fuzzer share, so that what is tested and fuzzed
 * is what serves. Each phase fills the result; a phase that fails leaves the status and
 * body the caller must answer with, so no caller has its own error path to get wrong. */
#include "aimguard/admission.h"
#include "aimguard/buf.h"
#include "aimguard/policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_TYPE "text/plain; charset=utf-8"

const char *ag_outcome_name(ag_outcome o)
{
    static const char *const names[] = {"allowed", "patched", "warned", "denied", "error"};
    return (unsigned)o <= AG_OUTCOME_ERROR ? names[o] : "error";
}

/* A one-line text answer; without memory the body stays NULL and the caller answers
 * with a fixed "out of memory". */
static void text_answer(ag_admission_result *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text_answer(ag_admission_result *res, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *buf = NULL;
    int n = vasprintf(&buf, fmt, ap);
    va_end(ap);
    free(res->body);
    res->body = n < 0 ? NULL : buf;
    res->len = n < 0 ? 0 : (size_t)n;
    res->status = n < 0 ? 500 : status;
    res->content_type = TEXT_TYPE;
    res->outcome = AG_OUTCOME_ERROR;
}

static int phase_decode(ag_admission_result *res, const char *body, size_t len, unsigned flags)
{
    if (len == 0) {
        ag_error_set(&res->err, AG_EINVAL, "empty body");
        text_answer(res, 400, "bad AdmissionReview: empty body\n");
        return res->err.code;
    }
    if (ag_request_decode(body, len, flags, &res->req, &res->err)) {
        if (res->err.code == AG_ENOMEM) /* not the client's fault */
            text_answer(res, 500, "cannot read the AdmissionReview: %s\n", res->err.msg);
        else
            text_answer(res, 400, "bad AdmissionReview: %s\n", res->err.msg);
        return res->err.code ? res->err.code : AG_EINVAL;
    }
    res->decoded = 1;
    return 0;
}

static ag_outcome outcome_of(const ag_decision *d)
{
    return !d->allowed ? AG_OUTCOME_DENIED
           : d->patch_ops ? AG_OUTCOME_PATCHED
           : json_array_size(d->warnings) ? AG_OUTCOME_WARNED : AG_OUTCOME_ALLOWED;
}

/* 0 decided; a negative code when ag_decide failed: the decision is then a denial
 * that says so (never lose a decision), still answered with 200. */
static int phase_decide(ag_admission_result *res, const ag_policy_set *set, const ag_view *view,
                        const ag_admission_options *opt)
{
    res->req.consumable = opt->consumable;
    res->decided = 1;
    res->generation = ag_policy_set_generation(set);
    if (ag_decide(set, &res->req, view, (ag_mode)opt->mode, opt->now, &res->decision, &res->err) == 0) {
        res->outcome = outcome_of(&res->decision);
        return 0;
    }
    if (!res->err.code)
        res->err.code = AG_ERR;
    ag_decision_clear(&res->decision);
    ag_decision_init(&res->decision);
    res->decision.allowed = 0;
    res->decision.code = 500;
    if (asprintf(&res->decision.message, "aimguard could not evaluate this request: %s", res->err.msg) < 0)
        res->decision.message = NULL;
    res->outcome = AG_OUTCOME_ERROR;
    return res->err.code;
}

static int phase_encode(ag_admission_result *res, const ag_admission_options *opt)
{
    char *out = NULL;
    if (opt->json_flags == JSON_COMPACT) {
        /* the wire's form, written straight into one buffer */
        ag_buf b = {0};
        if (ag_review_response_write(&res->req, &res->decision, &b) == 0)
            out = ag_buf_take(&b);
        ag_buf_clear(&b);
    } else {
        json_t *resp = ag_review_response(&res->req, &res->decision);
        out = resp ? json_dumps(resp, opt->json_flags) : NULL;
        json_decref(resp);
    }
    if (!out) {
        int code = ag_error_set(&res->err, AG_ENOMEM, "out of memory");
        text_answer(res, 500, "out of memory\n");
        return code;
    }
    res->status = 200;
    res->content_type = "application/json";
    res->body = out;
    res->len = strlen(out);
    return 0;
}

static void result_init(ag_admission_result *res)
{
    memset(res, 0, sizeof *res);
    res->status = 500;
    res->content_type = TEXT_TYPE;
    res->outcome = AG_OUTCOME_ERROR;
}

static int decide_and_encode(const ag_policy_set *set, const ag_view *view, const ag_admission_options *opt,
                             ag_admission_result *res)
{
    if (!set) {
        int code = ag_error_set(&res->err, AG_ERR, "no valid policies are loaded");
        text_answer(res, 503, "no valid policies are loaded\n");
        return code;
    }
    int rc = phase_decide(res, set, view, opt);
    if (opt->no_body) {
        res->status = 200;
        return rc;
    }
    int erc = phase_encode(res, opt);
    return rc ? rc : erc;
}

int ag_admission_handle(const ag_policy_set *set, const struct ag_view *view,
                        const ag_admission_options *opt, const char *body, size_t len,
                        ag_admission_result *res)
{
    result_init(res);
    unsigned flags = (opt->prune && set && !ag_policy_set_reads_bookkeeping(set) ? AG_DECODE_PRUNE_BOOKKEEPING : 0) |
                     (opt->arena ? AG_DECODE_ARENA : 0);
    int rc = phase_decode(res, body ? body : "", body ? len : 0, flags);
    return rc ? rc : decide_and_encode(set, view, opt, res);
}

int ag_admission_run(const ag_policy_set *set, const struct ag_view *view,
                     const ag_admission_options *opt, ag_request *req, ag_admission_result *res)
{
    result_init(res);
    res->req = *req;
    memset(req, 0, sizeof *req);
    res->decoded = 1;
    return decide_and_encode(set, view, opt, res);
}

void ag_admission_result_clear(ag_admission_result *res)
{
    if (!res)
        return;
    free(res->body);
    ag_decision_clear(&res->decision);
    ag_request_clear(&res->req);
    memset(res, 0, sizeof *res);
}
