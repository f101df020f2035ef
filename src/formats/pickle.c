/* The interpreter keeps Python's machine (stack, mark stack, memo) but not
 * its object model: REDUCE, NEWOBJ and BUILD are given meaning only for the
 * globals in the table below, and nothing is ever executed. Every value is
 * bump-allocated from one arena whose size is capped relative to the pickle
 * size, and the machine is iterative, so hostile input can neither recurse
 * nor allocate without bound. */
#include "formats/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"

enum { MAX_MARK_DEPTH = 256, ARENA_CHUNK = 1 << 16 };

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_chunk;

struct pk_doc {
    arena_chunk *chunks;
    size_t allocated, budget;
    const pk_value *root;
};

typedef struct machine {
    pk_doc *doc;
    const char *label;
    const uint8_t *p, *end, *start;
    pk_value **stack;
    size_t n, cap, max_stack;
    size_t marks[MAX_MARK_DEPTH];
    int n_marks;
    pk_value **memo;
    size_t memo_cap, memo_count, max_memo;
    clip_status status;
} machine;

static pk_value none_value = {.kind = PK_NONE};

static clip_status fail(machine *m, clip_status st, const char *what) {
    if (m->status == CLIP_OK)
        m->status = clip_fail(st, "%s: pickle at byte %zu: %s", m->label, (size_t)(m->p - m->start), what);
    return m->status;
}

static void *arena_alloc(machine *m, size_t bytes) {
    pk_doc *d = m->doc;
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes > d->budget || d->allocated > d->budget - bytes) {
        if (m->status == CLIP_OK)
            m->status = limit_fail(LIMIT_PICKLE_MEMORY_RATIO,
                                   "%s: pickle at byte %zu builds more than %zu bytes of objects (limit x its %zu bytes + 1 MiB)",
                                   m->label, (size_t)(m->p - m->start), d->budget, (size_t)(m->end - m->start));
        return NULL;
    }
    arena_chunk *c = d->chunks;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > ARENA_CHUNK ? bytes : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) {
            fail(m, CLIP_ERR_NO_MEMORY, "out of memory");
            return NULL;
        }
        c->next = d->chunks;
        c->used = 0;
        c->cap = cap;
        d->chunks = c;
    }
    void *out = c->data + c->used;
    c->used += bytes;
    d->allocated += bytes;
    return out;
}

static pk_value *new_value(machine *m, pk_kind kind) {
    pk_value *v = arena_alloc(m, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->kind = kind;
    }
    return v;
}

static int seq_push(machine *m, pk_value *seq, pk_value *item) {
    if (seq->u.seq.n == seq->u.seq.cap) {
        size_t cap = seq->u.seq.cap ? seq->u.seq.cap * 2 : 4;
        pk_value **items = arena_alloc(m, cap * sizeof *items);
        if (!items) return 0;
        if (seq->u.seq.n) memcpy(items, seq->u.seq.items, seq->u.seq.n * sizeof *items);
        seq->u.seq.items = items;
        seq->u.seq.cap = cap;
    }
    seq->u.seq.items[seq->u.seq.n++] = item;
    return 1;
}

/* ---- globals ---- */

typedef struct known_global {
    const char *name;
    pk_func func;
    st_dtype dtype;
} known_global;

