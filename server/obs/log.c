#include "aimguard/log.h"
#include "aimguard/buf.h"
#include "aimguard/jsonio.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The threshold is configuration written once before threads start; atomic so that
 * reading it from request threads is well defined. */
static atomic_int log_threshold = AG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ag_log_set_level(ag_log_level level) { atomic_store(&log_threshold, (int)level); }

int ag_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

int ag_log_enabled(ag_log_level level) { return (int)level >= atomic_load(&log_threshold); }

int ag_log_begin(ag_log_line *l, ag_log_level level, const char *msg)
{
    memset(l, 0, sizeof *l);
    if (!ag_log_enabled(level))
        return -1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    /* written straight into one buffer: time, level and msg first, then the fields in
     * the caller's order; reals with 9 significant digits, so a duration reads 0.077717,
     * not 0.077717000000000008 */
    ag_buf_add(&l->b, "{\"time\":\"");
    ag_buf_add(&l->b, ts);
    ag_buf_add(&l->b, "\",\"level\":\"");
    ag_buf_add(&l->b, level_names[level]);
    ag_buf_add(&l->b, "\",\"msg\":");
    ag_json_write_text(&l->b, msg);
    return 0;
}

ag_buf *ag_log_value(ag_log_line *l, const char *key)
{
    ag_buf_addn(&l->b, ",", 1);
    ag_json_write_string(&l->b, key, strlen(key));
    ag_buf_addn(&l->b, ":", 1);
    return &l->b;
}

void ag_log_str(ag_log_line *l, const char *key, const char *value)
{
    if (value)
        ag_json_write_text(ag_log_value(l, key), value);
}

void ag_log_int(ag_log_line *l, const char *key, long long value)
{
    ag_buf_printf(ag_log_value(l, key), "%lld", value);
}

void ag_log_real(ag_log_line *l, const char *key, double value)
{
    ag_json_write_real(ag_log_value(l, key), value, 9);
}

void ag_log_bool(ag_log_line *l, const char *key, int value)
{
    ag_buf_add(ag_log_value(l, key), value ? "true" : "false");
}

void ag_log_end(ag_log_line *l)
{
    ag_buf_add(&l->b, "}\n");
    size_t len = l->b.len;
    char *out = ag_buf_take(&l->b);
    if (!out)
        return;
    ssize_t w = write(STDERR_FILENO, out, len);
    (void)w;
    free(out);
}

/* A line of a document's fields (a field named like time, level or msg is dropped) */
static void emit(ag_log_level level, const char *msg, json_t *line)
{
    ag_log_line l;
    if (ag_log_begin(&l, level, msg))
        return;
    const char *k;
    json_t *v;
    json_object_foreach(line, k, v) {
        if (!strcmp(k, "time") || !strcmp(k, "level") || !strcmp(k, "msg"))
            continue;
        ag_json_write_prec(ag_log_value(&l, k), v, 9);
    }
    ag_log_end(&l);
}

void ag_log(ag_log_level level, const char *msg, ...)
{
    if (!ag_log_enabled(level))
        return;
    json_t *fields = json_object();
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (v && fields)
            json_object_set_new(fields, k, json_string(v));
    }
    va_end(ap);
    emit(level, msg, fields);
    json_decref(fields);
}

void ag_log_json(ag_log_level level, const char *msg, const json_t *fields)
{
    if (!ag_log_enabled(level))
        return;
    emit(level, msg, (json_t *)fields);
}
