/* Container image references, parsed and normalised the way the container runtime
 * (containerd / the docker reference grammar) does: implicit "docker.io" registry,
 * implicit "library/" for single-component Docker Hub names, "index.docker.io" ->
 * "docker.io", registry hosts with ports or bracketed IPv6 addresses, tags, digests.
 *
 * Matching works on parsed parts so that "registry.example.com.evil.io/x" or
 * "registry.example.com/aim/../x" can never pass an allowlist entry for
 * "registry.example.com/aim/".
 * Thread-safety: reentrant. Ownership: ag_imageref_clear() frees the strings. */
#ifndef AIMGUARD_IMAGEREF_H
#define AIMGUARD_IMAGEREF_H

#include "aimguard/error.h"

typedef struct ag_imageref {
    char *registry;   /* "docker.io", "registry.example.com:5000", "[::1]:5000" (lower case) */
    char *repository; /* "library/nginx", "amdenterpriseai/aim-llama" */
    char *tag;        /* NULL when the reference has no tag */
    char *digest;     /* "sha256:<64 hex>" or NULL */
    char *normalized; /* registry "/" repository [":" tag] ["@" digest] */
} ag_imageref;

/* Rejects anything the reference grammar rejects (upper case in the path, "..",
 * empty components, bad digests, non-ASCII look-alikes, ...) with a reason. */
int ag_imageref_parse(const char *ref, ag_imageref *out, ag_error *err);
void ag_imageref_clear(ag_imageref *ref);

/* 1 when the reference lies under `prefix`, a registry with an optional repository
 * path ("docker.io/amdenterpriseai/", "ghcr.io/silogen", "registry.example.com"),
 * compared on whole path components after normalising the prefix the same way.
 * A prefix without a path matches every repository of that registry; a prefix ending
 * in "/" matches only repositories below its path ("ghcr.io/silogen/" never admits
 * "ghcr.io/silogen:1"). 0 otherwise,
 * and -1 when the prefix itself is not a valid registry[/path]. */
int ag_imageref_under(const ag_imageref *ref, const char *prefix);

/* An image pattern, as exemptions and exceptions name images (docs/policy-reference.md):
 *   - a glob ('*' any run, also across '/'; '?' one character) on the normalised
 *     reference, whose registry and first '/' are literal ("ghcr.io/org/agent-*");
 *   - a prefix ending in '/' (ag_imageref_under: "registry.example.com/infra/");
 *   - an image reference, normalised: without tag and digest it names every tag and
 *     digest of that repository ("busybox" = docker.io/library/busybox); with a tag or
 *     a digest only those ("busybox:1.36").
 * Returns 1 on a match, 0 otherwise, -1 when the pattern is not valid. */
int ag_imageref_match(const ag_imageref *ref, const char *pattern);
/* 0 when pattern is a valid image pattern, else -1 with the reason in why. */
int ag_imageref_pattern_check(const char *pattern, char *why, size_t cap);

#endif
