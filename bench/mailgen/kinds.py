"""The four kinds of generated mail and their mix: incident reports (~60%), replies on earlier
threads (~20%), citizen forms (~15%), auto-replies and bounces (~5%); each comes with its
manifest entry, the ground truth a test checks against."""

import hashlib

from .compose import Composer
from .words import CITIZEN_DOMAINS, FORM_TEXT, FORM_TYPES, HOSPITALS, MONTHS, POSTSTEDER, PROBLEMS, REGISTRY, REGISTRY_DOMAIN, ROLES, SENTENCES, STREETS, WARDS, synthetic_fnr


class Gen(Composer):
    def incident(self):
        domain, org = self.pick(HOSPITALS)
        name = self.person()
        email = f"{self.local_part(name)}@{domain}"
        problem = self.fill(self.pick(PROBLEMS))
        subject = f"Feil i dokumentdeling: {problem}"
        if self.chance(0.1):
            subject = subject.upper() if self.chance(0.3) else f"VIKTIG - {subject}"
        charset, cte = self.choose_encoding()
        hdr_charset = charset if not self.chance(0.02) else "raw8bit"
        sev = None
        lines = [self.pick(["Hei,", "Hei!", "Til saksbehandler,", "God dag.", "Hei"]), ""]
        lines.append(f"Vi melder herved en hendelse: {problem}.")
        for sent in self.rng.sample(SENTENCES, k=self.rng.randint(3, 8)):
            lines.append(self.fill(sent))
        lines.append("")
        if self.chance(0.85):
            sev = self.pick("AAABBBBCCCCCDD")
            fmt = self.rng.random()
            if fmt < 0.9:
                lines.append(f"Alvorlighetsgrad: {sev}")
            elif fmt < 0.95:
                lines.append(f"alvorlighetsgrad: {sev.lower()}")
            else:
                lines.append(f"Alvorlighetsgrad :  {sev}")
        fnr = None
        if self.chance(0.25):
            fnr = synthetic_fnr(self.rng)
            lines.insert(self.rng.randint(3, len(lines)),
                         self.pick(["Gjelder pasient med fødselsnummer {f}.",
                                    "Pasientens fnr: {f}", "Fnr {f} (pasient)",
                                    "Det gjelder pasient {f}."]).format(f=fnr))
        lines.append(f"Sted: {self.pick(WARDS)}, {org}")
        lines.append(f"Tidspunkt: {self.t.strftime('%d.%m.%Y kl. %H:%M')}")
        sig = ["", "Med vennlig hilsen", name, self.pick(ROLES).capitalize(), org,
               f"Tlf: {self.rng.randint(40000000, 99999999)}"]
        if self.chance(0.4):
            sig += ["", "Denne e-posten kan inneholde taushetsbelagt informasjon. Dersom du har mottatt "
                    "den ved en feil, vennligst gi beskjed til avsender og slett meldingen."]
        text = "\n".join(lines + sig) + "\n"
        html = self.html_of(text) if self.chance(0.6) else None
        atts = [self.attachment() for _ in range(self.rng.choice([1, 1, 1, 2]))] \
            if self.chance(0.13) else []
        date = self.next_date()
        mid = self.msgid(domain)
        heads = self.received(domain, date)
        if self.chance(0.6):
            heads.append(self.dkim(domain))
        heads += [f"From: {self.addr(name, email, hdr_charset)}",
                  f"To: Saksregister postmottak <{REGISTRY}>",
                  f"Subject: {self.enc_header(subject, hdr_charset)}",
                  f"Date: {date}", f"Message-ID: {mid}"]
        if self.chance(0.5):
            heads.append("Content-Language: nb-NO")
        if self.chance(0.5):   # Outlook/Exchange sender: a handful of bulky X- headers
            heads += self.exchange_headers(atts)
        raw = self.finish(heads, self.body(text, html, charset, cte, atts))
        self.threadable.append((mid, subject, (name, email), text, ""))
        return raw, dict(kind="incident", message_id=mid, sender=email, subject=subject,
                         severity=sev, fnr=fnr, charset=charset, cte=cte,
                         html=html is not None, attachments=len(atts),
                         raw8bit_headers=hdr_charset == "raw8bit")

    def reply(self):
        if not self.threadable:
            return self.incident()
        # prefer recent threads
        idx = max(0, len(self.threadable) - 1 - int(self.rng.expovariate(1 / 30)))
        pmid, psubj, psender, ptext, prefs = self.threadable[idx]
        base_subj = psubj
        for pre in ("SV: ", "Re: ", "RE: ", "Sv: "):
            while base_subj.startswith(pre):
                base_subj = base_subj[len(pre):]
        prefix = self.pick(["SV: ", "SV: ", "Re: ", "RE: ", "Sv: "])
        subject = prefix + base_subj
        via_ack = self.chance(0.3)
        refs = (prefs + " " + pmid).strip()
        in_reply_to = pmid
        if via_ack:
            ack = f"<ack.{hashlib.sha1(pmid.encode()).hexdigest()[:16]}@{REGISTRY_DOMAIN}>"
            refs = refs + " " + ack
            in_reply_to = ack
        # sender: usually the original reporter, sometimes a colleague at the same domain
        if self.chance(0.8):
            name, email = psender
        else:
            domain, _ = self.pick(HOSPITALS)
            name = self.person()
            email = f"{self.local_part(name)}@{domain}"
        pname, pemail = psender
        psender_txt = f"{pname} <{pemail}>"
        domain = email.split("@")[1]
        charset, cte = self.choose_encoding()
        new = [self.pick(["Hei igjen,", "Hei,", "Takk for svar.", "Hei"]), ""]
        for _ in range(self.rng.randint(1, 4)):
            new.append(self.fill(self.pick(SENTENCES + [
                "Feilen har oppstått igjen i dag.", "Har dere noen oppdatering på saken?",
                "Vi har nå fått bekreftet at flere pasienter er berørt.",
                "Saken kan avsluttes fra vår side.",
                "Se vedlagt ny informasjon.", "Kan dere bekrefte at meldingen er mottatt?"])))
        new += ["", "Mvh", name, ""]
        if self.chance(0.5):  # Outlook-style quote header
            quote = ["________________________________",
                     f"Fra: {psender_txt}", f"Sendt: {self.t.day}. {MONTHS[self.t.month - 1]} {self.t.year} {self.t.strftime('%H:%M')}",
                     f"Til: {REGISTRY}", f"Emne: {psubj}", ""] + ptext.split("\n")
        else:
            quote = [f"Den {self.t.strftime('%d.%m.%Y %H:%M')} skrev {psender_txt}:"] + \
                    ["> " + ln if ln else ">" for ln in ptext.split("\n")]
        text = "\n".join(new + quote) + "\n"
        html = self.html_of(text) if self.chance(0.45) else None
        atts = [self.attachment()] if self.chance(0.06) else []
        date = self.next_date()
        mid = self.msgid(domain)
        heads = self.received(domain, date)
        heads += [f"From: {self.addr(name, email, charset)}",
                  f"To: {REGISTRY}",
                  f"Subject: {self.enc_header(subject, charset)}",
                  f"Date: {date}", f"Message-ID: {mid}",
                  f"In-Reply-To: {in_reply_to}",
                  "References: " + "\n ".join(refs.split())]
        raw = self.finish(heads, self.body(text, html, charset, cte, atts))
        root = refs.split()[0]
        self.threadable.append((mid, subject, (name, email),
                                text[:1500], refs if not via_ack else (prefs + " " + pmid).strip()))
        return raw, dict(kind="reply", message_id=mid, sender=email, subject=subject,
                         in_reply_to=in_reply_to, parent=pmid, thread_root=root,
                         via_ack=via_ack, charset=charset, cte=cte, html=html is not None,
                         attachments=len(atts))

    def form(self):
        key, title = self.pick(FORM_TYPES)
        name = self.person()
        email = f"{self.local_part(name)}{self.rng.randint(1, 99)}@{self.pick(CITIZEN_DOMAINS)}"
        fnr = synthetic_fnr(self.rng)
        pnr, psted = self.pick(POSTSTEDER)
        fields = [("Skjematype", title), ("Skjema-ID", f"SKJ-{self.rng.randint(100000, 999999)}"),
                  ("Innsendt", self.t.strftime("%d.%m.%Y %H:%M")),
                  ("Navn", name), ("Fødselsnummer", fnr),
                  ("Adresse", f"{self.pick(STREETS)} {self.rng.randint(1, 120)}"),
                  ("Postnummer", pnr), ("Poststed", psted),
                  ("Telefon", f"+47 {self.rng.randint(40000000, 99999999)}"),
                  ("E-post", email)]
        if key in ("journalkopi", "tilgangslogg", "oppslag"):
            fields.append(("Periode", f"01.{self.rng.randint(1, 12):02d}.20{self.rng.randint(15, 23)}"
                                      f" - {self.t.strftime('%d.%m.%Y')}"))
        if key in ("journalkopi", "sperring", "retting"):
            fields.append(("Virksomhet", self.pick(HOSPITALS)[1]))
        if key == "journalkopi":
            fields.append(("Leveringsmåte", self.pick(["Digitalt til Helsenorge", "Papir i posten",
                                                      "Hentes personlig"])))
        if self.chance(0.1):  # decoy 11-digit number (bank account) that is not an fnr
            fields.append(("Kontonummer", f"{self.rng.randint(1000, 9999)}.{self.rng.randint(10, 99)}."
                                          f"{self.rng.randint(10000, 99999)}"))
        desc = " ".join(self.fill(s) for s in self.rng.sample(FORM_TEXT[key], k=self.rng.randint(1, 2)))
        fields.append(("Beskrivelse", desc))
        fields.append(("Samtykke til elektronisk svar", self.pick(["Ja", "Ja", "Nei"])))
        text = (f"Ny innsending fra skjemaløsningen: {title}\n\n" +
                "\n".join(f"{k}: {v}" for k, v in fields) +
                "\n\n-- \nDenne meldingen er generert automatisk av skjemaløsningen. "
                "Ikke svar til avsenderadressen.\n")
        rows = "".join(f"<tr><th align=\"left\">{k}</th><td>{v}</td></tr>\n" for k, v in fields)
        html = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                f"<body><h2>{title}</h2>\n<table border=\"1\" cellpadding=\"4\">\n{rows}</table>"
                "<p><small>Generert automatisk av skjemaløsningen.</small></p></body></html>\n")
        charset, cte = ("utf-8", "quoted-printable") if self.chance(0.7) else ("utf-8", "base64")
        date = self.next_date()
        sdom = "skjema.saksregister.example"
        mid = self.msgid(sdom)
        subject = f"Skjema: {title} - {name}"
        heads = [f"Received: from skjema01.{sdom} (skjema01.{sdom} [127.0.0.1])\n"
                 f"\tby mx01.{REGISTRY_DOMAIN} (Postfix) with ESMTP; {date}",
                 f"From: {self.addr('Skjemaløsning', 'noreply@' + sdom, 'utf-8')}",
                 f"Reply-To: {self.addr(name, email, 'utf-8')}",
                 f"To: {REGISTRY}", f"Subject: {self.enc_header(subject, charset)}",
                 f"Date: {date}", f"Message-ID: {mid}",
                 f"X-Skjema-Type: {key}"]
        use_html = self.chance(0.6)
        raw = self.finish(heads, self.body(text, html if use_html else None, charset, cte))
        self.threadable.append((mid, subject, (name, email), text, ""))
        return raw, dict(kind="form", form_type=key, message_id=mid, sender=email,
                         subject=subject, fnr=fnr, charset=charset, cte=cte, html=use_html,
                         attachments=0)

    def auto(self):
        date = self.next_date()
        target = self.pick(self.threadable)[0] if self.threadable else "<none@x.example>"
        ack = f"<ack.{hashlib.sha1(target.encode()).hexdigest()[:16]}@{REGISTRY_DOMAIN}>"
        if self.chance(0.6):   # out of office
            domain, org = self.pick(HOSPITALS)
            name = self.person()
            email = f"{self.local_part(name)}@{domain}"
            mid = self.msgid(domain)
            charset, cte = self.choose_encoding()
            subject = self.pick(["Automatisk svar: Kvittering for mottatt melding",
                                 "Fraværsmelding: Kvittering for mottatt melding",
                                 "Out of Office: Kvittering for mottatt melding"])
            text = (f"Jeg er på ferie/kurs til og med {self.rng.randint(1, 28)}.{self.rng.randint(1, 12)}. "
                    f"og leser ikke e-post.\nVed hastesaker, kontakt {org} sentralbord.\n\n"
                    f"Hilsen {name}\n")
            heads = self.received(domain, date) + [
                f"From: {self.addr(name, email, charset)}", f"To: {REGISTRY}",
                f"Subject: {self.enc_header(subject, charset)}", f"Date: {date}",
                f"Message-ID: {mid}", f"In-Reply-To: {ack}", f"References: {ack}",
                "Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All",
                "Precedence: bulk" if self.chance(0.5) else "X-Autoreply: yes"]
            raw = self.finish(heads, self.body(text, None, charset, cte))
            return raw, dict(kind="auto", auto="ooo", message_id=mid, sender=email,
                             subject=subject, in_reply_to=ack)
        # DSN bounce (multipart/report)
        domain, _ = self.pick(HOSPITALS)
        rcpt = f"{self.local_part(self.person())}@{domain}"
        mid = f"<{self.counter}.{self.rng.getrandbits(40):x}.bounce@mx01.{REGISTRY_DOMAIN}>"
        self.counter += 1
        b = f"{self.rng.getrandbits(48):012X}.1709{self.rng.randint(100000, 999999)}/mx01.{REGISTRY_DOMAIN}"
        orig_date = date
        text = (f"This is the mail system at host mx01.{REGISTRY_DOMAIN}.\n\n"
                "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients. It's attached below.\n\n"
                "                   The mail system\n\n"
                f"<{rcpt}>: host mx.{domain}[10.1.2.3] said: 550 5.1.1 <{rcpt}>:\n"
                "    Recipient address rejected: User unknown in virtual mailbox table\n")
        raw = (f"Return-Path: <>\n"
               f"Received: by mx01.{REGISTRY_DOMAIN} (Postfix) id 4Tq1{self.rng.getrandbits(24):06X}; {date}\n"
               f"Date: {date}\n"
               f"From: MAILER-DAEMON@mx01.{REGISTRY_DOMAIN} (Mail Delivery System)\n"
               f"Subject: Undelivered Mail Returned to Sender\n"
               f"To: {REGISTRY}\n"
               "Auto-Submitted: auto-replied\n"
               "MIME-Version: 1.0\n"
               f"Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"{b}\"\n"
               "Content-Transfer-Encoding: 8bit\n"
               f"Message-Id: {mid}\n\n"
               "This is a MIME-encapsulated message.\n\n"
               f"--{b}\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
               f"{text}\n"
               f"--{b}\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
               f"Reporting-MTA: dns; mx01.{REGISTRY_DOMAIN}\n"
               f"X-Postfix-Queue-ID: 4Tq1ABC\nArrival-Date: {orig_date}\n\n"
               f"Final-Recipient: rfc822; {rcpt}\nOriginal-Recipient: rfc822;{rcpt}\n"
               "Action: failed\nStatus: 5.1.1\n"
               f"Remote-MTA: dns; mx.{domain}\n"
               f"Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected:\n"
               "    User unknown in virtual mailbox table\n\n"
               f"--{b}\nContent-Description: Undelivered Message Headers\n"
               "Content-Type: text/rfc822-headers\n\n"
               f"From: {REGISTRY}\nTo: {rcpt}\n"
               f"Subject: =?utf-8?q?Kvittering_for_mottatt_melding?=\n"
               f"Date: {orig_date}\nMessage-ID: {ack}\nAuto-Submitted: auto-replied\n\n"
               f"--{b}--\n").encode("utf-8")
        return raw, dict(kind="auto", auto="dsn", message_id=mid, sender="MAILER-DAEMON",
                         subject="Undelivered Mail Returned to Sender", bounced=ack)

    def one(self):
        r = self.rng.random()
        if r < 0.60:
            return self.incident()
        if r < 0.80:
            return self.reply()
        if r < 0.95:
            return self.form()
        return self.auto()

