"""De-identification of report text, after HIPAA Safe Harbor's identifiers (45 CFR 164.514(b)(2)) that text shows.

Replaced by neutral placeholders: names (in any script's Latin, Greek or Cyrillic letters, Vietnamese included, with
particles such as "van der" and capitals inside such as "McDonald") after titles (Dr, Drs, Mr, Mrs, Ms, Professor, Prof.
Dr., and Dott., Dra., Sr., Smt., Mme, Herr, Herrn, Frau, "dr." in lower case, ...), after "Patient" / "Pt" / "Name" /
"Surname" (and "Paziente", "Nom", ...), one name word after "Patient" ending a sentence ("Patient Smith."), after role
and relation labels in any case ("Attending:", "Ref. Phys.:", "Referring MD:", "Referrer:", "Mother:", "Emergency
contact:", "Author:", "cc:", "/s/", "Dictated by", "Submitted by", "Signed electronically by"), each name in a list of
copies ("cc: Dr. Patel; Sunita Rao", "Copy to:"; after "CC", the chief complaint's label too, only in a list that holds
a name already or for two or more name words with no word of a complaint: "CC: JOHN SMITH", not "CC: BACK PAIN"), one
lower-case word after a staff label ("Attending: smith", "Signed: brennan"), after whom results went to ("called to",
"discussed with", "d/w", "phoned to", "relayed to PA"), after sign-offs ("Thanks,", "Kind regards,"), two name words
after "Per" ("Per James Patterson,"), names at the start of a clause before "was informed", "notified" or "aware"
("Smith was informed", "Jackson notified at ..."), names after a name and "and" ("Dr. Le and Hoang"), relatives ("her
son Michael", "Wife, Mary Smith") and staff by role with two name words ("ED physician Steven Park", "the surgical team,
Rachel Green"), an initial and a name after "reviewed with" ("reviewed with J. Smith"), "Last, First" with a common word
as the family name after a label ("PATIENT: WARD, EMILY"), "MRS WARD", a name and its age ("Mrs Evans, 93" -> "90+"),
two or three name words with an age over 89 ("Robert Kowalski, 93", "Jane Doe is a 91 year old"), before credentials (",
MD", "DO", "MBChB", "FRANZCR", ...), roles in brackets ("(Consultant)") or on the line below ("Consultant Radiologist")
or identifiers ("John Smith MRN ...", "Jane Doe (44829)", "HARRIS, Eleanor 943 476 5919 DOB"), DICOM person names
("DOE^JANE"), and typists' initials that end the line after a date, in two groups or on a line of dictation ("[DATE]
jk/lm", "Typed [DATE] KM/jd", "D: [DATE] T: [DATE] ab") -> [NAME]; after such a cue a given name makes a common word
after it a family name ("Kevin Ward", "John Head"); e-mail -> [EMAIL]; URLs, with a scheme or a host and a path
("pacs.hospital.org/viewer?..."), -> [URL]; file paths (Windows and POSIX) -> [PATH]; IP addresses -> [IP]; social
security numbers -> [SSN]; phone, fax, pager numbers and extensions, national numbers with a trunk 0 ("0161 123 4567",
"01 23 45 67 89") -> [PHONE]; record, account, accession, episode, plan, licence, serial and other labelled numbers
(national numbers of the UK, Canada (OHIP, RAMQ), Australia, India (Aadhaar, UHID), Ireland (PPSN), Spain, the
Netherlands, Sweden and France too), personal numbers that start with the date of birth ("19850310-1234",
"800101-1234567"), national numbers in groups without a label ("4532 281 746", "1234.56.782"), numbers with a letter
before them and a check character ("S1234567D", "A123456(7)"), DICOM UIDs and any long number -> [ID]; street addresses,
PO boxes, city-state-zip, zip codes, UK, Canadian and Australian postcodes with the town before them after a comma,
European and Indian postcodes after a comma ("..., 10117 Berlin", "..., Chennai 600006"), German and Dutch streets
("Hauptstraße 12", "Main Street 12"), Italian, Spanish, Portuguese, Polish and French streets by their type ("Via Roma
15, Milano" ("Via" only before a town), "Calle Mayor 5", "ul. Marszałkowska 10", "20 rue Leblanc"), the town after a
street, with its district ("[ADDRESS], Dublin 9", also after a hospital), flats by number and building ("Flat 3, Rose
Court"), Eircodes after their label and where someone lives ("lives on Elm Street", "Domicilio: ...") -> [ADDRESS];
hospital and clinic names ("X Medical Center", "Brigham and Women's Hospital", "Royal Infirmary of Edinburgh",
"Universitätsklinikum X", "Klinikum rechts der Isar", "UMC Utrecht", "Mass General", "Erasmus MC" too, and a place after
"Outside hospital:", "Transferred from" or "to", a study or images from or at it, care or an MDT there: "Prior imaging
from Mount Sinai", "CT performed at Mercy", "underwent coiling at Toronto Western", "the MDT at Guy's and St Thomas'",
or before its emergency or radiology department after "in", "at", "to": "Seen in the Johns Hopkins emergency
department", "Attended St Thomas' A&E") -> [HOSPITAL]; dates in numeric, ISO, DICOM, compact ("04Mar2021",
"20190314T143200") and month-name forms (with a year of two digits too: "Mar 22 '19", "22 Mar 12"; French, Italian,
Spanish, German and Dutch ones with a year), ordinals in words included, a day and month after words of dates or a study
("since 3/14", "Admitted 12/25", "CT chest 2/14", "12-Mar"), with the weekday before them ("Monday, March 18"), and a
day alone after a weekday or "on" ("Tuesday 5th", "on the 14th.") -> [DATE]; times, and four digits of a clock after a
date or a name ("Dictated: [DATE] 0930", "D/W [NAME] 1400") -> [TIME]; ages over 89 in years, in figures or words (in
words also after "is" or a sex where the phrase ends: "Pt is ninety-three and", "Woman, ninety-eight,"), with the sex
("92M with cough", "Age/Sex: 92/F") -> "90+" (a year alone is no identifier under the rule and stays). Dashes that read
as hyphens (en dash, figure dash, minus, non-breaking hyphen) count as hyphens, and characters of no width (U+200B, soft
hyphen, ...) are removed. MIMIC's "___" (identifiers removed upstream) is kept as it is. Not caught: a name in running
text with no title, label, credential or age over 89 before or after it, a full name after "reviewed with" ("reviewed
with Sarah Connor": the form of "reviewed with Fleischner Criteria"), names after "CC:" with none already replaced and a
word or an ending of a complaint ("CC: JOHN KING": the form of "CC: BLEEDING"), and an age written as "97F" with no
article, patient or line start before it (the same form as a temperature in Fahrenheit or a French catheter size) or in
words before other words ("was ninety-five at the time"); nor, mostly, city names away from a street and facilities
named without "Hospital", "Clinic" or the like ("General", "MC") and with no study, transfer, care or department of
theirs around them ("Toronto Western", "Repeat at Royal North Shore"), general practices ("Millbrook Surgery"),
hospitals by an acronym ("AIIMS New Delhi"; after "transferred to" one that ends in "U" is a unit: "to NYU" stays),
"Via" streets with no town after them ("Address: Via Roma 15." is caught), streets with no type word at all, a bare day
and month with no word of dates or study before it ("Seen 14/3": the form of a fraction), a small fraction after a study
("CT 1/2"), a weekday alone, one group of typists' initials after a date on a line that is no dictation's ("15.3.2019
KM"), the version code of a health card ("1234-567-890 KT"), and identifiers of public teaching cases ("rID: 12345").

Clinical content is left alone: sizes ("5 mm", "1.5 x 2 cm"), levels ("C5-C6", "T2", "L4-L5", "T10-11-12"), grades,
percentages, ratios ("2/3", "NAA/Cr", "Strength 4/5 since onset"), TNM stages ("T2N1M0", "N0 Mx"), Montreal classes
("A2L3B2"), rib lists ("Ribs 8-9-10"), classifications named after clinics ("Mayo Clinic classification", "Barcelona
Clinic Liver Cancer"), places in a hospital ("Transferred from Coronary Care Unit", "Transferred to AMU", "to Rehab",
"to High Dependency"), times and positions something is done at ("repair at Birth", "ablation at Segment 7"),
metacarpals ("Fifth MC fracture", "Medial MC joint"), anaesthesia ("under General anaesthesia"), lists of short or round
numbers ("Matrix 256 256 128"), chief complaints ("CC: BACK PAIN", "CC: Renal Colic", "CC: ET TUBE"), services and roles
told of results ("Surgery was informed", "Anaesthetist aware", "Referrer informed"), what follows a date and is no
typist ("[DATE] AP/LAT", "[DATE] and/or"), clock positions in a breast ("at 10:00, 4 cm FN"), units ("ms"), ages in
months or days, counts before a unit ("12-month", "10Fr"), gene names ("IDH1-mutant"), series and image numbers
("(4:23)"), "may" the verb, "Via" a technique ("Via Seldinger technique"), measures and their values ("Heart Rate,
96."), units of a hospital ("Seen in the Paediatric ED"), guidelines reviewed with ("reviewed with Fleischner
criteria"), modality words ("MR Brain", "MRS BRAIN", "DR Chest", "MS lesions"), examination titles ("CT Renal Stone
Protocol") and departments ("Colorectal Surgery", "Hepatology"): rules anchor on separators, month names, labels, title
words and the capital letters of names.
"""
from __future__ import annotations

import re

