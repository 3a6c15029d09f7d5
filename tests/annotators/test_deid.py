"""De-identification after HIPAA Safe Harbor's identifiers in text; clinical content stays word for word."""
import json
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from annotators.deid import scrub_text

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
SETS = Path(__file__).resolve().parents[1] / "data" / "deid"



def _assert_scrubbed(text: str, secrets: list[str], kept: str) -> None:
    """None of `secrets` is left in `text` scrubbed, and `kept` (the text with its placeholders) is there."""
    scrubbed = scrub_text(text)
    for secret in secrets:
        assert secret not in scrubbed, (secret, scrubbed)
    assert kept in scrubbed, scrubbed


def test_identifiers_are_replaced():
    text = ("Seen by Dr. Alan Reed on 03/14/2021 at 10:45 AM, MRN: 4482913, call 555-123-4567 or "
            "a.reed@example.org. Prior study March 3, 2019 and 2020-01-02.")
    scrubbed = scrub_text(text)
    for secret in ("Alan", "Reed", "03/14/2021", "10:45", "4482913", "555-123-4567", "example.org", "2019", "2020"):
        assert secret not in scrubbed
    assert "[NAME]" in scrubbed and "[DATE]" in scrubbed and "[ID]" in scrubbed and "[PHONE]" in scrubbed


def test_more_identifier_forms_are_replaced():
    text = ("EXAMINATION: CHEST (PA AND LAT) on 3/14 at 0830 hours. Discussed with DR. SMITH and Mrs O'Neil "
            "by telephone (617) 555-0199, pager #4412. Accession No: A12345678, Unit No. 44829. "
            "Compared with the study of 14th of March 2019 and Jun 3.")
    scrubbed = scrub_text(text)
    for secret in ("3/14", "0830", "SMITH", "O'Neil", "555-0199", "4412", "A12345678", "44829", "2019", "Jun 3"):
        assert secret not in scrubbed, secret
    assert "[TIME]" in scrubbed and "[PHONE]" in scrubbed and scrubbed.count("[NAME]") == 2


@pytest.mark.parametrize("text,secrets,placeholder", [
    ("SSN 123-45-6789.", ["123-45-6789"], "[SSN]"),
    ("Social security number: 123 45 6789.", ["6789"], "[SSN]"),
    ("SSN:123456789 on file.", ["123456789"], "[SSN]"),
    ("Patient: John Smith", ["John", "Smith"], "Patient: [NAME]"),
    ("PATIENT: SMITH^JOHN, 45", ["SMITH", "JOHN"], "PATIENT: [NAME], 45"),
    ("Patient Name: Smith, John. CXR PA.", ["Smith", "John"], "Patient Name: [NAME]."),
    ("Patient John Smith presented with cough.", ["John", "Smith"], "Patient [NAME] presented"),
    ("Pt: Jane Q. Doe, seen today.", ["Jane", "Doe"], "Pt: [NAME]"),
    ("Pt. Jane Doe was seen.", ["Jane", "Doe"], "Pt. [NAME] was seen"),
    ("Discussed with Mr. Brown and Ms Jones; Miss Daisy; Prof. Ito.", ["Brown", "Jones", "Daisy", "Ito"], "[NAME]"),
    ("Electronically signed by: Alan Reed", ["Alan", "Reed"], "signed by: [NAME]"),
    ("Read by John Smith, MD.", ["John", "Smith"], "[NAME], MD"),
    ("Contact a.reed@example.org.", ["a.reed", "example.org"], "[EMAIL]"),
    ("See https://pacs.example-hospital.org/study?id=991 and www.example.org/x.", ["example"], "[URL]"),
    ("Fax: (617) 555-0100; tel +44 20 7946 0958; cell 617.555.0133.", ["555", "7946", "0958"], "[PHONE]"),
    ("Account No: 12345-67, acct #: A99881, health plan number: HP-552211.", ["12345", "A99881", "552211"], "[ID]"),
    ("Accession 7741203, MRN#12345, order #99812, device serial no. SN-88812.", ["7741203", "12345", "99812",
                                                                                  "88812"], "[ID]"),
    ("Lives at 123 Main Street, Apt 4B, Boston, MA 02115.", ["123 Main", "Boston", "02115"], "[ADDRESS]"),
    ("Mail to 1600 Pennsylvania Ave NW, Washington, DC 20500 or PO Box 4521.", ["Pennsylvania", "20500", "4521"],
     "[ADDRESS]"),
    ("Zip code: 02139.", ["02139"], "[ADDRESS]"),
    ("Host 192.168.10.20 sent it.", ["192.168"], "[IP]"),
    ("Studies of 03-May-2019, 2019.05.03, 05/03/19, 20190503 and 2019-05-03T10:45:00Z.", ["2019", "05/03", "10:45"],
     "[DATE]"),
    ("Seen on the 3rd of May 2019, on the 3rd of May, on 3rd May, on 3 May, on May 3rd, in 05/2019.",
     ["May", "3rd", "05/2019"], "[DATE]"),
    ("Examined at 10:45 AM, again at 0830 hours and at 7 pm.", ["10:45", "0830", "7 pm"], "[TIME]"),
    # names beyond ASCII, particles, chained and lower-case titles, initials, and whom results went to
    ("Seen by Dr. Zoë Müller, Dr. Łukasz Nowak and Patient José García.", ["Zoë", "Müller", "Łukasz", "Nowak", "José",
                                                                         "García"], "[NAME]"),
    ("Reviewed with Dr. van der Berg, Dr. De la Cruz and Prof. Dr. Hans Mueller.", ["Berg", "Cruz", "Hans", "Mueller"],
     "[NAME]"),
    ("Read by dr. john smith; cc Dr.Smith.", ["john", "smith", "Smith"], "[NAME]"),
    ("Smith J, MD. Signed: J Smith. Attending physician: jane doe.", ["Smith", "J Smith", "jane", "doe"], "[NAME]"),
    ("Results called to Sarah Connor at 5 pm and discussed with John Reese.", ["Sarah", "Connor", "Reese"],
     "called to [NAME]"),
    ("MR#: 12345.", ["12345"], "[ID]"),
    ("She lives at 77 elm st, boston ma 02115. No effusion.", ["77 elm", "boston", "02115"], "[ADDRESS]. No effusion"),
    ("Call x4567 or ph 555 1234.", ["4567", "555 1234"], "[PHONE]"),
    ("Studies of the fourth of March, 2021, March the 4th, 2021, 04Mar2021 and 12 Mar 21.", ["fourth", "4th", "04Mar",
                                                                                          "Mar 21", "2021"], "[DATE]"),
    ("Transferred from Saint Phinneas General Hospital.", ["Phinneas"], "[HOSPITAL]"),
    # report headers: DICOM person names, labels with and without a colon, names before identifiers
    ("DOE^JANE^M was seen.", ["DOE", "JANE"], "[NAME] was seen"),
    ("Acc#: A1234567. Hosp No: RX12345.", ["A1234567", "RX12345"], "[ID]. [ID]."),
    ("John Smith MRN 1234567, chest PA. Chest PA Jane Roe DOB 01/02/1960.", ["John", "Smith", "Jane", "Roe"],
     "[NAME] [ID], chest PA. Chest PA [NAME] DOB [DATE]"),
    ("Referring: Jones. Reported by Smith. Dictated by JANE DOE MD.", ["Jones", "Smith", "JANE", "DOE"],
     "Dictated by [NAME] MD"),
    ("Electronically signed by: Sarah O'Neil, M.D. on 3/4/2019", ["Sarah", "O'Neil", "3/4"], "[NAME], M.D. on [DATE]"),
    ("Report for patient Maria Garcia-Lopez, 54 years.", ["Maria", "Garcia", "Lopez"], "patient [NAME], 54"),
    ("Ref. Phys.: Smith. Ordering provider: Chen. Tech: JS. Requested by: Jones, Mary.", ["Smith", "Chen", "JS",
                                                                                          "Jones", "Mary"], "[NAME]"),
    ("Radiologist: SMITH, JOHN A. Approved by: Lee K", ["SMITH", "JOHN A", "Lee"],
     "Radiologist: [NAME] Approved by: [NAME]"),
    ("Surname: Nakamura Forename: Yuki. First name: Ana Last name: Silva.", ["Nakamura", "Yuki", "Ana", "Silva"],
     "Surname: [NAME] Forename: [NAME]. First name: [NAME] Last name: [NAME]."),
    ("Seen by Dr. Son and Mrs. Ward.", ["Son", "Ward"], "[NAME] and [NAME]"),
    # formats of other countries and of signature blocks
    ("Medicare 2123 45670 1. NHS No: 943 476 5919. Hospital No: RJ1 234567. DVA file no. NX123456.",
     ["2123", "45670", "5919", "RJ1", "234567", "NX123456"], "[ID]"),
    ("Postcode SW1A 1AA; Toronto ON M5V 2T6; Newtown NSW 2042; lives at Unit 4/12 King St.",
     ["SW1A", "M5V", "2042", "King St"], "[ADDRESS]"),
    ("Mob: 07700 900123, bleep 2231.", ["900123", "2231"], "[PHONE]"),
    ("Seen at 3.15pm, again at 0215 and at 09.30; scanned 14h05.", ["3.15", "0215", "09.30", "14h05"], "[TIME]"),
    ("From Leeds Teaching Hospitals NHS Trust and Hôpital Pitié-Salpêtrière.", ["Leeds", "Pitié"], "[HOSPITAL]"),
    ("SMITH, JOHN A MD\nStaff Radiologist. Smith J (Consultant Radiologist). PATEL Anil (Consultant).",
     ["SMITH", "JOHN", "Smith J", "PATEL", "Anil"], "[NAME] MD"),
    ("Study Instance UID: 1.2.840.113619.2.55.3.604688119", ["113619", "604688119"], "[ID]"),
    ("Befund vom 04.03.2021, Dr. med. Anna Schmidt", ["Anna", "Schmidt", "04.03"], "[NAME]"),
    ("Name: van der Berg, Pieter.", ["van", "Berg", "Pieter"], "Name: [NAME]."),
])
def test_each_kind_of_identifier_is_replaced(text, secrets, placeholder):
    _assert_scrubbed(text, secrets, placeholder)


