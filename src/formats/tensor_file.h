/* One entry point for every checkpoint format: the file's first bytes
 * decide the reader, and every reader yields the same st_file tensor table
 * the model loader binds from. */
#ifndef CLIP_FORMATS_TENSOR_FILE_H
#define CLIP_FORMATS_TENSOR_FILE_H
#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "formats/safetensors.h"

/* Metadata key naming the format the table was read from: "safetensors",
 * "torch" (torch.save), "torchscript" (torch.jit.save) or "gguf". */
#define TENSOR_FILE_FORMAT_KEY "clip.source_format"

typedef enum tensor_format {
    TENSOR_FORMAT_UNKNOWN, TENSOR_FORMAT_SAFETENSORS, TENSOR_FORMAT_ZIP, TENSOR_FORMAT_GGUF,
    TENSOR_FORMAT_LEGACY_TORCH,
} tensor_format;

/* From the first bytes (`size` of them, 16 suffice) of a file of
 * `file_size` bytes. */
tensor_format tensor_file_sniff(const void *head, size_t size, uint64_t file_size);

/* safetensors (also clip.c's quantised ones), PyTorch zip archives
 * (torch.save >= 1.6, torch.jit.save) and GGUF (clip.cpp's layout, mapped
 * to OpenAI names). The file is memory-mapped; tensors stored as float32
 * are used in place. */
clip_status tensor_file_open(const char *path, st_file **out);
/* The same over a caller-owned buffer that must outlive the table. */
clip_status tensor_file_open_memory(const void *data, size_t size, const char *label, st_file **out);
/* TENSOR_FILE_FORMAT_KEY of a table, "safetensors" when absent. */
const char *tensor_file_format(const st_file *file);

#endif
