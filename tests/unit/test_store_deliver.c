/* test_store_deliver.c - deliveries, group commit, snapshots and deletion. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_store_util.h"

static int64_t messages(struct store_fixture *f)
{
	return TSU_COUNT(f, "messages");
}

static struct store_entry *snapshot(store_t *s, const char *mailbox, size_t *count_r)
{
	struct store_entry *entries = (struct store_entry *)&count_r; /* must be replaced */
	TSU_OK(s, store_mailbox_snapshot(s, mailbox, &entries, count_r));
	if (*count_r == 0)
		assert_null(entries);
	return entries;
}

static void queue_count_cb(void *ctx, const struct store_queue_item *item)
{
	(*(int *)ctx)++;
}

static int queue_items(store_t *s)
{
	int n = 0;
	TSU_OK(s, store_queue_list(s, queue_count_cb, &n));
	return n;
}

static void test_deliver_local_and_remote(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	static const char body[] = "Received: by test\r\nSubject: hi\r\n\r\nHello.\r\n";
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("Sender@Remote.TEST", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@EXAMPLE.test"), STORE_OK); /* dup */
	assert_int_equal(store_delivery_add_local(d, "bob@example.test"), STORE_OK);
	assert_int_equal(store_delivery_add_remote(d, "far@away.test"), STORE_OK);
	assert_int_equal(store_delivery_add_remote(d, "far@AWAY.test"), STORE_OK); /* dup */
	assert_int_equal(store_delivery_add_local(d, "not an address"), STORE_EINVAL);
	assert_int_equal(store_delivery_add_remote(d, "x"), STORE_EINVAL);
	/* Written in pieces; the size counts every octet. */
	assert_int_equal(store_delivery_write(d, body, 10), STORE_OK);
	assert_int_equal(store_delivery_write(d, body + 10, 0), STORE_OK);
	assert_int_equal(store_delivery_write(d, body + 10, sizeof(body) - 11), STORE_OK);
	assert_int_equal(store_delivery_size(d), sizeof(body) - 1);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	store_delivery_free(&d); /* safe on NULL */

	assert_int_equal(messages(f), 1);
	size_t n = 0;
	struct store_entry *a = snapshot(s, "alice@example.test", &n);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].size, sizeof(body) - 1);
	struct store_entry *b = snapshot(s, "bob@example.test", &n);
	assert_int_equal(n, 1);
	assert_int_equal(b[0].message_id, a[0].message_id); /* one body, two entries */
	assert_true(b[0].id != a[0].id);
	size_t len = 0;
	char *text = tsu_read_message(s, a[0].message_id, &len);
	assert_int_equal(len, sizeof(body) - 1);
	assert_memory_equal(text, body, len);
	free(text);
	free(a);
	free(b);
	assert_int_equal(queue_items(s), 1);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM queue WHERE sender ="
	                                      " 'Sender@remote.test' AND recipient = 'far@away.test'"),
	                 1);
	tsu_check_clean(s);
}

static void test_deliver_refused(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("bad sender@x.test", NULL, &d), STORE_EINVAL);
	assert_null(d);
	assert_int_equal(store_delivery_new(NULL, NULL, &d), STORE_EINVAL);
	/* The null reverse-path is allowed. */
	assert_int_equal(store_delivery_new("", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_write(d, "x\r\n", 3), STORE_OK);
	TSU_EXPECT(s, STORE_EINVAL, store_deliver(s, d)); /* no recipients */
	int result = 1;
	TSU_OK(s, store_deliver_batch(s, &d, 1, &result));
	assert_int_equal(result, STORE_EINVAL);
	/* A mailbox that does not exist (any more): nothing is stored. */
	assert_int_equal(store_delivery_add_remote(d, "far@away.test"), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "gone@example.test"), STORE_OK);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_deliver(s, d));
	assert_non_null(strstr(store_errmsg(s), "gone@example.test"));
	store_delivery_free(&d);
	assert_int_equal(messages(f), 0);
	assert_int_equal(TSU_COUNT(f, "message_chunks"), 0);
	assert_int_equal(TSU_COUNT(f, "queue"), 0);
	/* An empty body is a message of size 0. */
	assert_int_equal(store_delivery_new("", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	size_t n = 0, len = 1;
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].size, 0);
	free(tsu_read_message(s, e[0].message_id, &len));
	assert_int_equal(len, 0);
	free(e);
	tsu_check_clean(s);
}

static store_delivery_t *make_delivery(const char *local, const char *body)
{
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("s@remote.test", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, local), STORE_OK);
	assert_int_equal(store_delivery_write(d, body, strlen(body)), STORE_OK);
	return d;
}

