/* secret_file.c - a password's own file; see secret_file.h. */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads up to len octets, or fewer at the end of the file; -1 on an error. */
static ssize_t read_some(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int secret_file_read(const char *key, const char *path, unsigned flags, char **secret_r,
                     char *err, size_t errlen)
{
	/* One octet more than a password may have, and its line end. */
	char buf[SECRET_FILE_MAX + 3];
	struct stat st;
	int rc = -1;

	*secret_r = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	ssize_t n = -1;
	if (fstat(fd, &st) != 0)
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(err, errlen, "%s %s: not a regular file", key, path);
	else if ((flags & SECRET_FILE_PRIVATE) && (st.st_mode & S_IRWXO) != 0)
		snprintf(err, errlen, "%s %s: others may read or change it (mode %04o): "
		         "chmod o-rwx it", key, path, (unsigned)(st.st_mode & 07777));
	else if ((n = read_some(fd, buf, sizeof(buf) - 1)) < 0)
		snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
	close(fd);
	if (n < 0)
		goto out;
	buf[n] = '\0';
	size_t len = strcspn(buf, "\r\n");
	if (n == 0)
		snprintf(err, errlen, "%s %s: empty", key, path);
	else if (len == 0)
		snprintf(err, errlen, "%s %s: the first line is empty", key, path);
	else if (len > SECRET_FILE_MAX)
		snprintf(err, errlen, "%s %s: the first line is longer than %d octets", key, path,
		         SECRET_FILE_MAX);
	else if ((*secret_r = strndup(buf, len)) == NULL)
		snprintf(err, errlen, "out of memory");
	else
		rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

void secret_free(char **secret)
{
	if (*secret == NULL)
		return;
	explicit_bzero(*secret, strlen(*secret));
	free(*secret);
	*secret = NULL;
}
