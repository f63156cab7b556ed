// The RMSprop update alone, in C, for comparing with scrawl's update in the layer
// clock (docs/PERFORMANCE.md, "Subnormal optimizer state"): one thread's share of
// mlp-512-512's weights (335,000 values), the best of 200 passes.
//   gcc -O3 -mavx2 -mfma -fno-math-errno -o /tmp/update-loop bench/update-loop.c -lm
//   /tmp/update-loop 0 evict          # the update, caches evicted between passes
//   /tmp/update-loop 1 evict          # without its square root and division
//   (/tmp/update-loop 0 evict & /tmp/update-loop 0 evict; wait)   # two at once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N 335000
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char **argv) {
  int mode = argc > 1 ? atoi(argv[1]) : 0;
  float *w = aligned_alloc(64, N * 4), *g = aligned_alloc(64, N * 4), *s = aligned_alloc(64, N * 4);
  float *big = aligned_alloc(64, 64 << 20);
  for (int i = 0; i < N; i++) { w[i] = i * 1e-6f; g[i] = (i % 7) * 1e-3f; s[i] = 1e-4f; }
  for (int i = 0; i < (16 << 20); i++) big[i] = 0.0f;
  float lr = 1e-3f, rho = 0.9f, eps = 1e-7f;
  double best = 1e9;
  for (int rep = 0; rep < 200; rep++) {
    if (argc > 2)  // evict: write 64 MiB, more than the L2 and the share of L3 in use
      for (int i = 0; i < (16 << 20); i += 16) big[i] += 1.0f;
    double t0 = now();
    if (mode == 0)
      for (int i = 0; i < N; i++) { s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]; w[i] -= lr * g[i] / sqrtf(s[i] + eps); }
    else
      for (int i = 0; i < N; i++) { s[i] = rho * s[i] + (1 - rho) * g[i] * g[i]; w[i] -= lr * g[i] * (s[i] + eps); }
    double t = now() - t0;
    if (t < best) best = t;
  }
  printf("mode %d evict %d: %.3f ms, %.2f ns a value\n", mode, argc > 2, best * 1e3, best * 1e9 / N);
  return 0;
}