static const known_global known_globals[] = {
    {"collections.OrderedDict", PKF_ORDERED_DICT, ST_F32},
    {"torch._utils._rebuild_tensor_v2", PKF_REBUILD_TENSOR, ST_F32},
    {"torch._utils._rebuild_tensor", PKF_REBUILD_TENSOR, ST_F32},
    {"torch._utils._rebuild_parameter", PKF_REBUILD_PARAMETER, ST_F32},
    {"torch._utils._rebuild_parameter_with_state", PKF_REBUILD_PARAMETER, ST_F32},
    {"torch._tensor._rebuild_from_type_v2", PKF_REBUILD_FROM_TYPE, ST_F32},
    {"torch.FloatStorage", PKF_STORAGE_TYPE, ST_F32},
    {"torch.HalfStorage", PKF_STORAGE_TYPE, ST_F16},
    {"torch.BFloat16Storage", PKF_STORAGE_TYPE, ST_BF16},
    {"torch.DoubleStorage", PKF_STORAGE_TYPE, ST_F64},
    {"torch.LongStorage", PKF_STORAGE_TYPE, ST_I64},
    {"torch.IntStorage", PKF_STORAGE_TYPE, ST_I32},
    {"torch.ShortStorage", PKF_STORAGE_TYPE, ST_I16},
    {"torch.CharStorage", PKF_STORAGE_TYPE, ST_I8},
    {"torch.ByteStorage", PKF_STORAGE_TYPE, ST_U8},
    {"torch.BoolStorage", PKF_STORAGE_TYPE, ST_BOOL},
    {"torch.Tensor", PKF_TYPE, ST_F32},
    {"torch.nn.parameter.Parameter", PKF_TYPE, ST_F32},
    {"torch.Size", PKF_IDENTITY, ST_F32},
    {"torch.jit._pickle.build_intlist", PKF_IDENTITY, ST_F32},
    {"torch.jit._pickle.build_tensorlist", PKF_IDENTITY, ST_F32},
    {"torch.jit._pickle.build_doublelist", PKF_IDENTITY, ST_F32},
    {"torch.jit._pickle.build_boollist", PKF_IDENTITY, ST_F32},
    {"torch.jit._pickle.restore_type_tag", PKF_IDENTITY, ST_F32},
    {"torch.device", PKF_OPAQUE, ST_F32},
    {"numpy.core.multiarray.scalar", PKF_OPAQUE, ST_F32},
    {"numpy.dtype", PKF_OPAQUE, ST_F32},
    {"_codecs.encode", PKF_OPAQUE, ST_F32},
};

static pk_value *make_global(machine *m, const char *module, size_t module_len, const char *name, size_t name_len) {
    if (module_len > 1024 || name_len > 1024) {
        fail(m, CLIP_ERR_FORMAT, "global name longer than 1024 bytes");
        return NULL;
    }
    char full[2100];
    snprintf(full, sizeof full, "%.*s.%.*s", (int)module_len, module, (int)name_len, name);
    if (memchr(module, '\0', module_len) || memchr(name, '\0', name_len)) {
        fail(m, CLIP_ERR_FORMAT, "global name with a NUL byte");
        return NULL;
    }
    const known_global *known = NULL;
    for (size_t i = 0; i < sizeof known_globals / sizeof known_globals[0]; i++)
        if (strcmp(full, known_globals[i].name) == 0) known = &known_globals[i];
    /* TorchScript writes each module as an instance of its compiled class,
     * named under __torch__; the class is a label here, not code. */
    int torchscript_class = strncmp(full, "__torch__.", 10) == 0;
    if (!known && !torchscript_class) {
        char message[2300];
        snprintf(message, sizeof message,
                 "global '%s' is not allowed: only the names PyTorch checkpoints use are understood, and nothing is "
                 "ever imported or executed",
                 full);
        fail(m, CLIP_ERR_UNSUPPORTED, message);
        return NULL;
    }
    pk_value *v = new_value(m, PK_GLOBAL);
    char *copy = arena_alloc(m, strlen(full) + 1);
    if (!v || !copy) return NULL;
    strcpy(copy, full);
    v->u.global.name = copy;
    v->u.global.func = known ? known->func : PKF_MODULE_CLASS;
    v->u.global.dtype = known ? known->dtype : ST_F32;
    return v;
}

/* ---- reading ---- */

static int need(machine *m, size_t bytes) {
    if ((size_t)(m->end - m->p) < bytes) {
        fail(m, CLIP_ERR_FORMAT, "truncated pickle");
        return 0;
    }
    return 1;
}

static uint64_t read_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int push(machine *m, pk_value *v) {
    if (!v) return 0;
    if (m->n == m->max_stack) {
        fail(m, CLIP_ERR_LIMIT, "stack deeper than the pickle size allows");
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        if (cap > m->max_stack) cap = m->max_stack;
        pk_value **stack = realloc(m->stack, cap * sizeof *stack);
        if (!stack) {
            fail(m, CLIP_ERR_NO_MEMORY, "out of memory");
            return 0;
        }
        m->stack = stack;
        m->cap = cap;
    }
    m->stack[m->n++] = v;
    return 1;
}

static pk_value *pop(machine *m) {
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->n <= floor) {
        fail(m, CLIP_ERR_FORMAT, "stack underflow");
        return NULL;
    }
    return m->stack[--m->n];
}

static pk_value *top(machine *m) {
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->n <= floor) {
        fail(m, CLIP_ERR_FORMAT, "stack underflow");
        return NULL;
    }
    return m->stack[m->n - 1];
}

