/* Layout of both archive kinds: "<dir>/data.pkl" is the pickled object,
 * "<dir>/data/<key>" the raw bytes of each storage (stored, not
 * compressed, aligned to 64 bytes), "<dir>/byteorder" (newer writers) the
 * storage byte order. TorchScript adds constants.pkl and code/, which hold
 * nothing a state dict needs. */
#include "formats/torch_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/limits.h"
#include "formats/pickle.h"
#include "formats/zip.h"

enum { MAX_MODULE_DEPTH = 64, MAX_NAME = 1024 };

typedef struct named_tensor {
    char *name;
    const pk_value *tensor;
} named_tensor;

typedef struct ckpt {
    const char *label;
    zip_archive *zip;
    char prefix[MAX_NAME];
    named_tensor *found;
    size_t n_found, cap_found;
    size_t visits, max_visits;
    size_t copied, max_copied;
    st_file *table;
} ckpt;

static clip_status remember(ckpt *c, const char *name, const pk_value *tensor) {
    if (c->n_found == c->cap_found) {
        size_t cap = c->cap_found ? c->cap_found * 2 : 64;
        named_tensor *grown = realloc(c->found, cap * sizeof *grown);
        if (!grown) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", c->label);
        c->found = grown;
        c->cap_found = cap;
    }
    char *copy = strdup(name);
    if (!copy) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory", c->label);
    c->found[c->n_found].name = copy;
    c->found[c->n_found].tensor = tensor;
    c->n_found++;
    return CLIP_OK;
}

/* ---- locating the pickle ---- */

static clip_status find_data_pkl(ckpt *c, const zip_entry **out) {
    const zip_entry *best = NULL;
    for (size_t i = 0; i < zip_count(c->zip); i++) {
        const zip_entry *e = zip_at(c->zip, i);
        const char *slash = strchr(e->name, '/');
        /* data.pkl at the top or one directory down, nowhere deeper. */
        int top = strcmp(e->name, "data.pkl") == 0;
        int one_down = slash && strcmp(slash + 1, "data.pkl") == 0;
        if ((top || one_down) && (!best || strcmp(e->name, best->name) < 0)) best = e;
    }
    if (!best)
        return clip_fail(CLIP_ERR_FORMAT,
                         "%s: a zip archive without data.pkl: not a PyTorch checkpoint (torch.save / torch.jit.save)",
                         c->label);
    size_t prefix_len = strlen(best->name) - strlen("data.pkl");
    if (prefix_len >= sizeof c->prefix) return clip_fail(CLIP_ERR_FORMAT, "%s: archive name too long", c->label);
    memcpy(c->prefix, best->name, prefix_len);
    c->prefix[prefix_len] = '\0';
    *out = best;
    return CLIP_OK;
}

static clip_status check_byteorder(ckpt *c) {
    char name[MAX_NAME + 16];
    snprintf(name, sizeof name, "%sbyteorder", c->prefix);
    const zip_entry *e = zip_find(c->zip, name);
    if (!e) return CLIP_OK; /* older writers: always little-endian */
    uint8_t *text;
    size_t len;
    clip_status st = zip_read(c->zip, e, 64, &text, &len);
    if (st != CLIP_OK) return st;
    int little = len >= 6 && memcmp(text, "little", 6) == 0;
    free(text);
    if (!little)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: tensors stored big-endian; only little-endian archives are read",
                         c->label);
    return CLIP_OK;
}

/* ---- tensors ---- */

static int mul_overflows(int64_t a, int64_t b, int64_t *out) {
    if (a != 0 && b > INT64_MAX / a) return 1;
    *out = a * b;
    return 0;
}

static clip_status gather(ckpt *c, const char *name, const pk_value *t, const uint8_t *storage, size_t elsize,
                          int64_t numel, void **out) {
    if ((uint64_t)numel * elsize > c->max_copied - c->copied)
        return limit_fail(LIMIT_TENSOR_COPY_RATIO,
                          "%s: tensor '%s': copying non-contiguous tensors needs more than %zu bytes (limit x the file size + 64 MiB)",
                          c->label, name, c->max_copied);
    uint8_t *dst = malloc((size_t)numel * elsize);
    if (!dst) return clip_fail(CLIP_ERR_NO_MEMORY, "%s: out of memory copying '%s'", c->label, name);
    c->copied += (size_t)numel * elsize;
    int nd = t->u.tensor->ndim;
    int64_t index[ST_MAX_DIMS] = {0};
    for (int64_t i = 0; i < numel; i++) {
        int64_t at = t->u.tensor->offset;
        for (int d = 0; d < nd; d++) at += index[d] * t->u.tensor->stride[d];
        memcpy(dst + (size_t)i * elsize, storage + (size_t)at * elsize, elsize);
        for (int d = nd - 1; d >= 0; d--) {
            if (++index[d] < t->u.tensor->size[d]) break;
            index[d] = 0;
        }
    }
    *out = dst;
    return CLIP_OK;
}

