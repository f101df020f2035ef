/* Files are written to a temporary name, flushed and renamed so a crash
 * leaves either the old file or the new one, never a torn one. */
#ifndef CLIP_CORE_ATOMIC_FILE_H
#define CLIP_CORE_ATOMIC_FILE_H
#include <stdio.h>

#include "clip.h"

typedef struct atomic_file {
    FILE *fp;
    char *final_path;
    char *temp_path;
} atomic_file;

clip_status atomic_file_open(atomic_file *af, const char *path);
/* Flushes, fsyncs, renames over the final path, fsyncs the directory,
 * then removes temporaries of the same path whose writers were killed
 * (NAME.tmp.PID.XXXXXX whose process is gone and whose lock is free). */
clip_status atomic_file_commit(atomic_file *af);
/* Removes the temporary file; safe after a failed commit. */
void atomic_file_abort(atomic_file *af);
/* Convenience: writes one buffer atomically. */
clip_status atomic_write_buffer(const char *path, const void *data, size_t size);

#endif
