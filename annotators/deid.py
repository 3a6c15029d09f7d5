"""De-identification of report text, after HIPAA Safe Harbor's identifiers (45 CFR 164.514(b)(2)) that text shows.

Replaced by neutral placeholders: names (in any script's Latin, Greek or Cyrillic letters, with particles such as
"van der") after titles (Dr, Mr, Mrs, Ms, Prof. Dr., ...), after "Patient" / "Pt" / "Name" / "Surname", after role
labels in any case ("Attending:", "Ref. Phys.:", "Dictated by", "Reviewed by:"), after whom results went to
("called to", "discussed with"), before credentials (", MD"), roles in brackets ("(Consultant)") or identifiers
("John Smith MRN ..."), and DICOM person names ("DOE^JANE") -> [NAME]; e-mail -> [EMAIL]; URLs -> [URL]; IP
addresses -> [IP]; social security numbers -> [SSN]; phone, fax, pager numbers and extensions -> [PHONE]; record,
account, accession, plan, licence, serial and other labelled numbers (national health numbers of the UK, Canada,
Australia, ... too), DICOM UIDs and any long number -> [ID]; street addresses, PO boxes, city-state-zip, zip codes,
UK, Canadian and Australian postcodes and where someone lives -> [ADDRESS]; hospital and clinic names ->
[HOSPITAL]; dates in numeric, ISO, DICOM, compact ("04Mar2021") and month-name forms, ordinals in words included ->
[DATE]; times -> [TIME]; ages over 89, in figures or words -> "90+" (a year alone is no identifier under the rule
and stays). MIMIC's "___" (identifiers removed upstream) is kept as it is. Not caught: a name in running text with
no title, label or credential before or after it, and an age written as "97F" (the same form as a temperature in
Fahrenheit or a French catheter size); nor, mostly, city names and facilities named without "Hospital", "Clinic" or
the like.

Clinical content is left alone: sizes ("5 mm", "1.5 x 2 cm"), levels ("C5-C6", "T2", "L4-L5"), grades,
percentages, ratios ("2/3"), units ("ms") and modality words ("MR Brain", "DR Chest", "MS lesions"): rules anchor
on separators, month names, labels, title words and the capital letters of names.
"""
from __future__ import annotations

import re

from annotators.dicom_codes import KNOWN as KNOWN_CODE_WORDS

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
# Month names as written in prose (capitalised), for the forms where a lower-case word ("may") would be ambiguous.
_MONTHS_CAPITALISED = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN|FEB|MAR|APR|MAY|JUNE?|JULY?|AUG|SEPT?|OCT|NOV|DEC)\.?"
)
_ORDINAL = r"(?:st|nd|rd|th)"
_RECORD_LABELS = (
    r"mrn|mr\s?#|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #)|accession(?: number| no\.?| #)?|"
    r"patient id|pt id|study id|unit no\.?|case(?: number| no\.?| #)|admission(?: number| no\.?| #)|id|acc|"
    r"medicare(?: number| no\.?| #)?|nhs(?: number| no\.?| #)|chi(?: number| no\.?| #)|ihi|nhi|phn|ramq|dva|"
    r"health card(?: number| no\.?| #)?|provider(?: number| no\.?| #)|passport(?: number| no\.?| #)?|"
    r"driv(?:er'?s|ing) licen[cs]e(?: number| no\.?| #)?|codice fiscale|dva file(?: number| no\.?| #)?|"
    r"(?:hosp(?:ital)?|account|acct|member|policy|claim|encounter|visit|order|requisition|specimen|serial|device|licen[cs]e|"
    r"certificate|plan|beneficiary|insurance|health plan|vehicle|plate)\s*(?:number|num|no\.?|#|id|:)"
)
_PHONE_LABELS = r"phone|tel|telephone|fax|facsimile|cell|mobile|mob|pager|beeper|bleep|pgr|ext\.?|extension"
_STREET_TYPES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
                 "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Parkway", "Pkwy", "Highway", "Hwy", "Circle",
                 "Square", "Sq")
