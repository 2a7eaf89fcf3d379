"""lanmailctl: the LANMail admin CLI."""
