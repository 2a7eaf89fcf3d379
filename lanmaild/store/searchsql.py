"""IMAP SEARCH programs compiled to SQL (one statement per SEARCH; Python functions only
where SQL cannot decide: non-ASCII case folding, header fields of the raw message)."""

from __future__ import annotations

import bisect

# ---------------------------------------------------------------------- IMAP SEARCH
#
# A search program is a tree of tuples built by the IMAP layer (sequence numbers already
# turned into UIDs):
#   ("ALL",) ("NONE",) ("AND", [nodes]) ("OR", a, b) ("NOT", a)
#   ("FLAG", bit, present) ("KEYWORD", word, present)
#   ("UIDS", [(lo, hi), ...]) ("FIELD", column, text) ("HEADER", name, text)
#   ("TEXT", text) ("BODY", text) ("SIZE", "<" | ">", n)
#   ("DATE", "internal" | "sent", "<" | ">=", epoch)

_SEARCH_FIELDS = {"subject": "b.subject", "from": "b.from_", "to": "b.to_", "cc": "b.cc",
                  "bcc": "b.bcc", "message-id": "b.message_id",
                  "in-reply-to": "b.in_reply_to"}


# Columns whose decoded value ``blobs.index_text_tx`` copies into the indexed header text.
_PREFILTER_FIELDS = {"subject", "from", "to", "cc", "bcc"}


def _like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _contains(hay, needle: str) -> int:
    if hay is None:
        return 0
    if isinstance(hay, bytes):
        hay = hay.decode("utf-8", "replace")
    return int(needle in hay.casefold())


def _header_contains(header: bytes | None, name: str, needle: str) -> int:
    if header is None:
        return 0
    from ..mime.headers import decode_header_value, split_fields

    lname = name.lower()
    for fname, value, _start, _end in split_fields(header, 0, len(header)):
        if fname == lname and (not needle or needle in decode_header_value(value).casefold()):
            return 1
    return 0


