/* libFuzzer target: image reference parser. Properties: an accepted reference's
 * normalised form parses again to the same parts (normalisation is idempotent), and a
 * reference is always under its own registry/repository and matches itself as an image
 * pattern; an arbitrary pattern never crashes the matcher. */
#include <stdlib.h>
#include <string.h>

#include "aimguard/imageref.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ag_imageref r;
    ag_error err = {0};
    if (ag_imageref_parse(s, &r, &err) == 0) {
        ag_imageref again;
        if (ag_imageref_parse(r.normalized, &again, &err) != 0 || strcmp(again.normalized, r.normalized) ||
            strcmp(again.registry, r.registry) || strcmp(again.repository, r.repository))
            abort();
        ag_imageref_clear(&again);
        size_t n = strlen(r.registry) + strlen(r.repository) + 2;
        char *prefix = malloc(n);
        if (prefix) {
            strcpy(prefix, r.registry);
            strcat(prefix, "/");
            strcat(prefix, r.repository);
            if (ag_imageref_under(&r, prefix) != 1 || ag_imageref_under(&r, r.registry) != 1)
                abort();
            /* as an image pattern, a reference's repository and its normalised form
             * match it (exemptions and exceptions by image) */
            if (ag_imageref_match(&r, prefix) != 1 || ag_imageref_match(&r, r.normalized) != 1)
                abort();
            free(prefix);
        }
        ag_imageref_clear(&r);
    }
    /* arbitrary prefixes never crash either */
    ag_imageref probe;
    if (ag_imageref_parse("registry.example.com/aim/x:1", &probe, &err) == 0) {
        ag_imageref_under(&probe, s);
        /* arbitrary patterns: match and check agree on what is valid */
        char why[300];
        int valid = ag_imageref_pattern_check(s, why, sizeof why) == 0;
        int m = ag_imageref_match(&probe, s);
        if (!valid && m != -1 && *s)
            abort();
        ag_imageref_clear(&probe);
    }
    free(s);
    return 0;
}
