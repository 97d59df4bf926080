#include "agtest.h"

#include <stdlib.h>

int agt_failures;
int agt_checks;

int agt_finish(void)
{
    fprintf(stderr, "%d checks, %d failed\n", agt_checks, agt_failures);
    return agt_failures ? 1 : (agt_checks ? 0 : 1);
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
