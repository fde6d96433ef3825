"""Users imported with `mailctl user import` log in with their old
passwords: every scheme the import accepts is one the daemons verify. The
sha256-crypt hash is the one from its specification (and `openssl passwd
-5`), which Debian's libxcrypt calls a legacy method but still computes."""

import os
import poplib
import smtplib

import pytest

from smtptest import client_tls_context, smtp_close, smtp_install

SHA256_HELLO = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"  # "Hello world!"
SHA256_ROUNDS = ("$5$rounds=10000$saltstringsaltst$"
                 "3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA")        # "Hello world!"
SHA512_PW = ("$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwW"
             "dyfsgVgozkYH9B80bAip/08R2BPH2xk/")                          # "pw"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install()
    try:
        passwd = os.path.join(inst.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("ivan@example.test:{SHA256-CRYPT}%s\n"
                    "rita@example.test:{CRYPT}%s\n"
                    "sam@example.test:{SHA512-CRYPT}%s\n"
                    % (SHA256_HELLO, SHA256_ROUNDS, SHA512_PW))
        res = inst.mailctl("user", "import", passwd)
        assert res.stdout.endswith("imported 3, skipped 0 (already exist), failed 0\n"), \
            res.stdout + res.stderr
        inst.pop3d = inst.start("pop3d")
    except BaseException:
        smtp_close(inst)
        raise
    yield inst
    try:
        assert inst.stop(inst.pop3d) == 0, inst.log("pop3d")[-4000:]
    finally:
        smtp_close(inst)


@pytest.mark.parametrize("user,password", [("ivan@example.test", "Hello world!"),
                                           ("rita@example.test", "Hello world!"),
                                           ("sam@example.test", "pw")])
def test_imported_user_logs_in(inst, user, password):
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("laptop.test")
        assert smtp.login(user, password)[0] == 235
    pop = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=10)
    try:
        pop.stls(context=client_tls_context())
        pop.user(user)
        assert pop.pass_(password).startswith(b"+OK")
    finally:
        pop.quit()


def test_imported_user_wrong_password(inst):
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("laptop.test")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            smtp.login("ivan@example.test", "Hello world?")
        assert e.value.smtp_code == 535