/* The value under the items of a just-popped mark (the list or dict that
 * APPENDS / SETITEMS extend). */
static pk_value *below_mark(machine *m, size_t first) {
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (first <= floor) {
        fail(m, CLIP_ERR_FORMAT, "stack underflow");
        return NULL;
    }
    return m->stack[first - 1];
}

/* Items above the innermost mark: *first is their stack index. */
static int pop_mark(machine *m, size_t *first) {
    if (m->n_marks == 0) {
        fail(m, CLIP_ERR_FORMAT, "no MARK on the stack");
        return 0;
    }
    *first = m->marks[--m->n_marks];
    return 1;
}

static pk_value *make_str(machine *m, pk_kind kind, size_t len) {
    if (!need(m, len)) return NULL;
    pk_value *v = new_value(m, kind);
    char *s = v ? arena_alloc(m, len + 1) : NULL;
    if (!s) return NULL;
    memcpy(s, m->p, len);
    s[len] = '\0';
    v->u.str.s = s;
    v->u.str.len = len;
    m->p += len;
    return v;
}

static pk_value *make_int(machine *m, int64_t i) {
    pk_value *v = new_value(m, PK_INT);
    if (v) v->u.i = i;
    return v;
}

static pk_value *make_seq(machine *m, pk_kind kind, size_t first) {
    pk_value *v = new_value(m, kind);
    if (!v) return NULL;
    for (size_t i = first; i < m->n; i++)
        if (!seq_push(m, v, m->stack[i])) return NULL;
    m->n = first;
    return v;
}

static int memo_put(machine *m, uint64_t index) {
    pk_value *v = top(m);
    if (!v) return 0;
    if (index >= m->max_memo) {
        fail(m, CLIP_ERR_LIMIT, "memo index beyond what the pickle size allows");
        return 0;
    }
    if (index >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= index) cap *= 2;
        if (cap > m->max_memo) cap = m->max_memo;
        pk_value **memo = realloc(m->memo, cap * sizeof *memo);
        if (!memo) {
            fail(m, CLIP_ERR_NO_MEMORY, "out of memory");
            return 0;
        }
        memset(memo + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *memo);
        m->memo = memo;
        m->memo_cap = cap;
    }
    if (!m->memo[index]) m->memo_count++;
    m->memo[index] = v;
    return 1;
}

static pk_value *memo_get(machine *m, uint64_t index) {
    if (index >= m->memo_cap || !m->memo[index]) {
        fail(m, CLIP_ERR_FORMAT, "reference to an unset memo entry");
        return NULL;
    }
    return m->memo[index];
}

/* ---- dict helpers ---- */

int pk_is_str(const pk_value *v, const char *s) {
    return v && v->kind == PK_STR && v->u.str.len == strlen(s) && memcmp(v->u.str.s, s, v->u.str.len) == 0;
}

const pk_value *pk_dict_get(const pk_value *dict, const char *key) {
    if (!dict || dict->kind != PK_DICT) return NULL;
    for (size_t i = dict->u.seq.n; i >= 2; i -= 2)
        if (pk_is_str(dict->u.seq.items[i - 2], key)) return dict->u.seq.items[i - 1];
    return NULL;
}

static int dict_set(machine *m, pk_value *dict, pk_value *key, pk_value *value) {
    if (dict->kind != PK_DICT) {
        fail(m, CLIP_ERR_FORMAT, "SETITEM on a value that is not a dict");
        return 0;
    }
    /* Later entries win on lookup, as assignment would; no search here
     * keeps SETITEMS linear. */
    return seq_push(m, dict, key) && seq_push(m, dict, value);
}

/* ---- torch semantics ---- */

static int int_tuple(const pk_value *v, int64_t *out, int *n) {
    if (!v || (v->kind != PK_TUPLE && v->kind != PK_LIST) || v->u.seq.n > ST_MAX_DIMS) return 0;
    for (size_t i = 0; i < v->u.seq.n; i++) {
        const pk_value *item = v->u.seq.items[i];
        if (item->kind != PK_INT || item->u.i < 0) return 0;
        out[i] = item->u.i;
    }
    *n = (int)v->u.seq.n;
    return 1;
}

