"""The e-invoice mailbox (the seed's "This Email Account Should Be an E-Invoice Mailbox
(EN16931/XRechnung Only)"): detect ZUGFeRD / Factur-X / XRechnung / UBL invoices in
incoming mail and route them.

- ``xmlcheck``  one XML document: syntax, kind, profile, EN 16931 (lxml, hardened parser)
- ``pdf``       the XML files a PDF carries (pypdf: /EmbeddedFiles and /AF)
- ``detect``    a whole mail or file: attachments, nested mails, zip archives; limits
- ``scan``      runs ``detect`` before the pipeline, off the event loop, and marks the mail
- ``settings``  the account's ``[einvoice_routing]``
- ``stage``     the pipeline stage that routes by the verdict
"""
