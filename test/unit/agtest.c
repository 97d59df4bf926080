#include "agtest.h"

#include "aimguard/admission.h"
#include "aimguard/policy.h"

#include <dirent.h>
#include <stdlib.h>
#include <time.h>

int agt_failures;
int agt_checks;

int agt_finish(void)
{
    fprintf(stderr, "%d checks, %d failed\n", agt_checks, agt_failures);
    return agt_failures ? 1 : (agt_checks ? 0 : 1);
}

int agt_each_file(const char *dir, const char *suffix,
                  void (*fn)(const char *name, const char *body, size_t len, void *ctx), void *ctx)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < sl || strcmp(e->d_name + nl - sl, suffix))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *body = agt_read_file(path, &len);
        CHECK(body != NULL);
        if (!body)
            continue;
        fn(e->d_name, body, len, ctx);
        free(body);
        n++;
    }
    closedir(d);
    return n;
}

char *agt_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            buf = nb;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

const char *agt_path(const char *env, const char *rel)
{
    static char buf[4][4096];
    static int slot;
    const char *base = getenv(env);
    char *out = buf[slot++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", base ? base : ".", rel);
    return out;
}

static ag_policy_set *report(int rc, ag_policy_set *set, ag_diags *d, const ag_error *err)
{
    if (rc) {
        for (size_t i = 0; i < d->count; i++)
            fprintf(stderr, "%s\n", d->items[i]);
        fprintf(stderr, "%s\n", err->msg);
    }
    ag_diags_clear(d);
    return rc ? NULL : set;
}

ag_policy_set *agt_policy_path(const char *path)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load(path, &o, &set, &d, &err);
    return report(rc, set, &d, &err);
}

ag_policy_set *agt_policy_text(const char *name, const char *text)
{
    ag_policy_set *set = NULL;
    ag_diags d = {0};
    ag_error err = {0};
    ag_load_options o = {1, -1};
    int rc = ag_policy_load_buffer(text, strlen(text), name, &o, &set, &d, &err);
    return report(rc, set, &d, &err);
}

char *agt_validate(ag_policy_set *set, const char *obj_json, const char *op, const char *ns, const char *user,
                   int *allowed)
{
    *allowed = -1;
    json_t *obj = json_loads(obj_json, 0, NULL);
    CHECK(obj != NULL);
    if (!obj)
        return strdup("(the test's object is not JSON)");
    ag_request req;
    ag_error err = {0};
    CHECK_INT(ag_request_synthesize(&req, obj, NULL, op, ns, user, NULL, 0, &err), 0);
    ag_decision d;
    CHECK_INT(ag_decide(set, &req, NULL, AG_MODE_VALIDATE, (time_t)1800000000, &d, &err), 0);
    *allowed = d.allowed;
    char *m = strdup(d.message ? d.message : "");
    ag_decision_clear(&d);
    ag_request_clear(&req);
    json_decref(obj);
    return m;
}
