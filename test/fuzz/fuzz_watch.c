/* libFuzzer target: the Kubernetes watch-stream parser. The input is fed whole and
 * again split at every byte position chosen by its first byte; both feedings must
 * deliver the same events (splitting never changes the stream's meaning). */
#include <stdlib.h>
#include <string.h>

#include "aimguard/kube.h"

typedef struct count {
    size_t events;
    unsigned long long sum;
} count;

static int on_event(void *ctx, const char *type, json_t *obj)
{
    count *c = ctx;
    c->events++;
    c->sum += strlen(type) + json_object_size(obj);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t step = 1 + data[0] % 7;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    count whole = {0}, split = {0};
    ag_watch_parser a, b;
    ag_watch_parser_init(&a, on_event, &whole);
    ag_watch_parser_init(&b, on_event, &split);
    a.max_line = b.max_line = 1 << 16;
    int ra = ag_watch_parser_feed(&a, s, n);
    int rb = 0;
    for (size_t i = 0; i < n && rb == 0; i += step)
        rb = ag_watch_parser_feed(&b, s + i, n - i < step ? n - i : step);
    if ((ra == 0) != (rb == 0) || (ra == 0 && (whole.events != split.events || whole.sum != split.sum)))
        abort();
    ag_watch_parser_clear(&a);
    ag_watch_parser_clear(&b);
    return 0;
}
