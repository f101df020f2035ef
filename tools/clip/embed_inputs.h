/* Turns the CLI's mixed list of inputs (image files, texts, .npy pixels and
 * token ids) into embeddings, batching each tower separately and keeping
 * the order the inputs were given in. */
#ifndef CLIP_TOOL_EMBED_INPUTS_H
#define CLIP_TOOL_EMBED_INPUTS_H
#include "clip.h"

typedef enum embed_kind { EMBED_IMAGE, EMBED_TEXT, EMBED_PIXELS, EMBED_TOKENS } embed_kind;

typedef struct embed_request {
    embed_kind *kinds;
    const char **values;
    int count, capacity;
} embed_request;

typedef struct embed_result {
    int count, dim;
    float *features;  /* [count, dim] */
    char **labels;    /* what each row came from */
    int *is_image;
    int *ok;          /* 0 where the input could not be read */
} embed_result;

void embed_request_add(embed_request *request, embed_kind kind, const char *value);
void embed_request_free(embed_request *request);
/* Returns the number of inputs that failed (each reported on stderr). */
int embed_run(clip_model *model, const embed_request *request, int batch, int normalize,
              const char *command, embed_result *result);
void embed_result_free(embed_result *result);

#endif