def test_exam_titles_before_an_identifier_stay():
    assert scrub_text("CT TEMPORAL BONES Acc# 1234567") == "CT TEMPORAL BONES [ID]"
    assert scrub_text("EXAM: NM BONE SCAN WHOLE BODY  ACC: 77441122") == "EXAM: NM BONE SCAN WHOLE BODY  [ID]"


@pytest.mark.parametrize("text,expected", [
    ("A 92-year-old man.", "A 90+-year-old man."),
    ("A 95 yo woman; age: 91; aged 93; 101 years old.", "A 90+ yo woman; age: 90+; aged 90+; 90+ years old."),
    ("A 45-year-old man, aged 89.", "A 45-year-old man, aged 89."),
    ("Symptoms began 95 years ago.", "Symptoms began 95 years ago."),
    ("Aged 92 years; a ninety-five year old; one hundred and two years old.",
     "Aged 90+ years; a 90+ year old; 90+ years old."),
    ("92 years of age. Age/Sex: 92/F. Age: 092Y. Age 92y. Age: ninety-two.",
     "90+ years of age. Age/Sex: 90+/F. Age: 90+Y. Age 90+y. Age: 90+."),
    ("92M with cough. A 93F with fever. Age: 94.", "90+M with cough. A 90+F with fever. Age: 90+."),
    ("Pt is ninety-three and lives alone. Patient is ninety-six, frail. Woman, ninety-eight, with hip pain.",
     "Pt is 90+ and lives alone. Patient is 90+, frail. Woman, 90+, with hip pain."),
    ("Fever 103F with chills; a 103F fever; a 14F catheter; 20 years of smoking.",
     "Fever 103F with chills; a 103F fever; a 14F catheter; 20 years of smoking."),
])
def test_ages_over_89_become_90_plus(text, expected):
    assert scrub_text(text) == expected