static pk_value *rebuild_tensor(machine *m, const pk_value *args) {
    if (args->kind != PK_TUPLE || args->u.seq.n < 4) {
        fail(m, CLIP_ERR_FORMAT, "_rebuild_tensor needs (storage, offset, size, stride, ...)");
        return NULL;
    }
    pk_value **a = args->u.seq.items;
    if (a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT || a[1]->u.i < 0) {
        fail(m, CLIP_ERR_FORMAT, "_rebuild_tensor: bad storage or offset");
        return NULL;
    }
    pk_value *t = new_value(m, PK_TENSOR);
    pk_tensor *info = t ? arena_alloc(m, sizeof *info) : NULL;
    if (!info) return NULL;
    t->u.tensor = info;
    int n_size = 0, n_stride = 0;
    if (!int_tuple(a[2], info->size, &n_size) || !int_tuple(a[3], info->stride, &n_stride) || n_size != n_stride) {
        fail(m, CLIP_ERR_FORMAT, "_rebuild_tensor: sizes and strides must be equally long tuples of at most 8 "
                                 "non-negative ints");
        return NULL;
    }
    info->storage = a[0];
    info->offset = a[1]->u.i;
    info->ndim = n_size;
    return t;
}

static pk_value *call(machine *m, const pk_value *callable, const pk_value *args) {
    if (callable->kind != PK_GLOBAL) {
        fail(m, CLIP_ERR_FORMAT, "REDUCE on a value that is not a known global");
        return NULL;
    }
    if (args->kind != PK_TUPLE) {
        fail(m, CLIP_ERR_FORMAT, "REDUCE arguments are not a tuple");
        return NULL;
    }
    size_t n = args->u.seq.n;
    pk_value **a = args->u.seq.items;
    switch (callable->u.global.func) {
    case PKF_ORDERED_DICT: {
        pk_value *d = new_value(m, PK_DICT);
        if (d && n == 1 && (a[0]->kind == PK_LIST || a[0]->kind == PK_TUPLE)) {
            for (size_t i = 0; i < a[0]->u.seq.n; i++) {
                pk_value *pair = a[0]->u.seq.items[i];
                if ((pair->kind != PK_TUPLE && pair->kind != PK_LIST) || pair->u.seq.n != 2) {
                    fail(m, CLIP_ERR_FORMAT, "OrderedDict items must be pairs");
                    return NULL;
                }
                if (!dict_set(m, d, pair->u.seq.items[0], pair->u.seq.items[1])) return NULL;
            }
        }
        return d;
    }
    case PKF_REBUILD_TENSOR: return rebuild_tensor(m, args);
    case PKF_REBUILD_PARAMETER:
    case PKF_IDENTITY:
        if (n < 1) {
            fail(m, CLIP_ERR_FORMAT, "call without its argument");
            return NULL;
        }
        return a[0];
    case PKF_REBUILD_FROM_TYPE:
        /* (func, type, args, state): only the inner call matters; it cannot
         * be another _rebuild_from_type_v2, so this does not recurse. */
        if (n < 3 || a[0]->kind != PK_GLOBAL || a[0]->u.global.func == PKF_REBUILD_FROM_TYPE) {
            fail(m, CLIP_ERR_FORMAT, "_rebuild_from_type_v2: bad arguments");
            return NULL;
        }
        return call(m, a[0], a[2]);
    case PKF_OPAQUE: return new_value(m, PK_OPAQUE);
    default: {
        char message[1200];
        snprintf(message, sizeof message, "'%.1024s' cannot be called here", callable->u.global.name);
        fail(m, CLIP_ERR_FORMAT, message);
        return NULL;
    }
    }
}

static pk_value *new_object(machine *m, const pk_value *cls) {
    if (cls->kind == PK_GLOBAL && cls->u.global.func == PKF_MODULE_CLASS) {
        pk_value *o = new_value(m, PK_OBJECT);
        if (o) {
            o->u.object.class_name = cls->u.global.name;
            o->u.object.state = &none_value;
        }
        return o;
    }
    if (cls->kind == PK_GLOBAL && cls->u.global.func == PKF_ORDERED_DICT) return new_value(m, PK_DICT);
    if (cls->kind == PK_GLOBAL && cls->u.global.func == PKF_OPAQUE) return new_value(m, PK_OPAQUE);
    fail(m, CLIP_ERR_FORMAT, "NEWOBJ of a value that is not a TorchScript class");
    return NULL;
}