static void test_batch_one_fails(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	store_delivery_t *d[4];
	int results[4] = { 9, 9, 9, 9 };
	d[0] = make_delivery("alice@example.test", "one\r\n");
	d[1] = make_delivery("dave@example.test", "two\r\n");
	d[2] = make_delivery("bob@example.test", "three\r\n");
	d[3] = make_delivery("alice@example.test", "four\r\n");
	/* dave is deleted between resolution and commit. */
	TSU_OK(s, store_user_add(s, "dave@example.test", "$y$x"));
	TSU_OK(s, store_user_del(s, "dave@example.test"));
	TSU_OK(s, store_deliver_batch(s, d, 4, results));
	assert_int_equal(results[0], STORE_OK);
	assert_int_equal(results[1], STORE_ENOTFOUND);
	assert_int_equal(results[2], STORE_OK);
	assert_int_equal(results[3], STORE_OK);
	for (int i = 0; i < 4; i++)
		store_delivery_free(&d[i]);
	assert_int_equal(messages(f), 3);
	assert_int_equal(tsu_query_int(f->db, "SELECT SUM(size) FROM messages"), 5 + 7 + 6);
	size_t n = 0;
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	assert_int_equal(n, 2);
	assert_true(e[0].id < e[1].id); /* oldest first */
	size_t len;
	char *text = tsu_read_message(s, e[1].message_id, &len);
	assert_string_equal(text, "four\r\n");
	free(text);
	free(e);
	TSU_OK(s, store_deliver_batch(s, d, 0, results));
	tsu_check_clean(s);
}

static void test_snapshot_errors(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct store_entry *e = NULL;
	size_t n = 5;
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &e, &n));
	assert_null(e);
	assert_int_equal(n, 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_snapshot(s, "zed@example.test", &e, &n));
	TSU_EXPECT(s, STORE_EINVAL, store_mailbox_snapshot(s, "zed", &e, &n));
	store_reader_t *r = NULL;
	TSU_EXPECT(s, STORE_ENOTFOUND, store_reader_open(s, 12345, &r));
	assert_null(r);
	store_reader_close(&r);
}

/* One body in two mailboxes and the queue is freed only by the last. */
static void test_delete_shared_body(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, tsu_deliver(s, "alice@example.test", "bob@example.test", "far@away.test",
	                      "shared\r\n"));
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "alice only\r\n"));
	size_t na = 0, nb = 0;
	struct store_entry *a = snapshot(s, "alice@example.test", &na);
	struct store_entry *b = snapshot(s, "bob@example.test", &nb);
	assert_int_equal(na, 2);
	assert_int_equal(nb, 1);
	int64_t shared = a[0].message_id;

	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "a", 60));
	TSU_OK(s, store_lease_acquire(s, "bob@example.test", "b", 60));
	/* Bob cannot delete Alice's entry; unknown ids are ignored. */
	int64_t foreign[] = { a[0].id, 999999 };
	TSU_OK(s, store_mailbox_delete(s, "bob@example.test", "b", foreign, 2));
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 3);

	int64_t ids[] = { a[0].id, a[1].id };
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "a", ids, 2));
	assert_int_equal(messages(f), 1); /* "alice only" freed, shared kept */
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "a", ids, 2)); /* again: no-op */
	TSU_OK(s, store_mailbox_delete(s, "bob@example.test", "b", &b[0].id, 1));
	assert_int_equal(messages(f), 1); /* the queue row still refers to it */
	store_reader_t *r = NULL;
	TSU_OK(s, store_reader_open(s, shared, &r));
	store_reader_close(&r);
	TSU_OK(s, store_queue_delete(s, 0));
	assert_int_equal(messages(f), 0);
	assert_int_equal(TSU_COUNT(f, "message_chunks"), 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_reader_open(s, shared, &r));
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "a", ids, 0));
	TSU_EXPECT(s, STORE_EINVAL, store_mailbox_delete(s, "alice", "a", ids, 1));
	TSU_EXPECT(s, STORE_EINVAL, store_mailbox_delete(s, "alice@example.test", "", ids, 1));
	TSU_EXPECT(s, STORE_EINVAL, store_mailbox_delete(s, "alice@example.test", NULL, ids, 1));
	/* A vanished mailbox deletes nothing and is not an error. */
	TSU_OK(s, store_lease_acquire(s, "gone@example.test", "g", 60));
	TSU_OK(s, store_mailbox_delete(s, "gone@example.test", "g", ids, 2));
	free(a);
	free(b);
	tsu_check_clean(s);
}

/* Removing a user removes their mailbox and frees what only they held. */
static void test_user_del_frees(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, tsu_deliver(s, "alice@example.test", "bob@example.test", NULL, "both\r\n"));
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "alice\r\n"));
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "owner", 60));
	TSU_OK(s, store_user_del(s, "alice@example.test"));
	assert_int_equal(messages(f), 1);
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 1);
	assert_int_equal(TSU_COUNT(f, "pop3_locks"), 0);
	tsu_check_clean(s);
}