@pytest.mark.parametrize("text", [
    "Compared to ___ study. 1.5 cm nodule in the RUL. 3 ms echo time. No pneumothorax.",
    "MS lesions in the periventricular white matter. Dr. ___ was notified. Nodule 12 mm, increased from 2/3 to the "
    "whole lobe; ejection fraction 55%; T2 and T11 vertebrae; case 4: (A).",
    "T2 hyperintense lesion at C5-C6, 5 mm, grade 3, 55% stenosis; L4-L5 disc bulge; 2 cm cyst; 1.5 x 2.0 x 3 cm.",
    "T2-weighted and FLAIR images; 3 T magnet; BI-RADS 4; 3/5 strength; Grade 2 chondromalacia; Stage IV.",
    "MR Brain without contrast. MR BRAIN W/WO. MR Angiography of the Circle of Willis. MR MIP reconstruction.",
    "DR Chest PA and lateral. CT Chest with contrast. Findings demonstrated on MR.  The lesion enhances.",
    "Irregular mass at 12:00 in the left breast, 4 cm from the nipple.",
    "ABG: 7.399/28.4/73/17.5/95. H/H: 13.1/39. pH 7.40, pCO2 40, WBC 12.5. PT 12.5 sec, INR 1.1.",
    "Neoplasm Name: Pilocytic Astrocytoma. Patient: Male, 65. Patient is a 45 year old.",
    "Lesions 3 may represent metastases; compared with 2 prior CT studies. In 2019 a CT was done.",
    "Posterior fossa, 4th ventricle, C1-C2, T12-L1, S1 nerve root; 1:2 ratio; 100 mg; 250 HU.",
    "Fever 103 F, 103F; a 14F chest tube; pH 7.35; MR N/A. The first may represent a cyst. Discussed with the ED team.",
    "Giant cells (H&E, x400); matrix 512x512; magnification x1000.",
    "WBC 10^9/L, platelets 150 x10^9/L, area 3 cm^2. PT: INR 1.1. DR CHEST PA; MR BRAIN.",
    "Pain as reported by the patient; performed by Ultrasound; reviewed by Radiology and Neuroradiology; ordered by "
    "ED; caused by Streptococcus Pneumoniae. Reported by Technologist. Dictated by: ___.",
    "Plan: 3 month follow-up CT. Device: 6 Fr Angio-Seal. Specimen: 18G core x 3. MR PANCREAS W/WO CONTRAST.",
    "Attending: Agree with resident interpretation. Findings discussed with Stroke Team. Suggest Fracture Clinic.",
    "Anterosuperior labral tear from 12:00 to 3:00 position. Acute fractures of the left 8-9-10 ribs.",
    "Pt Known case of Crohn disease.",
])
def test_clinical_text_stays_as_it_is(text):
    assert scrub_text(text) == text


# What a probe found: clinical values that rules read as identifiers. Each stays word for word.
@pytest.mark.parametrize("text", [
    "Stage T2N1M0. T3N2M1 disease.",  # TNM stages, not Canadian postcodes
    "Stenosis improved from 2/3 on prior CT. Grade 2/4 on CT. Lines 2/2 in place. MRA 3 Tesla Circle of Willis.",
    "IDH1-mutant glioma; IDH2-mutant. Extracapsular extension 12.5 mm.",
    "Bone age: 132 months. Age: 91 days. Gestational age 245 days.",
    "Plan: 12-month follow-up CT. Device: 10Fr pigtail. Order: 2-view chest. Specimen: 20-gauge core.",
    "The 2nd may represent a cyst. THESE 2 MAY REPRESENT NODES.",
    "ULTRASOUND MAY MISS SMALL STONES. MRS BRAIN. MRS NAA/Cr ratio reduced. pT2 N0 Mx. Stage II. DOCTOR NOTIFIED.",
    "Patient: yes. Tech: na. Age: 92.5 kg. MR BRAIN. MRS NAA peak reduced.",
    "Pt Rotated. Patient Declined contrast. Patient: claustrophobic, sedated. Patient Weight: 70 kg",
    "Tech: motion artifact present.",
    "CT Renal Stone Protocol", "CT Coronary Calcium Score", "NM Myocardial Perfusion Rest Stress",
    "Nodule (4:23). Seen on 2/3 images. Right 10-11-12th ribs fractured. Fusion T10-11-12.",
    "Discussed with Colorectal Surgery. Referred by Hepatology. Referred by Ed team. Lesions DO NOT enhance.",
    "C5\u2013C6 disc bulge, 5\u20137 mm, BP 120\u221280.",  # dashes other than the hyphen stay as they were
    "See page 12. Echo time 1200 ms. L4S1 disc. Stage T2N1M0. Grade 2 of 4.",
])
def test_clinical_values_the_probe_found_stay(text):
    assert scrub_text(text) == text


def test_exam_titles_before_an_accession_number_stay():
    assert scrub_text("CT Renal Stone Protocol Accession: 1234567") == "CT Renal Stone Protocol [ID]"
    assert scrub_text("NM Myocardial Perfusion Rest Stress Acc 12345678") == "NM Myocardial Perfusion Rest Stress [ID]"
    assert scrub_text("CT John Smith MRN 1234567") == "CT [NAME] [ID]"  # no title's word: a name
    assert scrub_text("CT Chest John Smith MRN 1234567") == "CT Chest [NAME] [ID]"