static clip_status add_tensor(ckpt *c, const char *name, const pk_value *t) {
    const pk_value *s = t->u.tensor->storage;
    char entry_name[2 * MAX_NAME];
    snprintf(entry_name, sizeof entry_name, "%sdata/%s", c->prefix, s->u.storage.key);
    const zip_entry *e = zip_find(c->zip, entry_name);
    if (!e)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': its storage '%s' is missing from the archive", c->label,
                         name, entry_name);
    if (e->method != 0)
        return clip_fail(CLIP_ERR_UNSUPPORTED,
                         "%s: tensor '%s': storage '%s' is compressed; torch.save stores tensor data uncompressed "
                         "(was the archive re-zipped? re-save it with torch.save)",
                         c->label, name, entry_name);
    st_dtype dtype = s->u.storage.dtype;
    size_t elsize = st_dtype_size(dtype);
    if ((uint64_t)s->u.storage.numel > e->size / elsize)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': storage '%s' holds %llu bytes, fewer than its %lld elements",
                         c->label, name, entry_name, (unsigned long long)e->size, (long long)s->u.storage.numel);
    int nd = t->u.tensor->ndim;
    int64_t numel = 1, last = t->u.tensor->offset, expected_stride = 1;
    int contiguous = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t size = t->u.tensor->size[d], stride = t->u.tensor->stride[d], span;
        if (mul_overflows(numel, size, &numel) || (size > 0 && mul_overflows(size - 1, stride, &span)))
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': shape too large", c->label, name);
        if (size > 0) {
            if (span > INT64_MAX - last)
                return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': shape too large", c->label, name);
            last += span;
        }
        if (size != 1 && stride != expected_stride) contiguous = 0;
        if (mul_overflows(expected_stride, size, &expected_stride))
            return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': shape too large", c->label, name);
    }
    if (numel > 0 && last >= s->u.storage.numel)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s' reaches element %lld of a %lld-element storage", c->label,
                         name, (long long)last, (long long)s->u.storage.numel);
    if (numel == 0 && t->u.tensor->offset > s->u.storage.numel)
        return clip_fail(CLIP_ERR_FORMAT, "%s: tensor '%s': offset past its storage", c->label, name);
    const void *data = e->data + (size_t)t->u.tensor->offset * elsize;
    if (!contiguous && numel > s->u.storage.numel)
        return clip_fail(CLIP_ERR_UNSUPPORTED, "%s: tensor '%s' is an expanded view larger than its storage", c->label,
                         name);
    if (!contiguous && numel > 0) {
        void *copy = NULL;
        clip_status st = gather(c, name, t, e->data, elsize, numel, &copy);
        if (st == CLIP_OK) st = st_table_keep(c->table, copy, free);
        if (st != CLIP_OK) return st;
        data = copy;
    }
    return st_table_add(c->table, name, dtype, nd, t->u.tensor->size, data, (size_t)numel * elsize);
}

/* ---- finding the tensors ---- */

static int has_tensors(const pk_value *dict) {
    for (size_t i = 0; i + 1 < dict->u.seq.n; i += 2)
        if (dict->u.seq.items[i + 1]->kind == PK_TENSOR) return 1;
    return 0;
}

/* A state dict itself, or one under the keys training scripts use. */
static const pk_value *find_state_dict(const pk_value *v, int depth) {
    if (!v || v->kind != PK_DICT || depth > 3) return NULL;
    if (has_tensors(v)) return v;
    static const char *keys[] = {"state_dict", "model_state_dict", "model", "module", "state_dict_ema", "model_ema"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const pk_value *found = find_state_dict(pk_dict_get(v, keys[i]), depth + 1);
        if (found) return found;
    }
    return NULL;
}