class _TextPlanner:
    """TEXT/BODY: the FTS5 trigram index when the string is selective, a scan otherwise.

    The index answers rare strings in milliseconds, but a string found in most messages
    (of every folder the index covers) costs far more through it than reading this
    folder's text once. A capped probe of the index decides; strings under three
    characters (below the trigram size) are always scanned.
    """

    def __init__(self, conn, folder_size: int) -> None:
        self.conn = conn
        self.cap = min(max(folder_size // 4, 50), 500)

    def selective(self, query: str) -> bool:
        if self.conn is None:
            return True
        n = self.conn.execute(
            "SELECT count(*) FROM (SELECT rowid FROM blob_text WHERE blob_text MATCH ?"
            " LIMIT ?)", (query, self.cap + 1)).fetchone()[0]
        return n <= self.cap

    def sql(self, column: str | None, text: str, params: list) -> str:
        if len(text) >= 3:
            phrase = '"' + text.replace('"', '""') + '"'
            query = f"{column} : {phrase}" if column else phrase
            if self.selective(query):
                # Indexed rows through the index, the not yet indexed tail by a scan.
                params.append(query)
                indexed = "b.id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH ?)"
                tail = self._scan(column, text, params)
                return (f"({indexed} OR (b.id > (SELECT indexed_upto FROM text_index_state)"
                        f" AND {tail}))")
        return self._scan(column, text, params)

    def field_prefilter(self, column: str, needle: str, params: list) -> str:
        """SUBJECT/FROM/TO/CC/BCC "x": the decoded values are also in ``blob_search.hdr``
        (see ``blobs.index_text_tx``), so when the trigram index finds ``x`` in few
        messages it narrows the scan to those (and the not yet indexed tail) before the
        exact LIKE on the column runs, instead of reading every message's blob row. ASCII
        only: there the trigram index folds case exactly as LIKE does."""
        if self.conn is None or len(needle) < 3 or column not in _PREFILTER_FIELDS:
            return ""
        query = 'hdr : "' + needle.replace('"', '""') + '"'
        if not self.selective(query):
            return ""
        params.append(query)
        return ("(m.blob_id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH ?)"
                " OR m.blob_id > (SELECT indexed_upto FROM text_index_state)) AND ")

    @staticmethod
    def _scan(column: str | None, text: str, params: list) -> str:
        cols = [column] if column else ["hdr", "body"]
        if text.isascii():
            conds = " OR ".join(f"t.{c} LIKE ? ESCAPE '\\'" for c in cols)
            params.extend([_like_pattern(text)] * len(cols))
        else:
            conds = " OR ".join(f"imap_contains(t.{c}, ?)" for c in cols)
            params.extend([text.casefold()] * len(cols))
        return f"EXISTS (SELECT 1 FROM blob_search t WHERE t.blob_id = b.id AND ({conds}))"


def compile_search(node: tuple, params: list, functions: dict,
                   text: _TextPlanner | None = None) -> str:
    if text is None:
        text = _TextPlanner(None, 0)
    kind = node[0]
    if kind == "ALL":
        return "1"
    if kind == "NONE":
        return "0"
    if kind == "AND":
        parts = [compile_search(n, params, functions, text) for n in node[1]]
        return " AND ".join(f"({p})" for p in parts) if parts else "1"
    if kind == "OR":
        a = compile_search(node[1], params, functions, text)
        b = compile_search(node[2], params, functions, text)
        return f"({a}) OR ({b})"
    if kind == "NOT":
        return f"NOT ({compile_search(node[1], params, functions, text)})"
    if kind == "FLAG":
        _, bit, present = node
        params.append(int(bit))
        return f"(m.flags & ?) {'!=' if present else '='} 0"
    if kind == "KEYWORD":
        _, word, present = node
        params.append(_like_pattern(f" {word} "))
        return (f"(' ' || coalesce(m.keywords, '') || ' ') {'' if present else 'NOT '}"
                "LIKE ? ESCAPE '\\'")
    if kind == "UIDS":
        ranges = node[1]
        if not ranges:
            return "0"
        if len(ranges) <= 32:
            conds = []
            for lo, hi in ranges:
                params.extend((lo, hi))
                conds.append("m.uid BETWEEN ? AND ?")
            return " OR ".join(conds)
        starts = [lo for lo, _ in ranges]
        ends = [hi for _, hi in ranges]

        def in_ranges(uid: int) -> int:
            i = bisect.bisect_right(starts, uid) - 1
            return int(i >= 0 and uid <= ends[i])

        fname = f"imap_ranges_{len(functions)}"
        functions[fname] = in_ranges
        return f"{fname}(m.uid)"
    if kind == "FIELD":
        _, column, needle = node
        col = _SEARCH_FIELDS[column]
        if needle.isascii():
            pre = text.field_prefilter(column, needle, params)
            params.append(_like_pattern(needle))
            return f"{pre}coalesce({col}, '') LIKE ? ESCAPE '\\'"
        params.append(needle.casefold())
        return f"imap_contains({col}, ?)"
    if kind == "HEADER":
        _, name, text = node
        params.extend((name, text.casefold()))
        return "imap_header(substr(r.raw, 1, b.header_size), ?, ?)"
    if kind == "TEXT":
        return text.sql(None, node[1], params)
    if kind == "BODY":
        return text.sql("body", node[1], params)
    if kind == "MODSEQ":
        params.append(node[1])
        return "m.modseq >= ?"
    if kind == "SIZE":
        params.append(node[2])
        return f"m.size {'<' if node[1] == '<' else '>'} ?"
    if kind == "DATE":
        _, which, op, stamp = node
        params.append(stamp)
        col = "m.internaldate" if which == "internal" else "b.sent_date"
        return f"{col} {'<' if op == '<' else '>='} ?"
    raise ValueError(f"unknown search node {kind}")