# Leaks a probe found: common words as family names after a cue, "Last, First MD", capitals inside names, dashes
# and invisible characters, credentials, cues, labelled ids, phones, URLs and file paths, facilities.
@pytest.mark.parametrize("text,secrets,expected", [
    ("Patient: Kevin Ward", ["Kevin", "Ward"], "Patient: [NAME]"),
    ("Signed by: Kevin Ward", ["Kevin", "Ward"], "Signed by: [NAME]"),
    ("Discussed with Sarah Ward. Discussed with Sarah Ward at 3 pm.", ["Sarah", "Ward"],
     "Discussed with [NAME]. Discussed with [NAME] at [TIME]"),
    ("Radiologist: Anna Service", ["Anna", "Service"], "Radiologist: [NAME]"),
    ("Patient: Ed Norton. Patient: John Head. Patient: Smith, Ed.", ["Ed", "Norton", "John", "Head", "Smith"],
     "Patient: [NAME]. Patient: [NAME]. Patient: [NAME]."),
    ("Watson, John MD. Watson, John, MD. Watson, J. MD", ["Watson", "John", "J."],
     "[NAME] MD. [NAME], MD. [NAME] MD"),
    ("Discussed with Ronald McDonald. Discussed with Sarah MacLeod. Discussed with DeShawn Williams.",
     ["Ronald", "Donald", "Leod", "Shawn"], "Discussed with [NAME]. Discussed with [NAME]. Discussed with [NAME]."),
    ("Patient Jean-Luc DuBois. Dr. Nguy\u1ec5n V\u0103n An.", ["Jean", "Bois", "Nguy", "V\u0103n", "An."],
     "Patient [NAME]. [NAME]."),
    ("Compared with 2019\u201303\u201314 and 14\u201303\u20132019 and 2019\u201103\u201114 and 14. 03. 2019.",
     ["2019", "03"], "Compared with [DATE] and [DATE] and [DATE] and [DATE]."),
    ("Call 617\u2011555\u20110199. SSN 123\u201345\u20136789.", ["555", "6789"], "Call [PHONE]. [SSN]."),
    ("Discussed with Dr. Sm\u200bith.", ["Sm", "\u200b"], "Discussed with [NAME]."),
    ("Chris Taub DO. Chris Taub, MBChB. Chris Taub, FRANZCR. Chris Taub, RDMS.", ["Chris", "Taub"],
     "[NAME] DO. [NAME], MBChB. [NAME], FRANZCR. [NAME], RDMS."),
    ("Signed electronically by John Watson on 12/05/2020", ["John", "Watson"], "by [NAME] on [DATE]"),
    ("cc: Angela Whitmore, Oncology", ["Angela", "Whitmore"], "cc: [NAME], Oncology"),
    ("Referrer: J Bloggs. Professor Stephen Hawking reviewed.", ["Bloggs", "Stephen", "Hawking"],
     "Referrer: [NAME]. [NAME] reviewed."),
    ("Mother: Martha Jones. Emergency contact: Martha Jones.", ["Martha", "Jones"],
     "Mother: [NAME]. Emergency contact: [NAME]."),
    ("/s/ Lisa Cuddy", ["Lisa", "Cuddy"], "/s/ [NAME]"),
    ("Thanks,\nLisa Cuddy\nConsultant Radiologist", ["Lisa", "Cuddy"], "Thanks,\n[NAME]\nConsultant Radiologist"),
    ("Discussed with Drs. Kim and Lee.", ["Kim", "Lee"], "Discussed with [NAME] and [NAME]."),
    ("FIN: AB1234567. Episode: E0012345678. Acc No. 98765. Ref no: RX98765. S/N: AB12345.",
     ["1234567", "12345678", "98765", "12345"], "[ID]. [ID]. [ID]. [ID]. [ID]."),
    ("call 0161 123 4567; T\u00e9l : 01 23 45 67 89", ["0161", "4567", "67 89"], "call [PHONE]; T\u00e9l : [PHONE]"),
    ("Images at pacs.hospital.org/viewer?patient=JohnSmith.", ["hospital", "JohnSmith"], "Images at [URL]."),
    ("File C:\\Users\\jsmith\\Desktop\\SMITH_JOHN_20190314.dcm and /data/patients/John_Smith_1950-03-14/ct.dcm.",
     ["jsmith", "SMITH", "John", "1950"], "File [PATH] and [PATH]."),
    ("Compared with 20190314T143200.", ["2019", "1432"], "Compared with [DATE]."),
    ("Seen at Mercy Medical Center and Seattle Imaging Center.", ["Mercy", "Seattle"],
     "Seen at [HOSPITAL] and [HOSPITAL]."),
    ("Ref X12345678. Paged at 41234. Time 0932. Lives near 221B Baker Street, SW1A1AA.",
     ["12345678", "41234", "0932", "221B", "Baker", "SW1A"],
     "Ref [ID]. Paged at [PHONE]. Time [TIME]. Lives near [ADDRESS], [ADDRESS]."),
])
def test_leaks_the_probe_found_are_closed(text, secrets, expected):
    _assert_scrubbed(text, secrets, expected)


MEASURES = re.compile(r"\b\d+(?:\.\d+)?\s?(?:mm|cm|ml|mg|%|HU)(?![A-Za-z])|\b[CTLS]\d{1,2}(?:-[CTLS]?\d{1,2})?\b")


def _real_texts() -> list[str]:
    metadata = pl.read_csv(REAL / "covid-chestxray" / "metadata.csv", infer_schema=False)
    medpix = REAL / "medpix-2.0" / "MedPix-2-0"
    texts = [t for t in metadata["clinical_notes"].fill_null("").to_list() if t]
    texts += [" ".join(map(str, (e.get("Description") or {}).values()))
              for e in json.loads((medpix / "Descriptions.json").read_text())]
    texts += [" ".join(v for v in (e.get("Case") or {}).values() if isinstance(v, str))
              for e in json.loads((medpix / "Case_topic.json").read_text())]
    return texts


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/data/real")
def test_real_reports_keep_every_measurement_and_level():
    texts = _real_texts()
    assert len(texts) > 500
    changed = 0
    for text in texts:
        scrubbed = scrub_text(text)
        assert Counter(MEASURES.findall(scrubbed)) == Counter(MEASURES.findall(text)), text[:200]
        changed += scrubbed != text
    assert changed < 0.05 * len(texts)  # public teaching cases: few identifiers (dates, URLs, PMIDs)


@pytest.mark.parametrize("name,recall,unchanged", [
    # the snippets the rules were tuned on: 252 identifiers, 50 clinical snippets (94.8% and 47/50 when added)
    ("tuning_reports.jsonl", 0.94, 0.94),
    # written apart from the rules, measured before one fix they prompted (particles after a label): 299
    # identifiers, 75 clinical snippets (86.3%, then 86.6%; 74/75)
    ("heldout_reports.jsonl", 0.86, 0.98),
])
def test_identifiers_removed_and_clinical_snippets_kept_on_realistic_report_sets(name, recall, unchanged):
    """Realistic report snippets (US, UK, Canadian, Australian and other formats) with planted identifiers, and
    purely clinical ones full of eponyms, devices, levels and clock positions: floors on what is removed and kept."""
    rows = [json.loads(line) for line in (SETS / name).read_text(encoding="utf-8").splitlines()]
    planted = removed = clinical = same = kept = keep = 0
    for row in rows:
        scrubbed = scrub_text(row["text"])
        planted += len(row["identifiers"])
        removed += sum(item["text"] not in scrubbed for item in row["identifiers"])
        keep += len(row["keep"])
        kept += sum(text in scrubbed for text in row["keep"])
        if row["clinical"]:
            clinical += 1
            same += scrubbed == row["text"]
    assert removed / planted >= recall, (removed, planted)
    assert same / clinical >= unchanged, (same, clinical)
    assert kept / keep >= 0.95, (kept, keep)


