"""Talking to the outside world: HTTPS to the registration servers, IMAP for mail, SSH to the submit host."""
