/* Watch event stream parsing: one JSON object per line, split across arbitrary reads. */
#include "aimguard/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ag_watch_parser_init(ag_watch_parser *p, ag_watch_event_fn fn, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->max_line = 16u << 20;
}

void ag_watch_parser_clear(ag_watch_parser *p)
{
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
}

static int line(ag_watch_parser *p, const char *s, size_t n)
{
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n == 0)
        return 0;
    json_error_t je;
    json_t *ev = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!ev || !type || !json_is_object(obj)) {
        snprintf(p->error, sizeof p->error, "watch stream: %s", ev ? "event without type or object"
                                                                   : "malformed JSON event");
        json_decref(ev);
        return -1;
    }
    int rc = p->fn ? p->fn(p->ctx, type, obj) : 0;
    json_decref(ev);
    if (rc)
        snprintf(p->error, sizeof p->error, "stopped by the consumer");
    return rc ? -1 : 0;
}

int ag_watch_parser_feed(ag_watch_parser *p, const char *data, size_t n)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        if (p->len + take > p->max_line) {
            snprintf(p->error, sizeof p->error, "watch stream: event longer than %zu bytes", p->max_line);
            return -1;
        }
        if (p->len + take + 1 > p->cap) {
            size_t nc = p->cap ? p->cap : 4096;
            while (nc < p->len + take + 1)
                nc *= 2;
            char *nb = realloc(p->buf, nc);
            if (!nb) {
                snprintf(p->error, sizeof p->error, "out of memory");
                return -1;
            }
            p->buf = nb;
            p->cap = nc;
        }
        memcpy(p->buf + p->len, data, take);
        p->len += take;
        if (!nl)
            return 0;
        int rc = line(p, p->buf, p->len);
        p->len = 0;
        if (rc)
            return rc;
        data = nl + 1;
        n -= take + 1;
    }
    return 0;
}
