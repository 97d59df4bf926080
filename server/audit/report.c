/* PolicyReports: one scope's results as reports (wgpolicyk8s.io/v1alpha2), their content
 * hashes, and the API calls that create, update and delete them. See aimguard/audit.h. */
#include "audit_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aimguard/leader.h"
#include "aimguard/log.h"

#define API "/apis/wgpolicyk8s.io/v1alpha2"
#define OWNER_LABEL "app.kubernetes.io/managed-by"

int audit_may_write(ag_auditor *a)
{
    pthread_mutex_lock(&a->mu);
    int ok = a->leading && !a->stopping;
    pthread_mutex_unlock(&a->mu);
    double until = atomic_load(&a->lease_until);
    return ok && (until <= 0 || ag_leader_monotonic() < until);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ 0xff; /* field separator: ("ab","c") and ("a","bc") differ */
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* What identifies a result over time: the same object, policy, rule, result and message
 * keep their first timestamp. */
static void result_key(json_t *r, char out[17])
{
    json_t *res = json_array_get(json_object_get(r, "resources"), 0);
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, str(r, "policy"));
    h = fnv(h, str(r, "rule"));
    h = fnv(h, str(res, "uid"));
    h = fnv(h, str(res, "name"));
    h = fnv(h, str(r, "result"));
    h = fnv(h, str(r, "message"));
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The content a write would change: results and summary, timestamps left out. */
static void content_hash(json_t *report, char out[17])
{
    json_t *c = json_pack("{s:O, s:[]}", "summary", json_object_get(report, "summary"), "results");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(report, "results"), i, r) {
        json_t *copy = json_copy(r);
        json_object_del(copy, "timestamp");
        json_array_append_new(json_object_get(c, "results"), copy);
    }
    char *text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(c);
    uint64_t h = fnv(1469598103934665603ull, text ? text : "");
    free(text);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static json_t *scope_state(ag_auditor *a, const char *scope)
{
    json_t *s = json_object_get(a->state, scope);
    if (!s) {
        s = json_pack("{s:{}, s:{}}", "reports", "ts");
        json_object_set_new(a->state, scope, s);
    }
    return s;
}

static void report_path(char *out, size_t cap, const char *scope, const char *name)
{
    if (*scope)
        snprintf(out, cap, API "/namespaces/%s/policyreports%s%s", scope, name ? "/" : "", name ? name : "");
    else
        snprintf(out, cap, API "/clusterpolicyreports%s%s", name ? "/" : "", name ? name : "");
}

/* ---- adopting what a previous leader (or run) wrote ---- */

/* A continue token as a query value (RFC 3986 unreserved characters kept). */
static void escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
    }
    out[o] = '\0';
}

static int adopt_kind(ag_auditor *a, int cluster, ag_error *err)
{
    char cont[1024] = "";
    do {
        char path[4096], ce[3200];
        escape(ce, sizeof ce, cont);
        snprintf(path, sizeof path, API "/%s?labelSelector=" OWNER_LABEL "%%3Daimguard&limit=%d%s%s",
                 cluster ? "clusterpolicyreports" : "policyreports", AUDIT_PAGE, *ce ? "&continue=" : "", ce);
        json_t *page = NULL;
        ag_kube_status st;
        int rc = ag_kube_get(a->kube, path, &page, &st, err);
        if (rc)
            return rc;
        size_t i;
        json_t *rep;
        json_array_foreach(json_object_get(page, "items"), i, rep) {
            json_t *m = json_object_get(rep, "metadata");
            const char *name = str(m, "name"), *ns = cluster ? "" : str(m, "namespace");
            if (!*name || (!cluster && !*ns))
                continue;
            json_t *s = scope_state(a, ns);
            char hash[17];
            content_hash(rep, hash);
            json_object_set_new(json_object_get(s, "reports"), name,
                                json_pack("{s:s, s:s}", "rv", str(m, "resourceVersion"), "hash", hash));
            size_t j;
            json_t *r;
            json_array_foreach(json_object_get(rep, "results"), j, r) {
                char key[17];
                result_key(r, key);
                json_t *secs = json_object_get(json_object_get(r, "timestamp"), "seconds");
                if (json_is_integer(secs))
                    json_object_set(json_object_get(s, "ts"), key, secs);
            }
        }
        snprintf(cont, sizeof cont, "%s", str(json_object_get(page, "metadata"), "continue"));
        json_decref(page);
    } while (cont[0]);
    return 0;
}

int audit_adopt(ag_auditor *a, ag_error *err)
{
    json_object_clear(a->state);
    int rc = adopt_kind(a, 0, err);
    if (!rc)
        rc = adopt_kind(a, 1, err);
    if (rc)
        json_object_clear(a->state);
    return rc;
}