static pk_value *persistent_load(machine *m, const pk_value *pid) {
    /* ('storage', <torch.XStorage>, key, location, numel) */
    if (pid->kind != PK_TUPLE || pid->u.seq.n < 5 || !pk_is_str(pid->u.seq.items[0], "storage")) {
        fail(m, CLIP_ERR_FORMAT, "persistent id is not a ('storage', type, key, location, numel) tuple");
        return NULL;
    }
    pk_value **a = pid->u.seq.items;
    if (a[1]->kind != PK_GLOBAL || a[1]->u.global.func != PKF_STORAGE_TYPE) {
        fail(m, CLIP_ERR_UNSUPPORTED, "storage of an unsupported type (expected torch.FloatStorage and the like)");
        return NULL;
    }
    if ((a[2]->kind != PK_STR && a[2]->kind != PK_INT) || a[4]->kind != PK_INT || a[4]->u.i < 0) {
        fail(m, CLIP_ERR_FORMAT, "storage key or size malformed");
        return NULL;
    }
    pk_value *s = new_value(m, PK_STORAGE);
    if (!s) return NULL;
    if (a[2]->kind == PK_STR) {
        s->u.storage.key = a[2]->u.str.s;
    } else {
        char *key = arena_alloc(m, 24);
        if (!key) return NULL;
        snprintf(key, 24, "%lld", (long long)a[2]->u.i);
        s->u.storage.key = key;
    }
    s->u.storage.dtype = a[1]->u.global.dtype;
    s->u.storage.numel = a[4]->u.i;
    return s;
}

/* ---- the machine ---- */

