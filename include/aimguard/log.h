/* Structured logs: one JSON object per line on stderr.
 *
 * Fields are given as key/value string pairs so that every value goes through the
 * JSON encoder (no hand-made escaping). Callers must never pass secret values,
 * tokens or key material. Thread-safety: safe from any thread; each line is written
 * with a single write(2) so lines never interleave. */
#ifndef AIMGUARD_LOG_H
#define AIMGUARD_LOG_H

#include <jansson.h>

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

#endif
