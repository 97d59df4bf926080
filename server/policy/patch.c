#include "aimguard/patch.h"

#include <stdio.h>
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
    if (!p->ops)
        p->ops = json_array();
    /* a copy: the working copy keeps changing after this op is recorded, and the op
     * must hold the value as it was added (an array recorded empty stays empty) */
    json_t *op = json_pack("{s:s, s:s, s:o}", "op", "add", "path", path, "value",
                           json_deep_copy(value));
    if (!p->ops || !op || json_array_append_new(p->ops, op))
        p->oom = 1;
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
