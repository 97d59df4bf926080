#include "aimguard/patch.h"
#include "aimguard/jsonio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ag_ptr_join(char *out, size_t cap, const char *ptr, const char *key)
{
    size_t o = strlen(ptr);
    if (out != ptr) {
        if (o + 1 > cap)
            return -1;
        memmove(out, ptr, o + 1);
    }
    if (o + 1 >= cap)
        return -1;
    out[o++] = '/';
    for (; *key; key++) {
        const char *esc = *key == '~' ? "~0" : *key == '/' ? "~1" : NULL;
        size_t need = esc ? 2 : 1;
        if (o + need >= cap)
            return -1;
        if (esc) {
            out[o++] = esc[0];
            out[o++] = esc[1];
        } else {
            out[o++] = *key;
        }
    }
    out[o] = '\0';
    return 0;
}

int ag_ptr_join_index(char *out, size_t cap, const char *ptr, size_t index)
{
    char num[32];
    snprintf(num, sizeof num, "%zu", index);
    return ag_ptr_join(out, cap, ptr, num);
}

static void record(ag_patch *p, const char *path, json_t *value)
{
    /* the text: written now, so the value is recorded as it is at this point (the
     * working copy keeps changing; an array recorded empty stays empty) */
    ag_buf_add(&p->text, p->n ? ",{\"op\":\"add\",\"path\":" : "[{\"op\":\"add\",\"path\":");
    ag_json_write_string(&p->text, path, strlen(path));
    ag_buf_add(&p->text, ",\"value\":");
    if (ag_json_write(&p->text, value))
        p->oom = 1;
    ag_buf_add(&p->text, "}");
    if (p->text.oom)
        p->oom = 1;
    p->n++;
    if (p->text_only)
        return;
    if (!p->ops)
        p->ops = json_array();
    /* a copy, for the same reason */
    json_t *op = json_object(), *copy = json_deep_copy(value);
    if (!p->ops || !op || !copy) {
        json_decref(op);
        json_decref(copy);
        p->oom = 1;
        return;
    }
    /* built member by member (json_pack parses its format on every call, and a mutation
     * records a few dozen ops); each *_set_new takes its value, failed or not */
    int bad = json_object_set_new_nocheck(op, "op", json_string_nocheck("add"));
    bad |= json_object_set_new(op, "path", json_string(path));
    bad |= json_object_set_new_nocheck(op, "value", copy);
    if (bad) {
        json_decref(op);
        p->oom = 1;
    } else if (json_array_append_new(p->ops, op)) {
        p->oom = 1;
    }
}

char *ag_patch_finish(ag_patch *p, size_t *len)
{
    *len = 0;
    if (!p->n || p->oom) {
        ag_buf_clear(&p->text);
        return NULL;
    }
    ag_buf_add(&p->text, "]");
    *len = p->text.len;
    char *t = ag_buf_take(&p->text);
    if (!t)
        p->oom = 1;
    return t;
}

void ag_patch_set(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                  json_t *value)
{
    char path[1024];
    if (!value || ag_ptr_join(path, sizeof path, parent_ptr, key)) {
        p->oom = 1;
        json_decref(value);
        return;
    }
    record(p, path, value);
    if (json_object_set_new(parent, key, value))
        p->oom = 1;
}

void ag_patch_default(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                      json_t *value)
{
    if (json_object_get(parent, key)) {
        json_decref(value);
        return;
    }
    ag_patch_set(p, parent, parent_ptr, key, value);
}

void ag_patch_append(ag_patch *p, json_t *arr, const char *arr_ptr, json_t *value)
{
    char path[1024];
    if (!value || ag_ptr_join(path, sizeof path, arr_ptr, "-")) {
        p->oom = 1;
        json_decref(value);
        return;
    }
    record(p, path, value);
    if (json_array_append_new(arr, value))
        p->oom = 1;
}

static json_t *container(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                         char *child_ptr, size_t cap, int want_array)
{
    if (ag_ptr_join(child_ptr, cap, parent_ptr, key)) {
        p->oom = 1;
        return NULL;
    }
    json_t *cur = json_object_get(parent, key);
    if (want_array ? json_is_array(cur) : json_is_object(cur))
        return cur;
    json_t *fresh = want_array ? json_array() : json_object();
    ag_patch_set(p, parent, parent_ptr, key, fresh);
    return p->oom ? NULL : json_object_get(parent, key);
}

json_t *ag_patch_object(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                        char *child_ptr, size_t cap)
{
    return container(p, parent, parent_ptr, key, child_ptr, cap, 0);
}

json_t *ag_patch_array(ag_patch *p, json_t *parent, const char *parent_ptr, const char *key,
                       char *child_ptr, size_t cap)
{
    return container(p, parent, parent_ptr, key, child_ptr, cap, 1);
}