# Upper-case forms only of the long names: "CT", "ST", "DR", "LN", "SQ" are clinical abbreviations.
_STREET = "|".join(_STREET_TYPES + tuple(name.upper() for name in _STREET_TYPES if len(name) >= 4))
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_PLACE_WORD = r"[A-Z][A-Za-z'.-]*"

# Letters of names beyond ASCII (Latin, Greek and Cyrillic: "Peña", "Łukasz", "Müller"), as character classes.
_NON_ASCII = [chr(code) for code in range(0xC0, 0x530) if chr(code).isalpha()]
_UPPER = "A-Z" + "".join(c for c in _NON_ASCII if c.isupper())
_LOWER = "a-z" + "".join(c for c in _NON_ASCII if c.islower())
# Lower-case particles inside family names ("van der Berg", "De la Cruz", "bin Said").
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|la|le|dos|das|al|el|bin|ibn|ter|ten|y)"

# Titles in the case they are written in (so "ms" as a unit or "MS" for multiple sclerosis stay). "MR" and "DR"
# without a full stop are also modality words ("MR Brain", "DR Chest"): titles then only before an upper-case name.
_CREDENTIALS = r"(?:M\.D\.|MD|D\.O\.|R\.N\.|RN|Ph\.D\.|PhD|FRCR|FRCPC|MBBS|NP)"
_TITLES = r"(?:Dr|DR|Mr|MR|Mrs|MRS|Ms|Mx|Miss|MISS|Prof|PROF|Doctor|DOCTOR|Dres|Drs)"
_INITIAL = rf"[{_UPPER}](?:\.|(?=[\s,]|$))"  # "J." or "J" before a space or comma
# A word of a name, never the start of a credential ("Smith, M.D.": "M." is no initial).
_NAME_WORD = rf"(?!{_CREDENTIALS}(?![A-Za-z]))(?:[{_UPPER}][{_UPPER}{_LOWER}'\u2019-]+|{_INITIAL})"
_NAME = rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}(?:(?:\s+|\^)(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{0,3}}"
# In running text: "Patient John Smith", "Smith J".
_MIXED_WORD = (rf"(?!{_CREDENTIALS}(?![A-Za-z]))(?:[{_UPPER}](?:[{_LOWER}]+|(?=['\u2019-][{_UPPER}]?[{_LOWER}]))"
               rf"(?:['\u2019-][{_UPPER}]?[{_LOWER}]+)*|{_INITIAL})")  # "Garcia-Lopez", "O'Neil"
_LOWER_NAME = rf"[{_LOWER}][{_LOWER}'\u2019-]+(?:\s+[{_LOWER}][{_LOWER}'\u2019-]+)?"  # "jane doe" after a label
_NAME_LETTERS = rf"[{_UPPER}{_LOWER}'\u2019-]"
# Labels that a name follows after a colon ("Attending: Jane Doe", "Referring physician: SMITH, JOHN", "Surname:
# Nakamura"), matched in any case; "name" only at the start of a label, so "Neoplasm Name: Astrocytoma" stays.
_NAME_LABELS = (
    r"patient(?: name)?|pt|(?<![A-Za-z] )name|(?:first|last|given|family|middle|maiden|full|legal) name|surname|"
    r"forename|(?:mother|father|parent|guardian|spouse)(?:'s)? name|next of kin|nok|guardian|"
    r"attending(?: physician)?|(?:reporting )?radiologist|"
    r"(?:(?:referring|ordering|requesting) )?(?:physician|doctor|dr\.?|clinician|provider|consultant)|referring|"
    r"ordering|requesting|ref\.?\s?phys\.?|surgeon|technologist|technician|tech|radiographer|sonographer|resident|"
    r"fellow|nurse|(?:electronically )?signed"
)
# Who did what to the report, before a name with or without a colon ("Dictated by JANE DOE", "Reviewed by: Smith").
_BY_LABELS = (
    r"(?:(?:electronically )?signed|dictated|reported|read|reviewed|transcribed|verified|approved|interpreted|"
    r"performed|prepared|authenticated|requested|referred|ordered|seen|examined)\s+by"
)
# A name after a label ("Smith, John"); it ends before the next label ("Surname: Nakamura Forename: Yuki").
_LISTED_NAME = (rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}"
                rf"(?:(?:\s+|,\s*|\^)(?!(?i:{_NAME_LABELS})\s*:|(?i:{_BY_LABELS})\b)"
                rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{0,3}}")
