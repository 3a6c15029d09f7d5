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


def about_the_image(words: list[str], cues: Cues) -> bool:
    """Whether a clause (its lower-case words) states something seen on the image of this study."""
    words = cue_words(words)
    studies = [i for i, w in enumerate(words) if w in cues.study_words]
    text = f" {' '.join(words)} "
    if cues.hypothetical_words.intersection(words) or any(p in text for p in cues.hypothetical_phrases):
        return False
    if not studies:
        return not (any(p in text for p in cues.clinical_phrases) or any(
            w in cues.clinical_words and not cues.temporal_words.intersection(words[max(0, i - TEMPORAL_WINDOW):i])
            for i, w in enumerate(words)))
    prior = [i for i, w in enumerate(words) if w in cues.prior_cues]
    dated = any(abs(i - j) <= PRIOR_WINDOW for i in prior for j in studies)
    return not (dated and cues.prior_verbs.intersection(words) and not cues.comparison_words.intersection(words))


def image_sentences(doc: Doc, cues: Cues) -> list[str]:
    """The sentences of a parsed text about the image that name a finding, a place or a study ("Lungs clear.",
    "AP chest radiograph.", not "No significant findings." or "There was no hypoxaemia.")."""
    text, kept = doc.text, []
    for sent in doc.sents:
        words = [t.lower_ for t in sent]
        if (sent.ents or cues.study_words.intersection(words)) and about_the_image(words, cues):
            kept.append(text[sent.start_char:sent.end_char].strip())
    return kept