from annotators.dicom_codes import KNOWN as KNOWN_CODE_WORDS
from annotators.dicom_codes import MODALITIES

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
_YEAR = r"(?:\d{4}|['\u2019]\d{2})\b"  # "2019", "'19"
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|(?:mon|tues?|weds?|thurs?|fri|sat|sun)\.?)"
_FOREIGN_MONTHS = (
    r"(?:janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre|gennaio|"
    r"febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|dicembre|enero|febrero|abril|mayo|junio|"
    r"julio|septiembre|octubre|noviembre|diciembre|januar|februar|m[äa]e?rz|juni|juli|oktober|dezember|januari|"
    r"februari|maart|mei|augustus)"
)
_RECORD_LABELS = (
    r"mrn|mr\s?#|medical record(?: number| no\.?| #)?|record(?: number| no\.?| #)|acc(?:ession)?(?: number| no\.?| #)?|"
    r"patient id|pt id|study id|unit no\.?|case(?: number| no\.?| #)|admission(?: number| no\.?| #)|id|fin|csn|s/n|"
    r"episode(?: number| no\.?| #)?|ref(?:erence)?(?: number| no\.?| #)|"
    r"medicare(?: number| no\.?| #)?|medicaid(?: number| no\.?| #)?|nhs(?: number| no\.?| #)|chi(?: number| no\.?| #)|"
    r"ihi|nhi|phn|ramq|dva|ohip(?: number| no\.?| #)?|aadhaa?r(?: number| no\.?| #)?|pps(?:n| number| no\.?)|uhid|"
    r"urn|ur(?: number| no\.?)|ip(?: number| no\.?)|reg(?:istration)?(?: number| no\.?)|dni|nie|bsn|personnummer|"
    r"health card(?: number| no\.?| #)?|provider(?: number| no\.?| #)|passport(?: number| no\.?| #)?|"
    r"driv(?:er'?s|ing) licen[cs]e(?: number| no\.?| #)?|codice fiscale|dva file(?: number| no\.?| #)?|"
    r"(?:hosp(?:ital)?|account|acct|member|policy|claim|encounter|visit|order|requisition|specimen|serial|device|licen[cs]e|"
    r"certificate|plan|beneficiary|insurance|health plan|vehicle|plate)\s*(?:number|num|no\.?|#|id|:)"
)
_PHONE_LABELS = r"phone|t[eé]l(?:[eé]phone)?|fax|facsimile|cell|mobile|mob|pager|beeper|bleep|pgr|ext\.?|extension"
_STREET_TYPES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr",
                 "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Parkway", "Pkwy", "Highway", "Hwy", "Circle",
                 "Square", "Sq")
# Upper-case forms only of the long names: "CT", "ST", "DR", "LN", "SQ" are clinical abbreviations.
_STREET = "|".join(_STREET_TYPES + tuple(name.upper() for name in _STREET_TYPES if len(name) >= 4))
_LONG_STREET = "|".join(name for name in _STREET_TYPES if len(name) >= 4)  # before a number: "Main Street 12"
# Streets of other languages, their type first ("Via Roma 15", "Calle Mayor 5", "ul. Marszałkowska 10", "Paseo de
# Gracia 21", "Rue de la Loi 16") or, in French, after the number ("20 rue Leblanc", "3, place de la Concorde").
_FRENCH_STREET = r"[Rr]ue|[Aa]venue|[Bb]oulevard|bd|[Aa]ll[ée]e|[Cc]hemin|[Ii]mpasse|[Qq]uai"
_ABROAD_STREET = rf"(?P<via>Via)|Viale|Corso|Piazza(?:le)?|Largo|Vicolo|Calle|Avenida|Paseo|Plaza|Carrer|R[uú]a|" \
                 rf"Travessa|Pra[çc]a|Alameda|(?<!\d )ul\.|ulica|aleja|{_FRENCH_STREET}"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_PLACE_WORD = r"[A-Z][A-Za-z'.-]*"
_STREET_WORD = rf"(?:{_PLACE_WORD}|\d+{_ORDINAL})(?!\w)"  # "West 57th Street"
_TOWN = r"(?:(?<=, )[A-Z][\w'-]+(?:,? [A-Z][\w'-]+){0,2},? )?"  # a town before a postcode, after a comma

# Letters of names beyond ASCII (Latin, Greek and Cyrillic: "Peña", "Łukasz", "Müller"; Vietnamese and polytonic
# Greek: "Nguyễn"), as character classes; combining accents (a name typed as "e" + U+0302) go with the lower case.
_NON_ASCII = [chr(code) for code in (*range(0xC0, 0x530), *range(0x1E00, 0x2000)) if chr(code).isalpha()]
_UPPER = "A-Z" + "".join(c for c in _NON_ASCII if c.isupper())
_LOWER = "a-z" + "".join(c for c in _NON_ASCII if c.islower()) + "\u0300-\u036f"
# Lower-case particles inside family names ("van der Berg", "De la Cruz", "bin Said").
_PARTICLE = r"(?:van|von|der|den|de|del|della|di|da|du|la|le|dos|das|al|el|bin|ibn|ter|ten|y)"

# Titles in the case they are written in (so "ms" as a unit or "MS" for multiple sclerosis stay). "MR" and "DR"
# without a full stop are also modality words ("MR Brain", "DR Chest"): titles then only before an upper-case name.
# "DO" only where a credential ends a signature ("Chris Taub DO", "Taub, DO,"): "Lesions DO NOT enhance" stays.
_CREDENTIALS = (r"(?:M\.D\.|MD|D\.O\.|DO(?=\s*(?:[,;)\n]|\.?\s*$|\.\s))|R\.N\.|RN|Ph\.D\.|PhD|FRCR|FRCPC|FRANZCR|"
                r"FRACR|FRCP|FRCS|FRCPath|FACR|MRCP|MBBS|MBChB|MBBCh|BMBS|DMRD|RDMS|RDCS|RVT|ARRT|DABR|NP|PA-C)")
# "Miss" after a modal or "not" is the verb ("ULTRASOUND MAY MISS SMALL STONES"); a title after a TNM stage is the
# stage ("pT2 N0 Mx").
_NOT_A_VERB = "".join(f"(?<!(?i:{word}) )" for word in ("may", "can", "could", "might", "will", "would", "not"))
_TITLES = (rf"(?<![TN][0-4xX] )(?<![TN][0-4xX][a-c] )(?:Dr|DR|Mr|MR|Mrs|MRS|Ms|Mx|{_NOT_A_VERB}(?:Miss|MISS)|Prof|PROF|"
           r"Professor|PROFESSOR|Doctor|DOCTOR|Dres|Drs|dr(?=\.)|Dott\.ssa|Dott|Dra|Sr|Sra|Smt|Shri|Mme|Mlle|Herrn?|Frau)")
_INITIAL = rf"[{_UPPER}](?:\.|(?=[\s,]|$))"  # "J." or "J" before a space or comma
# A word of a name, never the start of a credential ("Smith, M.D.": "M." is no initial) nor part of a ratio ("MRS
# NAA/Cr").
_NAME_WORD = (rf"(?!{_CREDENTIALS}(?![A-Za-z]))(?:[{_UPPER}][{_UPPER}{_LOWER}'\u2019-]+(?![{_UPPER}{_LOWER}/])|"
              rf"{_INITIAL})")
_NAME = rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}(?:(?:\s+|\^)(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{0,3}}"
# In running text: "Patient John Smith", "Smith J".
# "Garcia-Lopez", "O'Neil", and capitals inside ("McDonald", "MacLeod", "DeShawn", "DuBois").
_MIXED_WORD = (rf"(?!{_CREDENTIALS}(?![A-Za-z]))(?:[{_UPPER}](?:[{_LOWER}]+(?:[{_UPPER}][{_LOWER}]+)*|"
               rf"(?=['\u2019-][{_UPPER}]?[{_LOWER}]))(?:['\u2019-][{_UPPER}]?[{_LOWER}]+(?:[{_UPPER}][{_LOWER}]+)*)*"
               rf"(?![{_UPPER}{_LOWER}])|{_INITIAL})")
_LOWER_NAME = rf"[{_LOWER}][{_LOWER}'\u2019-]+(?:\s+[{_LOWER}][{_LOWER}'\u2019-]+)?"  # "dr. john smith"
# After a label, two lower-case words that end the phrase ("Attending: jane doe."): "Tech: motion artifact present."
# and "Patient: claustrophobic, sedated." stay.
_LOWER_LISTED_NAME = (rf"[{_LOWER}](?:[{_LOWER}'\u2019-]+|\.?)(?:\s+|,\s*)[{_LOWER}][{_LOWER}'\u2019-]+"
                      rf"(?=\s*(?:[.,;:)\n]|$))"  # or initials: "Transcribed by: lmt", "lmt D: 04/12/21"
                      rf"|[{_LOWER}]{{2,3}}(?=\s*(?:[.,;:)\n\[\d]|$)|\s+[A-Z]{{1,3}}:)")
_NAME_LETTERS = rf"[{_UPPER}{_LOWER}'\u2019-]"
# Labels that a name follows after a colon ("Attending: Jane Doe", "Referring physician: SMITH, JOHN", "Surname:
# Nakamura"), matched in any case; "name" only at the start of a label, so "Neoplasm Name: Astrocytoma" stays.
_NAME_LABELS = (
    r"patient(?: name)?|pt|(?<![A-Za-z] )name|paziente|patientin|nom|nome|cognome|naam|nombre|apellidos?|"
    r"author|authors|contributor|typist|transcriptionist|scribe|"
    r"(?:first|last|given|family|middle|maiden|full|legal) name|surname|forename|"
    r"(?:mother|father|parent|guardian|spouse)(?:'s)? name|next of kin|nok|guardian|mother|father|parent|"
    r"spouse|wife|husband|partner|(?:emergency )?contact(?: person)?|referrer|(?-i:cc)|"
    r"attending(?: physician)?|(?:reporting )?radiologist|"
    r"(?:(?:referring|ordering|requesting) )?(?:physician|doctor|dr\.?|clinician|provider|consultant|md|gp|pcp)|"
    r"referring|ordering|requesting|ref\.?\s?phys\.?|surgeon|technologist|technician|tech|radiographer|sonographer|"
    r"resident|fellow|nurse|(?:electronically )?signed(?: electronically)?"
)
# Who did what to the report, before a name with or without a colon ("Dictated by JANE DOE", "Reviewed by: Smith").
_BY_LABELS = (
    r"(?:(?:electronically )?signed(?: electronically)?|dictated|reported|read|reviewed|transcribed|verified|approved|"
    r"interpreted|performed|prepared|authenticated|requested|referred|ordered|seen|examined|submitted|contributed|"
    r"authored|typed|vetted|protocoll?ed|supervised|checked|co-?signed|witnessed|scanned)\s+by"
)
# A name after a label ("Smith, John"); it ends before the next label ("Surname: Nakamura Forename: Yuki").
_LISTED_NAME = (rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}"
                rf"(?:(?:\s+|,\s*|\^)(?!(?i:{_NAME_LABELS})\s*:|(?i:{_BY_LABELS})\b)"
                rf"(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{0,3}}")
# Roles written in brackets after a name ("Smith J (Consultant Radiologist)", "PATEL Anil (Consultant)").
_ROLES = r"Dr|Consultant|Attending|Resident|Registrar|Fellow|Radiologist|Radiographer|Sonographer|Surgeon|Physician|" \
         r"Nurse|Technologist|F1|F2|ST\d|SpR|PGY-?\d"
