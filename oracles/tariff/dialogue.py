"""The progressive question-and-answer dialogue over a description's candidate subheadings.

`Dialogue.start` ranks the candidates; while the best one is not confident and a question
can still split them, `pending` holds the question that best separates them (see
`questions.py`).  `answer` narrows the candidates and asks the next question, until one is
confident, no question helps, `MAX_QUESTIONS` were asked, or the person stops.

A dialogue is plain data (`to_json` / `from_json`) so the API can keep it in a session store
and the CLI can drive it with prompts.  `simulate` plays a truthful user, to measure how many
questions the dialogue needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracles.tariff.corpus import contexts, official_description
from oracles.tariff.errors import TariffInputError
from oracles.tariff.i18n import EN, language_of, said_in_chinese, translate
from oracles.tariff.model import TariffModel, confidence_scale
from oracles.tariff.questions import FACETS, FACETS_BY_KEY, NONE, OTHER, UNKNOWN, facet_option
from oracles.tariff.text import normalize
from oracles.tariff.zh import schedule

POOL = 40  # candidates the dialogue works over
CONFIDENT = 0.8  # stop asking once the best candidate is this probable
MAX_QUESTIONS = 5
MAX_CHOICES = 6
MIN_SPLIT = 0.05  # an option must hold this much probability to count as a split
MIN_UNSAID = 0.02  # ... or this much, for a facet the description does not mention
# Questions are chosen on the candidates' probabilities flattened by this temperature
# (p ** (1 / T), renormalised).  A bare "batteries" or "trousers" says nothing of what
# separates them, yet the model, trained on how often each kind is written about, puts
# 96 % on woven trousers and 83 % on primary cells; asked on those odds, a trader with
# knitted trousers or a power bank would never be asked.  Stopping still uses the model's
# own probabilities.
QUESTION_TEMPERATURE = 3.0
FACET_ENOUGH = 0.5  # bits: a facet splitting at least this well is asked before any list


@dataclass
class Question:
    id: str
    kind: str  # a facet key, "heading" or "subheading"
    text: str
    options: list[tuple[str, str]]  # (id, label)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "options": [{"id": i, "label": label} for i, label in self.options],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Question:
        return cls(d["id"], d["kind"], d["text"], [(o["id"], o["label"]) for o in d["options"]])


@dataclass
class Dialogue:
    """Candidates (hs6 -> score), what was asked and answered, the pending question."""

    description: str
    scores: dict[str, float]  # candidate -> log-probability (over every subheading)
    mass: float  # probability that the answer is among the candidates at the start
    coverage: float
    lang: str = EN  # the language questions are asked in (the description's)
    asked: list[dict[str, Any]] = field(default_factory=list)
    pending: Question | None = None
    done: bool = False
    reason: str = ""

    # --- life cycle -----------------------------------------------------------------------

    @classmethod
    def start(cls, model: TariffModel, description: str, pool: int = POOL) -> Dialogue:
        q = model.vector(description)
        coverage = model.vectorizer.coverage(description)
        d = cls(
            description=description,
            scores={},
            mass=0.0,
            coverage=coverage,
            lang=language_of(description),
        )
        if q.nnz == 0 or coverage == 0.0:
            d.done, d.reason = True, "none of the words is known to the model"
            return d
        logits = model.logits(q)
        logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
        ranked = np.lexsort((np.arange(len(logp)), -np.round(logp, 6)))
        order = ranked[:pool]
        # and the other subheadings of the headings already in: a question may bring back
        # the sibling the model ranked low (knitted trousers of synthetic fibres, when
        # "trousers" ranks woven first), up to `pool` more
        headings = {model.codes[i][:4] for i in order}
        siblings = [i for i in ranked[pool:] if model.codes[i][:4] in headings][:pool]
        order = np.concatenate([order, np.array(siblings, dtype=order.dtype)])
        d.scores = {model.codes[i]: round(float(logp[i]), 6) for i in order}
        d.mass = round(float(np.exp(logp[order]).sum()), 6)
        d._next()
        return d

    def answer(self, question_id: str, option_id: str) -> None:
        """Apply the answer to the pending question; TariffInputError for a wrong one."""
        if self.pending is None:
            raise TariffInputError(
                "no_pending_question", f"the dialogue has ended ({self.reason}); start a new one"
            )
        if question_id != self.pending.id:
            raise TariffInputError(
                "question_not_asked",
                f"question {question_id!r} is not the pending one; answer {self.pending.id!r}: "
                f"{self.pending.text}",
            )
        valid = [o for o, _ in self.pending.options]
        if option_id not in valid:
            raise TariffInputError(
                "invalid_option",
                f"{option_id!r} is not an option of {self.pending.id}; "
                f"choose one of {', '.join(valid)}",
            )
        q = self.pending
        self.asked.append({"question": q.to_json(), "answer": option_id})
        self.pending = None
        self._narrow(q, option_id)
        self._next()

    def stop(self) -> None:
        self.pending = None
        self.done = True
        self.reason = "stopped by the user"

    # --- state --------------------------------------------------------------------------

    def probabilities(self) -> dict[str, float]:
        """Candidate probabilities given the answers so far, damped by coverage.

        At the start these are the model's probabilities; an answer keeps the candidates
        that fit it, and their probabilities are renormalised to the mass the candidates
        held at the start (the answer is assumed to be among them only as much as it was).
        """
        if not self.scores:
            return {}
        codes = list(self.scores)
        s = np.array([self.scores[c] for c in codes])
        p = np.exp(s - s.max())
        p = p / p.sum() * self.mass * confidence_scale(self.coverage)
        return {c: float(v) for c, v in zip(codes, p, strict=True)}

    def ranked(self) -> list[tuple[str, float]]:
        probs = self.probabilities()
        return sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))

    def best(self) -> tuple[str, float] | None:
        r = self.ranked()
        return r[0] if r else None

    # --- internals ------------------------------------------------------------------------

    def _narrow(self, q: Question, option: str) -> None:
        if option == UNKNOWN:
            return
        if q.kind == "subheading":
            shown = [o for o, _ in q.options if o not in (NONE, UNKNOWN)]
            keep = {option} if option != NONE else set(self.scores) - set(shown)
        elif q.kind == "heading":
            shown = [o for o, _ in q.options if o not in (NONE, UNKNOWN)]
            if option == NONE:
                keep = {c for c in self.scores if c[:4] not in shown}
            else:
                keep = {c for c in self.scores if c[:4] == option}
        else:
            mapped = {c: facet_option(q.kind, c) for c in self.scores}
            if option == OTHER:
                keep = {c for c, o in mapped.items() if o is None}
            else:
                keep = {c for c, o in mapped.items() if o in (option, None)}
        self.scores = {c: s for c, s in self.scores.items() if c in keep}

    def _next(self) -> None:
        if not self.scores:
            self.done, self.reason = True, "no candidate fits the answers"
            return
        best = self.best()
        assert best is not None
        if len(self.scores) == 1:
            self.done, self.reason = True, "one candidate left"
            return
        if len(self.asked) >= MAX_QUESTIONS:
            self.done, self.reason = True, f"{MAX_QUESTIONS} questions asked"
            return
        if best[1] >= CONFIDENT:
            # confident, unless close siblings differ in something the description never said
            q = self._best_question(unsaid_only=True)
            if q is None:
                self.done, self.reason = True, "confident"
                return
            self.pending = q
            return
        q = self._best_question()
        if q is None:
            self.done, self.reason = True, "no question separates the candidates"
            return
        self.pending = q

    def _best_question(self, unsaid_only: bool = False) -> Question | None:
        """The question with the most information, never about a facet the description
        already states ("cotton" answers the material: asking it again tells a trader the
        model did not read the text); with `unsaid_only`, only facets that still split
        candidates holding `MIN_UNSAID`."""
        probs = {c: p ** (1 / QUESTION_TEMPERATURE) for c, p in self.probabilities().items()}
        total = sum(probs.values()) or 1.0
        probs = {c: p / total for c, p in probs.items()}
        asked_kinds = {a["question"]["kind"] for a in self.asked}
        asked_choices = [
            (a["question"]["kind"], [o["id"] for o in a["question"]["options"][:-2]])
            for a in self.asked
        ]
        number = f"q{len(self.asked) + 1}"
        best: tuple[float, Question] | None = None
        said = _said_text(self.description)
        for facet in FACETS:
            if facet.key in asked_kinds:
                continue
            if any(rx.search(said) for _, rx in facet.patterns) or said_in_chinese(
                facet.key, self.description
            ):
                continue
            mass: dict[str, float] = {}
            for c, p in probs.items():
                o = facet_option(facet.key, c)
                if o is not None:
                    mass[o] = mass.get(o, 0.0) + p
            split = [m for m in mass.values() if m >= (MIN_UNSAID if unsaid_only else MIN_SPLIT)]
            if len(split) < 2:
                continue
            gain = _entropy(list(mass.values())) * sum(mass.values())
            opts = [(oid, label) for oid, label, _ in facet.options if oid in mass]
            opts += [(OTHER, facet.other_label), (UNKNOWN, "Don't know")]
            q = self._question(number, facet.key, facet.text, opts)
            if best is None or gain > best[0]:
                best = (gain, q)
        if best is not None and (unsaid_only or best[0] >= FACET_ENOUGH):
            return best[1]
        if unsaid_only:
            return None
        for kind, key_len in (("heading", 4), ("subheading", 6)):
            mass = {}
            for c, p in probs.items():
                mass[c[:key_len]] = mass.get(c[:key_len], 0.0) + p
            if len([m for m in mass.values() if m >= MIN_SPLIT]) < 2:
                continue
            top = sorted(mass.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CHOICES]
            gain = _entropy([m for _, m in top]) * sum(m for _, m in top)
            text = (
                "Which of these kinds of product is it?"
                if kind == "heading"
                else "Which of these descriptions fits it best?"
            )
            opts = [(k, _label(k, self.lang)) for k, _ in top]
            opts += [(NONE, "None of these"), (UNKNOWN, "Don't know")]
            if (kind, [k for k, _ in top]) in asked_choices:
                continue  # answered "don't know" already: asking again cannot help
            q = self._question(number, kind, text, opts)
            if best is None or gain > best[0]:
                best = (gain, q)
        return best[1] if best else None

    def _question(
        self, number: str, kind: str, text: str, options: list[tuple[str, str]]
    ) -> Question:
        """A question in the dialogue's language (option ids are the same in every one)."""
        return Question(
            number,
            kind,
            translate(text, self.lang),
            [(oid, translate(label, self.lang)) for oid, label in options],
        )

    # --- persistence --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "scores": self.scores,
            "mass": self.mass,
            "coverage": self.coverage,
            "lang": self.lang,
            "asked": self.asked,
            "pending": self.pending.to_json() if self.pending else None,
            "done": self.done,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Dialogue:
        return cls(
            description=d["description"],
            scores=dict(d["scores"]),
            mass=d["mass"],
            coverage=d["coverage"],
            lang=d.get("lang", EN),
            asked=list(d["asked"]),
            pending=Question.from_json(d["pending"]) if d["pending"] else None,
            done=d["done"],
            reason=d["reason"],
        )


