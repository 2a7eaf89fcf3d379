"""The mailbox tables (DDL): accounts, folders, messages, blobs, tombstones, the search text
index and the keywords per folder. ``schema.MIGRATIONS`` applies them; the layout notes are
in ``mailbox``."""

SCHEMA = """
CREATE TABLE account (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created INTEGER NOT NULL
);
CREATE TABLE folder (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highestmodseq INTEGER NOT NULL DEFAULT 1,
    recent_uid INTEGER NOT NULL DEFAULT 0,
    special_use TEXT,
    subscribed INTEGER NOT NULL DEFAULT 1,
    messages INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    unseen INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, name)
);
CREATE TABLE blob (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL DEFAULT 0,
    sha256 BLOB NOT NULL,
    header_size INTEGER NOT NULL,
    envelope BLOB,
    bodystructure BLOB,
    body BLOB,
    parts BLOB,
    subject TEXT,
    from_ TEXT,
    to_ TEXT,
    cc TEXT,
    bcc TEXT,
    message_id TEXT,
    in_reply_to TEXT,
    sent_date INTEGER
);
CREATE TABLE blob_raw (
    blob_id INTEGER PRIMARY KEY REFERENCES blob(id) ON DELETE CASCADE,
    raw BLOB NOT NULL
);
CREATE TABLE message (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    blob_id INTEGER NOT NULL REFERENCES blob(id),
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT,
    internaldate INTEGER NOT NULL,
    size INTEGER NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX message_blob ON message(blob_id);
CREATE INDEX message_modseq ON message(folder_id, modseq);
CREATE TABLE expunged (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (folder_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);
CREATE TABLE blob_search (
    blob_id INTEGER PRIMARY KEY,
    hdr TEXT NOT NULL,
    body TEXT NOT NULL,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX blob_search_dead ON blob_search(blob_id) WHERE dead = 1;
CREATE VIRTUAL TABLE blob_text USING fts5(hdr, body, tokenize = 'trigram',
    content = 'blob_search', content_rowid = 'blob_id');
CREATE TABLE text_index_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO text_index_state (id, indexed_upto) VALUES (1, 0);
CREATE TRIGGER message_ins AFTER INSERT ON message BEGIN
    UPDATE folder SET messages = messages + 1, size = size + NEW.size,
        unseen = unseen + ((NEW.flags & 1) = 0) WHERE id = NEW.folder_id;
    UPDATE blob SET refs = refs + 1 WHERE id = NEW.blob_id;
END;
CREATE TRIGGER message_del AFTER DELETE ON message BEGIN
    UPDATE folder SET messages = messages - 1, size = size - OLD.size,
        unseen = unseen - ((OLD.flags & 1) = 0), highestmodseq = highestmodseq + 1
        WHERE id = OLD.folder_id;
    INSERT OR REPLACE INTO expunged (folder_id, uid, modseq)
        SELECT id, OLD.uid, highestmodseq FROM folder WHERE id = OLD.folder_id;
    UPDATE blob SET refs = refs - 1 WHERE id = OLD.blob_id;
    DELETE FROM blob WHERE id = OLD.blob_id AND refs <= 0;
END;
CREATE TRIGGER blob_gone AFTER DELETE ON blob BEGIN
    DELETE FROM blob_search WHERE blob_id = OLD.id
        AND blob_id > (SELECT indexed_upto FROM text_index_state);
    UPDATE blob_search SET dead = 1 WHERE blob_id = OLD.id;
END;
CREATE TRIGGER message_seen AFTER UPDATE OF flags ON message
WHEN (OLD.flags & 1) != (NEW.flags & 1) BEGIN
    UPDATE folder SET unseen = unseen + ((NEW.flags & 1) = 0) - ((OLD.flags & 1) = 0)
        WHERE id = NEW.folder_id;
END;
"""

# Version 2: the keywords used in each folder, for the FLAGS and PERMANENTFLAGS a SELECT
# announces (RFC 3501 7.2.6: clients build their tag lists from them), kept by triggers on
# every path that writes keywords (APPEND, delivery, STORE, COPY/MOVE) and never read by
# scanning messages. A keyword stays listed once used (as in Dovecot).
KEYWORDS_SCHEMA = """
CREATE TABLE folder_keyword (
    folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    keyword TEXT NOT NULL,
    PRIMARY KEY (folder_id, keyword)
) WITHOUT ROWID;
CREATE TRIGGER message_kw_ins AFTER INSERT ON message WHEN NEW.keywords IS NOT NULL BEGIN
    INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
        SELECT NEW.folder_id, value FROM json_each('["' || replace(NEW.keywords, ' ', '","')
                                                   || '"]');
END;
CREATE TRIGGER message_kw_upd AFTER UPDATE OF keywords ON message
WHEN NEW.keywords IS NOT NULL BEGIN
    INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
        SELECT NEW.folder_id, value FROM json_each('["' || replace(NEW.keywords, ' ', '","')
                                                   || '"]');
END;
INSERT OR IGNORE INTO folder_keyword (folder_id, keyword)
    SELECT m.folder_id, j.value FROM message m,
        json_each('["' || replace(m.keywords, ' ', '","') || '"]') j
    WHERE m.keywords IS NOT NULL;
"""
# Keywords one folder may hold: an authenticated client can invent any number, and each
# SELECT lists them all. Beyond it a STORE or APPEND with a new keyword gets NO [LIMIT].
