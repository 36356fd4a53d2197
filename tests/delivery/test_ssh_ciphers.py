"""onboard's SSH connections run AES-GCM (authenticated inside OpenSSL, not an HMAC in Python per packet),
with a real OpenSSH sshd; every cipher paramiko offers is still offered."""

from __future__ import annotations

import paramiko

from onboard.adapters.ssh_ciphers import aead_first

from .helpers import connect


def test_a_connection_to_openssh_runs_aes_gcm(sshd, client_key, known_hosts):
    conn = connect(sshd, client_key, known_hosts)
    try:
        transport = conn.client.get_transport()
        assert transport.local_cipher.endswith("-gcm@openssh.com"), transport.local_cipher
        assert transport.remote_cipher.endswith("-gcm@openssh.com"), transport.remote_cipher
        assert conn.run("echo still works").out == "still works\n"
    finally:
        conn.close()


def test_only_the_order_changes():
    import socket

    a, b = socket.socketpair()
    try:
        ours = aead_first(a).get_security_options().ciphers
        theirs = paramiko.Transport(b).get_security_options().ciphers
    finally:
        a.close()
        b.close()
    assert sorted(ours) == sorted(theirs)
    assert ours[0] == "aes128-gcm@openssh.com"
    assert [c for c in ours if "gcm" not in c] == [c for c in theirs if "gcm" not in c]
