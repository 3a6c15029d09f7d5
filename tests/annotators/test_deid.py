from annotators.deid import scrub_text


def test_identifiers_are_replaced():
    text = ("Seen by Dr. Alan Reed on 03/14/2021 at 10:45 AM, MRN: 4482913, call 555-123-4567 or "
            "a.reed@example.org. Prior study March 3, 2019 and 2020-01-02.")
    scrubbed = scrub_text(text)
    for secret in ("Alan", "Reed", "03/14/2021", "10:45", "4482913", "555-123-4567", "example.org", "2019", "2020"):
        assert secret not in scrubbed
    assert "[NAME]" in scrubbed and "[DATE]" in scrubbed and "[ID]" in scrubbed and "[PHONE]" in scrubbed


def test_clinical_text_and_mimic_placeholders_stay():
    text = "Compared to ___ study. 1.5 cm nodule in the RUL. 3 ms echo time. No pneumothorax."
    assert scrub_text(text) == text


def test_more_identifier_forms_are_replaced():
    text = ("EXAMINATION: CHEST (PA AND LAT) on 3/14 at 0830 hours. Discussed with DR. SMITH and Mrs O'Neil "
            "by telephone (617) 555-0199, pager #4412. Accession No: A12345678, Unit No. 44829. "
            "Compared with the study of 14th of March 2019 and Jun 3.")
    scrubbed = scrub_text(text)
    for secret in ("3/14", "0830", "SMITH", "O'Neil", "555-0199", "4412", "A12345678", "44829", "2019", "Jun 3"):
        assert secret not in scrubbed, secret
    assert "[TIME]" in scrubbed and "[PHONE]" in scrubbed and scrubbed.count("[NAME]") == 2


def test_clinical_numbers_and_abbreviations_stay():
    text = ("MS lesions in the periventricular white matter. Dr. ___ was notified. Nodule 12 mm, "
            "increased from 2/3 to the whole lobe; ejection fraction 55%; T2 and T11 vertebrae; case 4: (A).")
    assert scrub_text(text) == text
