/* Element-wise public ops, on the active kernel table. */
#include "nn/kernels.h"

void nn_quickgelu(float *x, size_t n) { nn_kernels_active()->activate(x, n, NN_ACT_QUICKGELU); }

void nn_softmax_row(float *x, int n) { nn_kernels_active()->softmax_row(x, n); }
