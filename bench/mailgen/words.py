"""What the generated mail is made of: Norwegian names, hospitals, systems, problems, the five
citizen forms, and synthetic identity numbers (Tenor-style, month + 80, valid control digits)."""

from email import policy

POLICY = policy.default.clone(linesep="\n", max_line_length=78)

REGISTRY = "postmottak@saksregister.example"
REGISTRY_DOMAIN = "saksregister.example"

HOSPITALS = [
    ("helse-bergen.example", "Helse Bergen HF"),
    ("ous-hf.example", "Oslo universitetssykehus HF"),
    ("stolav.example", "St. Olavs hospital HF"),
    ("unn.example", "Universitetssykehuset Nord-Norge HF"),
    ("sus.example", "Stavanger universitetssjukehus"),
    ("ahus.example", "Akershus universitetssykehus HF"),
    ("helse-fonna.example", "Helse Fonna HF"),
    ("sykehuset-innlandet.example", "Sykehuset Innlandet HF"),
    ("legekontor-tromso.example", "Tromsø legesenter"),
    ("kommune-lillevik.example", "Lillevik kommune, helse og omsorg"),
]
CITIZEN_DOMAINS = ["epost.example", "online.example", "nettpost.example",
                   "post.example", "mail.example"]

MONTHS = ["januar", "februar", "mars", "april", "mai", "juni", "juli", "august",
          "september", "oktober", "november", "desember"]
FIRST = ["Kari", "Ola", "Ingrid", "Bjørn", "Åse", "Øystein", "Siri", "Håkon", "Marte",
         "Jørgen", "Solveig", "Pål", "Tone", "Ærlend", "Liv", "Sindre", "Guro", "Ståle",
         "Hanne", "Tor", "Mette", "Kåre", "Nina", "Eirik", "Ragnhild", "Øyvind", "Astrid",
         "Morten", "Sølvi", "Trond", "Mia", "Jonas", "Nora", "Aleksander", "Fatima", "Ahmed"]
LAST = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
        "Kristiansen", "Jensen", "Karlsen", "Berg", "Haugen", "Hagen", "Bjørnstad",
        "Løvås", "Sæther", "Øverland", "Åsheim", "Strøm", "Dahl", "Lie", "Ødegård",
        "Ruud", "Holm", "Nygård", "Bakken", "Brækhus", "Tveit", "Aas", "Khan"]
ROLES = ["sykepleier", "overlege", "lege i spesialisering", "fastlege", "helsesekretær",
         "jordmor", "fysioterapeut", "farmasøyt", "avdelingsleder", "IKT-koordinator",
         "spesialsykepleier", "klinisk ernæringsfysiolog"]
SYSTEMS = ["DIPS Arena", "Helseplattformen", "Kjernejournal", "Pasientens journaldokumenter",
           "eResept", "Infodoc", "CGM Allmenn", "System X", "Metavision", "EPJ"]
DOCS = ["epikrise", "henvisning", "poliklinisk notat", "røntgensvar", "laboratoriesvar",
        "operasjonsbeskrivelse", "sykepleiesammenfatning", "legemiddelliste",
        "kritisk info", "journalnotat", "prøvesvar", "innkomstjournal"]
PROBLEMS = [
    "{doc} fra {sys} vises ikke i dokumentlisten",
    "feil pasient vist ved åpning av {doc}",
    "{doc} ble delt med feil mottaker",
    "tidsavbrudd ved oppslag mot {sys}",
    "dokumentet åpnes som tom side i {sys}",
    "{doc} mangler i {sys} etter overføring",
    "tilgang nektet til {doc} selv med gyldig tjenstlig behov",
    "dublerte dokumenter i {sys}",
    "feil dato på {doc} etter synkronisering",
    "særtegn (æøå) vises feil i {doc}",
    "sperret {doc} var synlig for behandler",
    "oppslag i {sys} henger ved innlogging",
]
SENTENCES = [
    "Vi oppdaget feilen {when} under vanlig pasientbehandling.",
    "Feilen gjelder {doc} som ble opprettet i {sys}.",
    "Pasienten var innlagt på {ward} da dette skjedde.",
    "Vi har prøvd å logge ut og inn igjen uten at det hjalp.",
    "Lokal IKT-støtte har saksnummer {inc} på saken.",
    "Det er uklart om andre pasienter er berørt.",
    "Feilen har skjedd {n} ganger i løpet av den siste uken.",
    "Behandler fikk ikke tilgang til nødvendige opplysninger i tide.",
    "Dokumentet ble til slutt hentet manuelt via telefon og faks.",
    "Vi ber om at saken følges opp så snart som mulig.",
    "Skjermbilde er lagt ved der det var mulig.",
    "Avviket er også meldt i lokalt avvikssystem.",
    "Det ble brukt ca. {n}0 minutter ekstra på å finne riktig dokument.",
    "Vi mistenker at feilen har sammenheng med oppdateringen av {sys} forrige uke.",
    "Ingen pasientskade er kjent per nå, men hendelsen vurderes som alvorlig.",
    "Pasienten ble informert om hendelsen samme dag.",
    "Oppslaget ble gjort fra {ward}, arbeidsstasjon {ws}.",
    "Feilmeldingen var: \"{err}\".",
]
WARDS = ["akuttmottaket", "medisinsk sengepost", "kirurgisk poliklinikk", "barneavdelingen",
         "intensivavdelingen", "føde/barsel", "psykiatrisk akutt", "ortopedisk avdeling",
         "legevakten", "hjemmetjenesten"]
