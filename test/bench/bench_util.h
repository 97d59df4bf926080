/* What the C benchmarks share: process CPU time and a whole file read into memory. */
#ifndef AG_BENCH_UTIL_H
#define AG_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* this process's CPU seconds (both cores' share of it) */
static inline double bench_cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* the file, NUL-terminated (caller frees), its length in *len; NULL when unreadable */
static inline char *bench_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b)
        b[n] = '\0';
    *len = b ? (size_t)n : 0;
    return b;
}

#endif
