/* A restricted pickle interpreter for PyTorch checkpoints. It builds a
 * tree of plain values; it never imports or calls anything. Globals are
 * looked up in a fixed table of the names torch.save / torch.jit.save
 * write (OrderedDict, _rebuild_tensor_v2, the *Storage types, TorchScript
 * __torch__ classes, ...); any other global fails, naming it. Tensors come
 * out as descriptions (storage key, dtype, offset, sizes, strides) for the
 * caller to resolve against the archive. */
#ifndef CLIP_FORMATS_PICKLE_H
#define CLIP_FORMATS_PICKLE_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "formats/safetensors.h"

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES,
    PK_TUPLE, PK_LIST, PK_DICT, /* dict items are stored flat: key, value, ... */
    PK_GLOBAL,                  /* a known callable or class */
    PK_OBJECT,                  /* an instance of a TorchScript (__torch__) class */
    PK_STORAGE,                 /* a tensor storage (persistent id) */
    PK_TENSOR,
    PK_OPAQUE,                  /* a known harmless value not modelled (numpy scalar, device) */
    PK_MARK,                    /* internal */
} pk_kind;

typedef enum pk_func {
    PKF_ORDERED_DICT, PKF_REBUILD_TENSOR, PKF_REBUILD_PARAMETER, PKF_REBUILD_FROM_TYPE,
    PKF_STORAGE_TYPE, PKF_MODULE_CLASS, PKF_TYPE, PKF_IDENTITY, PKF_OPAQUE,
} pk_func;

typedef struct pk_value pk_value;
struct pk_tensor;
struct pk_value {
    pk_kind kind;
    union {
        int64_t i;   /* PK_INT, PK_BOOL */
        double f;
        struct {
            const char *s; /* NUL-terminated (may hold NULs before len) */
            size_t len;
        } str;           /* PK_STR, PK_BYTES */
        struct {
            pk_value **items;
            size_t n, cap;
        } seq;           /* PK_TUPLE, PK_LIST, PK_DICT (n = 2 x pairs) */
        struct {
            pk_func func;
            st_dtype dtype; /* PKF_STORAGE_TYPE */
            const char *name;
        } global;
        struct {
            const char *class_name;
            pk_value *state;
        } object;
        struct {
            const char *key;
            st_dtype dtype;
            int64_t numel;
        } storage;
        const struct pk_tensor *tensor;
    } u;
};

typedef struct pk_tensor {
    const pk_value *storage;
    int64_t offset;
    int ndim;
    int64_t size[ST_MAX_DIMS], stride[ST_MAX_DIMS];
} pk_tensor;

typedef struct pk_doc pk_doc;

/* Runs the pickle in data[0..size) to its STOP. Limits (stack, memo,
 * nesting, memory) scale with `size`; exceeding one fails with
 * CLIP_ERR_LIMIT. `label` names the data in messages. */
clip_status pickle_load(const uint8_t *data, size_t size, const char *label, pk_doc **out);
const pk_value *pickle_root(const pk_doc *doc);
void pickle_free(pk_doc *doc);

/* Last value stored under a string key in a PK_DICT, or NULL. */
const pk_value *pk_dict_get(const pk_value *dict, const char *key);
int pk_is_str(const pk_value *v, const char *s);

#endif
