/* Container image references, parsed like the distribution/reference grammar that
 * containerd and docker use, then normalised; see docs/image-references.md. */
#include "aimguard/imageref.h"
#include "aimguard/policy.h" /* ag_glob */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_TOTAL 255

static int is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static int is_alnum(char c) { return isalnum((unsigned char)c) != 0; }

/* domain-name component: alnum ([alnum-]* alnum)? */
static int valid_host(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            size_t len = i - start;
            if (len == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
                return 0;
            for (size_t j = start; j < i; j++)
                if (!is_alnum(s[j]) && s[j] != '-')
                    return 0;
            start = i + 1;
        }
    }
    return 1;
}

static int valid_port(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v <= 65535;
}

/* host[:port] or [ipv6][:port]; fills why on failure */
static int valid_domain(const char *s, size_t n, const char **why)
{
    const char *colon;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) {
            *why = "unterminated [IPv6] registry address";
            return 0;
        }
        size_t hl = (size_t)(close - s - 1);
        if (hl < 2) {
            *why = "empty [IPv6] registry address";
            return 0;
        }
        for (size_t i = 1; i <= hl; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.') {
                *why = "an IPv6 registry address holds only hex digits, ':' and '.' (no zone)";
                return 0;
            }
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest == 0)
            return 1;
        if (close[1] != ':' || !valid_port(close + 2, rest - 1)) {
            *why = "bad port after the [IPv6] registry address";
            return 0;
        }
        return 1;
    }
    colon = memchr(s, ':', n);
    size_t hn = colon ? (size_t)(colon - s) : n;
    if (!valid_host(s, hn)) {
        *why = "bad registry host name";
        return 0;
    }
    if (colon && !valid_port(colon + 1, n - hn - 1)) {
        *why = "bad registry port";
        return 0;
    }
    return 1;
}

/* path-component: alnum+ (separator alnum+)*, separator := [_.] | "__" | "-"+ ;
 * lower case only */
static int valid_path(const char *s, size_t n, const char **why)
{
    if (n == 0) {
        *why = "empty repository name";
        return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/')
            continue;
        const char *c = s + start;
        size_t len = i - start;
        if (len == 0) {
            *why = "empty path component (\"//\", or a leading or trailing '/')";
            return 0;
        }
        for (size_t j = 0; j < len; j++) {
            if (isupper((unsigned char)c[j])) {
                *why = "repository names must be lower case";
                return 0;
            }
        }
        if (!is_alnum_lower(c[0]) || !is_alnum_lower(c[len - 1])) {
            *why = "a path component must start and end with a letter or digit";
            return 0;
        }
        for (size_t j = 0; j < len;) {
            if (is_alnum_lower(c[j])) {
                j++;
                continue;
            }
            size_t k = j;
            if (c[j] == '.') {
                k = j + 1;
            } else if (c[j] == '_') {
                k = j + (c[j + 1] == '_' ? 2 : 1);
            } else if (c[j] == '-') {
                while (k < len && c[k] == '-')
                    k++;
            } else {
                *why = "a path component may only hold a-z, 0-9 and the separators . _ __ -";
                return 0;
            }
            if (k >= len || !is_alnum_lower(c[k])) {
                *why = "separators in a path component must sit between letters or digits (no \"..\")";
                return 0;
            }
            j = k;
        }
        start = i + 1;
    }
    return 1;
}

static int valid_tag(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return 0;
    if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
            return 0;
    return 1;
}

static int valid_digest(const char *d, const char **why)
{
    const char *colon = strchr(d, ':');
    if (!colon || colon == d) {
        *why = "a digest is algorithm:hex";
        return 0;
    }
    for (const char *p = d; p < colon; p++)
        if (!(is_alnum_lower(*p) || ((*p == '+' || *p == '.' || *p == '_' || *p == '-') && p > d &&
                                     p + 1 < colon && is_alnum_lower(p[1])))) {
            *why = "bad digest algorithm";
            return 0;
        }
    const char *hex = colon + 1;
    size_t n = strlen(hex);
    for (size_t i = 0; i < n; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) {
            *why = "a digest is lower-case hex";
            return 0;
        }
    size_t alg = (size_t)(colon - d);
    if (alg == 6 && !strncmp(d, "sha256", 6) && n != 64) {
        *why = "a sha256 digest has 64 hex digits";
        return 0;
    }
    if (alg == 6 && !strncmp(d, "sha512", 6) && n != 128) {
        *why = "a sha512 digest has 128 hex digits";
        return 0;
    }
    if (n < 32) {
        *why = "digest too short";
        return 0;
    }
    return 1;
}

