# Finds the system libraries and names the Debian package when one is missing.
find_package(PkgConfig REQUIRED)

function(mail_missing what package)
  message(FATAL_ERROR "${what} not found: install the Debian package ${package} "
                      "(apt-get install ${package}), or run scripts/deps.sh")
endfunction()

pkg_check_modules(LIBUV IMPORTED_TARGET libuv>=1.44)
if(NOT LIBUV_FOUND)
  mail_missing("libuv >= 1.44" libuv1-dev)
endif()

pkg_check_modules(SQLITE3 IMPORTED_TARGET sqlite3>=3.35)
if(NOT SQLITE3_FOUND)
  mail_missing("SQLite >= 3.35" libsqlite3-dev)
endif()

pkg_check_modules(LIBXCRYPT IMPORTED_TARGET libxcrypt>=4.4)
if(NOT LIBXCRYPT_FOUND)
  mail_missing("libxcrypt >= 4.4" libcrypt-dev)
endif()

# c-ares: the DNS resolver for outbound mail (common/dns.c), driven by our
# libuv loop. 1.18 is Debian 12's; Debian 13 has 1.34 (dns.c picks the newer
# query API there by version).
pkg_check_modules(LIBCARES IMPORTED_TARGET libcares>=1.18)
if(NOT LIBCARES_FOUND)
  mail_missing("c-ares >= 1.18" libc-ares-dev)
endif()

# libpq: the PostgreSQL backend of the store (store/postgresql/), for
# deployments on several hosts. 15 is Debian 12's, 17 Debian 13's.
pkg_check_modules(LIBPQ IMPORTED_TARGET libpq>=13)
if(NOT LIBPQ_FOUND)
  mail_missing("libpq >= 13" libpq-dev)
endif()

# mbedTLS 2.28 ships neither a pkg-config file nor a CMake config.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIB mbedtls)
find_library(MBEDX509_LIB mbedx509)
find_library(MBEDCRYPTO_LIB mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIB OR NOT MBEDX509_LIB OR NOT MBEDCRYPTO_LIB)
  mail_missing("mbedTLS" libmbedtls-dev)
endif()
add_library(mail_mbedtls INTERFACE)
target_include_directories(mail_mbedtls INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(mail_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})

find_package(Threads REQUIRED)

if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
endif()
