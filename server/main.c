#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "version") == 0) {
        printf("aimguard %s\n", AG_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: aimguard serve|eval|check|version\n");
    return 2;
}