def _said_text(description: str) -> str:
    """The description as facets read it: lower-case, plus its normalised form."""
    low = description.lower().replace("\u2019", "'")
    return f"{low} | {normalize(description)}"


def _entropy(masses: list[float]) -> float:
    total = sum(masses)
    if total <= 0:
        return 0.0
    return -sum((m / total) * math.log2(m / total) for m in masses if m > 0)


def _label(code: str, lang: str = EN) -> str:
    """A heading (4 digits) or subheading (6) as an option: its official text, in Chinese
    when the dialogue is and Taiwan's schedule has the code (English otherwise)."""
    if lang != EN:
        zh = _zh_label(code)
        if zh:
            return f"{code}: {zh}"
    if len(code) == 6:
        ctx = contexts().get(code)
        return f"{code}: {ctx.subheading}" if ctx else code
    return f"{code}: {official_description(code)}"


def _zh_label(code: str) -> str | None:
    sch = schedule()
    if len(code) == 6:
        return sch.hs6.get(code)
    for six, text in sch.hs6.items():  # a heading: the first part of its subheadings' text
        if six.startswith(code):
            return text.split("\uff1b")[0]
    return None


def truthful_answer(q: Question, true_hs6: str) -> str:
    """What a person who knows the true subheading answers."""
    ids = {o for o, _ in q.options}
    if q.kind == "subheading":
        return true_hs6 if true_hs6 in ids else NONE
    if q.kind == "heading":
        return true_hs6[:4] if true_hs6[:4] in ids else NONE
    facet = FACETS_BY_KEY[q.kind]
    o = facet_option(facet.key, true_hs6) if true_hs6 in contexts() else None
    if o is None:
        return UNKNOWN
    return o if o in ids else OTHER


def simulate(model: TariffModel, description: str, true_hs6: str) -> tuple[int, bool]:
    """(questions asked, right HS6 on top at the end) for a truthful simulated user."""
    d = Dialogue.start(model, description)
    while d.pending is not None:
        d.answer(d.pending.id, truthful_answer(d.pending, true_hs6))
    best = d.best()
    return len(d.asked), bool(best and best[0] == true_hs6)
