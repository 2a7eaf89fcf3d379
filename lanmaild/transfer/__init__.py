"""Moving mail in and out (issue 13): Maildir (Maildir++ folders), mbox (mboxrd) and .eml
files, read and written by lanmaild itself (``lanmailctl mail import|export`` call it in
batches through the control API and draw the progress).

- ``formats``  the three formats: listing a source in a stable order, reading one message
               (flags and date kept), writing folders out

Flags: Maildir's ``:2,`` letters (S R F T D), mbox's Status/X-Status headers (taken out
of the stored message: they are the mbox's bookkeeping, as Dovecot does). Dates: a
Maildir file's mtime, the mbox From_ line, an .eml file's mtime (hMailServer's data folder
keeps its .eml files so; its folders and flags live in its database, so they come in as
one folder, unread). An import skips messages the folder already holds (same content), so
an interrupted import can simply run again.
"""