# Roles written in brackets after a name ("Smith J (Consultant Radiologist)", "PATEL Anil (Consultant)").
_ROLES = r"Dr|Consultant|Attending|Resident|Registrar|Fellow|Radiologist|Radiographer|Sonographer|Surgeon|Physician|" \
         r"Nurse|Technologist|F1|F2|ST\d|SpR|PGY-?\d"
# Phrases of running text that name whom results went to: "called to Sarah Connor", "discussed with J Smith".
_TOLD = r"[Cc]alled to|[Dd]iscussed with|d/w|[Cc]ommunicated to|[Cc]onveyed to|[Ss]poke (?:with|to)|[Pp]aged|" \
        r"[Nn]otified|[Ii]nformed|[Rr]eported to|[Rr]elayed to"
# Capitalised words that follow "Patient", a label or a title without being a name (compared in lower case).
_NOT_NAMES = frozenset("""
male female man woman boy girl child infant baby adult elderly gentleman lady is was has had have presents presented
presenting with without underwent undergoing denies denied reports reported complains complained history age aged
sex gender unknown anonymous none not no name id identifier information info position positioning prone supine
status consent identity safety care education demographics summary data the a an in on at of for to and or who
which year years old returned remains tolerated seen here admitted treated came comes shows showed demonstrates
dr mr mrs ms miss prof doctor mx brain chest head neck spine abdomen pelvis angiography angiogram venography
arthrogram spectroscopy perfusion cervical thoracic lumbar knee shoulder hip ankle wrist elbow foot hand orbits orbit
sinus sinuses pituitary heart cardiac breast liver prostate enterography cholangiography imaging image images scan
study exam examination sequence sequences contrast axial sagittal coronal flair dwi adc swi stir mra mrv mrcp
weighted portable upright pa ap lateral left right bilateral findings impression comparison technique indication
report preparation prep mip mpr minip cta ctv ct pet spect fmri dti tof t1 t2 pd gre fse tse ssfse haste fiesta
spgr mprage vibe ssfp dce dsc asl bold reconstruction reformat reformats 3d this these there that it its he she they
his her we please also then radiology radiologist emergency department team staff service clinician clinicians
physician physicians referring primary family ward icu ed er nurse nursing surgery surgical oncology medicine on
call resident fellow attending provider providers patient patients mother father wife husband daughter son parents
parent gp pcp consultant registrar cardiology neurology pulmonology orthopaedics orthopedics urology gastroenterology
nephrology ent obstetrics gynaecology gynecology paediatrics pediatrics psychiatry dermatology hematology haematology
endocrinology rheumatology ophthalmology anaesthesia anesthesia vascular trauma neurosurgery interventional nuclear
ultrasound sonography sonographer mri us xr cxr radiograph radiography radiographer fluoroscopy mammography
mammogram tomography doppler technologist technician tech inr agree agreed agrees concur concurs see refer per limited
suboptimal repeat note nil stroke code rapid response clinical medical duty known suggest review follow
surname forename first last given middle maiden
dob mrn neuroradiology musculoskeletal msk abdominal pediatric paediatric pathology pathologist histopathology
cytology multidisciplinary mdt tumor tumour board committee oncologist cardiologist neurologist surgeon surgeons
urologist hospitalist intensivist neurosurgeon pulmonologist gastroenterologist palpation auscultation received
receiving remained states stated noted notes developed experienced describes described signed dictated read reviewed
transcribed verified approved interpreted performed prepared authenticated requested referred ordered examined
electronically ordering requesting
""".split())
_ORDINAL_WORDS = "|".join(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
     "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth",
     "twentieth", "thirtieth", "thirty[- ]first"]
    + [f"twenty[- ]{unit}" for unit in ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
                                        "ninth")])


# Words that make the capitalised words before them a team's or a department's name ("Stroke Team").
_GROUPS = frozenset("team service services department dept unit ward clinic registrar registrars group".split())