ERRORS = ["Dokumentet kunne ikke hentes (kode 500)", "Timeout etter 30 sekunder",
          "Ugyldig signatur på dokument", "Mottaker ikke funnet i adresseregisteret",
          "HTTP 403 Forbidden", "Ukjent feil - kontakt systemansvarlig",
          "Samtykke mangler for deling"]
WHEN = ["i morges", "i går kveld", "under nattevakt", "ved visitt", "rett etter lunsj",
        "i forbindelse med utskrivning", "ved innleggelse"]

FORM_TYPES = [
    ("journalkopi", "Kopi av pasientjournal"),
    ("tilgangslogg", "Innsyn i tilgangslogg"),
    ("sperring", "Sperring av dokumenter"),
    ("retting", "Endring/retting av opplysninger"),
    ("oppslag", "Spørsmål om oppslag i journal"),
]
FORM_TEXT = {
    "journalkopi": ["Jeg ønsker kopi av alle journaldokumenter fra {sys}.",
                    "Ber om kopi av epikriser og notater fra perioden oppgitt over."],
    "tilgangslogg": ["Jeg vil se hvem som har gjort oppslag i min journal.",
                     "Ønsker logg over alle oppslag gjort av helsepersonell utenfor behandlende avdeling."],
    "sperring": ["Jeg ønsker å sperre dokumenter fra {ward} for deling.",
                 "Be om at {doc} ikke skal være synlig for andre virksomheter."],
    "retting": ["Det står feil opplysninger om meg i {doc} fra {sys}.",
                "Legemiddellisten min inneholder et legemiddel jeg aldri har brukt."],
    "oppslag": ["Jeg lurer på hvorfor en lege ved et annet sykehus har sett min journal.",
                "Har noen uten tjenstlig behov gjort oppslag på meg i {sys}?"],
}
POSTSTEDER = [("0150", "OSLO"), ("5003", "BERGEN"), ("7010", "TRONDHEIM"), ("9008", "TROMSØ"),
              ("4006", "STAVANGER"), ("2317", "HAMAR"), ("8006", "BODØ"), ("1473", "LØRENSKOG")]
STREETS = ["Storgata", "Kirkeveien", "Bjørnstjerne Bjørnsons gate", "Fjordveien",
           "Skogvegen", "Ørneveien", "Åsvegen", "Havnegata"]

HTML_STYLE = (
    "<style><!--\n"
    "@font-face {font-family:\"Cambria Math\"; panose-1:2 4 5 3 5 4 6 3 2 4;}\n"
    "@font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;}\n"
    "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt;"
    " font-family:\"Calibri\",sans-serif; mso-fareast-language:EN-US;}\n"
    "a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1;"
    " text-decoration:underline;}\n"
    "span.EpostStil17 {mso-style-type:personal-compose; font-family:\"Calibri\",sans-serif;"
    " color:windowtext;}\n.MsoChpDefault {mso-style-type:export-only;"
    " font-family:\"Calibri\",sans-serif; mso-fareast-language:EN-US;}\n"
    "@page WordSection1 {size:612.0pt 792.0pt; margin:70.85pt 70.85pt 70.85pt 70.85pt;}\n"
    "div.WordSection1 {page:WordSection1;}\n--></style>")


def fnr_control(d9):
    w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2]
    w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    k1 = 11 - sum(int(c) * w for c, w in zip(d9, w1)) % 11
    k1 = 0 if k1 == 11 else k1
    if k1 == 10:
        return None
    d10 = d9 + str(k1)
    k2 = 11 - sum(int(c) * w for c, w in zip(d10, w2)) % 11
    k2 = 0 if k2 == 11 else k2
    if k2 == 10:
        return None
    return d10 + str(k2)


def synthetic_fnr(rng):
    """11 digits, valid mod-11 controls, month+80 (Tenor synthetic test-person style)."""
    while True:
        day = rng.randint(1, 28)
        month = rng.randint(1, 12) + 80
        year = rng.randint(0, 99)
        ind = rng.randint(0, 999)
        r = fnr_control(f"{day:02d}{month:02d}{year:02d}{ind:03d}")
        if r:
            return r