_ROLE_WORDS = frozenset(role.lower() for role in _ROLES.split("|") if role.isalpha()) | {"technician"}
# Phrases of running text that name whom results went to ("called to Sarah Connor", "discussed with J Smith",
# "Per discussion with Mark Thompson"), and sign-offs ("Thanks, Emily Clarke").
_TOLD = r"[Cc]alled to|[Dd]iscuss(?:ed|ion) with|[Dd]/[Ww]|[Cc]ommunicated to|[Cc]onveyed to|[Ss]poke (?:with|to)|" \
        r"[Pp]aged|[Nn]otified|[Ii]nformed|[Rr]eported to|[Rr]elayed to|[Pp]honed(?: through)? to|" \
        r"[Tt]elephoned(?: to)?|[Gg]iven to|[Pp]assed (?:on )?to|[Hh]anded over to|[Ee]scalated to|" \
        r"[Tt]hank(?:s| you),|(?:[Kk]ind |[Bb]est )?[Rr]egards,|(?:[Yy]ours )?[Ss]incerely,"
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
electronically ordering requesting thanks thank regards sincerely notified informed aware contacted paged called
updated declined refused rotated sedated intubated agitated claustrophobic uncooperative cooperative unable motion
artifact artefact weight height bmi colorectal hepatobiliary cardiothoracic plastic internal acute transplant
respiratory maxillofacial endocrine geriatric palliative spinal bariatric upper lower yes ok na nad naa
self present absent pending tbc tba tbd available unavailable away comfort compliance assistant associate practitioner
cyst cysts cells lesion lesions nodule nodules intensive labour labor delivery maternity osh voice recognition speech
dragon powerscribe society college association guidelines guideline criteria recommendations policy control
classification score scale index units pressure saturation saturations rate level volume density count total mean
second third fourth fifth gastro paeds peds ortho orthos neuro gynae obs haem onc micro renal resp medic medics
plastics physio outreach sister matron manager coordinator carer mum dad relatives everyone security police coroner
switchboard result results abnormality
""".split())
# Acronyms above that, spelt as a word ("Ed"), are a given name: "Patient: Ed Norton".
_ACRONYMS = frozenset("ed er icu gp pcp ent msk mdt inr dob mrn pa ap pd".split())
# Words of examination titles beyond the DICOM code words, none a family name ("Stone", "Rest" are): "CT Renal
# Stone Protocol", "CT Coronary Calcium Score" stay before an accession number.
_EXAM_TITLE_WORDS = frozenset("""
protocol calcium coronary myocardial renal screening survey routine guided biopsy drainage injection ablation staging
phase colonography urogram urography venogram arteriogram myelogram scintigraphy uptake dental facial follow-up
""".split())
# Ages over 89 in words: "ninety-two", "a hundred and one".
_OLD_AGE_WORDS = r"(?:ninety|(?:one|a) hundred)(?:[\s-]+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine|" \
                 r"ten))?"
_ORDINAL_WORDS = "|".join(
    ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
     "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth",
     "twentieth", "thirtieth", "thirty[- ]first"]
    + [f"twenty[- ]{unit}" for unit in ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
                                        "ninth")])


# Words that make the capitalised words before them a department's or a team's name ("Colorectal Surgery", "Stroke
# Team"), and specialties and services by their endings ("Hepatology", "Paediatrics", "Physiotherapy", "Endoscopy"):
# no part of a name.
_DEPARTMENTS = frozenset("""
team department dept unit clinic registrar registrars group surgery medicine radiology imaging oncology
""".split())
_SPECIALTY_ENDINGS = ("ology", "ologist", "ologists", "iatrics", "iatry", "surgery", "therapy", "scopy", "pharmacy")
# "Ward" and "Service" are family names too: after a given name and a cue they are one ("discussed with Sarah Ward").
_GROUPS = _DEPARTMENTS | {"service", "services", "ward"}
_MODALITY_WORDS = frozenset(MODALITIES)


def _department(word: str) -> bool:
    return word.lower() in _DEPARTMENTS or word.lower().endswith(_SPECIALTY_ENDINGS)


def _is_name(word: str, position: int) -> bool:
    """A word of a name: no common word nor a specialty, or an initial after the first word ("SMITH, JOHN A"), or
    an acronym spelt as a given name ("Ed")."""
    lower = word.lower()
    if lower.endswith(_SPECIALTY_ENDINGS):
        return False
    return (lower not in _NOT_NAMES or (position > 0 and len(word) == 1 and word.isupper())
            or (lower in _ACRONYMS and word[0].isupper() and word[1:].islower()))


def _names(match: re.Match, keep_label: bool = True, titled: bool = False, cue: bool = True) -> str:
    """[NAME] for the name words after a label (kept) or a title (replaced too), up to the first word that is no
    name; the match unchanged when its first word is none, or when a department's or a team's word follows ("Stroke
    Team"). After a `titled` match the first word is a name whatever it is ("Dr. Ward", "Mrs. Son"); after any
    `cue` a capitalised word after the name words is a family name even when it is a common word, when it is the
    second word ("Patient: John Head", "Radiologist: Anna Service", "discussed with Sarah Ward") or ends the phrase
    ("Dr. Nguyễn Văn An."), unless it names a department ("Colorectal Surgery")."""
    words = re.split(r"(\s+|,\s*|\^)", match.group("name"))
    names = words[::2]
    kept = int(titled)
    if cue and len(names) > 1 and "," in words[1] and names[0][:1].isupper() and not _department(names[0]) \
            and names[0].lower() not in _ROLE_WORDS and len(names[1]) > 1 and _is_name(names[1], 1):
        kept = 1  # "WARD, EMILY"
    while kept < len(names) and _is_name(names[kept], kept):
        kept += 1
    if cue and 0 < kept < len(names):
        word, before = names[kept], words[2 * kept - 1]
        after = match.string[match.end("name"):] if kept == len(names) - 1 else words[2 * kept + 1]
        if word[:1].isupper() and not _department(word) and word.lower() not in _ROLE_WORDS and "\n" not in before \
                and (kept == len(names) - 1 or "," in after) and not re.match(r"\s*:", after) \
                and (kept == 1 or (" " in before and re.match(r"[ \t]*(?:[.,;)\n]|$)", after))):
            kept += 1  # "Kevin Ward", "Smith, Ed", "Dr. Nguyễn Văn An.", "Priya Head, Consultant"
    department = kept < len(names) and "," not in words[2 * kept - 1] \
        and (names[kept].lower() in _GROUPS or _department(names[kept]))
    acronyms = all(name.lower() in _ACRONYMS for name in names[:kept])  # "Referred by Ed team": no name alone
    if not kept or (department and not titled) or (acronyms and not titled):
        return match.group(0)
    name_end = match.start("name") + len("".join(words[: 2 * kept - 1]))
    label = match.string[match.start(): match.start("name")] if keep_label else ""
    return label + "[NAME]" + match.string[name_end: match.end()]


def _both_names(match: re.Match) -> str:
    """[NAME] for the two words after a role when both are names ("physician Steven Park"): "nurse Practitioner
    Smith" and "radiologist Dr Smith" are left to the other rules."""
    words = match.group("name").split()
    if not all(_is_name(word, at) and not _department(word) for at, word in enumerate(words)):
        return match.group(0)
    return match.string[match.start(): match.start("name")] + "[NAME]"


# Labels of staff, after which one lower-case word is a name: "Attending: smith" ("Patient: anxious." stays).
_STAFF_LABEL = re.compile(rf"(?i:attending(?: physician)?|radiologist|resident|fellow|surgeon|referr(?:ing|er)|"
                          rf"ordering|requesting|(?:referring )?(?:physician|md)|consultant|cc|"
                          rf"(?:electronically )?signed(?: electronically)?|{_BY_LABELS})\s*:\s*")


# Endings of adjectives, verbs and nouns that are no family names: "Patient Anxious;", "Pt Dyspnoeic.", "Patient
# Cooperation was poor", "Attending: discussed."
_NOT_NAME_ENDINGS = ("ic", "ous", "ive", "tion", "sion", "ment", "ity", "ness", "ful", "less", "able", "ible", "ted",
                     "sed", "zed", "xed", "ked", "ped")


def _labelled(match: re.Match) -> str:
    """[NAME] after a label (`_names`); one lower-case word only after a staff's label, and no verb ("-ed")."""
    one = match.group("one")
    if one and (one.endswith(_NOT_NAME_ENDINGS + ("ed",))
                or not _STAFF_LABEL.fullmatch(match.string, match.start(), match.start("name"))):
        return match.group(0)
    return _names(match)


def _patient(match: re.Match) -> str:
    """[NAME] after "Patient" in running text (`_names` without a cue); one word only with no ending of an adjective."""
    name = match.group("name")
    if " " not in name and name.lower().endswith(_NOT_NAME_ENDINGS):
        return match.group(0)
    return _names(match, cue=False)


def _exam_word(word: str) -> bool:
    """A common word, a word of examination titles, or a DICOM code word (body part, view, modality) of at least
    two letters: "TEMPORAL BONES", "WHOLE BODY", "PANCREAS" and "Calcium Score" name an examination, not a person."""
    return (word.lower() in _NOT_NAMES or word.lower() in _EXAM_TITLE_WORDS
            or (len(word) > 1 and word.upper() in KNOWN_CODE_WORDS))


# A date of birth's label after a name, also past a number between ("HARRIS, Eleanor [PHONE] DOB": an NHS number
# has a phone number's form).
_DOB = r"(?i:dob|d\.o\.b\.?|date of birth)(?![a-z])"


def _names_before(match: re.Match, credential: bool = False) -> str:
    """[NAME] for the last two or more name words before an identifier or a role ("Chest PA John Smith [ID]",
    "SMITH, JOHN A MD", "Smith J (Consultant Radiologist)"), unless a modality word comes before them with words of
    an examination's title but no body part or view between: "CT Renal Stone Protocol [ID]" and "NM Myocardial
    Perfusion Rest Stress [ID]" are examinations' titles, "CT John Smith [ID]" is not. Before a `credential` one
    name word that is no initial is enough, the words are those of names after labels, and a given name makes a
    common word after it a family name ("Kevin Ward MD")."""
    words = re.split(r"(\s+|,\s*)", match.group("name"))
    names = words[::2]

    def named(word: str) -> bool:
        if re.fullmatch(rf"[{_UPPER}]\.?", word):
            return True
        return _is_name(word, 1) if credential else not _exam_word(word)

    first = len(names)
    while first and named(names[first - 1]):
        first -= 1
    if credential and first == len(names) > 1 and names[-1][:1].isupper() and not _department(names[-1]) \
            and named(names[-2]) and len(names[-2].rstrip(".")) > 1:
        first -= 1
        while first and named(names[first - 1]):
            first -= 1
    if len(names) - first < 2 and not (credential and first < len(names) and len(names[first].rstrip(".")) > 1):
        return match.group(0)
    modality = max((at for at in range(first) if names[at] in _MODALITY_WORDS), default=None)
    if not credential and modality is not None and any(_exam_word(name) for name in names[modality + 1: first]) \
            and not any(name.upper() in KNOWN_CODE_WORDS for name in names[modality + 1: first]):
        return match.group(0)  # "NM Myocardial Perfusion Rest Stress": a title's word between ("CT John Smith": none)
    name_start = match.start("name") + len("".join(words[: 2 * first]))
    return match.string[match.start(): name_start] + "[NAME]" + match.string[match.end("name"): match.end()]


# Upper-case titles without a full stop that are also words of examinations and notes ("MR BRAIN", "MRS BRAIN" for
# spectroscopy, "DOCTOR NOTIFIED"): titles then only before an upper-case name that is no such word.
_AMBIGUOUS_TITLES = frozenset({"DR", "MRS", "MISS", "PROF", "PROFESSOR", "DOCTOR"})
# Common words above that are family names and no examination's: "MRS WARD" is a name.
_FAMILY_WORDS = frozenset({"ward", "son"})


def _titled(match: re.Match) -> str:
    """Title and name -> [NAME]. Upper-case "MR" and a bare "DR" are also modality words ("MR Brain", "on MR. The",
    "DR Chest"): titles then only before an upper-case name ("DR SMITH"); "DR." is a title before any name."""
    title, first = match.group("title"), re.split(r"[\s^]", match.group("name"))[0]
    modality_word = title == "MR" or (title in _AMBIGUOUS_TITLES and not match.group("stop"))
    if modality_word and (not first.isupper() or (_exam_word(first) and first.lower() not in _FAMILY_WORDS)):
        return match.group(0)
    return _names(match, keep_label=False, titled=not modality_word or first.lower() in _FAMILY_WORDS)


def _titled_list(match: re.Match) -> str:
    """[NAME] for each name after a plural title ("Drs. Kim and Lee" -> "[NAME] and [NAME]")."""
    parts = re.split(r"(\s*,\s*|\s+(?:and|&)\s+)", match.group("names"))
    return "".join("[NAME]" if index % 2 == 0 else part for index, part in enumerate(parts))


# Name words that make an item of a list of copies: "cc: [NAME]; Sunita Rao, Oncology", and two or more in capitals
# ("CC: JOHN SMITH"; "cc: [NAME]; PACS" stays).
_COPIED_NAME = re.compile(rf"[ \t]*(?P<name>{_MIXED_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}{_MIXED_WORD}){{0,3}}|"
                          rf"{_NAME_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}{_NAME_WORD}){{1,3}})"
                          rf"(?=[ \t]*(?:[.)]|$))")
# Words and endings of chief complaints, which "CC:" also introduces ("CC: BACK PAIN", "CC: Renal Colic", "CC:
# Generalised Weakness"): an item with one is no name.
_COMPLAINT_WORDS = frozenset("""
pain pains ache colic cough fever fall falls injury trauma loss rash lump bleed bite sting burn burns wound ulcer
tremor palsy spasm cramp cramps sprain fracture accident assault overdose abnormal elevated positive negative labs
check symptoms down mass discharge throat vision collapse seizure seizures syncope anxiety depression hypertension
sweats sweat attempt eval tube tubes line lines drain catheter stent shunt port picc ng et ett ngt peg cvc pleurx
placement replacement displacement assessment impairment enlargement disturbance imbalance intolerance incontinence
problem problems breath bp sodium potassium glucose sugar ddimer d-dimer toe toes stool stools grounds period periods
muscle coin object high low short purple swollen
""".split())
# ("-ment", "-ance" and "-ence" are not endings here: Clement, Lance, Lawrence and Florence are names)
_COMPLAINT_ENDINGS = ("ing", "ness", "tion", "sion", "itis", "algia", "emia", "uria", "rrhea", "rrhoea", "pnea",
                      "pnoea", "osis", "ache", "ility", "ure", "lled", "ssed", "ised", "ized", "owed")


def _full_name(name: str) -> bool:
    """Two to four name words, none a common word, an examination's or a complaint's: "JOHN SMITH", not "BACK PAIN"
    nor "Abdominal Pain"."""
    words = name.split()
    return len(words) > 1 and all(
        _is_name(word, at) and not _exam_word(word) and word.lower() not in _COMPLAINT_WORDS
        and not word.lower().endswith(_COMPLAINT_ENDINGS) for at, word in enumerate(words))


def _copied(match: re.Match) -> str:
    """[NAME] for each item of a list of copies that is a name (`_names`); after "CC", also the chief complaint's
    label ("CC: Chest Pain"), in a list that holds a name already, or for a full name (`_full_name`)."""
    label, items = match.group("label"), re.split(r"([;,])", match.group("list"))
    complaint = "cc" not in label and "cop" not in label.lower() and "[NAME]" not in match.group("list")
    for at in range(0, len(items), 2):
        name = _COPIED_NAME.match(items[at])
        if name and (not complaint or _full_name(name.group("name"))):
            items[at] = _names(name) + items[at][name.end():]
    return label + "".join(items)


# Short words, units and doses that end a line after a date and are no typist's initials ("[DATE] and/or",
# "[DATE] pm", "[DATE] mg/dl", "[DATE] AP/LAT": code words in capitals too).
_NOT_INITIALS = frozenset("""
and or nor the etc ago am pm hr hrs min mins yrs wks mo mos via per neg pos nil done seen same none then now yet bid
tid qid qd prn po iv im sc od bd tds qds mg ml dl kg mm cm mmol rpt stat asap echo pacs
""".split())
# A line of dictation or typing, on which one group of initials after a date is a typist's ("T: [DATE] ab").
_DICTATION_LINE = re.compile(r"[ \t]*(?i:d|t|dd|dt|dict(?:ated)?|typed|transcribed|reported|signed|verified)\b")


def _typist(match: re.Match) -> str:
    """[NAME] for a typist's initials after a date that end the line: two groups ("jk/lm", "PJW:sh"), or one on a
    line of dictation or typing ("D: [DATE] T: [DATE] ab"); not short words, units or code words ("[DATE] CT")."""
    parts = re.split("[/:]", match.group("initials"))
    if any(part.lower() in _NOT_INITIALS or part.lower() in _NOT_NAMES or (part.isupper() and part in KNOWN_CODE_WORDS)
           for part in parts):
        return match.group(0)
    line = match.string.rfind("\n", 0, match.start()) + 1
    if len(parts) == 1 and not _DICTATION_LINE.match(match.string, line):
        return match.group(0)
    return match.group("gap") + "[NAME]"


_CLOCK = re.compile(r"(?:1[0-2]|0?[1-9]):[03]0")


# Services whose clinics are named after them ("Fracture Clinic"), not places that identify anyone.
_SERVICES = frozenset("""
fracture outpatient outpatients respiratory chest breast eye memory pain diabetes diabetic antenatal fertility sleep
heart cancer lung vascular stroke urology orthopaedic orthopedic rheumatology dermatology hand spine sports
""".split())


# Verbs that start a sentence before a clinic's name: "Recommend Fracture Clinic follow-up".
_NOT_PLACES = frozenset("recommend recommended advise advised arrange arranged attend attended book booked via".split())


def _facility(match: re.Match) -> str:
    """[HOSPITAL] for the place's name: the words before its kind ("Clinic", "Hospital", "Medical Center") back to a
    common word or a sentence's end; the match as it is when they are only services ("Fracture Clinic")."""
    head = match.string[match.start(): match.start("kind")]
    words = list(re.finditer(r"\S+", head))
    first = len(words)
    while first and (words[first - 1].group().lower() not in _NOT_NAMES | _NOT_PLACES
                     or (words[first - 1].group() in ("and", "&") and first > 1)) \
            and not re.search(r"\w{3}\.$", words[first - 1].group()):
        first -= 1
    while first < len(words) and words[first].group() in ("and", "&"):
        first += 1
    name = [word.group().lower() for word in words[first:]]
    if not name or (match.group("kind") == "Clinic" and all(word in _SERVICES for word in name)):
        return match.group(0)
    return head[: words[first].start()] + "[HOSPITAL]"


# Places inside a hospital that patients and images come from, and times of a study: "Transferred from Theatre",
# "Imaging performed at Rest" and "Seen in the Main ED" name no hospital.
_WARDS = frozenset("theatre theatres recovery resus resuscitation majors minors triage hdu itu ccu nicu picu sicu micu "
                   "pacu outside another home casualty pacs rest stress peak night main children's rehab "
                   "rehabilitation hospice floor ir".split())
# A place's name: capitalised words of letters ("seen at T12" stays), two joined by "and" next to a possessive
# ("Guy's and St Thomas'"; "at Mercy and MRI at" is two things).
_PLACE_PART = r"(?:St\.|Mt\.|[A-Z][A-Za-z'\u2019-]+)"
_PLACE_AND = r"(?:(?<=['\u2019]s)[ \t]+(?:and|&)|[ \t]+(?:and|&)(?=[ \t]+[A-Z]\w*['\u2019]s\b))"
_PLACE = rf"(?P<place>{_PLACE_PART}(?:{_PLACE_AND}?[ \t]+{_PLACE_PART}){{0,3}})"
# What comes from a place ("images brought from"), and what is done at one ("performed at", "the MDT at"), with up to
# two words of a treatment ("underwent coiling at", "receives chemotherapy at").
_FROM_PLACE = (r"transferred|transfer|referred|brought|sent|obtained|forwarded|study|studies|films?|images|imaging|"
               r"scans?|ct|mri?|radiographs?|x-?rays?|ultrasound")
_AT_PLACE = (r"transferred|transfer|referred|performed|done|imaged|scanned|treated|admitted|(?:was|were|been) seen|"
             r"study|studies|films?|imaging|scans?|team|mdt|(?:underwent|undergoing|had|has had|received|receives|"
             r"receiving|followed(?: up)?|managed|operated on)(?:[ \t]+(?-i:[a-z-]+)){0,2}")
# Times, positions and units that a treatment or a study is "at" or a patient transferred "to" ("repair at Birth",
# "performed at End Expiration", "ablation at Segment 7", "Transferred to High Dependency"): no place.
_NOT_AT_PLACE = frozenset("""
birth christmas easter baseline onset expiration expiry inspiration end bedside case site sites segment segments level
levels dependency cath lab labs admission discharge presentation diagnosis time age radiofrequency microwave
outpatients outpatient inpatient
""".split())
# A place followed by a number or a code is a position: "at Site A", "at Levels C5-C6".
_POSITION_AFTER = re.compile(r"[ \t]+(?:[A-Z]?\d|[A-Z](?![\w&]))")  # "A&E" is no code
# Anatomy after an eponym: "seen at Morison pouch" names no place.
_EPONYM_AFTER = re.compile(r"[ \t]+(?:pouch|cave|canal|duct|space|joint|line|lines|fossa|foramen|ligament|sign|disease|"
                           r"syndrome|fracture|lesion|level|protocol|criteria|classification)\b")


def _outside_place(match: re.Match) -> str:
    """[HOSPITAL] for the capitalised words after "Outside hospital:", "Transferred from" or a study from or at a
    place, unless one is a common word, a month or a weekday, a department or a place in a hospital ("Transferred
    from ICU", "from Coronary Care Unit", "CT from Dec", "to CVICU": a unit's acronym), a time, position or unit
    (`_NOT_AT_PLACE`), or an anatomical word, a number or a code follows ("at Morison pouch", "at Segment 7")."""
    if any(word.lower() in _NOT_NAMES or word.lower() in _WARDS or word.lower() in _NOT_AT_PLACE or _department(word)
           or re.fullmatch("[A-Z]{1,4}U", word) or re.fullmatch(rf"{_MONTHS}|{_WEEKDAY}", word, re.IGNORECASE)
           for word in match.group("place").split() if word not in ("and", "&")) \
            or _EPONYM_AFTER.match(match.string, match.end()) or _POSITION_AFTER.match(match.string, match.end()):
        return match.group(0)
    return match.group(1) + "[HOSPITAL]"


# Adverbs that start a clause before "informed" ("Previously informed", "Verbally notified"): no names.
_ADVERB_ENDINGS = ("ally", "ously", "ntly", "ately", "ctly", "ptly", "edly", "ssly")
# Words, also in the plural or possessive, of those told of results who are no one by name.
_NOT_TOLD_NAMES = _NOT_NAMES | _ROLE_WORDS | _WARDS | frozenset("""
referrer requester requestor midwife midwives porter guardian partner senior junior reg sho worker social tissue
viability safeguarding crew clerk
""".split())
# Roles by their endings: "Anaesthetist", "Pharmacists", "Paramedics", "Dietitian", "Obstetrician" ("Lindqvist" and
# "Brian" are names).
_ROLE_ENDING = re.compile(r"[tcprlnmg]ists?$|ics$|(?:ic|it)ians?$")


def _told_subject(match: re.Match) -> str:
    """[NAME] for the words before "was informed", "notified" and the like when each is a name: no common word, role
    (also by its ending, `_ROLE_ENDING`), service, place in a hospital or adverb
    ("Smith was informed", not "Surgery was informed", "Theatres aware", "Registrars notified", "I was informed",
    "Previously notified")."""
    words = match.group("name").split()
    for at, word in enumerate(words):
        lower = word.lower().removesuffix("'s")
        if (len(words) == 1 and len(word) < 2) or not _is_name(word, at) or _department(word) \
                or {lower, lower.removesuffix("s")} & _NOT_TOLD_NAMES \
                or _ROLE_ENDING.search(lower) or lower.endswith(_ADVERB_ENDINGS):
            return match.group(0)
    return "[NAME]"


# Reports that place findings on a clock face, in a breast ("4 cm FN": from the nipple) or a labrum.
_CLOCK_FACE = re.compile(r"breast|labr|o'clock|position|nipple|\bfn\b", re.IGNORECASE)


def _time(match: re.Match) -> str:
    """[TIME], except a clock-face position ("mass at 12:00", "labral tear from 12:00 to 3:00 position") and a
    series and image number in brackets ("Nodule (4:23)")."""
    text, start, end = match.string, match.start(), match.end()
    image = text[start - 1: start] == "(" and text[end: end + 1] == ")" \
        and not re.search(r"[ap]\.?m", match.group(0), re.IGNORECASE)
    clock = _CLOCK.fullmatch(match.group(0)) and _CLOCK_FACE.search(text)
    return match.group(0) if clock or image else "[TIME]"


def _age(match: re.Match) -> str:
    """Ages over 89 become "90+"."""
    age = int(match.group("age"))
    already = match.string.startswith("+", match.end("age"))  # "aged 90+ years" from an earlier rule
    return match.group(0) if age < 90 or already else match.group(0).replace(match.group("age"), "90+", 1)


# What may stand before an age written with the sex ("92M with cough", "a 92F"): the start of a line, an article or
# the patient, or a label that is no temperature's ("103F" is a fever, "14F" a catheter).
_AGE_SEX_BEFORE = re.compile(r"(?:^|\n|\b(?:an?|pt\.?|patient|this|indication|history|hx|hpi)\s*:?)[ \t]*$",
                             re.IGNORECASE)


def _age_sex(match: re.Match) -> str:
    """Ages over 89 with the sex ("92M", "92 F") become "90+", where the words before make it an age."""
    before = _AGE_SEX_BEFORE.search(match.string, max(0, match.start() - 20), match.start())
    return _age(match) if before else match.group(0)


# What follows "may" the verb, not the month: "THESE 2 MAY REPRESENT NODES", "the 2nd may be a cyst".
_MAY_VERB = (
    "be|not|also|well|have|represent|reflect|indicate|relate|require|need|help|suggest|mimic|account|contain|cause|"
    "explain|show|correspond|occur|develop|progress|persist|resolve|increase|decrease|improve|worsen|affect|involve|"
    "lead|result|appear|simulate|obscure|limit|warrant|benefit|exist|remain|enlarge|enhance|obstruct|compress|"
    "displace|contribute|arise|originate|communicate|extend|possibly|potentially|partly|partially|only|even|still|"
    "further|therefore|however|actually|just|simply|either"
)
_NOT_MAY_VERB = rf"(?!(?<=[Mm][Aa][Yy])\s+(?i:{_MAY_VERB})\b)"
# What ends an age after a name: "[NAME], 93.", "Robert Kowalski, 93 - fall"; not "Smith, 93.5 kg".
_AGE_END = r"\b(?![.,:/-]\d)(?=[ \t]*(?:[,;.)\n-]|$|y|Y))"
# A measurement after a number: "extension 12.5 mm" is no telephone extension.
_NO_UNIT = r"(?![.,]\d)(?!\s*(?:mm|cm|m|ml|mg|g|kg|%|cc|hu|mmhg|ms|sec|s|um|\u00b5m|\u03bcm|mgy|gy|mbq|kvp?|mas)\b)"
# What ends a place named "General" ("Mass General and", "Toronto General."): "Under General anaesthesia" goes on.
_PLACE_END = r"(?=[ \t]*(?:[.,;)\n]|$|(?:and|or|in|on|at|for|from|to|with|was|were|is|has|had|dated|since|by)\b))"
_TOWN_WORDS = rf"[{_UPPER}][{_LOWER}]+(?:[ -][{_UPPER}][{_LOWER}]+){{0,2}}"  # "Madrid", "São Paulo"
# A street's name, with its particles: "de Gracia", "de la Concorde", "de l'Église".
_ABROAD_WORD = rf"(?:(?:{_PARTICLE}|des|do|los|las)[ \t]+|[ld]['\u2019])*[{_UPPER}]{_NAME_LETTERS}*"
_ABROAD_NAME = rf"{_ABROAD_WORD}(?:[ \t]+{_ABROAD_WORD}){{0,3}}"
_ABROAD_ADDRESS = (rf"\b(?:{_ABROAD_STREET})[ \t]+{_ABROAD_NAME}[ \t]+\d{{1,4}}[a-zA-Z]?\b{_NO_UNIT}"
                   rf"|\b\d{{1,4}}(?:[ \t]?(?:bis|ter))?,?[ \t]+(?:{_FRENCH_STREET}|[Pp]lace(?=[ \t]+(?:d[eu]s?|la)\b))"
                   rf"[ \t]+{_ABROAD_NAME}")
# A character of a labelled number; a slash only before four digits or more ("AIIMS/2019/12345", "2022/45678"), so
# "Plan: 3/12 follow-up" stays.
_ID_CHAR = r"(?:[\w-]|/(?=\d{4}))"
# Counted things after a fraction: "seen on 2/3 images" is no date.
_COUNTED = r"(?:of|images?|slices?|series|sequences?|views?|sections?|levels?|cores?|samples?|occasions?|studies|" \
           r"exams?|scans?|films?|projections?|acquisitions?|frames?|planes?|passes|attempts?)"
_TLDS = r"com|org|net|edu|gov|mil|int|info|biz|io|health|example|uk|ca|au|nz|ie|de|fr|nl|be|ch|at|it|es|pt|se|no|dk|" \
        r"fi|jp|cn|in|us|eu"


_BODY_WORDS = "|".join(sorted(word.lower() for word in KNOWN_CODE_WORDS if len(word) > 2 and word != "AND"))
# Words before a day and month ("on 3/14", "since 3/14", "Admitted 12/25", "Tues 3/19", "Exam: 9/23", "Compared with
# 3/14", "Comparison: 3/14"), and a study with up to two body parts or "of" ("X-ray 14/3", "CT chest 2/14", "MRI
# lumbar spine 17.03", "the radiograph of 6/7", "report (12/03)"); "2/3 of the lobe", "from 2/3 to", "strength 4/5",
# "CT in 3/12" (months) and "X-ray shows 1/3 collapse" stay.
_DAY_MONTH_BEFORE = re.compile(
    rf"\b(?:on|dated?|since|until|till|admitted|discharged|compared (?:with|to)|(?:exam|date|dos|study|comparison)\s*:|"
    rf"{_WEEKDAY}|(?P<study>(?:ct|cta|mri?|mra|pet(?:-ct)?|us|ultrasound|x-?rays?|cxr|radiographs?|films?|scans?|"
    rf"stud(?:y|ies)|exam(?:ination)?s?|reports?|echo(?:cardiogram)?|mammograms?)(?:\s+(?:{_BODY_WORDS}|of)){{0,2}}))"
    rf",?(?:\s+|\s*\()$", re.IGNORECASE)


def _day_month(match: re.Match) -> str:
    """[DATE] for a day and month ("14/3", "3/14", "17.03") after a word of dates; after a study not a small
    fraction ("Films 2/2", "CT (1/2)")."""
    first, second = map(int, re.split(r"[/.]", match.group(0)))
    valid = 0 < first and 0 < second and ((first <= 31 and second <= 12) or (first <= 12 and second <= 31))
    before = valid and _DAY_MONTH_BEFORE.search(match.string, max(0, match.start() - 40), match.start())
    fraction = before and before.group("study") and first <= second <= 4
    return "[DATE]" if before and not fraction else match.group(0)


def _national_phone(match: re.Match) -> str:
    """[PHONE] for a national number with its trunk 0 ("0161 123 4567", "020 7946 0958"): ten or eleven digits."""
    return "[PHONE]" if 10 <= sum(c.isdigit() for c in match.group(0)) <= 11 else match.group(0)


def _grouped_number(match: re.Match) -> str:
    """[ID] for digits in three or four groups with nine digits or more, ten when spaces part them ("1234.56.782",
    "4532 281 746"); fewer, and round numbers, are counts or measures ("Matrix 256 256 128", "1200 1500 1800")."""
    groups = re.split(r"\D", match.group(0))
    enough = sum(map(len, groups)) >= (10 if match.group("sep") == " " else 9)
    return "[ID]" if enough and not all(group.endswith("0") for group in groups) else match.group(0)


_SUB = re.IGNORECASE
_CASED = 0
_RULES: tuple[tuple[re.Pattern, object], ...] = tuple(
    (re.compile(pattern, flags), placeholder)
    for pattern, placeholder, flags in (
        (r"\b(?:https?|ftp)://[^\s<>\"']*[^\s<>\"'.,;:!?)\]]|\bwww\.[\w-]+(?:\.[\w-]+)+(?:/[^\s<>\"']*[^\s<>\"'.,;:!?)\]])?"
         rf"|\b(?:[a-z0-9-]+\.)+(?:{_TLDS})(?::\d+)?[/?][^\s<>\"']*[^\s<>\"'.,;:!?)\]]", "[URL]", _SUB),
        # File paths, whose folders and names carry names and dates ("C:\Users\jsmith\SMITH_JOHN_20190314.dcm").
        (r"(?:\b[a-z]:\\|\\\\[\w.$-]+\\)[^\s<>\"'|*?]*[^\s<>\"'|*?.,;:!)\]]"
         r"|(?<![\w./:~-])~?/[a-z][\w.~-]*(?:/[\w.~-]*[\w~-])+/?", "[PATH]", _SUB),
        (r"\b[\w.+-]+@[\w-]+\.[\w.-]*\w\b", "[EMAIL]", _SUB),
        (r"\b(?:ssn|social security(?: number| no\.?| #)?|ss#)\s*[:#]?\s*\d{3}[- ]?\d{2}[- ]?\d{4}\b", "[SSN]", _SUB),
        (r"\b\d{3}-\d{2}-\d{4}\b", "[SSN]", _SUB),
        # Personal numbers that start with the date of birth (Swedish, Danish, Korean: "19850310-1234",
        # "800101-1234567"), before the date in them is read as one.
        (r"\b\d{6}(?:\d{2})?[-+]\d{4,7}\b", "[ID]", _SUB),
        (r"\b[0-2](?:\.\d+){4,}\b", "[ID]", _SUB),  # a DICOM UID: 1.2.840.113619.2.55.3...
        (r"\b0[1-9]([ .])\d{2}(?:\1\d{2}){3}\b(?![.,]\d)", "[PHONE]", _SUB),  # French: 01 23 45 67 89
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]", _SUB),
        (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "[DATE]", _SUB),
        (r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])T\d{4,6}(?:\.\d+)?(?:Z|[+-]\d{4})?\b", "[DATE]",
         _SUB),  # 20190314T143200
        (r"(?<![\d./])\d{4}([-/.])\d{1,2}\1\d{1,2}(?![\d/]|\.\d)", "[DATE]", _SUB),  # one separator: not "7.4/28.4"
        # Not levels and ribs: "T10-11-12", "10-11-12th ribs", "8-9-10 ribs", "Ribs 8-9-10".
        (rf"(?<![\d./a-z])(?<!ribs )(?<!rib )\d{{1,2}}([-/.])\d{{1,2}}\1\d{{2,4}}(?![\d/]|\.\d)(?!\s*ribs?\b)"
         rf"(?!{_ORDINAL}\b)", "[DATE]", _SUB),
        (r"(?<![\d./])\d{1,2}\.\s\d{1,2}\.\s(?:19|20)\d{2}\b", "[DATE]", _SUB),  # 14. 03. 2019
        (rf"\b\d{{1,2}}-{_MONTHS}-\d{{2,4}}\b", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}{_MONTHS}\d{{2}}(?:\d{{2}})?\b", "[DATE]", _SUB),  # "04Mar2021"
        (rf"\b\d{{1,2}}[\s-]+{_MONTHS_CAPITALISED}[\s-]+\d{{2}}\b(?![\s-]*(?:mm|cm|mg|ml|%))", "[DATE]", _CASED),
        (rf"\b(?:the\s+)?(?:{_ORDINAL_WORDS})\s+of\s+{_MONTHS}(?:,?\s+\d{{4}})?(?![a-z])", "[DATE]", _SUB),
        (rf"\b(?:the\s+)?(?:{_ORDINAL_WORDS})\s+{_MONTHS_CAPITALISED}(?:,?\s+\d{{4}})?(?![A-Za-z]){_NOT_MAY_VERB}",
         "[DATE]", _CASED),
        (rf"\b{_MONTHS}[\s-]+(?:the\s+)?\d{{1,2}}{_ORDINAL}?,?[\s-]+{_YEAR}", "[DATE]", _SUB),  # "Mar 22 '19"
        (rf"\b\d{{1,2}}{_ORDINAL}?\s+(?:of\s+)?{_MONTHS},?\s+{_YEAR}", "[DATE]", _SUB),
        (rf"\b(?:the\s+)?\d{{1,2}}{_ORDINAL}\s+(?:of\s+)?{_MONTHS}(?![a-z]){_NOT_MAY_VERB}", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}(?:\s+|-){_MONTHS_CAPITALISED}(?![A-Za-z])(?!\s*\d)(?!\s+(?:fractures?|ha?emoglobinuria)\b)"
         rf"{_NOT_MAY_VERB}", "[DATE]", _CASED),  # "12 Mar", "12-Mar"; not "March fracture"
        (rf"\b{_MONTHS}\s+(?:the\s+)?\d{{1,2}}{_ORDINAL}?\b(?!\s*(?:mm|cm|mg|ml|%))", "[DATE]", _SUB),
        (rf"\b{_MONTHS},?\s+{_YEAR}", "[DATE]", _SUB),
        (rf"\b\d{{1,2}}\.?\s+(?:de\s+)?{_FOREIGN_MONTHS}\s+(?:de\s+)?\d{{4}}\b", "[DATE]", _SUB),  # 3 mars 2019
        (r"\b(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}\b", "[DATE]", _SUB),
        (r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b", "[DATE]", _SUB),
        (rf"(?<=[\s:(])\d{{1,2}}(?:/\d{{1,2}}|\.\d{{2}})\b(?![/.]\d)(?!\s+{_COUNTED}\b){_NO_UNIT}", _day_month, _SUB),
        # A weekday with its date, and a day alone after "on" ("Monday, [DATE]", "Tuesday 5th", "on the 14th."): "on
        # the 3rd attempt" and "of the 5th rib" stay.
        (rf"\b(?:{_WEEKDAY},?\s+(?:the\s+)?(?:\d{{1,2}}{_ORDINAL}\b|\[DATE\])|((?:on|since|until)\s+)the\s+\d{{1,2}}"
         rf"{_ORDINAL}\b(?=[ \t]*(?:[.;)\n]|$)|\s+(?:at|was|is|showed|shows|recommended)\b))", r"\1[DATE]", _SUB),
        (r"(?:\b|(?<=T))(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*[ap]\.?m\.?)?(?=\W|$)", _time, _SUB),
        (r"\b\d{1,2}(?:[.:]\d{2})?\s*[ap]\.?m\.?(?=\W|$)", "[TIME]", _SUB),
        (r"\b(?:[01]?\d|2[0-3])h[0-5]\d\b", "[TIME]", _SUB),  # 14h05
        (r"\b(?:[01]\d|2[0-3])[0-5]\d\s*(?:hours|hrs|h)\b", "[TIME]", _SUB),
        (r"\b(time\s*:?\s*)(?:[01]\d|2[0-3])[0-5]\d\b(?!\s*(?:ms|s|sec|min)\b)", r"\1[TIME]", _SUB),  # Time 0932
        (r"\bP\.?\s?O\.?\s+Box\s+\d+\b", "[ADDRESS]", _SUB),
        # Capitalised words and street types in their case: "2/3 on prior CT", "Lines 2/2 in place" stay.
        (r"\b(?:(?i:unit|apt|flat|suite)\s*)?\d+[A-Za-z]?\s*/\s*\d+[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){1,3}(?:%s)\b"
         r"(?!\s+of\b)" % _STREET, "[ADDRESS]", _CASED),  # Unit 4/12 King St, 3/45 Smith Rd
        # Flats and houses by number and building ("Flat 3, Rose Court", "House No. 45, Sector 12", "Apartment 4B, 220
        # West 57th Street"): "Flat 2D images" stays.
        (rf"\b(?:Flat|FLAT|Apartment|APARTMENT|Apt\.?|APT\.?|House No\.?|HOUSE NO\.?)\s*#?\d+[A-Z]?,\s*"
         rf"(?:\d+[A-Z]?\s+)?{_STREET_WORD}(?:\s+{_STREET_WORD}){{0,3}}(?:\s+\d{{1,4}}\b)?"
         rf"(?:,\s*(?!(?:{_STATES})\b){_STREET_WORD}(?:\s+{_STREET_WORD}){{0,3}})?",
         "[ADDRESS]", _CASED),
        (rf"\b\d{{1,6}}[A-Z]?\s+(?:{_STREET_WORD}\s+){{1,4}}(?:{_STREET})\b(?!\s+of\b)\.?(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
         rf"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*[\w-]+)?", "[ADDRESS]", _CASED),  # not "3 Tesla Circle of"
        (rf"\b{_PLACE_WORD}(?:\s+{_PLACE_WORD}){{0,2}},\s*(?:{_STATES})\.?\s+\d{{5}}(?:-\d{{4}})?\b", "[ADDRESS]",
         _CASED),
        (rf"\b(?:{_STATES})\s+\d{{5}}(?:-\d{{4}})?\b", "[ADDRESS]", _CASED),
        # SW1A 1AA, M5V 2T6; not a TNM stage ("T2N1M0") nor a Montreal class of Crohn disease ("A2L3B2").
        (rf"{_TOWN}(?:\b[A-Z]{{1,2}}\d[A-Z\d]? ?\d[A-Z]{{2}}\b|\b(?!T\dN\dM\d|A\dL\dB\d)[A-Z]\d[A-Z] ?\d[A-Z]\d\b)",
         "[ADDRESS]", _CASED),
        (rf"{_TOWN}\b(?:NSW|VIC|QLD|TAS|ACT|NT|WA|SA)\s+\d{{4}}\b", "[ADDRESS]", _CASED),  # Newtown NSW 2042
        # Continental Europe and India: "..., 10117 Berlin", "..., 3015 GD Rotterdam", "..., Chennai 600006";
        # "Charitéplatz 1", "Kerkstraat 12"; and "Main Street 12".
        (rf"(?<=, )(?:\d{{5}}|\d{{4}} ?[A-Z]{{2}})[ ]+(?!Units?\b)[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}][{_LOWER}]+)?\b"
         rf"|(?<=, )[A-Z][a-z]+[ ]?-?[ ]?[1-8]\d{{5}}\b"
         rf"|\b[{_UPPER}][{_LOWER}]+(?:stra(?:ß|ss)e|str\.|platz|weg|allee|gasse|straat|laan|plein|gracht|kade)"
         rf"[ ]+\d{{1,4}}[a-z]?\b|\b(?:{_PLACE_WORD}[ ]+){{1,3}}(?:{_LONG_STREET})[ ]+\d{{1,4}}[a-z]?\b{_NO_UNIT}",
         "[ADDRESS]", _CASED),
        # "Via" also introduces a technique or a route ("Via Seldinger technique"): a street before its town only.
        (rf"(?:{_ABROAD_ADDRESS})(?(via)(?=,[ \t]*(?:\[ADDRESS\]|\d{{4,5}}[ \t]+[{_UPPER}]|"
         rf"{_TOWN_WORDS}[ \t]*(?:[.,;)\n]|$))))", "[ADDRESS]",
         _CASED),
        # To the end of the sentence, in any case; a street with no number in its case ("lives on Elm Street").
        (r"\b(?:(?:lives|living|resides|residing|staying)(?:\s+alone)?\s+(?:at|on|in)|(?:home |mailing |street )?"
         r"(?:address|domicilio|indirizzo|adresse|endere[çc]o|adres|direcci[óo]n|anschrift)\s*:)\s*(?:\d{1,6}\s[^.;\n]*|"
         rf"(?-i:(?:{_STREET_WORD}\s+){{1,3}}(?:{_STREET})\b|{_ABROAD_ADDRESS}))", "[ADDRESS]", _SUB),
        (r"\b(?:zip(?: code)?|postal code|postcode)\s*[:#]?\s*\d{5}(?:-\d{4})?\b"
         r"|\beircode\s*:?\s*[a-z]\d[\dw]\s?[a-z\d]{4}\b", "[ADDRESS]", _SUB),
        # After the addresses: "lives at 1427 Fjordview Avenue" is no time.
        (r"\b(at\s+)(?:[01]\d|2[0-3])\.?[0-5]\d\b(?!\s*(?:mm|cm|ml|mg|hu|%|ms|mas|kv|x\b))", r"\1[TIME]", _SUB),
        (rf"\b(?:{_PHONE_LABELS})\b\.?\s*(?:no\.?|number|#)?\s*[:#]?\s*\+?\(?\d[\d\s().-]{{2,}}\d\b{_NO_UNIT}",
         "[PHONE]", _SUB),
        (r"\b((?:call|at|on|ext\.?|extension|pager|phone|tel)\s+)x\d{3,5}\b", r"\1[PHONE]", _SUB),  # "call x4567"
        (rf"\b((?:page|paged|paging)\s+(?:at\s+|on\s+)?)\d{{4,5}}\b{_NO_UNIT}", r"\1[PHONE]", _SUB),  # a pager
        (r"\b(?:[Pp]h|PH|[Cc]all|CALL|[Cc]ontact)\.?\s*:?\s*(?:at\s+)?\d{3}[\s.-]\d{4}\b", "[PHONE]", _CASED),
        (r"\+\d{1,3}[\s.-]?\(?\d{1,4}\)?(?:[\s.-]?\d{2,4}){2,4}\b", "[PHONE]", _SUB),
        (r"(?:\+?1[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b(?:\s*(?:x|ext\.?)\s*\d{2,5}\b)?", "[PHONE]", _SUB),
        (r"\(0\d{1,4}\)\s?\d{3,4}[\s-]?\d{3,4}\b", "[PHONE]", _SUB),  # (02) 9387 1234
        (rf"(?<![\w.,/+-])0\d{{2,4}}(?:[ -]\d{{3,6}}){{1,2}}\b{_NO_UNIT}", _national_phone, _SUB),
        # A label as a whole word ("IDH1-mutant" stays); at least four characters ("Plan: 3 month", "Specimen: 18G
        # core" stay), no count of a unit ("Plan: 12-month", "Device: 10Fr pigtail"), in groups ("943 476 5919").
        (rf"\b(?:{_RECORD_LABELS})(?:(?<![a-z])|(?![a-z]))\s*#?\s*:?\s*(?!\d{{1,3}}-?[a-z]+\b(?!-?\d))"
         rf"(?:[A-Z]{{1,4}}[ ](?=\d{{4}}))?[A-Z]*(?:-|/(?=\d{{4}}))?\d(?:{_ID_CHAR}{{3,}}|{_ID_CHAR}*(?=[ ]\d{{3,}}))"
         rf"(?:[ ]\d{{3,}}[\w-]*)*"
         rf"(?:[ ]\d\b(?![ ]?(?:mm|cm|ml|mg|%)))?"
         rf"|\b(?:medicare|nhs|ihi|phn|s[ée]curit[ée] sociale)\b[^\d\n]{{0,12}}\d[\d ]{{7,}}\d", "[ID]",
         _SUB),
        (r"(?<!\w)#\s?\d{4,}\b", "[ID]", _SUB),
        (r"\b\d{6,}\b", "[ID]", _SUB),
        # Unlabelled national numbers in groups of digits ("4532 281 746", "2345 6789 0123", "1234.56.782"), after
        # the phone numbers.
        (rf"(?<![\d.,/-])\d{{3,4}}(?P<sep>[ .-])\d{{2,4}}(?:(?P=sep)\d{{2,4}}){{1,2}}(?![\d,/-]|\.\d){_NO_UNIT}",
         _grouped_number, _SUB),
        # A record number with a letter prefix, unlabelled, and a check letter or digit: "X12345678", "S1234567D",
        # "A123456(7)".
        (r"\b[A-Z]{1,3}\d{7,}[A-Z]?\b|\b[A-Z]{1,2}\d{6}\([\dA]\)", "[ID]", _CASED),
        (r"\b(?:(?!The\b|A\b|An\b|This\b|Our\b)[A-Z][\w'.-]*[ \t]+(?:(?:and|&)[ \t]+(?=[A-Z]\w*['\u2019]s\b))?){1,4}"
         r"(?P<kind>Hospitals?|Medical Cent(?:er|re)|Clinic|Infirmary|Health(?:care)?(?: Sciences?)? "
         r"(?:System|Cent(?:er|re))|Memorial|(?:NHS )?(?:Foundation )?Trust|Imaging Cent(?:er|re)|Medical Group|"
         rf"Medical Practice|General{_PLACE_END}|U?MC)\b(?![ \t]+(?:classification|criteria|score|staging|"
         r"Liver Cancer|joints?|fractures?|shaft|base|heads?|neck|bones?|dislocation|subluxation|injury)\b)"
         r"(?:[ \t]+of[ \t]+(?:the[ \t]+)?[A-Z][\w'-]*)?",
         _facility, _CASED),
        # The kind first, with particles ("Klinikum rechts der Isar", "UMC Utrecht"): "St." but not a full stop.
        (r"\b(?:H[oô]pital|Ospedale|Klinikum|Universit[äa]tsklinikum|Uniklinik(?:um)?|Krankenhaus|Spital|Clinique|"
         r"Cl[ií]nica|Ziekenhuis|UMC)(?:[ \t]+(?:(?:de|del|di|du|la|der|des|am|im|rechts|links)[ \t]+){0,2}"
         r"[A-Z](?:[a-z]?\.|[\w'-]*)){1,4}", "[HOSPITAL]", _CASED),
        # A place named without its kind after "Outside hospital:", "OSH:", "Transferred from" ("Mercy General"), a
        # study or images from or at it, care there and a patient seen there ("Prior imaging from Mount Sinai", "CT
        # performed at Mercy", "underwent coiling at Toronto Western", "was seen at St. Mary's").
        (rf"\b((?i:outside hospital|outside facility|referring hospital|osh)\s*:?\s+|"
         rf"(?i:(?:{_FROM_PLACE})\s+from|(?:{_AT_PLACE})\s+at|(?:transferred|transfer)\s+to)\s+){_PLACE}",
         _outside_place, _CASED),
        # A place before its emergency or radiology department ("Seen in the Johns Hopkins emergency department",
        # "Attended St Thomas' A&E"): "in the Paediatric ED" and "to Resus ED" stay.
        (rf"\b((?i:in|at|to|from|attended)[ \t]+(?:the[ \t]+)?){_PLACE}(?=[ \t]+(?:(?i:(?:emergency|radiology|imaging|"
         rf"x-?ray)[ \t]+(?:department|dept\b|room))|ED\b|ER\b|A&E))", _outside_place, _CASED),
        # The town after a street ("[ADDRESS], Madrid."), with its district or postcode ("[ADDRESS], Paris 75015"),
        # also after a hospital ("[HOSPITAL], Dublin 9"; "[HOSPITAL], Ward 9" stays).
        (rf"(?<=\], )(?:(?<=\[ADDRESS\], ){_TOWN_WORDS}(?:[ ]\d{{1,2}}|[ ]\d{{5}})?|(?<=\[HOSPITAL\], )"
         rf"(?!(?i:ward|level|floor|room|bed|bay|block|wing|building|unit)\b){_TOWN_WORDS}[ ](?:\d{{1,2}}|\d{{5}}))"
         r"(?=[ \t]*(?:[.,;)\n]|$))", "[ADDRESS]", _CASED),
        (r"\b(?P<age>\d{2,3})(?:\s+|-)(?:years?|yrs?)(?:\s+|-)old\b", _age, _SUB),
        (r"\b(?P<age>\d{2,3})\s*(?:yo|y/o|y\.o\.|yrs?\b|y\b|years?\b(?!\s+(?:ago|of(?!\s+age\b)|after|before|later|"
         r"since)))", _age, _SUB),
        # In years only: "Bone age: 132 months", "Gestational age 245 days" stay.
        (r"\b(?:age|aged)(?:\s*/\s*(?:sex|gender))?\s*[:=]?\s*(?P<age>\d{2,3})(?!\.?\d)"
         r"(?!\s*(?:months?|mos?|mths?|m/o|days?|d|weeks?|wks?|w|hours?|hrs?|h)\b)", _age, _SUB),
        (r"(?<![\d.])\b(?P<age>\d{2,3})\s?[MF]\b(?![/.]?\d)(?!\s*(?i:fever|febrile|temp|pyrexi|spike))", _age_sex,
         _CASED),  # "92M with cough"; not "a 103F fever"
        (rf"\b{_OLD_AGE_WORDS}(?=[\s-]+(?:years?|yrs?)[\s-]+(?:old|of age)\b)", "90+", _SUB),
        # After "aged", and after "is" or a sex where the phrase ends ("Pt is ninety-three and", "Woman,
        # ninety-eight,"): "The patient is ninety percent dependent" stays.
        (rf"\b((?:age|aged)\s*[:=]?\s*|(?:(?:patient|pt\.?|he|she|who)\s+(?:is|was)|(?:wo)?man|(?:fe)?male|"
         rf"gentleman|lady),?\s+(?={_OLD_AGE_WORDS}\b(?:[\s-]+(?:years?|yrs?)\b)?\s*(?:[.,;)\n]|$|and\b|with\b)))"
         rf"{_OLD_AGE_WORDS}\b", r"\g<1>90+", _SUB),
    )
) + (
    # Names are matched on their capital letters (case-sensitive) so "dr" in words and lower-case text stay.
    (re.compile(rf"(?<![\w^]){_NAME_LETTERS}+\^{_NAME_LETTERS}+(?:\^[{_UPPER}{_LOWER}'\u2019.-]*)*"), "[NAME]"),
    (re.compile(rf"\b(?:Drs|DRS|Dres|Doctors)\.?\s+(?P<names>{_NAME}(?:(?:\s*,\s*|\s+(?:and|&)\s+){_NAME})+)"),
     _titled_list),  # "Drs. Kim and Lee"
    (re.compile(rf"\b(?P<title>{_TITLES})(?P<stop>\.?)(?:\s*(?:{_TITLES}|med)\.)*(?:(?<=\.)\s*|\s+)(?P<name>{_NAME})"),
     _titled),  # "Dr. Smith", "Dr.Smith", "Prof. Dr. Hans Mueller"
    (re.compile(rf"\b(?:dr|doctor|prof)\.\s*(?P<name>{_LOWER_NAME})"), lambda m: _names(m, keep_label=False)),
    (re.compile(rf"\b(?i:{_NAME_LABELS}|{_BY_LABELS})\s*:\s*(?P<name>{_LISTED_NAME}|{_LOWER_LISTED_NAME}|"
                rf"(?P<one>[{_LOWER}][{_LOWER}'\u2019-]{{2,}})(?=[ \t]*(?:[.,;\n]|$)))"), _labelled),
    (re.compile(rf"\b(?i:{_BY_LABELS})\s+(?P<name>{_LISTED_NAME})"), _names),
    (re.compile(rf"(?<!\w)/s/\s*(?P<name>{_LISTED_NAME})"), _names),  # "/s/ Lisa Cuddy"
    (re.compile(rf"\b(?:{_TOLD})\s+(?:(?:Nurse|Sister|Charge Nurse|PA|NP|RN)\s+)?"
                rf"(?P<name>{_MIXED_WORD}(?:[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}{_MIXED_WORD}){{0,3}})"),
     _names),  # the name on one line: "Regards,\nNguyen Thi Lan"
    # Relatives by name ("her son Michael", "Wife, Mary Smith", "Daughter (Susan)"); "Sister Mary Joseph nodule"
    # stays. Staff by role in running text, with two name words ("ED physician Steven Park aware", "the surgical team,
    # Rachel Green,"), and whom images were reviewed with, by an initial ("reviewed with J. Smith"; "with Fleischner
    # criteria" stays).
    (re.compile(rf"\b(?:(?:[Ss]on|[Dd]aughter|[Ww]ife|[Hh]usband)|(?:mother|father|sister|brother|partner|carer|"
                rf"niece|nephew|grandson|granddaughter))(?:,\s*|\s+\(?)(?P<name>{_MIXED_WORD}(?:\s+{_MIXED_WORD})?)"),
     _names),
    (re.compile(rf"\b(?:(?:physician|registrar|consultant|radiologist|surgeon|nurse|resident|fellow|colleague|"
                rf"clinician|sonographer|radiographer|technologist|team),?|[Rr]eviewed with(?=\s+{_INITIAL})|"
                rf"[Pp]er(?=\s+\S+\s+\S+?\s*(?:[,;.)]|$)))\s+(?P<name>{_MIXED_WORD}\s+{_MIXED_WORD})"),
     _both_names),  # and "Per James Patterson, ..."
    # A name after another in a list: "Dr. Le and Hoang", "by Alan Turing and Grace Hopper".
    (re.compile(rf"(?<=\[NAME\])\s+(?:and|&)\s+(?P<name>{_MIXED_WORD}(?:\s+{_MIXED_WORD}){{0,2}})"), _names),
    # "Patient" in running text: two name words, or one before a verb ("Patient Smith was"); "Pt Rotated.",
    # "Patient Declined contrast" and "Patient Weight:" stay.
    (re.compile(rf"\b(?:[Pp]atient|Pt\.?)\s+(?P<name>{_MIXED_WORD}(?:\s+{_MIXED_WORD}){{1,3}}|{_MIXED_WORD}"
                rf"(?=\s+(?:is|was|has|had|presents|presented|underwent|denies|reports|complains|who|seen|tolerated|"
                rf"declined|refused|arrived|attended|consented|agreed|states|returned)\b|[.;,]?(?:\s*$|[.;,]\s)))"
                rf"(?!\s*:)"),
     _patient),
    (re.compile(rf"\b(?P<name>{_MIXED_WORD}(?:(?:,\s*|\s*){_MIXED_WORD}){{0,3}}),?\s+{_CREDENTIALS}(?![A-Za-z])"),
     lambda m: _names_before(m, credential=True)),  # "Watson, John MD", "Chris Taub, MBChB"
    (re.compile(rf"\b(?P<name>{_NAME_WORD}(?:(?:\s+|,\s*)(?:{_PARTICLE}\s+){{0,2}}{_NAME_WORD}){{1,5}})"
                rf"(?:,?\s+\(?(?=\[ID\]|\[SSN\]|(?:\[PHONE\][ \t]+)?{_DOB}|\d{{5}}\)|{_CREDENTIALS}(?![A-Za-z])|"
                rf"\((?:{_ROLES})\b)|[ \t]*\n\s*(?=(?:(?:Consultant|Staff|Attending|Senior)[ \t]+)?(?:{_ROLES})"
                rf"[ \t]*(?:\n|$)))"),
     _names_before),  # also a name on the line above a role ("Lisa Cuddy\nConsultant Radiologist")
    (re.compile(r"(?<=\[NAME\] \()\d{5}(?=\))"), "[ID]"),  # "Jane Doe (44829)"
    # A name and its age over 89 ("INDICATION: Robert Kowalski, 93", "referral of Tom Jones, 95.", "Jane Doe is a 90+
    # year old"): two or three name words, none a common word ("Heart Rate, 96." stays).
    (re.compile(rf"\b(?=[{_UPPER}])(?P<name>{_MIXED_WORD}(?:[ \t]+{_MIXED_WORD}){{1,2}})"
                rf"(?=,[ \t]*(?:90\+|(?:9\d|1[01]\d){_AGE_END})|[ \t]+(?:is|was)[ \t]+an?[ \t]+90\+)"), _both_names),
    (re.compile(rf"(?<=\[NAME\], )(?P<age>\d{{2,3}}){_AGE_END}"), _age),  # "[NAME], 93"
    # Copies to several people, on a line: "cc: Dr. Patel; Sunita Rao", "Copy to: [NAME], Emma Thompson".
    (re.compile(rf"(?P<label>(?<![^\n])[ \t]*(?i:cc)\b[ \t]*:?|\b(?i:cc|cop(?:y|ies)(?: sent)? to)[ \t]*:)"
                rf"(?P<list>(?:[^\n.]|(?<=\b[{_UPPER}])\.)+)"), _copied),
    # A time after a date or a name: "Dictated: [DATE] 0930", "D/W [NAME] 1400".
    (re.compile(rf"(?<=\[(?:NAME|DATE)\])(,?[ \t]+)(?:[01]\d|2[0-3])[0-5]\d\b{_NO_UNIT}"), r"\1[TIME]"),
    # Typists' initials that end the line after a date, a time or a job number: "[DATE] jk/lm", "[ID] /tlh",
    # "Typed: [DATE] (mjk)".
    (re.compile(r"(?:(?<=\[(?:DATE|TIME)\])|(?<=\[ID\]))(?P<gap>[ \t]+/?\(?)"
                r"(?P<initials>[A-Za-z]{2,4}(?:[/:][A-Za-z]{2,4})?)(?=\)?[ \t]*(?:\n|$))"), _typist),
    # Whom results were told to, with no title, at the start of a clause: "Smith was informed", "Jackson notified
    # at [TIME]" ("Results notified to the team" is the other way round).
    (re.compile(rf"(?:^|(?<=[.;:!?][ \t])|(?<=\n))(?P<name>(?:{_MIXED_WORD}[ \t]+)?{_MIXED_WORD})(?=[ \t]+"
                r"(?:(?:was|has been|had been)[ \t]+)?(?:informed|notified|made aware|aware|contacted|paged|updated|"
                r"acknowledged)\b(?![ \t]+to\b))"), _told_subject),
)
# Dashes that read as hyphens ("2019–03–14", "617‑555‑0199", "123−45−6789"): the rules see a hyphen in their place.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d", "-"))
# Characters with no width, which would split a word ("Sm\u200bith"): removed.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"))


def _sub_aligned(pattern: re.Pattern, placeholder: object, text: str, plain: str) -> tuple[str, str]:
    """`pattern` matched on `plain` (`text` with plain hyphens, character for character) and replaced in both: what
    no rule changes keeps the dashes of `text`."""
    pieces, plain_pieces, end = [], [], 0
    for match in pattern.finditer(plain):
        new = placeholder(match) if callable(placeholder) else match.expand(placeholder)
        pieces += [text[end: match.start()], text[match.start(): match.end()] if new == match.group(0) else new]
        plain_pieces += [plain[end: match.start()], new]
        end = match.end()
    return "".join(pieces) + text[end:], "".join(plain_pieces) + plain[end:]


def scrub_text(text: str) -> str:
    """`text` with the identifiers above replaced by placeholders; clinical words and numbers as they were."""
    if not text:
        return ""
    text = text.translate(_INVISIBLE)
    plain = text.translate(_DASHES)
    if plain == text:
        for pattern, placeholder in _RULES:
            text = pattern.sub(placeholder, text)
        return text
    for pattern, placeholder in _RULES:
        text, plain = _sub_aligned(pattern, placeholder, text, plain)
    return text
