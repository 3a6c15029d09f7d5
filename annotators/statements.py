"""Whether a clause of a report is about the image: not the patient's story, not an earlier study.

A clause with a clinical cue (history, symptoms, examination, laboratory, treatment) and no study word is the
patient's story ("previously healthy patient presented with fever and skin lesions"), unless a temporal word just
before the cue makes it a date ("a week after presentation"); a clause that names an earlier
study near a prior cue ("previous CT", "CT two days earlier") in the past tense, comparing nothing with it, describes
that study. Cues come from the lexicon (clinical_cues, study_words, prior_cues, prior_verbs, comparison_words).
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
    if not studies:
        return not (any(p in text for p in cues.clinical_phrases) or any(
            w in cues.clinical_words and not cues.temporal_words.intersection(words[max(0, i - TEMPORAL_WINDOW):i])
            for i, w in enumerate(words)))
    prior = [i for i, w in enumerate(words) if w in cues.prior_cues]
    dated = any(abs(i - j) <= PRIOR_WINDOW for i in prior for j in studies)
    return not (dated and cues.prior_verbs.intersection(words) and not cues.comparison_words.intersection(words))


def image_sentences(doc: Doc, cues: Cues) -> list[str]:
    """The sentences of a parsed text that are about the image."""
    text = doc.text
    return [text[s.start_char:s.end_char].strip() for s in doc.sents if about_the_image([t.lower_ for t in s], cues)]
