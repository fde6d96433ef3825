/* test_store_reader.c - a 20 MB body streamed in and out, and readers that
 * hold no snapshot between chunks. */
#include "test_store_util.h"

#define BIG_SIZE (20u * 1024 * 1024 + 12345) /* not a multiple of the chunk size */

/* The byte at offset x of the test body: cheap to regenerate anywhere, and
 * every value including NUL and CR/LF occurs. */
static void fill(unsigned char *buf, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t x = off + i;
		buf[i] = (unsigned char)((x * 131u) ^ (x >> 11) ^ ((x >> 19) * 7u));
	}
}

static int64_t deliver_big(store_t *s, const char *mailbox)
{
	store_delivery_t *d = NULL;
	unsigned char piece[7777]; /* uneven writes cross every boundary */
	assert_int_equal(store_delivery_new("big@remote.test", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, mailbox), STORE_OK);
	for (uint64_t off = 0; off < BIG_SIZE;) {
		size_t len = BIG_SIZE - off < sizeof(piece) ? (size_t)(BIG_SIZE - off) : sizeof(piece);
		fill(piece, off, len);
		if (store_delivery_spill_wanted(d)) /* as smtpd does, on a worker thread */
			assert_int_equal(store_delivery_spill(d, NULL, 0), STORE_OK);
		assert_int_equal(store_delivery_write(d, piece, len), STORE_OK);
		off += len;
	}
	assert_int_equal(store_delivery_size(d), BIG_SIZE);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, mailbox, &e, &n));
	assert_int_equal(n, 1);
	assert_int_equal(e[0].size, BIG_SIZE);
	int64_t id = e[0].message_id;
	free(e);
	return id;
}

static void test_big_roundtrip(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	int64_t id = deliver_big(s, "alice@example.test");
	store_reader_t *r = NULL;
	TSU_OK(s, store_reader_open(s, id, &r));
	unsigned char *want = malloc(64 * 1024);
	assert_non_null(want);
	uint64_t off = 0;
	size_t chunks = 0;
	for (;;) {
		const void *data;
		size_t len;
		TSU_OK(s, store_reader_next(s, r, &data, &len));
		if (len == 0)
			break;
		assert_true(len <= 64 * 1024);
		assert_true(off + len <= BIG_SIZE);
		fill(want, off, len);
		assert_memory_equal(data, want, len);
		off += len;
		chunks++;
	}
	assert_int_equal(off, BIG_SIZE);
	assert_int_equal(chunks, (BIG_SIZE + 65535) / 65536);
	/* The end stays the end. */
	const void *data;
	size_t len = 1;
	TSU_OK(s, store_reader_next(s, r, &data, &len));
	assert_int_equal(len, 0);
	store_reader_close(&r);
	assert_null(r);
	free(want);
	tsu_check_clean(s);
}

/* Between two reads the reader holds no read transaction: a TRUNCATE
 * checkpoint from another connection (which waits for every reader) goes
 * through, and writes from the same handle work. */
static void test_reader_holds_no_snapshot(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	int64_t id = deliver_big(s, "alice@example.test");
	store_reader_t *r = NULL;
	const void *data;
	size_t len;
	TSU_OK(s, store_reader_open(s, id, &r));
	TSU_OK(s, store_reader_next(s, r, &data, &len));
	assert_int_equal(len, 64 * 1024);
	TSU_OK(s, tsu_deliver(s, "bob@example.test", NULL, NULL, "meanwhile\r\n"));
	/* The next read may come through another handle (another worker thread's). */
	store_t *other = tsu_open(f->db, 0);
	TSU_OK(other, store_reader_next(other, r, &data, &len));
	assert_int_equal(len, 64 * 1024);
	store_close(&other);
	/* wal_checkpoint returns (busy, log frames, checkpointed frames). */
	if (tsu_pg_uri() == NULL)
		assert_int_equal(tsu_query_int(f->db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
	TSU_OK(s, store_reader_next(s, r, &data, &len));
	assert_int_equal(len, 64 * 1024);
	unsigned char want[64];
	fill(want, 2 * 64 * 1024, sizeof(want));
	assert_memory_equal(data, want, sizeof(want));

	/* The user is deleted while a reader is open: the next read says so. */
	TSU_OK(s, store_user_del(s, "alice@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_reader_next(s, r, &data, &len));
	store_reader_close(&r);
	tsu_check_clean(s);
}

/* A body whose chunk is missing or oversized is reported, not overrun. */
static void test_reader_damaged(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "short body\r\n"));
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &e, &n));
	int64_t id = e[0].message_id;
	free(e);
	tsu_exec(f->db, "UPDATE messages SET size = size - 1");
	store_reader_t *r = NULL;
	const void *data;
	size_t len;
	TSU_OK(s, store_reader_open(s, id, &r));
	TSU_EXPECT(s, STORE_ECORRUPT, store_reader_next(s, r, &data, &len));
	store_reader_close(&r);

	unsigned problems = 0;
	TSU_EXPECT(s, STORE_ECORRUPT, store_check(s, tsu_problem_cb, &problems));
	assert_int_equal(problems, 2); /* message size, entry size */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_big_roundtrip, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_reader_holds_no_snapshot, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_reader_damaged, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
