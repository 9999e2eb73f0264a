"""The tariff classification service: what the CLI, the API and the oracle call.

It knows nothing of HTTP or terminals.  `classify` ranks subheadings for a description and
adds what a user acts on: the official description, the national lines, the duty rate and
regulations from the tariff table, a confidence and a short explanation; when the best
candidates are close it returns the question that separates them (`Dialogue`).  `start` /
`answer` keep such a dialogue in a `SessionStore`.  `evaluate` and `train` work on a CSV file
of labelled descriptions (a customs administration's rulings).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from offchain.settings import Settings
from offchain.tariff import TariffError, TariffTable, nomenclature, normalize_hs
from oracles.tariff.config import CURRENT_FILE, TariffSettings
from oracles.tariff.corpus import contexts
from oracles.tariff.dialogue import Dialogue
from oracles.tariff.errors import TariffInputError
from oracles.tariff.evaluate import MAX_ROWS, Row, evaluate, read_rows
from oracles.tariff.i18n import ZH, short_zh
from oracles.tariff.model import TariffModel
from oracles.tariff.sessions import SessionStore
from oracles.tariff.splits import Ruling
from oracles.tariff.supervised import NeedsTorch
from oracles.tariff.text import has_letters
from oracles.tariff.train import TrainConfig, train_and_save
from oracles.tariff.zh import schedule

MIN_COVERAGE = 0.5  # fewer known words than this: probably another language or jargon

_models: dict[Path, tuple[float, TariffModel]] = {}
_models_lock = threading.Lock()


def load_model(folder: Path) -> TariffModel:
    """The model in `folder`, loaded once per process (reloaded if model.json changes)."""
    folder = Path(folder).resolve()
    marker = folder / "model.json"
    mtime = marker.stat().st_mtime if marker.exists() else -1.0
    with _models_lock:
        hit = _models.get(folder)
        if hit is not None and hit[0] == mtime:
            return hit[1]
    try:
        model = TariffModel.load(folder)
    except ValueError as exc:
        raise TariffInputError("no_model", str(exc)) from None
    with _models_lock:
        _models[folder] = (mtime, model)
    return model


def check_description(text: Any, max_chars: int) -> str:
    """The description, stripped; TariffInputError when empty, too long or without words."""
    if not isinstance(text, str) or not text.strip():
        raise TariffInputError(
            "empty_description",
            "the description is empty; describe the goods in words, e.g. "
            "'frozen boneless beef cuts'",
        )
    text = text.strip()
    if len(text) > max_chars:
        raise TariffInputError(
            "description_too_long",
            f"the description has {len(text)} characters; a product description needs at most "
            f"{max_chars} (one or two sentences: what it is, material, use, state)",
        )
    if not has_letters(text):
        hint = ""
        digits = "".join(ch for ch in text if ch.isdigit())
        if 6 <= len(digits) <= 10:
            hint = (
                f"; {text!r} looks like an HS code — look it up in the tariff instead "
                "(e.g. GET /tariff/{code}) or describe the goods"
            )
        raise TariffInputError(
            "no_words", f"the description has no words, only digits or signs{hint}"
        )
    return text


class TariffService:
    """Classification, dialogue sessions, evaluation and training over one model folder."""

    def __init__(self, settings: TariffSettings) -> None:
        self.settings = settings
        self.sessions = SessionStore(settings.session_ttl_s, settings.max_sessions)
        self._answering = threading.Lock()  # one answer at a time: no lost updates

    @property
    def model(self) -> TariffModel:
        return load_model(self.settings.active_model_dir())

    @property
    def table(self) -> TariffTable:
        return TariffTable.load(self.settings.tariff_dir)

    # --- classification -------------------------------------------------------------------

    def classify(self, description: str, top: int = 5) -> dict[str, Any]:
        """Ranked candidates and the pending question, if any (no session kept)."""
        text = check_description(description, self.settings.max_description_chars)
        top = self._top(top)
        return self.render(Dialogue.start(self.model, text), top)

    def start(self, description: str, top: int = 5) -> dict[str, Any]:
        """`classify`, keeping the dialogue in a session when a question is pending."""
        text = check_description(description, self.settings.max_description_chars)
        top = self._top(top)
        dialogue = Dialogue.start(self.model, text)
        out = self.render(dialogue, top)
        if dialogue.pending is not None:
            state = {
                "dialogue": dialogue.to_json(),
                "top": top,
                "model_version": self.model.version,
            }
            out["session"] = self.sessions.create(state)
        else:
            out["session"] = None
        return out

    def answer(self, session: str, question: str, option: str) -> dict[str, Any]:
        """Apply an answer in a session; the result and the next question, if any."""
        with self._answering:
            state = self.sessions.get(session)
            dialogue = Dialogue.from_json(state["dialogue"])
            dialogue.answer(question, option)
            state = {**state, "dialogue": dialogue.to_json()}
            self.sessions.put(session, state)
        out = self.render(dialogue, state["top"])
        out["session"] = session
        return out

    def stop(self, session: str) -> dict[str, Any]:
        """End a dialogue where it stands (the candidates so far are the answer)."""
        with self._answering:
            state = self.sessions.get(session)
            dialogue = Dialogue.from_json(state["dialogue"])
            dialogue.stop()
            self.sessions.put(session, {**state, "dialogue": dialogue.to_json()})
        out = self.render(dialogue, state["top"])
        out["session"] = session
        return out

    def render(self, dialogue: Dialogue, top: int) -> dict[str, Any]:
        """The JSON a user sees: candidates with tariff facts, the question, the verdict.

        `uncertain` (also `low_confidence`, its older name) is true when the best
        candidate's confidence is under the model's calibrated threshold, or too few of the
        words are known: the best code is then a suggestion, not an answer.
        """
        model = self.model
        ranked = dialogue.ranked()[:top]
        q = model.vector(dialogue.description)
        candidates = []
        for hs6, conf in ranked:
            idx = model.index_of(hs6)
            words = model.explain(q, idx) if idx is not None else ()
            candidates.append(self.candidate(hs6, round(conf, 4), words))
        best = ranked[0][1] if ranked else 0.0
        uncertain = best < model.calibration.uncertain_below or dialogue.coverage < MIN_COVERAGE
        out: dict[str, Any] = {
            "model_version": model.version,
            "description": dialogue.description,
            "language": dialogue.lang,
            "candidates": candidates,
            "confidence": round(best, 4),
            "uncertain": uncertain,
            "low_confidence": uncertain,
            "uncertain_below": model.calibration.uncertain_below,
            "question": dialogue.pending.to_json() if dialogue.pending else None,
            "questions_asked": len(dialogue.asked),
            "done": dialogue.pending is None,
            "reason": dialogue.reason,
            "coverage": round(dialogue.coverage, 4),
        }
        if uncertain:
            out["advice"] = advice(dialogue.lang, dialogue.coverage < MIN_COVERAGE)
        return out

    def candidate(self, hs6: str, confidence: float, words: tuple[str, ...] = ()) -> dict[str, Any]:
        """One candidate with its official texts, tariff line(s) and explanation."""
        ctx = contexts()[hs6]
        table = self.table
        zh = schedule().describe(hs6)
        entry: dict[str, Any] = {
            "hs6": hs6,
            "description": ctx.subheading,
            **zh,
            "description_zh_short": short_zh(zh["description_zh"]),
            "heading": {"code": hs6[:4], "description": ctx.heading},
            "chapter": {"code": hs6[:2], "description": ctx.chapter},
            "confidence": confidence,
        }
        try:
            line = table.lookup(hs6)
            regs = table.regulations(hs6, "import")
            entry["duty"] = {
                "duty_pct": str(line.duty_pct),
                "specific": str(line.specific) if line.specific else None,
                "vat_pct": str(line.vat_pct),
            }
            entry["regulations"] = [{"code": r.code, "name": r.name} for r in regs]
        except TariffError:
            entry["duty"] = None
            entry["regulations"] = []
        national = sorted(c for c in table.lines if len(c) > 6 and c.startswith(hs6))
        entry["national_lines"] = [
            {
                "code": c,
                "description": table.lines[c].description,
                "duty_pct": str(table.lines[c].duty_pct),
                "specific": str(table.lines[c].specific) if table.lines[c].specific else None,
            }
            for c in national
        ]
        why = f"words: {', '.join(words)}; " if words else ""
        entry["explanation"] = (
            f"{why}chapter {hs6[:2]} ({_short(ctx.chapter)}), "
            f"heading {hs6[:4]} ({_short(ctx.heading)})"
        )
        return entry

    # --- declared codes -------------------------------------------------------------------

    def check_code(self, hs_code: str) -> str:
        """The HS6 of a declared code; TariffInputError when malformed or not in HS 2022."""
        try:
            code = normalize_hs(hs_code)
        except TariffError as exc:
            raise TariffInputError("invalid_hs_code", exc.detail) from None
        if code[:6] not in nomenclature().entries:
            near = [c for c in contexts() if c.startswith(code[:4])][:5]
            hint = f"; subheadings of {code[:4]}: {', '.join(near)}" if near else ""
            raise TariffInputError(
                "unknown_hs_code", f"{code[:6]} is not an HS 2022 subheading{hint}"
            )
        return code[:6]

    # --- files ----------------------------------------------------------------------------

    def evaluate_file(
        self,
        path: Path,
        text_col: str = "description",
        label_col: str = "hs_code",
        dialogue: bool = False,
        limit: int = MAX_ROWS,
    ) -> dict[str, Any]:
        """Metrics on a labelled CSV; unusable rows are counted and named in `problems`."""
        rows, problems = read_rows(path, text_col, label_col, limit)
        if not rows:
            raise TariffInputError(
                "no_training_rows", f"{path} has no usable rows: {'; '.join(problems[:5])}"
            )
        out = evaluate(self.model, rows, dialogue=dialogue)
        out["skipped"] = len(problems)
        out["problems"] = problems[:20]
        return out

    def train_file(
        self,
        path: Path | None,
        text_col: str = "description",
        label_col: str = "hs_code",
        activate: bool = True,
        log=lambda _m: None,
        config: TrainConfig | None = None,
    ) -> dict[str, Any]:
        """Train a new version on the nomenclature plus the file's rows (if any).

        Writes `<model_root>/<version>/` and, with `activate`, points CURRENT at it; the
        shipped model is never touched.
        """
        rows: list[Row] = []
        problems: list[str] = []
        if path is not None:
            rows, problems = read_rows(path, text_col, label_col)
            if not rows:
                raise TariffInputError(
                    "no_training_rows", f"{path} has no usable rows: {'; '.join(problems[:5])}"
                )
        rulings = [Ruling(r.text, r.label, "user") for r in rows]
        root = self.settings.model_root
        tmp = root / ".training"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            model = train_and_save(tmp, rulings, config or TrainConfig(), log)
        except NeedsTorch as exc:
            raise TariffInputError(
                "needs_torch", f"{exc}; or train with --retrieval-only"
            ) from None
        final = root / model.version
        if final.exists():  # the same data trained twice: same version
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
        if activate:
            (root / CURRENT_FILE).write_text(model.version + "\n", encoding="utf-8")
        return {
            "model_version": model.version,
            "model_dir": str(final),
            "rulings": len(rulings),
            "skipped": len(problems),
            "problems": problems[:20],
            "active": activate,
            **{k: v for k, v in model.meta.items() if k.startswith("dev_") or k == "train_seconds"},
        }

    def _top(self, top: int) -> int:
        if (
            not isinstance(top, int)
            or isinstance(top, bool)
            or not 1 <= top <= self.settings.max_top
        ):
            raise TariffInputError(
                "invalid_top", f"top must be 1 to {self.settings.max_top}, not {top!r}"
            )
        return top


def advice(lang: str, unknown_words: bool) -> str:
    """What an unsure answer tells the person, in their language."""
    if lang == ZH:
        return (
            "模型沒有把握："
            + ("許多字詞它不認識；" if unknown_words else "")
            + "請說明貨品是什麼、材質、用途及狀態，或向海關申請預先歸列（稅則預審）。"
        )
    return (
        "The model is not sure: "
        + (
            "many words are unknown to it (it knows English and Chinese product wording); "
            if unknown_words
            else ""
        )
        + "describe what the goods are, their material, use and state, or ask a "
        "customs officer for a binding ruling."
    )


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def service_for(settings: Settings, model_dir: Path | None = None) -> TariffService:
    """A service over the installation's settings (and an explicit model folder, if given)."""
    return TariffService(TariffSettings.from_settings(settings, model_dir))
