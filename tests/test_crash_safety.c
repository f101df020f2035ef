/* Kill-while-writing: a child process rewrites a file over and over (each
 * version with a different content) and is killed with SIGKILL at a random
 * moment; afterwards the file must be a complete old or new version that
 * loads. Files are written by the project's atomic writer (temp file, fsync,
 * rename), which this test holds to its promise. Killed writers leave their
 * temporary files; the next successful write must remove them all. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clip_index.h"
#include "core/atomic_file.h"
#include "formats/npy.h"
#include "harness.h"

enum { ITERATIONS = 200 };

static const char small_model_json[] =
    "{\"embed_dim\": 16, \"image_resolution\": 32, \"vision_layers\": 1, \"vision_width\": 32,"
    " \"vision_patch_size\": 16, \"vision_heads\": 1, \"context_length\": 8, \"vocab_size\": 500, \"text_width\": 32,"
    " \"text_heads\": 1, \"text_layers\": 1}";

/* One version of each kind of file; the writers below loop over versions
 * until killed, and the test writes one more version at the end. */
static int model_write(const char *path, int version) {
    clip_arch arch;
    if (clip_arch_from_json(small_model_json, sizeof small_model_json - 1, &arch) != CLIP_OK) return 0;
    return clip_model_init_file(&arch, (uint64_t)version, NULL, path) == CLIP_OK;
}

/* Embedding tables whose rows all hold the version number, so a torn file
 * would show mixed rows. */
static int npy_version_write(const char *path, int version) {
    enum { ROWS = 2048, DIM = 64 };
    float *data = malloc(sizeof(float) * ROWS * DIM);
    int64_t shape[2] = {ROWS, DIM};
    if (!data) return 0;
    for (int i = 0; i < ROWS * DIM; i++) data[i] = (float)version;
    int ok = npy_write_f32(path, 2, shape, data) == CLIP_OK;
    free(data);
    return ok;
}

static void model_writer(const char *path) {
    for (int version = 1;; version++) model_write(path, version);
}

static void npy_writer(const char *path) {
    for (int version = 1;; version++) npy_version_write(path, version);
}

/* Writer loops until killed: caption indexes alternating between two
 * caption files of 150 and 250 lines. */
static char captions_a[700], captions_b[700];
static int index_write_with(clip_model *model, const char *path, int version) {
    clip_index_build_options o = {.kind = CLIP_INDEX_TEXTS, .source = version % 2 ? captions_b : captions_a,
                                  .output = path};
    clip_index_build_report report;
    if (clip_index_build(model, &o, &report) != CLIP_OK) return 0;
    clip_index_build_report_free(&report);
    return 1;
}

static clip_model *load_tiny(void) {
    clip_model *model = NULL;
    clip_load_options opts = {.n_threads = 1};
    return clip_model_load(fixture_path("models/tiny-vit.safetensors"), &opts, &model) == CLIP_OK ? model : NULL;
}

static void index_writer(const char *path) {
    clip_model *model = load_tiny();
    if (!model) _exit(1);
    for (int version = 0;; version++) index_write_with(model, path, version);
}

static int index_write(const char *path, int version) {
    clip_model *model = load_tiny();
    int ok = model && index_write_with(model, path, version);
    clip_model_free(model);
    return ok;
}

static int index_intact(const char *path) {
    clip_index *index = NULL;
    if (clip_index_open(path, &index) != CLIP_OK) {
        fprintf(stderr, "  not loadable: %s\n", clip_last_error());
        return 0;
    }
    clip_index_info info;
    int ok = clip_index_get_info(index, &info) == CLIP_OK && (info.count == 150 || info.count == 250);
    for (int64_t i = 0; ok && i < info.count; i++) {
        clip_index_item item;
        ok = clip_index_get_item(index, i, &item) == CLIP_OK;
    }
    clip_index_free(index);
    return ok;
}

static int model_intact(const char *path) {
    clip_model *m = NULL;
    clip_load_options opts = {.n_threads = 1};
    if (clip_model_load(path, &opts, &m) != CLIP_OK) {
        fprintf(stderr, "  not loadable: %s\n", clip_last_error());
        return 0;
    }
    clip_model_free(m);
    return 1;
}

static int npy_intact(const char *path) {
    npy_array a;
    if (npy_read(path, &a) != CLIP_OK) {
        fprintf(stderr, "  not loadable: %s\n", clip_last_error());
        return 0;
    }
    const float *x = a.data;
    int ok = a.ndim == 2 && a.shape[0] == 2048 && a.shape[1] == 64;
    for (size_t i = 1; ok && i < 2048 * 64; i++) ok = x[i] == x[0];
    npy_free(&a);
    return ok;
}

