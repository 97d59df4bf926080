/* Finding policy files, building snapshots, publishing them. */
#include "schema.h"

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
        size_t dl = strlen(dir);
        int slash = dl && dir[dl - 1] == '/'; /* "policies/" names files policies/x, not policies//x */
        if ((size_t)snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", de->d_name) >= sizeof path)
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
        pol_policy_free(&s->v[i]);
    free(s->v);
    ag_diags_clear(&s->warnings);
    ag_diags_clear(&s->notes);
    pcre2_match_context_free(s->mctx);
    free(s);
}

/* A document that says it is something else (a kustomization.yaml beside the policies,
 * a ConfigMap) is not a policy with errors: it is skipped, with a note. A document
 * without apiVersion, or with any policy.aimguard.io/ version, is judged. */
static int not_a_policy(ag_policy_set *set, const ag_ynode *doc, const char *file)
{
    const ag_ynode *api = doc->type == AG_YNODE_MAP ? ag_ynode_get(doc, "apiVersion") : NULL;
    if (!api || api->type != AG_YNODE_SCALAR || !strncmp(api->value, "policy.aimguard.io/", 19))
        return 0;
    const ag_ynode *kind = ag_ynode_get(doc, "kind");
    const char *k = kind && kind->type == AG_YNODE_SCALAR ? kind->value : "(none)";
    /* a policy with a mistyped apiVersion must not be skipped: it would never apply */
    char group[64];
    snprintf(group, sizeof group, "%.*s", (int)strcspn(api->value, "/"), api->value);
    if (!strcmp(k, "AdmissionPolicy") || pol_distance(group, "policy.aimguard.io") <= 3)
        return 0;
    diag(&set->notes, "%s:%u:%u: note: skipped: apiVersion %.200s kind %.200s is not a policy "
         "(policy.aimguard.io/...)", file, doc->line, doc->column, api->value, k);
    set->skipped++;
    return 1;
}