# Leaks a second held-out probe found (423 snippets, 648 identifiers from US, UK, Australian, Canadian, Indian, Irish,
# European and teaching-file styles): each with its form closed, and a clinical text near it that stays.
@pytest.mark.parametrize("text,secrets,expected", [
    ("Attending: smith. Pt: j smith. Name: o'neill, mary. Transcribed by: mkl D: 04/12/21",
     ["smith", "o'neill", "mary", "mkl"], "Attending: [NAME]. Pt: [NAME]. Name: [NAME]. Transcribed by: [NAME] D:"),
    ("PATIENT: WARD, EMILY. MRS WARD was informed. Reported by: Priya Head, Consultant Radiologist",
     ["WARD", "EMILY", "Priya", "Head"],
     "PATIENT: [NAME]. [NAME] was informed. Reported by: [NAME], Consultant Radiologist"),
    ("Patient Smith. Reviewed with patient Anderson. Pt. Goldberg seen today.", ["Smith", "Anderson", "Goldberg"],
     "Patient [NAME]. Reviewed with patient [NAME]. Pt. [NAME] seen today."),
    ("Critical result phoned to Mei Young, 0431 471 425. Results relayed to PA Morgan. Called to Nurse Jackie.",
     ["Mei", "Young", "Morgan", "Jackie"],
     "phoned to [NAME], [PHONE]. Results relayed to PA [NAME]. Called to Nurse [NAME]"),
    ("Wife, Mary Smith, was informed. Her son Michael. Daughter (Susan) at bedside. ED physician Steven Park aware.",
     ["Mary", "Smith", "Michael", "Susan", "Steven", "Park"],
     "Wife, [NAME], was informed. Her son [NAME]. Daughter ([NAME]) at bedside. ED physician [NAME] aware."),
    ("Referring MD: Jonathan Brooks. Author: Maria Lopez, MS4. Submitted by: Chen W, 2012. Paziente: Rossi Mario.",
     ["Jonathan", "Brooks", "Maria", "Lopez", "Chen", "Rossi", "Mario"], "Paziente: [NAME]."),
    ("Dott. Giuseppe Bianchi; Dott.ssa Francesca Romano; Dra. García; Sr. Fernández; Smt. Lakshmi Devi; "
     "door dr. Pieter de Vries.", ["Giuseppe", "Francesca", "García", "Fernández", "Lakshmi", "Pieter", "Vries"],
     "door [NAME]."),
    ("Jones, Thomas (MRN 445512). Mrs Patricia Evans, 93, ward 7.", ["Jones", "Thomas", "Evans", "93"],
     "[NAME] ([ID]). [NAME], 90+, ward 7."),
    ("Aadhaar: 1234 5678 9012. OHIP: 1234-567-890-AB. PPSN: 1234567T. RAMQ: TREJ 4512 3456. DNI: 12345678Z. "
     "Medicaid #: AB12345C. Device serial: SN 88123-44. Numéro de sécurité sociale : 1 85 05 78 006 084 36.",
     ["5678", "890", "1234567T", "TREJ", "12345678Z", "AB12345C", "88123", "006 084"], "[ID]"),
    ("Ph: (02) 9387 1234. Call 617-555-0123 x4421.", ["9387", "4421"], "Ph: [PHONE]. Call [PHONE]."),
    ("Signed: brennan. 55 Queen St W, Toronto, ON M5H 2M9", ["brennan", "Toronto"],
     "Signed: [NAME]. [ADDRESS], [ADDRESS]"),
    ("Oxford OX1 4AB; ..., Cambridge CB2 0QQ; 14 Ocean St, Bondi NSW 2026; Charitéplatz 1, 10117 Berlin; "
     "Dr. Molewaterplein 40, 3015 GD Rotterdam; Apollo Hospitals, Chennai 600006; Eircode: D09 V2N0.",
     ["Cambridge", "Bondi", "Charitéplatz", "Berlin", "Rotterdam", "Chennai", "V2N0"], "[ADDRESS]"),
    ("Transferred from Brigham and Women's Hospital; Royal Infirmary of Edinburgh; Universitätsklinikum Heidelberg. "
     "Outside hospital: Mercy General. Transferred from Kaiser Permanente Oakland.",
     ["Brigham", "Edinburgh", "Heidelberg", "Mercy", "Kaiser"],
     "[HOSPITAL]. Outside hospital: [HOSPITAL]. Transferred from [HOSPITAL]."),
    ("Examen du 3 mars 2019, nato il 3 marzo 1930, 14 de marzo de 2019, 14. März 2019; dated March, 2019.",
     ["mars", "marzo", "März", "2019", "1930"], "dated [DATE]."),
    ("Admitted 12/25. Stable since 3/14. Follow-up Tues 3/19. Exam: 9/23", ["12/25", "3/14", "3/19", "9/23"],
     "Admitted [DATE]. Stable since [DATE]. Follow-up [DATE]. Exam: [DATE]"),
    ("Compared with 3/14. Comparison: 2/28.", ["3/14", "2/28"], "Compared with [DATE]. Comparison: [DATE]."),
    # a third held-out probe (92 snippets, 111 identifiers): a day and month after a study, streets before their
    # number or without one, flats, places without their kind after a study or a transfer, names after "per", in
    # lists and sign-offs, weekdays with their dates, labelled numbers with slashes
    ("Previous chest radiograph 12/03 showed no effusion. Comparison: CT chest 2/14. The study of 28/2 is compared. "
     "Radiology report (12/03). Comparison: MRI lumbar spine 17.03.", ["12/03", "2/14", "28/2", "17.03"],
     "radiograph [DATE] showed no effusion. Comparison: CT chest [DATE]. The study of [DATE] is compared. Radiology "
     "report ([DATE]). Comparison: MRI lumbar spine [DATE]."),
    ("Prior ultrasound (12-Mar) showed gallstones. Prior study 5-Jan.", ["12-Mar", "5-Jan"],
     "Prior ultrasound ([DATE]) showed gallstones. Prior study [DATE]"),
    ("Scan booked for Tuesday 5th. Follow-up imaging on the 14th recommended. Scheduled for Monday, March 18. "
     "Admitted Thursday, 5 January.", ["Tuesday", "5th", "14th", "Monday", "18", "Thursday", "January"],
     "Scan booked for [DATE]. Follow-up imaging on [DATE] recommended. Scheduled for [DATE]. Admitted [DATE]"),
    ("Address: Main Street 12, Springfield. The patient lives on Elm Street with her daughter. Lives alone at Oak "
     "Lane.", ["Main", "Springfield", "Elm", "Oak"], "Address: [ADDRESS], [ADDRESS]."),
    ("Home address Flat 3, Rose Court, Leeds LS6 2AB. Address: House No. 45, Sector 12, Noida. Staying at Apartment "
     "4B, 220 West 57th Street.", ["Rose", "Leeds", "LS6", "45", "Sector", "4B", "57th"], "Home address [ADDRESS]"),
    ("Outside CT performed at Mercy was reviewed. Transferred from St. Mary's for further management. Prior imaging "
     "from Mount Sinai is not available. She was seen at Johns Hopkins last year. Previous scan at Guy's was normal.",
     ["Mercy", "Mary", "Sinai", "Hopkins", "Guy"],
     "Outside CT performed at [HOSPITAL] was reviewed. Transferred from [HOSPITAL] for further management."),
    ("Per James Patterson, please compare. Per discussion with Mark Thompson, MRI will be obtained. Discussed with "
     "Dr. Le and Hoang. Performed by Alan Turing and Grace Hopper. Result D/W Anil Kumar.",
     ["James", "Patterson", "Mark", "Thompson", "Hoang", "Grace", "Hopper", "Anil"],
     "Per [NAME], please compare. Per discussion with [NAME], MRI"),
    ("Thanks, Emily Clarke\nKind regards,\nNguyen Thi Lan", ["Emily", "Clarke", "Nguyen", "Lan"],
     "Thanks, [NAME]\nKind regards,\n[NAME]"),
    ("IP No. 2022/45678. UHID: AIIMS/2019/12345.", ["45678", "AIIMS", "12345"], "[ID]. [ID]."),
    # a fourth held-out probe (77 snippets, 113 identifiers): names with an age over 89 and no title, years of two
    # digits, clock times after a date or a name, lists of copies, appositions after a role, "reviewed with" an
    # initial, streets of other languages and towns after a street, places before their emergency department
    ("INDICATION: Robert Kowalski, 93, fall. Thank you for this referral of Tom Jones, 95. Jane Doe is a 91 year old.",
     ["Robert", "Kowalski", "93", "Tom", "Jones", "95", "Jane", "Doe"],
     "INDICATION: [NAME], 90+, fall. Thank you for this referral of [NAME], 90+. [NAME] is a 90+ year old."),
    ("Dictated: 22 Mar 12 0930. Compared with Mar 22 '19 and July 9, '18. Signed 03-Jun-20 0745",
     ["0930", "'19", "'18", "0745"], "Dictated: [DATE] [TIME]. Compared with [DATE] and [DATE]. Signed [DATE] [TIME]"),
    ("D/W DR LIM 1400. DISCUSSED WITH DR HENDERSON 1715.", ["LIM", "1400", "HENDERSON", "1715"],
     "D/W [NAME] [TIME]. DISCUSSED WITH [NAME] [TIME]."),
    ("cc: Dr. Patel; Sunita Rao\ncc Marcus Webb, Leila Nasser\nCC: Jonas Lindqvist; Dr Farah Haddad; GP\n"
     "Copy to: Dr. Ingrid Bauer; Paolo Conti", ["Sunita", "Webb", "Nasser", "Jonas", "Haddad", "Bauer", "Conti"],
     "cc: [NAME]; [NAME]\ncc [NAME], [NAME]\nCC: [NAME]; [NAME]; GP\nCopy to: [NAME]; [NAME]"),
    ("Images reviewed with J. Smith (neuroradiology). Reviewed with K. Obuya, who agrees. Discussed with the surgical "
     "team, Rachel Green, at 3 pm. The ED consultant, Marcus Lindholm, was informed.",
     ["Smith", "Obuya", "Rachel", "Green", "Marcus", "Lindholm"],
     "Images reviewed with [NAME] (neuroradiology). Reviewed with [NAME], who agrees. Discussed with the surgical "
     "team, [NAME], at [TIME] The ED consultant, [NAME], was informed."),
    ("Address: Via Roma 15, 20121 Milano. Lives at 20 rue Leblanc, Paris. Domicilio: Calle Mayor 5, Madrid. Adres: "
     "ul. Marszałkowska 10, Warszawa. Address: Via Nazionale 44.",
     ["Roma", "Leblanc", "Paris", "Mayor", "Madrid", "Marszałkowska", "Warszawa", "Nazionale"],
     "Address: [ADDRESS], [ADDRESS]. Lives at [ADDRESS], [ADDRESS]. Domicilio: [ADDRESS], [ADDRESS]. Adres: "
     "[ADDRESS], [ADDRESS]. [ADDRESS]."),
    ("Home address: 4 Griffith Avenue, Dublin 9. Address: 14 avenue Victor Hugo, Paris 75016. Consultant "
     "Radiologist, Beaumont Hospital, Dublin 9.", ["Griffith", "Dublin", "Victor", "75016", "Beaumont"],
     "Home address: [ADDRESS], [ADDRESS]. Address: [ADDRESS], [ADDRESS]. Consultant Radiologist, [HOSPITAL], "
     "[ADDRESS]."),
    ("Seen in the Johns Hopkins emergency department. Presented to the Massachusetts General ED. Attended St Thomas' "
     "A&E. Imaging in the Mount Sinai radiology department.", ["Hopkins", "Massachusetts", "Thomas", "Sinai"],
     "Seen in the [HOSPITAL] emergency department. Presented to the [HOSPITAL] ED. Attended [HOSPITAL] A&E. Imaging "
     "in the [HOSPITAL] radiology department."),
])
def test_leaks_the_second_probe_found_are_closed(text, secrets, expected):
    _assert_scrubbed(text, secrets, expected)


