"""How one generated message is put together: the seeded random source, dates, addresses, RFC 2047
headers, Received/DKIM/Exchange trace headers, bodies in several charsets and transfer encodings,
HTML alternatives and attachments."""

import base64
import datetime as dt
import hashlib
import random
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime

from .words import DOCS, ERRORS, FIRST, HOSPITALS, HTML_STYLE, LAST, POLICY, REGISTRY, REGISTRY_DOMAIN, SYSTEMS, WARDS, WHEN


class Composer:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        self.t = dt.datetime(2024, 3, 4, 7, 30, 0,
                             tzinfo=dt.timezone(dt.timedelta(hours=1)))
        self.threadable = []   # (message_id, subject, sender_header, body_text, refs)
        self.counter = 0

    # ---------- small helpers ----------
    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p):
        return self.rng.random() < p

    def msgid(self, domain):
        self.counter += 1
        h = hashlib.sha1(f"{self.seed}/{self.counter}/{self.rng.random()}".encode()).hexdigest()
        style = self.rng.random()
        if style < 0.4:   # Outlook
            return f"<{h[:12].upper()}{h[12:30].upper()}@{domain.split('.')[0].upper()}-EXCH01.{domain}>"
        if style < 0.7:
            return f"<{h[:24]}@mail.{domain}>"
        return f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}@{domain}>"

    def next_date(self):
        self.t += dt.timedelta(seconds=self.rng.randint(5, 900))
        # weekend/night skip to keep it office-like
        if self.t.hour >= 20:
            self.t = self.t.replace(hour=7, minute=self.rng.randint(0, 59)) + dt.timedelta(days=1)
        d = self.t
        if self.chance(0.15):
            d = d.astimezone(dt.timezone.utc)
        return format_datetime(d)

    def person(self):
        return f"{self.pick(FIRST)} {self.pick(LAST)}"

    @staticmethod
    def local_part(name):
        tr = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "Æ": "AE", "Ø": "O", "Å": "A"})
        return ".".join(name.translate(tr).lower().split())

    def enc_header(self, value, charset):
        """RFC 2047-encode a header value if it is not ASCII."""
        try:
            value.encode("ascii")
            return value
        except UnicodeEncodeError:
            if charset == "raw8bit":
                return value
            return Header(value, charset).encode(maxlinelen=76, linesep="\n")

    def addr(self, name, email, charset):
        if name is None:
            return email
        try:
            name.encode("ascii")
            if any(c in name for c in ',.;:@"'):
                return f'"{name}" <{email}>'
            return f"{name} <{email}>"
        except UnicodeEncodeError:
            return f"{self.enc_header(name, charset)} <{email}>"

    def received(self, domain, date):
        ip = f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
        qid = "".join(self.pick("0123456789ABCDEF") for _ in range(11))
        return [
            f"Received: from mx01.{REGISTRY_DOMAIN} (localhost [127.0.0.1])\n"
            f"\tby mx01.{REGISTRY_DOMAIN} (Postfix) with ESMTP id {qid}\n"
            f"\tfor <{REGISTRY}>; {date}",
            f"Received: from smtp-out.{domain} (smtp-out.{domain} [{ip}])\n"
            f"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
            f"\t key-exchange X25519 server-signature RSA-PSS (2048 bits))\n"
            f"\t(No client certificate requested)\n"
            f"\tby mx01.{REGISTRY_DOMAIN} (Postfix) with ESMTPS id {qid[:8]}\n"
            f"\tfor <{REGISTRY}>; {date}",
            f"Authentication-Results: mx01.{REGISTRY_DOMAIN};\n"
            f"\tdkim=pass (2048-bit key; unprotected) header.d={domain} header.i=@{domain}\n"
            f"\theader.a=rsa-sha256 header.s=selector1 header.b={qid[:8]};\n"
            f"\tspf=pass (mx01.{REGISTRY_DOMAIN}: domain of {domain} designates {ip} as permitted sender)\n"
            f"\tsmtp.mailfrom={domain}; dmarc=pass (p=quarantine dis=none) header.from={domain}",
            f"X-Spam-Status: No, score=-{self.rng.randint(0, 4)}.{self.rng.randint(0, 9)} required=5.0\n"
            f"\ttests=BAYES_00,DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,HTML_MESSAGE,\n"
            f"\tRCVD_IN_DNSWL_NONE,SPF_HELO_NONE,SPF_PASS autolearn=ham version=3.4.6",
        ]

    def dkim(self, domain):
        b = base64.b64encode(self.rng.randbytes(256)).decode()
        bh = base64.b64encode(self.rng.randbytes(32)).decode()
        b_f = "\n\t ".join(b[i:i + 70] for i in range(0, len(b), 70))
        return (f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain};\n"
                f"\ts=selector1; h=From:Date:Subject:Message-ID:Content-Type:MIME-Version;\n"
                f"\tbh={bh};\n\tb={b_f}")

    def exchange_headers(self, atts):
        g = lambda n: base64.b64encode(self.rng.randbytes(n)).decode()
        u = lambda: "-".join(f"{self.rng.getrandbits(b * 4):0{b}x}" for b in (8, 4, 4, 4, 12))
        return ["X-MS-Has-Attach: " + ("yes" if atts else ""),
                "X-MS-TNEF-Correlator: ",
                f"Thread-Topic: {g(12)}",
                f"Thread-Index: {g(22)}",
                f"x-ms-exchange-messagesentrepresentingtype: 1",
                f"x-ms-publictraffictype: Email",
                f"x-ms-traffictypediagnostic: AM9PR0{self.rng.randint(1, 9)}MB{self.rng.randint(1000, 9999)}:EE_",
                f"x-ms-office365-filtering-correlation-id: {u()}",
                f"x-microsoft-antispam: BCL:0;ARA:{self.rng.randint(10000000, 99999999)}|"
                f"{self.rng.randint(1000, 9999)}|{self.rng.randint(100000, 999999)};",
                "x-forefront-antispam-report:\n\tCIP:255.255.255.255;CTRY:;LANG:no;SCL:1;SRV:;IPV:NLI;"
                "SFV:NSPM;H:AM9PR01MB;PTR:;CAT:NONE;\n\tSFS:(13230031)(366004)(376002)(39860400002)"
                "(346002)(136003)(396003)(451199024);DIR:OUT;SFP:1101;",
                f"x-ms-exchange-antispam-messagedata-chunkcount: 1",
                f"x-ms-exchange-antispam-messagedata-0:\n\t{g(45)}\n\t{g(45)}\n\t{g(45)}",
                f"X-OriginatorOrg: {self.rng.choice(HOSPITALS)[0]}",
                f"X-MS-Exchange-CrossTenant-Network-Message-Id: {u()}",
                f"X-MS-Exchange-CrossTenant-id: {u()}"]

    def finish(self, top_headers, body_msg):
        """top_headers: list of already-encoded 'Name: value' strings; body_msg: EmailMessage."""
        n = 0
        for part in body_msg.walk():
            if part is not body_msg and "MIME-Version" in part:
                del part["MIME-Version"]
            if part.is_multipart():
                n += 1
                part.set_boundary(f"_{n:03d}_{self.rng.getrandbits(64):016x}_=")
        if "MIME-Version" not in body_msg:
            body_msg["MIME-Version"] = "1.0"
        head = "\n".join(top_headers).encode("utf-8")
        return head + b"\n" + bytes(body_msg)

    def body(self, text, html, charset, cte, attachments=()):
        m = EmailMessage(policy=POLICY)
        m.set_content(text, subtype="plain", charset=charset, cte=cte)
        if html is not None:
            m.add_alternative(html, subtype="html", charset=charset, cte=cte)
        for data, maintype, subtype, fname in attachments:
            m.add_attachment(data, maintype=maintype, subtype=subtype, filename=fname)
        return m

    def choose_encoding(self):
        r = self.rng.random()
        if r < 0.55:
            return "utf-8", "8bit"
        if r < 0.75:
            return "utf-8", "quoted-printable"
        if r < 0.85:
            return "utf-8", "base64"
        if r < 0.97:
            return "iso-8859-1", "quoted-printable"
        return "iso-8859-1", "8bit"

    def html_of(self, text, signature_block=""):
        paras = "".join(
            f"<p class=\"MsoNormal\">{line.replace('&', '&amp;').replace('<', '&lt;') or '&nbsp;'}"
            f"<o:p></o:p></p>\n" for line in text.split("\n"))
        return ("<html xmlns:v=\"urn:schemas-microsoft-com:vml\" "
                "xmlns:o=\"urn:schemas-microsoft-com:office:office\">\n<head>\n"
                "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n"
                f"<meta name=\"Generator\" content=\"Microsoft Word 15 (filtered medium)\">\n"
                f"{HTML_STYLE}\n</head>\n<body lang=\"NO-BOK\" link=\"#0563C1\">\n"
                f"<div class=\"WordSection1\">\n{paras}{signature_block}</div>\n</body>\n</html>\n")

    def attachment(self):
        # log-uniform 5..200 KB of incompressible bytes behind a plausible magic number
        size = int(5 * 1024 * (40 ** self.rng.random()))
        kind = self.rng.random()
        if kind < 0.5:
            return (b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(size), "image", "png",
                    self.pick(["skjermbilde.png", "Skjermbilde 2024-03-05.png", "feilmelding.png",
                               "skjermdump_dokumentliste.png"]))
        if kind < 0.85:
            return (b"%PDF-1.7\n" + self.rng.randbytes(size), "application", "pdf",
                    self.pick(["avviksrapport.pdf", "Hendelsesrapport_ÅØÆ.pdf", "logg_utskrift.pdf",
                               "kopi_av_brev.pdf"]))
        return (b"PK\x03\x04" + self.rng.randbytes(size), "application",
                "vnd.openxmlformats-officedocument.wordprocessingml.document",
                self.pick(["beskrivelse.docx", "tidslinje hendelse.docx"]))

    def fill(self, s):
        return s.format(doc=self.pick(DOCS), sys=self.pick(SYSTEMS), ward=self.pick(WARDS),
                        inc=f"INC{self.rng.randint(100000, 999999)}", n=self.rng.randint(2, 9),
                        ws=f"PC{self.rng.randint(1000, 9999)}", err=self.pick(ERRORS),
                        when=self.pick(WHEN))

    # ---------- message kinds ----------
