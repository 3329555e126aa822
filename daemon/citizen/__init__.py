"""Citizens' requests about their patient record in national document sharing.

Citizens write to us with one of five forms (copy of the record, the access log, blocking,
correction, a question about a lookup). :mod:`daemon.citizen.forms` recognises which form a mail
is and reads its fields; the case is placed with the source that owns the record, whose people
are told of it (:mod:`~daemon.citizen.notices`) and reminded of its deadline
(:mod:`~daemon.citizen.deadlines`), and the answer is a letter (:mod:`~daemon.citizen.letters`). Such requests must be answered within one month of receipt (GDPR
art. 12(3)), and the answer goes by post: health information and identity numbers are never
sent in plain e-mail.
"""