/* Temporary siblings of `path` (NAME.tmp.*) in its folder. */
static int count_temps(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir_path[700], prefix[256];
    snprintf(dir_path, sizeof dir_path, "%.*s", (int)(slash - path), path);
    snprintf(prefix, sizeof prefix, "%s.tmp.", slash + 1);
    DIR *dir = opendir(dir_path);
    if (!dir) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(dir);
    return n;
}

static void kill_loop(const char *label, const char *path, void (*writer)(const char *),
                      int (*write_once)(const char *, int), int (*intact)(const char *)) {
    /* The first complete version exists before the killing starts, as the
     * old file would in real use. */
    pid_t first = fork();
    if (first == 0) {
        alarm(30);
        writer(path); /* never returns; killed below after the file exists */
    }
    for (int waited = 0; access(path, F_OK) != 0 && waited < 30000; waited++) usleep(1000);
    kill(first, SIGKILL);
    waitpid(first, NULL, 0);
    if (access(path, F_OK) != 0) {
        CHECK(0, "%s: the writer never produced %s", label, path);
        return;
    }
    int torn = 0;
    unsigned seed = (unsigned)time(NULL);
    for (int i = 0; i < ITERATIONS; i++) {
        pid_t child = fork();
        if (child == 0) {
            alarm(30);
            writer(path);
        }
        usleep(1000 + rand_r(&seed) % 20000); /* 1-21 ms: inside writes, renames, fsyncs */
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        if (!intact(path)) torn++;
    }
    CHECK(torn == 0, "%s: %d of %d kills left a torn or unloadable file", label, torn, ITERATIONS);
    /* Every child's successful commits removed the leftovers of those
     * killed before it; what the last kills left goes with the next
     * successful write (this process's), and none may remain. */
    int left = count_temps(path);
    CHECK(write_once(path, ITERATIONS + 1), "%s: a write after the kills failed: %s", label, clip_last_error());
    int after = count_temps(path);
    CHECK(after == 0, "%s: %d temporary files remain after a successful write", label, after);
    CHECK(intact(path), "%s: the file written after the kills is not intact", label);
    printf("  %s: %d kills, %d torn, %d temporary files left by the last kills, %d after the next write\n", label,
           ITERATIONS, torn, left, after);
}

/* A writer still alive (paused between open and commit) keeps its
 * temporary file through another process's commit of the same path; once
 * it is killed, the next commit removes it. */
static void live_writer_kept(const char *path) {
    int ready[2];
    if (pipe(ready) != 0) {
        CHECK(0, "pipe failed");
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        atomic_file af;
        alarm(30);
        if (atomic_file_open(&af, path) != CLIP_OK) _exit(1);
        fputs("half a file", af.fp);
        fflush(af.fp);
        if (write(ready[1], "x", 1) != 1) _exit(1);
        for (;;) pause();
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1, "live writer did not start");
    close(ready[0]);
    close(ready[1]);
    CHECK(atomic_write_buffer(path, "whole", 5) == CLIP_OK, "commit beside a live writer: %s", clip_last_error());
    CHECK(count_temps(path) == 1, "a live writer's temporary file was removed (%d left)", count_temps(path));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(atomic_write_buffer(path, "again", 5) == CLIP_OK, "commit after the kill: %s", clip_last_error());
    CHECK(count_temps(path) == 0, "the killed writer's temporary file remains (%d left)", count_temps(path));
    printf("  live writer: its temporary file kept, removed once it was killed\n");
}

int main(void) {
    char model_path[700], npy_path[700];
    snprintf(model_path, sizeof model_path, "%s/model.safetensors", scratch_dir());
    snprintf(npy_path, sizeof npy_path, "%s/embeddings.npy", scratch_dir());
    fixtures_dir(); /* fail loudly without fixtures, like every test */
    char live_path[700];
    snprintf(live_path, sizeof live_path, "%s/live.bin", scratch_dir());
    live_writer_kept(live_path);
    kill_loop("model files (safetensors)", model_path, model_writer, model_write, model_intact);
    kill_loop("embeddings (.npy)", npy_path, npy_writer, npy_version_write, npy_intact);
    setenv("CLIP_VOCAB", fixture_path("vocab/bpe_simple_vocab_16e6.txt.gz"), 1);
    snprintf(captions_a, sizeof captions_a, "%s/captions_a.txt", scratch_dir());
    snprintf(captions_b, sizeof captions_b, "%s/captions_b.txt", scratch_dir());
    FILE *fa = fopen(captions_a, "w"), *fb = fopen(captions_b, "w");
    for (int i = 0; i < 250; i++) {
        if (i < 150) fprintf(fa, "caption number %d of the first set\n", i);
        fprintf(fb, "a photo of thing %d in the second set\n", i);
    }
    fclose(fa);
    fclose(fb);
    char index_path[700];
    snprintf(index_path, sizeof index_path, "%s/captions.index", scratch_dir());
    kill_loop("caption indexes", index_path, index_writer, index_write, index_intact);
    return test_finish("test_crash_safety");
}