/* Entry ids (POP3 UIDLs) are never reused, even after the newest is deleted. */
static void test_ids_never_reused(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	size_t n;
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "1\r\n"));
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	int64_t first = e[0].id, first_msg = e[0].message_id;
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "a", 60));
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "a", &first, 1));
	free(e);
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "2\r\n"));
	e = snapshot(s, "alice@example.test", &n);
	assert_int_equal(n, 1);
	assert_true(e[0].id > first);
	assert_true(e[0].message_id > first_msg);
	free(e);
}

/* Reserved ids: disjoint across handles and reopenings, used as given,
 * and never picked by a commit that brings no id of its own. */
static void test_reserved_ids(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	int64_t a = 0, b = 0, c = 0;
	size_t n;

	/* An empty database: no sqlite_sequence row for messages yet. */
	TSU_OK(s, store_message_ids_reserve(s, 100, &a));
	assert_int_equal(a, 1);
	store_t *other = tsu_open(f->db, 0);
	TSU_OK(other, store_message_ids_reserve(other, 10, &b));
	assert_int_equal(b, 101);
	store_close(&other);

	/* A delivery under a reserved id keeps it; one without takes the next
	 * after every block. */
	store_delivery_t *d = make_delivery("alice@example.test", "reserved\r\n");
	store_delivery_set_id(d, a + 41);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	d = make_delivery("alice@example.test", "next\r\n");
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].message_id, 42);
	assert_int_equal(e[1].message_id, 111);
	free(e);

	/* After a restart (a new handle) the mark is where it was left, even
	 * when the highest id is deleted. */
	e = snapshot(s, "alice@example.test", &n);
	int64_t ids[2] = { e[0].id, e[1].id };
	free(e);
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "a", 60));
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "a", ids, 2));
	store_close(&f->store);
	f->store = s = tsu_open(f->db, 0);
	TSU_OK(s, store_message_ids_reserve(s, 1, &c));
	assert_int_equal(c, 112);

	/* An id used twice (a caller's bug) fails that delivery alone. */
	d = make_delivery("bob@example.test", "again\r\n");
	store_delivery_set_id(d, c);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_set_id(d, c);
	TSU_EXPECT(s, STORE_EEXIST, store_deliver(s, d));
	store_delivery_free(&d);

	int64_t none = 7;
	TSU_EXPECT(s, STORE_EINVAL, store_message_ids_reserve(s, 0, &none));
	TSU_EXPECT(s, STORE_EINVAL, store_message_ids_reserve(s, 1000001, &none));
	assert_int_equal(none, 7);
	tsu_check_clean(s);
}

static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Open descriptors of this process that point into dir. */
static size_t fds_in(const char *dir)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	size_t n = 0, dlen = strlen(dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char link[300], target[1300];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (strncmp(target, dir, dlen) == 0 && target[dlen] == '/')
			n++;
	}
	closedir(d);
	return n;
}

static size_t test_line(char *line, size_t size, size_t i)
{
	int len = snprintf(line, size, "line %08zu of the spilled test body ....\r\n", i);
	assert_true(len > 0 && (size_t)len < size);
	return (size_t)len;
}

/*
 * A body past STORE_DELIVERY_MEMORY_MAX is moved to an unlinked file in
 * tmpdir only by store_delivery_spill, the call a daemon makes off its
 * event loop: writing never opens, writes or creates a file. The body
 * comes back byte for byte, its tail read from memory; the size is exact
 * across chunk boundaries.
 */