static clip_status collect_dict(ckpt *c, const pk_value *dict) {
    for (size_t i = 0; i + 1 < dict->u.seq.n; i += 2) {
        const pk_value *key = dict->u.seq.items[i], *value = dict->u.seq.items[i + 1];
        if (key->kind != PK_STR || value->kind != PK_TENSOR) continue;
        clip_status st = remember(c, key->u.str.s, value);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

/* TorchScript: every module is an object whose state maps attribute names
 * to parameters, buffers, submodules and plain values; dotted paths of the
 * tensors are the state_dict() names. */
static clip_status walk_module(ckpt *c, const pk_value *obj, const char *path, int depth) {
    if (depth > MAX_MODULE_DEPTH)
        return clip_fail(CLIP_ERR_LIMIT, "%s: TorchScript modules nested deeper than %d (cyclic?)", c->label,
                         MAX_MODULE_DEPTH);
    if (++c->visits > c->max_visits)
        return clip_fail(CLIP_ERR_LIMIT, "%s: TorchScript module tree larger than the pickle allows (shared cycles?)",
                         c->label);
    const pk_value *state = obj->u.object.state;
    if (state->kind != PK_DICT) return CLIP_OK; /* custom __getstate__: no parameters to find */
    for (size_t i = 0; i + 1 < state->u.seq.n; i += 2) {
        const pk_value *key = state->u.seq.items[i], *value = state->u.seq.items[i + 1];
        if (key->kind != PK_STR || (value->kind != PK_TENSOR && value->kind != PK_OBJECT)) continue;
        char name[MAX_NAME];
        int len = snprintf(name, sizeof name, "%s%s%s", path, *path ? "." : "", key->u.str.s);
        if (len < 0 || (size_t)len >= sizeof name)
            return clip_fail(CLIP_ERR_LIMIT, "%s: parameter path longer than %d bytes", c->label, MAX_NAME);
        clip_status st = value->kind == PK_TENSOR ? remember(c, name, value) : walk_module(c, value, name, depth + 1);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

static clip_status add_found(ckpt *c) {
    /* DataParallel / DistributedDataParallel wrap every name in "module.". */
    int all_wrapped = c->n_found > 0;
    for (size_t i = 0; i < c->n_found && all_wrapped; i++) all_wrapped = strncmp(c->found[i].name, "module.", 7) == 0;
    for (size_t i = 0; i < c->n_found; i++) {
        clip_status st = add_tensor(c, c->found[i].name + (all_wrapped ? 7 : 0), c->found[i].tensor);
        if (st != CLIP_OK) return st;
    }
    return CLIP_OK;
}

clip_status torch_ckpt_open_memory(const void *data, size_t size, const char *label, st_file **out) {
    *out = NULL;
    /* Copies are bounded relative to the file: what a real checkpoint's
     * strided views need, not what a crafted shape claims. */
    uint64_t copy_ratio = limit_value(LIMIT_TENSOR_COPY_RATIO), entry_ratio = limit_value(LIMIT_ZIP_ENTRY_RATIO);
    size_t slack = (size_t)64 << 20, unit = size ? size : 1;
    ckpt c = {.label = label ? label : "<torch>",
              .max_copied = copy_ratio > (SIZE_MAX - slack) / unit ? SIZE_MAX : size * copy_ratio + slack};
    size_t max_pkl = entry_ratio > SIZE_MAX / unit ? SIZE_MAX : size * entry_ratio;
    clip_status st = zip_open_memory(data, size, c.label, &c.zip);
    const zip_entry *pkl_entry = NULL;
    uint8_t *pkl = NULL;
    size_t pkl_len = 0;
    pk_doc *doc = NULL;
    if (st == CLIP_OK) st = find_data_pkl(&c, &pkl_entry);
    if (st == CLIP_OK) st = check_byteorder(&c);
    if (st == CLIP_OK && pkl_entry->size > max_pkl)
        st = limit_fail(LIMIT_ZIP_ENTRY_RATIO, "%s: zip entry '%s' inflates to %llu bytes (limit x the %zu-byte archive)",
                        c.label, pkl_entry->name, (unsigned long long)pkl_entry->size, size);
    if (st == CLIP_OK) st = zip_read(c.zip, pkl_entry, max_pkl, &pkl, &pkl_len);
    if (st == CLIP_OK) {
        char pkl_label[2 * MAX_NAME];
        snprintf(pkl_label, sizeof pkl_label, "%s: %s", c.label, pkl_entry->name);
        st = pickle_load(pkl, pkl_len, pkl_label, &doc);
    }
    const char *kind = "torch";
    if (st == CLIP_OK) {
        c.table = st_table_new(c.label);
        if (!c.table) st = clip_fail(CLIP_ERR_NO_MEMORY, "out of memory");
    }
    if (st == CLIP_OK) {
        const pk_value *root = pickle_root(doc);
        c.max_visits = pkl_len + 1024;
        if (root->kind == PK_OBJECT) {
            kind = "torchscript";
            st = walk_module(&c, root, "", 0);
        } else {
            const pk_value *dict = find_state_dict(root, 0);
            if (dict) st = collect_dict(&c, dict);
            else if (root->kind == PK_DICT)
                st = clip_fail(CLIP_ERR_FORMAT,
                               "%s: a dict without tensors, and none under 'state_dict', 'model' or 'module'",
                               c.label);
            else
                st = clip_fail(CLIP_ERR_FORMAT, "%s: the checkpoint holds neither a state dict nor a TorchScript module",
                               c.label);
        }
    }
    if (st == CLIP_OK && c.n_found == 0) st = clip_fail(CLIP_ERR_FORMAT, "%s: no tensors in the checkpoint", c.label);
    if (st == CLIP_OK) st = add_found(&c);
    if (st == CLIP_OK) st = st_table_set_metadata(c.table, "clip.source_format", kind);
    if (st == CLIP_OK) st = st_table_finish(c.table);
    for (size_t i = 0; i < c.n_found; i++) free(c.found[i].name);
    free(c.found);
    pickle_free(doc);
    free(pkl);
    zip_close(c.zip);
    if (st != CLIP_OK) {
        st_close(c.table);
        return st;
    }
    *out = c.table;
    return CLIP_OK;
}
