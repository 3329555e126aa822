"""The word lists the health-data rules read (`health`): labels, diagnoses, months, non-names.

Decides nothing by itself; what a term here means is decided in `health`. Terms are regular
expressions, matched ignoring case, as whole words. Add a term here, not a rule there.
"""

from __future__ import annotations

# Labels of `Label: value` lines and `key=value` log fields, and what their value is. Keys of
# LABELS are the label in lower case without spaces, dots, dashes or underscores.
LABELS = {
    "navn": "name", "pasient": "name", "pasientnavn": "name", "pasienten": "name", "patient": "name",
    "patientname": "name", "fulltnavn": "name", "beboer": "name", "pas": "name",
    "født": "birth_date", "fødd": "birth_date", "fødselsdato": "birth_date", "fdato": "birth_date",
    "dob": "birth_date", "birthdate": "birth_date", "dateofbirth": "birth_date",
    "diagnose": "diagnosis", "diagnoser": "diagnosis", "diagnosis": "diagnosis", "dx": "diagnosis",
    "tilstand": "diagnosis", "sykdom": "diagnosis", "lidelse": "diagnosis",
    "diagnosekode": "diagnosis_code", "icd10": "diagnosis_code", "icd": "diagnosis_code",
    "icpc2": "diagnosis_code", "icpc": "diagnosis_code",
}
LABEL_PATTERNS = [
    r"pasient[ _-]?navn", r"patient[ _-]?name", r"fullt[ _]navn", r"navn", r"pasient(?:en)?", r"patient",
    r"beboer", r"pas\.?", r"fødselsdato", r"f\.?[ _-]?dato", r"født", r"fødd", r"dob", r"birth[ _-]?date",
    r"date[ _-]?of[ _-]?birth", r"diagnosekode", r"diagnoser?", r"diagnosis", r"dx", r"tilstand", r"sykdom",
    r"lidelse", r"icd[ -]?10", r"icd", r"icpc[ -]?2", r"icpc",
]

# Diagnoses a reader recognises as such (bokmål, nynorsk where it differs, common Latin/English):
# single words (lower case, matched whole, a hyphenated compound by its last part too) and phrases.
DIAGNOSES = frozenset("""
hiv aids hiv-positiv diabetes kreft cancer leukemi lymfom melanom sarkom svulst tumor tumour depresjon
depressiv schizofreni psykose bipolar demens alzheimer alzheimers parkinson parkinsons epilepsi astma kols
hjerteinfarkt infarkt hjertesvikt nyresvikt leversvikt hjerneslag hepatitt tuberkulose covid covid-19 korona
koronasmitte influensa lungebetennelse anoreksi bulimi spiseforstyrrelse personlighetsforstyrrelse
rusavhengighet alkoholisme adhd autisme ptsd ocd leddgikt revmatisme cøliaki klamydia gonoré syfilis herpes
sepsis blodforgiftning fraktur lårhalsbrudd hypertensjon anemi cirrhose selvmordsforsøk suicidal hpv
svangerskap graviditet mpox
""".split())
DIAGNOSIS_PHRASES = [r"diabetes type [12]", r"hepatitt [abc]", r"bipolar lidelse", r"multippel sklerose",
                     r"høyt blodtrykk", r"downs syndrom", r"cystisk fibrose", r"hiv[ -]positiv"]
# Endings of compounds that are always a diagnosis ("brystkreft", "urinveisinfeksjon", "angstlidelse").
DIAGNOSIS_STEMS = ("kreft", "infeksjon", "betennelse", "lidelse", "syndrom", "svulst", "karsinom", "sklerose",
                   "diabetes")

MONTHS = [r"januar", r"februar", r"mars", r"april", r"mai", r"juni", r"juli", r"august", r"september",
          r"oktober", r"november", r"desember", r"jan", r"feb", r"mar", r"apr", r"jun", r"jul", r"aug",
          r"sept?", r"okt", r"nov", r"des"]

# Capitalised words that begin sentences or name roles, never a patient (lower case).
NOT_NAMES = frozenset("""
han hun den det de vi jeg du dere pasienten pasient brukeren bruker legen lege sykepleier sykepleieren
beboer beboeren klient klienten oppslag feil systemet tjenesten journal pasientjournal kjernejournal
dokumentdeling xca i på med og etter før når da som har fikk ble er var kl dagens i dag igjen men
mvh hilsen vennlig takk hei god the a an
""".split())