static int step(machine *m) {
    if (!need(m, 1)) return -1;
    uint8_t op = *m->p++;
    pk_value *v, *a, *b;
    size_t first;
    switch (op) {
    case 0x80: /* PROTO */
        if (!need(m, 1)) return -1;
        if (*m->p > 5) return fail(m, CLIP_ERR_UNSUPPORTED, "pickle protocol newer than 5"), -1;
        m->p++;
        return 0;
    case 0x95: /* FRAME: a hint for buffered readers */
        if (!need(m, 8)) return -1;
        m->p += 8;
        return 0;
    case '.': return 1; /* STOP */
    case '(':           /* MARK */
        if (m->n_marks == MAX_MARK_DEPTH) return fail(m, CLIP_ERR_LIMIT, "MARKs nested deeper than 256"), -1;
        m->marks[m->n_marks++] = m->n;
        return 0;
    case '0': return pop(m) ? 0 : -1; /* POP */
    case '1': return pop_mark(m, &first) ? (m->n = first, 0) : -1; /* POP_MARK */
    case '2': return push(m, top(m)) ? 0 : -1; /* DUP */
    case 'N': return push(m, &none_value) ? 0 : -1;
    case 0x88: /* NEWTRUE */
    case 0x89: /* NEWFALSE */
        v = new_value(m, PK_BOOL);
        if (v) v->u.i = op == 0x88;
        return push(m, v) ? 0 : -1;
    case 'J': /* BININT */
        if (!need(m, 4)) return -1;
        v = make_int(m, (int32_t)(uint32_t)read_le(m->p, 4));
        m->p += 4;
        return push(m, v) ? 0 : -1;
    case 'K': /* BININT1 */
        if (!need(m, 1)) return -1;
        v = make_int(m, *m->p++);
        return push(m, v) ? 0 : -1;
    case 'M': /* BININT2 */
        if (!need(m, 2)) return -1;
        v = make_int(m, (int64_t)read_le(m->p, 2));
        m->p += 2;
        return push(m, v) ? 0 : -1;
    case 0x8a: /* LONG1 */
    case 0x8b: { /* LONG4 */
        int width = op == 0x8a ? 1 : 4;
        if (!need(m, (size_t)width)) return -1;
        uint64_t len = read_le(m->p, width);
        m->p += width;
        if (len > 8) return fail(m, CLIP_ERR_UNSUPPORTED, "integer wider than 64 bits"), -1;
        if (!need(m, (size_t)len)) return -1;
        uint64_t raw = len ? read_le(m->p, (int)len) : 0;
        if (len && len < 8 && (m->p[len - 1] & 0x80)) raw |= ~(uint64_t)0 << (8 * len); /* sign-extend */
        m->p += len;
        return push(m, make_int(m, (int64_t)raw)) ? 0 : -1;
    }
    case 'G': { /* BINFLOAT, big-endian */
        if (!need(m, 8)) return -1;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | m->p[i];
        m->p += 8;
        v = new_value(m, PK_FLOAT);
        if (v) memcpy(&v->u.f, &bits, 8);
        return push(m, v) ? 0 : -1;
    }
    case 'X': /* BINUNICODE */
    case 'T': /* BINSTRING */
    case 'B': /* BINBYTES */
        if (!need(m, 4)) return -1;
        first = (size_t)read_le(m->p, 4);
        m->p += 4;
        return push(m, make_str(m, op == 'B' ? PK_BYTES : PK_STR, first)) ? 0 : -1;
    case 0x8c: /* SHORT_BINUNICODE */
    case 'U':  /* SHORT_BINSTRING */
    case 'C':  /* SHORT_BINBYTES */
        if (!need(m, 1)) return -1;
        first = *m->p++;
        return push(m, make_str(m, op == 'C' ? PK_BYTES : PK_STR, first)) ? 0 : -1;
    case 0x8d: /* BINUNICODE8 */
    case 0x8e: { /* BINBYTES8 */
        if (!need(m, 8)) return -1;
        uint64_t len = read_le(m->p, 8);
        m->p += 8;
        if (len > (uint64_t)(m->end - m->p)) return fail(m, CLIP_ERR_FORMAT, "string longer than the pickle"), -1;
        return push(m, make_str(m, op == 0x8e ? PK_BYTES : PK_STR, (size_t)len)) ? 0 : -1;
    }
    case ')': return push(m, new_value(m, PK_TUPLE)) ? 0 : -1; /* EMPTY_TUPLE */
    case ']': return push(m, new_value(m, PK_LIST)) ? 0 : -1;  /* EMPTY_LIST */
    case '}': return push(m, new_value(m, PK_DICT)) ? 0 : -1;  /* EMPTY_DICT */
    case 't': /* TUPLE */
    case 'l': /* LIST */
        if (!pop_mark(m, &first)) return -1;
        return push(m, make_seq(m, op == 't' ? PK_TUPLE : PK_LIST, first)) ? 0 : -1;
    case 0x85: /* TUPLE1..3 */
    case 0x86:
    case 0x87: {
        size_t k = (size_t)(op - 0x84);
        size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
        if (m->n - floor < k) return fail(m, CLIP_ERR_FORMAT, "stack underflow"), -1;
        return push(m, make_seq(m, PK_TUPLE, m->n - k)) ? 0 : -1;
    }
    case 'd': /* DICT */
        if (!pop_mark(m, &first)) return -1;
        if ((m->n - first) % 2) return fail(m, CLIP_ERR_FORMAT, "DICT with an odd number of items"), -1;
        return push(m, make_seq(m, PK_DICT, first)) ? 0 : -1;
    case 'a': /* APPEND */
        if (!(v = pop(m)) || !(a = top(m))) return -1;
        if (a->kind != PK_LIST) return fail(m, CLIP_ERR_FORMAT, "APPEND to a value that is not a list"), -1;
        return seq_push(m, a, v) ? 0 : -1;
    case 'e': /* APPENDS */
        if (!pop_mark(m, &first) || !(a = below_mark(m, first))) return -1;
        if (a->kind != PK_LIST) return fail(m, CLIP_ERR_FORMAT, "APPENDS to a value that is not a list"), -1;
        for (size_t i = first; i < m->n; i++)
            if (!seq_push(m, a, m->stack[i])) return -1;
        m->n = first;
        return 0;
    case 's': /* SETITEM */
        if (!(v = pop(m)) || !(b = pop(m)) || !(a = top(m))) return -1;
        return dict_set(m, a, b, v) ? 0 : -1;
    case 'u': /* SETITEMS */
        if (!pop_mark(m, &first)) return -1;
        if ((m->n - first) % 2) return fail(m, CLIP_ERR_FORMAT, "SETITEMS with an odd number of items"), -1;
        if (!(a = below_mark(m, first))) return -1;
        for (size_t i = first; i < m->n; i += 2)
            if (!dict_set(m, a, m->stack[i], m->stack[i + 1])) return -1;
        m->n = first;
        return 0;
    case 'c': { /* GLOBAL "module\nname\n" */
        const uint8_t *module = m->p;
        const uint8_t *nl1 = memchr(module, '\n', (size_t)(m->end - module));
        const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1)) : NULL;
        if (!nl2) return fail(m, CLIP_ERR_FORMAT, "truncated GLOBAL"), -1;
        m->p = nl2 + 1;
        return push(m, make_global(m, (const char *)module, (size_t)(nl1 - module), (const char *)nl1 + 1,
                                   (size_t)(nl2 - nl1 - 1)))
                   ? 0
                   : -1;
    }
    case 0x93: /* STACK_GLOBAL */
        if (!(b = pop(m)) || !(a = pop(m))) return -1;
        if (a->kind != PK_STR || b->kind != PK_STR)
            return fail(m, CLIP_ERR_FORMAT, "STACK_GLOBAL needs two strings"), -1;
        return push(m, make_global(m, a->u.str.s, a->u.str.len, b->u.str.s, b->u.str.len)) ? 0 : -1;
    case 'R': /* REDUCE */
        if (!(b = pop(m)) || !(a = pop(m))) return -1;
        return push(m, call(m, a, b)) ? 0 : -1;
    case 0x81: /* NEWOBJ */
        if (!(b = pop(m)) || !(a = pop(m))) return -1;
        return push(m, new_object(m, a)) ? 0 : -1;
    case 0x92: /* NEWOBJ_EX */
        if (!pop(m) || !(b = pop(m)) || !(a = pop(m))) return -1;
        return push(m, new_object(m, a)) ? 0 : -1;
    case 'b': /* BUILD */
        if (!(v = pop(m)) || !(a = top(m))) return -1;
        if (a->kind == PK_OBJECT) a->u.object.state = v;
        else if (a->kind != PK_DICT && a->kind != PK_TENSOR && a->kind != PK_OPAQUE)
            return fail(m, CLIP_ERR_FORMAT, "BUILD on a value that takes no state"), -1;
        return 0;
    case 'Q': /* BINPERSID */
        if (!(v = pop(m))) return -1;
        return push(m, persistent_load(m, v)) ? 0 : -1;
    case 'q': /* BINPUT */
        if (!need(m, 1)) return -1;
        return memo_put(m, *m->p++) ? 0 : -1;
    case 'r': /* LONG_BINPUT */
        if (!need(m, 4)) return -1;
        first = (size_t)read_le(m->p, 4);
        m->p += 4;
        return memo_put(m, first) ? 0 : -1;
    case 0x94: /* MEMOIZE */
        return memo_put(m, m->memo_count) ? 0 : -1;
    case 'h': /* BINGET */
        if (!need(m, 1)) return -1;
        return push(m, memo_get(m, *m->p++)) ? 0 : -1;
    case 'j': /* LONG_BINGET */
        if (!need(m, 4)) return -1;
        first = (size_t)read_le(m->p, 4);
        m->p += 4;
        return push(m, memo_get(m, first)) ? 0 : -1;
    default: {
        char message[96];
        m->p--;
        snprintf(message, sizeof message, "unsupported opcode 0x%02x", op);
        return fail(m, CLIP_ERR_UNSUPPORTED, message), -1;
    }
    }
}

