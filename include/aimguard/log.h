/* Structured logs: one JSON object per line on stderr.
 *
 * Fields are given as key/value string pairs so that every value goes through the
 * JSON encoder (no hand-made escaping). Callers must never pass secret values,
 * tokens or key material. Thread-safety: safe from any thread; each line is written
 * with a single write(2) so lines never interleave. */
#ifndef AIMGUARD_LOG_H
#define AIMGUARD_LOG_H

#include <jansson.h>

#include "aimguard/buf.h"

typedef enum { AG_LOG_DEBUG = 0, AG_LOG_INFO, AG_LOG_WARN, AG_LOG_ERROR } ag_log_level;

/* Process-wide threshold, set once at start-up before threads run. */
void ag_log_set_level(ag_log_level level);
int ag_log_level_parse(const char *s); /* -1 when unknown */
int ag_log_enabled(ag_log_level level);

/* ag_log(level, msg, "key", "value", ..., NULL): NULL values are skipped; the list ends
 * with a NULL key, which the compiler checks is there. */
void ag_log(ag_log_level level, const char *msg, ...) __attribute__((sentinel));
/* Logs msg with the fields of `fields` (a JSON object, not consumed). */
void ag_log_json(ag_log_level level, const char *msg, const json_t *fields);

/* A line written field by field straight into one buffer, for a caller that has its
 * fields as C values (the admission route's line, once per request: no document built).
 *   ag_log_line l;
 *   if (ag_log_begin(&l, AG_LOG_INFO, "admission") == 0) {
 *       ag_log_str(&l, "uid", uid); ...; ag_log_end(&l);
 *   }
 * ag_log_begin writes time, level and msg and returns 0, or -1 when the level is not
 * logged (then nothing else must be called). String values are NUL-terminated text; a
 * NULL one leaves the field out; a byte that does not start valid UTF-8 is written as
 * U+FFFD (ag_json_write_text). ag_log_value writes the key and returns the buffer, for
 * the caller to append exactly one JSON value. ag_log_end writes the line with one
 * write(2) and frees it. Never pass secret values. */
typedef struct ag_log_line {
    ag_buf b;
} ag_log_line;
int ag_log_begin(ag_log_line *l, ag_log_level level, const char *msg);
void ag_log_str(ag_log_line *l, const char *key, const char *value);
void ag_log_int(ag_log_line *l, const char *key, long long value);
void ag_log_real(ag_log_line *l, const char *key, double value); /* 9 significant digits */
void ag_log_bool(ag_log_line *l, const char *key, int value);
ag_buf *ag_log_value(ag_log_line *l, const char *key);
void ag_log_end(ag_log_line *l);

#endif