static void test_spill(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	char tmp[1200];
	testutil_path(tmp, sizeof(tmp), f->dir, "spool");
	assert_int_equal(mkdir(tmp, 0700), 0);
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("", tmp, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	char line[100];
	const size_t lines = 20000; /* ~1.1 MB in 57-octet writes */
	size_t total = 0, spills = 0;
	for (size_t i = 0; i < lines; i++) {
		size_t len = test_line(line, sizeof(line), i);
		if (store_delivery_spill_wanted(d)) {
			/* Nothing touched the disk before the spill asked for. */
			assert_int_equal(fds_in(tmp), spills > 0 ? 1 : 0);
			assert_int_equal(store_delivery_spilled(d), spills > 0);
			char err[256] = "";
			assert_int_equal(store_delivery_spill(d, err, sizeof(err)), STORE_OK);
			assert_string_equal(err, "");
			assert_false(store_delivery_spill_wanted(d));
			assert_true(store_delivery_spilled(d));
			spills++;
		}
		assert_int_equal(store_delivery_write(d, line, len), STORE_OK);
		total += len;
	}
	/* One spill per 256 KiB or so, never one per write; the last 256 KiB
	 * or less stay in memory. */
	assert_int_equal(spills, total / (STORE_DELIVERY_MEMORY_MAX + 57));
	assert_false(store_delivery_spill_wanted(d));
	assert_int_equal(store_delivery_size(d), total);
	assert_int_equal(dir_entries(tmp), 0); /* the spill file has no name */
	assert_int_equal(fds_in(tmp), 1);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	assert_int_equal(fds_in(tmp), 0);
	size_t n, len;
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	assert_int_equal(e[0].size, total);
	char *text = tsu_read_message(s, e[0].message_id, &len);
	assert_int_equal(len, total);
	size_t off = 0;
	for (size_t i = 0; i < lines; i++) {
		size_t l = test_line(line, sizeof(line), i);
		assert_memory_equal(text + off, line, l);
		off += l;
	}
	free(text);
	free(e);
	assert_int_equal(TSU_COUNT(f, "message_chunks"), (int64_t)((total + 65535) / 65536));
	tsu_check_clean(s);
}

/* A body that a spill never moved is committed from memory, however big
 * the buffer grew (a daemon lets it pass the limit by one input slice at
 * the end of the body). */
static void test_unspilled_body_from_memory(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("", "/nonexistent-spool-dir", &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	static char block[STORE_DELIVERY_MEMORY_MAX + 1000];
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
	assert_int_equal(store_delivery_write(d, block, sizeof(block)), STORE_OK);
	assert_true(store_delivery_spill_wanted(d));
	assert_false(store_delivery_spilled(d));
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	size_t n, len;
	struct store_entry *e = snapshot(s, "alice@example.test", &n);
	char *text = tsu_read_message(s, e[0].message_id, &len);
	assert_int_equal(len, sizeof(block));
	assert_memory_equal(text, block, sizeof(block));
	free(text);
	free(e);
}

/* A spill that cannot happen fails with a message that names the
 * directory and the reason, and then the delivery refuses writes and
 * commits; writing before it never failed. */
static void test_spill_fails(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	char tmp[1200];
	testutil_path(tmp, sizeof(tmp), f->dir, "no-such-dir");
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("", tmp, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	static char block[100 * 1024];
	memset(block, 'x', sizeof(block));
	for (int i = 0; i < 20; i++) /* 2 MB: no I/O, so no error */
		assert_int_equal(store_delivery_write(d, block, sizeof(block)), STORE_OK);
	assert_true(store_delivery_spill_wanted(d));
	char err[256] = "";
	assert_int_equal(store_delivery_spill(d, err, sizeof(err)), STORE_EIO);
	assert_non_null(strstr(err, tmp));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_false(store_delivery_spill_wanted(d));
	assert_false(store_delivery_spilled(d));
	assert_int_equal(store_delivery_spill(d, NULL, 0), STORE_EIO);
	assert_int_equal(store_delivery_write(d, "y", 1), STORE_EIO);
	TSU_EXPECT(s, STORE_EIO, store_deliver(s, d));
	int result = 0;
	TSU_OK(s, store_deliver_batch(s, &d, 1, &result));
	assert_int_equal(result, STORE_EIO);
	store_delivery_free(&d);
	assert_int_equal(messages(f), 0);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rough throughput for 4 KiB messages; printed, never asserted. */
static void test_throughput(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	enum { SINGLE = 300, BATCHES = 40, BATCH = 32 };
	char body[4096];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	store_delivery_t *d[BATCH];
	int results[BATCH];
	for (int i = 0; i < BATCH; i++) {
		assert_int_equal(store_delivery_new("s@remote.test", NULL, &d[i]), STORE_OK);
		assert_int_equal(store_delivery_add_local(d[i], i % 2 ? "alice@example.test"
		                                                      : "bob@example.test"),
		                 STORE_OK);
		assert_int_equal(store_delivery_write(d[i], body, sizeof(body)), STORE_OK);
	}
	double t0 = now_s();
	for (int i = 0; i < SINGLE; i++)
		TSU_OK(s, store_deliver(s, d[i % BATCH]));
	double t1 = now_s();
	for (int b = 0; b < BATCHES; b++) {
		TSU_OK(s, store_deliver_batch(s, d, BATCH, results));
		for (int i = 0; i < BATCH; i++)
			assert_int_equal(results[i], STORE_OK);
	}
	double t2 = now_s();
	print_message("throughput: store_deliver %.0f msg/s, store_deliver_batch(32) %.0f msg/s "
	              "(4 KiB messages)\n",
	              SINGLE / (t1 - t0), BATCHES * BATCH / (t2 - t1));
	for (int i = 0; i < BATCH; i++)
		store_delivery_free(&d[i]);
	assert_int_equal(messages(f), SINGLE + BATCHES * BATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_local_and_remote, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_refused, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_batch_one_fails, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_errors, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_delete_shared_body, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_user_del_frees, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_ids_never_reused, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_reserved_ids, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_spill, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_unspilled_body_from_memory, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_spill_fails, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_throughput, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
