#include "index/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

int strmap_init(strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = malloc(cap * sizeof *m->values);
    if (!m->keys || !m->values) {
        strmap_free(m);
        return 0;
    }
    m->cap = cap;
    return 1;
}

static int grow(strmap *m) {
    strmap bigger;
    if (!strmap_init(&bigger, m->cap)) return 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) strmap_put(&bigger, m->keys[i], m->values[i]);
    strmap_free(m);
    *m = bigger;
    return 1;
}

int strmap_put(strmap *m, const char *key, int64_t value) {
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return 0;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) i = (i + 1) & (m->cap - 1);
    if (!m->keys[i]) m->count++;
    m->keys[i] = key;
    m->values[i] = value;
    return 1;
}

int64_t strmap_get(const strmap *m, const char *key) {
    if (!m->cap) return -1;
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i]) {
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

void strmap_free(strmap *m) {
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}