def _is_name(word: str, position: int) -> bool:
    """A word of a name: no common word, or an initial after the first word ("SMITH, JOHN A")."""
    return word.lower() not in _NOT_NAMES or (position > 0 and len(word) == 1 and word.isupper())


def _names(match: re.Match, keep_label: bool = True, titled: bool = False) -> str:
    """[NAME] for the name words after a label (kept) or a title (replaced too), up to the first word that is no
    name; the match unchanged when its first word is none. After a `titled` match the first word is a name
    whatever it is ("Dr. Ward", "Mrs. Son")."""
    words = re.split(r"(\s+|,\s*|\^)", match.group("name"))
    kept = int(titled)
    while kept < len(words[::2]) and _is_name(words[2 * kept], kept):
        kept += 1
    if not kept or (kept < len(words[::2]) and words[2 * kept].lower() in _GROUPS):
        return match.group(0)
    name_end = match.start("name") + len("".join(words[: 2 * kept - 1]))
    label = match.string[match.start(): match.start("name")] if keep_label else ""
    return label + "[NAME]" + match.string[name_end: match.end()]


def _exam_word(word: str) -> bool:
    """A common word, or a DICOM code word (body part, view, modality) of at least two letters: "TEMPORAL BONES",
    "WHOLE BODY" and "PANCREAS" name an examination, not a person."""
    return word.lower() in _NOT_NAMES or (len(word) > 1 and word.upper() in KNOWN_CODE_WORDS)


def _names_before(match: re.Match) -> str:
    """[NAME] for the last two or more name words before an identifier, a credential or a role ("Chest PA John
    Smith [ID]", "SMITH, JOHN A MD", "Smith J (Consultant Radiologist)")."""
    words = re.split(r"(\s+|,\s*)", match.group("name"))
    first = len(words[::2])
    while first and (not _exam_word(words[2 * (first - 1)]) or re.fullmatch(f"[{_UPPER}]", words[2 * (first - 1)])):
        first -= 1
    if len(words[::2]) - first < 2:
        return match.group(0)
    name_start = match.start("name") + len("".join(words[: 2 * first]))
    return match.string[match.start(): name_start] + "[NAME]" + match.string[match.end("name"): match.end()]


def _titled(match: re.Match) -> str:
    """Title and name -> [NAME]. Upper-case "MR" and a bare "DR" are also modality words ("MR Brain", "on MR. The",
    "DR Chest"): titles then only before an upper-case name ("DR SMITH"); "DR." is a title before any name."""
    title, first = match.group("title"), re.split(r"[\s^]", match.group("name"))[0]
    modality_word = title == "MR" or (title == "DR" and not match.group("stop"))
    if modality_word and (not first.isupper() or _exam_word(first)):
        return match.group(0)
    return _names(match, keep_label=False, titled=not modality_word)


_CLOCK = re.compile(r"(?:1[0-2]|0?[1-9]):[03]0")


# Services whose clinics are named after them ("Fracture Clinic"), not places that identify anyone.
_SERVICES = frozenset("""
fracture outpatient outpatients respiratory chest breast eye memory pain diabetes diabetic antenatal fertility sleep
heart cancer lung vascular stroke urology orthopaedic orthopedic rheumatology dermatology hand spine sports
""".split())


def _facility(match: re.Match) -> str:
    """[HOSPITAL] for the place's name: the words before its kind ("Clinic", "Hospital") back to a common word or a
    sentence's end; the match as it is when they are only services ("Fracture Clinic")."""
    words = re.split(r"([ \t]+)", match.group(0))
    first = len(words) - 1  # the kind of place
    while first > 0 and words[first - 2].lower() not in _NOT_NAMES and not re.search(r"\w{3}\.$", words[first - 2]):
        first -= 2
    name = [w.lower() for w in words[first:-1:2]]
    if not name or (words[-1] == "Clinic" and all(w in _SERVICES for w in name)):
        return match.group(0)
    return "".join(words[:first]) + "[HOSPITAL]"


_CLOCK_FACE = ("breast", "labr", "o'clock", "position")  # reports that place findings on a clock face