void ag_imageref_clear(ag_imageref *r)
{
    if (!r)
        return;
    free(r->registry);
    free(r->repository);
    free(r->tag);
    free(r->digest);
    free(r->normalized);
    memset(r, 0, sizeof *r);
}

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/* The registry of a domain as the runtime knows it: Docker Hub answers under three
 * names, and a deny or allow rule written for one must hold for all of them. */
static char *canonical_registry(const char *s, size_t n)
{
    char *r = lower_dup(s, n);
    if (r && (!strcmp(r, "index.docker.io") || !strcmp(r, "registry-1.docker.io"))) {
        free(r);
        r = strdup("docker.io");
    }
    return r;
}

int ag_imageref_parse(const char *ref, ag_imageref *out, ag_error *err)
{
    memset(out, 0, sizeof *out);
    const char *why = NULL;
    if (!ref || !*ref)
        return ag_error_set(err, AG_EINVAL, "empty image reference");
    size_t total = strlen(ref);
    if (total > 1024)
        return ag_error_set(err, AG_EINVAL, "image reference longer than 1024 characters");
    for (size_t i = 0; i < total; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (c <= 0x20 || c >= 0x7f)
            return ag_error_set(err, AG_EINVAL, "image reference holds a %s (byte %zu): only "
                                "printable ASCII is valid",
                                c >= 0x80 ? "non-ASCII character" : "space or control character", i);
    }
    char *buf = strdup(ref);
    if (!buf)
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    char *at = strchr(buf, '@');
    const char *digest = NULL;
    if (at) {
        *at = '\0';
        digest = at + 1;
        if (!valid_digest(digest, &why))
            goto bad;
    }
    char *slash = strrchr(buf, '/'), *colon = strrchr(buf, ':');
    const char *tag = NULL;
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        tag = colon + 1;
        if (!valid_tag(tag)) {
            why = "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'";
            goto bad;
        }
    }
    const char *name = buf;
    size_t nlen = strlen(name);
    const char *first_slash = strchr(name, '/');
    const char *dom = NULL, *path = name;
    size_t dlen = 0;
    if (first_slash) {
        size_t fl = (size_t)(first_slash - name);
        int lower = 1;
        for (size_t i = 0; i < fl; i++)
            lower &= !isupper((unsigned char)name[i]);
        if (memchr(name, '.', fl) || memchr(name, ':', fl) || (fl == 9 && !strncmp(name, "localhost", 9)) ||
            !lower || name[0] == '[') {
            dom = name;
            dlen = fl;
            path = first_slash + 1;
        }
    }
    if (dom && !valid_domain(dom, dlen, &why))
        goto bad;
    /* "UPPER/app" names a registry host only because of its capitals; lower-cased (as
     * host names are) it would read as a Docker Hub path: refuse the ambiguity */
    if (dom && !memchr(dom, '.', dlen) && !memchr(dom, ':', dlen) && dom[0] != '[' &&
        !(dlen == 9 && !strncmp(dom, "localhost", 9))) {
        why = "a registry host without a '.' or a port is ambiguous (it reads as a Docker Hub "
              "path once lower-cased); write it in lower case with its domain or port";
        goto bad;
    }
    if (!valid_path(path, strlen(path), &why))
        goto bad;
    out->registry = dom ? canonical_registry(dom, dlen) : strdup("docker.io");
    if (out->registry && !strcmp(out->registry, "docker.io") && !strchr(path, '/')) {
        out->repository = malloc(strlen(path) + 9);
        if (out->repository)
            sprintf(out->repository, "library/%s", path);
    } else {
        out->repository = strdup(path);
    }
    out->tag = tag ? strdup(tag) : NULL;
    out->digest = digest ? strdup(digest) : NULL;
    if (!out->registry || !out->repository || (tag && !out->tag) || (digest && !out->digest)) {
        free(buf);
        ag_imageref_clear(out);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    if (strlen(out->registry) + 1 + strlen(out->repository) > NAME_MAX_TOTAL || nlen > NAME_MAX_TOTAL) {
        why = "repository name longer than 255 characters";
        ag_imageref_clear(out);
        goto bad;
    }
    size_t n = strlen(out->registry) + strlen(out->repository) + (tag ? strlen(tag) : 0) +
               (digest ? strlen(digest) : 0) + 4;
    out->normalized = malloc(n);
    if (!out->normalized) {
        free(buf);
        ag_imageref_clear(out);
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    }
    snprintf(out->normalized, n, "%s/%s%s%s%s%s", out->registry, out->repository, tag ? ":" : "",
             tag ? tag : "", digest ? "@" : "", digest ? digest : "");
    free(buf);
    return 0;
bad:
    free(buf);
    return ag_error_set(err, AG_EINVAL, "invalid image reference: %s", why ? why : "bad syntax");
}