# Near each form above, clinical texts that stay (the second probe's 412 clinical snippets, and these).
@pytest.mark.parametrize("text", [
    "Attending: agree. Attending: present. Referring: self. Radiologist: tbc. Patient: anxious. Tech: none.",
    "Attending: discussed. Patient Anxious; scan abandoned. Pt Dyspnoeic. Patient Cooperation was poor.",
    "MRS BRAIN. MR HEAD. Patient Comfort. Patient Positioning. Pt Tolerated well. Patient Motion.",
    "Findings phoned to the ward. Results given to the ED team. Sister Mary Joseph nodule. daughter Cysts noted.",
    "physician Assistant Smith",  # no two names: left for the other rules
    "Ribs 8-9-10. Montreal classification A2L3B2. Grade 1 March haemoglobinuria.",
    "Recommend Fracture Clinic follow-up. Arrange Fracture Clinic review. Mayo Clinic classification. "
    "Barcelona Clinic Liver Cancer stage B.",
    "Transferred from ICU. Transferred from Theatre. Transferred from Coronary Care Unit. From Labour Ward.",
    "Heparin, 25000 Units infused. Strength 4/5 since onset. Exam: 2/3 views obtained. Plan: 3/12 follow-up.",
    "IP joint effusion. Via Seldinger technique, 12 Fr drain placed. DR Chest PA. May-Thurner syndrome.",
    # near the third probe's leaks (its 112 clinical snippets stay too)
    "Approximately 1/2 of the left lung is opacified. Disc protrusion at T3/4 and C5/6. Power 2/5, previously 4/5.",
    "Gleason 3+4=7. BP 120/80. GCS 14/15. Visual acuity 6/12. Apgar 8/9. ASPECTS 8/10. Symptoms for 6/52.",
    "Plan: repeat CT in 3/12. MRI 3/4 sequences degraded. X-ray shows 1/3 collapse of T12. Films 2/2 reviewed. "
    "CT (1/2) and MRI (2/2). pH 7.40. CT 12.50 HU.",
    "Fracture of the 5th metatarsal. On the 3rd attempt the line was placed. Tenderness on the 5th, 6th ribs.",
    "Flat 2D images reconstructed. Circle of Willis 2 aneurysms. Lives alone, independent with ADLs.",
    "Fluid seen at Morison pouch. Nodule seen at T12. Imaging performed at 3 T. Imaging performed at Rest and Stress. "
    "Referred from GP. Referred from Oncology. Images from PACS were reviewed. CT from Dec. Transferred from HDU.",
    "Per Fleischner Society, no follow-up. Per Infection Control, room cleaned. Per ACR criteria. Thanks, Radiology.",
    "Discussed with [NAME] and Stroke Team. Discussed with [NAME] and The Registrar.",
    "Kerley B lines. Chiari I malformation. Non-Hodgkin lymphoma. St. Jude valve. Findings may represent "
    "consolidation. The tumour may march along the nerve. March fracture of the second metatarsal.",
    # near the fourth probe's leaks (its 88 clinical snippets stay too)
    "Heart Rate, 96. Oxygen Saturation, 94. Barthel Index, 95. Blood Pressure, 110. Systolic Pressure, 100; "
    "diastolic 60. Kerley B lines, 93 percent saturation. Non-Hodgkin Lymphoma, 92 mm mass. Gleason Score, 9.",
    "The patient is ninety percent dependent on oxygen. She is ninety degrees flexed. Man, ninety percent occlusion.",
    "Reviewed with Fleischner criteria in mind. Reviewed with Salter-Harris Classification. Reviewed with Wells Score "
    "and D-dimer. Reviewed with prior imaging.",
    "cc: GP; Oncology; Respiratory\nCC: Chest Pain; Cough\nCC: Fever, Cough\n5 cc Omnipaque, 10 cc Visipaque.",
    "Via Seldinger technique, 12 Fr drain. Via Hickman Line 2, Left arm access. 3 place Steri-Strips applied.",
    "Seen in the Paediatric Emergency Department. Seen in the Main ED. Brought to Resus ED. Assessed in the Majors ED. "
    "Seen in the emergency department. Fracture Clinic ED referral.",
    "Discussed with the registrar, Fracture Clinic arranged. Discussed with the surgical team, Critical Care aware. "
    "Discussed with the vascular team, Mayo Clinic criteria applied.",
])
def test_clinical_texts_near_the_second_probe_leaks_stay(text):
    assert scrub_text(text) == text


