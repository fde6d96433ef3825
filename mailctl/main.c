/* main.c - mailctl's entry point; everything else is in mailctl_core. */
#include "mailctl.h"

int main(int argc, char **argv)
{
	return mailctl_main(argc, argv);
}
