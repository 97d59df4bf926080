/* JSON values printed as YAML (eval -o yaml, -o object-yaml) with libyaml's emitter, so
 * quoting is libyaml's business: a string that would read back as a number, a boolean
 * or null ("1.10", "true", "~") is quoted, never silently retyped. */
#include "cli_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? 0 : -1;
}

/* 1 when a plain scalar with this text could be read back as something else than a
 * string. libyaml picks a style by syntax, not by type; kubectl's YAML reader is YAML 1.1
 * (yes/no/on/off, 0b101, 1_000, 1:20 and dates are not strings there), so anything that
 * starts like a number is quoted, which is always safe. */
static int needs_quotes(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~", ""};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i]))
            return 1;
    if (strchr("0123456789+-.", s[0]) && strspn(s, "0123456789abcdefABCDEFxXoO_.:+-eEinftyINFTYaAN ") == strlen(s))
        return 1;
    return 0;
}

static int scalar(yaml_emitter_t *em, const char *text, size_t len, int plain_ok)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)len, plain_ok, 1, style))
        return -1;
    return emit(em, &ev);
}

static int value(yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    char num[64];
    if (depth > 200)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) || emit(em, &ev))
            return -1;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (scalar(em, k, strlen(k), !needs_quotes(k)) || value(em, x, depth + 1))
                return -1;
        }
        return yaml_mapping_end_event_initialize(&ev) ? emit(em, &ev) : -1;
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            emit(em, &ev))
            return -1;
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (value(em, x, depth + 1))
                return -1;
        }
        return yaml_sequence_end_event_initialize(&ev) ? emit(em, &ev) : -1;
    }
    case JSON_STRING:
        return scalar(em, json_string_value(v), json_string_length(v),
                      !needs_quotes(json_string_value(v)) && !memchr(json_string_value(v), '\0', json_string_length(v)));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return scalar(em, num, strlen(num), 1);
    case JSON_REAL:
        snprintf(num, sizeof num, "%.17g", json_real_value(v));
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0"); /* stays a float when read back */
        return scalar(em, num, strlen(num), 1);
    case JSON_TRUE:
        return scalar(em, "true", 4, 1);
    case JSON_FALSE:
        return scalar(em, "false", 5, 1);
    default:
        return scalar(em, "null", 4, 1);
    }
}

static int write_cb(void *data, unsigned char *buf, size_t size)
{
    return fwrite(buf, 1, size, data) == size;
}

int cli_yaml_print(FILE *f, const json_t *v, ag_error *err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return ag_error_set(err, AG_ENOMEM, "out of memory");
    yaml_emitter_set_output(&em, write_cb, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    int rc = -1;
    if (yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && !emit(&em, &ev) &&
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) && !emit(&em, &ev) &&
        !value(&em, v, 0) && yaml_document_end_event_initialize(&ev, 1) && !emit(&em, &ev) &&
        yaml_stream_end_event_initialize(&ev) && !emit(&em, &ev))
        rc = 0;
    if (rc)
        ag_error_set(err, AG_EIO, "cannot write YAML: %s", em.problem ? em.problem : "write error");
    yaml_emitter_delete(&em);
    return rc;
}
