/* The per-request arena for jansson values (aimguard/jsonarena.h). */
#include "aimguard/jsonarena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define AG_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_ARENA_ASAN 1
#endif
#endif
#ifdef AG_ARENA_ASAN
/* What the arena has not handed out is poisoned, so that AddressSanitizer still sees a
 * value's overflow into the next one's padding and a read of memory never handed out. */
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ALIGN 16u                   /* what malloc guarantees on x86-64 and arm64 */
#define FIRST_CHUNK (64u * 1024u)   /* the captured 9 KB CREATE's values take 21.8 KB */
#define MAX_CHUNK (16u * 1024u * 1024u)

typedef struct chunk {
    struct chunk *next; /* the older chunks */
    size_t size, used;  /* of data[] */
    _Alignas(ALIGN) unsigned char data[];
} chunk;

struct ag_json_arena {
    chunk *head;               /* allocations come from head only */
    unsigned char *last;       /* the newest allocation, given back when freed first */
    size_t handed;             /* bytes handed out, for ag_json_arena_used */
    ag_json_arena *next_open;  /* this thread's other open arenas */
    ag_json_arena **prev_open; /* the link that points here */
};

/* This thread's open arenas (whose values a free may meet), and the filling one. */
static _Thread_local ag_json_arena *t_open;
static _Thread_local ag_json_arena *t_fill;

static chunk *chunk_new(size_t need, size_t prev)
{
    size_t size = prev ? (prev < MAX_CHUNK / 2 ? prev * 2 : MAX_CHUNK) : FIRST_CHUNK;
    if (size < need)
        size = need;
    if (size > SIZE_MAX - sizeof(chunk))
        return NULL;
    chunk *c = malloc(sizeof(chunk) + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    POISON(c->data, size);
    return c;
}

static void *arena_alloc(ag_json_arena *a, size_t n)
{
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    size_t want = n ? (n + ALIGN - 1) & ~(size_t)(ALIGN - 1) : ALIGN;
    chunk *c = a->head;
    if (!c || c->size - c->used < want) {
        chunk *fresh = chunk_new(want, c ? c->size : 0);
        if (!fresh)
            return NULL;
        fresh->next = c;
        a->head = c = fresh;
    }
    unsigned char *p = c->data + c->used;
    c->used += want;
    a->handed += want;
    a->last = p;
    UNPOISON(p, n);
    return p;
}

static int owns(const ag_json_arena *a, const void *p)
{
    const unsigned char *q = p;
    for (const chunk *c = a->head; c; c = c->next)
        if (q >= c->data && q < c->data + c->size)
            return 1;
    return 0;
}

static void *hook_malloc(size_t n)
{
    ag_json_arena *a = t_fill;
    return a ? arena_alloc(a, n) : malloc(n);
}

static void hook_free(void *p)
{
    if (!p)
        return;
    for (ag_json_arena *a = t_open; a; a = a->next_open) {
        if (!owns(a, p))
            continue;
        chunk *c = a->head;
        if (p == a->last) { /* the newest one: its bytes are free again */
            size_t off = (size_t)(a->last - c->data);
            POISON(a->last, c->used - off);
            a->handed -= c->used - off;
            c->used = off;
            a->last = NULL;
        }
        return;
    }
    free(p);
}

/* Before main, while the process has one thread: json_set_alloc_funcs must precede every
 * jansson allocation (a value malloc'd by one pair and freed by another is fine here, since
 * the hooks free what no arena holds with free(); it is the data race with other threads'
 * allocations that must not happen). */
__attribute__((constructor)) static void install(void)
{
    json_set_alloc_funcs(hook_malloc, hook_free);
}

ag_json_arena *ag_json_arena_open(size_t hint)
{
    ag_json_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    if (hint > FIRST_CHUNK) {
        a->head = chunk_new(hint > MAX_CHUNK ? MAX_CHUNK : hint, 0);
        if (!a->head) {
            free(a);
            return NULL;
        }
    }
    a->next_open = t_open;
    if (t_open)
        t_open->prev_open = &a->next_open;
    a->prev_open = &t_open;
    t_open = a;
    return a;
}

int ag_json_arena_fill(ag_json_arena *a)
{
    if (!a || t_fill)
        return -1;
    t_fill = a;
    return 0;
}

void ag_json_arena_stop(ag_json_arena *a)
{
    if (a && t_fill == a)
        t_fill = NULL;
}

void ag_json_arena_release(ag_json_arena *a)
{
    if (!a)
        return;
    if (t_fill == a)
        t_fill = NULL;
    *a->prev_open = a->next_open;
    if (a->next_open)
        a->next_open->prev_open = a->prev_open;
    for (chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        UNPOISON(c->data, c->size);
        free(c);
    }
    free(a);
}

size_t ag_json_arena_used(const ag_json_arena *a)
{
    return a ? a->handed : 0;
}

size_t ag_json_arena_reserved(const ag_json_arena *a)
{
    size_t n = 0;
    for (const chunk *c = a ? a->head : NULL; c; c = c->next)
        n += c->size;
    return n;
}
