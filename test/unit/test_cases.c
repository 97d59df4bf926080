/* Decision tests as data: every directory test/cases/<area>/<case>/ holding an
 * expect.yaml is one admission request run through ag_decide() at a fixed time
 * (2027-01-15, so exception expiry stays testable), and judged against expect.yaml.
 * The format is described in test/cases/README.md.
 *
 * A malformed case fails loudly (an unknown key, a missing file, a key of the wrong type,
 * a case that asserts nothing): a test that silently passes is a defect. The runner proves
 * it on itself: every case under test/cases/_selftest/ must fail, with the diagnostic its
 * must-fail.txt names. */
#include "agtest.h"
#include "aimguard/admission.h"
#include "aimguard/policy.h"
#include "aimguard/view.h"
#include "aimguard/yaml.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#define NOW ((time_t)1800000000) /* 2027-01-15T08:00:00Z */
#define MAX_NAMESPACED 16
#define MAX_ASKED 16

/* One case being run: where failures go and how many checks it made. */
typedef struct run {
    const char *dir;
    int checks, failures;
    char *log;     /* failure text (every line "<dir>: ...") */
    size_t loglen;
} run;

static void fail(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(run *r, const char *fmt, ...)
{
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->failures++;
    size_t add = strlen(r->dir) + strlen(line) + 4;
    char *nl = realloc(r->log, r->loglen + add);
    if (!nl)
        abort();
    r->log = nl;
    r->loglen += (size_t)snprintf(r->log + r->loglen, add, "%s: %s\n", r->dir, line);
}

static int check(run *r, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int check(run *r, int ok, const char *fmt, ...)
{
    r->checks++;
    if (ok)
        return 1;
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fail(r, "%s", line);
    return 0;
}

/* ---- expect.yaml: typed access that fails on anything unexpected ---- */

static const char *const KNOWN_KEYS[] = {
    "description", "policy", "request", "view", "allowed", "code", "message", "messageContains",
    "messageExcludes", "warnings", "warningsContain", "audit", "auditCount", "patch", "patchContains",
    "patchExcludes", "after", "afterContains", "idempotent", "expiring", "asked", NULL};
static const char *const REQUEST_KEYS[] = {"operation", "namespace", "user", "groups", "subresource", "mode", NULL};
static const char *const VIEW_KEYS[] = {"namespaced", "access", "denyName", NULL};
static const char *const EXPIRING_KEYS[] = {"within", "contains", "excludes", NULL};
/* Keys that assert something; a case with none of them proves nothing. */
static const char *const ASSERTING_KEYS[] = {
    "allowed", "code", "message", "messageContains", "messageExcludes", "warnings", "warningsContain",
    "audit", "auditCount", "patch", "patchContains", "patchExcludes", "after", "afterContains",
    "idempotent", "expiring", "asked", NULL};

static int known(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (!strcmp(keys[i], k))
            return 1;
    return 0;
}

static int only_known_keys(run *r, const json_t *map, const char *const *keys, const char *where)
{
    const char *k;
    json_t *v;
    int ok = 1;
    json_object_foreach((json_t *)map, k, v) {
        if (!known(keys, k)) {
            fail(r, "expect.yaml: unknown key '%s' in %s", k, where);
            ok = 0;
        }
    }
    return ok;
}

/* A string list (a single string counts as a list of one); NULL and a failure otherwise. */
static const json_t *strings(run *r, const json_t *v, const char *key)
{
    if (!v)
        return NULL;
    if (!json_is_array(v)) {
        fail(r, "expect.yaml: %s must be a list of strings", key);
        return NULL;
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            fail(r, "expect.yaml: %s[%zu] must be a string", key, i);
            return NULL;
        }
    }
    return v;
}

static const char *str_or(run *r, const json_t *map, const char *key, const char *dflt)
{
    json_t *v = json_object_get(map, key);
    if (!v)
        return dflt;
    if (!json_is_string(v)) {
        fail(r, "expect.yaml: %s must be a string", key);
        return dflt;
    }
    return json_string_value(v);
}

/* ---- the fake cluster view (validate.rbac.clusterReferences) ---- */

typedef struct fake {
    const char *namespaced[MAX_NAMESPACED]; /* "resource/ns/name" objects the view knows */
    int answer;
    const char *deny_name; /* when set: only this name is denied, the rest allowed */
    int calls;
    char asked[MAX_ASKED][256]; /* "user|groups|verb|group|resource|ns/name" */
} fake;

static json_t *fake_get(void *ctx, const char *resource, const char *ns, const char *name)
{
    fake *f = ctx;
    char k[256];
    snprintf(k, sizeof k, "%s/%s/%s", resource, ns, name);
    for (int i = 0; i < MAX_NAMESPACED && f->namespaced[i]; i++)
        if (!strcmp(f->namespaced[i], k))
            return json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", ns);
    return NULL;
}

static int fake_access(void *ctx, const char *user, const json_t *groups, const char *verb, const char *group,
                       const char *resource, const char *ns, const char *name, char *reason, size_t cap)
{
    fake *f = ctx;
    char gs[256] = "";
    for (size_t i = 0; i < json_array_size(groups); i++)
        snprintf(gs + strlen(gs), sizeof gs - strlen(gs), "%s%s", i ? "," : "",
                 json_string_value(json_array_get(groups, i)));
    if (f->calls < MAX_ASKED &&
        snprintf(f->asked[f->calls], sizeof f->asked[0], "%s|%s|%s|%s|%s|%s/%s", user, gs, verb, group, resource,
                 ns, name) >= (int)sizeof f->asked[0])
        snprintf(f->asked[f->calls], sizeof f->asked[0], "(a question too long to record)"); /* never equals */
    f->calls++;
    if (f->deny_name) {
        int denied = !strcmp(name, f->deny_name);
        snprintf(reason, cap, "%s", denied ? "no RBAC rule grants it" : "");
        return denied ? AG_ACCESS_DENIED : AG_ACCESS_ALLOWED;
    }
    snprintf(reason, cap, "%s", f->answer == AG_ACCESS_UNKNOWN ? "POST /apis/authorization.k8s.io/v1/"
             "subjectaccessreviews: Connection refused" : f->answer == AG_ACCESS_DENIED ? "no RBAC rule grants it" : "");
    return f->answer;
}

static int parse_view(run *r, const json_t *v, fake *f)
{
    memset(f, 0, sizeof *f);
    if (!json_is_object(v)) {
        fail(r, "expect.yaml: view must be a mapping");
        return -1;
    }
    if (!only_known_keys(r, v, VIEW_KEYS, "view"))
        return -1;
    const json_t *ns = strings(r, json_object_get(v, "namespaced"), "view.namespaced");
    if (json_array_size(ns) > MAX_NAMESPACED) {
        fail(r, "expect.yaml: view.namespaced holds at most %d objects", MAX_NAMESPACED);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(ns); i++)
        f->namespaced[i] = json_string_value(json_array_get(ns, i));
    const char *access = str_or(r, v, "access", NULL);
    f->deny_name = str_or(r, v, "denyName", NULL);
    if (!access && !f->deny_name) {
        fail(r, "expect.yaml: view needs access (allowed, denied or unknown) or denyName");
        return -1;
    }
    if (access && f->deny_name) {
        fail(r, "expect.yaml: view.access and view.denyName exclude each other");
        return -1;
    }
    if (access) {
        if (!strcmp(access, "allowed")) f->answer = AG_ACCESS_ALLOWED;
        else if (!strcmp(access, "denied")) f->answer = AG_ACCESS_DENIED;
        else if (!strcmp(access, "unknown")) f->answer = AG_ACCESS_UNKNOWN;
        else {
            fail(r, "expect.yaml: view.access '%s' is not allowed, denied or unknown", access);
            return -1;
        }
    }
    return 0;
}

/* ---- running one case ---- */

static char *joinpath(const char *a, const char *b)
{
    char *s = NULL;
    if (asprintf(&s, "%s/%s", a, b) < 0)
        abort();
    return s;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static json_t *load_object(run *r, const char *dir, const char *name, int required)
{
    char *path = joinpath(dir, name);
    json_t *obj = NULL;
    if (!exists(path)) {
        if (required)
            fail(r, "%s is missing", name);
    } else {
        ag_error err = {0};
        if (ag_load_object_file(path, &obj, &err))
            fail(r, "%s", err.msg);
    }
    free(path);
    return obj;
}

static ag_policy_set *load_policy(run *r, const char *dir, const char *rel)
{
    char *path = joinpath(dir, rel);
    ag_policy_set *set = NULL;
    if (!exists(path)) {
        fail(r, "the policy %s is missing", rel);
        free(path);
        return NULL;
    }
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    if (ag_policy_load(path, &o, &set, &d, &err)) {
        for (size_t i = 0; i < d.count; i++)
            fail(r, "policy: %s", d.items[i]);
        fail(r, "the policy %s is refused: %s", rel, err.msg);
        set = NULL;
    }
    ag_diags_clear(&d);
    free(path);
    return set;
}

static int parse_mode(run *r, const char *s, ag_mode *mode)
{
    if (!strcmp(s, "validate")) *mode = AG_MODE_VALIDATE;
    else if (!strcmp(s, "mutate")) *mode = AG_MODE_MUTATE;
    else if (!strcmp(s, "both")) *mode = AG_MODE_BOTH;
    else {
        fail(r, "expect.yaml: request.mode '%s' is not validate, mutate or both", s);
        return -1;
    }
    return 0;
}

typedef struct req_params {
    const char *operation, *ns, *user, *subresource;
    const char *groups[16];
    size_t ngroups;
    ag_mode mode;
} req_params;

static int parse_request(run *r, const json_t *req, req_params *p)
{
    memset(p, 0, sizeof *p);
    p->operation = "CREATE";
    p->ns = "";
    p->user = "alice";
    p->mode = AG_MODE_VALIDATE;
    if (!req)
        return 0;
    if (!json_is_object(req)) {
        fail(r, "expect.yaml: request must be a mapping");
        return -1;
    }
    int before = r->failures;
    only_known_keys(r, req, REQUEST_KEYS, "request");
    p->operation = str_or(r, req, "operation", p->operation);
    p->ns = str_or(r, req, "namespace", p->ns);
    p->user = str_or(r, req, "user", p->user);
    p->subresource = str_or(r, req, "subresource", NULL);
    const json_t *g = strings(r, json_object_get(req, "groups"), "request.groups");
    if (json_array_size(g) > 16)
        fail(r, "expect.yaml: request.groups holds at most 16 groups");
    for (size_t i = 0; i < json_array_size(g) && i < 16; i++)
        p->groups[p->ngroups++] = json_string_value(json_array_get(g, i));
    const char *mode = str_or(r, req, "mode", NULL);
    if (mode)
        parse_mode(r, mode, &p->mode);
    return r->failures == before ? 0 : -1;
}

/* ag_decide on (obj, old); 0 and *d filled, or -1 with a failure recorded. */
static int decide(run *r, const ag_policy_set *set, const req_params *p, const ag_view *view, json_t *obj,
                  json_t *old, ag_decision *d)
{
    ag_request req;
    ag_error err = {0};
    r->checks++;
    if (ag_request_synthesize(&req, obj, old, p->operation, p->ns, p->user, p->groups, p->ngroups, &err)) {
        fail(r, "ag_request_synthesize: %s", err.msg);
        return -1;
    }
    if (p->subresource)
        req.subresource = p->subresource;
    r->checks++;
    int rc = ag_decide(set, &req, view, p->mode, NOW, d, &err);
    ag_request_clear(&req);
    if (rc) {
        fail(r, "ag_decide: %s", err.msg);
        return -1;
    }
    return 0;
}

static char *dump(const json_t *v, size_t flags)
{
    char *s = v ? json_dumps(v, flags | JSON_ENCODE_ANY) : NULL;
    return s ? s : strdup("");
}

static void contains_all(run *r, const char *what, const char *text, const json_t *needles, int want)
{
    size_t i;
    json_t *n;
    json_array_foreach(needles, i, n) {
        const char *s = json_string_value(n);
        int has = strstr(text, s) != NULL;
        check(r, has == want, "%s %s \"%s\"\n   got: %s", what, want ? "lacks" : "contains", s, text);
    }
}

static void judge(run *r, const json_t *ex, const ag_decision *d, const fake *f)
{
    const char *msg = d->message ? d->message : "";
    json_t *v;
    if ((v = json_object_get(ex, "allowed"))) {
        if (!json_is_boolean(v))
            fail(r, "expect.yaml: allowed must be true or false");
        else
            check(r, d->allowed == json_is_true(v), "allowed: got %s, want %s (message: %s)",
                  d->allowed ? "true" : "false", json_is_true(v) ? "true" : "false", msg);
    }
    if ((v = json_object_get(ex, "code"))) {
        if (!json_is_integer(v))
            fail(r, "expect.yaml: code must be an integer");
        else
            check(r, d->code == json_integer_value(v), "code: got %d, want %lld", d->code,
                  (long long)json_integer_value(v));
    }
    if ((v = json_object_get(ex, "message"))) {
        if (!json_is_string(v))
            fail(r, "expect.yaml: message must be a string");
        else
            check(r, !strcmp(msg, json_string_value(v)), "message:\n   got: %s\n  want: %s", msg,
                  json_string_value(v));
    }
    contains_all(r, "message", msg, strings(r, json_object_get(ex, "messageContains"), "messageContains"), 1);
    contains_all(r, "message", msg, strings(r, json_object_get(ex, "messageExcludes"), "messageExcludes"), 0);

    char *warnings = dump(d->warnings, JSON_COMPACT); /* for failure reports */
    char *joined = NULL; /* the warnings one per line, for warningsContain */
    size_t jl = 0;
    FILE *jf = open_memstream(&joined, &jl);
    for (size_t i = 0; jf && i < json_array_size(d->warnings); i++)
        fprintf(jf, "%s\n", json_string_value(json_array_get(d->warnings, i)));
    if (!jf || fclose(jf))
        abort();
    const json_t *w = strings(r, json_object_get(ex, "warnings"), "warnings");
    if (w) {
        if (check(r, json_array_size(d->warnings) == json_array_size(w), "warnings: got %zu, want %zu: %s",
                  json_array_size(d->warnings), json_array_size(w), warnings))
            for (size_t i = 0; i < json_array_size(w); i++) {
                const char *got = json_string_value(json_array_get(d->warnings, i));
                const char *want = json_string_value(json_array_get(w, i));
                check(r, got && strstr(got, want), "warnings[%zu] lacks \"%s\"\n   got: %s", i, want, got ? got : "(null)");
            }
    }
    contains_all(r, "the warnings", joined, strings(r, json_object_get(ex, "warningsContain"), "warningsContain"), 1);
    free(joined);
    free(warnings);

    if ((v = json_object_get(ex, "audit"))) {
        if (!json_is_object(v))
            fail(r, "expect.yaml: audit must be a mapping of annotation key to a substring of its value");
        const char *k;
        json_t *want;
        json_object_foreach(v, k, want) {
            const char *got = json_string_value(json_object_get(d->audit, k));
            if (!json_is_string(want))
                fail(r, "expect.yaml: audit.%s must be a string", k);
            else
                check(r, got && strstr(got, json_string_value(want)), "audit annotation %s lacks \"%s\"\n   got: %s",
                      k, json_string_value(want), got ? got : "(absent)");
        }
    }
    if ((v = json_object_get(ex, "auditCount"))) {
        if (!json_is_integer(v))
            fail(r, "expect.yaml: auditCount must be an integer");
        else {
            char *a = dump(d->audit, JSON_COMPACT);
            check(r, (long long)json_object_size(d->audit) == json_integer_value(v), "audit annotations: got %zu, "
                  "want %lld: %s", json_object_size(d->audit), (long long)json_integer_value(v), a);
            free(a);
        }
    }

    /* the patch: exact (null: no patch at all), and substrings of its compact JSON */
    char *patch = dump(d->patch, JSON_COMPACT);
    if (json_object_get(ex, "patch")) {
        v = json_object_get(ex, "patch");
        char *want = dump(json_is_null(v) ? NULL : v, JSON_COMPACT);
        int same = json_is_null(v) ? d->patch == NULL : (d->patch && json_equal(d->patch, v));
        check(r, same, "patch:\n   got: %s\n  want: %s", d->patch ? patch : "(none)", json_is_null(v) ? "(none)" : want);
        free(want);
    }
    contains_all(r, "the patch", patch, strings(r, json_object_get(ex, "patchContains"), "patchContains"), 1);
    contains_all(r, "the patch", patch, strings(r, json_object_get(ex, "patchExcludes"), "patchExcludes"), 0);
    free(patch);

    char *after = dump(d->object_after, JSON_COMPACT | JSON_SORT_KEYS);
    if ((v = json_object_get(ex, "after"))) {
        char *want = dump(v, JSON_COMPACT | JSON_SORT_KEYS);
        check(r, d->object_after && json_equal(d->object_after, v), "object after mutation:\n   got: %s\n  want: %s",
              after, want);
        free(want);
    }
    contains_all(r, "the object after mutation", after,
                 strings(r, json_object_get(ex, "afterContains"), "afterContains"), 1);
    free(after);

    const json_t *asked = strings(r, json_object_get(ex, "asked"), "asked");
    if (asked) {
        if (!f) {
            fail(r, "expect.yaml: asked needs a view");
        } else if (check(r, (size_t)f->calls == json_array_size(asked), "access questions: got %d, want %zu",
                         f->calls, json_array_size(asked))) {
            for (size_t i = 0; i < json_array_size(asked) && i < MAX_ASKED; i++)
                check(r, !strcmp(f->asked[i], json_string_value(json_array_get(asked, i))),
                      "asked[%zu]:\n   got: %s\n  want: %s", i, f->asked[i], json_string_value(json_array_get(asked, i)));
        }
    }
}

static void judge_expiring(run *r, const ag_policy_set *set, const json_t *ex)
{
    if (!json_is_object(ex) || !only_known_keys(r, ex, EXPIRING_KEYS, "expiring")) {
        if (!json_is_object(ex))
            fail(r, "expect.yaml: expiring must be a mapping");
        return;
    }
    const json_t *within = json_object_get(ex, "within");
    if (!json_is_integer(within)) {
        fail(r, "expect.yaml: expiring.within (seconds) is required");
        return;
    }
    char *soon = ag_policy_expiring(set, NOW, (time_t)json_integer_value(within));
    const char *text = soon ? soon : "";
    contains_all(r, "expiring", text, strings(r, json_object_get(ex, "contains"), "expiring.contains"), 1);
    contains_all(r, "expiring", text, strings(r, json_object_get(ex, "excludes"), "expiring.excludes"), 0);
    free(soon);
}

static void run_case(run *r)
{
    char *expect_path = joinpath(r->dir, "expect.yaml");
    json_t *ex = NULL;
    ag_error err = {0};
    int rc = exists(expect_path) ? ag_load_object_file(expect_path, &ex, &err) : -1;
    free(expect_path);
    if (rc) {
        fail(r, "expect.yaml: %s", rc == -1 && !err.msg[0] ? "missing" : err.msg);
        return;
    }
    int bad = !only_known_keys(r, ex, KNOWN_KEYS, "the case");
    int asserts = 0;
    for (size_t i = 0; ASSERTING_KEYS[i]; i++)
        asserts |= json_object_get(ex, ASSERTING_KEYS[i]) != NULL;
    if (!asserts) {
        fail(r, "expect.yaml asserts nothing (no allowed, message, patch, ... key)");
        bad = 1;
    }
    req_params p;
    bad |= parse_request(r, json_object_get(ex, "request"), &p) != 0;
    fake f, *fp = NULL;
    ag_view view = {0};
    if (json_object_get(ex, "view")) {
        bad |= parse_view(r, json_object_get(ex, "view"), &f) != 0;
        view = (ag_view){&f, fake_get, &f, fake_access};
        fp = &f;
    }
    const char *policy = str_or(r, ex, "policy", "policy.yaml");
    ag_policy_set *set = load_policy(r, r->dir, policy);
    json_t *obj = load_object(r, r->dir, "object.yaml", 1);
    json_t *old = load_object(r, r->dir, "old.yaml", 0);
    ag_decision d;
    ag_decision_init(&d);
    if (!bad && set && obj && decide(r, set, &p, fp ? &view : NULL, obj, old, &d) == 0) {
        judge(r, ex, &d, fp);
        const json_t *idem = json_object_get(ex, "idempotent");
        if (idem && !json_is_boolean(idem))
            fail(r, "expect.yaml: idempotent must be true or false");
        if (json_is_true(idem)) {
            /* deciding on the object as mutated changes nothing more */
            ag_decision again;
            ag_decision_init(&again);
            if (check(r, d.object_after != NULL, "idempotent: no object after mutation") &&
                decide(r, set, &p, fp ? &view : NULL, d.object_after, old, &again) == 0) {
                char *patch = dump(again.patch, JSON_COMPACT);
                check(r, again.patch == NULL, "idempotent: mutating the mutated object patches again: %s", patch);
                free(patch);
            }
            ag_decision_clear(&again);
        }
        if (json_object_get(ex, "expiring"))
            judge_expiring(r, set, json_object_get(ex, "expiring"));
    }
    ag_decision_clear(&d);
    json_decref(obj);
    json_decref(old);
    ag_policy_set_unref(set);
    json_decref(ex);
}

/* ---- walking the tree ---- */

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sub-directories of dir, sorted (names starting with '.' skipped); NULL-terminated. */
static char **subdirs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    size_t n = 0, cap = 16;
    char **out = malloc(cap * sizeof *out);
    struct dirent *e;
    while (out && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = joinpath(dir, e->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISDIR(st.st_mode)) {
            free(p);
            continue;
        }
        free(p);
        if (n + 2 > cap) {
            char **no = realloc(out, (cap *= 2) * sizeof *out);
            if (!no) abort();
            out = no;
        }
        out[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (!out)
        abort();
    qsort(out, n, sizeof *out, cmp);
    out[n] = NULL;
    return out;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

static int total_cases, total_checks;

static void run_area(const char *root, const char *area)
{
    char *adir = joinpath(root, area);
    char **cases = subdirs(adir);
    int n = 0;
    for (size_t i = 0; cases && cases[i]; i++) {
        char *dir = joinpath(adir, cases[i]);
        run r = {dir, 0, 0, NULL, 0};
        run_case(&r);
        n++;
        total_cases++;
        total_checks += r.checks;
        agt_checks += r.checks;
        /* every failure is one failed check of the harness, and says where */
        if (r.failures) {
            agt_failures += r.failures;
            fprintf(stderr, "%s", r.log);
        }
        fprintf(stderr, "%s %s/%s (%d checks)\n", r.failures ? "FAIL" : "ok  ", area, cases[i], r.checks);
        free(r.log);
        free(dir);
    }
    if (n == 0) {
        agt_checks++;
        agt_failures++;
        fprintf(stderr, "%s: no cases (an area directory holds one directory per case)\n", adir);
    }
    free_list(cases);
    free(adir);
}

/* Every case under _selftest/ must fail, and its failure must say what must-fail.txt says. */
static void run_selftest(const char *root)
{
    char *sdir = joinpath(root, "_selftest");
    char **cases = subdirs(sdir);
    int n = 0;
    for (size_t i = 0; cases && cases[i]; i++) {
        char *dir = joinpath(sdir, cases[i]);
        char *mf = joinpath(dir, "must-fail.txt");
        char *want = agt_read_file(mf, NULL);
        run r = {dir, 0, 0, NULL, 0};
        run_case(&r);
        n++;
        if (want) {
            char *end = want + strlen(want);
            while (end > want && (end[-1] == '\n' || end[-1] == ' '))
                *--end = '\0';
        }
        CHECK(want != NULL && want[0]);
        CHECK(r.failures > 0);
        if (want && want[0] && r.log)
            CHECK_CONTAINS(r.log, want);
        int ok = want && want[0] && r.failures > 0 && r.log && strstr(r.log, want);
        fprintf(stderr, "%s _selftest/%s (must fail: %s)\n", ok ? "ok  " : "FAIL", cases[i],
                want ? want : "(must-fail.txt is missing)");
        if (!ok && r.log)
            fprintf(stderr, "  its failure was:\n%s", r.log);
        free(r.log);
        free(want);
        free(mf);
        free(dir);
    }
    CHECK(n >= 1);
    free_list(cases);
    free(sdir);
}

int main(int argc, char **argv)
{
    /* test_cases [ROOT]: the cases under ROOT (default $AG_SRC/test/cases) */
    const char *root = argc > 1 ? argv[1] : agt_path("AG_SRC", "test/cases");
    char **areas = subdirs(root);
    CHECK(areas != NULL && areas[0] != NULL);
    for (size_t i = 0; areas && areas[i]; i++)
        if (strcmp(areas[i], "_selftest"))
            run_area(root, areas[i]);
    run_selftest(root);
    free_list(areas);
    fprintf(stderr, "%d cases, %d checks in them\n", total_cases, total_checks);
    return agt_finish();
}
