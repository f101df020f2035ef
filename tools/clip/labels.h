/* Label lists from "--labels a,b,c" or a file with one label per line. */
#ifndef CLIP_TOOL_LABELS_H
#define CLIP_TOOL_LABELS_H

typedef struct label_list {
    char **items;
    int count;
} label_list;

/* Splits on commas, trimming spaces; empty entries are dropped. */
int labels_from_csv(const char *csv, label_list *out);
/* One entry per non-empty line; returns 0 (message printed) on failure. */
int labels_from_file(const char *path, label_list *out);
void labels_free(label_list *list);

#endif