/* ---- one scope ---- */

/* A result element of ag_decide_existing() as a PolicyReport result about obj. */
static json_t *report_result(json_t *e, json_t *obj, json_t *ts_prev, json_t *ts_next, time_t now)
{
    json_t *m = json_object_get(obj, "metadata");
    json_t *ref = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", str(obj, "apiVersion"), "kind", str(obj, "kind"),
                            "name", str(m, "name"), "uid", str(m, "uid"));
    if (*str(m, "namespace"))
        json_object_set_new(ref, "namespace", json_string(str(m, "namespace")));
    char msg[AUDIT_MESSAGE_MAX + 4];
    const char *full = str(e, "message");
    if (strlen(full) > AUDIT_MESSAGE_MAX)
        snprintf(msg, sizeof msg, "%.*s...", AUDIT_MESSAGE_MAX - 3, full);
    else
        snprintf(msg, sizeof msg, "%s", full);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s}", "policy", str(e, "policy"), "rule", str(e, "rule"),
                          "result", str(e, "result"), "message", msg, "resources", ref, "source", "aimguard");
    if (!r)
        return NULL;
    static const char *const severities[] = {"critical", "high", "medium", "low", "info", NULL};
    for (const char *const *s = severities; *s; s++)
        if (!strcmp(str(e, "severity"), *s))
            json_object_set_new(r, "severity", json_string(*s));
    if (*str(e, "category"))
        json_object_set_new(r, "category", json_string(str(e, "category")));
    if (*str(e, "action"))
        json_object_set_new(r, "properties", json_pack("{s:s}", "action", str(e, "action")));
    char key[17];
    result_key(r, key);
    json_t *secs = json_object_get(ts_prev, key);
    json_int_t when = json_is_integer(secs) ? json_integer_value(secs) : (json_int_t)now;
    json_object_set_new(ts_next, key, json_integer(when));
    json_object_set_new(r, "timestamp", json_pack("{s:I, s:i}", "seconds", when, "nanos", 0));
    return r;
}

/* Objects in a stable order: kind, then name (the caches' order is a hash's). */
static int by_kind_name(const void *x, const void *y)
{
    json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
    int c = strcmp(str(a, "kind"), str(b, "kind"));
    return c ? c : strcmp(str(json_object_get(a, "metadata"), "name"), str(json_object_get(b, "metadata"), "name"));
}

static void count(json_t *summary, const char *result)
{
    json_t *n = json_object_get(summary, result);
    if (n)
        json_integer_set(n, json_integer_value(n) + 1);
}

/* Creates or updates one report; 0 or an error (the state keeps the old entry then). */
static int put_report(ag_auditor *a, const char *scope, const char *name, json_t *report, json_t *entry,
                      const char *hash, ag_error *err)
{
    char path[700], coll[700];
    report_path(path, sizeof path, scope, name);
    report_path(coll, sizeof coll, scope, NULL);
    const char *rv = str(entry, "rv");
    json_t *out = NULL;
    ag_kube_status st;
    int rc;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (!audit_may_write(a))
            return ag_error_set(err, AG_ERR, "no longer the leader");
        if (*rv) {
            json_object_set_new(json_object_get(report, "metadata"), "resourceVersion", json_string(rv));
            rc = ag_kube_update(a->kube, path, report, &out, &st, err);
        } else {
            json_object_del(json_object_get(report, "metadata"), "resourceVersion");
            rc = ag_kube_create(a->kube, coll, report, &out, &st, err);
        }
        if (rc == 0)
            break;
        if (st.code != 409 && st.code != 404)
            return rc;
        /* someone else's write in between, or a report deleted under us: read what is there */
        json_t *cur = NULL;
        ag_kube_status st2;
        int grc = ag_kube_get(a->kube, path, &cur, &st2, err);
        if (grc && st2.code != 404)
            return grc;
        rv = grc ? "" : str(json_object_get(cur, "metadata"), "resourceVersion");
        json_object_set_new(entry, "rv", json_string(rv)); /* keeps the string alive */
        rv = str(entry, "rv");
        json_decref(cur);
    }
    if (rc)
        return rc;
    atomic_fetch_add(&a->writes, 1);
    json_object_set_new(entry, "rv", json_string(str(json_object_get(out, "metadata"), "resourceVersion")));
    json_object_set_new(entry, "hash", json_string(hash));
    json_decref(out);
    return 0;
}

