#include "aimguard/log.h"

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

static void emit(ag_log_level level, const char *msg, json_t *line)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    json_t *head = json_pack("{s:s, s:s, s:s}", "time", ts, "level", level_names[level],
                             "msg", msg ? msg : "");
    if (!head)
        return;
    if (line)
        json_object_update_missing(head, line);
    /* 9 significant digits: a duration reads 0.077717, not 0.077717000000000008 */
    char *text = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(head);
    if (!text)
        return;
    size_t len = strlen(text);
    char *out = realloc(text, len + 2);
    if (!out) {
        free(text);
        return;
    }
    out[len] = '\n';
    ssize_t w = write(STDERR_FILENO, out, len + 1);
    (void)w;
    free(out);
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
