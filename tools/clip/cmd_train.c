/* clip train / clip eval: contrastive training and its evaluations. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_util.h"
#include "commands.h"
#include "dist/dist.h"
#include "labels.h"
#include "train/run.h"

static void train_usage(FILE *out) {
    fputs("usage: clip train --model MODEL --data SPEC [--eval-data SPEC] --batch-size B (--epochs E | --steps S)\n"
          "                  [--lr LR] [--wd WD] [--warmup N] [--beta1 B1] [--beta2 B2] [--eps EPS]\n"
          "                  [--grad-clip NORM] [--accum K] [--lock-image | --lock-text] [--bn-eval]\n"
          "                  [--class-aware] [--precision f32|bf16] [--seed S] [--eval-every N] [--eval-items N]\n"
          "                  [--checkpoint-every N] [--threads N] -o RUNDIR\n"
          "       clip train --resume RUNDIR [--threads N]\n\n"
          "Contrastive training (CLIP's symmetric cross-entropy with a learnable temperature, clamped at 100).\n"
          "Data SPEC: fashion-mnist[:DIR][:train|test], FILE.tsv|FILE.csv (image path, caption), or WebDataset\n"
          "shards (SHARD.tar[,SHARD.tar...] or a folder of .tar). AdamW (open_clip's decay rule: none for\n"
          "biases, norms, logit_scale and 1-D tensors), linear warm-up (default 5%% of the steps) then cosine\n"
          "decay; --accum K accumulates K batches per step (each batch's loss is its own, negatives = B).\n"
          "--class-aware (labelled data): pairs of the same class are all positives, so in-batch duplicates\n"
          "of a class are not pushed apart. --precision bf16: mixed precision (the linear layers' products in\n"
          "bf16 with float32 sums, on AMX or AVX512-BF16 where present; parameters, gradients and AdamW stay\n"
          "float32). RUNDIR gets config.json, log.jsonl (JSON lines: step, loss,\n"
          "logit_scale, lr, samples/s; evaluations: zero-shot top-1 with held-out templates, recall@1/5/10),\n"
          "checkpoint.safetensors (written atomically every --checkpoint-every steps, with optimizer state),\n"
          "model.safetensors (the trained model) and curves.svg. --resume continues a killed run exactly.\n"
          "Data-parallel: `mpirun -np N clip train ...` splits every global batch of B pairs over N ranks\n"
          "(B must be a multiple of N); the loss is computed over the global batch (features all-gathered,\n"
          "BatchNorm synchronised), gradients are summed over ranks; rank 0 writes RUNDIR (a shared folder for\n"
          "--resume, which works with any number of ranks). The result equals one process with batch B.\n",
          out);
}

int cmd_train(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},  {"data", required_argument, NULL, 'd'},
        {"eval-data", required_argument, NULL, 'E'}, {"batch-size", required_argument, NULL, 'b'},
        {"epochs", required_argument, NULL, 'e'}, {"steps", required_argument, NULL, 's'},
        {"lr", required_argument, NULL, 'l'},     {"wd", required_argument, NULL, 'w'},
        {"warmup", required_argument, NULL, 'W'}, {"beta1", required_argument, NULL, '1'},
        {"beta2", required_argument, NULL, '2'},  {"eps", required_argument, NULL, 'x'},
        {"grad-clip", required_argument, NULL, 'g'}, {"accum", required_argument, NULL, 'a'},
        {"lock-image", no_argument, NULL, 'I'},   {"lock-text", no_argument, NULL, 'T'},
        {"bn-eval", no_argument, NULL, 'N'},      {"class-aware", no_argument, NULL, 'C'},
        {"precision", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 'S'},   {"eval-every", required_argument, NULL, 'v'},
        {"eval-items", required_argument, NULL, 'n'}, {"checkpoint-every", required_argument, NULL, 'k'},
        {"threads", required_argument, NULL, 'j'}, {"output", required_argument, NULL, 'o'},
        {"resume", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    train_config cfg;
    train_config_defaults(&cfg);
    const char *resume = NULL, *out = NULL;
    long v;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': snprintf(cfg.model, sizeof cfg.model, "%s", optarg); break;
        case 'd': snprintf(cfg.data, sizeof cfg.data, "%s", optarg); break;
        case 'E': snprintf(cfg.eval_data, sizeof cfg.eval_data, "%s", optarg); break;
        case 'b': if (!cli_parse_int("--batch-size", optarg, 2, 1 << 16, &v)) return 2; cfg.batch_size = (int)v; break;
        case 'e': cfg.epochs = atof(optarg); break;
        case 's': if (!cli_parse_int("--steps", optarg, 1, 1L << 40, &v)) return 2; cfg.steps = v; break;
        case 'l': cfg.lr = atof(optarg); break;
        case 'w': cfg.weight_decay = atof(optarg); break;
        case 'W': if (!cli_parse_int("--warmup", optarg, 0, 1L << 40, &v)) return 2; cfg.warmup = v; break;
        case '1': cfg.beta1 = atof(optarg); break;
        case '2': cfg.beta2 = atof(optarg); break;
        case 'x': cfg.eps = atof(optarg); break;
        case 'g': cfg.grad_clip = atof(optarg); break;
        case 'a': if (!cli_parse_int("--accum", optarg, 1, 1024, &v)) return 2; cfg.accum = (int)v; break;
        case 'I': cfg.lock_image = 1; break;
        case 'T': cfg.lock_text = 1; break;
        case 'N': cfg.bn_eval = 1; break;
        case 'C': cfg.class_aware = 1; break;
        case 'P':
            if (strcmp(optarg, "f32") != 0 && strcmp(optarg, "bf16") != 0) {
                fprintf(stderr, "clip train: --precision expects f32 or bf16, got '%s'\n", optarg);
                return 2;
            }
            cfg.bf16 = strcmp(optarg, "bf16") == 0;
            break;
        case 'S': cfg.seed = strtoull(optarg, NULL, 10); break;
        case 'v': if (!cli_parse_int("--eval-every", optarg, 0, 1L << 40, &v)) return 2; cfg.eval_every = v; break;
        case 'n': if (!cli_parse_int("--eval-items", optarg, 0, 1L << 30, &v)) return 2; cfg.eval_items = (int)v; break;
        case 'k': if (!cli_parse_int("--checkpoint-every", optarg, 0, 1L << 40, &v)) return 2; cfg.checkpoint_every = v; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &v)) return 2; cfg.threads = (int)v; break;
        case 'o': out = optarg; break;
        case 'r': resume = optarg; break;
        case 'h': train_usage(stdout); return 0;
        default: train_usage(stderr); return 2;
        }
    }
    if (optind < argc || (!resume && (!out || !cfg.model[0] || !cfg.data[0])) || (resume && out)) {
        fprintf(stderr, "clip train: give --model, --data and -o RUNDIR, or --resume RUNDIR\n");
        train_usage(stderr);
        return 2;
    }
    if (cfg.lock_image && cfg.lock_text) {
        fprintf(stderr, "clip train: locking both towers leaves nothing to train\n");
        return 2;
    }
    snprintf(cfg.out_dir, sizeof cfg.out_dir, "%s", resume ? resume : out);
    if (dist_init() != CLIP_OK || clip_train_run(&cfg, resume != NULL) != CLIP_OK) {
        cli_error("train", NULL);
        return 1;
    }
    return 0;
}

static void eval_usage(FILE *out) {
    fputs("usage: clip eval -m MODEL (--zeroshot SPEC [--templates FILE] | --retrieval SPEC) [--items N]\n"
          "                 [--threads N] [--vocab PATH]\n"
          "       clip eval --save-images DIR --zeroshot SPEC --items N\n\n"
          "Zero-shot top-1/top-5 accuracy on a labelled source (class names through the templates; default\n"
          "the built-in set, which the training captions do not use), or image<->text recall@1/5/10 over\n"
          "the first N pairs (default 1000). One JSON line.\n"
          "--save-images writes the first N items of a labelled source as PNG files named\n"
          "NNNNN_<class>.png (e.g. to try `clip classify` on them); no model is needed.\n",
          out);
}

/* Writes items of a labelled source as PNG files. */
static int save_images(const char *dir, const char *spec, long items) {
    if (!spec || items <= 0) {
        fprintf(stderr, "clip eval: --save-images needs --zeroshot SPEC and --items N\n");
        return 2;
    }
    clip_data *data = NULL;
    if (clip_data_open(spec, NULL, &data) != CLIP_OK) {
        cli_error("eval", NULL);
        return 1;
    }
    mkdir(dir, 0755);
    int status = 0;
    for (long i = 0; i < items && i < clip_data_size(data) && status == 0; i++) {
        clip_image *img = NULL;
        char *caption = NULL, path[4300], name[64];
        int label;
        uint8_t *rgb = NULL;
        if (clip_data_get(data, i, NULL, &img, &caption, &label) != CLIP_OK || clip_image_to_rgb(img, &rgb) != CLIP_OK) {
            cli_error("eval", spec);
            status = 1;
        } else {
            snprintf(name, sizeof name, "%s", label >= 0 ? clip_data_class_name(data, label) : "item");
            for (char *c = name; *c; c++) if (*c == '/' || *c == ' ') *c = '-';
            snprintf(path, sizeof path, "%s/%05ld_%s.png", dir, i, name);
            if (clip_write_png_rgb(path, rgb, clip_image_width(img), clip_image_height(img)) != CLIP_OK) {
                cli_error("eval", path);
                status = 1;
            }
        }
        free(rgb);
        free(caption);
        clip_image_free(img);
    }
    clip_data_close(data);
    return status;
}

