/* PyTorch's zip checkpoints as a tensor table: torch.save files (PyTorch
 * 1.6 and later; state dicts, also nested under "state_dict", "model", ...
 * and with DataParallel's "module." prefix) and TorchScript archives from
 * torch.jit.save (parameters named as state_dict() names them). */
#ifndef CLIP_FORMATS_TORCH_CKPT_H
#define CLIP_FORMATS_TORCH_CKPT_H
#include <stddef.h>

#include "formats/safetensors.h"

/* The table's tensors point into `data` (stored storages, used in place
 * when contiguous) or into buffers the table owns; `data` must outlive the
 * table. Metadata "clip.source_format" is "torch" or "torchscript". */
clip_status torch_ckpt_open_memory(const void *data, size_t size, const char *label, st_file **out);

#endif