def _time(match: re.Match) -> str:
    """[TIME], except a clock-face position ("mass at 12:00", "labral tear from 12:00 to 3:00 position")."""
    clock = _CLOCK.fullmatch(match.group(0)) and any(word in match.string.lower() for word in _CLOCK_FACE)
    return match.group(0) if clock else "[TIME]"


def _age(match: re.Match) -> str:
    """Ages over 89 become "90+"."""
    age = int(match.group("age"))
    already = match.string.startswith("+", match.end("age"))  # "aged 90+ years" from an earlier rule
    return match.group(0) if age < 90 or already else match.group(0).replace(match.group("age"), "90+", 1)


_SUB = re.IGNORECASE
_CASED = 0
_RULES: tuple[tuple[re.Pattern, object], ...] = tuple(
    (re.compile(pattern, flags), placeholder)
    for pattern, placeholder, flags in (
        (r"\b(?:https?|ftp)://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]|\bwww\.[\w-]+(?:\.[\w-]+)+(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?",
         "[URL]", _SUB),
        (r"\b[\w.+-]+@[\w-]+\.[\w.-]*\w\b", "[EMAIL]", _SUB),
        (r"\b(?:ssn|social security(?: number| no\.?| #)?|ss#)\s*[:#]?\s*\d{3}[- ]?\d{2}[- ]?\d{4}\b", "[SSN]", _SUB),
        (r"\b\d{3}-\d{2}-\d{4}\b", "[SSN]", _SUB),
        (r"\b[0-2](?:\.\d+){4,}\b", "[ID]", _SUB),  # a DICOM UID: 1.2.840.113619.2.55.3...
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]", _SUB),
        (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "[DATE]", _SUB),
        (r"(?<![\d./])\d{4}([-/.])\d{1,2}\1\d{1,2}(?![\d/]|\.\d)", "[DATE]", _SUB),  # one separator: not "7.4/28.4"
        (r"(?<![\d./])\d{1,2}([-/.])\d{1,2}\1\d{2,4}(?![\d/]|\.\d)(?!\s*ribs?\b)", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}-{_MONTHS}-\d{{2,4}}\b", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}{_MONTHS}\d{{2}}(?:\d{{2}})?\b", "[DATE]", _SUB),  # "04Mar2021"
        (rf"\b\d{{1,2}}[\s-]+{_MONTHS_CAPITALISED}[\s-]+\d{{2}}\b(?![\s-]*(?:mm|cm|mg|ml|%))", "[DATE]", _CASED),
        (rf"\b(?:the\s+)?(?:{_ORDINAL_WORDS})\s+of\s+{_MONTHS}(?:,?\s+\d{{4}})?(?![a-z])", "[DATE]", _SUB),
        (rf"\b(?:the\s+)?(?:{_ORDINAL_WORDS})\s+{_MONTHS_CAPITALISED}(?:,?\s+\d{{4}})?(?![A-Za-z])", "[DATE]", _CASED),
        (rf"\b{_MONTHS}[\s-]+(?:the\s+)?\d{{1,2}}{_ORDINAL}?,?[\s-]+\d{{4}}\b", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}{_ORDINAL}?\s+(?:of\s+)?{_MONTHS},?\s+\d{{4}}\b", "[DATE]", _SUB),
        (rf"\b(?:the\s+)?\d{{1,2}}{_ORDINAL}\s+(?:of\s+)?{_MONTHS}(?![a-z])", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}\s+{_MONTHS_CAPITALISED}(?![A-Za-z])(?!\s*\d)", "[DATE]", _CASED),
        (rf"\b{_MONTHS}\s+(?:the\s+)?\d{{1,2}}{_ORDINAL}?\b(?!\s*(?:mm|cm|mg|ml|%))", "[DATE]", _SUB),
        (rf"\b{_MONTHS}\s+\d{{4}}\b", "[DATE]", _SUB),
        (r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b", "[DATE]", _SUB),
        (r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b", "[DATE]", _SUB),
        (r"\b((?:on|dated?)\s+)\d{1,2}/\d{1,2}\b(?!/)", r"\1[DATE]", _SUB),
        (r"(?:\b|(?<=T))(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*[ap]\.?m\.?)?(?=\W|$)", _time, _SUB),
        (r"\b\d{1,2}(?:[.:]\d{2})?\s*[ap]\.?m\.?(?=\W|$)", "[TIME]", _SUB),
        (r"\b(?:[01]?\d|2[0-3])h[0-5]\d\b", "[TIME]", _SUB),  # 14h05
        (r"\b(?:[01]\d|2[0-3])[0-5]\d\s*(?:hours|hrs|h)\b", "[TIME]", _SUB),
        (r"\bP\.?\s?O\.?\s+Box\s+\d+\b", "[ADDRESS]", _SUB),
        (r"\b(?:(?:unit|apt|flat|suite)\s*)?\d+[a-z]?\s*/\s*\d+[a-z]?\s+(?:[A-Z][\w'.-]*\s+){1,3}(?:%s)\b" % _STREET,
         "[ADDRESS]", _SUB),  # Unit 4/12 King St, 3/45 Smith Rd
        (rf"\b\d{{1,6}}\s+(?:{_PLACE_WORD}\s+){{1,4}}(?:{_STREET})\b\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
         rf"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*[\w-]+)?", "[ADDRESS]", _CASED),
        (rf"\b{_PLACE_WORD}(?:\s+{_PLACE_WORD}){{0,2}},\s*(?:{_STATES})\.?\s+\d{{5}}(?:-\d{{4}})?\b", "[ADDRESS]",
         _CASED),
        (rf"\b(?:{_STATES})\s+\d{{5}}(?:-\d{{4}})?\b", "[ADDRESS]", _CASED),
        (r"\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b|\b[A-Z]\d[A-Z] ?\d[A-Z]\d\b", "[ADDRESS]", _CASED),  # SW1A 1AA, M5V 2T6
        (r"\b(?:NSW|VIC|QLD|TAS|ACT|NT|WA|SA)\s+\d{4}\b", "[ADDRESS]", _CASED),  # Newtown NSW 2042
        (r"\b(?:(?:lives|living|resides|residing)\s+(?:at|on)|(?:home |mailing |street )?address\s*:)"
         r"\s*\d{1,6}\s[^.;\n]*", "[ADDRESS]", _SUB),  # to the end of the sentence, in any case
        (r"\b(?:zip(?: code)?|postal code|postcode)\s*[:#]?\s*\d{5}(?:-\d{4})?\b", "[ADDRESS]", _SUB),
        # After the addresses: "lives at 1427 Fjordview Avenue" is no time.
        (r"\b(at\s+)(?:[01]\d|2[0-3])\.?[0-5]\d\b(?!\s*(?:mm|cm|ml|mg|hu|%|ms|mas|kv|x\b))", r"\1[TIME]", _SUB),
        (rf"\b(?:{_PHONE_LABELS})\b\.?\s*(?:no\.?|number|#)?\s*[:#]?\s*\+?\(?\d[\d\s().-]{{2,}}\d\b", "[PHONE]", _SUB),
        (r"\b((?:call|at|on|ext\.?|extension|pager|phone|tel)\s+)x\d{3,5}\b", r"\1[PHONE]", _SUB),  # "call x4567"
        (r"\b(?:[Pp]h|PH|[Cc]all|CALL|[Cc]ontact)\.?\s*:?\s*(?:at\s+)?\d{3}[\s.-]\d{4}\b", "[PHONE]", _CASED),
        (r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}\b", "[PHONE]", _SUB),
        (r"(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b", "[PHONE]", _SUB),
        # At least four characters ("Plan: 3 month", "Specimen: 18G core" stay), in groups ("943 476 5919").
        (rf"\b(?:{_RECORD_LABELS})\s*#?\s*:?\s*[A-Z]*-?\d(?:[\w-]{{3,}}|[\w-]*(?=[ ]\d{{3,}}))(?:[ ]\d{{3,}}[\w-]*)*"
         rf"(?:[ ]\d\b(?![ ]?(?:mm|cm|ml|mg|%)))?|\b(?:medicare|nhs|ihi|phn)\b[^\d\n]{{0,12}}\d[\d ]{{7,}}\d", "[ID]",
         _SUB),
        (r"(?<!\w)#\s?\d{4,}\b", "[ID]", _SUB),
        (r"\b\d{6,}\b", "[ID]", _SUB),
        (r"\b(?:(?!The\b|A\b|An\b|This\b|Our\b)[A-Z][\w'.-]*[ \t]+){1,4}"
         r"(?:Hospitals?|Medical Cent(?:er|re)|Clinic|Infirmary|Health(?:care)?(?: Sciences?)? "
         r"(?:System|Cent(?:er|re))|Memorial|(?:NHS )?(?:Foundation )?Trust|Imaging Cent(?:er|re)|Medical Group)\b",
         _facility, _CASED),
        (r"\b(?:H[oô]pital|Ospedale|Klinikum|Clinique|Cl[ií]nica)(?:[ \t]+(?:de|del|di|du|la|der)?[ \t]*"
         r"[A-Z][\w'.-]*){1,4}", "[HOSPITAL]", _CASED),
        (r"\b(?P<age>\d{2,3})(?:\s+|-)(?:years?|yrs?)(?:\s+|-)old\b", _age, _SUB),
        (r"\b(?P<age>\d{2,3})\s*(?:yo|y/o|y\.o\.|yrs?\b|years?\b(?!\s+(?:ago|of|after|before|later|since)))", _age,
         _SUB),
        (r"\b(?:age|aged)\s*[:=]?\s*(?P<age>\d{2,3})\b", _age, _SUB),
        (r"\b(?:ninety|(?:one|a) hundred)(?:[\s-]+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine|ten))?"
         r"(?=[\s-]+(?:years?|yrs?)[\s-]+(?:old|of age)\b)", "90+", _SUB),
    )
) + (
    # Names are matched on their capital letters (case-sensitive) so "dr" in words and lower-case text stay.
    (re.compile(rf"(?<![\w^]){_NAME_LETTERS}+\^{_NAME_LETTERS}+(?:\^[{_UPPER}{_LOWER}'\u2019.-]*)*"), "[NAME]"),
    (re.compile(rf"\b(?P<title>{_TITLES})(?P<stop>\.?)(?:\s*(?:{_TITLES}|med)\.)*(?:(?<=\.)\s*|\s+)(?P<name>{_NAME})"),
     _titled),  # "Dr. Smith", "Dr.Smith", "Prof. Dr. Hans Mueller"
    (re.compile(rf"\b(?:dr|doctor|prof)\.\s*(?P<name>{_LOWER_NAME})"), lambda m: _names(m, keep_label=False)),
    (re.compile(rf"\b(?i:{_NAME_LABELS}|{_BY_LABELS})\s*:\s*(?P<name>{_LISTED_NAME}|{_LOWER_NAME}\b)"), _names),
    (re.compile(rf"\b(?i:{_BY_LABELS})\s+(?P<name>{_LISTED_NAME})"), _names),
    (re.compile(rf"\b(?:{_TOLD})\s+(?P<name>{_MIXED_WORD}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_MIXED_WORD}){{0,3}})"),
     _names),
    (re.compile(rf"\b(?:[Pp]atient|Pt\.?)\s+(?P<name>{_MIXED_WORD}(?:\s+{_MIXED_WORD}){{0,3}})"), _names),
    (re.compile(rf"\b(?P<name>{_MIXED_WORD}(?:\s*{_MIXED_WORD}){{0,3}}),?\s+{_CREDENTIALS}(?![A-Za-z])"), _names),
    (re.compile(rf"\b(?P<name>{_NAME_WORD}(?:(?:\s+|,\s*)(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{1,5}}),?\s+"
                rf"(?=\[ID\]|\[SSN\]|(?i:dob|d\.o\.b\.?|date of birth)(?![a-z])|{_CREDENTIALS}(?![A-Za-z])|"
                rf"\((?:{_ROLES})\b)"),
     _names_before),
)


def scrub_text(text: str) -> str:
    """`text` with the identifiers above replaced by placeholders; clinical words and numbers as they were."""
    if not text:
        return ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return text
