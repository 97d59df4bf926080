/* A per-request arena for the jansson values the webhook reads from a review.
 *
 * A real review is read into about 300 jansson values, each one or more malloc calls,
 * and all of them are freed one by one when the answer is sent: malloc and free were a
 * quarter of the server's CPU (docs/performance.md). While an arena is *filling* on a
 * thread, jansson's allocations on that thread are cut from the arena's chunks (a pointer
 * bump); freeing a value the arena holds costs nothing; releasing the arena frees its
 * chunks at once. Values the arena does not hold are malloc'd and freed as always, so
 * they may be mixed freely in one tree (a mutation sets heap values into arena objects).
 *
 * The rules (docs/json.md):
 *  - aimguard installs its allocation functions into jansson before main (a constructor
 *    in jsonarena.c, while the process has one thread); with no arena open they are
 *    malloc and free, plus one thread-local load each.
 *  - An arena is filled only around a read (ag_json_arena_fill ... ag_json_arena_stop):
 *    nothing that may outlive the arena, and nothing freed with libc's free() (what
 *    json_dumps returns), is made while it fills.
 *  - Every value in the arena is released before the arena, on the thread that opened
 *    it. ag_request owns one (AG_DECODE_ARENA) and releases it last in ag_request_clear;
 *    whoever holds a reference into the request (a decision's object_after) clears first.
 */
#ifndef AIMGUARD_JSONARENA_H
#define AIMGUARD_JSONARENA_H

#include <stddef.h>

typedef struct ag_json_arena ag_json_arena;

/* A new, empty arena registered on this thread; hint: the bytes it will likely hold (its
 * first chunk; 0: 64 KiB). NULL when memory ran out. */
ag_json_arena *ag_json_arena_open(size_t hint);

/* From now until ag_json_arena_stop, this thread's jansson allocations come from a.
 * Fills do not nest: a second fill on a thread that is filling returns -1. */
int ag_json_arena_fill(ag_json_arena *a);
void ag_json_arena_stop(ag_json_arena *a);

/* Frees a's chunks and unregisters it; every value in it must be released already. Must
 * run on the thread that opened a. NULL is fine. */
void ag_json_arena_release(ag_json_arena *a);

/* What a holds: bytes handed out and bytes of chunks (for tests and benchmarks). */
size_t ag_json_arena_used(const ag_json_arena *a);
size_t ag_json_arena_reserved(const ag_json_arena *a);

#endif
