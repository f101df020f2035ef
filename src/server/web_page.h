/* The search page served at / (web/index.html, embedded by
 * web/embed.sh into web_page.c so the binary needs no files at run time). */
#ifndef CLIP_SERVER_WEB_PAGE_H
#define CLIP_SERVER_WEB_PAGE_H
#include <stddef.h>

extern const char clip_web_page[];
extern const size_t clip_web_page_size;

#endif
