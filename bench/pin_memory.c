// Pins N MiB of anonymous memory (allocated and touched page by page) until killed, so that
// the engines under test see less available memory. There is no swap: the pages stay.
// Usage: pin_memory MIB   (prints "pinned" once every page is touched)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s MIB\n", argv[0]); return 2; }
    size_t mib = strtoull(argv[1], NULL, 10);
    size_t bytes = mib << 20;
    // This process must survive; the engine under test raises its own oom_score_adj instead.
    FILE *adj = fopen("/proc/self/oom_score_adj", "w");
    if (adj) { fputs("-1", adj); fclose(adj); }  // lowering needs privileges; ignored if refused
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < bytes; i += (size_t)page) p[i] = (char)(i >> 12 | 1);
    printf("pinned\n");
    fflush(stdout);
    for (;;) pause();
}
