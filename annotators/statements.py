"""Whether a clause of a report is about the image: not the patient's story, not an earlier study.

A clause with a clinical cue (history, symptoms, examination, laboratory, treatment) and no study word is the
patient's story ("previously healthy patient presented with fever and skin lesions"), unless a temporal word just
before the cue makes it a date ("a week after presentation"); a clause that names an earlier
study near a prior cue ("previous CT", "CT two days earlier") in the past tense, comparing nothing with it, describes
that study; a clause with a hypothetical cue ("if left untreated ...") says what may happen. Cues come from the
lexicon (clinical_cues, hypothetical_cues, study_words, temporal_words, prior_cues, prior_verbs, comparison_words).
"""
from __future__ import annotations

from spacy.tokens import Doc

from annotators.lexicon import Cues, cue_words

PRIOR_WINDOW = 4  # words between a prior cue and the study word it dates
TEMPORAL_WINDOW = 4  # words before a clinical word in which a temporal word makes it a date ("after the onset of")


def about_the_image(words: list[str], cues: Cues, narrative: bool = True) -> bool:
    """Whether a clause (its lower-case words) states something seen on the image of this study; outside narratives
    (captions, case notes) the narrative cues ("patient", "woman") do not count."""
    text = f" {' '.join(words)} "
    if "-" in text or "/" in text:
        text = f" {' '.join(cue_words(text.split()))} "
    words = text.split()
    present = set(words)
    if present.isdisjoint(cues.any_cue) and not any(p in text for p in cues.phrases):
        return True
    if not present.isdisjoint(cues.hypothetical_words) or any(p in text for p in cues.hypothetical_phrases):
        return False
    studies = [i for i, w in enumerate(words) if w in cues.study_words]
    if not studies:
        clinical = cues.story_words if narrative else cues.clinical_words
        return not (any(p in text for p in cues.clinical_phrases) or any(
            w in clinical and cues.temporal_words.isdisjoint(words[max(0, i - TEMPORAL_WINDOW):i])
            for i, w in enumerate(words)))
    prior = [i for i, w in enumerate(words) if w in cues.prior_cues]
    dated = any(abs(i - j) <= PRIOR_WINDOW for i in prior for j in studies)
    return not (dated and not present.isdisjoint(cues.prior_verbs) and present.isdisjoint(cues.comparison_words))


def image_sentences(doc: Doc, cues: Cues, narrative: bool = True) -> list[str]:
    """The sentences of a parsed text about the image that name a finding, a place or a study ("Lungs clear.",
    "AP chest radiograph.", not "No significant findings." or "There was no hypoxaemia.")."""
    strings, text, kept = doc.vocab.strings, doc.text, []
    words = [strings[key] for key in doc.to_array("LOWER").tolist()]
    for sent in doc.sents:
        own = words[sent.start:sent.end]
        if (sent.ents or not cues.study_words.isdisjoint(own)) and about_the_image(own, cues, narrative):
            kept.append(text[sent.start_char:sent.end_char].strip())
    return kept
