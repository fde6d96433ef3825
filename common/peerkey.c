/* peerkey.c - the key a client address is counted under; see peerkey.h. */
#include "peerkey.h"

#include <arpa/inet.h>
#include <string.h>

enum { PEERKEY_TEXT = 0, PEERKEY_IPV4 = 4, PEERKEY_IPV6 = 6 };

void peerkey_make(const char *ip, unsigned char key[PEERKEY_LEN])
{
	unsigned char a[16];

	memset(key, 0, PEERKEY_LEN);
	if (inet_pton(AF_INET, ip, a) == 1) {
		key[0] = PEERKEY_IPV4;
		memcpy(key + 1, a, 4);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			key[0] = PEERKEY_IPV4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = PEERKEY_IPV6;
			memcpy(key + 1, a, 8); /* the /64 */
		}
	} else {
		key[0] = PEERKEY_TEXT;
		memcpy(key + 1, ip, strnlen(ip, PEERKEY_LEN - 1));
	}
}