int ag_imageref_under(const ag_imageref *ref, const char *prefix)
{
    if (!ref || !ref->registry || !prefix || !*prefix)
        return -1;
    size_t n = strlen(prefix);
    /* "ghcr.io/silogen/" admits only what is below silogen/, never silogen itself */
    int below = n && prefix[n - 1] == '/';
    while (n && prefix[n - 1] == '/')
        n--;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)prefix[i] <= 0x20 || (unsigned char)prefix[i] >= 0x7f)
            return -1;
    const char *slash = memchr(prefix, '/', n);
    size_t dl = slash ? (size_t)(slash - prefix) : n;
    const char *why = NULL;
    if (!valid_domain(prefix, dl, &why))
        return -1;
    char *reg = canonical_registry(prefix, dl);
    if (!reg)
        return -1;
    int same = !strcmp(reg, ref->registry);
    free(reg);
    if (!slash)
        return same;
    const char *path = slash + 1;
    size_t pl = n - dl - 1;
    if (!valid_path(path, pl, &why))
        return -1;
    if (!same)
        return 0;
    /* whole path components: "aim" covers "aim" and "aim/x", never "aimx"; "aim/" only
     * "aim/x" */
    return !strncmp(ref->repository, path, pl) &&
           ((ref->repository[pl] == '\0' && !below) || ref->repository[pl] == '/');
}

/* A glob must name its registry literally: "*" or "*evil*" could then never match a
 * look-alike registry (evil.io/registry.example.com/...). */
static int glob_registry_literal(const char *pattern)
{
    const char *slash = strchr(pattern, '/');
    size_t wild = strcspn(pattern, "*?");
    return slash && (size_t)(slash - pattern) < wild && slash > pattern;
}

int ag_imageref_pattern_check(const char *pattern, char *why, size_t cap)
{
    if (!pattern || !*pattern)
        return ag_strfmt(why, cap, "an image pattern must not be empty"), -1;
    if (strpbrk(pattern, "*?")) {
        if (!glob_registry_literal(pattern))
            return ag_strfmt(why, cap, "the glob '%s' must start with a literal registry and '/' "
                             "(e.g. ghcr.io/org/agent-*), so no other registry can match it", pattern), -1;
        return 0;
    }
    ag_imageref probe;
    ag_error err = {0};
    if (pattern[strlen(pattern) - 1] == '/') {
        ag_imageref_parse("docker.io/library/probe", &probe, &err);
        int rc = ag_imageref_under(&probe, pattern);
        ag_imageref_clear(&probe);
        if (rc < 0)
            return ag_strfmt(why, cap, "'%s' is not a registry[/repository path]/ prefix", pattern), -1;
        return 0;
    }
    if (ag_imageref_parse(pattern, &probe, &err))
        return ag_strfmt(why, cap, "'%s' is not an image reference: %s", pattern, err.msg), -1;
    ag_imageref_clear(&probe);
    return 0;
}

int ag_imageref_match(const ag_imageref *ref, const char *pattern)
{
    if (!ref || !ref->normalized || !pattern || !*pattern)
        return -1;
    if (strpbrk(pattern, "*?"))
        return glob_registry_literal(pattern) ? ag_glob(pattern, ref->normalized) : -1;
    if (pattern[strlen(pattern) - 1] == '/')
        return ag_imageref_under(ref, pattern);
    ag_imageref p;
    ag_error err = {0};
    if (ag_imageref_parse(pattern, &p, &err))
        return -1;
    int m = !strcmp(p.registry, ref->registry) && !strcmp(p.repository, ref->repository) &&
            (!p.tag || (ref->tag && !strcmp(p.tag, ref->tag))) &&
            (!p.digest || (ref->digest && !strcmp(p.digest, ref->digest)));
    ag_imageref_clear(&p);
    return m;
}