void pickle_free(pk_doc *doc) {
    if (!doc) return;
    for (arena_chunk *c = doc->chunks; c;) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const pk_value *pickle_root(const pk_doc *doc) { return doc->root; }

clip_status pickle_load(const uint8_t *data, size_t size, const char *label, pk_doc **out) {
    *out = NULL;
    pk_doc *doc = calloc(1, sizeof *doc);
    if (!doc) return clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    /* Each opcode byte creates at most one small value and one container
     * slot (a little more for tensors, which take dozens of bytes of
     * pickle); the default 128 bytes of arena per input byte covers that. */
    uint64_t ratio = limit_value(LIMIT_PICKLE_MEMORY_RATIO);
    doc->budget = ratio > (SIZE_MAX - (1u << 20)) / (size ? size : 1) ? SIZE_MAX : size * ratio + (1u << 20);
    machine m = {.doc = doc, .label = label ? label : "<pickle>", .p = data, .end = data + size, .start = data};
    m.max_stack = size + 16;
    m.max_memo = size + 16;
    int r = 0;
    while (r == 0) r = step(&m);
    if (r == 1) {
        if (m.n != 1 || m.n_marks)
            fail(&m, CLIP_ERR_FORMAT, "STOP with other than exactly one value on the stack");
        else
            doc->root = m.stack[0];
    }
    free(m.stack);
    free(m.memo);
    if (m.status != CLIP_OK) {
        pickle_free(doc);
        return m.status;
    }
    *out = doc;
    return CLIP_OK;
}
