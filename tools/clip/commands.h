/* Subcommands of the `clip` tool. Each takes argc/argv starting at the
 * subcommand's name, prints JSON lines on stdout, and returns an exit code. */
#ifndef CLIP_TOOL_COMMANDS_H
#define CLIP_TOOL_COMMANDS_H

int cmd_embed(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_ask(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_video(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_text_similarity(int argc, char **argv);
int cmd_text_classify(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_limits(int argc, char **argv);

#endif
