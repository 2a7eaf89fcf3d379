"""lanmaild: the LANMail daemon.

Implementation notes (read before adding a module)
==================================================

One package per concern, as in mox:

- ``config``    TOML in conf.d/: ``load_config(dir)`` (stdlib tomllib, validated, errors carry
                file/line/key), ``writer`` (tomlkit edits, atomic replace) and ``apply``
                (the one path lanmaild's own edits take: validate, write, reload). Accounts
                and groups live in conf.d, not in the store.
- ``syntax``    account names and mail addresses, defined once for everybody.
- ``store``     the ONLY package with SQL. SQLite in WAL mode. One writer thread does group
                commit (many callers' units of work, one transaction, one fsync); a small pool
                of reader threads with their own connections serves queries. Everything else
                calls ``Store`` methods (async) and never sees a cursor or a transaction
                (the queue worker's commit is ``store.delivery``), so the store can be
                swapped for PostgreSQL later.
- ``mime``      parse once: ``parse_message(raw) -> ParsedMessage`` computes everything IMAP
                needs (ENVELOPE, BODYSTRUCTURE, part offsets, header fields, search text) at
                delivery/APPEND time; the store keeps it next to the raw bytes.
- ``auth``      passwords (salted scrypt), SASL mechanisms and their one exchange loop,
                login throttling (also for the OAuth2 sign-in and token endpoint). Shared by SMTP,
                IMAP and POP3; nothing protocol specific lives here.
- ``net``       listeners, TLS contexts, per-IP connection limits: shared by all protocols.
- ``smtp``      aiosmtpd protocol engine + our policy handler (relay rules, AUTH, size).
- ``delivery``  the pipeline: ordered stages, each a small module with one job, run by the
                queue worker on messages the SMTP handler committed to the queue.
- ``transports`` outgoing mail: the runner takes ``outbound`` queue rows, prepares them
                (sender overwrite, recipient split, S/MIME, DKIM) and hands them to a
                transport (smtp/mx, folder, http-post, webspace); results per recipient go
                back through ``store.outbound`` in one write per message. Its config
                sections are registered with ``register_main_section``/``_account_section``.
- ``autoresponder`` replies while away (RFC 3834), its email commands and forwarding;
                its stage is plugged into the pipeline, its memory is ``store.autoreply``.
- ``sms``       the SMS notification service (HTTP gateway template), fed by the
                pipeline's ``sms`` stage after the delivery commit, never awaited by it.
- ``einvoice``  e-invoice detection (lxml, pypdf), scanned before the pipeline in a thread,
                routed by its stage.
- ``fetch``     external mailboxes (POP3/IMAP at a provider): the scheduler service and
                the exactly-once fetch (``store.fetchstate``), IMAP IDLE push.
- ``oauth``     OAuth2 clients per account, the authorization server (authlib) and the
                bearer-token check behind XOAUTH2/OAUTHBEARER (``store.oauth``).
- ``http``      the HTTP listener (aiohttp) that serves the packages' routes (OAuth2, the
                JSON API, metrics, autoconfiguration).
- ``transfer``  Maildir, mbox and .eml in and out (``lanmailctl mail import|export``).
- ``sysd``      systemd readiness, the drop to ``[server] user``, the admin group.
- ``imap``      IMAP4rev1 server: ``parser`` (syntax only), ``session`` (state machine),
                commands grouped per family.
- ``pop3``      POP3 server.
- archive       the tamper-evident mail archive: policy in ``delivery.stages.archive``,
                storage and the hash chain in ``store.archive``, admin in ``control``.
- ``control``   the Unix-socket JSON control API (one JSON object per line).
- ``runtime``   the ``Runtime`` object handed to every service: current config, store,
                authenticator, TLS contexts, logger. Reload swaps ``runtime.config``.
- ``sessions``  logged-in IMAP/POP3 sessions by account: a reload that drops an account
                ends them (the store never re-creates an account; only config does).
- ``daemon``    process life cycle: data_dir lock, listeners, signals (SIGTERM, SIGHUP);
                ``errors`` holds its StartupError/FatalError.
- ``logsafe``   the log formatter that escapes control characters in every record.
- ``memtune``   glibc malloc settings for a threaded server that moves big byte strings.

Never lose mail: a 250 reply, a POP3 DELE, a queue hand-off each happen only after the
store's commit (fsync) returned; an outgoing recipient leaves the queue only after its
transport confirmed it.
"""

__version__ = "0.1.0"