# Leaks a fifth held-out probe found (80 lines, 179 identifiers in US, UK, Canadian, Australian, European and Asian
# styles; 45 leaked): places named without "Hospital" ("Mass General", "Erasmus MC"), or after a transfer to them, a
# treatment or an MDT at them, typists' initials after a date, unlabelled national numbers, names in capitals after
# "CC:" and names before "was informed".
@pytest.mark.parametrize("text,secrets,expected", [
    ("Comparison: CT chest from Mass General dated 02/11/2020. Prior PET-CT (Erasmus MC, 14-02-2019). Voraufnahmen "
     "aus dem Klinikum rechts der Isar. Verslag van het UMC Utrecht.", ["Mass", "Erasmus", "rechts", "Isar", "Utrecht"],
     "from [HOSPITAL] dated [DATE]. Prior PET-CT ([HOSPITAL], [DATE]). Voraufnahmen aus dem [HOSPITAL]. Verslag van "
     "het [HOSPITAL]."),
    ("She underwent coiling at Toronto Western in 2015. Patient transferred to Johns Hopkins. Outside MRI brought from "
     "Tan Tock Seng. Referred by the lung MDT at Guy's and St Thomas' for biopsy.",
     ["Toronto", "Hopkins", "Tan Tock", "Guy's", "Thomas"],
     "coiling at [HOSPITAL] in 2015. Patient transferred to [HOSPITAL]. Outside MRI brought from [HOSPITAL]. Referred "
     "by the lung MDT at [HOSPITAL] for biopsy."),
    ("Dictated 12/03/2021 jk/lm\nD: 03/12/21 T: 03/13/21 ab\nDD: 07/22/2020 DT: 07/23/2020 JOB#: 448812 /tlh\n"
     "Reported 22/06/2022 PJW:sh\nDict: 3/5/2021 Typed: 4/5/2021 (mjk)", ["jk", "lm", " ab", "tlh", "PJW", "mjk"],
     "Dictated [DATE] [NAME]\nD: [DATE] T: [DATE] [NAME]\nDD: [DATE] DT: [DATE] JOB#: [ID] /[NAME]\n"
     "Reported [DATE] [NAME]\nDict: [DATE] Typed: [DATE] ([NAME])"),
    ("HARRIS, Eleanor  943 476 5919  DOB 12/07/1948. J. de Vries 1234.56.782. TREMBLAY, Julie  4532 281 746  CA",
     ["HARRIS", "Eleanor", "Vries", "1234", "TREMBLAY", "Julie", "4532"],
     "[NAME]  [PHONE]  DOB [DATE]. [NAME] [ID]. [NAME]  [ID]  CA"),
    ("Card 2345 6789 0123. Personnummer 19850310-1234. NRIC S1234567D. HKID: A123456(7). Jane Doe (44829) arrived.",
     ["2345", "1234", "S1234567D", "A123456", "Jane", "Doe", "44829"],
     "Card [ID]. Personnummer [ID]. NRIC [ID]. HKID: [ID]. [NAME] ([ID]) arrived."),
    ("CC: JOHN SMITH\nCC: Hannah Baker", ["JOHN", "SMITH", "Hannah", "Baker"], "CC: [NAME]\nCC: [NAME]"),
    ("Smith was informed of the findings. Critical result: Jackson notified at 10:05 pm. Dr Patel's team informed; Kim "
     "acknowledged receipt. Befund telefonisch mit Herrn Becker besprochen.", ["Smith", "Jackson", "Kim", "Becker"],
     "[NAME] was informed of the findings. Critical result: [NAME] notified at [TIME] [NAME] team informed; [NAME] "
     "acknowledged receipt. Befund telefonisch mit [NAME] besprochen."),
])
def test_leaks_the_fifth_probe_found_are_closed(text, secrets, expected):
    _assert_scrubbed(text, secrets, expected)


