/* A digest of the policy files' names and contents, exported as
 * aimguard_policy_info{digest}: replicas serving the same policies show the same digest
 * whatever their generation (a per-process count of reloads, which differs after any
 * restart), so "replicas serve different policies" becomes one alert expression.
 * The files are walked as ag_policy_load walks them (*.yaml and *.yml, dot-entries
 * skipped, byte order of relative paths); they are read again right before the load, so
 * a write in between makes the next poll reload and digest again. */
#include "serve_int.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int policy_file(const char *n)
{
    size_t l = strlen(n);
    return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml"));
}

static void collect(const char *root, const char *rel, int depth, names *out)
{
    char dir[4096];
    if (ag_strfmt(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) || depth > 16)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char r[4096], full[8192];
        struct stat st;
        if (ag_strfmt(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name) ||
            ag_strfmt(full, sizeof full, "%s/%s", root, r) || stat(full, &st))
            continue;
        if (S_ISDIR(st.st_mode)) {
            collect(root, r, depth + 1, out);
        } else if (policy_file(e->d_name)) {
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 16;
                char **nv = realloc(out->v, cap * sizeof *nv);
                if (!nv)
                    break;
                out->v = nv;
                out->cap = cap;
            }
            if ((out->v[out->n] = strdup(r)))
                out->n++;
        }
    }
    closedir(d);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void hash_file(EVP_MD_CTX *md, const char *path, const char *name)
{
    EVP_DigestUpdate(md, name, strlen(name) + 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        EVP_DigestUpdate(md, "\1unreadable", 11);
        return;
    }
    char buf[16384];
    size_t n;
    unsigned long long total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        EVP_DigestUpdate(md, buf, n);
        total += n;
    }
    fclose(f);
    EVP_DigestUpdate(md, &total, sizeof total); /* ends the file: no two layouts hash alike */
}

int serve_policy_digest(const char *path, char *out, size_t cap)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        names files = {0};
        collect(path, "", 0, &files);
        if (files.n) /* qsort(NULL, 0) is undefined behaviour */
            qsort(files.v, files.n, sizeof *files.v, by_path);
        for (size_t i = 0; i < files.n; i++) {
            char full[8192];
            if (!ag_strfmt(full, sizeof full, "%s/%s", path, files.v[i]))
                hash_file(md, full, files.v[i]);
            free(files.v[i]);
        }
        free(files.v);
    } else {
        const char *base = strrchr(path, '/');
        hash_file(md, path, base ? base + 1 : path);
    }
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(md, d, &n);
    EVP_MD_CTX_free(md);
    if (!ok || cap < 8 + 2 * (size_t)n + 1)
        return -1;
    /* the first 16 bytes: enough to tell sets apart, short enough for a label */
    if (n > 16)
        n = 16;
    size_t o = (size_t)snprintf(out, cap, "sha256-");
    for (unsigned i = 0; i < n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%02x", d[i]);
    return 0;
}

size_t serve_policy_failing_files(const ag_diags *d)
{
    /* each diagnostic is "file:line:column: message"; files are counted once */
    size_t count = 0;
    for (size_t i = 0; i < d->count; i++) {
        const char *s = d->items[i], *c = s;
        while ((c = strchr(c, ':')) && !(c[1] >= '0' && c[1] <= '9'))
            c++;
        size_t len = c ? (size_t)(c - s) : strlen(s);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strncmp(d->items[j], s, len) && d->items[j][len] == ':';
        count += !seen;
    }
    return count ? count : 1; /* refused without a file to blame (a missing directory): still failing */
}