int cmd_eval(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},    {"zeroshot", required_argument, NULL, 'z'},
        {"retrieval", required_argument, NULL, 'r'}, {"templates", required_argument, NULL, 'T'},
        {"items", required_argument, NULL, 'n'},    {"threads", required_argument, NULL, 'j'},
        {"vocab", required_argument, NULL, 'v'},    {"save-images", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *model_path = NULL, *zeroshot = NULL, *retrieval = NULL, *templates_file = NULL, *vocab = NULL;
    const char *save_dir = NULL;
    long items = 0, threads = 0;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "m:h", options, NULL)) != -1) {
        switch (opt) {
        case 'm': model_path = optarg; break;
        case 'z': zeroshot = optarg; break;
        case 'r': retrieval = optarg; break;
        case 'T': templates_file = optarg; break;
        case 'n': if (!cli_parse_int("--items", optarg, 0, 1L << 30, &items)) return 2; break;
        case 'j': if (!cli_parse_int("--threads", optarg, 0, 1024, &threads)) return 2; break;
        case 'v': vocab = optarg; break;
        case 's': save_dir = optarg; break;
        case 'h': eval_usage(stdout); return 0;
        default: eval_usage(stderr); return 2;
        }
    }
    if (save_dir) return save_images(save_dir, zeroshot, items);
    if (optind < argc || (!zeroshot == !retrieval)) {
        eval_usage(stderr);
        return 2;
    }
    label_list templates = {0};
    if (templates_file && (!labels_from_file(templates_file, &templates) || templates.count == 0)) return 2;
    clip_model *model = NULL;
    clip_data *data = NULL;
    int status = 1;
    if (!cli_load_model("eval", model_path, (int)threads, vocab, &model)) goto done;
    if (clip_data_open(zeroshot ? zeroshot : retrieval, NULL, &data) != CLIP_OK) {
        cli_error("eval", NULL);
        goto done;
    }
    eval_result r;
    if (zeroshot) {
        /* the classifier wants a NULL-terminated list */
        const char **tpl = NULL;
        if (templates.count) {
            tpl = calloc((size_t)templates.count + 1, sizeof(char *));
            for (int i = 0; tpl && i < templates.count; i++) tpl[i] = templates.items[i];
        }
        clip_status st = clip_eval_zeroshot(model, data, tpl, (int)items, &r);
        free(tpl);
        if (st != CLIP_OK) {
            cli_error("eval", NULL);
            goto done;
        }
        printf("{\"zeroshot\": \"%s\", \"items\": %lld, \"top1\": %.4f, \"top5\": %.4f}\n", zeroshot, (long long)r.items,
               r.top1, r.top5);
    } else {
        if (clip_eval_retrieval(model, data, items ? (int)items : 1000, &r) != CLIP_OK) {
            cli_error("eval", NULL);
            goto done;
        }
        printf("{\"retrieval\": \"%s\", \"i2t_recall\": [%.4f, %.4f, %.4f], \"t2i_recall\": [%.4f, %.4f, %.4f]}\n",
               retrieval, r.i2t_recall[0], r.i2t_recall[1], r.i2t_recall[2], r.t2i_recall[0], r.t2i_recall[1],
               r.t2i_recall[2]);
    }
    status = 0;
done:
    clip_data_close(data);
    clip_model_free(model);
    labels_free(&templates);
    return status;
}