# Near each form above, clinical texts that stay (the fifth probe's 104 clinical lines and 52 written after the rules
# stay too): units, services and places in a hospital, metacarpals, lists of numbers, chief complaints, words before
# "informed" that name no one, and what follows a date that is no typist's initials.
@pytest.mark.parametrize("text", [
    "Transferred to Rehab. Transferred to AMU. Transferred to IR for embolisation. Transferred to CVICU. Transferred "
    "to Theatre. She had a fall at Home. He had pain at Rest. Underwent fusion at L4-L5.",
    "Procedure under General anaesthesia. Fifth MC fracture. Fracture of the Fifth MC. Left MC base.",
    "Matrix 256 256 128. Counts 1200 1500 1800 per ml. Doses of 100 200 300 mg. BP 120 80.",
    "CC: BACK PAIN\nCC: Renal Colic\nCC: Abnormal Labs\nCC: Generalised Weakness\nCC: Dog Bite; Fall\nCC: SOB\n"
    "20 cc aspirated. 10 CC of contrast. 13.5 mm CC x 12 mm LAT.",
    "Surgery was informed. Vascular were informed. I was informed. Previously notified. Results notified to the ward. "
    "Theatres aware. Radiographers aware. Anaesthetist informed. Pharmacy informed. Night Sister informed. The "
    "patient was informed. Gastro aware. Outreach informed.",
    "Compared with [DATE] CT\nComparison [DATE] AP/LAT\nCompared to [DATE] and/or\nCreatinine [DATE] mg/dl\n"
    "Reported [DATE] CXR",
    "Hypoechoic lesion at 10:00, 4 cm FN, measuring 8 x 6 x 5 mm.",
    "Smith fracture of the distal radius. Jones fracture of the fifth metatarsal. Terry Thomas sign. St Jude valve. "
    "Swan-Ganz catheter. Kerley B lines. Morgagni and Bochdalek hernias. Chilaiditi sign. Hodgkin lymphoma.",
])
def test_clinical_texts_near_the_fifth_probe_leaks_stay(text):
    assert scrub_text(text) == text


# Clinical texts that the fifth probe's rules scrubbed (a review found them): roles by name before "informed",
# complaints of devices and procedures after "CC:", times, positions and units something was done "at" or a patient
# transferred "to", the metacarpal before anatomy, lists of measures before a unit, and words after a dictation date.
@pytest.mark.parametrize("text", [
    "Referrer informed. Midwife informed. Dietitian informed. Obstetrician informed. Porter informed. Social Worker "
    "informed. Tissue Viability informed. Requester aware. Reg informed. Guardian informed.",
    "CC: LINE PLACEMENT\nCC: ET TUBE\nCC: NIGHT SWEATS\nCC: GAIT INSTABILITY\nCC: VISUAL DISTURBANCE\nCC: PSYCH "
    "EVAL\nCC: SUICIDE ATTEMPT\nCC: SHORT BREATH\nCC: BLACK STOOLS\nCC: SWALLOWED COIN",
    "Underwent repair at Birth. Had surgery at Christmas. Underwent biopsy at Site A. Underwent ablation at Segment 7. "
    "Underwent fusion at Levels C5-C6. Underwent stenting at Cath Lab. Followed up at Outpatients.",
    "Transferred to High Dependency. Transferred to Cath Lab. Study performed at End Expiration. Study done at "
    "Bedside. The lesion was treated at Radiofrequency Ablation.",
    "Medial MC joint effusion. Second MC base fracture.",
    "Size 1234 567 890 um.",
    "Verified [DATE] Rpt\nReported [DATE] STAT\nReported [DATE] Echo\nReported: [DATE] PACS",
])
def test_clinical_texts_the_fifth_probes_rules_scrubbed_stay(text):
    assert scrub_text(text) == text


def test_names_after_cc_stay_caught_next_to_complaint_words():
    _assert_scrubbed("CC: LAWRENCE MOORE\nCC: FLORENCE JONES\nCC: LANCE WHITE",
                     ["LAWRENCE", "MOORE", "FLORENCE", "JONES", "LANCE", "WHITE"], "CC: [NAME]\nCC: [NAME]\nCC: [NAME]")
