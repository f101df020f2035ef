#include "formats/tensor_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "formats/gguf_clip.h"
#include "formats/st_quant.h"
#include "formats/torch_ckpt.h"

tensor_format tensor_file_sniff(const void *head, size_t size, uint64_t file_size) {
    const uint8_t *b = head;
    if (size >= 4 && memcmp(b, "GGUF", 4) == 0) return TENSOR_FORMAT_GGUF;
    if (size >= 4 && memcmp(b, "PK\x03\x04", 4) == 0) return TENSOR_FORMAT_ZIP;
    if (size >= 10 && b[8] == '{') {
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--) len = (len << 8) | b[i];
        if (len <= file_size - 8) return TENSOR_FORMAT_SAFETENSORS;
    }
    /* torch.save before 1.6: a bare pickle protocol 2 stream. */
    if (size >= 2 && b[0] == 0x80 && b[1] <= 5) return TENSOR_FORMAT_LEGACY_TORCH;
    return TENSOR_FORMAT_UNKNOWN;
}

const char *tensor_file_format(const st_file *file) {
    const char *format = st_metadata(file, TENSOR_FILE_FORMAT_KEY);
    return format ? format : "safetensors";
}

static clip_status finish_safetensors(st_file *file, st_file **out) {
    clip_status st = st_quant_unwrap(file, &file);
    if (st == CLIP_OK) st = st_table_set_metadata(file, TENSOR_FILE_FORMAT_KEY, "safetensors");
    if (st != CLIP_OK) {
        st_close(file);
        return st;
    }
    *out = file;
    return CLIP_OK;
}

static clip_status unknown_format(const char *label, tensor_format format) {
    if (format == TENSOR_FORMAT_LEGACY_TORCH)
        return clip_fail(CLIP_ERR_UNSUPPORTED,
                         "%s: a torch.save file from before PyTorch 1.6 (bare pickle); re-save it with a newer "
                         "PyTorch (torch.save writes zip archives since 1.6) or convert it to safetensors",
                         label);
    return clip_fail(CLIP_ERR_FORMAT, "%s: not a safetensors, PyTorch (zip) or GGUF file", label);
}

static clip_status open_mapped(const void *data, size_t size, const char *label, st_file **out) {
    tensor_format format = tensor_file_sniff(data, size, size);
    switch (format) {
    case TENSOR_FORMAT_ZIP: return torch_ckpt_open_memory(data, size, label, out);
    case TENSOR_FORMAT_GGUF: return gguf_clip_open_memory(data, size, label, out);
    default: return unknown_format(label, format);
    }
}

clip_status tensor_file_open_memory(const void *data, size_t size, const char *label, st_file **out) {
    *out = NULL;
    if (tensor_file_sniff(data, size, size) == TENSOR_FORMAT_SAFETENSORS) {
        st_file *file;
        clip_status st = st_open_memory(data, size, label, &file);
        return st == CLIP_OK ? finish_safetensors(file, out) : st;
    }
    return open_mapped(data, size, label, out);
}

clip_status tensor_file_open(const char *path, st_file **out) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return clip_fail(CLIP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return clip_fail(CLIP_ERR_IO, "%s: not a regular file", path);
    }
    uint8_t head[16] = {0};
    ssize_t got = pread(fd, head, sizeof head, 0);
    tensor_format format = tensor_file_sniff(head, got > 0 ? (size_t)got : 0, (uint64_t)sb.st_size);
    if (format == TENSOR_FORMAT_SAFETENSORS) {
        /* the sniff saw only 16 bytes: let the reader judge the header */
        close(fd);
        st_file *file;
        clip_status st = st_open(path, &file);
        return st == CLIP_OK ? finish_safetensors(file, out) : st;
    }
    if (format != TENSOR_FORMAT_ZIP && format != TENSOR_FORMAT_GGUF) {
        close(fd);
        return unknown_format(path, format);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return clip_fail(CLIP_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
    st_file *table = NULL;
    clip_status st = open_mapped(map, size, path, &table);
    if (st != CLIP_OK) {
        munmap(map, size);
        return st;
    }
    st_table_set_mapping(table, map, size);
    *out = table;
    return CLIP_OK;
}