static int delete_report(ag_auditor *a, const char *scope, const char *name, ag_error *err)
{
    if (!audit_may_write(a))
        return ag_error_set(err, AG_ERR, "no longer the leader");
    char path[700];
    report_path(path, sizeof path, scope, name);
    ag_kube_status st;
    int rc = ag_kube_delete(a->kube, path, NULL, &st, err);
    if (rc && st.code != 404)
        return rc;
    atomic_fetch_add(&a->deletes, 1);
    return 0;
}

int audit_scope(ag_auditor *a, const ag_policy_set *set, const char *scope, json_t *objects, time_t now,
                ag_error *err)
{
    json_t *s = scope_state(a, scope);
    json_t *ts_prev = json_incref(json_object_get(s, "ts")), *ts_next = json_object();
    json_t *results = json_array();
    size_t n = json_array_size(objects);
    json_t **sorted = n ? malloc(n * sizeof *sorted) : NULL;
    if ((n && !sorted) || !results || !ts_next) {
        free(sorted);
        json_decref(results), json_decref(ts_next), json_decref(ts_prev);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_array_get(objects, i);
    if (n > 1) /* qsort may not be given NULL, even for nothing */
        qsort(sorted, n, sizeof *sorted, by_kind_name);
    for (size_t i = 0; i < n; i++) {
        json_t *obj = sorted[i], *res = NULL;
        ag_error derr = {0};
        atomic_fetch_add(&a->objects, 1);
        if (ag_decide_existing(set, obj, &a->view, now, &res, &derr)) {
            /* the object could not be judged: say so in its report rather than drop it */
            json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "policy", "aimguard", "rule", "evaluation",
                                  "result", "error", "message", derr.msg);
            json_t *r = e ? report_result(e, obj, ts_prev, ts_next, now) : NULL;
            if (r)
                json_array_append_new(results, r);
            json_decref(e);
            continue;
        }
        size_t j;
        json_t *e;
        json_array_foreach(res, j, e) {
            json_t *r = report_result(e, obj, ts_prev, ts_next, now);
            if (r)
                json_array_append_new(results, r);
        }
        json_decref(res);
    }
    free(sorted);
    json_object_set_new(s, "ts", ts_next);
    json_decref(ts_prev);

    /* reports of at most report_max_results results each, named by their position */
    json_t *reports = json_object_get(s, "reports");
    json_t *keep = json_object();
    size_t total = json_array_size(results), per = a->cfg.report_max_results ? a->cfg.report_max_results : 1;
    int rc = 0;
    for (size_t start = 0, idx = 0; start < total; start += per, idx++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%zu", *scope ? "aimguard-polr" : "aimguard-cpolr", idx);
        json_t *summary = json_pack("{s:i, s:i, s:i, s:i, s:i}", "pass", 0, "fail", 0, "warn", 0, "error", 0,
                                    "skip", 0);
        json_t *chunk = json_array();
        for (size_t i = start; i < total && i < start + per; i++) {
            json_t *r = json_array_get(results, i);
            json_array_append(chunk, r);
            count(summary, str(r, "result"));
        }
        json_t *report = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:o, s:o}", "apiVersion", "wgpolicyk8s.io/v1alpha2",
                                   "kind", *scope ? "PolicyReport" : "ClusterPolicyReport", "metadata", "name", name,
                                   "labels", OWNER_LABEL, "aimguard", "summary", summary, "results", chunk);
        if (*scope)
            json_object_set_new(json_object_get(report, "metadata"), "namespace", json_string(scope));
        char hash[17];
        content_hash(report, hash);
        json_t *entry = json_object_get(reports, name);
        if (!entry) {
            entry = json_pack("{s:s, s:s}", "rv", "", "hash", "");
            json_object_set_new(reports, name, entry);
        }
        json_object_set_new(keep, name, json_true());
        if (strcmp(str(entry, "hash"), hash)) {
            int wrc = put_report(a, scope, name, report, entry, hash, err);
            if (wrc) {
                atomic_fetch_add(&a->errors, 1);
                rc = wrc;
            }
        }
        json_decref(report);
        if (rc)
            break;
    }
    /* reports no longer needed (fewer results, none at all) */
    const char *name;
    json_t *entry, *tmp;
    json_object_foreach_safe(reports, tmp, name, entry) {
        if (rc || json_object_get(keep, name))
            continue;
        int drc = delete_report(a, scope, name, err);
        if (drc) {
            atomic_fetch_add(&a->errors, 1);
            rc = drc;
        } else {
            json_object_del(reports, name);
        }
    }
    json_decref(keep);
    json_decref(results);
    if (!rc && json_object_size(reports) == 0)
        json_object_del(a->state, scope);
    return rc;
}
