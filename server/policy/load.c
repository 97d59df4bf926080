/* Finding policy files, building snapshots, publishing them. */
#include "policy_int.h"

#include "aimguard/buf.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ag_diags_clear(ag_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->count; i++)
        free(d->items[i]);
    free(d->items);
    d->items = NULL;
    d->count = 0;
}

__attribute__((format(printf, 2, 3))) static void diag(ag_diags *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **ni = realloc(d->items, (d->count + 1) * sizeof *ni);
    if (!ni)
        return;
    d->items = ni;
    if ((ni[d->count] = strdup(line)))
        d->count++;
}

typedef struct files {
    char **v;
    size_t n;
} files;

static int has_yaml_ext(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

/* Collects .yaml and .yml files below dir. Dot entries are skipped: a ConfigMap mount holds
 * "..data" and "..2024_..." directories next to symlinks to the visible names, so
 * following the visible names alone sees every file exactly once. */
static int walk(const char *dir, int depth, files *out, ag_diags *d)
{
    if (depth > 8)
        return 0;
    DIR *dh = opendir(dir);
    if (!dh) {
        diag(d, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0) {
            diag(d, "%s: %s", path, strerror(errno));
            rc = -1;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (walk(path, depth + 1, out, d))
                rc = -1;
        } else if (S_ISREG(st.st_mode) && has_yaml_ext(de->d_name)) {
            char **nv = realloc(out->v, (out->n + 1) * sizeof *nv);
            if (!nv || !(nv[out->n] = strdup(path))) {
                if (nv) out->v = nv;
                rc = -1;
                break;
            }
            out->v = nv;
            out->n++;
        }
    }
    closedir(dh);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_free(ag_policy_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        policy_free(&s->v[i]);
    free(s->v);
    pcre2_match_context_free(s->mctx);
    free(s);
}

/* Compiles every document of one parsed file into set (errors go to diags). */
static void compile_docs(ag_policy_set *set, const ag_ydocs *docs, const char *file,
                         const ag_load_options *opts, ag_diags *diags)
{
    cctx c = {file, diags, 0};
    for (size_t i = 0; i < docs->count; i++) {
        const ag_ynode *doc = docs->docs[i];
        if (doc->type == AG_YNODE_SCALAR && doc->len == 0 && !doc->quoted)
            continue; /* empty document, e.g. a trailing '---' */
        policy *nv = realloc(set->v, (set->n + 1) * sizeof *nv);
        if (!nv) {
            cctx_err(&c, doc, "out of memory");
            break;
        }
        set->v = nv;
        policy *p = &set->v[set->n];
        if (policy_compile(&c, doc, p) == 0 || p->name) {
            set->n++;
            if (opts && opts->action_override >= 0 && p->action == AG_ACTION_ENFORCE)
                p->action = opts->action_override;
            for (size_t r = 0; r < p->nrules; r++)
                if (opts && opts->action_override >= 0 && p->rules[r].action == AG_ACTION_ENFORCE)
                    p->rules[r].action = opts->action_override;
            for (size_t j = 0; p->name && j + 1 < set->n; j++)
                if (set->v[j].name && !strcmp(set->v[j].name, p->name))
                    cctx_err(&c, ag_ynode_get(ag_ynode_get(doc, "metadata"), "name"),
                             "policy name '%s' is already used at %s", p->name, set->v[j].where);
        } else {
            policy_free(p);
        }
    }
}

static ag_policy_set *set_new(const ag_load_options *opts)
{
    ag_policy_set *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    atomic_init(&set->refs, 1);
    set->generation = opts ? opts->generation : 1;
    /* bounds backtracking so that no pattern can stall a request thread */
    set->mctx = pcre2_match_context_create(NULL);
    if (!set->mctx) {
        free(set);
        return NULL;
    }
    pcre2_set_match_limit(set->mctx, 100000);
    pcre2_set_depth_limit(set->mctx, 1000);
    return set;
}

/* A set with errors, or with no policy at all, is refused. */
static int set_finish(ag_policy_set *set, size_t errors_before, const char *what,
                      ag_policy_set **out, ag_diags *diags, ag_error *err)
{
    if (diags->count > errors_before) {
        set_free(set);
        return ag_error_set(err, AG_EINVAL, "%zu error(s) in policies under %s",
                            diags->count - errors_before, what);
    }
    if (set->n == 0) {
        set_free(set);
        diag(diags, "%s: no policies found (expected .yaml files with kind AdmissionPolicy)", what);
        return ag_error_set(err, AG_EINVAL, "%s: no policies found", what);
    }
    *out = set;
    return 0;
}

int ag_policy_load_buffer(const char *buf, size_t len, const char *name,
                          const ag_load_options *opts, ag_policy_set **out, ag_diags *diags,
                          ag_error *err)
{
    *out = NULL;
    ag_ydocs *docs = NULL;
    ag_error perr = {0};
    size_t before = diags->count;
    if (ag_yaml_parse(buf, len, name, &docs, &perr)) {
        diag(diags, "%s", perr.msg);
        return ag_error_set(err, AG_EINVAL, "%s", perr.msg);
    }
    ag_policy_set *set = set_new(opts);
    if (!set) {
        ag_ydocs_free(docs);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    compile_docs(set, docs, name, opts, diags);
    ag_ydocs_free(docs);
    return set_finish(set, before, name, out, diags, err);
}

int ag_policy_load(const char *path, const ag_load_options *opts, ag_policy_set **out,
                   ag_diags *diags, ag_error *err)
{
    *out = NULL;
    files fl = {0};
    struct stat st;
    size_t errors = diags->count;
    if (stat(path, &st) != 0) {
        diag(diags, "%s: %s", path, strerror(errno));
        return ag_error_set(err, AG_EIO, "%s: %s", path, strerror(errno));
    }
    int walk_rc = 0;
    if (S_ISDIR(st.st_mode)) {
        walk_rc = walk(path, 0, &fl, diags);
    } else {
        fl.v = malloc(sizeof *fl.v);
        if (fl.v && (fl.v[0] = strdup(path)))
            fl.n = 1;
    }
    if (fl.n)
        qsort(fl.v, fl.n, sizeof *fl.v, cmp_str);

    ag_policy_set *set = set_new(opts);
    if (!set) {
        for (size_t i = 0; i < fl.n; i++) free(fl.v[i]);
        free(fl.v);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    /* a directory entry that could not be read is already in diags: it fails the load */
    (void)walk_rc;
    for (size_t f = 0; f < fl.n; f++) {
        ag_ydocs *docs = NULL;
        ag_error perr = {0};
        if (ag_yaml_parse_file(fl.v[f], &docs, &perr)) {
            diag(diags, "%s", perr.msg);
            continue;
        }
        compile_docs(set, docs, fl.v[f], opts, diags);
        ag_ydocs_free(docs);
    }
    for (size_t i = 0; i < fl.n; i++)
        free(fl.v[i]);
    free(fl.v);
    return set_finish(set, errors, path, out, diags, err);
}

void ag_policy_set_ref(ag_policy_set *set)
{
    if (set)
        atomic_fetch_add(&set->refs, 1);
}

void ag_policy_set_unref(ag_policy_set *set)
{
    if (set && atomic_fetch_sub(&set->refs, 1) == 1)
        set_free(set);
}

uint64_t ag_policy_set_generation(const ag_policy_set *set) { return set ? set->generation : 0; }
size_t ag_policy_set_count(const ag_policy_set *set) { return set ? set->n : 0; }

size_t ag_policy_set_rule_count(const ag_policy_set *set)
{
    size_t n = 0;
    for (size_t i = 0; set && i < set->n; i++) {
        const policy *p = &set->v[i];
        n += p->nrules + (p->pss_level > 0) + (p->hard.present) + (p->gpu.present);
    }
    return n;
}

char *ag_policy_expiring(const ag_policy_set *set, time_t now, time_t within)
{
    ag_buf out = {0};
    for (size_t i = 0; set && i < set->n; i++)
        for (size_t j = 0; j < set->v[i].nexc; j++) {
            const exception_ *x = &set->v[i].exc[j];
            if (!x->expires || x->expires <= now || x->expires - now > within)
                continue;
            ag_buf_printf(&out, "%s: policy %s: exception expires %s (%s)\n", x->where, set->v[i].name,
                          x->expires_text, x->reason);
        }
    return ag_buf_take(&out);
}

/* Readers announce themselves in `readers` while they turn the pointer into a
 * reference; the publisher swaps the pointer, then waits until no reader is between
 * the load and the increment before dropping its own reference. Readers never lock. */
struct ag_policy_holder {
    _Atomic(ag_policy_set *) cur;
    atomic_int readers;
};

ag_policy_holder *ag_policy_holder_new(void)
{
    ag_policy_holder *h = calloc(1, sizeof *h);
    if (h) {
        atomic_init(&h->cur, NULL);
        atomic_init(&h->readers, 0);
    }
    return h;
}

void ag_policy_holder_free(ag_policy_holder *h)
{
    if (!h)
        return;
    ag_policy_set_unref(atomic_load(&h->cur));
    free(h);
}

void ag_policy_holder_publish(ag_policy_holder *h, ag_policy_set *set)
{
    ag_policy_set *old = atomic_exchange(&h->cur, set);
    while (atomic_load(&h->readers) != 0)
        sched_yield();
    ag_policy_set_unref(old);
}

ag_policy_set *ag_policy_holder_acquire(ag_policy_holder *h)
{
    atomic_fetch_add(&h->readers, 1);
    ag_policy_set *s = atomic_load(&h->cur);
    ag_policy_set_ref(s);
    atomic_fetch_sub(&h->readers, 1);
    return s;
}