/* Compiles every document of one parsed file into set (errors go to diags). */
static void compile_docs(ag_policy_set *set, const ag_ydocs *docs, const char *file,
                         const ag_load_options *opts, ag_diags *diags)
{
    cctx c = {file, diags, 0, &set->warnings, 1};
    set->files++;
    for (size_t i = 0; i < docs->count; i++) {
        const ag_ynode *doc = docs->docs[i];
        if (doc->type == AG_YNODE_SCALAR && doc->len == 0 && !doc->quoted)
            continue; /* empty document, e.g. a trailing '---' */
        if (not_a_policy(set, doc, file))
            continue;
        policy *nv = realloc(set->v, (set->n + 1) * sizeof *nv);
        if (!nv) {
            pol_err(&c, doc, "out of memory");
            break;
        }
        set->v = nv;
        policy *p = &set->v[set->n];
        if (pol_policy_compile(&c, doc, p) == 0 || p->name) {
            set->n++;
            if (opts && opts->action_override >= 0 && p->action == AG_ACTION_ENFORCE)
                p->action = opts->action_override;
            for (size_t r = 0; r < p->nrules; r++)
                if (opts && opts->action_override >= 0 && p->rules[r].action == AG_ACTION_ENFORCE)
                    p->rules[r].action = opts->action_override;
            for (size_t j = 0; p->name && j + 1 < set->n; j++)
                if (set->v[j].name && !strcmp(set->v[j].name, p->name))
                    pol_err(&c, ag_ynode_get(ag_ynode_get(doc, "metadata"), "name"),
                             "policy name '%s' is already used at %s", p->name, set->v[j].where);
        } else {
            pol_policy_free(p);
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

/* "file:line:col: ..." -> its parts; a line without a position sorts by its text alone. */
typedef struct diag_key {
    const char *text;
    size_t file_len, index;
    unsigned long line, col;
} diag_key;

static void diag_key_parse(diag_key *k)
{
    k->file_len = strlen(k->text);
    k->line = k->col = 0;
    for (const char *p = strchr(k->text, ':'); p; p = strchr(p + 1, ':')) {
        char *e1, *e2;
        unsigned long l = strtoul(p + 1, &e1, 10);
        if (e1 == p + 1 || *e1 != ':')
            continue;
        unsigned long c = strtoul(e1 + 1, &e2, 10);
        if (e2 == e1 + 1 || *e2 != ':')
            continue;
        k->file_len = (size_t)(p - k->text);
        k->line = l;
        k->col = c;
        return;
    }
}

static int diag_key_cmp(const void *a, const void *b)
{
    const diag_key *x = a, *y = b;
    size_t n = x->file_len < y->file_len ? x->file_len : y->file_len;
    int r = strncmp(x->text, y->text, n);
    if (r) return r;
    if (x->file_len != y->file_len) return x->file_len < y->file_len ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts the lines of d from `from` on by file, line and column (stable): the compiler
 * reports in the order it visits, a reader wants them in the order of the text. */
static void sort_diags(ag_diags *d, size_t from)
{
    size_t n = d->count - from;
    if (n < 2)
        return;
    diag_key *k = malloc(n * sizeof *k);
    if (!k)
        return; /* unsorted, but complete */
    for (size_t i = 0; i < n; i++) {
        k[i].text = d->items[from + i];
        k[i].index = i;
        diag_key_parse(&k[i]);
    }
    qsort(k, n, sizeof *k, diag_key_cmp);
    for (size_t i = 0; i < n; i++)
        d->items[from + i] = (char *)k[i].text;
    free(k);
}

/* A set with errors, or with no policy at all, is refused. */
static int set_finish(ag_policy_set *set, size_t errors_before, const char *what,
                      ag_policy_set **out, ag_diags *diags, ag_error *err)
{
    sort_diags(diags, errors_before);
    sort_diags(&set->warnings, 0);
    if (diags->count > errors_before) {
        set_free(set);
        return ag_error_set(err, AG_EINVAL, "%zu error(s) in policies under %s",
                            diags->count - errors_before, what);
    }
    if (set->n == 0) {
        size_t skipped = set->skipped;
        set_free(set);
        diag(diags, "%s: no policies found (expected .yaml files with kind AdmissionPolicy%s)", what,
             skipped ? "; every document found has another apiVersion" : "");
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

/* Adds the files of one path: a file as is, a directory's .yaml/.yml files sorted by path. */
static int add_path(const char *path, files *fl, ag_diags *diags, ag_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        diag(diags, "%s: %s", path, strerror(errno));
        return ag_error_set(err, AG_EIO, "%s: %s", path, strerror(errno));
    }
    size_t from = fl->n;
    if (S_ISDIR(st.st_mode)) {
        /* a directory entry that could not be read is already in diags: it fails the load */
        (void)walk(path, 0, fl, diags);
    } else {
        char **nv = realloc(fl->v, (fl->n + 1) * sizeof *nv);
        if (!nv || !(nv[fl->n] = strdup(path))) {
            if (nv)
                fl->v = nv;
            return ag_error_set(err, AG_ENOMEM, "out of memory");
        }
        fl->v = nv;
        fl->n++;
    }
    if (fl->n - from > 1)
        qsort(fl->v + from, fl->n - from, sizeof *fl->v, cmp_str);
    return 0;
}

int ag_policy_load_paths(const char *const *paths, size_t npaths, const ag_load_options *opts,
                         ag_policy_set **out, ag_diags *diags, ag_error *err)
{
    *out = NULL;
    files fl = {0};
    size_t errors = diags->count;
    int rc = 0;
    for (size_t i = 0; !rc && i < npaths; i++)
        rc = add_path(paths[i], &fl, diags, err);
    ag_policy_set *set = rc ? NULL : set_new(opts);
    if (!set) {
        for (size_t i = 0; i < fl.n; i++) free(fl.v[i]);
        free(fl.v);
        return rc ? rc : ag_error_set(err, AG_ENOMEM, "out of memory");
    }
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
    return set_finish(set, errors, npaths == 1 ? paths[0] : "the given paths", out, diags, err);
}

int ag_policy_load(const char *path, const ag_load_options *opts, ag_policy_set **out,
                   ag_diags *diags, ag_error *err)
{
    return ag_policy_load_paths(&path, 1, opts, out, diags, err);
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

void ag_policy_set_stats(const ag_policy_set *set, ag_policy_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!set)
        return;
    out->policies = set->n;
    out->files = set->files;
    out->skipped = set->skipped;
    for (size_t i = 0; i < set->n; i++) {
        const policy *p = &set->v[i];
        /* the blocks of the table; spec.validate.rules counts by rule, below (spec.mutate.rules,
         * the generic mutations, counts as one mutate block) */
        for (const pol_block *const *b = pol_blocks; *b; b++)
            if ((*b)->present(p) && ((*b)->phase == POL_MUTATE || strcmp((*b)->key, "rules")))
                *((*b)->phase == POL_MUTATE ? &out->mutate_blocks : &out->validate_blocks) += 1;
        out->rules += p->nrules;
        out->exceptions += p->nexc;
    }
}

const ag_diags *ag_policy_set_notes(const ag_policy_set *set)
{
    static const ag_diags none = {NULL, 0};
    return set ? &set->notes : &none;
}

size_t ag_policy_warnings(const ag_policy_set *set, time_t now, ag_diags *out)
{
    size_t before = out->count;
    for (size_t i = 0; set && i < set->warnings.count; i++)
        diag(out, "%s", set->warnings.items[i]);
    for (size_t i = 0; set && i < set->n; i++)
        for (size_t j = 0; j < set->v[i].nexc; j++) {
            const exception_ *x = &set->v[i].exc[j];
            if (x->expires && x->expires <= now)
                diag(out, "%s: warning: exception expired on %s: it waives nothing (remove it, or "
                     "renew it with a new date)", x->where, x->expires_text ? x->expires_text : "?");
        }
    sort_diags(out, before);
    return out->count - before;
}
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

int ag_policy_set_reads_bookkeeping(const ag_policy_set *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        if (set->v[i].reads_bookkeeping)
            return 1;
    return 0;
}
