/* YAML documents as trees that remember where every node came from.
 *
 * Policy files need file:line:column on every error, so the YAML is first read into
 * an ag_ynode tree carrying marks; objects under review (eval -f, fixtures) are turned
 * into jansson values with ag_ynode_to_json(). Scalars follow the YAML 1.2 core schema
 * (true/false, null/~, ints, floats; "yes"/"no"/"on"/"off" stay strings).
 *
 * Ownership: ag_yaml_parse() allocates the documents; free them with ag_ydocs_free().
 * Thread-safety: trees are immutable after parsing and may be read from any thread. */
#ifndef AIMGUARD_YAML_H
#define AIMGUARD_YAML_H

#include <stddef.h>
#include <jansson.h>
#include "aimguard/error.h"

typedef enum { AG_YNODE_SCALAR, AG_YNODE_MAP, AG_YNODE_SEQ } ag_ynode_type;

typedef struct ag_ynode {
    ag_ynode_type type;
    unsigned line, column;   /* 1-based position of the node's first character */
    char *value;             /* scalar text (NUL-terminated, may hold NULs: see len) */
    size_t len;
    int quoted;              /* scalar was quoted or a block literal: always a string */
    char *tag;               /* explicit tag ("tag:yaml.org,2002:str"...) or NULL */
    struct ag_ynode **items; /* SEQ: elements; MAP: key0, value0, key1, value1, ... */
    size_t count;            /* number of entries in items */
} ag_ynode;

typedef struct ag_ydocs {
    char *file;              /* the name used in messages */
    ag_ynode **docs;
    size_t count;
    void *arena;             /* internal */
} ag_ydocs;

/* Limits that keep a hostile file from exhausting memory (alias expansion). */
#define AG_YAML_MAX_NODES 1000000
#define AG_YAML_MAX_DEPTH 256

/* Parses every document of buf. On failure err holds "file:line:column: message". */
int ag_yaml_parse(const char *buf, size_t len, const char *file,
                  ag_ydocs **out, ag_error *err);
int ag_yaml_parse_file(const char *path, ag_ydocs **out, ag_error *err);
void ag_ydocs_free(ag_ydocs *docs);

/* Map lookup by key (NULL if absent or not a map). */
const ag_ynode *ag_ynode_get(const ag_ynode *map, const char *key);
/* Converts a node to JSON. Duplicate map keys are an error (as in kubectl). */
int ag_ynode_to_json(const ag_ynode *node, const char *file, json_t **out, ag_error *err);

/* Reads one object from a file ("-" for stdin) that holds YAML or JSON: exactly one
 * non-empty document is expected. */
int ag_load_object_file(const char *path, json_t **out, ag_error *err);

#endif
