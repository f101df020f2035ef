/* Video frames into an image index, so moments are searchable with
 * `clip index search`: each item is "FILE#t=SECONDS". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip_index.h"
#include "core/error.h"
#include "index/index_internal.h"
#include "index/writer.h"

clip_status clip_video_frames_index(clip_model *model, const clip_video_frames *frames, const char *video_path,
                                    const char *index_path) {
    if (!model || !frames || frames->n <= 0 || !video_path || !index_path)
        return clip_fail(CLIP_ERR_INVALID_ARGUMENT, "video index: needs a model, frames and paths");
    uint8_t model_id[CLIP_MODEL_ID_BYTES];
    clip_status st = clip_model_identity(model, model_id);
    if (st != CLIP_OK) return st;
    char desc[256];
    idx_model_desc(model, desc, sizeof desc);
    struct stat sb;
    uint64_t size = stat(video_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    int64_t mtime = stat(video_path, &sb) == 0 ? (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec : 0;
    char **names = calloc((size_t)frames->n, sizeof(char *));
    uint64_t *sizes = malloc((size_t)frames->n * sizeof(uint64_t));
    int64_t *mtimes = malloc((size_t)frames->n * sizeof(int64_t));
    if (!names || !sizes || !mtimes) st = clip_fail(CLIP_ERR_NO_MEMORY, "video index: out of memory");
    for (int i = 0; i < frames->n && st == CLIP_OK; i++) {
        size_t len = strlen(video_path) + 32;
        if (!(names[i] = malloc(len))) st = clip_fail(CLIP_ERR_NO_MEMORY, "video index: out of memory");
        else snprintf(names[i], len, "%s#t=%.3f", video_path, frames->times[i]);
        sizes[i] = size;
        mtimes[i] = mtime;
    }
    if (st == CLIP_OK) {
        idx_contents c = {.kind = CLIP_INDEX_IMAGES, .dtype = CLIP_INDEX_F32, .dim = frames->dim, .count = frames->n,
                          .vectors = frames->features, .texts = (const char *const *)names, .sizes = sizes,
                          .mtimes_ns = mtimes, .model_id = model_id, .model_desc = desc};
        st = idx_write(index_path, &c);
    }
    for (int i = 0; names && i < frames->n; i++) free(names[i]);
    free(names);
    free(sizes);
    free(mtimes);
    return st;
}
